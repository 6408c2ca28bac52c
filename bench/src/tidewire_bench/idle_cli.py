"""`tidewire bench idle`: its options and entry point (kept apart from cli.py, which is long
enough; the benchmark module itself is imported only when it runs)."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from tidewire_platform.settings import StackSettings

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _cmd(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import idle

    cfg = idle.Config(
        seconds=args.seconds,
        settle_s=args.settle_s,
        companies=args.companies,
        sockets=args.sockets,
        warmup=args.warmup,
        node_procs=args.node_procs,
        out=args.out,
    )
    print(asyncio.run(idle.run(StackSettings(), cfg)))
    return 0


def add_parser(bench_sub: SubParsers) -> None:
    idle = bench_sub.add_parser(
        "idle",
        help="each process's CPU while nothing happens: ingest, projector, outbound, two edges "
        "with sockets connected, Kafka, Cassandra, Redis",
        description="Starts its own ingest, projector, outbound and two edges (on free ports, "
        "topics and keyspace of their own) against the running engines, connects sockets, "
        "passes a few webhooks through, then reads each process's CPU from /proc over the "
        "idle window.",
    )
    idle.add_argument("--seconds", type=float, default=30.0, help="the idle window measured")
    idle.add_argument(
        "--settle-s", type=float, default=10.0, help="wait s after the warm-up, unmeasured"
    )
    idle.add_argument("--companies", type=int, default=10, help="the sockets' companies")
    idle.add_argument(
        "--sockets", type=int, default=100, help="spread over the companies and both edges"
    )
    idle.add_argument(
        "--warmup", type=int, default=20, help="webhooks through the pipeline first (0: none)"
    )
    idle.add_argument("--node-procs", type=int, default=1, help="node processes for the sockets")
    idle.add_argument(
        "--out", default="", help="write the JSON here (default: <TIDEWIRE_HOME>/bench/)"
    )
    idle.set_defaults(func=_cmd)
