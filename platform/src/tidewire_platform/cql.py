"""One way to open a Cassandra session, so every service talks to the cluster alike.

libev is the driver's fast reactor (its wheels ship it); asyncio is the fallback. The
load-balancing policy is DC-aware with an explicit local DC: the driver warns and may route
across DCs otherwise.
"""

from __future__ import annotations

import asyncio
import socket
from collections import namedtuple
from functools import lru_cache
from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import named_tuple_factory

from tidewire_platform.settings import StackSettings


def _connection_class() -> Any:
    try:
        from cassandra.io.libevreactor import LibevConnection

        return LibevConnection
    except Exception:  # the C extension is optional in the driver's wheels
        from cassandra.io.asyncioreactor import AsyncioConnection

        return AsyncioConnection


@lru_cache(maxsize=512)
def _row_class(columns: tuple[str, ...]) -> Any:
    return namedtuple("Row", columns, rename=True)


def cached_rows(colnames: list[str], rows: list[Any]) -> list[Any]:
    """Rows as named tuples, like the driver's default factory, but the tuple class of a
    column list is made once: the default builds a new class for every result, which was a
    visible share of the projector's CPU. Not for LWT results (`was_applied` accepts only the
    driver's own factories)."""
    cls = _row_class(tuple(colnames))
    return [cls(*row) for row in rows]


def connect(
    settings: StackSettings,
    keyspace: str | None = None,
    timeout: float = 10.0,
    row_factory: Any = None,
) -> Session:
    """A session on the configured cluster (LOCAL_QUORUM by default: safe on 1 node or many)."""
    from cassandra import ConsistencyLevel

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(
            DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)
        ),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=timeout,
        row_factory=row_factory or named_tuple_factory,
    )
    auth = None
    if settings.cassandra_username:
        auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
    cluster = Cluster(
        [settings.cassandra_host],
        auth_provider=auth,
        port=settings.cassandra_port,
        connection_class=_connection_class(),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
        connect_timeout=timeout,
        # The driver leaves Nagle's algorithm on: a request larger than one segment then
        # waits for the server's delayed ACK (40 ms on Linux) before its tail is sent.
        sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    return cluster.connect(keyspace)


class LazySession:
    """A session opened on first use, so a service starts (and serves what needs no
    Cassandra) while the cluster is down. Connecting blocks, so it runs in a thread; a failed
    open raises to its caller and the next caller tries again."""

    def __init__(
        self, settings: StackSettings, timeout: float = 10.0, row_factory: Any = None
    ) -> None:
        self._settings = settings
        self._timeout = timeout
        self._row_factory = row_factory
        self._session: Session | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Session:
        if self._session is not None:
            return self._session
        async with self._lock:
            if self._session is None:
                self._session = await asyncio.to_thread(
                    connect, self._settings, None, self._timeout, self._row_factory
                )
            return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.cluster.shutdown()
            self._session = None
