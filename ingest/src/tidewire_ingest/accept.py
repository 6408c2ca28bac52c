"""The one acceptance rule of every route: durable in Kafka, or 503 and nothing acknowledged."""

from __future__ import annotations

from tidewire_ingest.command_log import CommandLog, LogUnavailable
from tidewire_ingest.problems import Problem
from tidewire_platform.contracts import Command
from tidewire_platform.metrics import COMMANDS_ACCEPTED


async def accept(log: CommandLog, commands: list[Command]) -> None:
    """Append all commands in order; 503 + Retry-After if Kafka does not confirm them."""
    try:
        await log.append_many(commands)
    except LogUnavailable as exc:
        raise Problem(
            503,
            "Log unavailable",
            f"{exc}; nothing acknowledged, retry later",
            headers={"Retry-After": "5"},
        ) from exc
    for command in commands:
        COMMANDS_ACCEPTED.labels(command.type).inc()
