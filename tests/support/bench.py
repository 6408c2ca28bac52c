"""Smoke runs of `tidewire bench …`: the real CLI in a subprocess, and its printed tables read
back as rows, for the benchmarks that print their figures rather than save them as JSON."""

from __future__ import annotations

import subprocess
import sys


def run_bench(*args: str, timeout: float = 120.0) -> str:
    """`tidewire bench <args>` as a user runs it; its stdout, once it exited 0."""
    done = subprocess.run(
        [sys.executable, "-m", "tidewire_deploy.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def tables(report: str) -> list[list[dict[str, str]]]:
    """Every markdown table in `report`, in order: its rows as {header: cell}."""
    found: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*report.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if len(block) >= 2:  # a header, its rule, and the rows
            head, rows = block[0], block[2:]
            found.append([dict(zip(head, row, strict=True)) for row in rows])
        block = []
    return found


def number(cell: str) -> int:
    """`1,234` -> 1234."""
    return int(cell.replace(",", ""))
