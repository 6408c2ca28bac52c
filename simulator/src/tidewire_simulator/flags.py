"""The simulator's flags, shared by `python -m tidewire_simulator` and `tidewire simulate`
(kept free of heavy imports: the CLI builds its parser from them on every command)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

DEFAULT_PORT = 8400
RATE = 0.2  # customers' messages per second, all companies together
CUSTOMERS = 5  # per company
FAILURE_RATE = 0.05  # share of agents' messages that end `failed`


@dataclass(frozen=True)
class PaceFlags:
    """How busy the simulation is: what `tidewire up` passes on to the simulator it starts."""

    rate: float = RATE
    companies: int = 1
    customers: int = CUSTOMERS

    @classmethod
    def of(cls, args: argparse.Namespace) -> PaceFlags:
        return cls(args.rate, args.companies, args.customers)

    def argv(self) -> list[str]:
        return [
            f"--rate={self.rate}",
            f"--companies={self.companies}",
            f"--customers={self.customers}",
        ]


def add_pace_arguments(p: argparse.ArgumentParser) -> None:
    """--rate, --companies, --customers: shared with `tidewire up`."""
    a = p.add_argument
    a("--rate", type=float, default=RATE, help="customers' messages per second, all companies "
      "together (default %(default)s; 0: customers only answer agents)")  # fmt: skip
    a("--companies", type=int, default=1, help="simulated companies: demo, demo-2, ... "
      "(default %(default)s)")  # fmt: skip
    a("--customers", type=int, default=CUSTOMERS, help="customers per company (default "
      "%(default)s)")  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_pace_arguments(p)
    a = p.add_argument
    a("--failure-rate", type=float, default=FAILURE_RATE, help="share of agents' messages "
      "that end failed (default %(default)s)")  # fmt: skip
    a("--speed", type=float, default=1.0, help="divides every status and answer delay "
      "(default %(default)s)")  # fmt: skip
    a("--seed", type=int, default=None, help="replay the same choices")
    a("--ingest-url", default="http://127.0.0.1:8000", help="where webhooks go (default "
      "%(default)s)")  # fmt: skip
    a("--host", default="127.0.0.1", help="the Graph API stand-in's address")
    a("--port", type=int, default=DEFAULT_PORT, help="the Graph API stand-in's port (default "
      "%(default)s)")  # fmt: skip


def check_pace(args: argparse.Namespace) -> str | None:
    """What is wrong with --rate, --companies, --customers, if anything."""
    if args.rate < 0:
        return f"--rate must be >= 0, not {args.rate}"
    if args.companies < 1:
        return f"--companies must be >= 1, not {args.companies}"
    if args.customers < 1:
        return f"--customers must be >= 1, not {args.customers}"
    return None


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with the flags, if anything."""
    if (bad := check_pace(args)) is not None:
        return bad
    if not 0 <= args.failure_rate <= 1:
        return f"--failure-rate must be within [0, 1], not {args.failure_rate}"
    if args.speed <= 0:
        return f"--speed must be positive, not {args.speed}"
    return None


def argv_of(args: argparse.Namespace) -> list[str]:
    """The flags back as a command line (for the process `tidewire simulate` execs)."""
    out = [
        *PaceFlags.of(args).argv(),
        f"--failure-rate={args.failure_rate}",
        f"--speed={args.speed}",
        f"--ingest-url={args.ingest_url}",
        f"--host={args.host}",
        f"--port={args.port}",
    ]
    return out if args.seed is None else [*out, f"--seed={args.seed}"]
