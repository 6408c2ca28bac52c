"""Every Prometheus metric tidewire exports, declared once (the dashboards are built from it)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# every process ----------------------------------------------------------------------------
READY = Gauge(
    "tidewire_ready",
    "1 when the process's last /readyz check found what it depends on reachable, else 0 "
    "(an unready pod gets no traffic, so its refusals are never counted anywhere else).",
)
# ingest -----------------------------------------------------------------------------------
COMMANDS_ACCEPTED = Counter(
    "tidewire_ingest_commands_accepted_total",
    "Commands acknowledged by Kafka and answered 2xx, by command type.",
    ["type"],
)
INGEST_REJECTED = Counter(
    "tidewire_ingest_rejected_total",
    "Requests refused before anything was written, by HTTP status.",
    ["status"],
)
WEBHOOK_PARTS_REFUSED = Counter(
    "tidewire_ingest_webhook_parts_refused_total",
    "Parts of webhook deliveries refused (a change that does not parse or no record can "
    "hold, or every change of a number that is unknown or whose app secret did not sign) "
    "while the rest of the delivery may be accepted, by reason: unknown_phone, bad_signature "
    "(both answered as unverified), invalid, unwritable.",
    ["reason"],
)
# projector ---------------------------------------------------------------------------------
COMMANDS_PROJECTED = Counter(
    "tidewire_projector_commands_total",
    "Commands folded into read models; outcome = applied | replayed | duplicate | deadletter.",
    ["outcome"],
)
PROJECTOR_BATCH_FAILURES = Counter(
    "tidewire_projector_batch_failures_total",
    "Batches whose projection failed and is retried (Cassandra or Kafka unavailable); the "
    "partition waits meanwhile.",
)
PROJECTOR_LAG = Gauge(
    "tidewire_projector_consumer_lag_records",
    "Commands of a partition not yet projected by this process, after its last batch.",
    ["partition"],
)
# outbound ----------------------------------------------------------------------------------
OUTBOUND_SENDS = Counter(
    "tidewire_outbound_records_total",
    "Outbound records handled by the sender, by outcome: dispatched (Graph accepted), failed "
    "(provably not sent), unknown (may have been sent; never re-sent by itself), skipped "
    "(outcome already recorded), missing (message not in the read models), ignored.",
    ["outcome"],
)
# edge --------------------------------------------------------------------------------------
EDGE_SOCKETS = Gauge("tidewire_edge_connected_sockets", "Sockets connected to this edge node.")
EDGE_EMITS = Counter(
    "tidewire_edge_emits_total", "Events emitted to local sockets, by event.", ["event"]
)
EDGE_E2E_LATENCY = Histogram(
    "tidewire_edge_accept_to_emit_seconds",
    "From ingest's accepted-at to the edge's emit of a live event to its first socket on the "
    "node (once per event and node): the platform's end-to-end latency.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EDGE_RECOVERIES = Counter(
    "tidewire_edge_recoveries_total",
    "Reconnects that asked for recovery (pid or lastEventId), by outcome: recovered or "
    "replayed (counted once connected); expired, stale (other epoch, partition or past "
    "retention), foreign (another user's session), invalid (not a cursor), failed (Redis "
    "or Kafka failed the connect).",
    ["outcome"],
)
EDGE_REPLAYED = Counter("tidewire_edge_replayed_events_total", "Events re-sent from the log.")
EDGE_ACKED = Counter("tidewire_edge_acked_events_total", "Events acknowledged by ack-mode clients.")
EDGE_RETRIES = Counter(
    "tidewire_edge_ack_retries_total", "Events re-sent to ack-mode clients that did not ack."
)
EDGE_CUT_OFF = Counter(
    "tidewire_edge_slow_clients_cut_total", "Sockets disconnected because their buffer was full."
)
EDGE_LAG = Gauge(
    "tidewire_edge_consumer_lag_records",
    "Records of an events partition not yet read by this node.",
    ["partition"],
)
EDGE_REFUSED = Counter(
    "tidewire_edge_refused_connects_total",
    "Connects refused, by the code their CONNECT_ERROR carries: token_invalid, token_expired, "
    "too_many_connects (from one address), too_many_sockets (of one user on this node), "
    "too_many_company_sockets (of one company on this node).",
    ["reason"],
)
EDGE_TOKEN_EXPIRIES = Counter(
    "tidewire_edge_token_expiries_total",
    "Sockets ended because their token expired (told `tidewire:reauth` first).",
)
EDGE_ROOMS_REFUSED = Counter(
    "tidewire_edge_refused_joins_total",
    "Room joins refused because the socket was in TIDEWIRE_EDGE_MAX_ROOMS_PER_SOCKET rooms.",
)
EDGE_BUSIEST_USER = Gauge(
    "tidewire_edge_busiest_user_sockets",
    "Sockets held on this node by the user holding the most (its limit: "
    "TIDEWIRE_EDGE_MAX_SOCKETS_PER_USER).",
)
EDGE_BUSIEST_COMPANY = Gauge(
    "tidewire_edge_busiest_company_sockets",
    "Sockets held on this node by the company holding the most (its limit: "
    "TIDEWIRE_EDGE_MAX_SOCKETS_PER_COMPANY).",
)
EDGE_CONNECTING_ADDRESSES = Gauge(
    "tidewire_edge_connect_rate_addresses",
    "Client addresses the connect rate limit remembers (those seen in its last two windows).",
)
EDGE_MEMORY = Gauge(
    "tidewire_edge_cache_bytes",
    "Bytes held by the edge's byte-bounded memories: recent records (all partitions), "
    "decoded events, encoded packets (TIDEWIRE_EDGE_*_BYTES bound each).",
    ["cache"],
)

# Label values known in advance, exported at 0 from a process's start (`expose_known`): a
# series born at 1 is no increase to `increase()`/`rate()`, so an alert such as
# `increase(x{outcome="deadletter"}[15m]) > 0` would miss the first dead letter, and a panel
# would show "No data" where 0 is the truth. Values appear here as the help texts name them.
KNOWN_LABELS: tuple[tuple[Counter, tuple[str, ...]], ...] = (
    (INGEST_REJECTED, ("503",)),  # the status an alert watches; others appear as they happen
    (WEBHOOK_PARTS_REFUSED, ("unknown_phone", "bad_signature", "invalid", "unwritable")),
    (COMMANDS_PROJECTED, ("applied", "replayed", "duplicate", "deadletter")),
    (OUTBOUND_SENDS, ("dispatched", "failed", "unknown", "skipped", "missing", "ignored")),
    (
        EDGE_RECOVERIES,
        ("recovered", "replayed", "expired", "stale", "foreign", "invalid", "failed"),
    ),
    (
        EDGE_REFUSED,
        (
            "token_invalid",
            "token_expired",
            "too_many_connects",
            "too_many_sockets",
            "too_many_company_sockets",
        ),
    ),
)


def expose_known(service: str) -> None:
    """Create at 0 every known series of `service`'s counters (`ingest`, `projector`,
    `outbound`, `edge`): each process calls it once at start."""
    for metric, values in KNOWN_LABELS:
        if metric._name.startswith(f"tidewire_{service}_"):
            for value in values:
                metric.labels(value)
