"""The edge's packet JSON: the same JSON as the standard library's, compact."""

from __future__ import annotations

import json

import pytest
from socketio import packet

from tidewire_edge import wire_json

pytestmark = pytest.mark.unit

EVENT = [
    "company-c-appMessage",
    {
        "action": "create",
        "message": {"body": 'héllo 😀 "quoted" \\ \n', "n": 3, "f": 1.5, "none": None},
        "ticket": {"id": "t", "tags": [], "read": True},
        "cursor": "E.0.7",
    },
    "E.0.7",
]


def test_it_encodes_what_the_standard_library_decodes_to_the_same_value() -> None:
    text = wire_json.dumps(EVENT, separators=(",", ":"))
    assert json.loads(text) == EVENT
    assert text == json.dumps(EVENT, separators=(",", ":"), ensure_ascii=False)


def test_a_socket_io_packet_encoded_with_it_decodes_as_the_library_s_own() -> None:
    pkt = packet.Packet(packet.EVENT, data=EVENT, namespace="/", binary=False)
    pkt.json = wire_json
    decoded = packet.Packet(encoded_packet=pkt.encode())
    assert decoded.data == EVENT
