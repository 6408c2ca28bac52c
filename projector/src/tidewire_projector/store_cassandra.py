"""Read-model writes on Cassandra: prepared statements, idempotent upserts."""

from __future__ import annotations

from datetime import UTC, datetime

from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_projector.fold import MessageRow


class CassandraStore:
    def __init__(self, session: Session, keyspace: str) -> None:
        self._s = session
        ks = keyspace
        self._insert_message = session.prepare(
            f"INSERT INTO {ks}.messages_by_ticket (company_id, ticket_id, position, message_id, "
            "body, from_me, ack, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._applied = session.prepare(
            f"SELECT event_ids FROM {ks}.applied_commands WHERE company_id = ? AND command_id = ?"
        )
        self._mark = session.prepare(
            f"INSERT INTO {ks}.applied_commands (company_id, command_id, event_ids, applied_at) "
            "VALUES (?, ?, ?, ?)"
        )

    async def already_applied(self, company_id: str, command_id: str) -> bool:
        rows = await execute(self._s, self._applied, (company_id, command_id))
        return rows.one() is not None

    async def write_message(self, row: MessageRow) -> None:
        await execute(
            self._s,
            self._insert_message,
            (
                row.company_id,
                row.ticket_id,
                row.position,
                row.message_id,
                row.body,
                row.from_me,
                row.ack,
                datetime.fromtimestamp(row.created_at_ms / 1000, UTC),
            ),
        )

    async def mark_applied(self, company_id: str, command_id: str, event_ids: list[str]) -> None:
        await execute(self._s, self._mark, (company_id, command_id, event_ids, datetime.now(UTC)))
