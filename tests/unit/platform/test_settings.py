"""Settings for engines beyond the local stack."""

from __future__ import annotations

import pytest
import redis

from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


def test_a_redis_password_reaches_the_client_intact() -> None:
    s = StackSettings(redis_password="p@ss:/w#1")
    client = redis.Redis.from_url(s.redis_url)
    assert client.connection_pool.connection_kwargs["password"] == "p@ss:/w#1"
    assert StackSettings().redis_url == "redis://127.0.0.1:6379/0"
