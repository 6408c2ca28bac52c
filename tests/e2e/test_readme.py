"""The README's quick start, run as written against the real stack: its token command, its
curl webhook signed in the shell with openssl, its plain socket.io-client listener and its SDK
snippet. Only the addresses change (the test stack's ports are free ones), and the snippets
must name the addresses the README promises."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.support.jsclient import JsClient
from tests.support.markdown import REPO, parse
from tests.support.stack import Services
from tidewire_deploy.provision import provision
from tidewire_deploy.supervisor import DEMO_CONNECTION, DEMO_TENANT

pytestmark = pytest.mark.e2e

INGEST = "http://127.0.0.1:8000"
EDGE = "http://127.0.0.1:8101"
SDK_DIR = REPO / "sdk" / "js"


def _at(code: str, services: Services) -> str:
    """The snippet with the test stack's addresses in place of the README's."""
    return code.replace(INGEST, services.ingest_url).replace(EDGE, services.edge_url(0))


def _bash(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"README snippet failed: {done.stderr}\n{script}"
    return done.stdout


async def _node(code: str, folder: Path, name: str, env: dict[str, str]) -> JsClient:
    """A JS snippet as a module of the SDK's package (so `@tidewire/client` and
    socket.io-client resolve as they do for a user who installed them); every line it prints
    is a happening."""
    script = folder / f"{name}.mjs"
    # Each console.log line becomes {"kind": "line", "text": ...} for JsClient's reader.
    wrapper = folder / f"{name}-lines.mjs"
    script.write_text(code)
    wrapper.write_text(
        "const log = console.log;\n"
        "console.log = (...a) => log(JSON.stringify({kind: 'line', text: a.map(String)"
        ".join(' ')}));\n"
        "process.stdin.on('data', () => process.exit(0));\n"  # JsClient.close() says exit
        f"await import('./{script.name}');\n"
    )
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(wrapper),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=folder,
        env=env,
    )
    return JsClient(proc)


def _said(client: JsClient, text: str) -> bool:
    return any(text in h.get("text", "") for h in client.seen)


async def test_the_quick_start_delivers_the_curl_webhook_to_both_listeners(
    services: Services,
) -> None:
    readme = parse(REPO / "README.md")
    token_sh, webhook_sh = readme.snippet("token"), readme.snippet("webhook")
    socket_js, sdk_js = readme.snippet("socket"), readme.snippet("sdk")
    named = ((webhook_sh, INGEST), (sdk_js, INGEST), (socket_js, EDGE), (sdk_js, EDGE))
    for snippet, address in named:
        assert address in snippet, f"the README's snippet names {address}: {snippet}"
    said = re.search(r'"body":\s*"([^"]+)"', webhook_sh)
    assert said is not None, "the webhook snippet carries a text message"
    body = said.group(1)

    # What `tidewire up` provisions before its services start.
    await asyncio.to_thread(provision, services.settings, DEMO_TENANT, DEMO_CONNECTION)
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    token = (await asyncio.to_thread(_bash, token_sh + '\nprintf %s "$TOKEN"', env)).strip()
    assert token.count(".") == 2, f"the token snippet printed {token!r}"
    env["TOKEN"] = token

    with tempfile.TemporaryDirectory(dir=SDK_DIR, prefix=".readme-") as tmp:
        folder = Path(tmp)
        socket = await _node(_at(socket_js, services), folder, "listen", env)
        sdk = await _node(_at(sdk_js, services), folder, "inbox", env)
        try:
            await socket.wait_for(lambda h: "connected" in h.get("text", ""), what="connect")
            await sdk.wait_for(lambda h: "loaded:" in h.get("text", ""), what="inbox loaded")
            await asyncio.to_thread(_bash, _at(webhook_sh, services), env)  # curl --fail…

            await socket.wait_for(
                lambda h: f"customer: {body}" in h.get("text", ""), 30, "the customer's message"
            )
            await sdk.wait_for(
                lambda h: h.get("text", "").startswith("message create") and body in h["text"],
                30,
                "the customer's message as a change",
            )
            assert not _said(socket, "refused:"), socket.seen
        finally:
            await socket.close()
            await sdk.close()


async def test_the_openapi_pages_the_readme_names_are_served(services: Services) -> None:
    named = [
        code.removeprefix(INGEST)
        for code, _ in parse(REPO / "README.md").inline_code
        if code.startswith((f"{INGEST}/", "/")) and ("doc" in code or "openapi" in code)
    ]
    assert {"/docs", "/redoc", "/openapi.json"} <= set(named), named
    async with httpx.AsyncClient(base_url=services.ingest_url) as http:
        for path in named:
            answer = await http.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
        document = (await http.get("/openapi.json")).json()
    assert "/webhooks/whatsapp" in document["paths"]
