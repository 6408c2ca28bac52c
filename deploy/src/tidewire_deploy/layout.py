"""Where the local stack keeps jars, configuration, data, logs and pid files.

Everything lives under one state folder (`TIDEWIRE_HOME`, default `.tidewire/`), so `rm -rf`
of that folder is a full reset and nothing leaks into the user's home except Maven's cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    home: Path
    lib_dir: Path | None = None

    @property
    def lib(self) -> Path:
        return self.lib_dir or self.home / "lib"

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    def ensure(self) -> Layout:
        for path in (self.lib, self.conf, self.data, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True)
        return self


def layout_of(home: Path, lib_dir: Path | None = None) -> Layout:
    """The layout of a state folder, created if missing."""
    return Layout(home, lib_dir).ensure()
