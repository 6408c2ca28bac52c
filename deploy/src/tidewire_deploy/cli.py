"""The `tidewire` command line: local stack, services, tokens, benchmarks.

Every failure the user can fix ends in one line on stderr saying what and how, exit code 2
for bad usage or a missing prerequisite, 1 for an engine or service that failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from tidewire_deploy.prereqs import MissingPrerequisite
from tidewire_platform.settings import StackSettings


def _settings() -> StackSettings:
    return StackSettings()


def _cmd_infra(args: argparse.Namespace) -> int:
    from tidewire_deploy import infra

    s = _settings()
    if args.action == "up":
        timings = infra.up(s)
        print("infra up: " + ", ".join(f"{k} {v} s" for k, v in timings.items()))
    elif args.action == "down":
        infra.down(s)
        print("infra down")
    elif args.action == "status":
        rows = infra.status(s)
        for row in rows:
            print(row.line())
        if args.quiet:
            return 0 if all(r.state != "stopped" for r in rows) else 3
    elif args.action == "migrate":
        from tidewire_deploy.migrate import migrate

        created, applied = migrate(s)
        print(f"topics created: {created or 'none'}; migrations applied: {applied or 'none'}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    return supervisor.up(_settings(), detach=args.detach)


def _cmd_down(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    supervisor.down(_settings(), keep_infra=args.keep_infra)
    return 0


def _cmd_edge(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    return supervisor.run_foreground(supervisor.edge_argv(args.port))


def _cmd_token(args: argparse.Namespace) -> int:
    from tidewire_platform.tokens import issue_token

    s = _settings()
    token = issue_token(s, args.company_id, args.user_id, ttl=args.ttl)
    print(
        f"token for company {args.company_id}, user {args.user_id} "
        f"(expires in {args.ttl or s.jwt_ttl_seconds} s):"
    )
    print(token)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tidewire", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    infra = sub.add_parser("infra", help="local Kafka, Cassandra and Redis")
    infra.add_argument("action", choices=["up", "down", "status", "migrate"])
    infra.add_argument(
        "--quiet", action="store_true", help="status: exit 3 if any engine is stopped"
    )
    infra.set_defaults(func=_cmd_infra)

    up = sub.add_parser("up", help="infra + ingest :8000 + projector + edges :8101 :8102")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.set_defaults(func=_cmd_up)

    down = sub.add_parser("down", help="stop what `tidewire up --detach` started")
    down.add_argument("--keep-infra", action="store_true", help="stop services only")
    down.set_defaults(func=_cmd_down)

    edge = sub.add_parser("edge", help="run one edge node in the foreground")
    edge.add_argument("--port", type=int, required=True)
    edge.set_defaults(func=_cmd_edge)

    token = sub.add_parser("token", help="print a signed agent token (last line)")
    token.add_argument("--company-id", required=True)
    token.add_argument("--user-id", required=True)
    token.add_argument("--ttl", type=int, default=None, help="seconds until expiry")
    token.set_defaults(func=_cmd_token)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MissingPrerequisite as exc:
        print(f"tidewire: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"tidewire: bad configuration: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:  # InfraError and friends: already phrased for the user
        print(f"tidewire: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
