"""Programs the local stack needs from the machine, and one clear message when one is missing.

`make up`/`make test` install them with apt where that is possible (see scripts/install-system);
here we only find them and explain what to do when they are absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


class MissingPrerequisite(RuntimeError):
    """A program the stack needs is absent; the message says how to get it."""


_JAVA_CANDIDATES = (
    "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
    "/usr/lib/jvm/java-17-openjdk-arm64/bin/java",
    "/usr/lib/jvm/temurin-17-jdk-amd64/bin/java",
)


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=20, check=False
        ).stderr
    except OSError:
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def java17() -> str:
    """A Java 17 binary. Cassandra 5.0 runs on 11 or 17 only (its security-manager use breaks
    on 24+), so a newer default `java` is not good enough; TIDEWIRE_JAVA overrides."""
    candidates = [os.environ.get("TIDEWIRE_JAVA", "")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates += [*_JAVA_CANDIDATES, shutil.which("java") or ""]
    for java in filter(None, candidates):
        if Path(java).exists() and _java_major(java) == 17:
            return java
    raise MissingPrerequisite(
        "Java 17 not found (Cassandra 5.0 needs exactly 17). Install it with "
        "`apt-get install openjdk-17-jre-headless` or point TIDEWIRE_JAVA at a Java 17 binary."
    )


def maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingPrerequisite(
            "Maven (`mvn`) not found: it fetches the Kafka and Cassandra jars on first use. "
            "Install it with `apt-get install maven`."
        )
    return mvn


def redis_server() -> str:
    found = os.environ.get("TIDEWIRE_REDIS_SERVER") or shutil.which("redis-server")
    if not found or not Path(found).exists():
        for candidate in ("/usr/bin/redis-server", "/usr/sbin/redis-server"):
            if Path(candidate).exists():
                return candidate
        raise MissingPrerequisite(
            "redis-server not found. Install it with `apt-get install redis-server` "
            "(or set TIDEWIRE_REDIS_SERVER to its path)."
        )
    return found


def prometheus() -> str:
    """Debian's `prometheus` (`tidewire up --observe`); TIDEWIRE_PROMETHEUS overrides."""
    explicit = os.environ.get("TIDEWIRE_PROMETHEUS")
    if explicit:
        if Path(explicit).is_file():
            return explicit
        raise MissingPrerequisite(f"TIDEWIRE_PROMETHEUS={explicit} is not a file")
    for found in (shutil.which("prometheus"), "/usr/bin/prometheus"):
        if found and Path(found).is_file():
            return found
    raise MissingPrerequisite(
        "prometheus not found (`tidewire up --observe` runs it). Install it with "
        "`apt-get install prometheus` (or set TIDEWIRE_PROMETHEUS to its path)."
    )
