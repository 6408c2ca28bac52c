"""Observability you can open: Debian's Prometheus scrapes the test stack's processes with the
alert rules loaded, the stack carries traffic, and every dashboard panel and every alert has data.

A panel is queried as Grafana would over the test's time range (`query_range`, with the
dashboard's variables set to "all namespaces" and a rate window of a few scrapes); it has data
when some series has some finite point. "No data", or only NaN (a quantile of nothing), fails.

Alerts are conditions that are false in a healthy stack (`x > 0`, `up == 0`), so an alert's
expression is queried with its final comparison removed: what remains is what the alert
watches, and it must have data too. That is stricter than "every metric has series": an alert
on `increase(x{outcome="deadletter"}[15m])` needs the `deadletter` series to exist before the
first dead letter, or `increase` never sees that first one and the alert never fires.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import yaml

from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.chat import Chat, open_client, reconnect
from tests.support.stack import Services, free_port, wait_for
from tidewire_deploy import observe
from tidewire_deploy.dashboards import CHART_COPY
from tidewire_deploy.procs import Managed
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token
from tidewire_simulator.cloud_api import CloudApi

pytestmark = pytest.mark.e2e

SCRAPE_S = 0.5
# Grafana's $__rate_interval is at least four scrape intervals; a little more for a busy box.
RATE_WINDOW = "5s"
_COMPARISON = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*[0-9.]+\s*$")


def watched(expr: str) -> str:
    """An alert's expression without its final comparison (`sum(rate(x[5m])) > 0` watches
    `sum(rate(x[5m]))`)."""
    return _COMPARISON.sub("", expr.strip())


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of the dashboard users load into Grafana, variables set."""
    board = json.loads(CHART_COPY.read_text())
    out: list[tuple[str, str]] = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$namespace", ".*")
            out.append((panel["title"], expr.replace("$__rate_interval", RATE_WINDOW)))
    return out


def alert_queries() -> list[tuple[str, str]]:
    """(alert name, watched PromQL) of every rule in the rules file Prometheus loaded."""
    rules = yaml.safe_load(observe.RULES.read_text())
    return [(r["alert"], watched(r["expr"])) for g in rules["groups"] for r in g["rules"]]


@pytest.fixture
def prometheus(services: Services, settings: StackSettings, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping this run's services every SCRAPE_S; its base URL."""
    port = free_port()
    targets = {
        "ingest": [services.ingest_port],
        "projector": [services.projector_port],
        "outbound": [services.outbound_port],
        "edge": list(services.edge_ports),
    }
    cfg = observe.write_config(
        tmp_path / "prometheus.yml", observe.config(targets, interval_s=SCRAPE_S)
    )
    tag = f"test-{settings.topic_prefix}-prometheus"
    proc = Managed(tag, services.run_dir, services.run_dir / f"{tag}.out")
    argv = observe.argv(cfg, tmp_path / "data", port)
    proc.start(argv, " ".join(argv[2:]))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url) or not proc.running(), 60, "prometheus ready")
        assert proc.running(), f"prometheus died at start-up; see {proc.log}"
        yield url
    finally:
        proc.stop(grace_s=10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _all_scraped(url: str, count: int) -> bool:
    targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return len(targets) == count and all(t["health"] == "up" for t in targets)


def _alerts_loaded(url: str) -> set[str]:
    rules = httpx.get(f"{url}/api/v1/rules", params={"type": "alert"}, timeout=10).json()
    return {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}


def _without_data(
    url: str, wanted: list[tuple[str, str, str]], start: float, timeout: float
) -> list[tuple[str, str, str]]:
    """Those of (kind, title, PromQL) still without data when `timeout` runs out (polled:
    the next scrape may bring them)."""
    deadline = time.monotonic() + timeout
    missing = wanted
    while True:
        missing = [w for w in missing if not _has_data(url, w[2], start)]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(SCRAPE_S)


def _has_data(url: str, expr: str, start: float) -> bool:
    resp = httpx.get(
        f"{url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": time.time(), "step": SCRAPE_S},
        timeout=10,
    )
    assert resp.status_code == 200, (expr, resp.text)  # a query Prometheus cannot parse
    series: list[dict[str, Any]] = resp.json()["data"]["result"]
    return any(math.isfinite(float(v)) for s in series for _, v in s["values"])


async def _traffic(
    services: Services, api: Api, company: str, token: str, publisher: str, graph: CloudApi
) -> None:
    """Every path a process counts: webhooks (good, badly signed), an agent's message sent
    by the outbound sender, a publication, sockets of both clients receiving, a refused
    connect, a dropped socket that recovers, and refused requests."""
    py = socketio.AsyncClient()
    await py.connect(
        services.edge_url(1), auth={"token": token}, transports=["websocket"], wait_timeout=10
    )
    js = await open_client(services.edge_url(0), token)
    try:
        chat = Chat(api, company)
        await chat.say("olá")
        pending = await asyncio.to_thread(api.until, lambda: api.tickets("pending"), "a ticket")
        ticket = str(pending[0]["id"])
        await asyncio.to_thread(api.send, ticket, "bom dia")
        await asyncio.to_thread(api.until, lambda: graph.seen(api.phone), "a send to Graph")
        await js.send("drop")
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        await chat.say("still there?")
        assert (await reconnect(js, 2))["recovered"] is True
        await chat.received_all(js)
        async with httpx.AsyncClient(base_url=services.ingest_url, timeout=15) as http:
            published = await http.post(
                "/api/publish",
                headers={"Authorization": f"Bearer {publisher}"},
                json={
                    "id": f"pub-{uuid.uuid4().hex[:12]}",
                    "company_id": company,
                    "rooms": [f"company-{company}-open"],
                    "event": f"company-{company}-appMessage",
                    "data": {"action": "update"},
                },
            )
            assert published.status_code == 202, published.text
            body = json.dumps(wa.webhook(str(api.phone), [wa.text_message("forged")])).encode()
            forged = await http.post(
                "/webhooks/whatsapp",
                content=body,
                headers={"x-hub-signature-256": wa.sign(body, "not-the-app-secret")},
            )
            assert forged.status_code == 401, forged.text  # its one part: bad_signature
            assert (await http.get("/api/tickets")).status_code == 401
        refused = socketio.AsyncClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(
                services.edge_url(0), auth={"token": "not-a-jwt"}, wait_timeout=10
            )
    finally:
        await py.disconnect()
        await js.close()


async def test_every_panel_and_alert_has_data_from_a_real_prometheus(
    prometheus: str,
    services: Services,
    settings: StackSettings,
    api: Api,
    company: str,
    agent_token: str,
    graph: CloudApi,
) -> None:
    # Counted before a target's first scrape is never a rate's increase: traffic waits for
    # every process to have been scraped once (Prometheus discovers its targets in batches).
    await asyncio.to_thread(wait_for, lambda: _all_scraped(prometheus, 5), 30, "5 targets up")
    start = time.time()
    loaded = await asyncio.to_thread(_alerts_loaded, prometheus)
    assert loaded == {name for name, _ in alert_queries()}
    publisher = issue_publisher_token(settings, "backend")
    await _traffic(services, api, company, agent_token, publisher, graph)

    wanted = [("panel", *q) for q in panel_queries()] + [("alert", *q) for q in alert_queries()]
    assert len(wanted) > 30  # the dashboard and the rules file were found and read
    missing = await asyncio.to_thread(_without_data, prometheus, wanted, start, 60)
    assert not missing, "no data for:\n" + "\n".join(f"{k} {t!r}: {e}" for k, t, e in missing)
