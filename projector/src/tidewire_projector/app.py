"""The projector's faust application: one consumer group over the commands topic, its batches
handed to the pipeline (`pipeline`, run by `agent`). Only wiring here: the app, its topic, the
rebalance signals, and what opens before the agent starts (probes, then `resources`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import faust
from aiohttp import web

from tidewire_platform.metrics import PROJECTOR_LAG
from tidewire_platform.probes import Address, start_probes
from tidewire_platform.settings import StackSettings
from tidewire_projector.agent import project_batches
from tidewire_projector.batching import take_caught_up
from tidewire_projector.fetching import consumer_transport
from tidewire_projector.resources import Resources
from tidewire_projector.worker import worker_class


def create_app(settings: StackSettings, probes_address: Address | None = None) -> faust.App:
    """The projector's app for `settings`, with /healthz, /readyz and /metrics served at
    `probes_address` when given (probes.py)."""
    resources = Resources(settings)
    probes: list[web.AppRunner] = []  # serving while referenced

    async def early_start() -> None:
        """Probes first (so /healthz answers while the stores open), then the stores."""
        if probes_address is not None:
            probes.append(await start_probes(probes_address, resources.not_ready))
        await resources.open()

    app = faust.App(
        settings.projector_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.kafka_replication_factor,  # faust's own topics
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.home / "projector"),  # faust's working files, not in the repo root
        Worker=worker_class(early_start),
    )
    app.transport = consumer_transport(app, settings.projector_fetch_wait_ms)
    commands_topic = app.topic(
        settings.commands_topic, value_serializer="raw", key_serializer="raw"
    )

    async def forget(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        """faust sends this once every event taken is acked, that is between batches."""
        resources.forget_written()

    async def no_lag_of(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        """Partitions this process no longer reads: their lag is another process's to report
        (a stale value here would keep a lag alert firing for ever)."""
        for tp in revoked or ():
            with contextlib.suppress(KeyError):
                PROJECTOR_LAG.remove(str(tp.partition))

    app.on_partitions_revoked.connect(forget)  # type: ignore[arg-type]  # faust stubs
    app.on_partitions_revoked.connect(no_lag_of)  # type: ignore[arg-type]
    app.on_partitions_assigned.connect(forget)  # type: ignore[arg-type]

    async def commands(stream: Any) -> None:
        """Commands in batches that close once the consumer has caught up (`batching`; see
        `projector_batch_max` and `projector_batch_wait_ms`)."""
        highwater = app.consumer.highwater
        wait_s = settings.projector_batch_wait_ms / 1000
        batches = take_caught_up(stream, settings.projector_batch_max, wait_s, highwater)
        await project_batches(batches, resources, highwater)

    # The name faust gave the agent when it was a module-level function, kept as it was.
    app.agent(commands_topic, name="tidewire_projector.app.commands")(commands)
    return app
