"""The active keyspace as long-running readers follow it: cached, re-asked after the TTL or
when a reader asks for a fresh answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidewire_platform import read_models_home
from tidewire_platform.read_models_home import FollowedKeyspace

pytestmark = pytest.mark.unit


def test_asks_again_only_after_the_ttl_or_when_told(monkeypatch: pytest.MonkeyPatch) -> None:
    pointer = ["tidewire_rm_1"]
    asked: list[str] = []

    async def active(session: Any, main: str) -> str:
        asked.append(main)
        return pointer[0]

    clock = [100.0]
    monkeypatch.setattr(read_models_home, "active_keyspace", active)
    monkeypatch.setattr(read_models_home.time, "monotonic", lambda: clock[0])
    followed = FollowedKeyspace("tidewire", ttl_s=5.0)

    async def scenario() -> None:
        assert await followed.get(None) == "tidewire_rm_1"
        pointer[0] = "tidewire_rm_2"  # a rebuild flips the pointer
        clock[0] += 4.0
        assert await followed.get(None) == "tidewire_rm_1"  # within the TTL: remembered
        assert await followed.get(None, fresh=True) == "tidewire_rm_2"
        pointer[0] = "tidewire_rm_3"
        clock[0] += 5.5
        assert await followed.get(None) == "tidewire_rm_3"  # past the TTL: asked again

    asyncio.run(scenario())
    assert asked == ["tidewire"] * 3
