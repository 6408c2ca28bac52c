"""Prometheus for the local stack (`tidewire up --observe`): every process scraped at its
real port, with the alert rules the chart ships loaded as they are.

The configuration is generated into the state folder on each start (ports may change between
runs) and written as JSON, which Prometheus reads as the YAML subset it is; its data lives in
the state folder too, so `rm -rf .tidewire` forgets it with everything else. Job names start
with `tidewire-`, the prefix the rules file's selectors match (the chart narrows them to its
release instead).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tidewire_deploy.prereqs import MissingPrerequisite, prometheus

# The chart's rules, loaded as they are: `--observe` is a development feature of a source
# checkout (an installed package has no chart beside it; `rules_file` says so).
RULES = Path(__file__).resolve().parents[3] / "helm/tidewire/alerts/tidewire.rules.yaml"
PROMETHEUS_PORT = int(os.environ.get("TIDEWIRE_PROMETHEUS_PORT", "9090"))
JOB_PREFIX = "tidewire-"
# Local data is for looking at today's runs, not for keeping: a bound on the disk it takes.
RETENTION = "3d"


def rules_file(rules: Path | None = None) -> Path:
    """The alert rules `--observe` loads; missing outside a source checkout, said in one line."""
    path = RULES if rules is None else rules
    if not path.is_file():
        raise MissingPrerequisite(
            f"`tidewire up --observe` is a development feature: it loads the chart's alert "
            f"rules from a source checkout, and {path} is missing (run it from a clone)"
        )
    return path


def config(
    targets: Mapping[str, Sequence[int]], rules: Path = RULES, interval_s: float = 15.0
) -> dict[str, Any]:
    """A Prometheus configuration scraping each job's ports (job `ingest` becomes
    `tidewire-ingest`) on 127.0.0.1 at `/metrics` every `interval_s`, rules evaluated as often."""
    every = f"{round(interval_s * 1000)}ms"
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every},
        "rule_files": [str(rules.resolve())],
        "scrape_configs": [
            {
                "job_name": f"{JOB_PREFIX}{job}",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}],
            }
            for job, ports in targets.items()
        ],
    }


def write_config(path: Path, cfg: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return path


def argv(config_file: Path, data_dir: Path, port: int, binary: str | None = None) -> list[str]:
    """Prometheus on 127.0.0.1:`port` (a development stack, not a service for the network).

    The binary comes first and the configuration second, so the supervisor's marker (the
    arguments after those two) names the data folder and the port: this stack's Prometheus."""
    return [
        binary or prometheus(),
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
