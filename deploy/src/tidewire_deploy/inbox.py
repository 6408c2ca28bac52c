"""Serves the SDK's demo agent inbox (`sdk/js/demo`) for the local stack.

A development convenience, not a service: the page, the SDK's modules and socket.io-client's
browser build (from `sdk/js/node_modules`, installed by `make`) on one origin, plus
`/demo/config.json` naming where ingest and the edge listen. Browsers then call ingest and
the edge cross-origin (both allow it; tokens are bearer tokens, never cookies).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiohttp import web

# deploy/src/tidewire_deploy/inbox.py -> the repository's root
SDK_DIR = Path(__file__).resolve().parents[3] / "sdk" / "js"


def _client_dist(sdk_dir: Path) -> Path:
    return sdk_dir / "node_modules" / "socket.io-client" / "dist"


def available(sdk_dir: Path = SDK_DIR) -> bool:
    """Whether the page and its modules are there (a checkout where `make` installed
    sdk/js); an installed package without the repository has no inbox to serve."""
    return (sdk_dir / "demo").is_dir() and _client_dist(sdk_dir).is_dir()


def make_app(api_url: str, edge_url: str, sdk_dir: Path = SDK_DIR) -> web.Application:
    client_dist = _client_dist(sdk_dir)
    if not available(sdk_dir):
        raise SystemExit(f"tidewire inbox: {sdk_dir} lacks demo/ or node_modules: run `make`")
    config = json.dumps({"apiUrl": api_url, "edgeUrl": edge_url}).encode()

    async def show_config(request: web.Request) -> web.Response:
        return web.Response(body=config, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(sdk_dir / "demo" / "index.html")

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound("/demo/" + (f"?{request.query_string}" if request.query_string else ""))

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/demo/config.json", show_config)
    app.router.add_get("/demo/", page)
    app.router.add_static("/demo/", sdk_dir / "demo")
    app.router.add_static("/src/", sdk_dir / "src")
    app.router.add_static("/vendor/socket.io-client/", client_dist)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tidewire_deploy.inbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="ingest's base URL")
    parser.add_argument("--edge", default="http://127.0.0.1:8101", help="an edge node's URL")
    args = parser.parse_args(argv)
    web.run_app(make_app(args.api, args.edge), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
