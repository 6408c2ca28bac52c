"""`tidewire bench latency`: how long a helpdesk waits, through the whole running pipeline.

Two paths, at a helpdesk's pace (a few rates, open loop), each measured from the moment the
request leaves to the moment a Socket.IO client on an edge receives the event:

- webhook: a signed WhatsApp webhook with one inbound message, to its `message.created`
  (what an agent's browser shows);
- send: an agent's message (`POST /api/tickets/{id}/messages`), to its fact: the
  `message.created` with the same clientMessageId, which replaces the optimistic message.

A second figure starts at the event's `acceptedAt` (ingest's clock, the same host's): the part
after ingest has the record in Kafka, mostly the projector.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

from tidewire_bench.ingest import webhook
from tidewire_bench.report import Latency, command_line, ms, table
from tidewire_ingest.signature import expected_signature
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token

COMPANY = "bench-latency"
PHONE = "bench-latency-phone"
SECRET = "bench-latency-app-secret-0123456789"
_CONTACTS = 20  # customers writing in, each with a ticket of their own


@dataclass(frozen=True)
class Config:
    api: str = "http://127.0.0.1:8000"
    edge: str = "http://127.0.0.1:8101"
    rates: tuple[int, ...] = (10, 50)
    seconds: float = 20.0
    warmup_s: float = 3.0
    paths: tuple[str, ...] = ("webhook", "send")
    timeout_s: float = 10.0

    def command(self) -> str:
        return command_line(["bench", "latency"], vars(self))


@dataclass
class _Watch:
    """The client's receipts: key (wamid or clientMessageId) -> (perf_counter, acceptedAt)."""

    got: dict[str, tuple[float, int]] = field(default_factory=dict)
    tickets: dict[str, str] = field(default_factory=dict)  # contact -> ticket id
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on_message(self, data: dict[str, Any], *cursor: Any) -> None:
        """An appMessage event (its last argument, the cursor, is not needed here)."""
        if data.get("action") != "create":
            return
        message, now = data.get("message") or {}, time.perf_counter()
        for key in (message.get("wamid"), message.get("clientMessageId")):
            if key:
                self.got.setdefault(key, (now, int(data.get("acceptedAt") or 0)))
        if not message.get("fromMe") and message.get("contactId"):
            self.tickets[message["contactId"]] = message["ticketId"]
        self.arrived.set()


@dataclass(frozen=True)
class Row:
    path: str
    rate: int
    sent: int
    whole: Latency
    after_ingest: Latency

    def cells(self) -> list[object]:
        w, a = self.whole, self.after_ingest
        lost = self.sent - w.count
        times = [ms(w.p50), ms(w.p99), ms(w.max), ms(a.p50), ms(a.p99)]
        return [self.path, self.rate, self.sent, lost, *times]


async def _paced(rate: int, seconds: float, one: Any) -> list[str]:
    """Call `one(n)` (returning its key) `rate` times a second for `seconds`, open loop."""
    total, start = int(rate * seconds), time.perf_counter()
    tasks = []
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    return list(await asyncio.gather(*tasks))


class _Run:
    def __init__(self, cfg: Config, http: aiohttp.ClientSession, token: str) -> None:
        self.cfg, self.http, self.watch = cfg, http, _Watch()
        self.sent_at: dict[str, float] = {}
        self._auth = {"Authorization": f"Bearer {token}"}

    async def inbound(self, n: int) -> str:
        wamid = f"wamid.{uuid.uuid4().hex}"
        body = webhook(PHONE, wamid, f"55119{n % _CONTACTS:08d}")
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": expected_signature(body, SECRET),
        }
        self.sent_at[wamid] = time.perf_counter()
        async with self.http.post(f"{self.cfg.api}/webhooks/whatsapp", data=body, headers=headers):
            pass
        return wamid

    async def send(self, n: int) -> str:
        tickets = list(self.watch.tickets.values())
        client_id = f"bl-{uuid.uuid4().hex}"
        url = f"{self.cfg.api}/api/tickets/{tickets[n % len(tickets)]}/messages"
        self.sent_at[client_id] = time.perf_counter()
        body = {"client_message_id": client_id, "body": "benchmark reply"}
        async with self.http.post(url, json=body, headers=self._auth) as resp:
            resp.raise_for_status()
        return client_id

    async def measure(self, path: str, rate: int, seconds: float) -> Row:
        one = self.inbound if path == "webhook" else self.send
        keys = await _paced(rate, seconds, one)
        deadline = time.monotonic() + self.cfg.timeout_s
        while any(k not in self.watch.got for k in keys) and time.monotonic() < deadline:
            self.watch.arrived.clear()
            await asyncio.wait({asyncio.ensure_future(self.watch.arrived.wait())}, timeout=0.5)
        whole, after = [], []
        offset_ms = time.time() * 1000 - time.perf_counter() * 1000  # perf_counter -> epoch
        for key in keys:
            if key in self.watch.got:
                at, accepted = self.watch.got[key]
                whole.append((at - self.sent_at[key]) * 1000)
                after.append(at * 1000 + offset_ms - accepted)
        return Row(path, rate, len(keys), Latency.of(whole), Latency.of(after))


async def run(settings: StackSettings, cfg: Config) -> str:
    from tidewire_deploy.provision import provision

    await asyncio.to_thread(
        provision,
        settings,
        Tenant(COMPANY, "Latency benchmark"),
        Connection(COMPANY, PHONE, "15550000001", "bench-latency-verify", SECRET),
    )
    token = issue_token(settings, COMPANY, "bench-agent")
    client = socketio.AsyncClient()
    async with aiohttp.ClientSession() as http:
        bench = _Run(cfg, http, token)
        client.on(f"company-{COMPANY}-appMessage", bench.watch.on_message)
        await client.connect(cfg.edge, auth={"token": token}, transports=["websocket"])
        try:
            # Warm-up, unmeasured: every contact writes in (their tickets are the send path's).
            await bench.measure("webhook", _CONTACTS, max(1.0, cfg.warmup_s))
            rows = [await bench.measure(p, r, cfg.seconds) for p in cfg.paths for r in cfg.rates]
        finally:
            await client.disconnect()
    head = ["path", "rate/s", "sent", "lost", "p50 ms", "p99 ms", "max ms"]
    head += ["after ingest p50", "p99"]
    return "\n".join([cfg.command(), "", table(head, [r.cells() for r in rows])])
