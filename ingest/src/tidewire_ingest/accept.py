"""The one acceptance rule of every route: durable in Kafka, or 503 and nothing acknowledged."""

from __future__ import annotations

from typing import get_args

from tidewire_ingest.command_log import CommandLog, LogUnavailable, Unwritable
from tidewire_ingest.problems import Problem, unavailable
from tidewire_platform.contracts import Command, CommandType
from tidewire_platform.metrics import COMMANDS_ACCEPTED

# One counter child per command type, looked up once (`labels()` takes a lock on every call).
_ACCEPTED = {t: COMMANDS_ACCEPTED.labels(t) for t in get_args(CommandType)}


async def accept(log: CommandLog, commands: list[Command]) -> None:
    """Append all commands in order; 503 + Retry-After if Kafka does not confirm them, 413
    or 422 (nothing written) for a command no record can hold."""
    try:
        await log.append_many(commands)
    except Unwritable as exc:
        if exc.too_large:
            raise Problem(413, "Payload too large", str(exc)) from exc
        raise Problem(422, "Payload cannot be stored", str(exc)) from exc
    except LogUnavailable as exc:
        raise unavailable(
            "Log unavailable", "Kafka did not acknowledge; nothing acknowledged, retry later", exc
        ) from exc
    for command in commands:
        _ACCEPTED[command.type].inc()
