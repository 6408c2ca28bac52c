"""Gateway settings (`TIDEWIRE_GATEWAY*`): which helpdesk family the edge speaks, and how it
checks that helpdesk's own tokens. Unset `TIDEWIRE_GATEWAY`: platform mode."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

FamilyName = Literal["community", "saas1", "ticketz", "plus"]


class GatewaySettings(BaseSettings):
    """Gateway mode: the helpdesk family the edges speak to, and how they check its tokens
    (docs/gateway.md)."""

    model_config = SettingsConfigDict(env_prefix="TIDEWIRE_GATEWAY_", extra="ignore")

    family: FamilyName | None = Field(
        None,
        validation_alias="TIDEWIRE_GATEWAY",
        description="the helpdesk family whose front ends connect: community | saas1 | "
        "ticketz | plus; unset: platform mode (tidewire's own tokens and rooms)",
    )
    jwt_secret: str = Field(
        "",
        description="the helpdesk backend's JWT secret (its JWT_SECRET); ticketz keeps its "
        "own in Redis instead (jwt_secret_redis_key)",
    )
    jwt_secret_redis_key: str = Field(
        "TICKETZ_JWT_SECRET",
        description="ticketz: the Redis key holding the backend's JWT secret",
    )
    redis_url: str = Field(
        "",
        description="ticketz: the helpdesk's Redis (default: tidewire's own)",
    )
    company_id: str = Field(
        "1",
        description="community: the one company every socket and publication belongs to",
    )
    namespace_pattern: str = Field(
        "/{company}",
        description="plus and its forks: the namespace of a company, `{company}` standing "
        "for its id (e.g. `/workspace-{company}`)",
    )
    expired_grace_s: int = Field(
        0,
        ge=0,
        description="accept a helpdesk token this long past its expiry (plus front ends "
        "never renew the socket's token; its own server accepts expired ones for ever)",
    )
    connect_proxy_url: str = Field(
        "",
        description="optional: the helpdesk endpoint asked, with the handshake's token and "
        "query, for the connection's company, user and rooms",
    )
    join_proxy_url: str = Field(
        "",
        description="optional: the helpdesk endpoint asked `{company, user, event, argument}` "
        "for the rooms a join or leave names (or a refusal)",
    )
    proxy_timeout_s: float = Field(3.0, gt=0, description="how long a proxy may take to answer")
    proxy_cache_s: float = Field(
        5.0, ge=0, description="how long a join proxy's answer is reused for the same question"
    )
