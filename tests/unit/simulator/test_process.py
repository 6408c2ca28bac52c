"""`python -m tidewire_simulator` on a port already in use says so and exits 2 (a second
simulator next to the one `tidewire up` runs), instead of a traceback."""

from __future__ import annotations

import socket

import pytest

from tidewire_simulator.process import main

pytestmark = pytest.mark.unit


def test_a_port_in_use_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--rate", "0"]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port picks another" in err
