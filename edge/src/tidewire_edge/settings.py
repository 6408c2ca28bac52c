"""Edge node settings (environment, prefix TIDEWIRE_EDGE_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWIRE_EDGE_")

    recovery_window_s: int = Field(
        1800,
        ge=10,
        description="how long after its last sign of life a session can still be recovered",
    )
    socket_buffer: int = Field(
        2000, ge=10, description="events queued for one socket before it is cut off"
    )
    replay_page: int = Field(500, ge=1, le=5000, description="events per catch-up read")
    ack_retry_s: float = Field(1.0, gt=0, description="first re-send delay in ack mode")
    ack_retry_max_s: float = Field(30.0, gt=0, description="longest re-send delay in ack mode")
    connect_wait_s: float = Field(
        30.0,
        gt=0,
        description="how long a connect waits for Kafka to let the node read its company's "
        "partition before it is refused with 'temporarily unavailable; retry'",
    )
