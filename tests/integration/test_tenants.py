"""Tenants and WhatsApp connections on the real Cassandra: what only this binding does (its
indexes, `created_at`, the cache across processes) and the CLI. The store contract itself is
tests/contracts/test_tenant_store.py."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra.cluster import Session

from tests.support.stack import Stack, free_port
from tidewire_platform.cql import connect
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tenants_cassandra import CassandraTenantStore

pytestmark = pytest.mark.integration

TIDEWIRE = str(Path(sys.executable).parent / "tidewire")


@pytest.fixture
def session(stack: Stack) -> Iterator[Session]:
    s = stack.settings
    sess = connect(s, s.cassandra_keyspace)
    try:
        yield sess
    finally:
        sess.cluster.shutdown()


@pytest.fixture
def store(stack: Stack, session: Session) -> CassandraTenantStore:
    return CassandraTenantStore(session, stack.settings.cassandra_keyspace)


def connection_of(company: str, token: str | None = None, **changes: str) -> Connection:
    base = {
        "company_id": company,
        "phone_number_id": f"{company}-phone",
        "display_phone_number": "+55 11 90000-0000",
        "verify_token": token or f"verify-{uuid.uuid4().hex[:8]}",
        "app_secret": "s3cret",
        "access_token": "EAAG-token",
    }
    return Connection(**{**base, **changes})


def verify_index(session: Session, token: str) -> list[str]:
    rows = session.execute(
        "SELECT phone_number_id FROM connections_by_verify_token WHERE verify_token = %s",
        (token,),
    )
    return sorted(r.phone_number_id for r in rows)


async def test_upsert_twice_leaves_the_same_state(
    store: CassandraTenantStore, session: Session, company: str
) -> None:
    tenant, conn = Tenant(company, "Acme"), connection_of(company)
    await store.upsert(tenant, conn)
    first_created = session.execute(
        "SELECT created_at FROM companies WHERE company_id = %s", (company,)
    ).one()
    await store.upsert(tenant, conn)
    again_created = session.execute(
        "SELECT created_at FROM companies WHERE company_id = %s", (company,)
    ).one()

    assert await store.get(company) == tenant
    assert await store.connection_for_phone(conn.phone_number_id) == conn
    assert first_created == again_created
    assert verify_index(session, conn.verify_token) == [conn.phone_number_id]


async def test_lookup_by_phone_and_by_verify_token(
    store: CassandraTenantStore, session: Session, company: str
) -> None:
    token = f"verify-{company}"
    one = connection_of(company, token, phone_number_id=f"{company}-p1")
    two = connection_of(company, token, phone_number_id=f"{company}-p2", access_token="other")
    await store.upsert(Tenant(company, "Acme"), one)
    await store.upsert(Tenant(company, "Acme"), two)

    assert await store.connection_for_phone(one.phone_number_id) == one
    assert await store.connections_for_verify_token(token) == [one, two]

    # A changed token moves the number in the index, and the cached lookup follows at once.
    rotated = connection_of(
        company, f"{token}-new", phone_number_id=one.phone_number_id, app_secret="rotated"
    )
    await store.upsert(Tenant(company, "Acme"), rotated)
    assert await store.connection_for_phone(one.phone_number_id) == rotated
    assert await store.connections_for_verify_token(token) == [two]
    assert await store.connections_for_verify_token(f"{token}-new") == [rotated]
    assert verify_index(session, token) == [two.phone_number_id]


async def test_another_process_sees_writes_once_its_cache_expires(
    store: CassandraTenantStore, stack: Stack, session: Session, company: str
) -> None:
    now = [0.0]
    reader = CassandraTenantStore(
        session, stack.settings.cassandra_keyspace, ttl_s=5.0, miss_ttl_s=1.0, clock=lambda: now[0]
    )
    conn = connection_of(company)
    assert await reader.connection_for_phone(conn.phone_number_id) is None
    await store.upsert(Tenant(company, "Acme"), conn)
    assert await reader.connection_for_phone(conn.phone_number_id) is None  # cached miss
    now[0] = 1.5
    assert await reader.connection_for_phone(conn.phone_number_id) == conn

    rotated = connection_of(company, conn.verify_token, app_secret="rotated")
    await store.upsert(Tenant(company, "Acme"), rotated)
    assert await reader.connection_for_phone(conn.phone_number_id) == conn  # cached hit
    now[0] = 7.0
    assert await reader.connection_for_phone(conn.phone_number_id) == rotated


def tidewire(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIDEWIRE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


async def test_cli_tenant_add_end_to_end(store: CassandraTenantStore, company: str) -> None:
    phone = f"{company}-cli-phone"
    flags = ["--phone-number-id", phone, "--verify-token", f"vt-{company}"]
    added = tidewire(
        "tenant", "add", "--company-id", company, "--name", "Via CLI",
        *flags, "--app-secret", "cli-secret", "--display-phone-number", "+55 11 95555-0000",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert company in added.stdout
    assert len(added.stdout.strip().splitlines()) == 1

    assert await store.get(company) == Tenant(company, "Via CLI")
    assert await store.connection_for_phone(phone) == Connection(
        company, phone, "+55 11 95555-0000", f"vt-{company}", "cli-secret", None
    )

    again = tidewire(
        "tenant", "add", "--company-id", company, "--name", "Via CLI",
        *flags, "--app-secret", "cli-secret", "--display-phone-number", "+55 11 95555-0000",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr

    other = f"{company}-other"
    conflict = tidewire(
        "tenant", "add", "--company-id", other, "--name", "Other",
        *flags, "--app-secret", "x",
    )  # fmt: skip
    assert conflict.returncode != 0
    assert conflict.stderr.strip().splitlines() == [
        f"tidewire: phone number {phone} already belongs to company {company}; "
        "a number can be connected to one company only"
    ]
    assert await store.get(other) is None

    partial = tidewire("tenant", "add", "--company-id", other, "--name", "O", *flags)
    assert partial.returncode == 2
    assert "--app-secret" in partial.stderr

    # An id the command contract would refuse is refused here, before anything is stored.
    too_long = "c" * 65
    refused = tidewire("tenant", "add", "--company-id", too_long, "--name", "Long")
    assert refused.returncode == 2
    assert "--company-id" in refused.stderr
    assert "must match" in refused.stderr
    assert await store.get(too_long) is None
    no_token = tidewire("token", "--company-id", "with space", "--user-id", "u")
    assert no_token.returncode == 2
    assert "must match" in no_token.stderr


def test_cli_says_so_when_cassandra_is_unreachable(company: str) -> None:
    down = tidewire(
        "tenant", "add", "--company-id", company, "--name", "Nowhere",
        env={"TIDEWIRE_CASSANDRA_PORT": str(free_port())},
    )  # fmt: skip
    assert down.returncode == 2
    [line] = down.stderr.strip().splitlines()
    assert "unreachable" in line
    assert "tidewire infra up" in line
