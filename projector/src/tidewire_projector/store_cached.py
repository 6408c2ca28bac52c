"""Read models the projector wrote, kept in its memory in front of Cassandra.

A company's read models have one writer: the projector that owns the company's partition, one
command at a time. What it wrote last is therefore what Cassandra holds, and reading it back is
a wasted round trip; this write-through cache answers the domain's reads from memory (misses,
including "absent", go to Cassandra once). It is dropped whole whenever partitions are
reassigned, because another process may have written them meanwhile.

Outcomes of a batch are staged first (readable by the batch's later commands, never evicted)
and written together by `flush`; a failed flush forgets everything, staged or not, because
memory would then be ahead of Cassandra.

Memory is bounded in bytes, not documents (`projector_cache_bytes`): documents differ a
hundredfold in size. Each entry is weighed when remembered (an estimate: a fixed cost per kind,
measured with tracemalloc, plus the size of its texts and objects), and the entries written
longest ago go first.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from tidewire_platform.readmodel import Contact, Doc, Message, Ticket
from tidewire_projector.journal_cassandra import Journaled, Unit
from tidewire_projector.outcome import Outcome, ParkedStatus
from tidewire_projector.store_cassandra import CassandraStore

_MISSING = object()
DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # settings.projector_cache_bytes

# Memory of one entry beyond its texts and objects (key, OrderedDict slot, the document's
# fields), measured with tracemalloc on typical documents of each kind.
_BASE = {Message: 2400, Ticket: 1700, Contact: 950}
_SMALL = 400  # an id (open ticket, wamid), a parked status or "absent"


def weight(value: Any) -> int:
    """Estimated bytes an entry holding `value` takes."""
    if isinstance(value, Message):
        objects = (value.media, value.location, value.shared_contacts, value.interactive)
        extra = sum(_deep(o) for o in objects if o is not None)
        return _BASE[Message] + sys.getsizeof(value.body) + _deep(value.reactions) + extra
    if isinstance(value, Ticket):
        return _BASE[Ticket] + sys.getsizeof(value.last_message)
    if isinstance(value, Contact):
        return _BASE[Contact] + sys.getsizeof(value.name)
    if isinstance(value, str):
        return _SMALL + sys.getsizeof(value)
    if isinstance(value, Doc | ParkedStatus):
        return _SMALL + sys.getsizeof(value.model_dump_json())
    return _SMALL


def _deep(value: Any) -> int:
    """Bytes of JSON-like data: its containers and strings (bounded by the field limits)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep(k) + _deep(v) for k, v in value.items())
    elif isinstance(value, list):
        size += sum(_deep(v) for v in value)
    return size


class CachedStore:
    def __init__(self, inner: CassandraStore, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.inner = inner
        self._max = max_bytes
        self._bytes = 0  # the estimated weight of `_docs`
        self._docs: OrderedDict[tuple[str, ...], tuple[Any, int]] = OrderedDict()
        self._staged: dict[tuple[str, ...], Any] = {}
        self._units: list[Unit] = []

    @property
    def size_bytes(self) -> int:
        """Estimated bytes of what earlier batches wrote and reads loaded (not staged)."""
        return self._bytes

    def clear(self) -> None:
        """Forget everything, the batch in flight included (its flush failed)."""
        self.forget_written()
        self._staged.clear()
        self._units.clear()

    def forget_written(self) -> None:
        """Forget what earlier batches wrote (partitions moved: another process may have
        written those companies since), but not the batch in flight: its staged outcomes
        are still to be written by its own flush."""
        self._docs.clear()
        self._bytes = 0

    def _put(self, key: tuple[str, ...], value: Any) -> None:
        old = self._docs.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        cost = weight(value)
        self._docs[key] = (value, cost)  # at the end: the last to go
        self._bytes += cost
        while self._bytes > self._max and self._docs:
            _, (_, gone) = self._docs.popitem(last=False)
            self._bytes -= gone

    async def _get(self, key: tuple[str, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        value = self._staged.get(key, _MISSING)
        if value is _MISSING:
            entry = self._docs.get(key)
            value = entry[0] if entry is not None else _MISSING
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
