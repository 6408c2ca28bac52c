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


class Unwritable(ValueError):
    """A command the log can never take (larger than a record may be, or not serialisable);
    raised before anything of the request is written, so the sender must not retry it."""

    def __init__(self, detail: str, too_large: bool) -> None:
        super().__init__(detail)
        self.too_large = too_large


class CommandLog(Protocol):
    async def append(self, command: Command) -> None: ...

    async def append_many(self, commands: list[Command]) -> None:
        """All durable, in list order per company, or LogUnavailable (some may be written:
        their ids are stable, so the sender's retry is deduplicated downstream), or
        Unwritable (none written)."""
        ...

    async def ready(self) -> bool: ...
