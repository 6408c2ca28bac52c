"""`runs.listener_pid`: the bench finds an engine it did not start by the port it listens on."""

from __future__ import annotations

import os
import socket

from tidewire_bench.runs import listener_pid


def test_the_process_listening_on_a_port_is_found() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert listener_pid(server.getsockname()[1]) == os.getpid()


def test_a_port_nobody_listens_on_has_no_process() -> None:
    with socket.socket() as bound:  # bound, never listening
        bound.bind(("127.0.0.1", 0))
        assert listener_pid(bound.getsockname()[1]) is None
