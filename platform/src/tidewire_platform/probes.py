"""The HTTP face of a process that serves nothing else: `/healthz`, `/readyz` and `/metrics`.

Used by the projector (faust's own web server stays off: it would also publish faust's
internal pages) and the outbound sender. One aiohttp site on the process's event loop, so
`/healthz` answering also says that loop is not stuck; without it, their counters had no way
out of the process.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tidewire_platform.metrics import READY

NotReady = Callable[[], str | None]  # why the process cannot work yet; None once it can


@dataclass(frozen=True)
class Address:
    host: str
    port: int


def parse_address(argv: list[str], prog: str = "tidewire_projector") -> Address | None:
    """`--host/--port` as ingest and edge take them; no `--port`, no HTTP site."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="serve /healthz, /readyz, /metrics")
    args = p.parse_args(argv)
    return None if args.port is None else Address(args.host, args.port)


def probes_app(not_ready: NotReady) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        reason = not_ready()
        READY.set(int(reason is None))
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    async def metrics(_: web.Request) -> web.Response:
        # aiohttp wants the charset apart from the media type.
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_probes(address: Address, not_ready: NotReady) -> web.AppRunner:
    """Serving until the returned runner is cleaned up."""
    runner = web.AppRunner(probes_app(not_ready), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address.host, address.port).start()
    return runner
