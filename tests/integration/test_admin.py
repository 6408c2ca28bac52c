"""Tenant administration over HTTP, the API twin of `tidewire tenant add`."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.support import whatsapp as wa
from tests.support.stack import Services
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.integration


def _admin_token() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", "token", "--admin", "--user-id", "ops"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("admin token for company platform")
    return out.stdout.strip().splitlines()[-1]


def test_a_company_id_the_rest_would_refuse_is_refused_here(services: Services) -> None:
    body = {"name": "Too long"}
    with httpx.Client(base_url=services.ingest_url, timeout=15) as http:
        admin = {"Authorization": f"Bearer {_admin_token()}"}
        refused = http.put(f"/admin/tenants/{'c' * 65}", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "company_id" in refused.json()["detail"]


def test_admin_creates_a_tenant_whose_webhooks_are_accepted(
    services: Services, company: str
) -> None:
    phone = f"pn-{uuid.uuid4().hex[:10]}"
    body = {
        "name": "Loja da Ana",
        "connection": {
            "phone_number_id": phone,
            "verify_token": f"vt-{phone}",
            "app_secret": "admin-made-secret-0123456789",
            "access_token": "EAAG",
        },
    }
    with httpx.Client(base_url=services.ingest_url, timeout=15) as http:
        admin = {"Authorization": f"Bearer {_admin_token()}"}
        created = http.put(f"/admin/tenants/{company}", json=body, headers=admin)
        assert created.status_code == 200, created.text
        assert created.json() == {
            "company_id": company,
            "name": "Loja da Ana",
            "phone_number_id": phone,
        }
        assert http.put(f"/admin/tenants/{company}", json=body, headers=admin).status_code == 200
        got = http.get(f"/admin/tenants/{company}", headers=admin).json()
        assert got["name"] == "Loja da Ana"
        assert "app_secret" not in json.dumps(got)

        payload = json.dumps(wa.webhook(phone, [wa.text_message("oi")])).encode()
        hook = http.post(
            "/webhooks/whatsapp",
            content=payload,
            headers={
                "content-type": "application/json",
                "x-hub-signature-256": wa.sign(payload, "admin-made-secret-0123456789"),
            },
        )
        assert hook.status_code == 200, hook.text

        taken = http.put(
            f"/admin/tenants/co-other-{uuid.uuid4().hex[:6]}", json=body, headers=admin
        )
        assert taken.status_code == 409
        agent = {"Authorization": f"Bearer {issue_token(services.settings, company, 'a1')}"}
        assert http.put(f"/admin/tenants/{company}", json=body, headers=agent).status_code == 403
        assert http.put(f"/admin/tenants/{company}", json=body).status_code == 401
        bad = http.put(f"/admin/tenants/{company}", json={"name": ""}, headers=admin)
        assert bad.status_code == 422
        assert http.get("/admin/tenants/co-nobody", headers=admin).status_code == 404
