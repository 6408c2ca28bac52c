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
    """Where the engines are, how the shared log is shaped, the token keys, the projector's
    batches and the outbound sender's calls to the WhatsApp Cloud API."""

    model_config = SettingsConfigDict(env_prefix="TIDEWIRE_", extra="ignore")

    env: str = Field(
        "development",
        description="exactly `development` or `test` allow the public development keys; any "
        "other value (`prod`, `Production`, `staging`, …) is production, where every process "
        "refuses to start with a development key (the container image sets `production`)",
    )
    home: Path = Field(
        Path(".tidewire"), description="state folder: jars, configs, data, logs, pid files"
    )
    lib_dir: Path | None = Field(
        None,
        description="jar cache, shareable between state folders (default: `$TIDEWIRE_HOME/lib`)",
    )

    kafka_host: str = Field("127.0.0.1", description="Kafka bootstrap broker's address")
    kafka_port: int = Field(9092, description="Kafka bootstrap broker's port")
    kafka_controller_port: int = Field(
        9093, description="the local Kafka node's KRaft controller port (`tidewire infra up`)"
    )
    # 1 for the local single broker; 3 on a cluster (a cluster with min.insync.replicas=2
    # refuses every acks=all write to a 1-copy topic).
    kafka_replication_factor: int = Field(
        1,
        ge=1,
        description="copies of each topic `tidewire infra migrate` creates (and of faust's own); "
        "on a cluster at least its min.insync.replicas, or every acks=all write is refused",
    )
    cassandra_host: str = Field("127.0.0.1", description="Cassandra contact point")
    cassandra_port: int = Field(9042, description="Cassandra's CQL port")
    cassandra_storage_port: int = Field(
        7000, description="the local Cassandra node's internode port (`tidewire infra up`)"
    )
    cassandra_jmx_port: int = Field(
        7199, description="the local Cassandra node's JMX port (`tidewire infra up`)"
    )
    cassandra_keyspace: str = Field("tidewire", description="keyspace of all read models")
    cassandra_replication: str = Field(
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        description="the keyspace's replication, as CQL (NetworkTopologyStrategy in production)",
    )
    cassandra_local_dc: str = Field("datacenter1", description="the driver's local data centre")
    # K8ssandra turns password authentication on by default.
    cassandra_username: str = Field(
        "", description="Cassandra user for password authentication; empty: none"
    )
    cassandra_password: str = Field("", description="Cassandra password (with the user)")
    redis_host: str = Field("127.0.0.1", description="Redis host (edges' manager and sessions)")
    redis_port: int = Field(6379, description="Redis port")
    # Managed and charted Redis require AUTH.
    redis_password: str = Field("", description="Redis AUTH password on connect; empty: none")

    topic_prefix: str = Field(
        "tidewire",
        description="topics `<prefix>.commands`, `.events`, `.outbound`, `.deadletter` and the "
        "consumer groups `<prefix>-projector`, `<prefix>-outbound`: stacks sharing engines "
        "(a development stack and the test suite) set different prefixes",
    )
    partitions: int = Field(
        12,
        ge=1,
        le=1024,
        description="partitions of each topic (the same for all four; a company's partition "
        "is Kafka's murmur2 of its id)",
    )
    events_retention_ms: int = Field(
        7 * 24 * 3600 * 1000,
        description="retention of the events topic: the replay window; older cursors are "
        "answered with a resync",
    )

    jwt_secret: str = Field(
        DEV_JWT_SECRET,
        description="HS256 key of agents' tokens (at least 32 characters); the default is a "
        "public development key, refused in production",
    )
    jwt_ttl_seconds: int = Field(
        12 * 3600, description="lifetime of the tokens `tidewire token` issues"
    )
    # Operators' tokens (`/admin`) have a key of their own, so an agent key that leaks cannot
    # mint them. The CLI's `tidewire tenant add` works whatever this is.
    admin_jwt_secret: str = Field(
        "",
        description="HS256 key of operators' tokens for `/admin` (`tidewire token --admin`): at "
        "least 32 characters, different from TIDEWIRE_JWT_SECRET. Empty: outside production a "
        "development key; in production `/admin` answers 403 and no admin token can be minted. "
        "Agent tokens never open `/admin`, admin tokens never open `/api` or a socket",
    )

    # Tests point the base at a local fake. The deadline bounds the retries of one message
    # (429, 5xx, network errors); past it the message is recorded as failed.
    graph_api_base: str = Field(
        "https://graph.facebook.com/v21.0",
        description="WhatsApp Cloud API (Graph API) base URL of the outbound sender, one for "
        "every tenant (a base per connection is future work); must be https in production. "
        "`tidewire up` points it at its simulator unless `--no-simulate` or this is set (then "
        "kept, and the banner says so), so there every tenant's sends go to the simulator; tests "
        "point it at the same stand-in",
    )
    graph_api_deadline_s: float = Field(
        60.0,
        gt=0,
        description="give up re-trying a send that provably did not reach Graph (connection "
        "refused, 429, 408) after this long; the message is then marked failed",
    )

    # A batch closes as soon as the projector has caught up with the log, else after the wait.
    # The wait is what fills a batch when a backlog builds (faust hands records over one by
    # one), and every batch costs a few round trips whatever its size: 10 ms gave batches of
    # ~150 and half the throughput of 50 ms. A command that arrives alone does not wait.
    projector_batch_max: int = Field(
        2000, ge=1, description="most commands the projector folds in one batch"
    )
    projector_batch_wait_ms: int = Field(
        50,
        ge=1,
        description="how long a batch waits for more commands while the projector is behind "
        "the log (a batch closes as soon as it has caught up: a lone command does not wait)",
    )
    # faust fixes its consumer's fetch wait at 1,500 ms. aiokafka sends no fetch to a broker
    # that has one in flight, and leaves out a partition whose records are still unread: a
    # projector busy for more than 100 ms when records arrive (a large batch, a loaded box)
    # had its next fetch leave without their partition and wait the whole 1.5 s on the idle
    # ones, so at 50 agent sends/s commands waited 1-2 s before their batch even opened.
    projector_fetch_wait_ms: int = Field(
        100,
        ge=10,  # shorter would be a busy fetch loop
        le=1500,  # faust's own
        description="longest the projector's consumer waits on the broker for new commands "
        "(a fetch in flight holds back the next one of a partition that just had records, so "
        "this bounds that delay; an idle projector fetches this often)",
    )
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
        description="one Graph API call: no answer within it after the request left marks the "
        "message `unknown` (never re-sent by itself)",
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
        if self.production and not self.graph_api_base.startswith("https://"):
            raise ValueError(
                f"TIDEWIRE_GRAPH_API_BASE must be https in production, not "
                f"{self.graph_api_base!r}; {where}"
            )
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
