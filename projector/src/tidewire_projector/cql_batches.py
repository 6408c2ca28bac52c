"""Many row writes as few Cassandra requests: unlogged batches under the size Cassandra takes."""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from tidewire_platform.aio import submit

# Cassandra refuses batches over 50 KiB by default (batch_size_fail_threshold) and counts more
# than the bytes counted here; a single larger row is sent as a statement of its own.
_BATCH_BYTES = 30_000
# What a row costs in Cassandra's count beyond its values (keys, timestamps, cell headers); an
# upper bound, so that batches of tiny rows stay under the threshold as well.
_ROW_BYTES = 100

Write = tuple[Any, tuple[Any, ...]]  # a prepared statement and its parameters


async def write_batched(session: Session, writes: list[Write]) -> None:
    """`writes` as unlogged batches of at most `_BATCH_BYTES`, sent concurrently: one
    request per batch instead of one per row (the Python driver's per-request CPU is what
    bounds the projector). Unlogged: atomicity comes from the journal, not the batch log."""
    batches: list[list[Write]] = []
    size = _BATCH_BYTES
    for write in writes:
        n = _ROW_BYTES + sum(_size(p) for p in write[1])
        if size + n > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(write)
        size += n
    await asyncio.gather(*(submit(session, *_as_request(b)) for b in batches))


def _size(value: object) -> int:
    """Bytes of a value on the wire: Portuguese, Arabic or Chinese text is 2-3 bytes per
    character in UTF-8 (counting characters let a batch grow past Cassandra's limit)."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode())
    return len(value) if isinstance(value, bytes) else 0


def _as_request(writes: list[Write]) -> tuple[Any, ...]:
    if len(writes) == 1:
        return writes[0]
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for stmt, params in writes:
        batch.add(stmt, params)
    return (batch,)
