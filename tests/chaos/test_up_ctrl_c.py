"""`tidewire up` in the foreground: everything runs, and Ctrl-C leaves no process behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import env_of
from tests.support.stack import free_port, healthy, wait_for
from tidewire_deploy import infra
from tidewire_platform.settings import StackSettings


def _ours(home: Path) -> list[str]:
    """Command lines of live processes that belong to this test's stack."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if str(home) in cmd or str(home).encode() in env:
            found.append(cmd)
    return found


def _start_up(own: StackSettings) -> tuple[subprocess.Popen[str], dict[str, str]]:
    ingest, edges = free_port(), (free_port(), free_port())
    env = {
        **os.environ,
        **env_of(own),
        "TIDEWIRE_INGEST_PORT": str(ingest),
        "TIDEWIRE_EDGE_PORTS": f"{edges[0]},{edges[1]}",
        "TIDEWIRE_PROJECTOR_PORT": str(free_port()),
        "TIDEWIRE_OUTBOUND_PORT": str(free_port()),
        "TIDEWIRE_SIMULATOR_PORT": str(free_port()),
        "TIDEWIRE_PROMETHEUS_PORT": str(free_port()),
    }
    proc = subprocess.Popen(  # observed: Prometheus is one more process to supervise and stop
        [sys.executable, "-m", "tidewire_deploy.cli", "up", "--observe"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return proc, env


def _tidewire(env: dict[str, str], *args: str, timeout: float = 240) -> Any:
    """Run a `tidewire` command of this stack; its completed process."""
    return subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _read_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        lines.append(line)
        if text in line or time.monotonic() > deadline:
            break
    assert any(text in ln for ln in lines), "".join(lines)
    return lines


@pytest.mark.parametrize("stop", ["ctrl-c", "tidewire down"])
def test_stopping_a_foreground_up_leaves_nothing_behind(own: StackSettings, stop: str) -> None:
    """Ctrl-C in its terminal, or `tidewire down` from another one (which must not race the
    supervisor: it restarts services that exit)."""
    proc, env = _start_up(own)
    try:
        lines = _read_until(proc, "press Ctrl-C")
        ingest, edges = env["TIDEWIRE_INGEST_PORT"], env["TIDEWIRE_EDGE_PORTS"].split(",")
        projector, simulator = env["TIDEWIRE_PROJECTOR_PORT"], env["TIDEWIRE_SIMULATOR_PORT"]
        assert all(healthy(int(p)) for p in (ingest, projector, simulator, *edges))
        token = lines[next(i for i, x in enumerate(lines) if x.startswith("demo agent token")) + 1]
        assert token.count(".") == 2  # the demo token (a JWT)
        assert lines[-2].endswith(f"/?token={token}")  # the inbox's address, with the token
        assert sum("prometheus" in cmd for cmd in _ours(own.home)) == 1
        assert len(_ours(own.home)) >= 8  # 3 engines + ingest + projector + 2 edges + prometheus

        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        else:
            # A rebuild while `up` supervises: the projector is paused for the handover (the
            # supervisor must not restart it meanwhile) and runs again afterwards.
            rebuild = _tidewire(env, "projector", "rebuild", timeout=300)
            assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
            assert "paused" in rebuild.stdout
            assert sum("tidewire_projector" in cmd for cmd in _ours(own.home)) == 1
            down = _tidewire(env, "down")
            assert down.returncode == 0, down.stdout + down.stderr
        assert proc.wait(timeout=120) == 0
        wait_for(lambda: _ours(own.home) == [], 30, "every process of the stack to exit")
        assert proc.stdout is not None
        rest = proc.stdout.read()
        assert "exited unexpectedly" not in rest, rest  # nothing fought the rebuild's pause
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        # Services run in sessions of their own: a failed test must not leave them running.
        _tidewire(env, "down")


def test_ctrl_c_during_start_up_leaves_nothing_behind(own: StackSettings) -> None:
    """Engines run in sessions of their own, so a terminal's Ctrl-C does not reach them: the
    command must stop what it started even before the stack is up."""
    proc, _ = _start_up(own)
    try:
        _read_until(proc, "cassandra: started")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) != 0
        wait_for(lambda: _ours(own.home) == [], 60, "every process of the stack to exit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_down_keep_infra_stops_a_foreground_up_but_not_its_engines(own: StackSettings) -> None:
    proc, env = _start_up(own)
    try:
        _read_until(proc, "press Ctrl-C")
        down = _tidewire(env, "down", "--keep-infra")
        assert down.returncode == 0, down.stdout + down.stderr
        assert proc.wait(timeout=120) == 0
        left = _ours(own.home)
        assert not any("tidewire_ingest" in c or "tidewire_edge" in c for c in left), left
        assert not any("tidewire_projector" in c for c in left), left
        assert not any("prometheus" in c for c in left), left
        states = {r.name: r.state for r in infra.status(own)}
        assert states == {"redis": "running", "kafka": "running", "cassandra": "running"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_projector_that_dies_at_start_up_fails_the_up(own: StackSettings) -> None:
    """`up` waits for the projector's /readyz and then watches it for its first seconds, so
    a projector that dies at start-up (here: faust cannot make its data folder, after the
    stores opened) is an error with its log named, not "tidewire is up", and the engines this
    command started are stopped again."""
    own.home.mkdir(parents=True, exist_ok=True)
    (own.home / "projector").write_text("a file where faust wants its data folder")
    env = {**os.environ, **env_of(own)}
    env |= {"TIDEWIRE_INGEST_PORT": str(free_port())}
    env |= {"TIDEWIRE_EDGE_PORTS": f"{free_port()},{free_port()}"}
    env |= {"TIDEWIRE_PROJECTOR_PORT": str(free_port())}
    env |= {"TIDEWIRE_OUTBOUND_PORT": str(free_port())}
    try:
        up = _tidewire(env, "up", "--detach", timeout=300)
        assert up.returncode != 0, up.stdout
        assert "projector exited during start-up" in up.stderr, up.stdout + up.stderr
        assert "tidewire is up" not in up.stdout
        wait_for(lambda: _ours(own.home) == [], 60, "every process of the stack to exit")
    finally:
        _tidewire(env, "down")  # a detached stack stays up whatever this test found
