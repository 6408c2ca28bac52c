"""Settings shared by every tidewire process, read from `TIDEWIRE_*` environment variables.

Defaults describe the local single-machine stack that `tidewire infra up` starts; production
points the same variables at real clusters.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Public keys of the local stack, written here for everyone to read: accepted only where
# `env` names a development or test stack (`StackSettings.production`).
DEV_JWT_SECRET = "tidewire-dev-secret-change-me-0123456789"
DEV_ADMIN_JWT_SECRET = "tidewire-dev-admin-secret-change-me-0123"
# The only values of TIDEWIRE_ENV that are not production, spelled exactly: a typo
# (`Development`, `prod`, `staging`) must fail closed, never open.
NON_PRODUCTION_ENVS = frozenset({"development", "test"})


class StackSettings(BaseSettings):
    """Where the engines are and how the shared log is shaped."""

    model_config = SettingsConfigDict(env_prefix="TIDEWIRE_", extra="ignore")

    env: str = Field(
        "development",
        description="`development` or `test` (exactly) allow the public development keys; "
        "any other value is production",
    )
    home: Path = Field(Path(".tidewire"), description="state folder: jars, data, logs, pids")
    lib_dir: Path | None = Field(None, description="jar cache (default: <home>/lib)")

    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # Copies of each topic `migrate` creates: 1 for the local single broker; 3 on a cluster
    # (a cluster with min.insync.replicas=2 refuses every acks=all write to a 1-copy topic).
    kafka_replication_factor: int = Field(1, ge=1)
    cassandra_host: str = "127.0.0.1"
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_jmx_port: int = 7199
    cassandra_keyspace: str = "tidewire"
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    cassandra_local_dc: str = "datacenter1"
    # Password authentication (K8ssandra turns it on by default); none when the user is empty.
    cassandra_username: str = ""
    cassandra_password: str = ""
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: str = ""  # AUTH on connect when set (managed and charted Redis require it)

    topic_prefix: str = "tidewire"
    partitions: int = Field(12, ge=1, le=1024)
    # 7 days: the replay window. Cursors older than this are answered with "resync".
    events_retention_ms: int = 7 * 24 * 3600 * 1000

    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl_seconds: int = 12 * 3600
    # Operators' tokens (`/admin`) have a key of their own, so an agent key that leaks cannot
    # mint them. Empty in production: tenant administration over HTTP is off (the CLI's
    # `tidewire tenant add` still works); outside production the development admin key.
    admin_jwt_secret: str = ""

    # WhatsApp Cloud API (Graph API) for agents' outbound messages. Tests point the base at a
    # local fake. The deadline bounds the retries of one message (429, 5xx, network errors);
    # past it the message is recorded as failed.
    graph_api_base: str = "https://graph.facebook.com/v21.0"
    graph_api_deadline_s: float = Field(60.0, gt=0)

    # Projector batches: up to `max` commands, or what arrived within `wait_ms`. The wait is
    # what fills a batch when a backlog builds (faust hands records over one by one), and
    # every batch costs a few round trips whatever its size: 10 ms gave batches of ~150 and
    # half the throughput of 50 ms. An idle stream waits at most this long per command.
    projector_batch_max: int = Field(2000, ge=1)
    projector_batch_wait_ms: int = Field(50, ge=1)
    projector_max_event_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="largest event (encoded JSON) the projector appends; the command of one "
        "over it goes to the dead-letter topic with the reason. Records are also held to the "
        "producer's max request (kafka_io.MAX_REQUEST_BYTES, 1 MiB). Field bounds "
        "(tidewire_platform.limits) keep real events under 100 KB.",
    )
    projector_cache_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024 * 1024,
        description="memory for the read models the projector keeps in front of Cassandra "
        "(estimated bytes; least recently used dropped first). The default is a sixth of the "
        "chart's 3 GiB limit, leaving room for a batch of commands (2,000 of up to 600 KB) "
        "and its outcomes.",
    )

    # One HTTP call to the Graph API. A call that sent its request and got no answer within it
    # marks the message `unknown` (never re-sent by itself), so it is long enough for Graph's
    # slow answers; a connection that cannot even be opened within it is retried.
    graph_api_attempt_timeout_s: float = Field(
        10.0,
        gt=0,
        description="one Graph API call; no answer within it after sending: message unknown",
    )

    @field_validator("home", "lib_dir")
    @classmethod
    def _absolute(cls, v: Path | None) -> Path | None:
        return v.expanduser().resolve() if v is not None else None

    @property
    def production(self) -> bool:
        """Anything but exactly `development` or `test`: secrets fail closed."""
        return self.env not in NON_PRODUCTION_ENVS

    @property
    def admin_key(self) -> str | None:
        """The key of admin tokens; None when tenant administration over HTTP is off."""
        if self.admin_jwt_secret:
            return self.admin_jwt_secret
        return None if self.production else DEV_ADMIN_JWT_SECRET

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> StackSettings:
        where = (
            f"TIDEWIRE_ENV={self.env!r} counts as production (only 'development' or 'test' do not)"
        )
        if self.production and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError(f"TIDEWIRE_JWT_SECRET is the public development key; {where}")
        if self.production and self.admin_jwt_secret == DEV_ADMIN_JWT_SECRET:
            raise ValueError(f"TIDEWIRE_ADMIN_JWT_SECRET is the public development key; {where}")
        if len(self.jwt_secret) < 32:
            raise ValueError("TIDEWIRE_JWT_SECRET must be at least 32 characters (HS256 key)")
        if self.admin_jwt_secret and len(self.admin_jwt_secret) < 32:
            raise ValueError("TIDEWIRE_ADMIN_JWT_SECRET must be at least 32 characters")
        if self.admin_jwt_secret and self.admin_jwt_secret == self.jwt_secret:
            raise ValueError("TIDEWIRE_ADMIN_JWT_SECRET must differ from TIDEWIRE_JWT_SECRET")
        return self

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"

    @property
    def projector_group(self) -> str:
        """The projector's consumer group (its faust app id): one per topic prefix, so two
        stacks sharing engines (a dev stack and the test suite) never share partitions."""
        return f"{self.topic_prefix}-projector"

    @property
    def outbound_group(self) -> str:
        """The outbound sender's consumer group (`tidewire outbound`): apart from the
        projector's, so a slow Graph API never holds up projection."""
        return f"{self.topic_prefix}-outbound"

    @property
    def commands_topic(self) -> str:
        return f"{self.topic_prefix}.commands"

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.events"

    @property
    def outbound_topic(self) -> str:
        """Agents' messages to send to WhatsApp: copies of their `message.created` events."""
        return f"{self.topic_prefix}.outbound"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletter"
