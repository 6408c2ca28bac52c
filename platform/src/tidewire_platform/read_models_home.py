"""Where the read models live: the main keyspace, or the one the last rebuild switched to.

Read models are disposable views of the commands log. A rebuild writes a complete new set in
a fresh keyspace while the old one keeps serving, then flips this pointer; readers follow it.
"""

from __future__ import annotations

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


async def switch_to(session: Session, main_keyspace: str, keyspace: str) -> None:
    await execute(
        session,
        f"INSERT INTO {main_keyspace}.read_model_generation (name, keyspace_name, switched_at) "
        "VALUES (%s, %s, %s)",
        (_NAME, keyspace, datetime.now(UTC)),
    )
