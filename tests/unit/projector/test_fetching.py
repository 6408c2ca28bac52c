"""The projector's consumer fetches with `projector_fetch_wait_ms`, not the 1,500 ms faust
fixes: aiokafka holds back the next fetch of a partition that just had records while a fetch
of the idle partitions waits that long on the broker, so the wait bounds how long a command
can sit in Kafka before its batch opens."""

from __future__ import annotations

import contextlib
import inspect

import aiokafka
import pytest

from tidewire_platform.settings import StackSettings
from tidewire_projector.app import create_app

pytestmark = pytest.mark.unit


async def test_the_projectors_consumer_fetches_with_the_configured_wait() -> None:
    app = create_app(StackSettings(projector_fetch_wait_ms=37))
    # The aiokafka consumer faust's consumer thread builds when the worker starts (not started
    # here: no broker is needed to build it).
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 37
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


def test_the_fetch_wait_defaults_to_a_tenth_of_a_second() -> None:
    assert StackSettings().projector_fetch_wait_ms == 100


def test_aiokafka_still_fetches_with_the_attribute_the_projector_sets() -> None:
    """The projector sets aiokafka's private `_fetch_max_wait_ms` (faust passes a constant):
    if aiokafka stopped handing that attribute to its fetcher, the setting would silently do
    nothing. This fails first."""
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(
        aiokafka.AIOKafkaConsumer.start
    )
