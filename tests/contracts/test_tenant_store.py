"""The TenantStore contract (`tidewire_platform.tenants`), run against every binding.

What only the Cassandra binding does (its indexes, `created_at`, the cache across processes,
the CLI) is tested in tests/integration/test_tenants.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

import pytest

from tests.contracts.support import fresh
from tests.support.stack import Stack
from tidewire_platform.cql import connect
from tidewire_platform.tenants import Connection, Tenant, TenantConflict, TenantStore
from tidewire_platform.tenants_cassandra import CassandraTenantStore
from tidewire_platform.tenants_memory import MemoryTenantStore


def connection_of(company: str, token: str | None = None, **changes: str | None) -> Connection:
    base: dict[str, str | None] = {
        "company_id": company,
        "phone_number_id": f"{company}-phone",
        "display_phone_number": "+55 11 90000-0000",
        "verify_token": token or f"verify-{company}",
        "app_secret": "s3cret",
        "access_token": "EAAG-token",
    }
    return Connection(**{**base, **changes})  # type: ignore[arg-type]


class TenantStoreContract(ABC):
    @pytest.fixture
    @abstractmethod
    async def store(self) -> TenantStore | AsyncIterator[TenantStore]: ...

    async def test_upsert_twice_leaves_the_same_state(self, store: TenantStore) -> None:
        company = fresh("co")
        tenant, conn = Tenant(company, "Acme"), connection_of(company)
        await store.upsert(tenant, conn)
        await store.upsert(tenant, conn)
        assert await store.get(company) == tenant
        assert await store.connection_for_phone(conn.phone_number_id) == conn
        assert await store.connections_for_verify_token(conn.verify_token) == [conn]

    async def test_tenant_without_connection_and_unknown_ids(self, store: TenantStore) -> None:
        company = fresh("co")
        await store.upsert(Tenant(company, "Solo"), None)
        await store.upsert(Tenant(company, "Solo renamed"), None)
        assert await store.get(company) == Tenant(company, "Solo renamed")
        assert await store.get(f"{company}-nobody") is None
        assert await store.connection_for_phone(f"{company}-phone") is None
        assert await store.connections_for_verify_token(f"{company}-no-token") == []

    async def test_lookups_follow_an_update_in_the_same_process(self, store: TenantStore) -> None:
        company = fresh("co")
        token = f"verify-{company}"
        one = connection_of(company, token, phone_number_id=f"{company}-p1")
        two = connection_of(company, token, phone_number_id=f"{company}-p2", access_token="x")
        await store.upsert(Tenant(company, "Acme"), one)
        await store.upsert(Tenant(company, "Acme"), two)
        assert await store.connections_for_verify_token(token) == [one, two]  # by phone id
        assert await store.connection_for_phone(one.phone_number_id) == one
        rotated = connection_of(
            company, f"{token}-new", phone_number_id=one.phone_number_id, app_secret="rotated"
        )
        await store.upsert(Tenant(company, "Acme"), rotated)
        assert await store.connection_for_phone(one.phone_number_id) == rotated
        assert await store.connections_for_verify_token(token) == [two]
        assert await store.connections_for_verify_token(f"{token}-new") == [rotated]

    async def test_a_field_given_as_none_is_cleared(self, store: TenantStore) -> None:
        company = fresh("co")
        await store.upsert(Tenant(company, "Acme"), connection_of(company))
        cleared = connection_of(company, access_token=None, display_phone_number=None)
        await store.upsert(Tenant(company, "Acme"), cleared)
        assert await store.connection_for_phone(cleared.phone_number_id) == cleared

    async def test_another_company_cannot_claim_a_connected_number(
        self, store: TenantStore
    ) -> None:
        company = fresh("co")
        owner = connection_of(company)
        await store.upsert(Tenant(company, "Owner"), owner)
        thief_id = f"{company}-thief"
        claim = connection_of(thief_id, phone_number_id=owner.phone_number_id, app_secret="mine")
        with pytest.raises(TenantConflict, match=f"already belongs to company {company}"):
            await store.upsert(Tenant(thief_id, "Thief"), claim)
        assert await store.connection_for_phone(owner.phone_number_id) == owner
        assert await store.connections_for_verify_token(claim.verify_token) == []
        assert await store.get(thief_id) is None

    async def test_a_connection_of_another_tenant_is_refused(self, store: TenantStore) -> None:
        company = fresh("co")
        with pytest.raises(ValueError, match="given for tenant"):
            await store.upsert(Tenant(company, "Acme"), connection_of(f"{company}-other"))
        assert await store.get(company) is None


@pytest.mark.unit
class TestMemoryTenantStore(TenantStoreContract):
    @pytest.fixture
    async def store(self) -> TenantStore:
        return MemoryTenantStore()


@pytest.mark.integration
class TestCassandraTenantStore(TenantStoreContract):
    @pytest.fixture
    async def store(self, stack: Stack) -> AsyncIterator[TenantStore]:
        settings = stack.settings
        session = connect(settings, settings.cassandra_keyspace)
        try:
            yield CassandraTenantStore(session, settings.cassandra_keyspace)
        finally:
            session.cluster.shutdown()
