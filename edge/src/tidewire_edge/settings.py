"""Edge node settings (environment, prefix TIDEWIRE_EDGE_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    """An edge node's windows, rates and limits: what one socket, user, company or client
    address may hold, and the bytes each cache and queue may take."""

    model_config = SettingsConfigDict(env_prefix="TIDEWIRE_EDGE_")

    recovery_window_s: int = Field(
        1800,
        ge=10,
        description="how long after its last sign of life a session can still be recovered",
    )
    socket_buffer: int = Field(
        2000,
        ge=10,
        description="events queued for one socket (in the edge, and separately in engine.io's "
        "send queue); a socket further behind is cut off, reconnects and recovers from the log",
    )
    replay_page: int = Field(500, ge=1, le=5000, description="events per catch-up read")
    ack_retry_s: float = Field(1.0, gt=0, description="first re-send delay in ack mode")
    ack_retry_max_s: float = Field(30.0, gt=0, description="longest re-send delay in ack mode")
    connect_wait_s: float = Field(
        30.0,
        gt=0,
        description="how long a connect waits for Kafka to let the node read its company's "
        "partition; past it the transport is closed and socket.io-client retries by itself (a "
        "passing failure is never a connect_error, which it would not retry)",
    )
    fetch_wait_ms: int = Field(
        500,
        ge=1,
        le=2000,
        description="how long Kafka holds the node's fetch of its partitions while no record "
        "comes (a record ends it at once): an idle node fetches this seldom; following a new "
        "partition never waits behind it (a fresh consumer); the readiness probe's metadata "
        "request may",
    )
    kafka_client: Literal["aiokafka", "librdkafka"] = Field(
        "librdkafka",
        description="the client that reads the events partitions the node follows: librdkafka "
        "(confluent-kafka: C, read on a thread, a fraction of aiokafka's CPU per record) or "
        "aiokafka (pure Python, the client before it)",
    )
    max_sockets_per_user: int = Field(
        20,
        ge=1,
        description="sockets one user (company and token subject) may hold on one node; more "
        "are refused with 'too many sockets for this user (limit N)', data.code "
        "too_many_sockets",
    )
    max_sockets_per_company: int = Field(
        5000,
        ge=1,
        description="sockets one company may hold on one node; more are refused with 'too many "
        "sockets for this company (limit N)', data.code too_many_company_sockets",
    )
    connects_per_address: int = Field(
        100,
        ge=1,
        description="connects one client address may make per connect_window_s on one node; "
        "more are refused with 'too many connects from this address (limit N per W s)', "
        "data.code too_many_connects",
    )
    connect_window_s: float = Field(
        1.0, gt=0, description="the window of connects_per_address, in seconds"
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        [],
        description="networks of proxies whose X-Forwarded-For names the client (JSON list, "
        'e.g. ["10.0.0.0/8"]); empty: the peer address is the client\'s, so behind an ingress '
        "every client would share its address: set it there",
    )
    max_rooms_per_socket: int = Field(
        100,
        ge=2,
        description="rooms one socket may be in (its company and user rooms included); a join "
        "past it is refused with 'too many rooms for this socket (limit N)'",
    )
    quiet_session_s: int = Field(
        60,
        ge=1,
        description="how long the session of a socket that never received an event stays "
        "recoverable after it drops (instead of recovery_window_s)",
    )
    # Memory, in bytes. Every cache and queue of the node is bounded in bytes; their defaults
    # are shares of `memory_bytes` (the chart passes the container's memory limit, 1 GiB by
    # default), the rest being the runtime's headroom (sockets, Kafka fetches, the heap's
    # fragmentation). Each can be set on its own.
    memory_bytes: int = Field(
        1024**3,
        ge=32 * 1024**2,
        description="the node's memory limit (the chart passes its container's, "
        "edge.resources.limits.memory); the byte bounds below default to shares of it, the "
        "rest is the runtime's headroom (metric tidewire_edge_cache_bytes{cache})",
    )
    recent_bytes: int | None = Field(
        None,
        ge=0,
        description="bytes of recent records kept per followed partition for replays from "
        "memory (default: 30% of memory_bytes split over the topic's partitions)",
    )
    decoded_cache_bytes: int | None = Field(
        None,
        ge=0,
        description="bytes of decoded events kept for replays (default: 5% of memory_bytes)",
    )
    wire_cache_bytes: int | None = Field(
        None,
        ge=0,
        description="bytes of encoded packets kept for the sockets still to get them "
        "(default: 5% of memory_bytes)",
    )
    socket_buffer_bytes: int | None = Field(
        None,
        ge=64 * 1024,
        description="bytes queued for one socket (waiting to be sent, in engine.io's queue, "
        "or unacknowledged) before it is cut off or waited for (default: memory_bytes/256)",
    )
    replay_page_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="bytes of events (as stored) per catch-up read from the log",
    )

    def recent_budget(self, partitions: int) -> int:
        """Bytes of recent records per partition."""
        if self.recent_bytes is not None:
            return self.recent_bytes
        return int(self.memory_bytes * 0.30) // partitions

    @property
    def decoded_budget(self) -> int:
        if self.decoded_cache_bytes is not None:
            return self.decoded_cache_bytes
        return int(self.memory_bytes * 0.05)

    @property
    def wire_budget(self) -> int:
        if self.wire_cache_bytes is not None:
            return self.wire_cache_bytes
        return int(self.memory_bytes * 0.05)

    @property
    def socket_budget(self) -> int:
        if self.socket_buffer_bytes is not None:
            return self.socket_buffer_bytes
        return self.memory_bytes // 256
