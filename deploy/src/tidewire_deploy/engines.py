"""The three engines of the local stack: how each is configured, started and known to be ready.

Single-node settings tuned for a 2-core box: Kafka KRaft with a 512 MiB heap, Cassandra 5.0
with 1 GiB, Redis with an append-only file (the recovery session store must survive restarts).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tidewire_deploy.artifacts import ensure_jars, pom_version
from tidewire_deploy.layout import Layout
from tidewire_deploy.prereqs import java17, redis_server
from tidewire_platform.settings import StackSettings


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    marker: str  # appears in the command line; identifies the process as ours


@dataclass(frozen=True)
class Engine:
    name: str
    host: str
    port: int
    prepare: Callable[[], Launch]  # fetch, configure and format as needed; may be slow


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- Kafka -----------------------------------------------------------------------------------


def _kafka(s: StackSettings, lay: Layout) -> Launch:
    version = pom_version("kafka", "kafka.version")
    lib = ensure_jars("kafka", version, lay.lib)
    java = java17()
    data = lay.data / "kafka"
    conf = lay.conf / "kafka.properties"
    conf.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{s.kafka_host}:{s.kafka_controller_port}",
                f"listeners=PLAINTEXT://{s.kafka_host}:{s.kafka_port},"
                f"CONTROLLER://{s.kafka_host}:{s.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://{s.kafka_host}:{s.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=1",
                # Topics are created on purpose by `tidewire infra migrate`, never by a typo.
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "num.network.threads=2",
                "num.io.threads=4",
                # The controller appends a no-op record to the metadata log after this much
                # quiet (Kafka's default 500 ms: twice a second, each written and replayed):
                # it only shows that the quorum is alive, and a single node has no quorum.
                "metadata.max.idle.interval.ms=5000",
                "",
            ]
        )
    )
    log4j = lay.conf / "kafka-log4j2.properties"
    log4j.write_text(
        "\n".join(
            [
                "appender.file.type = File",
                "appender.file.name = FILE",
                f"appender.file.fileName = {lay.logs / 'kafka-server.log'}",
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = FILE",
                "logger.kafka.name = kafka",
                "logger.kafka.level = INFO",
                "logger.state.name = state.change.logger",
                "logger.state.level = WARN",
                "",
            ]
        )
    )
    classpath = f"{lib}/*"
    if not (data / "meta.properties").exists():
        cluster_id = _storage_tool(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"]
        ).splitlines()[-1]
        _storage_tool(
            [
                java,
                "-cp",
                classpath,
                f"-Dlog4j2.configurationFile={log4j}",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(conf),
                "--ignore-formatted",
            ]
        )
    marker = f"-Dtidewire.engine=kafka@{s.kafka_port}"
    return Launch(
        [
            java,
            "-Xms512m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            marker,
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(conf),
        ],
        marker,
    )


# --- Cassandra -------------------------------------------------------------------------------

# Cassandra 5.0 reaches into JDK internals; this is the module access its own
# conf/jvm17-server.options grants (the jar does not ship that file, so we restate it).
_CASSANDRA_EXPORTS = (
    "java.base/jdk.internal.misc",
    "java.base/jdk.internal.ref",
    "java.base/sun.nio.ch",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server",
    "java.sql/java.sql",
    "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc",
)
_CASSANDRA_OPENS = (
    "java.base/java.lang.module",
    "java.base/jdk.internal.loader",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect",
    "java.base/jdk.internal.math",
    "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal",
    "java.base/sun.nio.ch",
    "java.base/java.io",
    "java.base/java.nio",
    "java.base/java.util.concurrent",
    "java.base/java.util",
    "java.base/java.util.concurrent.atomic",
    "java.base/java.lang",
    "java.base/java.math",
    "java.base/java.lang.reflect",
    "java.base/java.net",
)


def _cassandra(s: StackSettings, lay: Layout) -> Launch:
    version = pom_version("cassandra", "cassandra.version")
    lib = ensure_jars("cassandra", version, lay.lib)
    java = java17()
    data = lay.data / "cassandra"
    yaml = lay.conf / "cassandra.yaml"
    # The 5.0 loader rejects unknown keys: keep this minimal and in 5.0 spelling (units).
    # The projector writes a batch of commands as multi-partition unlogged batches of up to
    # ~30 KB (store_cassandra.py): warning about each one would only cost CPU on both sides.
    yaml.write_text(
        f"""cluster_name: tidewire-local
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{s.cassandra_host}:{s.cassandra_storage_port}"
listen_address: {s.cassandra_host}
storage_port: {s.cassandra_storage_port}
rpc_address: {s.cassandra_host}
native_transport_port: {s.cassandra_port}
start_native_transport: true
auto_snapshot: false
data_file_directories:
  - {data}/data
commitlog_directory: {data}/commitlog
saved_caches_directory: {data}/saved_caches
hints_directory: {data}/hints
cdc_raw_directory: {data}/cdc_raw
batch_size_warn_threshold: 50KiB
unlogged_batch_across_partitions_warn_threshold: 10000
"""
    )
    logback = lay.conf / "cassandra-logback.xml"
    logback.write_text(
        f"""<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{lay.logs / "cassandra-system.log"}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""
    )
    jamm = next(lib.glob("jamm-*.jar"))
    marker = f"-Dtidewire.engine=cassandra@{s.cassandra_port}"
    argv = [java, "-Xms1g", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true", marker]
    for module in _CASSANDRA_EXPORTS:
        argv += ["--add-exports", f"{module}=ALL-UNNAMED"]
    for module in _CASSANDRA_OPENS:
        argv += ["--add-opens", f"{module}=ALL-UNNAMED"]
    argv += [
        f"-javaagent:{jamm}",
        "-Djdk.attach.allowAttachSelf=true",
        f"-Dcassandra.config={yaml.as_uri()}",
        f"-Dcassandra.storagedir={data}",
        "-Dcassandra-foreground=yes",
        f"-Dlogback.configurationFile={logback}",
        # Single node: no gossip to settle, one fixed token, no stale ring.
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.initial_token=0",
        "-Dcassandra.load_ring_state=false",
        f"-Dcassandra.jmx.local.port={s.cassandra_jmx_port}",
        "-cp",
        f"{lib}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]
    return Launch(argv, marker)


# --- Redis -----------------------------------------------------------------------------------


def _redis(s: StackSettings, lay: Layout) -> Launch:
    data = lay.data / "redis"
    data.mkdir(parents=True, exist_ok=True)
    marker = f"{s.redis_host}:{s.redis_port}"
    return Launch(
        [
            redis_server(),
            "--port",
            str(s.redis_port),
            "--bind",
            s.redis_host,
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ],
        # redis-server rewrites its process title to "redis-server host:port".
        marker,
    )


def engines(s: StackSettings, lay: Layout) -> list[Engine]:
    """In start order: the cheapest first, so a broken machine fails fast."""
    return [
        Engine("redis", s.redis_host, s.redis_port, lambda: _redis(s, lay)),
        Engine("kafka", s.kafka_host, s.kafka_port, lambda: _kafka(s, lay)),
        Engine("cassandra", s.cassandra_host, s.cassandra_port, lambda: _cassandra(s, lay)),
    ]


def log_path(lay: Layout, name: str) -> Path:
    return lay.logs / f"{name}.out"


def _storage_tool(argv: list[str]) -> str:
    """Run Kafka's StorageTool; its output, or a RuntimeError that quotes what it said (the
    CLI prints RuntimeErrors as messages, where a CalledProcessError was a bare traceback)."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(
            f"kafka: preparing its storage failed (exit {done.returncode}): " + " | ".join(said)
        )
    return done.stdout.strip()
