"""ReadModelReader on Cassandra: single-partition reads of the documents the projector wrote,
in the keyspace the last rebuild switched to (followed here, for every reader alike)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cassandra.cluster import Session
from cassandra.query import SimpleStatement

from tidewire_platform.aio import execute
from tidewire_platform.page_cursor import seal, unseal
from tidewire_platform.read_models import BadPageCursor, TicketPage
from tidewire_platform.read_models_home import FollowedKeyspace
from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Statements:
    """The prepared reads of one keyspace."""

    keyspace: str
    ticket: Any
    contact: Any
    message: Any
    tickets_cql: str
    newest: Any
    before: Any
    after: Any


def _prepare(session: Session, ks: str) -> _Statements:
    base = f"SELECT doc FROM {ks}.ticket_messages WHERE company_id=? AND ticket_id=?"
    return _Statements(
        keyspace=ks,
        ticket=session.prepare(f"SELECT doc FROM {ks}.tickets WHERE company_id=? AND ticket_id=?"),
        contact=session.prepare(
            f"SELECT doc FROM {ks}.contacts WHERE company_id=? AND contact_id=?"
        ),
        message=session.prepare(
            f"SELECT doc FROM {ks}.messages WHERE company_id=? AND message_id=?"
        ),
        tickets_cql=f"SELECT doc FROM {ks}.tickets_by_status WHERE company_id=%s AND status=%s",
        newest=session.prepare(f"{base} ORDER BY position DESC LIMIT ?"),
        before=session.prepare(f"{base} AND position < ? ORDER BY position DESC LIMIT ?"),
        after=session.prepare(f"{base} AND position > ? ORDER BY position ASC LIMIT ?"),
    )


class CassandraReadModels:
    """`session` opens (or returns) the Cassandra session: a service may start while the
    cluster is down, and reads raise until it answers. `main_keyspace` holds the pointer to
    the active read models; `cursor_key` seals page cursors (`page_cursor.cursor_key`)."""

    def __init__(
        self,
        session: Callable[[], Awaitable[Session]],
        main_keyspace: str,
        cursor_key: bytes,
        follow_ttl_s: float = 5.0,
    ) -> None:
        self._open = session
        self._cursor_key = cursor_key
        self._active = FollowedKeyspace(main_keyspace, follow_ttl_s)
        self._statements: _Statements | None = None
        self._lock = asyncio.Lock()

    async def _reads(self, fresh: bool = False) -> tuple[Session, _Statements]:
        session = await self._open()
        keyspace = await self._active.get(session, fresh=fresh)
        statements = self._statements
        if statements is None or statements.keyspace != keyspace:
            async with self._lock:  # one preparation per switch, not one per request
                statements = self._statements
                if statements is None or statements.keyspace != keyspace:
                    statements = await asyncio.to_thread(_prepare, session, keyspace)
                    self._statements = statements  # the previous keyspace is not read again
        return session, statements

    async def follow(self) -> None:
        await self._reads(fresh=True)

    async def _run(self, read: Callable[[Session, _Statements], Awaitable[_T]]) -> _T:
        """`read` on the active keyspace; one that fails is tried once more if the active
        keyspace has moved meanwhile (a rebuild switches, then drops the previous one, which
        this reader may still have been reading for up to `follow_ttl_s`)."""
        session, reads = await self._reads()
        try:
            return await read(session, reads)
        except BadPageCursor:
            raise
        except Exception:
            session, fresh = await self._reads(fresh=True)
            if fresh.keyspace == reads.keyspace:
                raise
            return await read(session, fresh)

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        async def read(session: Session, reads: _Statements) -> Any:
            return (await execute(session, reads.ticket, (company_id, ticket_id))).one()

        row = await self._run(read)
        return Ticket.model_validate_json(row.doc) if row else None

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        async def read(session: Session, reads: _Statements) -> Any:
            return (await execute(session, reads.contact, (company_id, contact_id))).one()

        row = await self._run(read)
        return Contact.model_validate_json(row.doc) if row else None

    async def message(self, company_id: str, message_id: str) -> Message | None:
        async def read(session: Session, reads: _Statements) -> Any:
            return (await execute(session, reads.message, (company_id, message_id))).one()

        row = await self._run(read)
        return Message.model_validate_json(row.doc) if row else None

    async def tickets(
        self, company_id: str, status: TicketStatus, cursor: str | None, limit: int
    ) -> TicketPage:
        # The driver's paging state is the cursor: Cassandra resumes exactly where the
        # page ended, however many tickets share an activity time. Sealed (`page_cursor`):
        # Cassandra never parses a paging state this reader did not hand out for this query.
        context = (company_id, status)
        state = unseal(self._cursor_key, context, cursor) if cursor else None

        async def read(session: Session, reads: _Statements) -> Any:
            stmt = SimpleStatement(reads.tickets_cql, fetch_size=limit)
            try:
                return await execute(session, stmt, (company_id, status), paging_state=state)
            except Exception as exc:
                if state is not None and "paging" in str(exc).lower():
                    raise BadPageCursor("not a tickets page cursor") from exc
                raise

        rs = await self._run(read)
        tickets = [Ticket.model_validate_json(r.doc) for r in rs.current_rows]
        nxt = rs.paging_state
        return TicketPage(tickets, seal(self._cursor_key, context, nxt) if nxt else None)

    async def messages(
        self,
        company_id: str,
        ticket_id: str,
        before: int | None,
        after: int | None,
        limit: int,
    ) -> list[Message]:

        async def read(session: Session, reads: _Statements) -> list[Any]:
            if after is not None:
                rs = await execute(session, reads.after, (company_id, ticket_id, after, limit))
                return list(rs.current_rows)
            if before is not None:
                rs = await execute(session, reads.before, (company_id, ticket_id, before, limit))
            else:
                rs = await execute(session, reads.newest, (company_id, ticket_id, limit))
            return list(reversed(rs.current_rows))

        rows = await self._run(read)
        return [Message.model_validate_json(r.doc) for r in rows]
