"""`python -m tidewire_simulator`: the Cloud API stand-in and the simulation as one process.

The companies must already be provisioned in the stack (`tidewire simulate` and `tidewire up`
do it first); this process only plays Meta. Point the outbound sender's
`TIDEWIRE_GRAPH_API_BASE` at the printed Graph base URL so agents' replies reach it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from tidewire_simulator.cloud_api import CloudApi
from tidewire_simulator.flags import add_arguments, check
from tidewire_simulator.simulation import Pace, Simulation, companies


def pace_of(args: argparse.Namespace) -> Pace:
    return Pace(
        rate=args.rate,
        customers=args.customers,
        failure_rate=args.failure_rate,
        speed=args.speed,
        seed=args.seed,
    )


async def run(args: argparse.Namespace) -> int:
    api = CloudApi()
    try:
        await api.open(args.host, args.port)
    except OSError as exc:
        print(
            f"tidewire simulate: cannot listen on {args.host}:{args.port} ({exc.strerror}); "
            "is `tidewire up` running its simulator there? --port picks another",
            file=sys.stderr,
        )
        return 2
    sim = Simulation(api, args.ingest_url, companies(args.companies), pace_of(args))
    await sim.start()
    print(
        f"simulator: Graph API at {api.base_url}, webhooks to {sim.webhook_url}, "
        f"{args.companies} compan{'y' if args.companies == 1 else 'ies'} x {args.customers} "
        f"customers, {args.rate:g} messages/s",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()
    await api.close()
    print(f"simulator: stopped ({sim.posted} webhooks taken, {sim.dropped} given up)", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tidewire_simulator", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    if (bad := check(args)) is not None:
        p.error(bad)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(run(args))
