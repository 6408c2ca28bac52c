"""Headless Chromium (Debian's, installed by `make`) driven by Playwright, and the SDK's demo
inbox served for the test stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.stack import Services, free_port, healthy, wait_for

# Without the background-networking flags Chromium keeps reaching for Google's hosts, which
# this machine's closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = os.environ.get("TIDEWIRE_CHROMIUM") or shutil.which("chromium")
    if path is None:
        raise RuntimeError(
            "chromium not found: `make` installs Debian's (apt-get install chromium)"
        )
    return path


InboxServer = Callable[..., str]


@pytest.fixture
def inbox_server(services: Services) -> Iterator[InboxServer]:
    """Starts the demo inbox (`python -m tidewire_deploy.inbox`) against the test services;
    returns its URL. `edge=` points its pages at another edge URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(edge: str | None = None) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "tidewire_deploy.inbox", "--port", str(port)]
        argv += ["--api", services.ingest_url, "--edge", edge or services.edge_url(0)]
        procs.append(subprocess.Popen(argv))
        wait_for(lambda: healthy(port), 30, "the inbox server")
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def console_of(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions (shown when a test fails)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen
