"""The command journal against the real engine: outcomes stored per batch, compressed, and
read back only for replays."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable

import pytest
from cassandra.cluster import Session

from tests.support.stack import Stack
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.read_models_home import active_keyspace
from tidewire_platform.readmodel import Contact
from tidewire_projector.journal_cassandra import CassandraJournal, Journaled, Unit
from tidewire_projector.outcome import Outcome

pytestmark = pytest.mark.integration


def _outcome(company: str, name: str) -> Outcome:
    contact = Contact(id="5511", company_id=company, name=name, number="5511")
    return Outcome(company_id=company, contacts=[contact])


Body = Callable[[CassandraJournal, str, Session], Awaitable[None]]


def _with_journal(stack: Stack, body: Body) -> None:
    async def scenario() -> None:
        session = connect(stack.settings, row_factory=cached_rows)
        try:
            keyspace = await active_keyspace(session, stack.settings.cassandra_keyspace)
            await body(CassandraJournal(session, keyspace, 3600), keyspace, session)
        finally:
            session.cluster.shutdown()

    asyncio.run(scenario())


def _batch_of(session: Session, keyspace: str, command_id: str) -> str:
    """The batch whose outcomes hold `command_id`'s ("@<batch>:<index>")."""
    row = session.execute(
        f"SELECT outcome FROM {keyspace}.command_journal_by_id WHERE command_id=%s", (command_id,)
    ).one()
    return str(row.outcome)[1:].partition(":")[0]


def test_replays_get_their_outcomes_and_duplicates_only_their_position(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    units = [
        Unit(_outcome(f"jr-{run}-{n % 3}", f"n{n}"), f"cmd-{run}-{n}", 100 + n, 5_000 + n)
        for n in range(50)
    ]

    async def body(journal: CassandraJournal, keyspace: str, session: Session) -> None:
        await journal.write(units)
        replays = await journal.lookup({str(u.command_id): {u.position} for u in units[:25]})
        assert replays == {
            u.command_id: Journaled(u.position, 5_000 + n, u.outcome)
            for n, u in enumerate(units[:25])
        }
        # The same commands at other positions (accepted again): the position alone.
        dupes = await journal.lookup({str(u.command_id): {u.position + 1} for u in units[25:]})
        assert dupes == {
            u.command_id: Journaled(u.position, 5_000 + n, None)
            for n, u in enumerate(units[25:], 25)
        }
        assert await journal.lookup({f"cmd-{run}-absent": {1}}) == {}

    _with_journal(stack, body)


def test_outcomes_larger_than_one_part_and_rows_of_the_old_format(stack: Stack) -> None:
    """Outcomes that do not compress (random text) span several rows of journal_outcomes;
    journal rows written before outcomes moved there hold the outcome itself."""
    run = uuid.uuid4().hex[:8]
    units = [
        Unit(_outcome(f"jb-{run}", os.urandom(4000).hex()), f"big-{run}-{n}", n, 1)
        for n in range(100)
    ]
    old = _outcome(f"jb-{run}", "written before")

    async def body(journal: CassandraJournal, keyspace: str, session: Session) -> None:
        await journal.write(units)
        parts = session.execute(
            f"SELECT part FROM {keyspace}.journal_outcomes WHERE batch_id=%s",
            (_batch_of(session, keyspace, f"big-{run}-0"),),
        )
        assert len(list(parts)) > 1
        session.execute(
            f"INSERT INTO {keyspace}.command_journal_by_id "
            f"(company_id, command_id, position, recorded_at, outcome) VALUES (%s,%s,%s,%s,%s)",
            (old.company_id, f"old-{run}", 7, 1, old.to_json()),
        )
        wanted = {str(u.command_id): {u.position} for u in units} | {f"old-{run}": {7}}
        found = await journal.lookup(wanted)
        assert {cid: j.outcome for cid, j in found.items()} == {
            **{u.command_id: u.outcome for u in units},
            f"old-{run}": old,
        }

    _with_journal(stack, body)


def test_an_expired_outcome_replays_nothing(stack: Stack) -> None:
    """Outcomes expire with the events' retention: a replay that late re-applies nothing
    (the documents were written long ago) instead of failing the batch for ever."""
    run = uuid.uuid4().hex[:8]
    # Over what stays in a journal row: its outcome is compressed in journal_outcomes.
    unit = Unit(_outcome(f"je-{run}", os.urandom(10_000).hex()), f"exp-{run}", 3, 1)

    async def body(journal: CassandraJournal, keyspace: str, session: Session) -> None:
        await journal.write([unit])
        session.execute(
            f"DELETE FROM {keyspace}.journal_outcomes WHERE batch_id=%s",
            (_batch_of(session, keyspace, f"exp-{run}"),),
        )
        found = await journal.lookup({f"exp-{run}": {3}})
        assert found == {f"exp-{run}": Journaled(3, 1, Outcome(company_id=f"je-{run}"))}

    _with_journal(stack, body)


def test_a_small_batch_keeps_its_outcomes_in_its_rows_and_they_expire_alone(
    stack: Stack,
) -> None:
    """A batch of a helpdesk's pace (two small outcomes) is journaled in one request, with
    the outcomes in the rows: a replay gets them back; only the outcome cells expire, so once
    they have, a replay re-applies nothing and a command accepted again is still known."""
    run = uuid.uuid4().hex[:8]
    units = [Unit(_outcome(f"js-{run}", f"n{n}"), f"small-{run}-{n}", 40 + n, 9) for n in (0, 1)]
    first = str(units[0].command_id)

    async def body(journal: CassandraJournal, keyspace: str, session: Session) -> None:
        await journal.write(units)
        found = await journal.lookup({str(u.command_id): {u.position} for u in units})
        assert found == {u.command_id: Journaled(u.position, 9, u.outcome) for u in units}
        ttl = session.execute(
            f"SELECT TTL(outcome) AS outcome, TTL(position) AS position "
            f"FROM {keyspace}.command_journal_by_id WHERE command_id=%s",
            (first,),
        ).one()
        assert 0 < ttl.outcome <= 3600
        assert ttl.position is None  # the row itself stays: duplicates are known for ever
        session.execute(
            f"DELETE outcome FROM {keyspace}.command_journal_by_id WHERE command_id=%s",
            (first,),
        )  # as the TTL would
        assert await journal.lookup({first: {40}}) == {
            first: Journaled(40, 9, Outcome(company_id=f"js-{run}"))
        }
        assert await journal.lookup({first: {41}}) == {first: Journaled(40, 9, None)}

    _with_journal(stack, body)


def test_in_row_outcomes_are_kept_for_ever_when_the_events_are(stack: Stack) -> None:
    """Events kept for ever (retention -1) give outcomes no TTL (0): an in-row outcome must
    then never expire, or a replay would re-append nothing."""
    run = uuid.uuid4().hex[:8]
    unit = Unit(_outcome(f"z-{run}", "n"), f"zero-{run}", 7, 1)

    async def body(journal: CassandraJournal, keyspace: str, session: Session) -> None:
        forever = CassandraJournal(session, keyspace, 0)
        await forever.write([unit])
        row = session.execute(
            f"SELECT TTL(outcome) AS ttl FROM {keyspace}.command_journal_by_id WHERE command_id=%s",
            (unit.command_id,),
        ).one()
        assert row.ttl is None
        found = await forever.lookup({str(unit.command_id): {7}})
        assert found == {unit.command_id: Journaled(7, 1, unit.outcome)}

    _with_journal(stack, body)
