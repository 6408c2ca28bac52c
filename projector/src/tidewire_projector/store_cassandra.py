"""Read models on Cassandra: the domain's `View`, the outcome writer and the command journal.

All writes are upserts of whole documents with prepared statements, so applying an outcome
twice leaves the same rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from tidewire_platform.aio import execute
from tidewire_platform.contracts import now_ms
from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_projector.domain import OpenTicket, Outcome, ParkedStatus
from tidewire_projector.store_memory import MemoryStore

# Cassandra refuses batches over 50 KiB by default (batch_size_fail_threshold); larger
# outcomes are written as separate concurrent statements.
_BATCH_BYTES = 40_000

# Every table a rebuild must recreate (migration 0003 defines them).
READ_MODEL_TABLES = (
    "tickets",
    "tickets_by_status",
    "open_tickets",
    "contacts",
    "ticket_messages",
    "messages",
    "message_wamids",
    "parked_statuses",
    "command_journal",
)


@dataclass(frozen=True)
class Journaled:
    position: int
    recorded_at: int
    outcome: Outcome


class CassandraStore:
    def __init__(self, session: Session, keyspace: str) -> None:
        self._s = session
        ks = keyspace

        def prep(cql: str) -> Any:
            return session.prepare(cql.replace("{ks}", ks))

        self._get_ticket = prep("SELECT doc FROM {ks}.tickets WHERE company_id=? AND ticket_id=?")
        self._put_ticket = prep(
            "INSERT INTO {ks}.tickets (company_id, ticket_id, doc) VALUES (?,?,?)"
        )
        self._put_index = prep(
            "INSERT INTO {ks}.tickets_by_status (company_id, status, updated_at, ticket_id, doc) "
            "VALUES (?,?,?,?,?)"
        )
        self._drop_index = prep(
            "DELETE FROM {ks}.tickets_by_status WHERE company_id=? AND status=? "
            "AND updated_at=? AND ticket_id=?"
        )
        self._get_open = prep(
            "SELECT ticket_id FROM {ks}.open_tickets WHERE company_id=? AND phone_number_id=? "
            "AND contact_id=?"
        )
        self._put_open = prep(
            "INSERT INTO {ks}.open_tickets (company_id, phone_number_id, contact_id, ticket_id) "
            "VALUES (?,?,?,?)"
        )
        self._drop_open = prep(
            "DELETE FROM {ks}.open_tickets WHERE company_id=? AND phone_number_id=? "
            "AND contact_id=?"
        )
        self._get_contact = prep(
            "SELECT doc FROM {ks}.contacts WHERE company_id=? AND contact_id=?"
        )
        self._put_contact = prep(
            "INSERT INTO {ks}.contacts (company_id, contact_id, doc) VALUES (?,?,?)"
        )
        self._get_message = prep(
            "SELECT doc FROM {ks}.messages WHERE company_id=? AND message_id=?"
        )
        self._put_message = prep(
            "INSERT INTO {ks}.messages (company_id, message_id, doc) VALUES (?,?,?)"
        )
        self._put_ticket_message = prep(
            "INSERT INTO {ks}.ticket_messages (company_id, ticket_id, position, message_id, doc) "
            "VALUES (?,?,?,?,?)"
        )
        self._get_wamid = prep(
            "SELECT message_id FROM {ks}.message_wamids WHERE company_id=? AND wamid=?"
        )
        self._put_wamid = prep(
            "INSERT INTO {ks}.message_wamids (company_id, wamid, message_id) VALUES (?,?,?)"
        )
        self._get_parked = prep(
            "SELECT doc FROM {ks}.parked_statuses WHERE company_id=? AND wamid=?"
        )
        self._put_parked = prep(
            "INSERT INTO {ks}.parked_statuses (company_id, wamid, doc) VALUES (?,?,?)"
        )
        self._get_journal = prep(
            "SELECT position, recorded_at, outcome FROM {ks}.command_journal "
            "WHERE company_id=? AND command_id=?"
        )
        self._put_journal = prep(
            "INSERT INTO {ks}.command_journal (company_id, command_id, position, recorded_at, "
            "outcome) VALUES (?,?,?,?,?)"
        )

    async def _one(self, stmt: Any, params: tuple[Any, ...]) -> Any:
        return (await execute(self._s, stmt, params)).one()

    # -- View -------------------------------------------------------------------------------

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        row = await self._one(self._get_ticket, (company_id, ticket_id))
        return Ticket.model_validate_json(row.doc) if row else None

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None:
        row = await self._one(self._get_open, (company_id, phone, contact_id))
        return row.ticket_id if row else None

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        row = await self._one(self._get_contact, (company_id, contact_id))
        return Contact.model_validate_json(row.doc) if row else None

    async def message(self, company_id: str, message_id: str) -> Message | None:
        row = await self._one(self._get_message, (company_id, message_id))
        return Message.model_validate_json(row.doc) if row else None

    async def message_id_for_wamid(self, company_id: str, wamid: str) -> str | None:
        row = await self._one(self._get_wamid, (company_id, wamid))
        return row.message_id if row else None

    async def parked_status(self, company_id: str, wamid: str) -> ParkedStatus | None:
        row = await self._one(self._get_parked, (company_id, wamid))
        return ParkedStatus.model_validate_json(row.doc) if row else None

    # -- journal and writes -----------------------------------------------------------------

    async def journaled(self, company_id: str, command_id: str) -> Journaled | None:
        row = await self._one(self._get_journal, (company_id, command_id))
        if row is None:
            return None
        return Journaled(row.position, row.recorded_at, Outcome.from_json(row.outcome))

    async def commit(self, command_id: str, position: int, outcome: Outcome) -> None:
        """Journal `outcome` and write it, in one logged batch when it is small enough: the
        batch log makes the pair all-or-nothing, which is what the journal-first order
        otherwise guarantees with two round trips."""
        journal = (
            self._put_journal,
            (outcome.company_id, command_id, position, now_ms(), outcome.to_json()),
        )
        writes = [journal, *self._writes(outcome)]
        size = sum(len(p) for _, params in writes for p in params if isinstance(p, str))
        if size > _BATCH_BYTES:
            await execute(self._s, journal[0], journal[1])
            await self.apply(outcome)
            return
        batch = BatchStatement(batch_type=BatchType.LOGGED)
        for stmt, params in writes:
            batch.add(stmt, params)
        await execute(self._s, batch)

    async def apply(self, outcome: Outcome) -> None:
        """Write every document of `outcome`."""
        writes = self._writes(outcome)
        if not writes:
            return
        size = sum(len(p) for _, params in writes for p in params if isinstance(p, str))
        if size > _BATCH_BYTES:
            await asyncio.gather(*(execute(self._s, stmt, params) for stmt, params in writes))
            return
        # One unlogged batch: one round trip instead of one per document. Unlogged means no
        # batch log: atomicity is not needed (the journal makes a half-applied outcome
        # re-applicable), only fewer requests and callbacks.
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for stmt, params in writes:
            batch.add(stmt, params)
        await execute(self._s, batch)

    def _writes(self, outcome: Outcome) -> list[tuple[Any, tuple[Any, ...]]]:
        c = outcome.company_id
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for contact in outcome.contacts:
            writes.append((self._put_contact, (c, contact.id, contact.to_json())))
        for drop in outcome.index_drops:
            writes.append((self._drop_index, (c, drop.status, drop.updated_at, drop.ticket_id)))
        for ticket in outcome.tickets:
            doc = ticket.to_json()
            writes.append((self._put_ticket, (c, ticket.id, doc)))
            writes.append((self._put_index, (c, ticket.status, ticket.updated_at, ticket.id, doc)))
        for entry in outcome.open_tickets:
            if entry.ticket_id is None:
                writes.append((self._drop_open, (c, entry.phone, entry.contact_id)))
            else:
                writes.append((self._put_open, (c, entry.phone, entry.contact_id, entry.ticket_id)))
        for message in outcome.messages:
            doc = message.to_json()
            writes.append((self._put_message, (c, message.id, doc)))
            writes.append(
                (
                    self._put_ticket_message,
                    (c, message.ticket_id, message.position, message.id, doc),
                )
            )
        for wamid, message_id in outcome.wamids.items():
            writes.append((self._put_wamid, (c, wamid, message_id)))
        for parked in outcome.parked:
            writes.append((self._put_parked, (c, parked.wamid, parked.model_dump_json())))
        # A drop and the put of the same index row never coincide: a drop is only emitted
        # when (status, updated_at) changed.
        return writes

    async def write_all(
        self, state: MemoryStore, journal: dict[tuple[str, str], int], chunk: int = 500
    ) -> None:
        """Write a whole folded state into empty tables (a rebuild), `chunk` documents at a
        time. Journal entries are slim (position only): they exist so a command accepted
        again later is recognised as a duplicate."""
        by_company: dict[str, Outcome] = {}

        def out(company: str) -> Outcome:
            return by_company.setdefault(company, Outcome(company_id=company))

        for (c, _), contact in state.contacts.items():
            out(c).contacts.append(contact)
        for (c, _), ticket in state.tickets.items():
            out(c).tickets.append(ticket)
        for (c, phone, contact_id), ticket_id in state.open.items():
            out(c).open_tickets.append(
                OpenTicket(phone=phone, contact_id=contact_id, ticket_id=ticket_id)
            )
        for (c, _), message in state.messages.items():
            out(c).messages.append(message)
        for (c, wamid), message_id in state.wamids.items():
            out(c).wamids[wamid] = message_id
        for (c, _), parked in state.parked.items():
            out(c).parked.append(parked)
        for whole in by_company.values():
            for part in _chunks(whole, chunk):
                await asyncio.gather(
                    *(execute(self._s, stmt, params) for stmt, params in self._writes(part))
                )
        entries = list(journal.items())
        empty = {c: Outcome(company_id=c).to_json() for c in {c for (c, _), _ in entries}}
        for i in range(0, len(entries), chunk):
            await asyncio.gather(
                *(
                    execute(self._s, self._put_journal, (c, cid, pos, now_ms(), empty[c]))
                    for (c, cid), pos in entries[i : i + chunk]
                )
            )


def _chunks(whole: Outcome, size: int) -> list[Outcome]:
    """`whole` split into outcomes of at most `size` documents of each kind."""
    fields = ("contacts", "tickets", "open_tickets", "messages", "parked")
    longest = max([len(getattr(whole, f)) for f in fields] + [len(whole.wamids)])
    wamids = list(whole.wamids.items())
    return [
        Outcome(
            company_id=whole.company_id,
            **{f: getattr(whole, f)[i : i + size] for f in fields},
            wamids=dict(wamids[i : i + size]),
        )
        for i in range(0, max(longest, 1), size)
    ]
