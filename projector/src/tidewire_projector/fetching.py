"""The projector's Kafka consumer: faust's own (aiokafka in a thread of its own), with the
fetch wait of `projector_fetch_wait_ms` instead of the 1,500 ms faust fixes.

Why it matters at a helpdesk's pace: aiokafka keeps one fetch in flight per broker, and a
partition whose fetched records the application has not taken within 100 ms is left out of
the next fetch, which then waits on the other, idle partitions for the whole fetch wait. A
projector whose event loop is busy for longer than that when records arrive (a large batch,
two cores shared with the engines) saw its busiest partition wait 1.5 s, which made the next
batch larger and slower still: at 50 agent sends/s commands waited 1-2 s for their batch.
A short wait bounds that delay; its cost is an idle fetch that often.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver


def consumer_transport(app: faust.App, fetch_wait_ms: int) -> driver.Transport:
    """faust's aiokafka transport for `app`, its consumer fetching with `fetch_wait_ms`
    (assign to `app.transport` before the app starts)."""

    class _Thread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            # faust passes a constant; aiokafka reads this attribute when the consumer starts.
            consumer._fetch_max_wait_ms = fetch_wait_ms
            return consumer

    class _Consumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return _Thread(self, loop=self.loop, beacon=self.beacon)

    class _Transport(driver.Transport):
        Consumer = _Consumer

    return _Transport(app.conf.broker_consumer, app)
