"""`python -m tidewire_edge --port 8101`: serve one edge node with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from tidewire_edge.server import create_edge


def main() -> None:
    p = argparse.ArgumentParser(prog="tidewire_edge")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8101)
    args = p.parse_args()
    uvicorn.run(
        create_edge(),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
