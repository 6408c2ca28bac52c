"""The projector's Cassandra store against the real engine: reads that span companies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from tests.support.stack import Stack
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.read_models_home import active_keyspace
from tidewire_platform.readmodel import Contact
from tidewire_projector.journal_cassandra import Unit
from tidewire_projector.outcome import Outcome
from tidewire_projector.store_cassandra import CassandraStore

pytestmark = pytest.mark.integration


def test_contacts_across_companies_find_exactly_the_existing_ones(stack: Stack) -> None:
    """Companies share requests (an IN on company and contact id): the answer must still
    be per company, absent ids absent, and a company with many ids gets requests of its own."""

    async def scenario() -> None:
        session = connect(stack.settings, row_factory=cached_rows)
        try:
            keyspace = await active_keyspace(session, stack.settings.cassandra_keyspace)
            store = CassandraStore(session, keyspace)
            run = uuid.uuid4().hex[:8]
            companies = [f"xs-{run}-{i}" for i in range(40)]
            big = companies[0]
            existing: dict[tuple[str, str], Contact] = {}
            for company in companies:
                # The same wa_id in every company: a hit must not leak into another company.
                count = 300 if company == big else 2
                contacts = [
                    Contact(id=f"55{n}", company_id=company, name=f"{company}/{n}", number=f"55{n}")
                    for n in range(count)
                ]
                existing.update({(company, c.id): c for c in contacts})
                await store.flush([Unit(Outcome(company_id=company, contacts=contacts))])
            wanted = {c: [("550",), ("551",), ("55999",)] for c in companies}
            wanted[big] = [(f"55{n}",) for n in range(0, 300, 2)] + [("55999",)]
            found = await store.many("contact", wanted)
            expected = {
                (company, cid): existing[(company, cid)]
                for company, keys in wanted.items()
                for (cid,) in keys
                if (company, cid) in existing
            }
            assert found == expected
            assert await store.many("contact", {}) == {}
        finally:
            session.cluster.shutdown()

    asyncio.run(scenario())


def _with_store(stack: Stack, body: Callable[[CassandraStore], Awaitable[None]]) -> None:
    async def scenario() -> None:
        session = connect(stack.settings, row_factory=cached_rows)
        try:
            keyspace = await active_keyspace(session, stack.settings.cassandra_keyspace)
            await body(CassandraStore(session, keyspace))
        finally:
            session.cluster.shutdown()

    asyncio.run(scenario())


def test_many_small_rows_are_written_in_batches_cassandra_accepts(stack: Stack) -> None:
    """Rows of a few bytes each: a batch is sized by more than its text, or Cassandra refuses
    it as too large (and the projector would retry the same batch forever)."""

    async def body(store: CassandraStore) -> None:
        company = f"sr-{uuid.uuid4().hex[:8]}"
        wamids = {f"w{n}": f"m{n}" for n in range(4000)}
        await store.flush([Unit(Outcome(company_id=company, wamids=wamids))])
        found = await store.many("wamid", {company: [(w,) for w in wamids]})
        assert found == {(company, w): m for w, m in wamids.items()}

    _with_store(stack, body)


def test_rows_of_non_latin_text_are_batched_by_their_bytes(stack: Stack) -> None:
    """Chinese is three bytes a character in UTF-8: batches sized by characters grew past
    Cassandra's refusal threshold."""

    async def body(store: CassandraStore) -> None:
        company = f"nl-{uuid.uuid4().hex[:8]}"
        contacts = [
            Contact(id=f"55{n}", company_id=company, name="汉字" * 200, number=f"55{n}")
            for n in range(200)
        ]
        await store.flush([Unit(Outcome(company_id=company, contacts=contacts))])
        found = await store.many("contact", {company: [(c.id,) for c in contacts]})
        assert len(found) == 200

    _with_store(stack, body)


def test_small_and_large_batches_are_journaled_with_their_documents(stack: Stack) -> None:
    """A batch of a few commands and a large one, journal first: either way a replay finds
    each command's outcome and a duplicate its position, and the documents are there."""

    async def body(store: CassandraStore) -> None:
        company = f"sj-{uuid.uuid4().hex[:8]}"

        def unit(n: int, name: str) -> Unit:
            contact = Contact(id=f"55{n}", company_id=company, name=name, number=f"55{n}")
            return Unit(Outcome(company_id=company, contacts=[contact]), f"{company}-c{n}", n, 7)

        small = [unit(n, f"small {n}") for n in range(2)]
        large = [unit(n, "x" * 2000) for n in range(2, 40)]
        for batch in (small, large):
            await store.flush(batch)
            replays = await store.journaled({str(u.command_id): {u.position} for u in batch})
            assert {cid: j.outcome for cid, j in replays.items()} == {
                u.command_id: u.outcome for u in batch
            }
            dupes = await store.journaled({str(u.command_id): {u.position + 1} for u in batch})
            assert {cid: (j.position, j.outcome) for cid, j in dupes.items()} == {
                u.command_id: (u.position, None) for u in batch
            }
            for u in batch:
                assert (
                    await store.contact(company, u.outcome.contacts[0].id)
                    == (u.outcome.contacts[0])
                )

    _with_store(stack, body)
