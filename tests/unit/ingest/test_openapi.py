"""The OpenAPI document describes every refusal, as the problem documents actually sent."""

from __future__ import annotations

from typing import Any

import pytest

from tidewire_ingest.app import create_app

pytestmark = pytest.mark.unit

PROBLEM = "application/problem+json"


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    doc = create_app().openapi()
    return {
        (method.upper(), path): op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }


def test_every_api_and_admin_operation_documents_its_refusals() -> None:
    ops = {k: v for k, v in _operations().items() if k[1].startswith(("/api/", "/admin/"))}
    assert len(ops) >= 8
    for (method, path), op in ops.items():
        codes = set(op["responses"])
        assert {"400", "401", "413", "422"} <= codes, (method, path, codes)
        for code in codes - {"200", "201", "202"}:
            content = op["responses"][code]["content"]
            assert set(content) == {PROBLEM}, (method, path, code)
            assert content[PROBLEM]["schema"]["title"] == "ProblemDetails"


def test_the_webhook_documents_each_refusal_in_its_order() -> None:
    post = _operations()[("POST", "/webhooks/whatsapp")]
    # No 404: an unknown phone number answers as a bad signature does (no number oracle).
    assert set(post["responses"]) == {"200", "400", "401", "413", "422", "503"}
    ok = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/WebhookAccepted"}
    get = _operations()[("GET", "/webhooks/whatsapp")]
    assert {"403", "422"} <= set(get["responses"])


def test_no_operation_falls_back_to_fastapis_validation_schema() -> None:
    text = str(create_app().openapi())
    assert "HTTPValidationError" not in text


def test_the_webhook_documents_its_body_and_signature_header() -> None:
    post = _operations()[("POST", "/webhooks/whatsapp")]
    [header] = post["parameters"]
    assert (header["name"], header["in"], header["required"]) == (
        "X-Hub-Signature-256",
        "header",
        True,
    )
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["object", "entry"]


def test_refusal_headers_are_declared() -> None:
    ops = _operations()
    for (method, path), op in ops.items():
        if "503" in op["responses"] and path != "/readyz":  # a probe's answer, not a refusal
            assert "Retry-After" in op["responses"]["503"].get("headers", {}), (method, path)
    send = ops[("POST", "/api/tickets/{ticket_id}/messages")]
    assert "WWW-Authenticate" in send["responses"]["401"]["headers"]


def test_metrics_are_declared_as_prometheus_text() -> None:
    [media] = _operations()[("GET", "/metrics")]["responses"]["200"]["content"]
    assert media.startswith("text/plain")
