"""The Grafana dashboard, built from the metrics catalogue (`tidewire_platform.metrics`).

One panel per declared metric, grouped by service, with the query its type calls for: rates
for counters, quantiles for histograms, values for gauges. Built rather than drawn by hand so
that a metric added to the catalogue is on the dashboard by the next `make test` (a test
compares the chart's copy with what this module builds).

`python -m tidewire_deploy.dashboards` writes the chart's copy.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from tidewire_platform import metrics

CHART_COPY = Path(__file__).resolve().parents[3] / "helm/tidewire/dashboards/tidewire.json"
_SERVICES = ("ingest", "projector", "outbound", "edge")
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Every query is scoped to the chosen namespaces (a release each); series without the label
# (a Prometheus outside Kubernetes) match the default, all.
_SCOPE = '{namespace=~"$namespace"}'
_WIDTH = 12  # two panels a row on Grafana's 24-column grid
_HEIGHT = 8


@dataclass(frozen=True)
class Declared:
    """One metric of the catalogue, as the dashboard needs it."""

    name: str  # without the `_total` a counter's samples carry
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...]

    @property
    def service(self) -> str:
        """The row it belongs to: its service, or every process (`tidewire_ready`)."""
        part = self.name.split("_")[1]
        return part if part in _SERVICES else "every process"

    @property
    def samples(self) -> tuple[str, ...]:
        """The series names Prometheus stores for it."""
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return tuple(f"{self.name}_{s}" for s in ("bucket", "sum", "count"))
        return (self.name,)


def catalogue() -> list[Declared]:
    """Every metric `tidewire_platform.metrics` declares, in declaration order."""
    found: list[Declared] = []
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            kind = value._type  # prometheus_client keeps name, type and labels as attributes
            found.append(
                Declared(value._name, kind, value._documentation, tuple(value._labelnames))
            )
    return found


def queries(m: Declared) -> list[tuple[str, str]]:
    """(PromQL, legend) for one metric's panel."""
    by = ", ".join(m.labels)
    legend = "{{" + "}} {{".join(m.labels) + "}}"
    if m.kind == "counter":
        rate = f"rate({m.name}_total{_SCOPE}[$__rate_interval])"
        if m.labels:
            return [(f"sum by ({by}) ({rate})", legend)]
        return [(f"sum({rate})", "all")]
    if m.kind == "histogram":
        bucket = f"sum by (le) (rate({m.name}_bucket{_SCOPE}[$__rate_interval]))"
        return [(f"histogram_quantile({q}, {bucket})", f"p{round(q * 100)}") for q in (0.5, 0.99)]
    if m.labels:
        return [(f"max by ({by}) ({m.name}{_SCOPE})", legend)]
    return [(f"sum by (instance) ({m.name}{_SCOPE})", "{{instance}}")]


def _panel(m: Declared, panel_id: int, x: int, y: int) -> dict[str, Any]:
    unit = "s" if m.name.endswith("_seconds") else ("ops" if m.kind == "counter" else "short")
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": m.help.split(";")[0].split(" (")[0].rstrip("."),
        "description": f"{m.name} ({m.kind}): {m.help}",
        "datasource": _DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": e, "legendFormat": lg}
            for i, (e, lg) in enumerate(queries(m))
        ],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for service in ("every process", *_SERVICES):
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": service,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        mine = [m for m in catalogue() if m.service == service]
        for i, m in enumerate(mine):
            panels.append(_panel(m, len(panels) + 1, (i % 2) * _WIDTH, y + (i // 2) * _HEIGHT))
        y += ((len(mine) + 1) // 2) * _HEIGHT
    return {
        "uid": "tidewire",
        "title": "tidewire",
        "tags": ["tidewire"],
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                },
                {
                    "name": "namespace",
                    "label": "Namespace",
                    "type": "query",
                    "datasource": _DATASOURCE,
                    "query": "label_values(tidewire_ready, namespace)",
                    "refresh": 2,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CHART_COPY
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
