"""The simulation: companies whose WhatsApp numbers the Cloud API stand-in serves, their
customers writing in, and the status webhooks of what agents send them.

Everything reaches the stack the way Meta's traffic does: signed POSTs to ingest's webhook
endpoint (`/webhooks/whatsapp`), so signatures, ingest, Kafka and the projector all run for
real. Agents' messages reach the stand-in through the outbound sender's ordinary Graph calls;
each one Graph takes gets its statuses (`statuses.plan`) and, if it went to a simulated
customer, usually an answer (`customers.answer`).

A webhook ingest refuses for a moment (not started yet, 5xx, 429, connection refused) is
posted again with backoff for up to a minute, as Meta does for longer; a 4xx other than 429
means a misconfiguration (a secret that does not match) and is logged, not retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from tidewire_simulator import customers as cust
from tidewire_simulator import flags, statuses, webhooks
from tidewire_simulator.cloud_api import CloudApi, Taken
from tidewire_simulator.webhooks import Json

log = logging.getLogger("tidewire.simulator")

RETRY_FOR_S = 60.0


@dataclass(frozen=True)
class Company:
    """A simulated company and its WhatsApp connection, as provisioned in the stack."""

    company_id: str
    name: str
    phone_number_id: str
    display_phone_number: str
    verify_token: str
    app_secret: str
    access_token: str


DEMO = Company(
    "demo",
    "Demo",
    "demo-phone",
    "15550100001",
    "demo-verify",
    "demo-app-secret",
    "demo-access-token",
)


def companies(count: int) -> list[Company]:
    """The demo company, then `demo-2`, `demo-3`... with connections of the same pattern."""
    if count < 1:
        raise ValueError(f"at least one company, not {count}")
    out = [DEMO]
    for i in range(2, count + 1):
        out.append(
            Company(
                f"demo-{i}",
                f"Demo {i}",
                f"demo-phone-{i}",
                f"155501{i:05d}",
                f"demo-verify-{i}",
                f"demo-app-secret-{i}",
                f"demo-access-token-{i}",
            )
        )
    return out


@dataclass(frozen=True)
class Pace:
    """How busy the simulation is."""

    rate: float = flags.RATE  # customers' messages per second, all companies (0: none)
    customers: int = flags.CUSTOMERS  # per company
    failure_rate: float = flags.FAILURE_RATE  # share of agents' messages that end `failed`
    answer_rate: float = 0.8  # share of agents' messages a simulated customer answers
    answer_delay: tuple[float, float] = (2.0, 6.0)  # seconds after `read`
    speed: float = 1.0  # divides every delay (statuses, answers)
    seed: int | None = None


class Simulation:
    """Runs on the event loop of `api` (`start`, then `stop`)."""

    def __init__(
        self, api: CloudApi, ingest_url: str, companies: Sequence[Company], pace: Pace = Pace()
    ) -> None:
        self.api = api
        self.webhook_url = ingest_url.rstrip("/") + webhooks.WEBHOOK_PATH
        self.pace = pace
        self.delays = statuses.Delays().scaled(pace.speed)
        self.rng = random.Random(pace.seed)
        self.by_phone = {c.phone_number_id: c for c in companies}
        self.crowds = {
            c.phone_number_id: cust.crowd(c.company_id, pace.customers) for c in companies
        }
        self.posted = 0  # webhooks ingest took
        self.dropped = 0  # webhooks given up on
        self.errors = 0  # customers' messages that failed unexpectedly (logged)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for c in self.by_phone.values():
            self.api.connect(c.phone_number_id, c.access_token)
        self.api.on_taken(self._taken)
        if self.pace.rate > 0:
            self._spawn(self._customers_write())

    async def stop(self) -> None:
        self.api.off_taken(self._taken)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _customers_write(self) -> None:
        """Customers' messages as a Poisson process of `rate` per second, each from a
        customer drawn at random among every company's.
        A message that fails unexpectedly is logged and skipped: the loop keeps going, as a
        simulator left running for days must not fall silent on one bad draw."""
        phones = list(self.by_phone)
        while True:
            await asyncio.sleep(self.rng.expovariate(self.pace.rate))
            try:
                await self._one_customer_writes(phones)
            except Exception:
                self.errors += 1
                log.exception("a simulated customer's message failed; the customers go on")

    async def _one_customer_writes(self, phones: Sequence[str]) -> None:
        phone = self.rng.choice(phones)
        customer = self.rng.choice(self.crowds[phone])
        company = self.by_phone[phone]
        message = cust.next_message(
            self.rng, customer, company.display_phone_number, webhooks.now()
        )
        await self.post(company, [message], [], {customer.wa_id: customer.name})

    async def _taken(self, taken: Taken) -> None:
        """Statuses for a message Graph took from a simulated company, then the answer of a
        simulated customer. Runs as the stand-in's task, counted among this simulation's so
        that `stop` ends it too (it would post on a closed session)."""
        company = self.by_phone.get(taken.phone_number_id)
        task = asyncio.current_task()
        if company is None or task is None:
            return
        self._tasks.add(task)
        try:
            await self._play(company, taken)
        finally:
            self._tasks.discard(task)

    async def _play(self, company: Company, taken: Taken) -> None:
        steps = statuses.plan(self.rng, self.pace.failure_rate, self.delays)
        for step in steps:
            await asyncio.sleep(step.after_s)
            status = webhooks.status(
                taken.wamid, step.state, taken.to, at=webhooks.now(), error=step.error
            )
            await self.post(company, [], [status])
        customer = next(
            (c for c in self.crowds[company.phone_number_id] if c.wa_id == taken.to), None
        )
        if customer is None or steps[-1].state == "failed":
            return
        if self.rng.random() >= self.pace.answer_rate:
            return
        low, high = self.pace.answer_delay
        await asyncio.sleep(self.rng.uniform(low, high) / self.pace.speed)
        message = cust.answer(
            self.rng, customer, taken.wamid, company.display_phone_number, webhooks.now()
        )
        await self.post(company, [message], [], {customer.wa_id: customer.name})

    async def post(
        self,
        company: Company,
        messages: Sequence[Json],
        statuses_: Sequence[Json],
        profiles: dict[str, str] | None = None,
    ) -> bool:
        """One signed webhook of `company`'s number to ingest; True once ingest took it."""
        body = webhooks.encode(
            webhooks.envelope(
                company.phone_number_id,
                company.display_phone_number,
                messages=messages,
                statuses=statuses_,
                profiles=profiles,
            )
        )
        headers = {
            "Content-Type": "application/json",
            webhooks.SIGNATURE_HEADER: webhooks.sign(body, company.app_secret),
        }
        assert self._http is not None, "start() first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_FOR_S
        wait = 0.2
        while True:
            try:
                async with self._http.post(self.webhook_url, data=body, headers=headers) as resp:
                    if resp.status == 200:
                        self.posted += 1
                        return True
                    why = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                    if resp.status < 500 and resp.status != 429:
                        log.error("ingest refused a webhook of %s (%s)", company.company_id, why)
                        self.dropped += 1
                        return False
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = f"{type(exc).__name__} {exc}"
            if loop.time() + wait > deadline:
                log.error(
                    "gave up on a webhook of %s after %.0f s (%s)",
                    company.company_id,
                    RETRY_FOR_S,
                    why,
                )
                self.dropped += 1
                return False
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5.0)
