"""Pausing a projector process tidewire started: stopped with a hold, started again as it was."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tidewire_deploy.layout import layout_of
from tidewire_deploy.procs import Managed
from tidewire_deploy.projector_pause import ManagedProjectorPause, hold_file
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.unit


def _environ(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_stop_holds_and_resume_restarts_with_the_same_command_and_env(tmp_path: Path) -> None:
    s = StackSettings(home=tmp_path / "tw")
    lay = layout_of(s.home, s.lib_dir)
    other = Managed("ingest", lay.run, lay.logs / "ingest.out")
    proc = Managed("test-projector", lay.run, lay.logs / "test-projector.out")
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    other.start([*sleeper, "tidewire_ingest"], "tidewire_ingest")
    proc.start(
        [*sleeper, "-m", "tidewire_projector"],
        "tidewire_projector",
        env={**os.environ, "TIDEWIRE_PAUSE_TEST": "kept"},
    )
    try:
        pause = ManagedProjectorPause.find(s)
        assert pause is not None
        assert pause.proc.name == "test-projector"
        first = proc.pid()
        asyncio.run(pause.stop())
        assert not proc.running()
        assert hold_file(lay.run, "test-projector").exists()
        assert other.running()  # only the projector
        asyncio.run(pause.resume())
        again = proc.pid()
        assert again is not None
        assert again != first
        assert b"TIDEWIRE_PAUSE_TEST=kept" in _environ(again)
        assert not hold_file(lay.run, "test-projector").exists()
    finally:
        proc.stop(5.0)
        other.stop(5.0)


def test_nothing_to_pause_when_no_projector_of_ours_runs(tmp_path: Path) -> None:
    assert ManagedProjectorPause.find(StackSettings(home=tmp_path / "tw")) is None
