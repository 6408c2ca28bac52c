"""Catch-up reads of the events log: bounded per request, and fair between companies.

The attacker is a tenant reading its own history from its oldest record, many times at once
(a loop of `GET /api/events`, or many sockets with an old `lastEventId`). Each read scans up
to a page of the log; before, they queued first come first served on the one log reader of a
process, so another tenant's catch-up waited behind all of them. Now it waits for at most the
page in progress. The wait is measured in pages of the attacker completed meanwhile (order,
not time): the attacker's history holds one event per thousand records, so each of its pages
(a bounded scan of 20,000 records) returns exactly 20 events.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import socketio

from tests.support.stack import Services, Stack, edge_url, own_edge, wait_for
from tidewire_ingest.settings import IngestSettings
from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor
from tidewire_platform.events_log import SCAN_BUDGET
from tidewire_platform.kafka_io import make_producer
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.security

EVERY = 1000  # the attacker's history: one of its events per this many records
PER_PAGE = SCAN_BUDGET // EVERY  # its events in each page (a scan of SCAN_BUDGET records)
# Pages of its whole history: enough that the attacker is still reading while b catches up
# (b's connect alone took as long as 4 of the attacker's pages on an idle box; 60 pages in
# all, over its readers, leave room for a busy box).
PAGES = 6
READERS = 10  # its reads at once


def _event(company: str, n: int, body: str = "") -> bytes:
    return Event(
        id=f"{company}-{n}",
        type="message.created",
        company_id=company,
        ticket_id="t",
        command_id=f"{company}-c{n}",
        occurred_at=n,
        accepted_at=n,
        payload={"message": {"body": body or f"{company}-{n}"}},
    ).to_bytes()


def _company_in(settings: StackSettings, partition: int | None, not_in: int = -1) -> str:
    while True:
        company = f"co-{uuid.uuid4().hex[:12]}"
        p = partition_for(company, settings.partitions)
        if (partition is None or p == partition) and p != not_in:
            return company


async def _produce(settings: StackSettings, records: list[tuple[str, bytes]]) -> None:
    """Append (key, value) records in this order, each to its key's partition (a filler
    key `filler@<company>` goes to that company's partition)."""
    producer = make_producer(settings, "test-fair-catchup")
    await producer.start()
    try:
        sent = []
        for key, value in records:
            owner = key.split("@", 1)[1] if key.startswith("filler@") else key
            partition = partition_for(owner, settings.partitions)
            sent.append(
                await producer.send(
                    settings.events_topic, value, key=key.encode(), partition=partition
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _head(ingest: str, token: str) -> str:
    resp = httpx.get(
        f"{ingest}/api/events/head", headers={"Authorization": f"Bearer {token}"}, timeout=15
    )
    assert resp.status_code == 200, resp.text
    cursor = resp.json()["cursor"]
    assert cursor is not None
    return str(cursor)


@dataclass
class Deep:
    """A deep history of `a` (from `a_start`) and a short catch-up of `b` (from `b_start`)."""

    a: str
    a_start: str
    a_token: str
    b: str
    b_start: str
    b_token: str
    b_ids: list[str]


@pytest.fixture(scope="module")
def deep(services: Services) -> Deep:
    s = services.settings
    a = _company_in(s, None)
    b = _company_in(s, None, not_in=partition_for(a, s.partitions))
    a_token, b_token = issue_token(s, a, "reader"), issue_token(s, b, "agent")
    # Neither partition is empty, so each has a head to start from.
    asyncio.run(_produce(s, [(f"filler@{a}", b"{}"), (f"filler@{b}", b"{}")]))
    a_start, b_start = _head(services.ingest_url, a_token), _head(services.ingest_url, b_token)
    records: list[tuple[str, bytes]] = []
    # Each event in the middle of its thousand: a page's scan (SCAN_BUDGET records and less
    # than one fetch of 500 more) holds exactly PER_PAGE of them wherever it starts.
    for n in range(PAGES * PER_PAGE):
        records += [(f"filler@{a}", b"{}")] * (EVERY // 2)
        records.append((a, _event(a, n)))
        records += [(f"filler@{a}", b"{}")] * (EVERY - EVERY // 2 - 1)
    # b's catch-up starts further back than an edge keeps in memory (5,000 records), so it
    # reads the log like the attacker's, but in one page.
    records += [(f"filler@{b}", b"{}")] * 6000
    records += [(b, _event(b, n)) for n in range(3)]
    asyncio.run(_produce(s, records))
    return Deep(a, a_start, a_token, b, b_start, b_token, [f"{b}-{n}" for n in range(3)])


def test_a_page_of_events_stops_at_its_byte_bound_and_says_more(
    services: Services, company: str, agent_token: str
) -> None:
    """Events far below the page's event limit but above its byte bound: the page holds as
    many as fit, says `more`, and the next page starts with the one that did not fit."""
    s = services.settings
    bound = IngestSettings().events_page_bytes
    big = 50_000
    count = bound // big + 10
    asyncio.run(_produce(s, [(f"filler@{company}", b"{}")]))
    start = _head(services.ingest_url, agent_token)
    asyncio.run(_produce(s, [(company, _event(company, n, "x" * big)) for n in range(count)]))
    with httpx.Client(
        base_url=services.ingest_url, headers={"Authorization": f"Bearer {agent_token}"}
    ) as http:
        page = http.get("/api/events", params={"after": start, "limit": 1000}, timeout=15).json()
        sizes = [len(Event.model_validate(e).to_bytes()) for e in page["events"]]
        assert page["more"] is True
        assert 0 < len(sizes) < count
        assert sum(sizes) <= bound
        rest = http.get(
            "/api/events", params={"after": page["next"], "limit": 1000}, timeout=15
        ).json()
    assert rest["events"][0]["id"] == f"{company}-{len(sizes)}"  # nothing skipped
    assert sum(sizes) + len(Event.model_validate(rest["events"][0]).to_bytes()) > bound


def test_a_read_without_a_cursor_starts_near_the_end_not_at_the_oldest_record(
    services: Services, deep: Deep
) -> None:
    """Without `after`, a page starts TIDEWIRE_INGEST_EVENTS_WINDOW records before the end
    of the partition: the attacker's oldest events (further back) are not scanned."""
    window = IngestSettings().events_window
    with httpx.Client(
        base_url=services.ingest_url, headers={"Authorization": f"Bearer {deep.a_token}"}
    ) as http:
        page = http.get("/api/events", params={"limit": 1000}, timeout=15).json()
        head = Cursor.decode(_head(services.ingest_url, deep.a_token)).offset
    offsets = [Cursor.decode(e["cursor"]).offset for e in page["events"]]
    assert offsets, page
    assert min(offsets) > head - window
    assert f"{deep.a}-0" not in [e["id"] for e in page["events"]]


def test_a_deep_replay_delays_another_companys_api_catch_up_by_at_most_a_page(
    services: Services, deep: Deep
) -> None:
    done = 0  # the attacker's pages answered
    lock = threading.Lock()
    stop = threading.Event()

    def replay_loop() -> None:
        nonlocal done
        with httpx.Client(
            base_url=services.ingest_url,
            headers={"Authorization": f"Bearer {deep.a_token}"},
            timeout=30,
        ) as http:
            for _ in range(500):  # bounded: the test stops it long before
                if stop.is_set():
                    return
                resp = http.get("/api/events", params={"after": deep.a_start, "limit": 1000})
                assert resp.status_code == 200, resp.text
                assert len(resp.json()["events"]) == PER_PAGE
                with lock:
                    done += 1

    b_http = httpx.Client(
        base_url=services.ingest_url,
        headers={"Authorization": f"Bearer {deep.b_token}"},
        timeout=30,
    )
    with b_http, ThreadPoolExecutor(READERS) as pool:
        loops = [pool.submit(replay_loop) for _ in range(READERS)]
        try:
            wait_for(lambda: done >= READERS, 60, "the attacker's reads under way")
            # b's connection is open already: its request reaches the reader at once.
            b_http.get("/api/events/head").raise_for_status()
            before = done
            resp = b_http.get("/api/events", params={"after": deep.b_start, "limit": 1000})
            during = done - before
        finally:
            stop.set()
        for loop in loops:
            loop.result()
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert [e["id"] for e in page["events"]] == deep.b_ids
    assert page["more"] is False
    # The page in progress when b asked, and one answer on its way back; behind a first-come
    # lock b waited for every read the attacker had queued (READERS - 1). The count is taken
    # in the attacker's client threads, which on a loaded box may still be reading answers
    # the server gave before b asked: two more of those are allowed, still half of READERS.
    assert during <= 4, f"{during} pages of the attacker went before b's catch-up"


async def _replaying(url: str, token: str, last_id: str, counts: list[int]) -> socketio.AsyncClient:
    """A socket that replays after `last_id`, counting the events it receives."""
    sio = socketio.AsyncClient(reconnection=False)
    slot = len(counts)
    counts.append(0)

    def got(event: str, *args: Any) -> None:
        counts[slot] += 1

    sio.on("*", got)
    await sio.connect(  # python-socketio's default 1 s to connect is short on a busy box
        url,
        auth={"token": token, "lastEventId": last_id},
        transports=["websocket"],
        wait_timeout=10,
    )
    return sio


@pytest.fixture
def slow_memory_edge(stack: Stack, services: Services) -> Iterator[str]:
    """An edge that keeps no recent records in memory: every replay reads the log."""
    with own_edge(stack.settings, stack.run_dir, {"TIDEWIRE_EDGE_RECENT_BYTES": "0"}) as proc:
        yield edge_url(proc)


async def test_deep_socket_replays_delay_another_companys_replay_by_at_most_a_page(
    slow_memory_edge: str, deep: Deep
) -> None:
    attacker: list[int] = []
    theirs: list[int] = []
    sockets = []
    try:
        sockets = await asyncio.gather(
            *[
                _replaying(slow_memory_edge, deep.a_token, deep.a_start, attacker)
                for _ in range(READERS)
            ]
        )
        async with asyncio.timeout(60):
            while sum(attacker) < PER_PAGE:  # noqa: ASYNC110 (a client has no event for it)
                await asyncio.sleep(0.005)
        # Counted from b's CONNECT reply, when its replay starts (a connect takes a while:
        # the node starts following b's partition, the session is saved in Redis).
        sockets.append(await _replaying(slow_memory_edge, deep.b_token, deep.b_start, theirs))
        before = sum(attacker)
        async with asyncio.timeout(60):
            while sum(theirs) < len(deep.b_ids):  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        during = sum(attacker) - before
        assert sum(attacker) < READERS * PAGES * PER_PAGE, "the attacker's replays were over"
    finally:
        for sio in sockets:
            await sio.disconnect()
    # As above: the page in progress, and one on its way to the client at most.
    # (A page that does not start at the attacker's cursor may hold one event more.)
    assert during <= 2 * (PER_PAGE + 1), f"{during / PER_PAGE:.1f} attacker's pages went first"
