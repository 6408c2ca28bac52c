"""The seam between ingest and the registry of tenants and their WhatsApp connections.

A tenant is a company; a connection is one WhatsApp Cloud API phone number the company owns,
with the secrets its webhooks are checked with. Guarantees of every `TenantStore`:

- a `phone_number_id` belongs to at most one company, ever: a claim by another company raises
  `TenantConflict` and changes nothing of the owner's connection;
- `upsert` is idempotent (the same input twice leaves the same state) and replaces the whole
  connection: a field given as None is cleared, not kept;
- once `upsert` returned, every later read in the same process sees the write. Other processes
  may see a phone number's previous connection for a few seconds (bindings may cache the
  webhook hot path, `connection_for_phone`); a secret rotation must allow for that.

Any other exception means the store did not answer: nothing is known (callers answer 503).
Bindings: `tenants_cassandra.py`, `tenants_memory.py` (tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field

from tidewire_platform.contracts import ID_PATTERN


class TenantConflict(Exception):
    """The phone number is already connected to another company; nothing was changed."""

    @classmethod
    def of(cls, phone_number_id: str, owner: str | None) -> TenantConflict:
        return cls(
            f"phone number {phone_number_id} already belongs to company {owner}; "
            "a number can be connected to one company only"
        )


@dataclass(frozen=True)
class Tenant:
    company_id: str
    name: str


@dataclass(frozen=True)
class Connection:
    """A WhatsApp Cloud API phone number of a company.

    `verify_token` answers Meta's subscription handshake, `app_secret` checks the
    X-Hub-Signature-256 of each webhook, `access_token` (optional until we send) calls the
    Graph API on the company's behalf.
    """

    company_id: str
    phone_number_id: str
    display_phone_number: str | None
    verify_token: str
    app_secret: str
    access_token: str | None = None


class TenantStore(Protocol):
    async def upsert(self, tenant: Tenant, connection: Connection | None) -> None:
        """Create or update the company and, if given, its connection (see module guarantees).

        Raises `TenantConflict` if `connection.phone_number_id` belongs to another company,
        and `ValueError` if `connection.company_id` is not `tenant.company_id`.
        """
        ...

    async def connection_for_phone(self, phone_number_id: str) -> Connection | None:
        """The connection of a phone number, or None if no company claimed it."""
        ...

    async def connections_for_verify_token(self, token: str) -> list[Connection]:
        """Every connection whose verify token is `token`, ordered by phone_number_id."""
        ...

    async def get(self, company_id: str) -> Tenant | None:
        """The company, or None if it was never upserted."""
        ...


class ConnectionIn(BaseModel):
    """A connection as operators give it (admin API body, `tidewire tenant add` flags): one
    set of rules for both, so neither stores what the other would refuse."""

    phone_number_id: str = Field(pattern=ID_PATTERN)
    display_phone_number: str | None = Field(default=None, max_length=32)
    verify_token: str = Field(min_length=1, max_length=256)
    app_secret: str = Field(min_length=1, max_length=256)
    access_token: str | None = Field(default=None, max_length=1024)

    def of(self, company_id: str) -> Connection:
        return Connection(
            company_id,
            self.phone_number_id,
            self.display_phone_number,
            self.verify_token,
            self.app_secret,
            self.access_token,
        )


class TenantIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    connection: ConnectionIn | None = None
