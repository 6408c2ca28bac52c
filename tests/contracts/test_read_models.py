"""The ReadModelReader contract (`tidewire_platform.read_models`), run against every binding.

A binding's class gives the reader and `put`: write whole documents as the projector does.
The Cassandra binding's own test: it follows a rebuild's switch of the active keyspace.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import pytest
from cassandra.cluster import Session

from tests.contracts.support import fresh
from tests.support.stack import Stack
from tidewire_platform.aio import execute
from tidewire_platform.cql import connect
from tidewire_platform.page_cursor import cursor_key
from tidewire_platform.read_models import BadPageCursor, ReadModelReader
from tidewire_platform.read_models_cassandra import CassandraReadModels
from tidewire_platform.read_models_home import active_keyspace, switch_to
from tidewire_platform.read_models_memory import MemoryReadModels
from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus
from tidewire_projector.store_cassandra import ensure_tables

Doc = Ticket | Contact | Message


def _ticket(company: str, n: int, status: TicketStatus = "open", updated_at: int = 0) -> Ticket:
    return Ticket(
        id=f"t{n}",
        company_id=company,
        contact_id="c1",
        whatsapp_id="pn-1",
        status=status,
        created_at=1,
        updated_at=updated_at or n,
    )


def _message(company: str, ticket: str, position: int) -> Message:
    return Message(
        id=f"{ticket}-m{position}",
        company_id=company,
        ticket_id=ticket,
        position=position,
        body=f"b{position}",
        from_me=False,
        created_at=position,
        updated_at=position,
    )


class ReadModelsContract(ABC):
    @pytest.fixture
    @abstractmethod
    async def reader(self) -> ReadModelReader | AsyncIterator[ReadModelReader]: ...

    @abstractmethod
    async def put(self, *docs: Doc) -> None: ...

    async def test_documents_are_found_by_id_and_only_in_their_company(
        self, reader: ReadModelReader
    ) -> None:
        acme, other = fresh("acme"), fresh("other")
        ticket, contact = _ticket(acme, 1), Contact(id="c1", company_id=acme, number="5511")
        message = _message(acme, "t1", 7)
        await self.put(ticket, contact, message)
        assert await reader.ticket(acme, "t1") == ticket
        assert await reader.contact(acme, "c1") == contact
        assert await reader.message(acme, message.id) == message
        assert await reader.ticket(other, "t1") is None
        assert await reader.contact(other, "c1") is None
        assert await reader.message(acme, "nope") is None

    async def test_ticket_pages_are_newest_first_each_ticket_once(
        self, reader: ReadModelReader
    ) -> None:
        acme = fresh("acme")
        await self.put(*(_ticket(acme, n, updated_at=100 + n) for n in range(5)))
        await self.put(_ticket(acme, 9, status="closed"), _ticket(acme, 8, updated_at=104))
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            page = await reader.tickets(acme, "open", cursor, 2)
            assert len(page.tickets) <= 2
            seen += [t.id for t in page.tickets]
            cursor = page.next
            if cursor is None:
                break
        assert seen == ["t4", "t8", "t3", "t2", "t1", "t0"]  # ties by ticket id

    async def test_a_page_cursor_is_good_only_for_its_own_query(
        self, reader: ReadModelReader
    ) -> None:
        acme = fresh("acme")
        await self.put(*(_ticket(acme, n) for n in range(3)))
        page = await reader.tickets(acme, "open", None, 1)
        assert page.next is not None
        with pytest.raises(BadPageCursor):
            await reader.tickets(acme, "closed", page.next, 1)
        with pytest.raises(BadPageCursor):
            await reader.tickets(fresh("other"), "open", page.next, 1)
        with pytest.raises(BadPageCursor):
            await reader.tickets(acme, "open", "AAAA.AAAA", 1)

    async def test_messages_oldest_first_around_a_position(self, reader: ReadModelReader) -> None:
        acme = fresh("acme")
        await self.put(*(_message(acme, "t1", p) for p in (10, 20, 30, 40, 50)))
        await self.put(_message(acme, "t2", 25))

        def positions(found: list[Message]) -> list[int]:
            return [m.position for m in found]

        assert positions(await reader.messages(acme, "t1", None, None, 3)) == [30, 40, 50]
        assert positions(await reader.messages(acme, "t1", 40, None, 2)) == [20, 30]
        assert positions(await reader.messages(acme, "t1", None, 20, 2)) == [30, 40]
        assert positions(await reader.messages(acme, "t1", None, 50, 2)) == []

    async def test_follow_answers(self, reader: ReadModelReader) -> None:
        await reader.follow()


@pytest.mark.unit
class TestMemoryReadModels(ReadModelsContract):
    @pytest.fixture
    async def reader(self) -> ReadModelReader:
        self._reader = MemoryReadModels()
        return self._reader

    async def put(self, *docs: Doc) -> None:
        self._reader.put(*docs)


async def _put(session: Session, keyspace: str, doc: Doc) -> None:
    """Write a document as the projector does (store_cassandra): the document's rows."""
    text = doc.to_json()
    if isinstance(doc, Ticket):
        await execute(
            session,
            f"INSERT INTO {keyspace}.tickets (company_id, ticket_id, doc) VALUES (%s, %s, %s)",
            (doc.company_id, doc.id, text),
        )
        await execute(
            session,
            f"INSERT INTO {keyspace}.tickets_by_status (company_id, status, updated_at, "
            "ticket_id, doc) VALUES (%s, %s, %s, %s, %s)",
            (doc.company_id, doc.status, doc.updated_at, doc.id, text),
        )
    elif isinstance(doc, Contact):
        await execute(
            session,
            f"INSERT INTO {keyspace}.contacts (company_id, contact_id, doc) VALUES (%s, %s, %s)",
            (doc.company_id, doc.id, text),
        )
    else:
        await execute(
            session,
            f"INSERT INTO {keyspace}.messages (company_id, message_id, doc) VALUES (%s, %s, %s)",
            (doc.company_id, doc.id, text),
        )
        await execute(
            session,
            f"INSERT INTO {keyspace}.ticket_messages (company_id, ticket_id, position, "
            "message_id, doc) VALUES (%s, %s, %s, %s, %s)",
            (doc.company_id, doc.ticket_id, doc.position, doc.id, text),
        )


@pytest.mark.integration
class TestCassandraReadModels(ReadModelsContract):
    @pytest.fixture
    async def reader(self, stack: Stack) -> AsyncIterator[ReadModelReader]:
        settings = stack.settings
        self._main = settings.cassandra_keyspace
        self._session = await asyncio.to_thread(connect, settings)

        async def opened() -> Session:
            return self._session

        try:
            yield CassandraReadModels(opened, self._main, cursor_key("contract"))
        finally:
            self._session.cluster.shutdown()

    async def put(self, *docs: Doc) -> None:
        keyspace = await active_keyspace(self._session, self._main)
        for doc in docs:
            await _put(self._session, keyspace, doc)

    async def test_reads_follow_a_switch_of_the_active_keyspace(
        self, reader: ReadModelReader, stack: Stack
    ) -> None:
        acme = fresh("acme")
        before, after = _ticket(acme, 1), _ticket(acme, 2)
        await self.put(before)
        assert await reader.ticket(acme, "t1") == before
        previous = await active_keyspace(self._session, self._main)
        target = f"{self._main}_contract_{uuid.uuid4().hex[:8]}"
        replication = stack.settings.cassandra_replication
        await execute(self._session, f"CREATE KEYSPACE {target} WITH replication = {replication}")
        try:
            await ensure_tables(self._session, self._main, target)
            await _put(self._session, target, after)
            await switch_to(self._session, self._main, target)
            await reader.follow()
            assert await reader.ticket(acme, "t2") == after
            assert await reader.ticket(acme, "t1") is None  # not in the new read models
        finally:
            await switch_to(self._session, self._main, previous)
            await execute(self._session, f"DROP KEYSPACE IF EXISTS {target}")

    async def test_a_read_of_a_keyspace_a_rebuild_dropped_is_retried_on_the_new_one(
        self, reader: ReadModelReader, stack: Stack
    ) -> None:
        """A rebuild switches the active read models, then drops the previous keyspace at
        once; a reader that had not looked again yet (it looks every `follow_ttl_s`) must not
        fail its next read."""
        acme = fresh("acme")
        doc = _ticket(acme, 1)

        async def opened() -> Session:
            return self._session

        slow = CassandraReadModels(opened, self._main, cursor_key("c"), follow_ttl_s=3600)
        previous = await active_keyspace(self._session, self._main)
        replication = stack.settings.cassandra_replication
        old, new = (f"{self._main}_contract_{uuid.uuid4().hex[:8]}" for _ in range(2))
        try:
            for keyspace in (old, new):
                await execute(
                    self._session, f"CREATE KEYSPACE {keyspace} WITH replication = {replication}"
                )
                await ensure_tables(self._session, self._main, keyspace)
                await _put(self._session, keyspace, doc)
            await switch_to(self._session, self._main, old)
            assert await slow.ticket(acme, "t1") == doc  # reading `old` from now on
            await switch_to(self._session, self._main, new)
            await execute(self._session, f"DROP KEYSPACE {old}")
            assert await slow.ticket(acme, "t1") == doc
        finally:
            await switch_to(self._session, self._main, previous)
            for keyspace in (old, new):
                await execute(self._session, f"DROP KEYSPACE IF EXISTS {keyspace}")
