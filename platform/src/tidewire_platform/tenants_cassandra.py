"""TenantStore on Cassandra: lightweight transactions for ownership, a TTL cache for lookups.

`connections_by_phone` is the authority. Its rows are only ever written conditionally
(`IF NOT EXISTS` to claim a number, `IF company_id = ?` to update it), so two companies racing
for one number cannot both win, even from different processes. `companies` is written the same
way so `created_at` keeps the first upsert's time (and LWT and plain writes never mix on a
row, which Cassandra does not order reliably). `connections_by_verify_token` is a plain index
written after the authority; readers confirm its hits, so a stale index row is harmless.

The webhook hot path (`connection_for_phone`) is served from an in-process cache: hits live
`ttl_s`, misses `miss_ttl_s` (short, so a number added by `tidewire tenant add` in another
process starts working quickly). An upsert in this process evicts the number at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_platform.lwt import prepare_lwt
from tidewire_platform.tenants import Connection, Tenant, TenantConflict

_CONNECTION_COLUMNS = (
    "company_id, phone_number_id, display_phone_number, verify_token, app_secret, access_token"
)
_MAX_CACHED = 10_000  # phone numbers; past this the cache starts over rather than grow


class CassandraTenantStore:
    def __init__(
        self,
        session: Session,
        keyspace: str,
        ttl_s: float = 5.0,
        miss_ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._ttl_s = ttl_s
        self._miss_ttl_s = miss_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Connection | None]] = {}
        # Bumped by every eviction: a lookup that raced an upsert must not cache what it read.
        self._generation = 0
        ks = keyspace
        self._claim_company = prepare_lwt(
            session,
            f"INSERT INTO {ks}.companies (company_id, name, created_at) VALUES (?, ?, ?) "
            "IF NOT EXISTS",
        )
        self._rename_company = prepare_lwt(
            session, f"UPDATE {ks}.companies SET name = ? WHERE company_id = ? IF EXISTS"
        )
        self._company = session.prepare(
            f"SELECT company_id, name FROM {ks}.companies WHERE company_id = ?"
        )
        self._claim_phone = prepare_lwt(
            session,
            f"INSERT INTO {ks}.connections_by_phone ({_CONNECTION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
        )
        self._update_phone = prepare_lwt(
            session,
            f"UPDATE {ks}.connections_by_phone SET display_phone_number = ?, verify_token = ?, "
            "app_secret = ?, access_token = ? WHERE phone_number_id = ? IF company_id = ?",
        )
        self._phone = session.prepare(
            f"SELECT {_CONNECTION_COLUMNS} FROM {ks}.connections_by_phone WHERE phone_number_id = ?"
        )
        self._index_token = session.prepare(
            f"INSERT INTO {ks}.connections_by_verify_token (verify_token, phone_number_id, "
            "company_id) VALUES (?, ?, ?)"
        )
        self._unindex_token = session.prepare(
            f"DELETE FROM {ks}.connections_by_verify_token "
            "WHERE verify_token = ? AND phone_number_id = ?"
        )
        self._by_token = session.prepare(
            f"SELECT phone_number_id FROM {ks}.connections_by_verify_token WHERE verify_token = ?"
        )

    async def upsert(self, tenant: Tenant, connection: Connection | None) -> None:
        if connection is not None and connection.company_id != tenant.company_id:
            raise ValueError(
                f"connection of {connection.company_id!r} given for tenant {tenant.company_id!r}"
            )
        try:
            if connection is not None:
                # Fail before writing anything in the common case; the LWT below still
                # decides races.
                current = await self._read_phone(connection.phone_number_id)
                if current is not None and current.company_id != tenant.company_id:
                    raise TenantConflict.of(connection.phone_number_id, current.company_id)
            await self._upsert_company(tenant)
            if connection is not None:
                await self._upsert_connection(connection)
        finally:
            if connection is not None:
                self._evict(connection.phone_number_id)

    async def _upsert_company(self, tenant: Tenant) -> None:
        rs = await execute(
            self._session, self._claim_company, (tenant.company_id, tenant.name, datetime.now(UTC))
        )
        if not rs.was_applied and rs.one().name != tenant.name:
            await execute(self._session, self._rename_company, (tenant.name, tenant.company_id))

    async def _upsert_connection(self, connection: Connection) -> None:
        rs = await execute(
            self._session,
            self._claim_phone,
            (
                connection.company_id,
                connection.phone_number_id,
                connection.display_phone_number,
                connection.verify_token,
                connection.app_secret,
                connection.access_token,
            ),
        )
        previous_token: str | None = None
        if not rs.was_applied:
            existing = rs.one()
            if existing.company_id != connection.company_id:
                raise TenantConflict.of(connection.phone_number_id, existing.company_id)
            previous_token = existing.verify_token
            rs = await execute(
                self._session,
                self._update_phone,
                (
                    connection.display_phone_number,
                    connection.verify_token,
                    connection.app_secret,
                    connection.access_token,
                    connection.phone_number_id,
                    connection.company_id,
                ),
            )
            if not rs.was_applied:
                raise TenantConflict.of(connection.phone_number_id, rs.one().company_id)
        await execute(
            self._session,
            self._index_token,
            (connection.verify_token, connection.phone_number_id, connection.company_id),
        )
        if previous_token is not None and previous_token != connection.verify_token:
            await execute(
                self._session, self._unindex_token, (previous_token, connection.phone_number_id)
            )

    async def connection_for_phone(self, phone_number_id: str) -> Connection | None:
        now = self._clock()
        hit = self._cache.get(phone_number_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        found = await self._read_phone(phone_number_id)
        if generation == self._generation:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            ttl = self._ttl_s if found is not None else self._miss_ttl_s
            self._cache[phone_number_id] = (self._clock() + ttl, found)
        return found

    async def connections_for_verify_token(self, token: str) -> list[Connection]:
        rows = await execute(self._session, self._by_token, (token,))
        phones = sorted(row.phone_number_id for row in rows)
        found = await asyncio.gather(*(self._read_phone(p) for p in phones))
        # The index may lag the authority (token changed, crash between the two writes).
        return [c for c in found if c is not None and c.verify_token == token]

    async def get(self, company_id: str) -> Tenant | None:
        row = (await execute(self._session, self._company, (company_id,))).one()
        return None if row is None else Tenant(row.company_id, row.name)

    async def _read_phone(self, phone_number_id: str) -> Connection | None:
        row = (await execute(self._session, self._phone, (phone_number_id,))).one()
        if row is None:
            return None
        return Connection(
            company_id=row.company_id,
            phone_number_id=row.phone_number_id,
            display_phone_number=row.display_phone_number,
            verify_token=row.verify_token,
            app_secret=row.app_secret,
            access_token=row.access_token,
        )

    def _evict(self, phone_number_id: str) -> None:
        self._generation += 1
        self._cache.pop(phone_number_id, None)
