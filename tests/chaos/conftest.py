"""Chaos tests own their engines: a state folder and ports nobody else uses."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import free_port
from tidewire_deploy import infra
from tidewire_deploy.layout import layout_of
from tidewire_platform.settings import StackSettings


@pytest.fixture
def own(tmp_path: Path, settings: StackSettings) -> Iterator[StackSettings]:
    s = StackSettings(
        home=tmp_path / "tw",
        lib_dir=layout_of(settings.home, settings.lib_dir).lib,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        cassandra_port=free_port(),
        cassandra_storage_port=free_port(),
        cassandra_jmx_port=free_port(),
        redis_port=free_port(),
        partitions=3,
    )
    try:
        yield s
    finally:
        infra.down(s)


def env_of(s: StackSettings) -> dict[str, str]:
    """The environment that makes a `tidewire` process use `s`."""
    return {
        "TIDEWIRE_HOME": str(s.home),
        "TIDEWIRE_LIB_DIR": str(s.lib_dir),
        "TIDEWIRE_KAFKA_PORT": str(s.kafka_port),
        "TIDEWIRE_KAFKA_CONTROLLER_PORT": str(s.kafka_controller_port),
        "TIDEWIRE_CASSANDRA_PORT": str(s.cassandra_port),
        "TIDEWIRE_CASSANDRA_STORAGE_PORT": str(s.cassandra_storage_port),
        "TIDEWIRE_CASSANDRA_JMX_PORT": str(s.cassandra_jmx_port),
        "TIDEWIRE_REDIS_PORT": str(s.redis_port),
        "TIDEWIRE_PARTITIONS": str(s.partitions),
    }
