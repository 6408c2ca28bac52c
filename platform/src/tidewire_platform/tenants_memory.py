"""TenantStore in memory: the contract without Cassandra, for unit tests and the contract suite.

One process, no cache: every read sees every write at once. `failing` makes every call raise
it (the store not answering), for tests of what callers then do.
"""

from __future__ import annotations

from tidewire_platform.tenants import Connection, Tenant, TenantConflict


class MemoryTenantStore:
    def __init__(self, *connections: Connection) -> None:
        self._tenants: dict[str, Tenant] = {}
        self._phones: dict[str, Connection] = {}
        self.failing: Exception | None = None
        self.asked: list[str] = []  # every phone number looked up, in order (for tests)
        for connection in connections:
            self._tenants.setdefault(
                connection.company_id, Tenant(connection.company_id, connection.company_id)
            )
            self._phones[connection.phone_number_id] = connection

    def _answer(self) -> None:
        if self.failing is not None:
            raise self.failing

    async def upsert(self, tenant: Tenant, connection: Connection | None) -> None:
        self._answer()
        if connection is not None:
            if connection.company_id != tenant.company_id:
                raise ValueError(
                    f"connection of {connection.company_id!r} given for tenant "
                    f"{tenant.company_id!r}"
                )
            current = self._phones.get(connection.phone_number_id)
            if current is not None and current.company_id != tenant.company_id:
                raise TenantConflict.of(connection.phone_number_id, current.company_id)
        self._tenants[tenant.company_id] = tenant
        if connection is not None:
            self._phones[connection.phone_number_id] = connection

    async def connection_for_phone(self, phone_number_id: str) -> Connection | None:
        self.asked.append(phone_number_id)
        self._answer()
        return self._phones.get(phone_number_id)

    async def connections_for_verify_token(self, token: str) -> list[Connection]:
        self._answer()
        return sorted(
            (c for c in self._phones.values() if c.verify_token == token),
            key=lambda c: c.phone_number_id,
        )

    async def get(self, company_id: str) -> Tenant | None:
        self._answer()
        return self._tenants.get(company_id)
