"""Write a tenant and its WhatsApp connection into Cassandra, from outside the services.

Used by `tidewire tenant add` and by `tidewire up` (the demo tenant). Safe while the stack
runs: the schema is brought up to date first (a no-op when `infra up` already did it), and the
write goes through the same `TenantStore` the services read, with its conflict rules. A
running ingest sees a new number within its cache's miss TTL (about a second).
"""

from __future__ import annotations

import asyncio

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable

from tidewire_deploy.migrate import apply_schema
from tidewire_deploy.prereqs import MissingPrerequisite
from tidewire_platform.cql import connect
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tenants_cassandra import CassandraTenantStore


def provision(s: StackSettings, tenant: Tenant, connection: Connection | None) -> None:
    """Upsert the tenant (and connection). Raises TenantConflict, MissingPrerequisite when
    Cassandra cannot be reached, RuntimeError when it is reached but fails."""
    where = f"{s.cassandra_host}:{s.cassandra_port}"
    try:
        session = connect(s)
    except (NoHostAvailable, DriverException, OSError) as exc:
        raise MissingPrerequisite(
            f"Cassandra at {where} is unreachable ({type(exc).__name__}); "
            "start it with `tidewire infra up`"
        ) from exc
    try:
        apply_schema(s, session)
        store = CassandraTenantStore(session, s.cassandra_keyspace)
        asyncio.run(store.upsert(tenant, connection))
    except (NoHostAvailable, DriverException) as exc:
        # Reachable but failing (timeouts, unavailable replicas): an engine fault, exit 1.
        raise RuntimeError(
            f"Cassandra at {where} failed the request ({exc}); see `tidewire infra status`"
        ) from exc
    finally:
        session.cluster.shutdown()
