"""Smoke runs of `tidewire bench …`: the real CLI in a subprocess, its printed tables read back
as rows (for the benchmarks that print their figures rather than save them as JSON), and the
removal of what a benchmark's own stack leaves in the engines."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest

from tidewire_platform.cql import connect
from tidewire_platform.settings import StackSettings


def run_bench(*args: str, timeout: float = 120.0) -> str:
    """`tidewire bench <args>` as a user runs it; its stdout, once it exited 0."""
    done = subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def tables(report: str) -> list[list[dict[str, str]]]:
    """Every markdown table in `report`, in order: its rows as {header: cell}."""
    found: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*report.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if len(block) >= 2:  # a header, its rule, and the rows
            head, rows = block[0], block[2:]
            found.append([dict(zip(head, row, strict=True)) for row in rows])
        block = []
    return found


def number(cell: str) -> int:
    """`1,234` -> 1234."""
    return int(cell.replace(",", ""))


def beside(s: StackSettings, suffix: str) -> StackSettings:
    """The settings of the stack `tidewire bench e2e` or `peer` starts beside the one `s`
    configures (the benchmarks' `own_stack.isolated`, restated: the suite imports no
    benchmark). A test checks that `forget` found its topics, so a rename cannot go unseen."""
    return s.model_copy(
        update={
            "topic_prefix": f"{s.topic_prefix}-{suffix}",
            "cassandra_keyspace": f"{s.cassandra_keyspace}_{suffix}",
        }
    )


def forget(s: StackSettings, timeout_s: float = 60.0) -> list[str]:
    """Remove from the engines what a stack of settings `s` left there: its topics (faust's
    own among them), its consumer groups and its keyspace; returns the topics deleted. For
    the stacks benchmarks start beside the suite's, which would outlive the run otherwise."""
    deleted = asyncio.run(_forget_in_kafka(s, timeout_s))
    session = connect(s)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {s.cassandra_keyspace}", timeout=timeout_s)
    finally:
        session.cluster.shutdown()
    return deleted


def _owned(s: StackSettings, topic: str) -> bool:
    topics = {s.commands_topic, s.events_topic, s.outbound_topic, s.deadletter_topic}
    internal = (f"{s.projector_group}-", f"{s.outbound_group}-")  # faust's, named by group
    return topic in topics or topic.startswith(internal)


async def _forget_in_kafka(s: StackSettings, timeout_s: float) -> list[str]:
    """Delete the stack's topics and wait until Kafka no longer lists them (deletion is
    asynchronous; a stack migrated again meanwhile would find them half gone), then its
    consumer groups, which Kafka still lists once their topics are gone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    deadline = time.monotonic() + timeout_s
    try:
        doomed = [t for t in await admin.list_topics() if _owned(s, t)]
        if doomed:
            await admin.delete_topics(doomed)
        while left := [t for t in await admin.list_topics() if _owned(s, t)]:
            assert time.monotonic() < deadline, f"topics not deleted after {timeout_s} s: {left}"
            await asyncio.sleep(0.2)  # polling Kafka's listing, with a deadline
        for group in (s.projector_group, s.outbound_group):
            await _delete_group(admin, group, deadline)
        return doomed
    finally:
        await admin.close()


async def _delete_group(admin: AIOKafkaAdminClient, group: str, deadline: float) -> None:
    """DeleteGroups, which aiokafka's admin client has the protocol for but no method (its
    private `_send_request`, aiokafka pinned in constraints.txt). A group whose members have
    not all left yet (a stopped service's session) is non-empty: asked again until it is."""
    while True:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request(DeleteGroupsRequest([group]), coordinator)
        [(_, code)] = response.results
        if code in (_DELETED, _NO_SUCH_GROUP):
            return
        assert code == _NOT_EMPTY, f"deleting group {group}: Kafka error {code}"
        assert time.monotonic() < deadline, f"group {group} still has members"
        await asyncio.sleep(0.2)  # polling the coordinator, with a deadline


# Kafka protocol error codes of DeleteGroups.
_DELETED, _NOT_EMPTY, _NO_SUCH_GROUP = 0, 68, 69
