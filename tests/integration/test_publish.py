"""Gateway mode's publish API: a helpdesk backend's emits become events of the log, durable
before 202, once per id, in order, for the companies its token allows."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.api import Api
from tests.support.jsclient import JS_DIR
from tests.support.stack import Services
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token, issue_token


def _publication(company: str, **over: Any) -> dict[str, Any]:
    return {
        "id": f"pub-{uuid.uuid4().hex[:12]}",
        "company_id": company,
        "rooms": ["123", f"company-{company}-open"],
        "event": f"company-{company}-appMessage",
        "data": {
            "action": "create",
            "message": {"id": 7, "body": "olá", "createdAt": "2026-12-07T00:00:00.000Z"},
        },
        **over,
    }


@pytest.fixture
def publisher(services: Services, settings: StackSettings) -> Iterator[httpx.Client]:
    token = issue_publisher_token(settings, "backend")
    client = httpx.Client(
        base_url=services.ingest_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    )
    yield client
    client.close()


@pytest.fixture
def reader(services: Services, settings: StackSettings, company: str) -> Iterator[Api]:
    client = Api(services.ingest_url, issue_token(settings, company, "agent-1"))
    yield client
    client.close()


def _published_after(reader: Api, head: str | None, count: int) -> list[dict[str, Any]]:
    def got() -> list[dict[str, Any]] | None:
        events = [e for e in reader.events(after=head) if e["type"] == "publication"]
        return events if len(events) >= count else None

    return list(reader.until(got, f"{count} publications on the log"))


def _head(reader: Api) -> str | None:
    cursor = reader.get("/api/events/head")["cursor"]
    return str(cursor) if cursor else None


def test_a_publication_becomes_an_event_with_its_data_unchanged(
    publisher: httpx.Client, reader: Api, company: str
) -> None:
    head = _head(reader)
    body = _publication(company, namespace="/42", **{"except": ["user-9"]})
    answer = publisher.post("/api/publish", json=body)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 1, "ids": [body["id"]]}
    [event] = _published_after(reader, head, 1)
    assert event["company_id"] == company
    assert event["cursor"]
    assert event["payload"] == {
        "publication_id": body["id"],
        "namespace": "/42",
        "rooms": body["rooms"],
        "except": ["user-9"],
        "event": body["event"],
        "data": body["data"],
    }


def test_the_same_id_is_delivered_once_and_a_batch_keeps_its_order(
    publisher: httpx.Client, reader: Api, company: str
) -> None:
    head = _head(reader)
    batch = [_publication(company, data={"n": n}) for n in range(5)]
    for _ in range(3):  # a backend retrying after a timeout
        assert publisher.post("/api/publish", json={"publications": batch}).status_code == 202
    assert publisher.post("/api/publish", json=batch[2]).status_code == 202
    marker = _publication(company, data={"n": "last"})
    assert publisher.post("/api/publish", json=marker).status_code == 202
    events = _published_after(reader, head, 6)
    assert [e["payload"]["data"]["n"] for e in events] == [0, 1, 2, 3, 4, "last"]


def test_a_publisher_of_one_company_cannot_publish_for_another(
    services: Services, settings: StackSettings, company: str
) -> None:
    token = issue_publisher_token(settings, "backend-42", company_id=company)
    with httpx.Client(base_url=services.ingest_url, timeout=15) as http:
        auth = {"Authorization": f"Bearer {token}"}
        other = _publication("co-someone-else")
        refused = http.post(
            "/api/publish", json={"publications": [_publication(company), other]}, headers=auth
        )
        assert refused.status_code == 403, refused.text
        assert "publications[1]" in refused.json()["detail"]
        assert (
            http.post("/api/publish", json=_publication(company), headers=auth).status_code == 202
        )
        agent = {"Authorization": f"Bearer {issue_token(settings, company, 'a')}"}
        assert (
            http.post("/api/publish", json=_publication(company), headers=agent).status_code == 401
        )
        # and a publisher token opens no agent API
        assert http.get("/api/tickets", headers=auth).status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"data": "x" * 300_000}, 413, "TIDEWIRE_INGEST_MAX_PUBLICATION_BYTES"),
        ({"rooms": [f"r{n}" for n in range(65)]}, 422, "rooms"),
        ({"namespace": "no-slash"}, 422, "namespace"),
        ({"event": ""}, 422, "event"),
        ({"id": "has space"}, 422, "id"),
        ({"unknown": 1}, 422, "unknown"),
        ({"event": "connect"}, 422, "reserved event name"),
        ({"event": "tidewire:resync"}, 422, "reserved event name"),
    ],
)
def test_bad_publications_are_refused_with_a_reason(
    publisher: httpx.Client, company: str, change: dict[str, Any], status: int, says: str
) -> None:
    refused = publisher.post("/api/publish", json=_publication(company, **change))
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert says in refused.text


def test_a_batch_repeating_an_id_is_refused_whole(publisher: httpx.Client, company: str) -> None:
    one = _publication(company)
    refused = publisher.post(
        "/api/publish", json={"publications": [one, _publication(company), one]}
    )
    assert refused.status_code == 422, refused.text
    assert "publications[2] repeats the id of publications[0]" in refused.json()["detail"]


def test_the_publication_limit_counts_bytes_not_characters(
    publisher: httpx.Client, company: str
) -> None:
    # 100,000 characters of three bytes each: 300 kB encoded, past the 256 KiB default.
    refused = publisher.post("/api/publish", json=_publication(company, data="€" * 100_000))
    assert refused.status_code == 413, refused.text


def test_the_cli_prints_a_publisher_token_as_its_last_line(
    settings: StackSettings, services: Services, company: str
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tidewire_deploy.cli",
            "token",
            "--publisher",
            "--company-id",
            company,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    token = done.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=services.ingest_url, timeout=15) as http:
        auth = {"Authorization": f"Bearer {token}"}
        assert (
            http.post("/api/publish", json=_publication(company), headers=auth).status_code == 202
        )
        assert http.post("/api/publish", json=_publication("co-x"), headers=auth).status_code == 403


def test_the_node_emitter_publishes_in_order_and_unchanged(
    services: Services, settings: StackSettings, reader: Api, company: str
) -> None:
    head = _head(reader)
    token = issue_publisher_token(settings, "node-backend")
    data = [
        {"action": "update", "ticket": {"id": n, "status": "open", "unicode": "ção ✓"}}
        for n in range(40)
    ]
    emits = [[company, f"company-{company}-open", f"company-{company}-ticket", d] for d in data]
    done = subprocess.run(
        ["node", str(JS_DIR / "publish.mjs"), services.ingest_url, token, json.dumps(emits)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=JS_DIR,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True}, done.stderr
    events = _published_after(reader, head, 40)
    assert [e["payload"]["data"] for e in events] == data
    assert {e["payload"]["rooms"][0] for e in events} == {f"company-{company}-open"}
