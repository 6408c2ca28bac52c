"""How many bytes a decoded event holds in memory, for the node's byte budgets.

The size in the log is no measure of it: a text with one emoji is stored as UTF-8 but held as
four bytes per character, and `[{},{},…]` in a WhatsApp payload takes 3 bytes stored and
~70 held. Events are JSON, so their objects are dicts, lists, strings, numbers, booleans
and None; walking them with `sys.getsizeof` is exact enough and ~4x faster than a generic
deep-size library (objsize walks every referent through the garbage collector).
"""

from __future__ import annotations

from sys import getsizeof
from typing import Any

from tidewire_platform.contracts import Event


def json_bytes(value: Any) -> int:
    """Bytes held by a decoded JSON value (shared small ints and strings counted anyway)."""
    size = getsizeof(value)
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            size += getsizeof(key) + json_bytes(item)
    elif kind is list:
        for item in value:
            size += json_bytes(item)
    return size


def event_bytes(event: Event) -> int:
    """Bytes held by a decoded event: the model, its fields and its payload."""
    fields = event.__dict__
    return getsizeof(event) + getsizeof(fields) + sum(json_bytes(v) for v in fields.values())
