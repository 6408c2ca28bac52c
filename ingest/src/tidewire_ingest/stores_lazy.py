"""Cassandra-backed stores, opened on first use so ingest starts (and answers) while
Cassandra is down; a request that needs one then gets 503 with Retry-After."""

from __future__ import annotations

import asyncio

from cassandra.cluster import Session

from tidewire_ingest.page_cursor import cursor_key
from tidewire_ingest.problems import store_unavailable
from tidewire_ingest.queries import ReadModels
from tidewire_ingest.queries_cassandra import CassandraReadModels
from tidewire_platform.cql import connect
from tidewire_platform.read_models_home import FollowedKeyspace
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import TenantStore
from tidewire_platform.tenants_cassandra import CassandraTenantStore


class LazyStores:
    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self._session: Session | None = None
        self._tenants: TenantStore | None = None
        self._read_models: ReadModels | None = None
        self._read_models_ks = ""
        self._active = FollowedKeyspace(settings.cassandra_keyspace)
        self._lock = asyncio.Lock()

    async def _open(self) -> Session:
        async with self._lock:
            if self._session is None:
                try:
                    self._session = await asyncio.to_thread(connect, self._s)
                except Exception as exc:  # the driver raises NoHostAvailable and friends
                    raise store_unavailable(exc) from exc
            return self._session

    async def tenants(self) -> TenantStore:
        if self._tenants is None:
            self._tenants = CassandraTenantStore(await self._open(), self._s.cassandra_keyspace)
        return self._tenants

    async def read_models(self) -> ReadModels:
        """The read models where the last rebuild put them (re-checked every few seconds)."""
        session = await self._open()
        keyspace = await self._active.get(session)
        if self._read_models is None or keyspace != self._read_models_ks:
            key = cursor_key(self._s.jwt_secret)
            self._read_models = CassandraReadModels(session, keyspace, key)
            self._read_models_ks = keyspace
        return self._read_models

    def close(self) -> None:
        if self._session is not None:
            self._session.cluster.shutdown()
