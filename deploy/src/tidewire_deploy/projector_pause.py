"""Pausing a projector that tidewire started, for the handover of `tidewire projector rebuild`.

`tidewire up` (and the test suite's services) run the projector as a process with a pid file
in the run directory. The pause stops it with SIGTERM (faust leaves its group and commits) and
starts it again afterwards with the same command line, environment and working directory. A
foreground `tidewire up` restarts services that stop, so a hold file next to the pid file asks
it to leave this one alone meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tidewire_deploy.layout import layout_of
from tidewire_deploy.procs import Managed, cmdline
from tidewire_platform.settings import StackSettings

MARKER = "tidewire_projector"


def hold_file(run_dir: Path, name: str) -> Path:
    """While this file exists, a foreground `tidewire up` does not restart service `name`."""
    return run_dir / f"{name}.hold"


class ManagedProjectorPause:
    def __init__(self, proc: Managed, marker: str) -> None:
        self.proc = proc
        self.marker = marker
        self._argv: list[str] = []
        self._env: dict[str, str] = {}
        self._cwd: Path | None = None

    @classmethod
    def find(cls, settings: StackSettings) -> ManagedProjectorPause | None:
        """The running projector among the processes tidewire started here, if any."""
        lay = layout_of(settings.home, settings.lib_dir)
        for pid_file in sorted(lay.run.glob("*.pid")):
            proc = Managed(pid_file.stem, lay.run, lay.logs / f"{pid_file.stem}.out")
            pid, record = proc.pid(), proc.record()
            if pid is not None and record is not None and MARKER in cmdline(pid):
                return cls(proc, record[1])
        return None

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        pid = self.proc.pid()
        if pid is None:
            return
        self._argv = cmdline(pid)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        self._env = dict(entry.decode().split("=", 1) for entry in environ if b"=" in entry)
        self._cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        hold_file(self.proc.run_dir, self.proc.name).touch()
        self.proc.stop(30.0)

    async def resume(self) -> None:
        try:
            if self._argv:
                await asyncio.to_thread(
                    self.proc.start, self._argv, self.marker, self._env, self._cwd
                )
        finally:
            hold_file(self.proc.run_dir, self.proc.name).unlink(missing_ok=True)
