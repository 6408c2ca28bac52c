"""Token clocks: a socket's timer fires at its token's expiry, once, and not after it left."""

from __future__ import annotations

import asyncio
import time

import pytest

from tidewire_edge.expiry import TokenClocks
from tidewire_edge.plans import Fresh
from tidewire_edge.server import Edge
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.unit


async def test_a_plan_carries_the_verified_tokens_exp() -> None:
    """The socket's clock is set from the plan: the token is read once, while planning."""
    settings = StackSettings()
    token = issue_token(settings, "co1", "ann", ttl=120)
    edge = Edge(settings, EdgeSettings())
    plan = await edge.planner.plan({"token": token}, {}, "/")
    assert isinstance(plan.outcome, Fresh)
    assert plan.outcome.expires is not None
    assert abs(plan.outcome.expires - (time.time() + 120)) < 5


async def test_a_socket_expires_at_its_tokens_exp_and_a_stopped_one_never() -> None:
    fired: list[str] = []
    done = asyncio.Event()

    async def on_expiry(sid: str) -> None:
        fired.append(sid)
        done.set()

    clocks = TokenClocks(on_expiry)
    clocks.start("gone", time.time() + 0.05)
    clocks.start("due", time.time() + 0.1)
    clocks.start("later", time.time() + 3600)
    clocks.stop("gone")  # disconnected before its token expired
    assert not clocks.expired("due")
    await asyncio.wait_for(done.wait(), 5)
    assert fired == ["due"]
    assert clocks.expired("due")
    assert not clocks.expired("later")
    clocks.stop("due")
    assert not clocks.expired("due")
    assert len(clocks) == 1
    await clocks.close()
    assert len(clocks) == 0


async def test_an_already_expired_token_fires_at_once() -> None:
    done = asyncio.Event()

    async def on_expiry(sid: str) -> None:
        done.set()

    clocks = TokenClocks(on_expiry)
    clocks.start("late", time.time() - 10)
    await asyncio.wait_for(done.wait(), 5)
    assert clocks.expired("late")
