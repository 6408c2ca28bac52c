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


def test_production_sends_to_graph_only_over_https() -> None:
    with pytest.raises(ValueError, match="TIDEWIRE_GRAPH_API_BASE must be https in production"):
        StackSettings(env="production", jwt_secret="p" * 40, graph_api_base="http://sim:8400/v21")
    ok = StackSettings(env="production", jwt_secret="p" * 40)
    assert ok.graph_api_base.startswith("https://")
    # A development stack may point it at the simulator over plain http.
    assert StackSettings(graph_api_base="http://127.0.0.1:8400/v21.0").graph_api_base
