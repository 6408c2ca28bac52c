"""CommandLog in memory: the contract without Kafka, for unit tests and the contract suite.

Refuses what the Kafka binding refuses (`encoded`: too large, not serialisable) before
writing anything of the call (a test may lower the size limit, `max_command_bytes`, to
refuse a command of ordinary size). `down` makes every call raise `LogUnavailable` with nothing
written, as Kafka not acknowledging does.
"""

from __future__ import annotations

from tidewire_ingest.command_log import MAX_COMMAND_BYTES, LogUnavailable, encoded
from tidewire_platform.contracts import Command


class MemoryCommandLog:
    def __init__(self, max_command_bytes: int = MAX_COMMAND_BYTES) -> None:
        self._max_command_bytes = max_command_bytes
        self.appended: list[Command] = []  # in append order: per company, the log's order
        self.down = False

    def of(self, company_id: str) -> list[Command]:
        """The company's commands, in log order."""
        return [c for c in self.appended if c.company_id == company_id]

    async def append(self, command: Command) -> None:
        await self.append_many([command])

    async def append_many(self, commands: list[Command]) -> None:
        for command in commands:
            encoded(command, self._max_command_bytes)  # all or nothing: before any is written
        if self.down:
            raise LogUnavailable("the log is down (MemoryCommandLog.down)")
        self.appended.extend(commands)

    async def ready(self) -> bool:
        return not self.down
