"""Kafka's storage tool failing is a message naming what it said, not a traceback."""

from __future__ import annotations

import sys

import pytest

from tidewire_deploy.engines import _storage_tool

pytestmark = pytest.mark.unit


def test_failure_quotes_the_tool() -> None:
    argv = [
        sys.executable,
        "-c",
        "import sys; print('log dir not writable', file=sys.stderr); sys.exit(3)",
    ]
    with pytest.raises(RuntimeError, match=r"exit 3\): log dir not writable"):
        _storage_tool(argv)


def test_success_returns_its_output() -> None:
    assert _storage_tool([sys.executable, "-c", "print('abc-123')"]) == "abc-123"
