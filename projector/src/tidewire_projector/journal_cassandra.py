"""The command journal on Cassandra: which command was applied at which position, and what
its outcome was, so that a batch a crash interrupted is replayed with the same outcomes.

One row per command, keyed by its id alone (a whole batch of any companies is looked up with
a few reads). The outcomes of a batch are stored once, compressed together, in
`journal_outcomes`, and each row refers to its own (`@<batch>:<index>`). Whole outcomes in
every row were most of the bytes the projector wrote and a large share of Cassandra's CPU per
command; the outcomes of one batch share most of their text, so the fastest zlib level
shrinks them many times. Rows written before that change, and by a rebuild, hold the outcome
itself as JSON, and both kinds are read.

A batch whose outcomes are small (a helpdesk's pace: one or two commands per batch) keeps
them in its journal rows instead, as JSON in the same `outcome` column rows of the old format
use: one request, so one round trip less before the batch's documents are written, and a
zlib stream of one small outcome saves little. The outcome cell alone gets the TTL (written
by a second statement of the same partition in the same request, which Cassandra applies as
one mutation: the row never shows without its outcome), so the row still says "applied at
this position" for ever, as a compressed row does.

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
from cassandra.query import BatchStatement, BatchType

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
# Outcomes of a batch up to this many bytes of JSON stay in their journal rows (one request,
# well under Cassandra's batch size threshold); larger ones go compressed to journal_outcomes.
_INLINE_BYTES = 16 * 1024


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
        self._put_position = session.prepare(
            f"INSERT INTO {keyspace}.command_journal_by_id (company_id, command_id, position, "
            f"recorded_at) VALUES (?,?,?,?)"
        )
        self._put_inline = session.prepare(
            f"UPDATE {keyspace}.command_journal_by_id USING TTL ? SET outcome=? WHERE command_id=?"
        )
        self._get_outcomes = session.prepare(
            f"SELECT part, data FROM {keyspace}.journal_outcomes WHERE batch_id=?"
        )
        self._put_outcomes = session.prepare(
            f"INSERT INTO {keyspace}.journal_outcomes (batch_id, part, data) VALUES (?,?,?) "
            f"USING TTL ?"
        )

    async def write(self, units: list[Unit]) -> None:
        """Journal the units that have a command id: small outcomes in their rows (one
        request), larger ones compressed, first, then the rows that refer to them; either way
        a row never lacks its outcome (until the outcome expires)."""
        new = [u for u in units if u.command_id is not None]
        if not new:
            return
        texts = [u.outcome.to_json().encode() for u in new]
        if sum(len(t) for t in texts) <= _INLINE_BYTES:
            await self._write_inline(new, [t.decode() for t in texts])
            return
        batch_id = uuid.uuid4().hex
        blob = zlib.compress(b"\n".join(texts), 1)
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

    async def _write_inline(self, units: list[Unit], texts: list[str]) -> None:
        """Small outcomes in their own rows, one request: per row its position (no TTL) and
        its outcome (the outcomes' TTL), two statements of one partition that Cassandra
        applies together. Unlogged: each row is its own partition, atomic by itself."""
        now = now_ms()
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for unit, text in zip(units, texts, strict=True):
            recorded_at = unit.recorded_at if unit.recorded_at is not None else now
            params = (unit.outcome.company_id, unit.command_id, unit.position, recorded_at)
            batch.add(self._put_position, params)
            batch.add(self._put_inline, (self._ttl_s, text, unit.command_id))
        await submit(self._session, batch)

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
                    if row.outcome is None:  # kept in the row, and expired since
                        outcome = self._expired(row, f"of {row.command_id}")
                    elif row.outcome.startswith(_REF):
                        batch_id, _, index = row.outcome[len(_REF) :].partition(":")
                        refs.setdefault(batch_id, []).append((row, int(index)))
                        continue
                    else:
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
        return CassandraJournal._expired(row, f"{batch_id}:{index}")

    @staticmethod
    def _expired(row: Any, where: str) -> Outcome:
        """Expired: the command was applied longer ago than the events are kept, so there is
        nothing left to re-apply or re-append."""
        log.warning("journaled outcome %s has expired; replaying nothing", where)
        return Outcome(company_id=row.company_id)
