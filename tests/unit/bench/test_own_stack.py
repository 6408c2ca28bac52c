"""`OwnStack.beside`: a benchmark's own stack is named after the stack it runs beside."""

from __future__ import annotations

import pytest

from tidewire_bench.own_stack import OwnStack
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


def test_its_topics_keyspace_and_pid_files_carry_the_prefix_of_the_stack_beside() -> None:
    s = StackSettings(topic_prefix="smoke", cassandra_keyspace="tidewire_smoke")
    own = OwnStack.beside(s, "e2e", {})
    assert own.settings.topic_prefix == "smoke-e2e"
    assert own.settings.cassandra_keyspace == "tidewire_smoke_e2e"
    assert own.tag == "bench-smoke-e2e"


def test_two_stacks_sharing_a_state_folder_never_share_a_pid_file() -> None:
    one = OwnStack.beside(StackSettings(topic_prefix="one"), "peer", {})
    two = OwnStack.beside(StackSettings(topic_prefix="two"), "peer", {})
    assert one.settings.home == two.settings.home
    assert one.tag != two.tag
