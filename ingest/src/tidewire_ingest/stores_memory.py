"""The stores of `stores_lazy` in memory (tenants and read models): ingest without Cassandra,
for unit tests. `failing(exc)` makes both raise `exc`, as a cluster that stopped answering."""

from __future__ import annotations

from tidewire_platform.read_models import ReadModelReader
from tidewire_platform.read_models_memory import MemoryReadModels
from tidewire_platform.tenants import TenantStore
from tidewire_platform.tenants_memory import MemoryTenantStore


class MemoryStores:
    def __init__(
        self,
        tenants: MemoryTenantStore | None = None,
        read_models: MemoryReadModels | None = None,
    ) -> None:
        self.tenant_store = tenants or MemoryTenantStore()
        self.read_model_reader = read_models or MemoryReadModels()

    def failing(self, exc: Exception) -> None:
        self.tenant_store.failing = exc
        self.read_model_reader.failing = exc

    async def tenants(self) -> TenantStore:
        return self.tenant_store

    async def read_models(self) -> ReadModelReader:
        return self.read_model_reader

    def close(self) -> None:
        pass
