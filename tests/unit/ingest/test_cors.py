"""Browsers on other origins may call the API: front ends are often served elsewhere."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tidewire_ingest.app import create_app
from tidewire_ingest.settings import IngestSettings
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


def test_browsers_on_other_origins_may_call_the_api() -> None:
    """A front end served elsewhere (the SDK's demo inbox, a Whaticket front end) sends its
    bearer token cross-origin: the preflight allows it and answers name the origin."""
    app = create_app(StackSettings())
    with TestClient(app) as client:
        pre = client.options(
            "/api/events",
            headers={
                "origin": "http://inbox.test",
                "access-control-request-method": "GET",
                "access-control-request-headers": "authorization",
            },
        )
        assert pre.status_code == 200
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        refused = client.get("/api/events", headers={"origin": "http://inbox.test"})
        assert refused.status_code == 401  # no token: CORS opens the door, not the API
        assert refused.headers["access-control-allow-origin"] == "*"


def test_the_allowed_origins_can_be_narrowed() -> None:
    ingest = IngestSettings(cors_origins=["https://app.example"])
    with TestClient(create_app(StackSettings(), ingest)) as client:
        other = client.get("/api/events", headers={"origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers
        ours = client.get("/api/events", headers={"origin": "https://app.example"})
        assert ours.headers["access-control-allow-origin"] == "https://app.example"


def test_metrics_and_probes_stay_same_origin() -> None:
    with TestClient(create_app(StackSettings())) as client:
        for path in ("/metrics", "/healthz"):
            got = client.get(path, headers={"origin": "http://inbox.test"})
            assert got.status_code == 200
            assert "access-control-allow-origin" not in got.headers, path
