"""The CommandLog contract (`tidewire_ingest.command_log`), run against every binding.

A binding's class gives the log and `written(company_id, count)`: the company's commands the
log holds since the test began, in log order (read back from the topic for Kafka).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import pytest

from tests.contracts.support import fresh
from tests.support.kafka import PartitionReader
from tests.support.stack import Stack
from tidewire_ingest.command_log import MAX_COMMAND_BYTES, CommandLog, Unwritable
from tidewire_ingest.command_log_kafka import KafkaCommandLog
from tidewire_ingest.command_log_memory import MemoryCommandLog
from tidewire_platform.contracts import Command


def _command(company_id: str, n: int, body: str = "") -> Command:
    return Command(
        id=f"{company_id}-k{n}",
        type="message.inbound",
        company_id=company_id,
        accepted_at=n,
        payload={"body": body or f"m{n}"},
    )


class CommandLogContract(ABC):
    @pytest.fixture
    @abstractmethod
    async def log(self) -> CommandLog | AsyncIterator[CommandLog]: ...

    @abstractmethod
    async def written(self, company_id: str, count: int) -> list[Command]:
        """The company's first `count` commands written since the test began (fewer if the
        log holds fewer)."""

    async def test_a_company_commands_keep_their_order(self, log: CommandLog) -> None:
        acme = fresh("acme")
        await self.begin(acme)
        await log.append(_command(acme, 0))
        await log.append_many([_command(acme, 1), _command(acme, 2), _command(acme, 3)])
        await log.append(_command(acme, 4))
        assert [c.id for c in await self.written(acme, 5)] == [f"{acme}-k{n}" for n in range(5)]

    async def test_a_batch_holding_a_command_no_record_takes_writes_none_of_it(
        self, log: CommandLog
    ) -> None:
        acme = fresh("acme")
        await self.begin(acme)
        huge = _command(acme, 1, body="x" * (MAX_COMMAND_BYTES + 1))
        with pytest.raises(Unwritable) as refused:
            await log.append_many([_command(acme, 0), huge, _command(acme, 2)])
        assert refused.value.too_large
        with pytest.raises(Unwritable):
            await log.append(huge)
        await log.append(_command(acme, 3))  # a marker: everything before it is written
        assert [c.id for c in await self.written(acme, 1)] == [f"{acme}-k3"]  # first since

    async def test_it_is_ready(self, log: CommandLog) -> None:
        assert await log.ready()

    @abstractmethod
    async def begin(self, company_id: str) -> None:
        """Called before the test writes `company_id`'s commands."""


@pytest.mark.unit
class TestMemoryCommandLog(CommandLogContract):
    @pytest.fixture
    async def log(self) -> CommandLog:
        self._log = MemoryCommandLog()
        return self._log

    async def begin(self, company_id: str) -> None:
        pass  # the memory log starts empty

    async def written(self, company_id: str, count: int) -> list[Command]:
        return self._log.of(company_id)[:count]


@pytest.mark.integration
class TestKafkaCommandLog(CommandLogContract):
    @pytest.fixture
    async def log(self, stack: Stack) -> AsyncIterator[CommandLog]:
        self._settings = stack.settings
        self._readers: list[PartitionReader] = []
        log = KafkaCommandLog(stack.settings)
        try:
            yield log
        finally:
            await log.close()
            for reader in self._readers:
                await reader.__aexit__()

    async def begin(self, company_id: str) -> None:
        reader = PartitionReader(self._settings, self._settings.commands_topic, company_id)
        self._readers.append(await reader.__aenter__())

    async def written(self, company_id: str, count: int) -> list[Command]:
        [reader] = [r for r in self._readers if r.company_id == company_id]
        return [Command.from_bytes(r.value or b"") for r in await reader.read(count, 10)]
