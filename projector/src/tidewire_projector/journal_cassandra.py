"""The command journal on Cassandra: which command was applied at which position, and what
its outcome was, so that a batch a crash interrupted is replayed with the same outcomes.

One row per command, keyed by its id alone (a whole batch of any companies is looked up with
a few reads). The outcomes of a batch are stored once, compressed together, in
`journal_outcomes`, and each row refers to its own (`@<batch>:<index>`). Whole outcomes in
every row were most of the bytes the projector wrote and a large share of Cassandra's CPU per
command; the outcomes of one batch share most of their text, so the fastest zlib level
shrinks them many times. Rows written before that change, and by a rebuild, hold the outcome
itself as JSON, and both kinds are read.

Only a replay (the same command at the same position) needs its outcome; a duplicate (the
same command accepted again later) needs only the position, so outcomes are fetched only
for replays.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from tidewire_platform.aio import submit
from tidewire_platform.contracts import now_ms
from tidewire_projector.cql_batches import write_batched
from tidewire_projector.outcome import Outcome

log = logging.getLogger("tidewire.projector")

# Ids per journal lookup request. Cassandra serves one IN of many partitions slowly: 300 ids
# took 60 ms as one request and 18 ms as six concurrent ones of 50 (and 35 % less of its CPU).
_LOOKUP = 50
# Compressed outcomes per journal_outcomes row: one partition per batch, in rows this big.
_PART = 256 * 1024
_REF = "@"  # an outcome column starting with this refers to journal_outcomes
_MAX_TTL_S = 630_720_000  # Cassandra's largest TTL (20 years)


def outcome_ttl(retention_ms: int) -> int:
    """The TTL of journaled outcomes for an events retention: 0 (never expire) when events
    are kept for ever (Kafka's -1), else the retention, capped at what Cassandra takes."""
    return 0 if retention_ms <= 0 else min(max(retention_ms // 1000, 1), _MAX_TTL_S)


@dataclass(frozen=True)
class Unit:
    """One command's outcome in a batch to write; `command_id` is None for an outcome that
    is journaled already (a replay re-applying it)."""

    outcome: Outcome
    command_id: str | None = None
    position: int = -1
    recorded_at: int | None = None  # when it was first applied (None: now)


@dataclass(frozen=True)
class Journaled:
    """A command applied before, at `position`; `outcome` is None unless a replay needs it."""

    position: int
    recorded_at: int
    outcome: Outcome | None


class CassandraJournal:
    def __init__(self, session: Session, keyspace: str, ttl_s: int) -> None:
        self._session = session
        self._ttl_s = ttl_s
        self._get = session.prepare(
            f"SELECT command_id, company_id, position, recorded_at, outcome "
            f"FROM {keyspace}.command_journal_by_id WHERE command_id IN ?"
        )
        self._put = session.prepare(
            f"INSERT INTO {keyspace}.command_journal_by_id (company_id, command_id, position, "
            f"recorded_at, outcome) VALUES (?,?,?,?,?)"
        )
        self._get_outcomes = session.prepare(
            f"SELECT part, data FROM {keyspace}.journal_outcomes WHERE batch_id=?"
        )
        self._put_outcomes = session.prepare(
            f"INSERT INTO {keyspace}.journal_outcomes (batch_id, part, data) VALUES (?,?,?) "
            f"USING TTL ?"
        )

    async def write(self, units: list[Unit]) -> None:
        """Journal the units that have a command id: their outcomes first, then the rows
        that refer to them, so a row never lacks its outcome (until the outcome expires)."""
        new = [u for u in units if u.command_id is not None]
        if not new:
            return
        batch_id = uuid.uuid4().hex
        blob = zlib.compress("\n".join(u.outcome.to_json() for u in new).encode(), 1)
        parts = [blob[i : i + _PART] for i in range(0, len(blob), _PART)]
        await asyncio.gather(
            *(
                submit(self._session, self._put_outcomes, (batch_id, n, part, self._ttl_s))
                for n, part in enumerate(parts)
            )
        )
        now = now_ms()
        rows = [
            (
                self._put,
                (
                    u.outcome.company_id,
                    u.command_id,
                    u.position,
                    u.recorded_at if u.recorded_at is not None else now,
                    f"{_REF}{batch_id}:{i}",
                ),
            )
            for i, u in enumerate(new)
        ]
        await write_batched(self._session, rows)

    async def write_positions(self, applied: dict[tuple[str, str], int], chunk: int) -> None:
        """Slim rows for a rebuild: (company, command id) -> position, with an empty outcome.
        They exist so that a command accepted again later is recognised as a duplicate."""
        entries = list(applied.items())
        empty = {c: Outcome(company_id=c).to_json() for c in {c for (c, _), _ in entries}}
        now = now_ms()
        for i in range(0, len(entries), chunk):
            part = entries[i : i + chunk]
            rows = [(self._put, (c, cid, pos, now, empty[c])) for (c, cid), pos in part]
            await write_batched(self._session, rows)

    async def lookup(self, positions: dict[str, set[int]]) -> dict[str, Journaled]:
        """The journal entries of the commands of `positions` (command id -> positions it
        has in this batch) that were applied before, with outcomes for replays only."""
        ids = list(positions)
        chunks = [ids[i : i + _LOOKUP] for i in range(0, len(ids), _LOOKUP)]
        results = await asyncio.gather(*(submit(self._session, self._get, (c,)) for c in chunks))
        found: dict[str, Journaled] = {}
        refs: dict[str, list[tuple[Any, int]]] = {}  # batch id -> (row, index)
        for rows in results:
            for row in rows:
                outcome = None
                if row.position in positions[row.command_id]:
                    if row.outcome.startswith(_REF):
                        batch_id, _, index = row.outcome[len(_REF) :].partition(":")
                        refs.setdefault(batch_id, []).append((row, int(index)))
                        continue
                    outcome = Outcome.from_json(row.outcome)
                found[row.command_id] = Journaled(row.position, row.recorded_at, outcome)
        batches = await asyncio.gather(*(self._outcomes(b) for b in refs))
        for (batch_id, wanted), texts in zip(refs.items(), batches, strict=True):
            for row, index in wanted:
                found[row.command_id] = Journaled(
                    row.position, row.recorded_at, self._pick(texts, index, row, batch_id)
                )
        return found

    async def _outcomes(self, batch_id: str) -> list[str]:
        rows = await submit(self._session, self._get_outcomes, (batch_id,))
        blob = b"".join(r.data for r in sorted(rows, key=lambda r: r.part))
        return zlib.decompress(blob).decode().split("\n") if blob else []

    @staticmethod
    def _pick(texts: list[str], index: int, row: Any, batch_id: str) -> Outcome:
        if index < len(texts):
            return Outcome.from_json(texts[index])
        # Expired: the command was applied longer ago than the events are kept, so there is
        # nothing left to re-apply or re-append.
        log.warning("journaled outcome %s:%d has expired; replaying nothing", batch_id, index)
        return Outcome(company_id=row.company_id)
