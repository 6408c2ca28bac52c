"""`tidewire projector rebuild`: read models folded again from the commands log equal the ones
built incrementally, also while the projector runs and webhooks keep arriving, no event is
appended twice, and the services carry on with the new ones."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import env_of
from tests.support import whatsapp as wa
from tests.support.api import SECRET, Api
from tests.support.stack import Services
from tidewire_deploy import infra
from tidewire_deploy.layout import layout_of
from tidewire_deploy.provision import provision
from tidewire_platform.cql import connect
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token


def _rows(services: Services, keyspace: str, company: str, tickets: list[str]) -> dict[str, Any]:
    """Every read-model document of the company's tickets in `keyspace`."""
    session = connect(services.settings)
    try:
        out: dict[str, Any] = {}
        for tid in tickets:
            out[f"ticket {tid}"] = (
                session.execute(
                    f"SELECT doc FROM {keyspace}.tickets WHERE company_id=%s AND ticket_id=%s",
                    (company, tid),
                )
                .one()
                .doc
            )
            out[f"messages {tid}"] = [
                (r.position, r.doc)
                for r in session.execute(
                    f"SELECT position, doc FROM {keyspace}.ticket_messages "
                    "WHERE company_id=%s AND ticket_id=%s",
                    (company, tid),
                )
            ]
        out["contacts"] = sorted(
            r.doc
            for r in session.execute(
                f"SELECT doc FROM {keyspace}.contacts WHERE company_id=%s", (company,)
            )
        )
        return out
    finally:
        session.cluster.shutdown()


def _active(services: Services) -> str:
    session = connect(services.settings)
    try:
        row = session.execute(
            f"SELECT keyspace_name FROM {services.settings.cassandra_keyspace}"
            ".read_model_generation WHERE name='active'"
        ).one()
        return row.keyspace_name if row else services.settings.cassandra_keyspace
    finally:
        session.cluster.shutdown()


def _rebuild(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", "projector", "rebuild"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **env},
    )


@pytest.fixture
def own_services(own: StackSettings, tmp_path: Path) -> Iterator[Services]:
    """Engines, ingest, projector and outbound sender of this test alone: a rebuild folds the
    whole log, so it must not depend on how long the shared log has grown."""
    infra.up(own)
    svc = Services(own, layout_of(own.home, own.lib_dir).run, env=env_of(own))
    try:
        svc.start("ingest")
        svc.start("projector")
        svc.start("outbound")
        yield svc
    finally:
        svc.stop_all()


def test_rebuilt_read_models_equal_the_incremental_ones(own_services: Services) -> None:
    services = own_services
    env = services.env
    company, phone = "acme", "pn-acme"
    provision(
        services.settings,
        Tenant(company, "Acme"),
        Connection(company, phone, "15550001111", "vt-acme", SECRET),
    )
    agent_token = issue_token(services.settings, company, "agent-1")
    api = Api(services.ingest_url, agent_token, phone)
    try:
        api.deliver([wa.text_message("oi"), wa.text_message("tem alguém?", sender="5511900000002")])
        tickets = api.until(lambda: (t := api.tickets("pending")) and len(t) == 2 and t, "tickets")
        first = next(t["id"] for t in tickets if t["contactId"] == wa.CUSTOMER)
        assert (
            api.http.post(
                f"/api/tickets/{first}/messages", json={"client_message_id": "r1", "body": "olá"}
            ).status_code
            == 202
        )
        assert api.http.patch(f"/api/tickets/{first}", json={"status": "open"}).status_code == 202
        assert api.http.post(f"/api/tickets/{first}/read").status_code == 202
        api.until(lambda: api.tickets("open"), "ticket opened")
        # No access token: the outbound sender marks the agent's message failed; wait for that
        # last change so the snapshot below is final.
        api.until(
            lambda: any(
                m["ack"] == -1 for m in api.get(f"/api/tickets/{first}/messages")["messages"]
            ),
            "outbound outcome",
        )
        ids = [t["id"] for t in tickets]

        before_ks = _active(services)
        before = _rows(services, before_ks, company, ids)
        projector = services.procs["projector"]
        paused_pid = projector.pid()
        done = _rebuild(env)  # the projector is running: paused for the handover, resumed
        assert done.returncode == 0, done.stdout + done.stderr
        assert "paused" in done.stdout
        after_ks = _active(services)
        assert after_ks != before_ks
        assert after_ks in done.stdout
        assert _rows(services, after_ks, company, ids) == before
        assert projector.running()
        assert projector.pid() != paused_pid

        # Webhooks keep arriving while a second rebuild runs.
        rebuilding = subprocess.Popen(
            [sys.executable, "-m", "tidewire_deploy.cli", "projector", "rebuild"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        during = [f"durante {n}" for n in range(12)]
        for body in during:
            api.deliver([wa.text_message(body)])
        _out, err = rebuilding.communicate(timeout=600)
        assert rebuilding.returncode == 0, err
        api.deliver([wa.text_message("depois do rebuild")])
        wanted = {*during, "depois do rebuild"}
        api.until(
            lambda: (
                wanted <= {m["body"] for m in api.get(f"/api/tickets/{first}/messages")["messages"]}
            ),
            "every message served from the rebuilt read models",
            60,
        )
        # Read models are written before events are appended: wait for the events too.
        expected = 2 + 1 + len(wanted)  # two customers, one agent reply, the rest
        events = api.until(
            lambda: (
                (e := api.events())
                and sum(x["type"] == "message.created" for x in e) >= expected
                and e
            ),
            "every message's event",
            60,
        )
        assert len({e["id"] for e in events}) == len(events)  # no event appended twice
        assert sum(e["type"] == "message.created" for e in events) == expected

        # A third rebuild, quiet, equals what the projector built across the handover.
        settled_ks = _active(services)
        settled = _rows(services, settled_ks, company, ids)
        last = _rebuild(env)
        assert last.returncode == 0, last.stderr
        assert _rows(services, _active(services), company, ids) == settled
    finally:
        api.close()
