"""`tidewire bench ingest --driver vegeta`: the same open-loop steps, sent by vegeta.

The Python load generator costs about as much CPU per request as the server it measures, and
both share this box's two cores, so it caps what one ingest process can be shown to do. vegeta
(Go, open loop at a fixed rate) sends pre-signed requests for a fraction of that CPU. It is
installed on first use with `go install` into `<home>/bin` (a pinned version, nothing vendored).
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from tidewire_bench.ingest import BENCH_PHONE, BENCH_SECRET, Step, describe, webhook
from tidewire_deploy.go_tools import VEGETA, ToolMissing, ensure_go_tool
from tidewire_ingest.signature import expected_signature


class DriverMissing(RuntimeError):
    """vegeta cannot be installed here (no Go toolchain, or the module proxy refused)."""


def ensure_vegeta(home: Path) -> Path:
    """The vegeta binary under `home`/bin, installed by `go install` when missing."""
    try:
        return ensure_go_tool(home, VEGETA)
    except ToolMissing as exc:
        raise DriverMissing(f"{exc}; use --driver python") from exc


def write_targets(path: Path, url: str, count: int) -> None:
    """`count` signed webhooks, each a new message, in vegeta's JSON target format."""
    with path.open("w") as out:
        for _ in range(count):
            body = webhook(BENCH_PHONE, f"wamid.{uuid.uuid4().hex}", "5511999990000")
            target = {
                "method": "POST",
                "url": url,
                "body": base64.b64encode(body).decode(),
                "header": {
                    "Content-Type": ["application/json"],
                    "X-Hub-Signature-256": [expected_signature(body, BENCH_SECRET)],
                },
            }
            out.write(json.dumps(target) + "\n")


def step(vegeta: Path, targets: Path, rps: int, seconds: float, in_flight: int) -> Step:
    """One open-loop step: `rps` requests/s for `seconds`, summarised by `vegeta report`.
    At most `in_flight` workers and connections: unbounded, vegeta opens a connection per
    waiting request once the server slows, and the connection storm is what gets measured."""
    attack = subprocess.run(
        [
            str(vegeta),
            "attack",
            "-format=json",
            f"-targets={targets}",
            f"-rate={rps}/s",
            f"-duration={seconds}s",
            "-timeout=10s",
            f"-max-workers={in_flight}",
            f"-connections={in_flight}",
        ],
        capture_output=True,
        check=True,
    )
    report = subprocess.run(
        [str(vegeta), "report", "-type=json"],
        input=attack.stdout,
        capture_output=True,
        check=True,
    )
    r = json.loads(report.stdout)
    sent = int(r["requests"])
    ok = int(r.get("status_codes", {}).get("200", 0))
    elapsed_s = (int(r["duration"]) + int(r["wait"])) / 1e9
    lat = r["latencies"]
    return Step(
        rps, sent, ok, sent - ok, ok / elapsed_s, lat["50th"] / 1e6, lat["99th"] / 1e6, failures(r)
    )


def failures(report: dict[str, Any]) -> str:
    """What went wrong in a step, from vegeta's JSON report: non-200 answers by status (0 is
    vegeta's code for no answer at all) and the distinct error messages it kept."""
    counted = Counter(
        {
            ("no answer" if code == "0" else f"HTTP {code}"): int(n)
            for code, n in (report.get("status_codes") or {}).items()
            if code != "200"
        }
    )
    kinds = describe(counted)
    messages = "; ".join((report.get("errors") or [])[:3])
    return f"{kinds} ({messages})" if kinds and messages else kinds or messages


def run(home: Path, base_url: str, rates: list[int], seconds: float, in_flight: int) -> list[Step]:
    vegeta = ensure_vegeta(home)
    url = base_url.rstrip("/") + "/webhooks/whatsapp"
    targets = (home / "run" / "bench-ingest-targets.jsonl").resolve()
    targets.parent.mkdir(parents=True, exist_ok=True)
    # Enough distinct requests for the longest step: vegeta would otherwise loop over them,
    # and a repeated wamid is a redelivery, not a new message.
    write_targets(targets, url, int(max(rates) * seconds) + 100)
    step(vegeta, targets, 50, 1.0, in_flight)  # warm-up: connections, producer
    return [step(vegeta, targets, r, seconds, in_flight) for r in rates]
