"""Session fixtures: the real stack once per run, and tenants isolated by unique ids."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# The suite's own topics, projector group and keyspace, set before any settings are read (its
# services and CLI runs inherit them): it may share engines with a running `tidewire up`, and
# must neither split that stack's partitions nor flip its read models with a rebuild.
os.environ.setdefault("TIDEWIRE_TOPIC_PREFIX", "twtest")
os.environ.setdefault("TIDEWIRE_CASSANDRA_KEYSPACE", "tidewire_test")

from tests.support.api import SECRET, Api
from tests.support.stack import Services, Stack
from tidewire_deploy.provision import provision
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant
from tidewire_platform.tokens import issue_token
from tidewire_simulator.cloud_api import CloudApi, access_token_of

_ORDER = {"unit": 0, "integration": 1, "e2e": 2, "security": 2, "browser": 3, "chaos": 4}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder (tests/<kind>/...), run unit tests first (fast feedback)
    and tests that kill or restart engines last."""
    for item in items:
        kind = item.path.relative_to(item.config.rootpath / "tests").parts[0]
        if kind in _ORDER:
            item.add_marker(kind)

    def rank(item: pytest.Item) -> int:
        return max((_ORDER[m.name] for m in item.iter_markers() if m.name in _ORDER), default=1)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def settings() -> StackSettings:
    return StackSettings()


@pytest.fixture(scope="session")
def stack(settings: StackSettings) -> Iterator[Stack]:
    s = Stack(settings)
    try:
        s.up()
        yield s
    finally:
        s.down()


@pytest.fixture(scope="session")
def graph() -> Iterator[CloudApi]:
    """The WhatsApp Cloud API stand-in (the simulator's) that the outbound sender sends
    agents' messages to; tests steer it per number or recipient."""
    fake = CloudApi()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def services(stack: Stack, graph: CloudApi) -> Iterator[Services]:
    svc = Services(stack.settings, stack.run_dir, env={"TIDEWIRE_GRAPH_API_BASE": graph.base_url})
    try:
        svc.start_all()
        yield svc
    finally:
        svc.stop_all()


@pytest.fixture
def company() -> str:
    """A tenant nobody else in this run uses."""
    return f"co-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def agent_token(settings: StackSettings, company: str) -> str:
    return issue_token(settings, company, "agent-1")


@pytest.fixture
def phone(services: Services, graph: CloudApi, company: str) -> str:
    """The company as a tenant with one WhatsApp connection, known to the fake Graph API with
    the connection's access token (`access_token_of`); returns its phone_number_id."""
    phone_id = f"pn-{uuid.uuid4().hex[:10]}"
    provision(
        services.settings,
        Tenant(company, "Test company"),
        Connection(
            company,
            phone_id,
            "15550001111",
            f"vt-{phone_id}",
            SECRET,
            access_token=access_token_of(phone_id),
        ),
    )
    graph.connect(phone_id, access_token_of(phone_id))
    return phone_id


@pytest.fixture
def api(services: Services, agent_token: str, phone: str) -> Iterator[Api]:
    """The company's API client, able to play Meta for its phone number."""
    client = Api(services.ingest_url, agent_token, phone)
    yield client
    client.close()
