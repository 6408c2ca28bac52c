"""Tenant administration over HTTP: the API twin of `tidewire tenant add`.

Operators (tokens with role "admin", `tidewire token --admin`) create or update a company and
its WhatsApp connection; the same store and conflict rules as the CLI apply. Secrets are write
only: reads never return them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from tidewire_ingest.deps import Admin, Tenants
from tidewire_ingest.problems import COMMON, Problem, documented
from tidewire_platform.contracts import ID_PATTERN
from tidewire_platform.tenants import Tenant, TenantConflict, TenantIn

router = APIRouter(prefix="/admin", tags=["admin"], responses=COMMON)


CompanyId = Annotated[str, Path(pattern=ID_PATTERN, description="letters, digits, . _ : -")]


class TenantOut(BaseModel):
    company_id: str
    name: str
    phone_number_id: str | None = None


@router.put(
    "/tenants/{company_id}",
    response_model=TenantOut,
    responses=documented(
        r403="not an admin token",
        r409="the phone number belongs to another company",
        r503="Cassandra did not answer; retry (Retry-After)",
    ),
)
async def put_tenant(
    company_id: CompanyId, body: TenantIn, _: Admin, tenants: Tenants
) -> TenantOut:
    """Create or update a company and (optionally) one WhatsApp connection. Idempotent."""
    conn = body.connection
    connection = conn.of(company_id) if conn is not None else None
    try:
        await tenants.upsert(Tenant(company_id, body.name), connection)
    except TenantConflict as exc:
        raise Problem(409, "Phone number taken", str(exc)) from exc
    return TenantOut(
        company_id=company_id,
        name=body.name,
        phone_number_id=conn.phone_number_id if conn else None,
    )


@router.get(
    "/tenants/{company_id}",
    response_model=TenantOut,
    responses=documented(r404="no such company", r403="not an admin token"),
)
async def get_tenant(company_id: CompanyId, _: Admin, tenants: Tenants) -> TenantOut:
    tenant = await tenants.get(company_id)
    if tenant is None:
        raise Problem(404, "Company not found", f"no company {company_id!r}")
    return TenantOut(company_id=tenant.company_id, name=tenant.name)
