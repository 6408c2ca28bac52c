"""Read models the projector wrote, kept in its memory in front of Cassandra.

A company's read models have one writer: the projector that owns the company's partition, one
command at a time. What it wrote last is therefore what Cassandra holds, and reading it back is
a wasted round trip; this write-through cache answers the domain's reads from memory (misses,
including "absent", go to Cassandra once). It is dropped whole whenever partitions are
reassigned, because another process may have written them meanwhile.

Outcomes of a batch are staged first (readable by the batch's later commands, never evicted)
and written together by `flush`; a failed flush forgets everything, staged or not, because
memory would then be ahead of Cassandra.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from tidewire_platform.readmodel import Contact, Message, Ticket
from tidewire_projector.domain import Outcome, ParkedStatus
from tidewire_projector.journal_cassandra import Journaled, Unit
from tidewire_projector.store_cassandra import CassandraStore

_MISSING = object()


class CachedStore:
    def __init__(self, inner: CassandraStore, max_entries: int = 200_000) -> None:
        self.inner = inner
        self._max = max_entries
        self._docs: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._staged: dict[tuple[str, ...], Any] = {}
        self._units: list[Unit] = []

    def clear(self) -> None:
        """Forget everything, the batch in flight included (its flush failed)."""
        self._docs.clear()
        self._staged.clear()
        self._units.clear()

    def forget_written(self) -> None:
        """Forget what earlier batches wrote (partitions moved: another process may have
        written those companies since), but not the batch in flight: its staged outcomes
        are still to be written by its own flush."""
        self._docs.clear()

    def _put(self, key: tuple[str, ...], value: Any) -> None:
        self._docs[key] = value
        self._docs.move_to_end(key)
        if len(self._docs) > self._max:
            self._docs.popitem(last=False)

    async def _get(self, key: tuple[str, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        value = self._staged.get(key, _MISSING)
        if value is _MISSING:
            value = self._docs.get(key, _MISSING)
        if value is _MISSING:
            value = await load()
            self._put(key, value)
        return value

    # -- View (see domain.View) -------------------------------------------------------------

    async def ticket(self, company_id: str, ticket_id: str) -> Ticket | None:
        key = ("ticket", company_id, ticket_id)
        return await self._get(key, lambda: self.inner.ticket(company_id, ticket_id))  # type: ignore[no-any-return]

    async def open_ticket(self, company_id: str, phone: str, contact_id: str) -> str | None:
        key = ("open", company_id, phone, contact_id)
        load = lambda: self.inner.open_ticket(company_id, phone, contact_id)  # noqa: E731
        return await self._get(key, load)  # type: ignore[no-any-return]

    async def contact(self, company_id: str, contact_id: str) -> Contact | None:
        key = ("contact", company_id, contact_id)
        return await self._get(key, lambda: self.inner.contact(company_id, contact_id))  # type: ignore[no-any-return]

    async def message(self, company_id: str, message_id: str) -> Message | None:
        key = ("message", company_id, message_id)
        return await self._get(key, lambda: self.inner.message(company_id, message_id))  # type: ignore[no-any-return]

    async def message_id_for_wamid(self, company_id: str, wamid: str) -> str | None:
        key = ("wamid", company_id, wamid)
        load = lambda: self.inner.message_id_for_wamid(company_id, wamid)  # noqa: E731
        return await self._get(key, load)  # type: ignore[no-any-return]

    async def parked_status(self, company_id: str, wamid: str) -> ParkedStatus | None:
        key = ("parked", company_id, wamid)
        return await self._get(key, lambda: self.inner.parked_status(company_id, wamid))  # type: ignore[no-any-return]

    async def prefetch(self, reads: dict[str, list[tuple[str, tuple[str, ...]]]]) -> None:
        """Load the documents of `reads` (company -> `domain.first_reads` hints) that memory
        lacks, one call per kind for all companies; absent ones are remembered as absent."""
        missing: dict[str, dict[str, set[tuple[str, ...]]]] = {}  # kind -> company -> keys
        for company_id, hints in reads.items():
            for kind, key in hints:
                full = (kind, company_id, *key)
                if full not in self._staged and full not in self._docs:
                    missing.setdefault(kind, {}).setdefault(company_id, set()).add(key)
        wanted = {k: {c: sorted(keys) for c, keys in by.items()} for k, by in missing.items()}
        kinds = list(wanted)
        results = await asyncio.gather(*(self.inner.many(kind, wanted[kind]) for kind in kinds))
        for kind, found in zip(kinds, results, strict=True):
            for company_id, keys in wanted[kind].items():
                for key in keys:
                    self._put((kind, company_id, *key), found.get((company_id, *key)))

    # -- journal and writes: staged per batch, then through to Cassandra -----------------------

    async def journaled(self, positions: dict[str, set[int]]) -> dict[str, Journaled]:
        return await self.inner.journaled(positions)

    def stage(self, unit: Unit) -> None:
        """Queue `unit` for the next flush; later reads already see its documents."""
        self._units.append(unit)
        self._remember(unit.outcome, self._staged.__setitem__)

    async def flush(self) -> None:
        units, self._units = self._units, []
        try:
            await self.inner.flush(units)
        except BaseException:
            self.clear()
            raise
        for key, value in self._staged.items():
            self._put(key, value)
        self._staged.clear()

    def _remember(self, outcome: Outcome, put: Callable[[tuple[str, ...], Any], None]) -> None:
        c = outcome.company_id
        for contact in outcome.contacts:
            put(("contact", c, contact.id), contact)
        for ticket in outcome.tickets:
            put(("ticket", c, ticket.id), ticket)
        for entry in outcome.open_tickets:
            put(("open", c, entry.phone, entry.contact_id), entry.ticket_id)
        for message in outcome.messages:
            put(("message", c, message.id), message)
        for wamid, message_id in outcome.wamids.items():
            put(("wamid", c, wamid), message_id)
        for parked in outcome.parked:
            put(("parked", c, parked.wamid), parked)
