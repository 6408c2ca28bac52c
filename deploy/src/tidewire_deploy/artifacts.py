"""Engine jars, resolved from Maven Central on first use and cached under the state folder.

We ship only small POMs (in `maven/`); Maven resolves each engine's runtime closure into
`.tidewire/lib/<engine>-<version>/`. Nothing downloaded is ever committed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from tidewire_deploy.prereqs import maven

_POMS = resources.files("tidewire_deploy") / "maven"


def pom_version(engine: str, prop: str) -> str:
    """The engine version the shipped POM pins (one place to change it)."""
    text = (_POMS / engine / "pom.xml").read_text()
    match = re.search(rf"<{re.escape(prop)}>([^<]+)</{re.escape(prop)}>", text)
    if match is None:
        raise RuntimeError(f"{engine} POM does not declare <{prop}>")
    return match.group(1)


def ensure_jars(engine: str, version: str, lib_root: Path) -> Path:
    """The folder holding `engine`'s jars, fetching them first if needed (with progress)."""
    target = lib_root / f"{engine}-{version}"
    done = target / ".complete"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    pom = Path(str(_POMS / engine / "pom.xml"))
    print(f"fetching {engine} {version} jars from Maven Central (first run only)…", flush=True)
    cmd = [
        maven(),
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={target}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    fetched, tail = 0, list[str]()
    for line in proc.stdout:
        tail = [*tail[-30:], line]
        if "Downloaded from" in line:
            fetched += 1
            if sys.stdout.isatty():
                print(f"\r  {fetched} artifacts downloaded", end="", flush=True)
            elif fetched % 25 == 0:
                print(f"  {fetched} artifacts downloaded", flush=True)
    rc = proc.wait()
    if fetched and sys.stdout.isatty():
        print()
    if rc != 0:
        raise RuntimeError(f"maven could not resolve {engine} {version}:\n" + "".join(tail))
    done.write_text(version)
    print(f"  {engine}: {len(list(target.glob('*.jar')))} jars ready in {target}", flush=True)
    return target
