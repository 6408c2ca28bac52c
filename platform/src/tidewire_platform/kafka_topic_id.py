"""Read Kafka topic ids (KIP-516): the UUID a broker assigns to a topic when it is created.

A cursor carries the events topic's id as its "epoch": if the topic is deleted and recreated
under the same name, its id changes, so a cursor minted against the old topic is recognised as
stale instead of silently pointing at offsets of a different log.

aiokafka's admin API does not expose topic ids (its MetadataRequest stops at v5), so this module
defines Metadata v12 (flexible: compact arrays/strings, tagged fields) from aiokafka's own
protocol building blocks and sends it through AIOKafkaClient. aiokafka picks request header v2
and response header v1 for it because the struct is marked FLEXIBLE_VERSION.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

_UNKNOWN_TOPIC_OR_PARTITION = 3
_TAGS = ("tags", TaggedFields)
_STR = CompactString("utf-8")
_UUID = Schema(("most_significant", Int64), ("least_significant", Int64))  # 16 raw bytes


class _MetadataResponseV12(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 12
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32), ("host", _STR), ("port", Int32), ("rack", _STR), _TAGS
            ),
        ),
        ("cluster_id", _STR),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", _STR),
                ("topic_id", _UUID),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        _TAGS,
                    ),
                ),
                ("topic_authorized_operations", Int32),
                _TAGS,
            ),
        ),
        _TAGS,
    )


class _MetadataRequestV12(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 12
    RESPONSE_TYPE = _MetadataResponseV12
    SCHEMA = Schema(
        ("topics", CompactArray(("topic_id", _UUID), ("name", _STR), _TAGS)),
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        _TAGS,
    )


class _TopicIdMetadataRequest(Request[_MetadataRequestV12]):  # type: ignore[misc]
    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[_MetadataRequestV12]) -> _MetadataRequestV12:
        # Look topics up by name (zero topic id); never auto-create them.
        no_tags: dict[int, bytes] = {}
        topics = [((0, 0), name, no_tags) for name in self._topics]
        return request_struct_class(topics, False, False, {})


def _encode_uuid(most: int, least: int) -> str:
    """Kafka's textual form: url-safe base64 of the 16 big-endian bytes, no padding."""
    return base64.urlsafe_b64encode(struct.pack(">qq", most, least)).decode().rstrip("=")


async def fetch_topic_ids(
    bootstrap: str, topics: list[str], timeout_s: float = 10.0
) -> dict[str, str]:
    """Map each existing topic in `topics` to its topic id; topics that do not exist are omitted."""
    if not topics:
        return {}
    client: Any = AIOKafkaClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        async with asyncio.timeout(timeout_s):
            await client.bootstrap()
            response: Any = await client.send(
                client.get_random_node(), _TopicIdMetadataRequest(topics)
            )
    finally:
        await client.close()
    ids: dict[str, str] = {}
    for error_code, name, (most, least), *_ in response.topics:
        if error_code == _UNKNOWN_TOPIC_OR_PARTITION:
            continue
        if (most, least) == (0, 0):  # e.g. not authorised: the broker withholds the id
            raise for_code(error_code)(f"no topic id for {name!r}")
        ids[name] = _encode_uuid(most, least)
    return ids
