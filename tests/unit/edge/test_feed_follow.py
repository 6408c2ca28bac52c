"""Following a partition Kafka does not let the node read ends with TimeoutError, which the
edge's connect turns into a refusal with a reason, and leaves the partition to a later
follow."""

from __future__ import annotations

import pytest

from tidewire_edge.feed_kafka import KafkaEventFeed
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


async def test_follow_gives_up_with_timeout_and_keeps_the_partition_pending() -> None:
    feed = KafkaEventFeed(StackSettings(), "E")  # never started: nothing adopts the partition
    with pytest.raises(TimeoutError):
        await feed.follow(3, timeout_s=0.05)
    assert 3 in feed._pending  # a later follow waits on the same adoption
    assert not feed._pending[3].done()
