"""Zulip-style consistency: the state a client folds from the events stream equals what the
query API returns, for random command sequences run through the real stack."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import whatsapp as wa
from tests.support.api import SECRET, Api
from tests.support.stack import Services
from tidewire_deploy.provision import provision
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.integration

CONTACTS = ("5511900000001", "5511900000002", "5511900000003")
BARRIER = "5511900000999"

_op = st.one_of(
    st.tuples(st.just("inbound"), st.sampled_from(CONTACTS)),
    st.tuples(st.just("send"), st.sampled_from(CONTACTS)),
    st.tuples(
        st.just("status"), st.sampled_from(CONTACTS), st.sampled_from(["open", "pending", "closed"])
    ),
    st.tuples(st.just("assign"), st.sampled_from(CONTACTS), st.sampled_from([None, "u1", "u2"])),
    st.tuples(st.just("read"), st.sampled_from(CONTACTS)),
)


class Run:
    def __init__(self, services: Services) -> None:
        company = f"co-{uuid.uuid4().hex[:12]}"
        phone = f"pn-{uuid.uuid4().hex[:10]}"
        provision(
            services.settings,
            Tenant(company, "Consistency"),
            Connection(company, phone, "15550001111", f"vt-{phone}", SECRET),
        )
        self.api = Api(services.ingest_url, issue_token(services.settings, company, "a1"), phone)
        self.n = 0

    def barrier(self) -> None:
        """Return once everything accepted so far is projected (one ordered partition), and
        every agent message has its outbound outcome (the tenant has no access token, so
        the outbound sender marks each failed, with a command of its own, at any time)."""
        self.n += 1
        body = f"barrier-{self.n}"
        self.api.deliver([wa.text_message(body, sender=BARRIER)])
        self.api.until(
            lambda: any(
                e["payload"].get("message", {}).get("body") == body for e in self.api.events()
            ),
            body,
        )

        def settled() -> bool:
            _, messages = fold(self.api.events())
            return all(m["ack"] == -1 for m in messages.values() if m["fromMe"])

        self.api.until(settled, "the outbound outcome of every agent message")

    def current_ticket(self, contact: str) -> str | None:
        self.barrier()
        for status in ("open", "pending"):
            for ticket in self.api.tickets(status):
                if ticket["contactId"] == contact:
                    return str(ticket["id"])
        return None

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, contact = op[0], op[1]
        if kind == "inbound":
            self.n += 1
            self.api.deliver([wa.text_message(f"in-{self.n}", sender=contact)])
            return
        ticket = self.current_ticket(contact)
        if ticket is None:
            return
        http = self.api.http
        if kind == "send":
            self.n += 1
            resp = http.post(
                f"/api/tickets/{ticket}/messages",
                json={"client_message_id": f"k{self.n}", "body": f"out-{self.n}"},
            )
        elif kind == "status":
            resp = http.patch(f"/api/tickets/{ticket}", json={"status": op[2]})
        elif kind == "assign":
            resp = http.patch(f"/api/tickets/{ticket}", json={"user_id": op[2]})
        else:
            resp = http.post(f"/api/tickets/{ticket}/read")
        assert resp.status_code == 202, resp.text


def fold(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a client knows after applying every event in order."""
    tickets: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event in events:
        payload = event["payload"]
        if payload.get("ticket"):
            tickets[payload["ticket"]["id"]] = payload["ticket"]
        if payload.get("message"):
            messages[payload["message"]["id"]] = payload["message"]
    return tickets, messages


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(_op, min_size=4, max_size=12))
def test_events_fold_to_what_the_query_api_returns(services: Services, ops: list[Any]) -> None:
    run = Run(services)
    try:
        # Every contact writes first, so agent operations find tickets to act on.
        for op in [("inbound", c) for c in CONTACTS] + ops:
            run.apply(op)
        run.barrier()
        tickets, messages = fold(run.api.events())
        for status in ("open", "pending", "closed"):
            listed = run.api.tickets(status)
            assert listed == sorted(
                (t for t in tickets.values() if t["status"] == status),
                key=lambda t: (-t["updatedAt"], t["id"]),
            )
        for ticket_id, ticket in tickets.items():
            assert run.api.get(f"/api/tickets/{ticket_id}")["ticket"] == ticket
            page = run.api.get(f"/api/tickets/{ticket_id}/messages", limit=500)["messages"]
            expected = sorted(
                (m for m in messages.values() if m["ticketId"] == ticket_id),
                key=lambda m: m["position"],
            )
            assert page == expected
    finally:
        run.api.close()
