"""ReadModels on Cassandra: single-partition reads of the documents the projector wrote."""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session
from cassandra.query import SimpleStatement

from tidewire_ingest.page_cursor import seal, unseal
from tidewire_ingest.queries import BadPageCursor, TicketPage
from tidewire_platform.aio import execute
from tidewire_platform.readmodel import Contact, Message, Ticket, TicketStatus


class CassandraReadModels:
    def __init__(self, session: Session, keyspace: str, cursor_key: bytes) -> None:
        self._s = session
        self._cursor_key = cursor_key
        ks = keyspace
        self._ticket = session.prepare(
            f"SELECT doc FROM {ks}.tickets WHERE company_id=? AND ticket_id=?"
        )
        self._contact = session.prepare(
            f"SELECT doc FROM {ks}.contacts WHERE company_id=? AND contact_id=?"
        )
        self._tickets_cql = (
            f"SELECT doc FROM {ks}.tickets_by_status WHERE company_id=%s AND status=%s"
        )
        base = f"SELECT doc FROM {ks}.ticket_messages WHERE company_id=? AND ticket_id=?"
        self._newest = session.prepare(f"{base} ORDER BY position DESC LIMIT ?")
        self._before = session.prepare(f"{base} AND position < ? ORDER BY position DESC LIMIT ?")
        self._after = session.prepare(f"{base} AND position > ? ORDER BY position ASC LIMIT ?")

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        row = (await execute(self._s, self._ticket, (company_id, ticket_id))).one()
        return Ticket.model_validate_json(row.doc) if row else None

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        row = (await execute(self._s, self._contact, (company_id, contact_id))).one()
        return Contact.model_validate_json(row.doc) if row else None

    async def tickets(
        self, company_id: str, status: TicketStatus, cursor: str | None, limit: int
    ) -> TicketPage:
        # The driver's paging state is the cursor: Cassandra resumes exactly where the
        # page ended, however many tickets share an activity time. Sealed (`page_cursor`):
        # Cassandra never parses a paging state ingest did not hand out for this query.
        context = (company_id, status)
        state = unseal(self._cursor_key, context, cursor) if cursor else None
        stmt = SimpleStatement(self._tickets_cql, fetch_size=limit)
        try:
            rs: Any = await execute(self._s, stmt, (company_id, status), paging_state=state)
        except Exception as exc:
            if state is not None and "paging" in str(exc).lower():
                raise BadPageCursor("not a tickets page cursor") from exc
            raise
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
        if after is not None:
            rs = await execute(self._s, self._after, (company_id, ticket_id, after, limit))
            rows = list(rs.current_rows)
        elif before is not None:
            rs = await execute(self._s, self._before, (company_id, ticket_id, before, limit))
            rows = list(reversed(rs.current_rows))
        else:
            rs = await execute(self._s, self._newest, (company_id, ticket_id, limit))
            rows = list(reversed(rs.current_rows))
        return [Message.model_validate_json(r.doc) for r in rows]
