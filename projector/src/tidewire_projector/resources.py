"""What the projector's pipeline writes to, opened once the worker starts: the read models on
Cassandra (behind the cache), the events producer and the events log's tail."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer

from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.kafka_io import make_producer
from tidewire_platform.read_models_home import active_keyspace
from tidewire_platform.settings import StackSettings
from tidewire_projector.appends import Topics
from tidewire_projector.events_tail import EventsTail
from tidewire_projector.journal_cassandra import outcome_ttl
from tidewire_projector.pipeline import Pipeline
from tidewire_projector.store_cached import CachedStore
from tidewire_projector.store_cassandra import CassandraStore, ensure_tables

_CLIENT_ID = "tidewire-projector"


class Resources:
    def __init__(self, settings: StackSettings) -> None:
        self._settings = settings
        self._opened = asyncio.Event()
        self._pipeline: Pipeline | None = None
        self._producer: AIOKafkaProducer | None = None

    async def open(self) -> None:
        settings = self._settings
        session = connect(settings, row_factory=cached_rows)  # no LWT here
        # Read models live where the last rebuild put them (see rebuild.py).
        keyspace = await active_keyspace(session, settings.cassandra_keyspace)
        if keyspace != settings.cassandra_keyspace:
            await ensure_tables(session, settings.cassandra_keyspace, keyspace)
        ttl_s = outcome_ttl(settings.events_retention_ms)  # replays past it have no events left
        store = CachedStore(
            CassandraStore(session, keyspace, ttl_s), max_bytes=settings.projector_cache_bytes
        )
        self._pipeline = Pipeline(store, Topics.of(settings), EventsTail(settings))
        producer = make_producer(settings, _CLIENT_ID)
        await producer.start()
        self._producer = producer
        self._opened.set()

    def not_ready(self) -> str | None:
        """Why the projector cannot project yet (for /readyz), or None."""
        if not self._opened.is_set():
            return "still opening Cassandra and the events producer"
        return None

    async def get(self) -> tuple[Pipeline, AIOKafkaProducer]:
        """The pipeline and the newest events producer (a refusal renews it)."""
        await self._opened.wait()  # opened before faust starts the agents; kept safe
        assert self._pipeline is not None
        assert self._producer is not None
        return self._pipeline, self._producer

    def forget_written(self) -> None:
        """Partitions moved: another process may have written these companies, so forget what
        this one remembers of them (between batches; the batch in flight keeps its staged
        outcomes)."""
        if self._pipeline is not None:
            self._pipeline.store.forget_written()

    async def renew_producer(self) -> AIOKafkaProducer:
        """A fresh events producer in place of the current one (a refused record broke its
        sequence numbers); the current one is kept until the fresh one has started."""
        fresh = make_producer(self._settings, _CLIENT_ID)
        try:
            await fresh.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.stop()
            raise
        old, self._producer = self._producer, fresh
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        return fresh
