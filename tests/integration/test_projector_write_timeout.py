"""A write of a batch's read models that times out having partly landed (as a logged batch
does after its batch log was written: Cassandra applies the rest later, with no isolation)
must leave a retry that finds the journal: journal and outcomes are each acknowledged before
the documents are written, so the retry replays, neither deciding twice nor replaying nothing.

The fault is injected where the store writes its documents (and in a logged batch, if one
were brought back to write journal and documents together): part of the writes applied, then
WriteTimeout(BATCH)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cassandra import WriteTimeout
from cassandra.policies import WriteType

import tidewire_projector.journal_cassandra as journal_module
import tidewire_projector.store_cassandra as store_module
from tests.support.commands import inbound_command
from tests.support.faust_records import record_of
from tests.support.stack import Stack
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.read_models_home import active_keyspace
from tidewire_projector import cql_batches
from tidewire_projector.appends import Topics
from tidewire_projector.pipeline import Pipeline
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_cassandra import CassandraStore

pytestmark = pytest.mark.integration

_JOURNAL = ("command_journal_by_id", "journal_outcomes")


class _NoTail:
    async def present(self, since: dict[int, int]) -> dict[int, set[str]]:
        return {p: set() for p in since}


Held = Callable[[Any], bool]  # which of the failing write's statements stay unapplied


def _inject(monkeypatch: pytest.MonkeyPatch, held: Held) -> list[bool]:
    """The first write that carries documents applies all but the `held` statements, then
    raises WriteTimeout(BATCH); later writes go through. Returns a list that gets an entry once
    the fault was injected."""
    original_batched = cql_batches.write_batched
    failed: list[bool] = []

    async def partly_applied(session: Any, writes: list[Any]) -> None:
        docs = [w for w in writes if not any(t in w[0].query_string for t in _JOURNAL)]
        if failed or len(docs) == 0:
            await original_batched(session, writes)
            return
        failed.append(True)
        await original_batched(session, [w for w in writes if not held(w)])
        raise WriteTimeout("timed out", write_type=WriteType.BATCH)

    monkeypatch.setattr(store_module, "write_batched", partly_applied)
    monkeypatch.setattr(store_module, "write_logged", partly_applied, raising=False)
    return failed


Scenario = Callable[[CassandraStore, Callable[[], Pipeline]], Awaitable[None]]


def _run(stack: Stack, scenario: Scenario) -> None:
    """`scenario` with the active keyspace's store and a maker of fresh pipelines (what
    project_until_done uses after a failed batch: the store's memory cleared)."""

    async def main() -> None:
        session = connect(stack.settings, row_factory=cached_rows)
        try:
            keyspace = await active_keyspace(session, stack.settings.cassandra_keyspace)
            topics = Topics.of(stack.settings)

            def fresh() -> Pipeline:
                return Pipeline(CachedStore(CassandraStore(session, keyspace)), topics, _NoTail())

            await scenario(CassandraStore(session, keyspace), fresh)
        finally:
            session.cluster.shutdown()

    asyncio.run(main())


def test_a_timed_out_write_is_not_decided_again_over_its_own_documents(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:8]
    company = f"lb-{run}"
    commands = [inbound_command(company, n % 2, run, n) for n in range(12)]
    records = [record_of(c, 70_000 + n) for n, c in enumerate(commands)]
    # The documents visible, the journal rows not yet.
    failed = _inject(monkeypatch, lambda w: any(t in w[0].query_string for t in _JOURNAL))

    async def scenario(store: CassandraStore, fresh: Callable[[], Pipeline]) -> None:
        first = fresh()
        assert (await first.fold(records)).outcomes == ["applied"] * 12
        with pytest.raises(WriteTimeout):
            await first.write()
        assert failed  # the fault was injected

        again = fresh()
        decided = await again.fold(records)
        await again.write()
        tickets = {f"tk-{c.id[:24]}" for c in commands[:2]}
        unread = [await store.ticket(company, t) for t in tickets]
        assert decided.outcomes == ["replayed"] * 12
        assert sorted(t.unread_messages for t in unread if t) == [6, 6]

    _run(stack, scenario)


def test_a_timed_out_write_does_not_replay_its_commands_as_expired(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal rows visible before the compressed outcomes they refer to (the same
    partial application): the retry takes the outcomes for expired and replays nothing, so
    the commands' events are never appended. Written apart, outcomes are acknowledged before
    any row refers to them."""
    run = uuid.uuid4().hex[:8]
    company = f"lo-{run}"
    commands = [inbound_command(company, n % 2, run, n) for n in range(12)]
    records = [record_of(c, 80_000 + n) for n, c in enumerate(commands)]
    failed = _inject(monkeypatch, lambda w: "journal_outcomes" in w[0].query_string)

    async def scenario(store: CassandraStore, fresh: Callable[[], Pipeline]) -> None:
        first = fresh()
        await first.fold(records)
        with pytest.raises(WriteTimeout):
            await first.write()
        assert failed

        again = fresh()
        decided = await again.fold(records)
        await again.write()
        appends = await again._missing(decided)
        events = [a for a in appends if a.topic == Topics.of(stack.settings).events]
        assert len(events) == 12

    _run(stack, scenario)


def test_a_small_batch_whose_journal_write_half_landed_replays_one_and_decides_the_other(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small batch keeps its outcomes in its journal rows, written as one unlogged batch of
    one partition per command: a timeout may land some rows and not others. The retry
    replays the commands whose row (with its outcome) landed, decides the others, and counts
    each command once, its events appended once each."""
    run = uuid.uuid4().hex[:8]
    company = f"hi-{run}"
    commands = [inbound_command(company, 0, run, n) for n in range(2)]
    records = [record_of(c, 90_000 + n) for n, c in enumerate(commands)]
    original = journal_module.CassandraJournal._write_inline
    calls: list[int] = []

    async def half(journal: Any, units: list[Any], texts: list[str]) -> None:
        calls.append(len(units))
        if len(calls) == 1:
            await original(journal, units[:1], texts[:1])
            raise WriteTimeout("timed out", write_type=WriteType.UNLOGGED_BATCH)
        await original(journal, units, texts)

    monkeypatch.setattr(journal_module.CassandraJournal, "_write_inline", half)

    async def scenario(store: CassandraStore, fresh: Callable[[], Pipeline]) -> None:
        first = fresh()
        await first.fold(records)
        with pytest.raises(WriteTimeout):
            await first.write()
        again = fresh()
        decided = await again.fold(records)
        await again.write()
        assert decided.outcomes == ["replayed", "applied"]
        assert calls == [2, 1]  # small both times: the in-row path
        ticket = await store.ticket(company, f"tk-{commands[0].id[:24]}")
        assert ticket is not None
        assert ticket.unread_messages == 2
        appends = await again._missing(decided)
        events = [a for a in appends if a.topic == Topics.of(stack.settings).events]
        assert len(events) == 2

    _run(stack, scenario)
