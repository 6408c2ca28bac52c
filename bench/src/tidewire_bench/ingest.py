"""`tidewire bench ingest`: signed webhooks at rising rates against a running ingest.

Open loop: requests are sent on a fixed schedule whatever the server's speed (a closed loop
would hide queueing by slowing down with the server). Each request carries one new inbound text
message, so every accepted request is one Kafka record acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import aiohttp

from tidewire_ingest.signature import expected_signature

BENCH_PHONE = "bench-phone"
BENCH_SECRET = "bench-app-secret-0123456789"


def webhook(phone_number_id: str, wamid: str, wa_id: str, text: str = "benchmark message") -> bytes:
    """A WhatsApp webhook body: one customer's text message, sent now."""
    now = str(int(time.time()))
    message = {
        "from": wa_id,
        "id": wamid,
        "timestamp": now,
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
        "messages": [message],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "bench", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Step:
    target_rps: int
    sent: int
    accepted: int
    errors: int
    achieved_rps: float
    p50_ms: float
    p99_ms: float
    failures: str = ""  # what the errors were: status codes and transport errors, counted

    def row(self) -> str:
        return (
            f"| {self.target_rps:>6} | {self.achieved_rps:>8.0f} | {self.accepted:>7} | "
            f"{self.errors:>5} | {self.p50_ms:>6.1f} | {self.p99_ms:>6.1f} |"
        )


async def _step(
    session: aiohttp.ClientSession, url: str, rps: int, seconds: float, max_in_flight: int
) -> Step:
    latencies: list[float] = []
    statuses: list[int] = []
    gate = asyncio.Semaphore(max_in_flight)

    async def one() -> None:
        body = webhook(BENCH_PHONE, f"wamid.{uuid.uuid4().hex}", "5511999990000")
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": expected_signature(body, BENCH_SECRET),
        }
        async with gate:
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    statuses.append(resp.status)
            except aiohttp.ClientError:
                statuses.append(0)
            latencies.append((time.perf_counter() - t0) * 1000)

    total = int(rps * seconds)
    start = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = start + i / rps - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    ok = sum(1 for s in statuses if s == 200)
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    failed = Counter("transport error" if s == 0 else f"HTTP {s}" for s in statuses if s != 200)
    return Step(rps, total, ok, total - ok, ok / elapsed, q[49], q[98], describe(failed))


def describe(failed: Counter[str]) -> str:
    """`3× HTTP 503, 1× transport error`: what a step's errors were, most frequent first."""
    return ", ".join(f"{n}× {what}" for what, n in failed.most_common())


async def run(base_url: str, rates: list[int], seconds: float, max_in_flight: int) -> list[Step]:
    url = base_url.rstrip("/") + "/webhooks/whatsapp"
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _step(session, url, 50, 1.0, max_in_flight)  # warm-up: connections, producer
        return [await _step(session, url, r, seconds, max_in_flight) for r in rates]


def report(steps: list[Step]) -> str:
    head = (
        "| target/s | accepted/s | accepted | errors | p50 ms | p99 ms |\n"
        "|---:|---:|---:|---:|---:|---:|"
    )
    notes = [f"errors at {s.target_rps}/s: {s.failures}" for s in steps if s.failures]
    return "\n".join([head, *(s.row() for s in steps), *notes])
