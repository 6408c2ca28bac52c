"""A peer node gets its JWT key from the environment: a command line is public (`ps`)."""

from __future__ import annotations

import pytest

from tidewire_bench.peer_node import node_command

pytestmark = pytest.mark.unit


def test_the_jwt_key_is_never_on_the_node_command_line() -> None:
    secret = "k" * 40
    argv, env = node_command("/usr/bin/node", "redis://127.0.0.1:6390", secret)
    assert not any(secret in a for a in argv)
    assert "--secret" not in argv
    assert env["PEER_JWT_SECRET"] == secret
    assert "PATH" in env  # the whole environment, plus the key
