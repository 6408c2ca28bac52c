"""The one way tidewire writes to Kafka: idempotent, acks=all, keyed and partitioned by company.

Shared by ingest (commands) and projector (events) so both logs obey the same durability rule:
a record counts as written only once every in-sync replica has it.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import RecordMetadata

from tidewire_platform.partitioning import company_key, partition_for
from tidewire_platform.settings import StackSettings

# The largest record a producer sends (aiokafka's default, under the broker's default
# message.max.bytes of 1 MiB + 12): a record over it is refused by `send` before it leaves.
# Stated here so that whoever checks a record's size first (`record_size`) uses the same number.
MAX_REQUEST_BYTES = 1024 * 1024


def make_producer(settings: StackSettings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,  # broker dedupes producer retries: no twin records
        acks="all",
        # No wait for company: at a helpdesk's pace every record leaves at once. Under load
        # records still go in batches: those sent while a request to the broker is in flight
        # wait for it and leave together (aiokafka keeps one request per broker in flight).
        linger_ms=0,
        request_timeout_ms=10_000,
        max_request_size=MAX_REQUEST_BYTES,
    )


def record_size(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None = None
) -> int:
    """What the producer counts against `MAX_REQUEST_BYTES` for one record (aiokafka's own
    estimate, the one `send` checks)."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers or [])))


async def append(
    producer: AIOKafkaProducer,
    settings: StackSettings,
    topic: str,
    company_id: str,
    value: bytes,
) -> RecordMetadata:
    """Append `value` to the company's partition of `topic`; returns once acknowledged."""
    return await producer.send_and_wait(
        topic,
        value,
        key=company_key(company_id),
        partition=partition_for(company_id, settings.partitions),
    )
