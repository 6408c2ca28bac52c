"""Background processes owned by tidewire, tracked by pid files.

A pid file records the pid and a marker that must appear in the process's command line, so a
recycled pid belonging to somebody else is never mistaken for ours and never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Managed:
    """A named process whose pid file lives in `run_dir` and whose output goes to `log`."""

    name: str
    run_dir: Path
    log: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def record(self) -> tuple[int, str] | None:
        """(pid, marker) as the pid file has them, whether or not that process lives."""
        try:
            record = json.loads(self.pid_file.read_text())
            return int(record["pid"]), str(record["marker"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def pid(self) -> int | None:
        """The pid if the recorded process is alive and is still ours, else None."""
        record = self.record()
        if record is None:
            return None
        pid, marker = record
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
        if state == "Z" or marker not in " ".join(cmdline(pid)):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def record_self(self) -> None:
        """Record the calling process under this name (a foreground supervisor), so that
        other commands find it as they find the processes `start` launched."""
        pid = os.getpid()
        self.pid_file.write_text(json.dumps({"pid": pid, "marker": " ".join(cmdline(pid))}))

    def start(
        self,
        argv: Sequence[str],
        marker: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start detached (own session, so a terminal's Ctrl-C does not reach it directly)."""
        existing = self.pid()
        if existing is not None:
            return existing
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "marker": marker}))
        # Until the child has exec'd, /proc shows the parent's command line and pid() would
        # call the child "not ours": wait for the exec so callers never see that window.
        deadline = time.monotonic() + 10
        while self.pid() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc.pid

    def stop(self, grace_s: float = 30.0) -> bool:
        """SIGTERM, wait up to `grace_s`, then SIGKILL. True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.pid() is not None:
            _reap(pid)
            time.sleep(0.1)
        if self.pid() is not None:
            _signal(pid, signal.SIGKILL)
            while self.pid() is not None:
                _reap(pid)
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL at once (chaos tests: a crash, not a shutdown)."""
        pid = self.pid()
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            while self.pid() is not None:
                _reap(pid)
                time.sleep(0.02)


def cmdline(pid: int) -> list[str]:
    """The command line of a process (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode() for part in raw.split(b"\0") if part]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
