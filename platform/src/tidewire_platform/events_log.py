"""The seam between readers and the events log: one company's events after a cursor.

The events log is what the projector appends after writing the read models (the events
topic). Catch-up reads (`GET /api/events?after=`, `lastEventId`, socket recovery) come from
it, so a page can never disagree with what live sockets get. Guarantees of every `EventsLog`:

- order: a company's events come in the order they were appended, each once; a page after
  cursor `c` starts with the first event of the company appended after `c`;
- a cursor names a position of one partition of one log (`epoch`): a cursor of another epoch
  or partition, or one whose successor left the retention, raises `StaleCursor` (the client
  resyncs from the read models); one past the end raises `ForeignCursor` (a 400: it was
  never handed out);
- bounded: a page stops after `limit` events, before `max_bytes` (its first event is always
  taken, so paging progresses), or after a bounded scan of other companies' records; then
  `more` is true and `next` points past what was returned, so nothing is silently skipped;
- a record that is not an event is skipped and logged, never an error of every read past it.

Any other exception means the log did not answer: nothing is known, retry later.
Bindings: `events_log_kafka.py` (the events topic), `events_log_memory.py` (tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidewire_platform.contracts import Event
from tidewire_platform.cursor import Cursor

SCAN_BUDGET = 20_000  # records of other companies a page may skip over
# A page's events stop before this many bytes (as stored in the log) unless the caller says
# otherwise; its first event is always returned, however large, so a page always progresses.
PAGE_BYTES = 1024 * 1024


class StaleCursor(Exception):
    """The cursor was ours but can no longer be continued: the client must resync."""


class ForeignCursor(ValueError):
    """The cursor is well-formed but names no position of this company's log."""


@dataclass(frozen=True)
class Page:
    events: list[Event]
    next: Cursor | None  # continue after this; None only for an empty log and no cursor
    more: bool  # the log holds records beyond `next` (read again at once)


class EventsLog(Protocol):
    @property
    def epoch(self) -> str:
        """The identity of this log (a recreated topic has another): part of every cursor."""
        ...

    async def start(self) -> None:
        """Connect; raises when the log does not exist (run the migrations)."""
        ...

    async def stop(self) -> None: ...

    def check(self, company_id: str, after: Cursor) -> None:
        """Refuse a cursor of another epoch or partition (StaleCursor)."""
        ...

    async def bounds(self, company_id: str) -> tuple[int, int]:
        """(first retained offset, next offset to be written) of the company's partition."""
        ...

    async def head(self, company_id: str) -> Cursor | None:
        """The position of the newest record in the company's partition (another company's,
        maybe: partitions are shared), so a page after it holds exactly what is appended
        later. None while the partition is empty, where a page from the oldest is the same."""
        ...

    async def window_start(self, company_id: str, records: int) -> Cursor | None:
        """A cursor `records` records before the end of the company's partition (or before
        its oldest retained record, if that is later): where a read without a cursor starts,
        so that it never scans the whole retention. None: the window covers the whole log."""
        ...

    async def page(
        self,
        company_id: str,
        after: Cursor | None,
        limit: int,
        until: int | None = None,
        max_bytes: int = PAGE_BYTES,
    ) -> Page:
        """Up to `limit` events of the company after `after` (from the oldest retained when
        None), stopping before offset `until` when given, and before the event that would
        take the page past `max_bytes` (the events' size in the log; the first event is
        always taken)."""
        ...
