"""Company → partition: one company's history is one ordered log.

The hash is Kafka's own default (murmur2 of the key bytes, sign bit cleared, modulo the
partition count), so a Java or Go producer that keys by company id lands on the same partition
as we do. Commands and events topics have the same partition count, so a company's commands
partition and events partition share a number; edge nodes rely on that to read only the events
partitions of the companies they serve.
"""

from __future__ import annotations

from functools import lru_cache


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (32-bit, seed 0x9747b28c), as a signed 32-bit int.

    Written by hand because the contract must not depend on a client library's private helper.
    """
    length = len(data)
    m = 0x5BD1E995
    r = 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[i * 4 : i * 4 + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & 3
    idx = n4 * 4
    if tail == 3:
        h ^= data[idx + 2] << 16
    if tail >= 2:
        h ^= data[idx + 1] << 8
    if tail >= 1:
        h ^= data[idx]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def company_key(company_id: str) -> bytes:
    """The Kafka record key of everything that belongs to a company."""
    return company_id.encode()


@lru_cache(maxsize=65536)
def partition_for(company_id: str, partitions: int) -> int:
    """The partition holding a company's commands and events (remembered: ingest asks for
    every command, and the hash is pure Python)."""
    if partitions < 1:
        raise ValueError("partitions must be >= 1")
    return (murmur2(company_key(company_id)) & 0x7FFFFFFF) % partitions
