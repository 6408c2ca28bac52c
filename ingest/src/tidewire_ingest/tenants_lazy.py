"""The tenant store, opened on first use so ingest starts (and answers) while Cassandra is down."""

from __future__ import annotations

import asyncio

from cassandra.cluster import Session

from tidewire_ingest.problems import Problem
from tidewire_ingest.tenants import TenantStore
from tidewire_ingest.tenants_cassandra import CassandraTenantStore
from tidewire_platform.cql import connect
from tidewire_platform.settings import StackSettings


class LazyTenants:
    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self._store: TenantStore | None = None
        self._session: Session | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> TenantStore:
        async with self._lock:
            if self._store is None:
                try:
                    self._session = await asyncio.to_thread(connect, self._s)
                except Exception as exc:  # the driver raises NoHostAvailable and friends
                    raise Problem(
                        503,
                        "Tenant store unavailable",
                        f"Cassandra: {exc}",
                        headers={"Retry-After": "5"},
                    ) from exc
                self._store = CassandraTenantStore(self._session, self._s.cassandra_keyspace)
            return self._store

    def close(self) -> None:
        if self._session is not None:
            self._session.cluster.shutdown()
