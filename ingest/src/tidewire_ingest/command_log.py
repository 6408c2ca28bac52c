"""The seam between ingest and the durable log of commands.

Guarantee: `append` returns only after the command is durable (acknowledged by all in-sync
replicas); it raises `LogUnavailable` otherwise, and the caller must answer 503 so that the
sender retries. Commands of one company keep their order.
"""

from __future__ import annotations

from typing import Protocol

from tidewire_platform.contracts import Command


class LogUnavailable(RuntimeError):
    """The log could not confirm the write; nothing may be reported as accepted."""


class CommandLog(Protocol):
    async def append(self, command: Command) -> None: ...

    async def append_many(self, commands: list[Command]) -> None:
        """All durable, in list order per company, or LogUnavailable (some may be written:
        their ids are stable, so the sender's retry is deduplicated downstream)."""
        ...

    async def ready(self) -> bool: ...
