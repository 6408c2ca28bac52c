import json
import sys
from pathlib import Path

import pytest

from tidewire_deploy.procs import Managed

pytestmark = pytest.mark.unit

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)", "tidewire-test-sleeper"]


def test_start_is_idempotent_and_stop_stops(tmp_path: Path) -> None:
    m = Managed("sleeper", tmp_path, tmp_path / "sleeper.log")
    pid = m.start(SLEEPER, "tidewire-test-sleeper")
    assert m.start(SLEEPER, "tidewire-test-sleeper") == pid  # no twin
    assert m.running()
    assert m.stop(grace_s=5)
    assert not m.running()
    assert not m.pid_file.exists()


def test_a_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    m = Managed("other", tmp_path, tmp_path / "other.log")
    # Our own test process is alive but does not carry the marker: never treat it as ours.
    m.pid_file.write_text(json.dumps({"pid": __import__("os").getpid(), "marker": "zz-not-me"}))
    assert m.pid() is None
    assert m.stop() is False


def test_kill_is_immediate(tmp_path: Path) -> None:
    m = Managed("victim", tmp_path, tmp_path / "victim.log")
    m.start(SLEEPER, "tidewire-test-sleeper")
    m.kill()
    assert not m.running()
