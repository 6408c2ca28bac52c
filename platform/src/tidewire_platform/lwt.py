"""Cassandra lightweight transactions (`IF NOT EXISTS`, `IF col = ?`), prepared alike."""

from __future__ import annotations

from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session


def prepare_lwt(session: Session, cql: str) -> Any:
    """`cql` prepared with LOCAL_SERIAL: the Paxos round stays in the local DC, like
    LOCAL_QUORUM for reads."""
    stmt = session.prepare(cql)
    stmt.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
    return stmt
