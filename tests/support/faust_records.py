"""What the projector's batch reads of a faust event, for feeding the pipeline without faust."""

from __future__ import annotations

from dataclasses import dataclass

from tidewire_platform.contracts import Command
from tidewire_platform.partitioning import company_key


@dataclass(frozen=True)
class Position:
    offset: int


@dataclass(frozen=True)
class Record:
    value: bytes
    key: bytes
    message: Position


def record_of(command: Command, offset: int) -> Record:
    """The record of `command` at `offset` of its company's partition."""
    return Record(command.to_bytes(), company_key(command.company_id), Position(offset))
