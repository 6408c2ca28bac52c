"""An agent's message as the read models hold it, in the keyspace the last rebuild switched to.

The sender reads it only to skip a message whose outcome was recorded before the sends ledger
existed (or by a process that kept no ledger row): one with a wamid or a negative ack.
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_platform.read_models_home import FollowedKeyspace
from tidewire_platform.readmodel import Message


class CassandraMessages:
    def __init__(self, session: Session, main_keyspace: str) -> None:
        self._s = session
        self._keyspace = FollowedKeyspace(main_keyspace)
        self._statements: dict[str, Any] = {}

    async def message(self, company_id: str, message_id: str) -> Message | None:
        keyspace = await self._keyspace.get(self._s)
        stmt = self._statements.get(keyspace)
        if stmt is None:
            stmt = self._s.prepare(
                f"SELECT doc FROM {keyspace}.messages WHERE company_id=? AND message_id=?"
            )
            self._statements = {keyspace: stmt}  # the previous keyspace is not read again
        row = (await execute(self._s, stmt, (company_id, message_id))).one()
        return Message.model_validate_json(row.doc) if row else None
