"""How every tidewire HTTP process is served: uvicorn, loopback by default, short drain."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

KEEP_ALIVE_S = 120


def serve(app: Any, prog: str, default_port: int, **uvicorn_options: Any) -> None:
    """Parse `--host/--port` and run `app` until SIGTERM/SIGINT (5 s to finish requests);
    `uvicorn_options` are a service's own server settings."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=default_port)
    args = p.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        # Access lines are below the warning level, so never printed; turned off because
        # uvicorn formats each one (path quoting, client address) before the logger drops it.
        access_log=False,
        # An idle keep-alive connection is closed after this long. uvicorn's 5 s is shorter
        # than what clients and proxies keep (Go 90 s, nginx upstreams 60 s), so a request
        # sent on a connection as the server closed it got a TCP reset: 2-18 of 10,000
        # webhooks in `tidewire bench ingest` runs. Longer than the peers' timeout, the
        # closing is theirs, between requests.
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=5,
        **uvicorn_options,
    )
