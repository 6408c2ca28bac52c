"""Cursors: the one notion of position shared by sockets, REST and clients.

A cursor names an event's place in the events log: the log's epoch, the partition and the
offset. Clients treat it as an opaque string. The epoch makes a cursor from a recreated
topic recognisable as stale instead of silently pointing at someone else's events.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache

_PREFIX = "tw1."
_BODY = re.compile(
    r"(?P<epoch>[A-Za-z0-9_-]{1,64}):(?P<partition>[0-9]{1,5}):(?P<offset>[0-9]{1,19})"
)


class CursorError(ValueError):
    """The string is not a tidewire cursor (wrong shape, not ours)."""


@dataclass(frozen=True, order=True)
class Cursor:
    """Position of one event: offset `offset` of partition `partition` in log epoch `epoch`."""

    epoch: str
    partition: int
    offset: int

    def encode(self) -> str:
        raw = f"{self.epoch}:{self.partition}:{self.offset}".encode()
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def encode_known(self) -> str:
        """`encode`, remembering the string, so decoding it is a lookup: for the edge's
        feed, whose every event's cursor is decoded again right after (decoding was as
        much as a tenth of a node's work per event)."""
        text = self.encode()
        if len(_known) >= _KNOWN_MAX:
            _known.clear()  # a rare full reset beats an LRU's bookkeeping per event
        _known[text] = self
        return text

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if not isinstance(text, str) or not text.startswith(_PREFIX) or len(text) > 200:
            raise CursorError("not a tidewire cursor")
        return _known.get(text) or _decode(text)

    def __str__(self) -> str:
        return self.encode()


_KNOWN_MAX = 16384
_known: dict[str, Cursor] = {}  # strings made by `encode_known`, decoded by a lookup


# Cursors are immutable, and an edge node decodes the same few thousand again and again (each
# event's cursor once per socket it is sent to); remembering them saves the base64 and regex
# work. Strings that are not cursors raise, so are never kept.
@lru_cache(maxsize=16384)
def _decode(text: str) -> Cursor:
    body = text[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII input, bad UTF-8
        raise CursorError("not a tidewire cursor") from exc
    match = _BODY.fullmatch(raw)
    if match is None:
        raise CursorError("not a tidewire cursor")
    return Cursor(match["epoch"], int(match["partition"]), int(match["offset"]))
