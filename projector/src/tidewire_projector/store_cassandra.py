"""Read models on Cassandra: the domain's `View` and the outcome writer (with the command
journal of `journal_cassandra` written first).

All writes are upserts of whole documents with prepared statements, so applying an outcome
twice leaves the same rows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from tidewire_platform.aio import execute, submit
from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_projector.cql_batches import write_batched
from tidewire_projector.journal_cassandra import CassandraJournal, Journaled, Unit
from tidewire_projector.outcome import OpenTicket, Outcome, ParkedStatus
from tidewire_projector.store_memory import MemoryStore

# Contacts read across companies: an IN on the company and one on the contact id make
# Cassandra look up every pair, so companies share a request while pairs stay under this.
_CROSS = 256
_WEEK_S = 7 * 24 * 3600  # the events' default retention

# Every table a rebuild must recreate (migrations 0003, 0005 and 0006 define them).
READ_MODEL_TABLES = (
    "tickets",
    "tickets_by_status",
    "open_tickets",
    "contacts",
    "ticket_messages",
    "messages",
    "message_wamids",
    "parked_statuses",
    "command_journal_by_id",
    "journal_outcomes",
)


async def ensure_tables(session: Session, source: str, target: str) -> None:
    """Create in keyspace `target` every read-model table of `source` it lacks, as `source`
    defines it: a keyspace made by an earlier rebuild follows migrations added since."""
    await asyncio.to_thread(session.cluster.refresh_schema_metadata)
    tables = session.cluster.metadata.keyspaces[source].tables
    for name in READ_MODEL_TABLES:
        cql = tables[name].as_cql_query().replace(f"{source}.{name}", f"{target}.{name}", 1)
        await execute(session, cql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))


class CassandraStore:
    def __init__(self, session: Session, keyspace: str, journal_ttl_s: int = _WEEK_S) -> None:
        self._session = session
        self.journal = CassandraJournal(session, keyspace, journal_ttl_s)
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
        self._contacts_across = prep(
            "SELECT company_id, contact_id, doc FROM {ks}.contacts "
            "WHERE company_id IN ? AND contact_id IN ?"
        )
        # Many keys of one kind at once (`many`): the key column(s), then the value.
        self._many = {
            "ticket": prep(
                "SELECT ticket_id, doc FROM {ks}.tickets WHERE company_id=? AND ticket_id IN ?"
            ),
            "open": prep(
                "SELECT phone_number_id, contact_id, ticket_id FROM {ks}.open_tickets "
                "WHERE company_id=? AND phone_number_id=? AND contact_id IN ?"
            ),
            "wamid": prep(
                "SELECT wamid, message_id FROM {ks}.message_wamids "
                "WHERE company_id=? AND wamid IN ?"
            ),
            "message": prep(
                "SELECT message_id, doc FROM {ks}.messages WHERE company_id=? AND message_id IN ?"
            ),
        }

    async def many(
        self, kind: str, wanted: dict[str, list[tuple[str, ...]]]
    ) -> dict[tuple[str, ...], Any]:
        """The documents of one `kind` (as the `View` methods return them) among `wanted`
        (company -> keys) that exist, keyed by (company, *key), with few requests: the Python
        driver costs ~250 µs of CPU per request whatever its size. Contacts cross companies
        (their partition is the company); other kinds take one request per company (per
        connection for "open" keys), their partition key being the whole key."""
        if kind == "contact":
            return await self._contacts({c: {k[0] for k in keys} for c, keys in wanted.items()})
        companies = list(wanted)
        results = await asyncio.gather(*(self._of_company(kind, c, wanted[c]) for c in companies))
        return {
            (company, *key): doc
            for company, found in zip(companies, results, strict=True)
            for key, doc in found.items()
        }

    async def _of_company(
        self, kind: str, company_id: str, keys: list[tuple[str, ...]]
    ) -> dict[tuple[str, ...], Any]:
        if kind == "open":
            by_phone: dict[str, list[str]] = {}
            for phone, contact_id in keys:
                by_phone.setdefault(phone, []).append(contact_id)
            found: dict[tuple[str, ...], Any] = {}
            for phone, contact_ids in by_phone.items():
                rows = await execute(
                    self._session, self._many[kind], (company_id, phone, contact_ids)
                )
                found.update({(r.phone_number_id, r.contact_id): r.ticket_id for r in rows})
            return found
        rows = await execute(self._session, self._many[kind], (company_id, [k[0] for k in keys]))
        parse: Any = {"ticket": Ticket, "message": Message}.get(kind)
        if parse is None:  # wamid -> message id
            return {(r[0],): r[1] for r in rows}
        return {(r[0],): parse.model_validate_json(r[1]) for r in rows}

    async def _contacts(self, wanted: dict[str, set[str]]) -> dict[tuple[str, ...], Contact]:
        """Contacts of many companies: companies share a request while the company × id
        pairs Cassandra looks up stay within `_CROSS`."""
        groups: list[tuple[list[str], set[str]]] = []
        for company in sorted(wanted):
            ids = wanted[company]
            if groups:
                companies, union = groups[-1]
                if (len(companies) + 1) * len(union | ids) <= _CROSS:
                    companies.append(company)
                    union |= ids
                    continue
            groups.append(([company], set(ids)))
        results = await asyncio.gather(
            *(
                submit(self._session, self._contacts_across, (companies, sorted(ids)))
                for companies, ids in groups
            )
        )
        return {
            (row.company_id, row.contact_id): Contact.model_validate_json(row.doc)
            for rows in results
            for row in rows
        }

    async def _one(self, stmt: Any, params: tuple[Any, ...]) -> Any:
        return (await execute(self._session, stmt, params)).one()

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

    async def journaled(self, positions: dict[str, set[int]]) -> dict[str, Journaled]:
        return await self.journal.lookup(positions)

    async def flush(self, units: list[Unit]) -> None:
        """Write a batch of outcomes (log order): first the journal of the new ones, then
        every document, each row once with its last value.

        Journal first: whatever documents a crash leaves written belong to journaled commands,
        whose replay re-applies the same outcomes in order. Each row once: statements of one
        Cassandra batch share a timestamp, so two writes of one row would not resolve by
        order; coalescing keeps the last, which is also fewer writes.

        Not one logged batch for journal and documents, though it would save two round trips:
        a logged batch that times out after its batch log was written is applied later, table
        by table, with no isolation, so a retry could read the documents without their journal
        (and decide the commands twice) or the journal rows without their outcomes (and replay
        nothing). Each step is acknowledged before the next."""
        await self.journal.write(units)
        rows: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}
        for unit in units:
            for key, stmt, params in self._writes(unit.outcome):
                rows.pop(key, None)  # re-inserted last: the dict keeps write order
                rows[key] = (stmt, params)
        await write_batched(self._session, list(rows.values()))

    def _writes(self, outcome: Outcome) -> list[tuple[tuple[Any, ...], Any, tuple[Any, ...]]]:
        """(row key, statement, parameters) of every document of `outcome`."""
        c = outcome.company_id
        writes: list[tuple[tuple[Any, ...], Any, tuple[Any, ...]]] = []

        def put(key: tuple[Any, ...], stmt: Any, params: tuple[Any, ...]) -> None:
            writes.append((key, stmt, params))

        for contact in outcome.contacts:
            put(("contact", contact.id), self._put_contact, (c, contact.id, contact.to_json()))
        for d in outcome.index_drops:
            put(
                ("index", d.status, d.updated_at, d.ticket_id),
                self._drop_index,
                (c, d.status, d.updated_at, d.ticket_id),
            )
        for t in outcome.tickets:
            doc = t.to_json()
            put(("ticket", t.id), self._put_ticket, (c, t.id, doc))
            put(
                ("index", t.status, t.updated_at, t.id),
                self._put_index,
                (c, t.status, t.updated_at, t.id, doc),
            )
        for e in outcome.open_tickets:
            key = ("open", e.phone, e.contact_id)
            if e.ticket_id is None:
                put(key, self._drop_open, (c, e.phone, e.contact_id))
            else:
                put(key, self._put_open, (c, e.phone, e.contact_id, e.ticket_id))
        for m in outcome.messages:
            doc = m.to_json()
            put(("message", m.id), self._put_message, (c, m.id, doc))
            put(
                ("ticket_message", m.ticket_id, m.position, m.id),
                self._put_ticket_message,
                (c, m.ticket_id, m.position, m.id, doc),
            )
        for wamid, message_id in outcome.wamids.items():
            put(("wamid", wamid), self._put_wamid, (c, wamid, message_id))
        for p in outcome.parked:
            put(("parked", p.wamid), self._put_parked, (c, p.wamid, p.model_dump_json()))
        return [((c, *key), stmt, params) for key, stmt, params in writes]

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
                await write_batched(
                    self._session, [(stmt, params) for _, stmt, params in self._writes(part)]
                )
        await self.journal.write_positions(journal, chunk)


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
