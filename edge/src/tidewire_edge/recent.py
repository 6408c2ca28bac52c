"""The last records of one events partition, indexed by company, within a byte budget.

A reconnecting client needs its company's events after its cursor. Scanning the partition's
whole memory for them cost every reconnect up to 20,000 steps, and 1,000 clients reconnecting at
once kept a node busy for seconds; with an index per company a reconnect walks back only over
its own company's newest events.

The memory is bounded in bytes, not records: a count let one tenant's large events (half a
megabyte each) hold gigabytes. Past the budget the oldest records are forgotten; a replay
from before them reads the log instead. A FIFO by offset, not an LRU: what is forgotten must
be exactly a prefix of the partition, or `first` would not say what memory covers.
"""

from __future__ import annotations

from collections import deque
from sys import getsizeof

# What one remembered record costs besides its key's and value's bytes objects: two 2-tuples
# (56 bytes each), an offset int (28), and two deque slots (8 each), rounded up.
RECORD_OVERHEAD = 160


def record_bytes(key: bytes, value: bytes) -> int:
    """Bytes one record takes in memory."""
    return getsizeof(key) + getsizeof(value) + RECORD_OVERHEAD


class RecentRecords:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self.bytes = 0  # what the records remembered take, by `record_bytes`
        self._order: deque[tuple[int, bytes]] = deque()  # (offset, key), oldest first
        self._by_key: dict[bytes, deque[tuple[int, bytes]]] = {}  # key -> (offset, value)

    def __len__(self) -> int:
        return len(self._order)

    def append(self, offset: int, key: bytes, value: bytes) -> None:
        """Remember a record (offsets only grow); forget the oldest beyond the byte budget
        (a record larger than the whole budget is not kept at all). A record that does not
        follow the newest one (the reader skipped records retention deleted) makes memory
        forget everything before it: what memory holds must be every record from `first`
        on, or a replay from it would silently miss the skipped ones."""
        if self._order and offset != self._order[-1][0] + 1:
            self._order.clear()
            self._by_key.clear()
            self.bytes = 0
        self._order.append((offset, key))
        self._by_key.setdefault(key, deque()).append((offset, value))
        self.bytes += record_bytes(key, value)
        while self.bytes > self._max_bytes and self._order:
            _, old_key = self._order.popleft()
            mine = self._by_key[old_key]
            _, old_value = mine.popleft()  # a company's oldest record is the partition's oldest
            self.bytes -= record_bytes(old_key, old_value)
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
