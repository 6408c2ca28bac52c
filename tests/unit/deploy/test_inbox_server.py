"""The demo inbox's server: the page, the SDK and socket.io-client's build, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tidewire_deploy import inbox

pytestmark = pytest.mark.unit


async def test_serves_the_page_its_config_and_modules_only() -> None:
    app = inbox.make_app("http://api.test", "http://edge.test")
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/demo/")).status == 200
        config = await (await client.get("/demo/config.json")).json()
        assert config == {"apiUrl": "http://api.test", "edgeUrl": "http://edge.test"}
        assert (await client.get("/src/client.js")).status == 200
        bundle = await client.get("/vendor/socket.io-client/socket.io.esm.min.js")
        assert bundle.status == 200
        for other in ("/package.json", "/node_modules/socket.io-client/package.json"):
            assert (await client.get(other)).status == 404, other
        assert (await client.get("/src/../package.json")).status in (403, 404)


def test_a_checkout_without_the_sdk_installed_has_no_inbox(tmp_path: Path) -> None:
    assert inbox.available()  # this checkout: `make` installed sdk/js
    assert not inbox.available(tmp_path)
    with pytest.raises(SystemExit, match="run `make`"):
        inbox.make_app("http://a", "http://e", tmp_path)
