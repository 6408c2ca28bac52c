"""`python -m tidewire_ingest --port 8000`: serve the ingest API with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from tidewire_ingest.app import create_app


def main() -> None:
    p = argparse.ArgumentParser(prog="tidewire_ingest")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args()
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
