"""`tidewire bench …`: the benchmarks' options and entry points.

Registered into the `tidewire` CLI through the `tidewire.commands` entry point of this package
(see `register`), so the command exists only where the benchmarks are installed (a development
install, `make install`), never in the product image. The benchmark modules (aiokafka, node
clients) are imported only when a benchmark runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, TypeAlias

from tidewire_bench import idle_cli, latency_cli
from tidewire_platform.settings import StackSettings

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _usage(message: str) -> NoReturn:
    print(f"tidewire: {message}", file=sys.stderr)
    raise SystemExit(2)


def _csv(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated words, each one of `allowed`; anything else is a usage error."""
    words = tuple(part.strip() for part in text.split(",") if part.strip())
    if not words or any(w not in allowed for w in words):
        _usage(f"expected a comma-separated subset of {','.join(allowed)}, got {text!r}")
    return words


def _ports(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        ports = ()
    if not ports:
        _usage(f"expected comma-separated ports, got {text!r}")
    return ports


def _cmd_bench_projector(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import projector as bench_projector

    cfg = bench_projector.Config(
        commands=args.commands,
        companies=args.companies,
        contacts=args.contacts,
        rate=args.rate,
        seconds=args.seconds,
        stall_s=args.stall_s,
        phases=_csv(args.phases, ("throughput", "lag")),
    )
    print(asyncio.run(bench_projector.run(StackSettings(), cfg)))
    return 0


def _cmd_bench_edge(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import edge as bench_edge

    cfg = bench_edge.Config(
        clients=args.clients,
        companies=args.companies,
        edges=_ports(args.edges),
        rate=args.rate,
        seconds=args.seconds,
        via=_csv(args.via, ("direct", "projector")),
        missed=args.missed,
        phases=_csv(args.phases, ("fanout", "replay", "kill")),
        node_procs=args.node_procs,
        reconnect_delay_ms=args.reconnect_delay_ms,
        reconnect_spread_s=args.reconnect_spread_s,
        warmup_s=args.warmup_s,
        kill_via=args.kill_via,
        timeout_s=args.timeout_s,
    )
    print(asyncio.run(bench_edge.run(StackSettings(), cfg)))
    return 0


def _cmd_bench_publish(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import publish as bench_publish

    cfg = bench_publish.Config(
        sockets=args.sockets,
        companies=args.companies,
        rate=args.rate,
        seconds=args.seconds,
        warmup_s=args.warmup_s,
        batch=args.batch,
        api=args.api,
        edges=_ports(args.edges),
        node_procs=args.node_procs,
        in_flight=args.in_flight,
        timeout_s=args.timeout_s,
        out=args.out,
    )
    print(asyncio.run(bench_publish.run(StackSettings(), cfg)))
    return 0


def _cmd_bench_ingest(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import ingest as bench_ingest
    from tidewire_deploy.provision import provision
    from tidewire_platform.tenants import Connection, Tenant

    company = "bench"
    provision(
        StackSettings(),
        Tenant(company, "Benchmark"),
        Connection(
            company,
            bench_ingest.BENCH_PHONE,
            "15550000000",
            "bench-verify",
            bench_ingest.BENCH_SECRET,
        ),
    )
    rates = [int(r) for r in args.rates.split(",")]
    print(
        f"bench ingest: {args.url}, {args.seconds:g} s per step, open loop, driver {args.driver}",
        flush=True,
    )
    if args.driver == "vegeta":
        from tidewire_bench import ingest_vegeta

        try:
            steps = ingest_vegeta.run(
                StackSettings().home, args.url, rates, args.seconds, args.in_flight
            )
        except ingest_vegeta.DriverMissing as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        steps = asyncio.run(bench_ingest.run(args.url, rates, args.seconds, args.in_flight))
    print(bench_ingest.report(steps))
    return 0


def _cmd_bench_e2e(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import e2e

    cfg = e2e.Config(
        rate=args.rate,
        seconds=args.seconds,
        warmup_s=args.warmup_s,
        idle_s=args.idle_s,
        companies=args.companies,
        sockets=args.sockets,
        contacts=args.contacts,
        node_procs=args.node_procs,
        in_flight=args.in_flight,
        timeout_s=args.timeout_s,
        out=args.out,
    )
    print(asyncio.run(e2e.run(StackSettings(), cfg)))
    return 0


def _cmd_bench_peer(args: argparse.Namespace) -> int:
    import asyncio

    from tidewire_bench import peer as bench_peer

    cfg = bench_peer.Config(
        clients=args.clients,
        companies=args.companies,
        rate=args.rate,
        seconds=args.seconds,
        churn_seconds=args.churn_seconds,
        warmup_s=args.warmup_s,
        churn_period_s=args.churn_period_s,
        churn_offline_s=args.churn_offline_s,
        churn_switch=args.churn_switch,
        phases=_csv(args.phases, bench_peer.PHASES),
        node_procs=args.node_procs,
        drain_s=args.drain_s,
        out=args.out,
    )
    print(asyncio.run(bench_peer.run(StackSettings(), cfg)))
    return 0


def _add_peer(bench_sub: SubParsers) -> None:
    peer = bench_sub.add_parser(
        "peer",
        help="tidewire's edges against Node.js Socket.IO 4.8 (recovery, Redis Streams adapter)"
        " under one workload: fan-out and churn",
        description="Starts both systems itself: the Node.js peer (npm ci on first use, its own"
        " redis-server, two nodes, a publisher) and tidewire's ingest, projector and two edges"
        " (free ports, topics and keyspace of their own) against the running engines.",
    )
    peer.add_argument("--clients", type=int, default=400, help="per system")
    peer.add_argument(
        "--companies", type=int, default=40, help="clients are spread over these evenly"
    )
    peer.add_argument(
        "--rate", type=int, default=200, help="publications/s, open loop, companies in turn"
    )
    peer.add_argument("--seconds", type=float, default=20.0, help="fan-out: measured duration")
    peer.add_argument("--churn-seconds", type=float, default=30.0, help="churn: measured duration")
    peer.add_argument(
        "--warmup-s", type=float, default=5.0, help="the same load for s before, unmeasured"
    )
    peer.add_argument(
        "--churn-period-s",
        type=float,
        default=15.0,
        help="churn: each client's transport is closed every ~s",
    )
    peer.add_argument(
        "--churn-offline-s", type=float, default=2.0, help="churn: and reconnects ~s later"
    )
    peer.add_argument(
        "--churn-switch",
        type=float,
        default=0.5,
        help="churn: share of the reconnects that go to the other node",
    )
    peer.add_argument("--phases", default="fanout,churn", help="fanout,churn")
    peer.add_argument("--node-procs", type=int, default=1, help="node processes for the clients")
    peer.add_argument(
        "--drain-s", type=float, default=10.0, help="stop waiting after s without a delivery"
    )
    peer.add_argument(
        "--out", default="", help="write the JSON here (default: <TIDEWIRE_HOME>/bench/)"
    )
    peer.set_defaults(func=_cmd_bench_peer)


def register(sub: SubParsers) -> None:
    """The `tidewire.commands` entry point: adds `bench` and its benchmarks to the CLI."""
    bench = sub.add_parser("bench", help="benchmarks against the running stack")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    b_ingest = bench_sub.add_parser("ingest", help="signed webhooks at rising rates")
    b_ingest.add_argument("--url", default="http://127.0.0.1:8000")
    b_ingest.add_argument(
        "--rates", default="500,1000,2000,3000,4000", help="requests/s per step, comma-separated"
    )
    b_ingest.add_argument("--seconds", type=float, default=5.0, help="duration of each step")
    b_ingest.add_argument(
        "--in-flight", type=int, default=64, help="max concurrent requests (connections)"
    )
    b_ingest.add_argument(
        "--driver",
        choices=("vegeta", "python"),
        default="python",
        help="load generator: python (aiohttp) or vegeta (Go, installed on first use, "
        "lighter on the CPU the server shares)",
    )
    b_ingest.set_defaults(func=_cmd_bench_ingest)
    add_parsers(bench_sub)


def add_parsers(bench_sub: SubParsers) -> None:
    """`bench projector`, `bench edge` and `bench publish`: options mirror their modules'
    Config."""
    proj = bench_sub.add_parser(
        "projector", help="projector throughput (pre-loaded backlog) and lag at a steady rate"
    )
    proj.add_argument("--commands", type=int, default=20_000, help="pre-loaded commands")
    proj.add_argument("--companies", type=int, default=200)
    proj.add_argument("--contacts", type=int, default=20, help="customers (tickets) per company")
    proj.add_argument("--rate", type=int, default=1_000, help="lag phase: commands/s, open loop")
    proj.add_argument("--seconds", type=float, default=30.0, help="lag phase duration")
    proj.add_argument("--stall-s", type=float, default=30.0, help="give up after s without events")
    proj.add_argument("--phases", default="throughput,lag", help="throughput,lag")
    proj.set_defaults(func=_cmd_bench_projector)

    edge = bench_sub.add_parser(
        "edge", help="fan-out latency, replay after a drop, recovery from a killed edge node"
    )
    edge.add_argument("--clients", type=int, default=1_000)
    edge.add_argument("--companies", type=int, default=10, help="clients are spread over these")
    edge.add_argument(
        "--edges",
        default=os.environ.get("TIDEWIRE_EDGE_PORTS", "8101,8102"),
        help="ports of the running edges for fan-out and replay",
    )
    edge.add_argument("--rate", type=int, default=1_000, help="fan-out: events/s, open loop")
    edge.add_argument("--seconds", type=float, default=10.0, help="fan-out: duration per source")
    edge.add_argument(
        "--warmup-s",
        type=float,
        default=5.0,
        help="fan-out: the same load for s before measuring (JVM and caches warm up), unmeasured",
    )
    edge.add_argument(
        "--via",
        default="direct,projector",
        help="fan-out event source: direct (events topic) and/or projector (commands topic)",
    )
    edge.add_argument("--missed", type=int, default=20, help="events per company while away")
    edge.add_argument("--phases", default="fanout,replay,kill", help="fanout,replay,kill")
    edge.add_argument("--node-procs", type=int, default=1, help="node processes for the clients")
    edge.add_argument(
        "--reconnect-delay-ms", type=int, default=1_000, help="kill: client reconnectionDelay"
    )
    edge.add_argument(
        "--reconnect-spread-s",
        type=float,
        default=0.0,
        help="replay: spread the reconnects evenly over s (0: all at once)",
    )
    edge.add_argument(
        "--kill-via",
        choices=("balancer", "same-port"),
        default="balancer",
        help="kill: reconnect through a balancer to the running edges, or wait for the restart",
    )
    edge.add_argument(
        "--timeout-s",
        type=float,
        default=30.0,
        help="wait for recoveries, and for deliveries that stopped coming",
    )
    edge.set_defaults(func=_cmd_bench_edge)

    pub = bench_sub.add_parser(
        "publish",
        help="gateway mode: POST /api/publish -> socket latency and publications/s",
    )
    pub.add_argument("--sockets", type=int, default=1_000)
    pub.add_argument(
        "--companies", type=int, default=100, help="sockets are spread over these evenly"
    )
    pub.add_argument(
        "--rate", type=int, default=200, help="publications/s, open loop, companies in turn"
    )
    pub.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    pub.add_argument(
        "--warmup-s", type=float, default=5.0, help="the same load for s before, unmeasured"
    )
    pub.add_argument("--batch", type=int, default=1, help="publications per request")
    pub.add_argument(
        "--api",
        default=f"http://127.0.0.1:{os.environ.get('TIDEWIRE_INGEST_PORT', '8000')}",
        help="the running ingest",
    )
    pub.add_argument(
        "--edges",
        default=os.environ.get("TIDEWIRE_EDGE_PORTS", "8101,8102"),
        help="ports of the running edges; sockets are spread over them",
    )
    pub.add_argument("--node-procs", type=int, default=1, help="node processes for the sockets")
    pub.add_argument("--in-flight", type=int, default=128, help="requests open at once, at most")
    pub.add_argument(
        "--timeout-s",
        type=float,
        default=30.0,
        help="per request; and stop waiting for deliveries after s without one",
    )
    pub.add_argument(
        "--out", default="", help="write the JSON here (default: <TIDEWIRE_HOME>/bench/)"
    )
    pub.set_defaults(func=_cmd_bench_publish)

    e2e = bench_sub.add_parser(
        "e2e",
        help="signed webhooks at a fixed rate through the whole pipeline to sockets on two "
        "edges: delivered, duplicates, latency, the whole stack's CPU per message",
        description="Starts its own ingest, projector, outbound and two edges (on free ports, "
        "topics and keyspace of their own) against the running engines.",
    )
    e2e.add_argument("--rate", type=float, default=10.0, help="webhooks/s, open loop")
    e2e.add_argument("--seconds", type=float, default=30.0, help="measured duration")
    e2e.add_argument(
        "--warmup-s", type=float, default=5.0, help="the same load for s before, unmeasured"
    )
    e2e.add_argument(
        "--idle-s",
        type=float,
        default=10.0,
        help="first measure the stack's CPU for s without webhooks (0: skip)",
    )
    e2e.add_argument("--companies", type=int, default=10, help="webhooks go to these in turn")
    e2e.add_argument(
        "--sockets", type=int, default=100, help="spread over the companies and both edges"
    )
    e2e.add_argument("--contacts", type=int, default=20, help="customers (tickets) per company")
    e2e.add_argument("--node-procs", type=int, default=1, help="node processes for the sockets")
    e2e.add_argument("--in-flight", type=int, default=64, help="webhooks open at once, at most")
    e2e.add_argument(
        "--timeout-s",
        type=float,
        default=30.0,
        help="per webhook; and stop waiting for deliveries after s without one",
    )
    e2e.add_argument(
        "--out", default="", help="write the JSON here (default: <TIDEWIRE_HOME>/bench/)"
    )
    e2e.set_defaults(func=_cmd_bench_e2e)

    _add_peer(bench_sub)
    latency_cli.add_parser(bench_sub)
    idle_cli.add_parser(bench_sub)
