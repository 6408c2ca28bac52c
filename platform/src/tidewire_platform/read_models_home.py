"""Where the read models live: the main keyspace, or the one the last rebuild switched to.

Read models are disposable views of the commands log. A rebuild writes a complete new set in
a fresh keyspace while the old one keeps serving, then flips this pointer; readers follow it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from cassandra.cluster import Session

from tidewire_platform.aio import execute

_NAME = "active"


async def active_keyspace(session: Session, main_keyspace: str) -> str:
    rows = await execute(
        session,
        f"SELECT keyspace_name FROM {main_keyspace}.read_model_generation WHERE name = %s",
        (_NAME,),
    )
    row = rows.one()
    return str(row.keyspace_name) if row and row.keyspace_name else main_keyspace


class FollowedKeyspace:
    """The active keyspace as a long-running reader follows it: asked again once `ttl_s` has
    passed, or at once when the reader has reason to think it moved (`fresh`)."""

    def __init__(self, main_keyspace: str, ttl_s: float = 5.0) -> None:
        self._main = main_keyspace
        self._ttl_s = ttl_s
        self._keyspace: str | None = None
        self._checked_at = 0.0

    async def get(self, session: Session, fresh: bool = False) -> str:
        now = time.monotonic()
        if self._keyspace is None or fresh or now - self._checked_at > self._ttl_s:
            self._keyspace = await active_keyspace(session, self._main)
            self._checked_at = now
        return self._keyspace


async def switch_to(session: Session, main_keyspace: str, keyspace: str) -> None:
    await execute(
        session,
        f"INSERT INTO {main_keyspace}.read_model_generation (name, keyspace_name, switched_at) "
        "VALUES (%s, %s, %s)",
        (_NAME, keyspace, datetime.now(UTC)),
    )
