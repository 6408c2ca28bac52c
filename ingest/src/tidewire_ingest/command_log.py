"""The seam between ingest and the durable log of commands.

Guarantees of every `CommandLog`:

- durable: `append` returns only after the command is durable (acknowledged by all in-sync
  replicas); it raises `LogUnavailable` otherwise, and the caller must answer 503 so that the
  sender retries (some of a batch may be written: command ids are stable, so the retry is
  deduplicated downstream);
- order: commands of one company keep their order (the order of the calls, and list order
  within `append_many`);
- all or nothing for what can never be written: a command no record can hold raises
  `Unwritable` before anything of the request is written.

Bindings: `command_log_kafka.py` (the commands topic), `command_log_memory.py` (tests).
"""

from __future__ import annotations

from typing import Protocol

from tidewire_platform.contracts import Command

# The largest record value any tidewire producer may send: under the producer's
# max_request_size and the broker's message.max.bytes (both 1 MiB by default), with room for
# the record's key and headers.
MAX_RECORD_BYTES = 1_000_000
# The largest command accepted. Smaller than a record because the projector's events embed
# up to one and a half commands' worth: a reaction's event carries the whole message it
# reacts to plus the ticket, whose last message is another message's text. A command at
# the record limit made an event no record could hold, and the projector retried that batch
# for ever. Real WhatsApp messages are a few KB (text is at most 4,096 characters).
MAX_COMMAND_BYTES = 600_000


def encoded(command: Command, limit: int = MAX_COMMAND_BYTES) -> bytes:
    """The record value of `command`, or Unwritable if no Kafka record can hold it (if it
    is larger than `limit`)."""
    try:
        value = command.to_bytes()
    except (ValueError, RecursionError) as exc:  # pydantic's serialisation errors included
        raise Unwritable(f"command cannot be serialised: {exc}", too_large=False) from exc
    if len(value) > limit:
        raise Unwritable(
            f"command of {len(value)} bytes exceeds the {limit} a command may have",
            too_large=True,
        )
    return value


class LogUnavailable(RuntimeError):
    """The log could not confirm the write; nothing may be reported as accepted."""


class Unwritable(ValueError):
    """A command the log can never take (larger than a record may be, or not serialisable);
    raised before anything of the request is written, so the sender must not retry it."""

    def __init__(self, detail: str, too_large: bool) -> None:
        super().__init__(detail)
        self.too_large = too_large


class CommandLog(Protocol):
    async def append(self, command: Command) -> None:
        """Durable, or LogUnavailable, or Unwritable (not written)."""
        ...

    async def append_many(self, commands: list[Command]) -> None:
        """All durable, in list order per company, or LogUnavailable (some may be written:
        their ids are stable, so the sender's retry is deduplicated downstream), or
        Unwritable (none written)."""
        ...

    async def ready(self) -> bool:
        """Whether the log answers now (the readiness probe)."""
        ...
