"""Gateway mode's cast for the e2e tests: Debian's nginx with the documented configuration,
gateway edges of one helpdesk family as processes of their own, a stand-in helpdesk backend
publishing through @tidewire/emitter, the families' own tokens, and their front ends.

Every part is real: nginx is `/usr/sbin/nginx` running `deploy/gateway/nginx.conf` as
rendered by `tidewire_deploy.gateway_proxy`; edges are `python -m tidewire_edge` with
`TIDEWIRE_GATEWAY=<family>`; the backend is Node with the emitter of `sdk/emitter`; front ends
are the official socket.io-client of the family's major version (tests/js/gateway-client.mjs).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import redis

from tests.support.jsclient import JS_DIR, Happening, JsClient
from tests.support.stack import free_port, healthy, wait_for
from tidewire_deploy.gateway_proxy import render_file
from tidewire_deploy.procs import Managed
from tidewire_platform.partitioning import partition_for
from tidewire_platform.settings import StackSettings

FAMILIES = ("community", "saas1", "ticketz", "plus")
RECOVERING = ("ticketz", "plus")  # socket.io-client >= 4.6: connection state recovery
NGINX = "/usr/sbin/nginx"
TICKETZ_SECRET_KEY = "TICKETZ_JWT_SECRET"


# -- companies and tokens ------------------------------------------------------------------


def company_id() -> str:
    """A Whaticket company id (an integer) nobody else in this run uses."""
    return str(random.randrange(10**8, 10**9))


def neighbour(company: str, partitions: int) -> str:
    """Another company on the same events partition as `company`: the edge reads both in one
    order, so once `company`'s later events arrived, the neighbour's earlier ones were read
    (and a wrong delivery of them would have happened already)."""
    want = partition_for(company, partitions)
    while True:
        other = company_id()
        if other != company and partition_for(other, partitions) == want:
            return other


def helpdesk_token(
    family: str,
    secret: str,
    *,
    user_id: int,
    company: str,
    profile: str = "admin",
    ttl_s: int = 900,
) -> str:
    """The access JWT the family's backend issues (CONTRACT.md §1): HS256, its claim names
    (`usarname` is the originals' spelling), numeric ids, `iat`/`exp` as `jsonwebtoken` sets."""
    now = int(time.time())
    claims: dict[str, Any]
    if family == "ticketz":
        claims = {
            "username": f"Agente {user_id}",
            "profile": profile,
            "super": False,
            "id": user_id,
            "companyId": int(company),
            "impersonated": False,
            "sessionId": random.randrange(1, 10**6),
            "originalUserId": None,
            "originalCompanyId": None,
            "originalSessionId": None,
        }
    else:
        claims = {"usarname": f"Agente {user_id}", "profile": profile, "id": user_id}
        if family != "community":
            claims["companyId"] = int(company)
    return jwt.encode({**claims, "iat": now, "exp": now + ttl_s}, secret, algorithm="HS256")


def ticketz_secret(settings: StackSettings) -> str:
    """ticketz's secret as its backend keeps it: 32 random characters generated once under
    `TICKETZ_JWT_SECRET` in Redis (kept if already there: other runs may share this Redis)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        candidate = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=32))
        client.set(TICKETZ_SECRET_KEY, candidate, nx=True)
        value = client.get(TICKETZ_SECRET_KEY)
        assert isinstance(value, bytes)
        return value.decode()
    finally:
        client.close()


# -- processes -----------------------------------------------------------------------------


@dataclass
class GatewayEdges:
    """Two edge nodes in gateway mode for one family, each a process of its own (as
    `stack.Services` runs platform edges), so a test can kill one and restart it."""

    settings: StackSettings
    run_dir: Path
    family: str
    env: dict[str, str]  # TIDEWIRE_GATEWAY* on top of the suite's environment
    ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))

    def managed(self, port: int) -> Managed:
        tag = f"test-{self.settings.topic_prefix}-gw-{self.family}-edge-{port}"
        return Managed(tag, self.run_dir, self.run_dir / f"{tag}.out")

    def start(self, *ports: int) -> None:
        """Start the nodes (both by default) and wait until they are healthy."""
        chosen = ports or self.ports
        for port in chosen:
            argv = [sys.executable, "-m", "tidewire_edge", "--port", str(port)]
            self.managed(port).start(argv, " ".join(argv[2:]), env={**os.environ, **self.env})
        for port in chosen:
            proc = self.managed(port)
            wait_for(
                lambda p=port, m=proc: healthy(p) or not m.running(),  # type: ignore[misc]
                60,
                f"gateway edge {port}",
            )
            assert proc.running(), f"gateway edge {port} died at start-up; see {proc.log}"

    def kill(self, port: int) -> None:
        """SIGKILL: a crash, not a shutdown."""
        self.managed(port).kill()

    def stop(self) -> None:
        for port in self.ports:
            self.managed(port).stop(grace_s=10)

    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]


@dataclass
class Nginx:
    """Debian's nginx running the documented gateway configuration in a folder of its own
    (pid, logs and temporary files there), in the foreground, on a free port."""

    folder: Path
    edges: list[str]
    backend: str
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.folder / "error.log"

    @property
    def proc(self) -> Managed:
        return Managed(f"nginx-{self.port}", self.folder, self.folder / "nginx.out")

    def _write(self, down: Iterable[str] = ()) -> None:
        site = render_file(edges=self.edges, backend=self.backend, listen=self.port, down=down)
        (self.folder / "gateway.conf").write_text(site)
        d = self.folder
        (d / "nginx.conf").write_text(
            f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    log_format gateway '$status "$upstream_addr" "$request"';
    access_log {d}/access.log gateway;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/gateway.conf;
}}
"""
        )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write()
        conf = str(self.folder / "nginx.conf")
        argv = [NGINX, "-p", str(self.folder), "-e", str(self.error_log), "-c", conf]
        self.proc.start([*argv, "-g", "daemon off;"], conf)
        wait_for(
            lambda: self._answers() or not self.proc.running(), 10, "nginx listening", every=0.05
        )
        assert self.proc.running(), f"nginx did not start: {self.error_log.read_text()}"

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/", timeout=1).status_code > 0
        except httpx.HTTPError:
            return False

    def route(self, *, down: Iterable[str] = ()) -> None:
        """Reload with these edges marked `down` (an operator draining them): new requests go
        to the others; open connections stay where they are until they close."""
        self._write(down)
        before = self.error_log.read_text().count("reconfiguring")
        pid = self.proc.pid()
        assert pid is not None, "nginx is not running"
        os.kill(pid, signal.SIGHUP)

        def reloaded() -> bool:
            text = self.error_log.read_text()
            last = text.rfind("reconfiguring")
            return text.count("reconfiguring") > before and "start worker process" in text[last:]

        wait_for(reloaded, 10, "nginx reloaded", every=0.05)

    def stop(self) -> None:
        self.proc.stop(grace_s=5)

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def logged(self) -> int:
        """Requests logged so far (a mark for `websockets`)."""
        return len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0

    def websockets(self, since: int = 0) -> list[str]:
        """The edge each WebSocket logged after line `since` ended on (the last upstream
        tried), in order; nginx logs a WebSocket when it closes."""
        ends = []
        for line in self.access_log.read_text().splitlines()[since:]:
            logged = re.fullmatch(r'(\d+) "([^"]*)" "(.*)"', line)
            assert logged, f"unexpected access log line {line!r}"
            status, upstreams, request = logged.groups()
            if status == "101" and "/socket.io/" in request:
                ends.append(upstreams.split(",")[-1].strip())  # "A, B": A failed, then B
        return ends


@dataclass
class Backend:
    """The stand-in helpdesk backend (tests/js/gateway-backend.mjs)."""

    run_dir: Path
    ingest_url: str
    publisher_token: str
    port: int = field(default_factory=free_port)

    @property
    def proc(self) -> Managed:
        tag = f"test-gw-backend-{self.port}"
        return Managed(tag, self.run_dir, self.run_dir / f"{tag}.out")

    def start(self) -> None:
        script = str(JS_DIR / "gateway-backend.mjs")
        argv = ["node", script, "--port", str(self.port), "--ingest", self.ingest_url]
        self.proc.start([*argv, "--token", self.publisher_token], f"{script} --port {self.port}")

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return not self.proc.running()

        wait_for(up, 20, "the stand-in backend")
        assert self.proc.running(), f"the stand-in backend died; see {self.proc.log}"

    def stop(self) -> None:
        self.proc.stop(grace_s=5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


# -- what a socket should get ----------------------------------------------------------------

Publication = dict[str, Any]  # {company, namespace, rooms, except, event, data}


async def publish(
    base_url: str, family: str, company: str, steps: Sequence[dict[str, Any]]
) -> list[Publication]:
    """Make the stand-in backend (reached through nginx, as the front end reaches its API)
    publish `steps`; returns what it emitted, durable in tidewire, in order."""
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(
            f"{base_url}/test/script", json={"family": family, "company": company, "steps": steps}
        )
    assert answer.status_code == 200, answer.text
    emitted: list[Publication] = answer.json()["emitted"]
    return emitted


def audience(pub: Publication, company: str, namespace: str, rooms: Iterable[str]) -> bool:
    """Socket.IO's broadcast rule, per company: a socket of `company` in `namespace` gets a
    publication without rooms, or with one of its rooms, unless it is in an `except` room."""
    mine = set(rooms)
    if pub["company"] != company or pub["namespace"] != namespace:
        return False
    if mine & set(pub["except"]):
        return False
    return not pub["rooms"] or bool(mine & set(pub["rooms"]))


def expected(
    pubs: Iterable[Publication], company: str, namespace: str, rooms: Iterable[str]
) -> list[tuple[str, Any]]:
    kept = list(rooms)
    return [(p["event"], p["data"]) for p in pubs if audience(p, company, namespace, kept)]


# -- front ends ------------------------------------------------------------------------------


class FrontEnd:
    """One browser tab of the family's front end (tests/js/gateway-client.mjs)."""

    def __init__(self, js: JsClient, family: str) -> None:
        self.js = js
        self.family = family

    @classmethod
    async def open(
        cls,
        family: str,
        url: str,
        *,
        token: str,
        company: str,
        user_id: int,
        components: Sequence[tuple[str, Sequence[Sequence[Any]]]],
        fix: bool = True,
        acks: bool = True,
    ) -> FrontEnd:
        options = {
            "token": token,
            "companyId": company,
            "userId": str(user_id),
            "fix": fix,
            "acks": acks,
            "components": [
                {"name": n, "joins": [list(j) for j in joins]} for n, joins in components
            ],
        }
        js = await JsClient.run("gateway-client.mjs", family, url, json.dumps(options))
        return cls(js, family)

    def of(self, conn: str, kind: str) -> list[Happening]:
        return [h for h in self.js.seen if h["kind"] == kind and h["conn"] == conn]

    def received(self, conn: str) -> list[tuple[str, Any]]:
        """(event, data) of every event `conn` got (but `ready`), in arrival order; each
        must carry exactly one more argument, the cursor string."""
        got = []
        for h in self.of(conn, "event"):
            if h["name"] == "ready":
                continue
            args = h["args"]
            shape = f"{h['name']} should arrive as (data, cursor); got {args}"
            assert len(args) == 2, shape
            assert isinstance(args[1], str), shape
            assert args[1], shape
            got.append((h["name"], args[0]))
        return got

    async def connected(self, conn: str, n: int = 1, within: float = 20) -> Happening:
        await self.js.wait_for(
            lambda _: len(self.of(conn, "connect")) >= n or bool(self.of(conn, "connect_error")),
            within,
            f"{conn}: connect #{n}",
        )
        errors = self.of(conn, "connect_error")
        assert len(self.of(conn, "connect")) >= n, f"{conn} refused: {errors}"
        return self.of(conn, "connect")[n - 1]

    async def reconnected(self, conn: str, n: int, within: float = 30) -> Happening:
        """The `n`-th connect of `conn`, however many failed attempts came first (a killed
        edge refuses some)."""
        await self.js.wait_for(
            lambda _: len(self.of(conn, "connect")) >= n, within, f"{conn}: connect #{n}"
        )
        return self.of(conn, "connect")[n - 1]

    async def acked(self, conn: str, count: int, within: float = 20) -> list[Happening]:
        """Wait for `count` acknowledgements of joins or leaves on `conn`."""
        await self.js.wait_for(
            lambda _: len(self.of(conn, "ack")) >= count, within, f"{conn}: {count} acks"
        )
        return self.of(conn, "ack")

    async def got(self, conn: str, predicate: Any, within: float = 30, what: str = "") -> None:
        await self.js.wait_for(
            lambda h: h["kind"] == "event" and h["conn"] == conn and predicate(h),
            within,
            f"{conn}: {what}",
        )

    async def send(self, op: str, **fields: Any) -> None:
        await self.js.send(op, **fields)

    async def close(self) -> None:
        await self.js.close()


def marker(pub_data: Any) -> Any:
    """A short name for a payload in assertion messages."""
    if isinstance(pub_data, dict):
        return {k: pub_data[k] for k in ("action", "seq", "ticketId") if k in pub_data}
    return pub_data


async def until_marker(front: FrontEnd, conn: str, event: str, seq: int) -> None:
    """Wait until `conn` got the `userUpdate` step numbered `seq` (the test's barrier)."""
    await front.got(
        conn,
        lambda h: h["name"] == event and h["args"] and h["args"][0].get("seq") == seq,
        what=f"{event} #{seq}",
    )


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))
