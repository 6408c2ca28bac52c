"""The floor under `tidewire bench ingest`: what uvicorn and aiokafka cost with no ingest code.

`python -m tidewire_deploy.bench_ingest_floor [--kafka] [--port 8009]` serves a bare ASGI app
with the same server settings as every tidewire service (`tidewire_platform.serve`). It
answers every request 200 after reading its body. With `--kafka` it also parses the JSON and
awaits one idempotent `acks=all` send per request to a scratch topic, as ingest does per
webhook. Point the benchmark at it (`tidewire bench ingest --url http://127.0.0.1:8009`) to
see how much of a webhook's time is the server and the producer, and how much is ours. Its
result is in docs/benchmarks.md (Ingest). Not a service: nothing else uses it.
"""

from __future__ import annotations

import argparse
import json
import sys

from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from starlette.types import Receive, Scope, Send

from tidewire_deploy.migrate import ensure_topics
from tidewire_platform.kafka_io import make_producer
from tidewire_platform.serve import serve
from tidewire_platform.settings import StackSettings

TOPIC = "tidewire-bench-floor"
_OK = b'{"accepted":1,"dropped":[]}'


class Floor:
    """The bare app: body read, optional JSON parse and Kafka send, fixed answer."""

    def __init__(self, settings: StackSettings, kafka: bool) -> None:
        self.settings = settings
        self.kafka = kafka
        self.producer: AIOKafkaProducer | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if self.producer is not None:
            json.loads(body)
            acked = await self.producer.send(TOPIC, body, key=b"floor", partition=0)
            await acked
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_OK))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _OK})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.kafka:
                    await ensure_topics(self.settings, [NewTopic(TOPIC, 1, 1)])
                    # The producer ingest uses: the floor differs from ingest only in our code.
                    self.producer = make_producer(self.settings, "tidewire-bench-floor")
                    await self.producer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.producer is not None:
                    await self.producer.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--kafka", action="store_true")
    known, rest = own.parse_known_args()
    sys.argv = [sys.argv[0], *rest]  # the rest (--host, --port) is serve()'s
    serve(Floor(StackSettings(), known.kafka), "tidewire_deploy.bench_ingest_floor", 8009)


if __name__ == "__main__":
    main()
