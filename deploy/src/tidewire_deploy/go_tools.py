"""Go tools the project builds from source on first use: `go install` of a pinned module
into `<home>/bin`. Nothing downloaded is committed; Go's own module and build caches make a
second machine-wide install quick."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

VEGETA = "github.com/tsenart/vegeta/v12@v12.13.0"
# helm v3.22.0 as the module proxy serves it (built, not downloaded: only registries answer here).
HELM = "helm.sh/helm/v3/cmd/helm@v3.22.0"


class ToolMissing(RuntimeError):
    """The tool cannot be installed here (no Go toolchain, or the module proxy refused)."""


def binary_name(module: str) -> str:
    """What `go install` names the binary: the last path element that is not a major-version
    suffix (`…/vegeta/v12` builds `vegeta`)."""
    parts = module.split("@")[0].split("/")
    if re.fullmatch(r"v[0-9]+", parts[-1]) and len(parts) > 1:
        return parts[-2]
    return parts[-1]


def ensure_go_tool(home: Path, module: str) -> Path:
    """The binary of `module` (`path/cmd/name@version`) under `home`/bin, built when missing."""
    bin_dir = (home / "bin").resolve()
    binary = bin_dir / binary_name(module)
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise ToolMissing(f"{binary.name} needs Go to install (`go` not on PATH)")
    env = {**os.environ, "GOBIN": str(bin_dir)}
    done = subprocess.run([go, "install", module], env=env, capture_output=True, text=True)
    if done.returncode != 0 or not binary.exists():
        raise ToolMissing(f"go install {module} failed: {done.stderr.strip()[-500:]}")
    return binary
