"""`tidewire bench latency`: its options and entry point (kept apart from cli.py, which is
long enough; the benchmark module itself is imported only when it runs)."""

from __future__ import annotations

import argparse
import os
from typing import TypeAlias

from tidewire_platform.settings import StackSettings

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_PATHS = ("webhook", "send")


def _paths(text: str) -> tuple[str, ...]:
    words = tuple(w.strip() for w in text.split(",") if w.strip())
    if not words or any(w not in _PATHS for w in words):
        raise argparse.ArgumentTypeError(f"expected a subset of {','.join(_PATHS)}, got {text!r}")
    return words


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(r) for r in text.split(",") if r.strip())
    except ValueError:
        rates = ()
    if not rates or min(rates) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated rates ≥ 1, got {text!r}")
    return rates


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import latency

    cfg = latency.Config(
        api=args.api,
        edge=args.edge,
        rates=args.rates,
        seconds=args.seconds,
        warmup_s=args.warmup_s,
        paths=args.paths,
        timeout_s=args.timeout_s,
    )
    print(asyncio.run(latency.run(StackSettings(), cfg)))
    return 0


def add_parser(bench_sub: SubParsers) -> None:
    lat = bench_sub.add_parser(
        "latency", help="webhook -> socket and agent send -> fact, at a helpdesk's pace"
    )
    ingest_port = os.environ.get("TIDEWIRE_INGEST_PORT", "8000")
    edge_port = os.environ.get("TIDEWIRE_EDGE_PORTS", "8101").split(",")[0]
    lat.add_argument("--api", default=f"http://127.0.0.1:{ingest_port}", help="running ingest")
    lat.add_argument("--edge", default=f"http://127.0.0.1:{edge_port}", help="running edge")
    lat.add_argument(
        "--rates", type=_rates, default=(10, 50), help="messages/s, open loop, a step each"
    )
    lat.add_argument("--seconds", type=float, default=20.0, help="per step")
    lat.add_argument("--warmup-s", type=float, default=3.0, help="webhooks before, unmeasured")
    lat.add_argument("--paths", type=_paths, default=_PATHS, help="webhook,send")
    lat.add_argument("--timeout-s", type=float, default=10.0, help="wait for the last events")
    lat.set_defaults(func=_run)
