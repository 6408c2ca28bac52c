"""`tidewire infra migrate` on the real engines: idempotent and complete."""

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.stack import Stack
from tidewire_deploy.migrate import apply_schema, ensure_topics, migrations
from tidewire_platform.cql import connect

pytestmark = pytest.mark.integration


def test_second_migrate_changes_nothing(stack: Stack) -> None:
    s = stack.settings
    assert asyncio.run(ensure_topics(s)) == []
    assert apply_schema(s) == []
    session = connect(s, s.cassandra_keyspace)
    try:
        versions = sorted(
            r.version for r in session.execute("SELECT version FROM schema_migrations")
        )
    finally:
        session.cluster.shutdown()
    assert versions == [m.version for m in migrations()]


def test_topics_share_the_configured_partition_count(stack: Stack) -> None:
    s = stack.settings

    async def counts() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(
                [s.commands_topic, s.events_topic, s.outbound_topic, s.deadletter_topic]
            )
            return {d["topic"]: len(d["partitions"]) for d in described}
        finally:
            await admin.close()

    assert set(asyncio.run(counts()).values()) == {s.partitions}
