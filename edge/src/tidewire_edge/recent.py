"""The last records of one events partition, indexed by company.

A reconnecting client needs its company's events after its cursor. Scanning the partition's
whole memory for them cost every reconnect up to 20,000 steps, and 1,000 clients reconnecting at
once kept a node busy for seconds; with an index per company a reconnect walks back only over
its own company's newest events.
"""

from __future__ import annotations

from collections import deque


class RecentRecords:
    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[tuple[int, bytes]] = deque()  # (offset, key), oldest first
        self._by_key: dict[bytes, deque[tuple[int, bytes]]] = {}  # key -> (offset, value)

    def append(self, offset: int, key: bytes, value: bytes) -> None:
        """Remember a record (offsets only grow); forget the oldest beyond `size`."""
        self._order.append((offset, key))
        self._by_key.setdefault(key, deque()).append((offset, value))
        if len(self._order) > self._size:
            _, old_key = self._order.popleft()
            mine = self._by_key[old_key]
            mine.popleft()  # a company's oldest record is the partition's oldest of it
            if not mine:
                del self._by_key[old_key]

    def first(self) -> int | None:
        """Offset of the oldest record remembered; None when empty."""
        return self._order[0][0] if self._order else None

    def between(self, key: bytes, after: int, until: int) -> list[tuple[int, bytes]]:
        """The company's records with after < offset < until, oldest first."""
        found = []
        for offset, value in reversed(self._by_key.get(key, ())):
            if offset <= after:
                break
            if offset < until:
                found.append((offset, value))
        found.reverse()
        return found
