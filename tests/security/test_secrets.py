"""Secrets fail closed: the public development keys serve only a stack that says, exactly,
that it is one; operators' tokens have a key of their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.stack import Services, free_port
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_admin_token, issue_token

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["tidewire_ingest", "tidewire_projector", "tidewire_edge", "tidewire_outbound"]


def _env_without_secrets(env_name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("JWT_SECRET")}
    return {**env, "TIDEWIRE_ENV": env_name}


@pytest.mark.parametrize("env_name", ["prod", "Production", "staging"])
@pytest.mark.parametrize("module", MODULES)
def test_every_process_refuses_the_development_key_outside_development_and_test(
    module: str, env_name: str
) -> None:
    """Before, only `production` spelled exactly was refused: these started and accepted
    tokens anyone can mint with the key printed in the source."""
    argv = [sys.executable, "-m", module, "--port", str(free_port())]
    try:
        done = subprocess.run(
            argv, env=_env_without_secrets(env_name), capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{module} started with the development key (TIDEWIRE_ENV={env_name})"
        ) from exc
    assert done.returncode != 0
    assert "TIDEWIRE_JWT_SECRET is the public development key" in done.stderr, done.stderr[-2000:]


def test_the_cli_mints_no_admin_token_in_production_without_an_admin_key() -> None:
    env = {**_env_without_secrets("production"), "TIDEWIRE_JWT_SECRET": "p" * 40}
    done = subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", "token", "--admin", "--user-id", "ops"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "TIDEWIRE_ADMIN_JWT_SECRET" in done.stderr


def test_the_container_image_defaults_to_production() -> None:
    recipe = (ROOT / "deploy" / "container" / "Dockerfile").read_text()
    assert re.search(r"^\s*TIDEWIRE_ENV=production\b", recipe, re.MULTILINE), recipe


def test_agent_keys_open_no_admin_api_and_admin_keys_no_agent_api(
    services: Services, settings: StackSettings
) -> None:
    company = f"co-{uuid.uuid4().hex[:12]}"
    body = {"name": "Mallory's"}
    claims = {"sub": "mallory", "company_id": company, "role": "admin", "aud": "tidewire"}
    forged = jwt.encode({**claims, "exp": 2_000_000_000}, settings.jwt_secret, "HS256")
    with httpx.Client(base_url=services.ingest_url, timeout=15) as http:
        for token in (forged, issue_token(settings, company, "agent")):
            refused = http.put(
                f"/admin/tenants/{company}", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert refused.status_code == 403, refused.text
            assert refused.json()["detail"] == "tenant administration needs an admin token"
        admin = {"Authorization": f"Bearer {issue_admin_token(settings, 'ops')}"}
        assert http.get(f"/admin/tenants/{company}", headers=admin).status_code == 404
        assert http.get("/api/tickets", headers=admin).status_code == 401
