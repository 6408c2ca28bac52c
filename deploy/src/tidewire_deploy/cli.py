"""The `tidewire` command line: local stack, services, tenants, tokens (and benchmarks, when
`tidewire_bench` is installed).

Every failure the user can fix ends in one line on stderr saying what and how, exit code 2
for bad usage or a missing prerequisite, 1 for an engine or service that failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from pydantic import ValidationError

from tidewire_deploy.prereqs import MissingPrerequisite
from tidewire_platform.settings import StackSettings
from tidewire_simulator import flags as simulator_flags


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


def _demo_refused(command: str, s: StackSettings) -> bool:
    """Says why, when `command` would provision the demo tenants (public app secrets and
    access tokens) into a production stack's Cassandra: the container image sets
    TIDEWIRE_ENV=production and ships the simulator."""
    if not s.production:
        return False
    print(
        f"tidewire {command}: refused under production settings (TIDEWIRE_ENV={s.env!r}): it "
        "provisions demo tenants with public secrets; set TIDEWIRE_ENV=development for a local "
        "stack",
        file=sys.stderr,
    )
    return True


def _cmd_up(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    s = _settings()
    if _demo_refused("up", s):
        return 2
    if (bad := simulator_flags.check_pace(args)) is not None:
        print(f"tidewire up: {bad}", file=sys.stderr)
        return 2
    pace = None if args.no_simulate else simulator_flags.PaceFlags.of(args)
    return supervisor.up(s, detach=args.detach, simulate=pace, observing=args.observe)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor
    from tidewire_deploy.provision import provision
    from tidewire_platform.tenants import TenantConflict
    from tidewire_simulator.flags import argv_of, check

    if (bad := check(args)) is not None:
        print(f"tidewire simulate: {bad}", file=sys.stderr)
        return 2
    s = _settings()
    if _demo_refused("simulate", s):
        return 2
    for tenant, connection in supervisor.demo_tenants(args.companies):
        try:
            provision(s, tenant, connection)
        except TenantConflict as exc:
            raise RuntimeError(
                f"cannot provision simulated company {tenant.company_id}: {exc}"
            ) from exc
    argv = [sys.executable, "-m", "tidewire_simulator", *argv_of(args)]
    return supervisor.run_foreground(argv)


def _cmd_down(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    supervisor.down(_settings(), keep_infra=args.keep_infra)
    return 0


def _cmd_edge(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    return supervisor.run_foreground(supervisor.edge_argv(args.port))


def _cmd_outbound(args: argparse.Namespace) -> int:
    from tidewire_deploy import supervisor

    return supervisor.run_foreground(supervisor.outbound_argv(args.port, args.host))


def _cmd_projector(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_deploy.projector_pause import ManagedProjectorPause
    from tidewire_platform.cql import connect
    from tidewire_projector.rebuild import RebuildRefused, rebuild

    s = StackSettings()
    session = connect(s)
    pause = ManagedProjectorPause.find(s)  # None: no projector of ours runs here
    try:
        done = asyncio.run(rebuild(s, session, keep_previous=args.keep_previous, pause=pause))
    except RebuildRefused as exc:
        print(f"tidewire projector rebuild: {exc}", file=sys.stderr)
        return 2
    finally:
        session.cluster.shutdown()
    rate = done.commands / done.seconds if done.seconds else 0.0
    print(
        f"rebuilt {done.commands} commands ({done.skipped} poison skipped) in "
        f"{done.seconds:.1f} s ({rate:.0f}/s); read models now in {done.keyspace}"
        + (f"; projector paused {done.paused_s:.1f} s for the handover" if done.paused_s else "")
    )
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from tidewire_platform.contracts import valid_user_id

    if args.admin and args.publisher:
        print("tidewire token: --admin and --publisher exclude each other", file=sys.stderr)
        return 2
    if args.ttl is not None and args.ttl <= 0:
        print(f"tidewire: --ttl must be positive seconds, not {args.ttl}", file=sys.stderr)
        return 2
    if (bad := _bad_id("--company-id", args.company_id)) is not None:
        print(bad, file=sys.stderr)
        return 2
    name = args.user_id or ("helpdesk-backend" if args.publisher else None)
    if name is None:
        print("tidewire token: --user-id is required (except with --publisher)", file=sys.stderr)
        return 2
    if not valid_user_id(name):
        print(f"tidewire: --user-id {name!r}: 1-256 characters, no spaces", file=sys.stderr)
        return 2
    if args.publisher:
        return _publisher_token(args, name)
    return _agent_or_admin_token(args, name)


def _publisher_token(args: argparse.Namespace, name: str) -> int:
    from tidewire_platform.tokens import PUBLISHER_TTL_S, issue_publisher_token

    token = issue_publisher_token(_settings(), name, args.company_id, ttl=args.ttl)
    scope = f"company {args.company_id}" if args.company_id else "every company"
    print(f"publisher token {name} for {scope} (expires in {args.ttl or PUBLISHER_TTL_S} s):")
    print(token)
    return 0


def _agent_or_admin_token(args: argparse.Namespace, name: str) -> int:
    from tidewire_platform.tokens import ADMIN_COMPANY, TokenError, issue_admin_token, issue_token

    s = _settings()
    company = args.company_id or (ADMIN_COMPANY if args.admin else None)
    if company is None:
        print("tidewire token: --company-id is required (or --admin)", file=sys.stderr)
        return 2
    try:
        if args.admin:
            token = issue_admin_token(s, name, ttl=args.ttl, company_id=company)
        else:
            token = issue_token(s, company, name, ttl=args.ttl)
    except TokenError as exc:
        print(f"tidewire token: {exc}", file=sys.stderr)
        return 2
    print(
        f"{'admin ' if args.admin else ''}token for company {company}, user {name} "
        f"(expires in {args.ttl or s.jwt_ttl_seconds} s):"
    )
    print(token)
    return 0


def _bad_id(flag: str, value: str | None) -> str | None:
    """The error for an id the rest of the system would refuse (None: fine or not given)."""
    from tidewire_platform.contracts import ID_PATTERN, valid_id

    if value is None or valid_id(value):
        return None
    return f"tidewire: {flag} {value!r} must match {ID_PATTERN} (letters, digits, . _ : -)"


_CONNECTION_REQUIRED = ("phone_number_id", "verify_token", "app_secret")
_CONNECTION_OPTIONAL = ("access_token", "display_phone_number")


def _cmd_tenant(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tidewire_deploy.provision import provision
    from tidewire_platform.tenants import Tenant, TenantConflict, TenantIn

    given = [f for f in _CONNECTION_REQUIRED + _CONNECTION_OPTIONAL if getattr(args, f)]
    missing = [f for f in _CONNECTION_REQUIRED if not getattr(args, f)]
    if given and missing:
        flags = ", ".join("--" + f.replace("_", "-") for f in missing)
        print(f"tidewire: a connection also needs {flags}", file=sys.stderr)
        return 2
    if (bad := _bad_id("--company-id", args.company_id)) is not None:
        print(bad, file=sys.stderr)
        return 2
    fields = {f: getattr(args, f) for f in _CONNECTION_REQUIRED + _CONNECTION_OPTIONAL}
    try:  # the admin API's rules: neither stores what the other would refuse
        given_in = TenantIn(name=args.name, connection=fields if given else None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][-1]).replace("_", "-")
        print(f"tidewire: --{where}: {first['msg']}", file=sys.stderr)
        return 2
    tenant = Tenant(args.company_id, given_in.name)
    connection = given_in.connection.of(args.company_id) if given_in.connection else None
    try:
        provision(_settings(), tenant, connection)
    except TenantConflict as exc:
        print(f"tidewire: {exc}", file=sys.stderr)
        return 1
    suffix = f" with phone number {args.phone_number_id}" if connection else ""
    print(f"tenant {args.company_id} ({args.name}) saved{suffix}")
    return 0


def _add_installed_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands of optional packages installed beside the CLI, each a `tidewire.commands` entry
    point called with the subcommands: `bench` comes from `tidewire_bench`, which a development
    install has (`make install`) and the product image does not."""
    for command in entry_points(group="tidewire.commands"):
        try:
            register = command.load()
        except Exception as exc:  # a broken optional package must not take the product CLI down
            print(f"tidewire: command {command.name!r} not available: {exc}", file=sys.stderr)
            continue
        register(sub)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tidewire", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    infra = sub.add_parser("infra", help="local Kafka, Cassandra and Redis")
    infra.add_argument("action", choices=["up", "down", "status", "migrate"])
    infra.add_argument(
        "--quiet", action="store_true", help="status: exit 3 if any engine is stopped"
    )
    infra.set_defaults(func=_cmd_infra)

    up = sub.add_parser(
        "up", help="infra + ingest :8000 + projector + outbound + edges :8101 :8102"
    )
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument(
        "--no-simulate",
        action="store_true",
        help="no WhatsApp simulator: the outbound sender calls the real Graph API",
    )
    simulator_flags.add_pace_arguments(up)
    up.add_argument(
        "--observe",
        action="store_true",
        help="also run Prometheus on :9090 (TIDEWIRE_PROMETHEUS_PORT) scraping every process, "
        "with the alert rules loaded",
    )
    up.set_defaults(func=_cmd_up)

    down = sub.add_parser("down", help="stop what `tidewire up --detach` started")
    down.add_argument("--keep-infra", action="store_true", help="stop services only")
    down.set_defaults(func=_cmd_down)

    simulate = sub.add_parser(
        "simulate",
        help="a WhatsApp simulator in the foreground: customers writing in, statuses for replies",
        description="Provisions the simulated companies (demo, demo-2, ...), then plays Meta "
        "for them: signed webhooks to ingest, and a Graph API stand-in on --port that answers "
        "the outbound sender (point TIDEWIRE_GRAPH_API_BASE at it). `tidewire up` starts one.",
    )
    simulator_flags.add_arguments(simulate)
    simulate.set_defaults(func=_cmd_simulate)

    edge = sub.add_parser("edge", help="run one edge node in the foreground")
    edge.add_argument("--port", type=int, required=True)
    edge.set_defaults(func=_cmd_edge)

    outbound = sub.add_parser(
        "outbound",
        help="run the outbound sender (agents' messages to WhatsApp) in the foreground",
        description="Reads the outbound topic in its own consumer group and sends each agent's "
        "message to the Graph API at most once; /healthz, /readyz and /metrics on --port.",
    )
    outbound.add_argument("--port", type=int, default=None, help="probes and metrics port")
    outbound.add_argument("--host", default="127.0.0.1", help="probes address")
    outbound.set_defaults(func=_cmd_outbound)

    projector = sub.add_parser("projector", help="projector maintenance")
    projector_sub = projector.add_subparsers(dest="action", required=True)
    rebuild_p = projector_sub.add_parser(
        "rebuild", help="fold the commands log into fresh read models, then switch to them"
    )
    rebuild_p.add_argument(
        "--keep-previous", action="store_true", help="keep the previous rebuild's keyspace"
    )
    rebuild_p.set_defaults(func=_cmd_projector)

    token = sub.add_parser(
        "token", help="print a signed agent, admin or publisher token (last line)"
    )
    token.add_argument(
        "--company-id",
        help="the agent's company (default for --admin: platform; for --publisher: every "
        "company, as a SaaS backend needs)",
    )
    token.add_argument("--user-id", help="the agent (or operator, or publisher name)")
    token.add_argument(
        "--admin", action="store_true", help="an operator token for /admin (the admin key)"
    )
    token.add_argument(
        "--publisher",
        action="store_true",
        help="a helpdesk backend's token for POST /api/publish (gateway mode)",
    )
    token.add_argument("--ttl", type=int, default=None, help="seconds until expiry")
    token.set_defaults(func=_cmd_token)

    tenant = sub.add_parser("tenant", help="companies and their WhatsApp connections")
    tenant_sub = tenant.add_subparsers(dest="action", required=True)
    add = tenant_sub.add_parser(
        "add",
        help="create or update a company, optionally with a WhatsApp connection",
        description="Idempotent. A connection needs --phone-number-id, --verify-token and "
        "--app-secret together; a phone number owned by another company is refused.",
    )
    add.add_argument("--company-id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--phone-number-id", help="WhatsApp Cloud API phone_number_id")
    add.add_argument("--verify-token", help="answers the webhook subscription handshake")
    add.add_argument("--app-secret", help="checks X-Hub-Signature-256 of each webhook")
    add.add_argument("--access-token", help="Graph API token (optional)")
    add.add_argument("--display-phone-number", help="e.g. +55 11 91234-5678 (optional)")
    add.set_defaults(func=_cmd_tenant)
    _add_installed_commands(sub)
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
