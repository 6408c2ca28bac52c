"""Typed access to a webhook body's JSON, each refusal naming its path: the schema's vocabulary.

`WebhookSchemaError` is the only exception these raise; `tidewire_ingest.whatsapp` turns a body
into facts with them.
"""

from __future__ import annotations

from typing import Any

from tidewire_platform import limits

# Messages and statuses travel whole (`raw`) inside the command. The projector's JSON parser
# stops at 200 levels, so a deeper object accepted here would be answered 200 and then be
# dead-lettered: refused instead. Meta's own objects nest fewer than ten levels.
MAX_RAW_DEPTH = 64
MAX_KEY_CHARS = limits.WHATSAPP_ID_CHARS

# Unix seconds with at most 11 digits (until the year 5138); also keeps int() away from
# Python's limit on digit strings.
_MAX_SECONDS = 10**11 - 1


class WebhookSchemaError(ValueError):
    """Payload violates the webhook schema. `.loc` is the path (e.g.
    "entry.0.changes.0.value.messages.1.type"); the root itself is "body"."""

    loc: str

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


def shallow(obj: dict[str, Any], loc: str) -> dict[str, Any]:
    """`obj` if it nests at most `MAX_RAW_DEPTH` levels of objects and arrays."""
    level: list[Any] = [obj]
    for _ in range(MAX_RAW_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return obj
    raise WebhookSchemaError(loc, f"nests deeper than {MAX_RAW_DEPTH} levels")


def as_object(value: Any, loc: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookSchemaError(loc, "must be an object" if value is not None else "is required")
    return value


def as_array(value: Any, loc: str) -> list[Any]:
    if not isinstance(value, list):
        raise WebhookSchemaError(loc, "must be an array" if value is not None else "is required")
    return value


def string(obj: dict[str, Any], key: str, loc: str) -> str:
    value = obj.get(key)
    if value is None:
        raise WebhookSchemaError(f"{loc}.{key}", "is required")
    if not isinstance(value, str) or not value:
        raise WebhookSchemaError(f"{loc}.{key}", "must be a non-empty string")
    return value


def wa_key(obj: dict[str, Any], key: str, loc: str) -> str:
    """A string the projector uses in a Cassandra key (wamids, WhatsApp ids, states): bounded,
    because Cassandra refuses keys over 64 KiB and the projector would retry such a batch
    forever. Meta's are well under a hundred characters."""
    value = string(obj, key, loc)
    if len(value) > MAX_KEY_CHARS:
        raise WebhookSchemaError(f"{loc}.{key}", f"longer than {MAX_KEY_CHARS} characters")
    return value


def opt_wa_key(obj: dict[str, Any], key: str, loc: str) -> str | None:
    value = opt_string(obj, key, loc)
    if value is not None and len(value) > MAX_KEY_CHARS:
        raise WebhookSchemaError(f"{loc}.{key}", f"longer than {MAX_KEY_CHARS} characters")
    return value


def opt_string(obj: dict[str, Any], key: str, loc: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise WebhookSchemaError(f"{loc}.{key}", "must be a string")
    return value


def opt_object(obj: dict[str, Any], key: str, loc: str) -> dict[str, Any] | None:
    value = obj.get(key)
    return None if value is None else as_object(value, f"{loc}.{key}")


def opt_array(obj: dict[str, Any], key: str, loc: str) -> list[Any]:
    value = obj.get(key)
    return [] if value is None else as_array(value, f"{loc}.{key}")


def opt_bool(obj: dict[str, Any], key: str, loc: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise WebhookSchemaError(f"{loc}.{key}", "must be a boolean")
    return value


def opt_int(obj: dict[str, Any], key: str, loc: str) -> int | None:
    value = obj.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise WebhookSchemaError(f"{loc}.{key}", "must be an integer")
    return value


def number(obj: dict[str, Any], key: str, loc: str) -> float | int:
    value = obj.get(key)
    if value is None:
        raise WebhookSchemaError(f"{loc}.{key}", "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookSchemaError(f"{loc}.{key}", "must be a number")
    return value


def seconds(obj: dict[str, Any], loc: str) -> int:
    """`timestamp`: unix seconds, sent by Meta as a string of digits (an integer is accepted)."""
    value = obj.get("timestamp")
    if value is None:
        raise WebhookSchemaError(f"{loc}.timestamp", "is required")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 11:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_SECONDS:
        return value
    raise WebhookSchemaError(f"{loc}.timestamp", "must be unix seconds (digits or an integer)")
