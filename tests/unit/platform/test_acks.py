"""The browser SDK's ack scale is the server's: the same names with the same values. The SDK
folds acks itself (optimistic state, `nextAck`); a value that drifted would show a read
message as failed, or offer to send a delivered one again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tidewire_platform.acks import OF_WHATSAPP_STATUS, Ack

pytestmark = pytest.mark.unit

_SDK_ACKS = Path(__file__).resolve().parents[3] / "sdk" / "js" / "src" / "acks.js"


def test_the_sdk_constants_equal_the_enum() -> None:
    script = (
        f"import {{ Ack }} from {json.dumps(_SDK_ACKS.as_uri())};"
        "process.stdout.write(JSON.stringify(Ack));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert json.loads(out) == {ack.name: ack.value for ack in Ack}


def test_whatsapp_statuses_map_onto_the_known_states_in_their_order() -> None:
    order = ["sent", "delivered", "read", "played"]
    assert [OF_WHATSAPP_STATUS[s] for s in order] == sorted(OF_WHATSAPP_STATUS[s] for s in order)
    assert OF_WHATSAPP_STATUS["failed"] is Ack.FAILED
