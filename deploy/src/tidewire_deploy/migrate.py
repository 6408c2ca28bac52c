"""`tidewire infra migrate`: topics and Cassandra schema, both idempotent.

Topics: commands (kept forever: the source every read model is rebuilt from), events
(retention = the replay window) and dead-letter, all with the same partition count.
Schema: versioned `migrations/NNNN_name.cql` files applied in order, each recorded in
`schema_migrations` with a checksum; an applied file that changed afterwards is an error,
not a silent skip.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cassandra.cluster import Session

from tidewire_platform.cql import connect
from tidewire_platform.settings import StackSettings

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.cql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        lines = [ln for ln in self.text.splitlines() if not ln.strip().startswith("--")]
        return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def migrations() -> list[Migration]:
    found = []
    for entry in (resources.files("tidewire_deploy") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def topic_specs(s: StackSettings) -> list[NewTopic]:
    copies = s.kafka_replication_factor
    return [
        NewTopic(s.commands_topic, s.partitions, copies, topic_configs={"retention.ms": "-1"}),
        NewTopic(
            s.events_topic,
            s.partitions,
            copies,
            topic_configs={"retention.ms": str(s.events_retention_ms)},
        ),
        NewTopic(
            s.outbound_topic,
            s.partitions,
            copies,
            topic_configs={"retention.ms": str(s.events_retention_ms)},
        ),
        NewTopic(
            s.deadletter_topic,
            s.partitions,
            copies,
            topic_configs={"retention.ms": str(30 * 24 * 3600 * 1000)},
        ),
    ]


async def ensure_topics(s: StackSettings, specs: list[NewTopic] | None = None) -> list[str]:
    """Create missing topics (the stack's, or `specs`); returns the names created. Existing
    ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in specs or topic_specs(s) if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


def apply_schema(s: StackSettings, session: Session | None = None) -> list[str]:
    """Apply pending CQL migrations in order; returns the names applied now."""
    own = session is None
    session = session or connect(s)
    try:
        ks = s.cassandra_keyspace
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {s.cassandra_replication}"
        )
        session.set_keyspace(ks)
        session.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version int PRIMARY KEY, name text, checksum text, applied_at timestamp)"
        )
        done = {row.version: row for row in session.execute("SELECT * FROM schema_migrations")}
        applied = []
        for mig in migrations():
            if mig.version in done:
                if done[mig.version].checksum != mig.checksum:
                    raise RuntimeError(
                        f"migration {mig.name} changed after it was applied; "
                        "add a new migration instead of editing an old one"
                    )
                continue
            for stmt in mig.statements():
                session.execute(stmt, timeout=60)
            session.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                "VALUES (%s, %s, %s, %s)",
                (mig.version, mig.name, mig.checksum, datetime.now(UTC)),
            )
            applied.append(mig.name)
        return applied
    finally:
        if own:
            session.cluster.shutdown()


def migrate(s: StackSettings) -> tuple[list[str], list[str]]:
    """Topics then schema; returns (topics created, migrations applied)."""
    created = asyncio.run(ensure_topics(s))
    applied = apply_schema(s)
    return created, applied
