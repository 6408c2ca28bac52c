"""Cassandra-backed stores, opened on first use so ingest starts (and answers) while
Cassandra is down; a request that needs one then gets 503 with Retry-After."""

from __future__ import annotations

from cassandra.cluster import Session

from tidewire_ingest.problems import store_unavailable
from tidewire_platform.cql import LazySession
from tidewire_platform.page_cursor import cursor_key
from tidewire_platform.read_models import ReadModelReader
from tidewire_platform.read_models_cassandra import CassandraReadModels
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import TenantStore
from tidewire_platform.tenants_cassandra import CassandraTenantStore


class LazyStores:
    def __init__(self, settings: StackSettings) -> None:
        self._settings = settings
        self._session = LazySession(settings)
        self._tenants: TenantStore | None = None
        # Follows the keyspace the last rebuild switched to by itself.
        self._read_models = CassandraReadModels(
            self._open, settings.cassandra_keyspace, cursor_key(settings.jwt_secret)
        )

    async def _open(self) -> Session:
        try:
            return await self._session.get()
        except Exception as exc:  # the driver raises NoHostAvailable and friends
            raise store_unavailable(exc) from exc

    async def tenants(self) -> TenantStore:
        if self._tenants is None:
            self._tenants = CassandraTenantStore(
                await self._open(), self._settings.cassandra_keyspace
            )
        return self._tenants

    async def read_models(self) -> ReadModelReader:
        """The read models where the last rebuild put them (re-checked every few seconds)."""
        return self._read_models

    def close(self) -> None:
        self._session.close()
