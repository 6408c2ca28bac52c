"""The WhatsApp Cloud API's send-message endpoint, answered the way Meta answers.

`POST /{version}/{phone_number_id}/messages` from an aiohttp server. Like Graph it checks the
bearer token first (401, code 190), then that it knows the phone number (400, code 100), then
the body (a text message, 400 code 100 otherwise). What happens next is steerable per phone
number or per recipient: `Accept` (a fresh wamid; the default), `RateLimit(n)` (429 n times,
then accept), `Fail` (a Graph error body), and two where Graph takes the message (the customer
gets it) but the sender never learns so: `AcceptThenFail` (a 500 after accepting) and `Hang`
(no answer until released, past the sender's timeout). Every request is recorded as it
arrives, accepted or not (`seen`), and every message Graph took is passed to the `on_taken`
listeners: that is where the simulation hooks its status webhooks and customers' answers.

It runs on the caller's event loop (`open`/`close`, as `tidewire simulate` does) or on a loop
in a thread of its own (`start`/`stop`, as the tests do: synchronous tests and the services'
processes can then all reach it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from tidewire_simulator.webhooks import new_wamid

T = TypeVar("T")


@dataclass(frozen=True)
class Accept:
    """200 with a new wamid."""


@dataclass(frozen=True)
class RateLimit:
    """429 (Graph code 130429) `times` times, with `Retry-After: retry_after`, then accept."""

    times: int
    retry_after: str = "0"


@dataclass(frozen=True)
class Fail:
    """A Graph error body (default: Meta's "undeliverable", code 131026) with `status`."""

    status: int = 400
    code: int = 131026
    message: str = "Message Undeliverable."
    type: str = "OAuthException"


@dataclass(frozen=True)
class AcceptThenFail:
    """Graph takes the message (it reaches the customer), then answers 500 (code 131000):
    the sender cannot know that it was sent."""


@dataclass(frozen=True)
class Hang:
    """Graph takes the message (it reaches the customer), then answers nothing for `seconds`
    or until `release()` (then its 200, long after the sender gave up waiting)."""

    seconds: float = 60.0


Behaviour = Accept | RateLimit | Fail | AcceptThenFail | Hang


@dataclass(frozen=True)
class Seen:
    """One request received, and what it answered."""

    phone_number_id: str
    authorization: str | None
    body: Any
    status: int
    wamid: str | None
    at: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Taken:
    """A message Graph took (whatever it then answered): the customer gets it."""

    phone_number_id: str
    to: str
    text: str
    wamid: str


Listener = Callable[[Taken], Coroutine[Any, Any, None]]


def access_token_of(phone_number_id: str) -> str:
    """The access token the test tenants' and the simulated companies' connections carry."""
    return f"at-{phone_number_id}"


def _error(status: int, code: int, message: str, type_: str = "OAuthException") -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": type_,
            "code": code,
            "fbtrace_id": uuid.uuid4().hex[:22],
        }
    }
    return web.json_response(body, status=status)


# Requests `seen` remembers: far more than a test sends, a bounded memory for a long run.
KEEP_SEEN = 10_000


class CloudApi:
    """The stand-in; serve it (`open` or `start`), point `TIDEWIRE_GRAPH_API_BASE` at
    `base_url`, `connect` the numbers it should know."""

    def __init__(self, version: str = "v21.0", keep: int = KEEP_SEEN) -> None:
        self.version = version
        self.host = "127.0.0.1"
        self.port = 0
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._rules: dict[tuple[str, str], Behaviour] = {}
        self._limited: dict[tuple[str, str], int] = {}  # 429s answered per rule
        # The last `keep` requests only: a simulator under `tidewire up` runs for days.
        self._seen: deque[Seen] = deque(maxlen=keep)
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()  # listeners running (kept from the GC)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None  # ends every hang (made on the server's loop)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/{self.version}"

    # -- serving ------------------------------------------------------------------------------

    async def open(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on the running loop (port 0: a free one, then in `port`)."""
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{version}/{phone}/messages", self._messages)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.host = host
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._release is not None:
            self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def start(self) -> None:
        """Serve from a loop in a thread of its own."""
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="cloud-api", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.open(), loop).result(10)

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("stop() is for a CloudApi started with start()")
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run `coro` on the server's loop (from another thread)."""
        if self._loop is None:
            raise RuntimeError("not serving yet")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def release(self) -> None:
        """Answer every hanging request now (and later ones at once, until `behave`)."""
        if self._release is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    # -- what the caller controls -------------------------------------------------------------

    def connect(self, phone_number_id: str, access_token: str) -> None:
        """Know `phone_number_id`, reachable with `access_token` only."""
        with self._lock:
            self._tokens[phone_number_id] = access_token

    def on_taken(self, listener: Listener) -> None:
        """Call `listener` (on the server's loop, as a task of its own) for every message
        Graph takes from now on."""
        with self._lock:
            self._listeners.append(listener)

    def off_taken(self, listener: Listener) -> None:
        """Stop calling `listener` (calls already running go on)."""
        with self._lock:
            self._listeners.remove(listener)

    async def settled(self) -> None:
        """Wait until every listener call under way has finished (on the server's loop)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def behave(
        self, behaviour: Behaviour, *, phone_number_id: str | None = None, to: str | None = None
    ) -> None:
        """Answer sends from `phone_number_id`, or to recipient `to`, with `behaviour`
        (a recipient's rule wins over its phone number's; the default is `Accept`)."""
        if (phone_number_id is None) == (to is None):
            raise ValueError("give exactly one of phone_number_id and to")
        key = ("phone", phone_number_id) if phone_number_id is not None else ("to", str(to))
        with self._lock:
            self._rules[key] = behaviour
            self._limited.pop(key, None)
        if self._release is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._release.clear)

    def seen(self, phone_number_id: str | None = None) -> list[Seen]:
        """Requests received so far, oldest first (those from `phone_number_id` if given):
        the last `keep` of them, all of them in a test."""
        with self._lock:
            return [s for s in self._seen if phone_number_id in (None, s.phone_number_id)]

    # -- the endpoint -------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _messages(self, request: web.Request) -> web.Response:
        phone = request.match_info["phone"]
        at = time.monotonic()
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        response, wamid, rule = self._answer(phone, request.headers.get("Authorization"), body)
        with self._lock:
            self._seen.append(
                Seen(phone, request.headers.get("Authorization"), body, response.status, wamid, at)
            )
            listeners = list(self._listeners)
        if wamid is not None:
            taken = Taken(phone, str(body["to"]), str(body["text"]["body"]), wamid)
            for listener in listeners:
                task = asyncio.get_running_loop().create_task(listener(taken))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if isinstance(rule, Hang) and self._release is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), rule.seconds)
        return response

    def _answer(
        self, phone: str, authorization: str | None, body: Any
    ) -> tuple[web.Response, str | None, Behaviour | None]:
        """Graph's order: a token it knows at all, then that token's right to the number,
        then the body; then the rule for the number or recipient."""
        to = body.get("to") if isinstance(body, dict) else None
        with self._lock:
            tokens = {f"Bearer {t}" for t in self._tokens.values()}
            if authorization not in tokens:
                return (
                    _error(401, 190, "Invalid OAuth access token - Cannot parse access token"),
                    None,
                    None,
                )
            if authorization != f"Bearer {self._tokens.get(phone)}":
                message = (
                    f"Unsupported post request. Object with ID '{phone}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation"
                )
                return _error(400, 100, message, "GraphMethodException"), None, None
            if not _valid_text_message(body):
                return _error(400, 100, "(#100) Invalid parameter"), None, None
            key = next((k for k in (("to", str(to)), ("phone", phone)) if k in self._rules), None)
            rule: Behaviour = self._rules[key] if key is not None else Accept()
            if isinstance(rule, RateLimit) and key is not None:
                answered = self._limited.get(key, 0)
                if answered < rule.times:
                    self._limited[key] = answered + 1
                    response = _error(429, 130429, "(#130429) Rate limit hit")
                    response.headers["Retry-After"] = rule.retry_after
                    return response, None, rule
        if isinstance(rule, Fail):
            return _error(rule.status, rule.code, rule.message, rule.type), None, rule
        wamid = new_wamid()
        if isinstance(rule, AcceptThenFail):
            return _error(500, 131000, "Something went wrong"), wamid, rule
        accepted = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }
        return web.json_response(accepted), wamid, rule


def _valid_text_message(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("messaging_product") == "whatsapp"
        and body.get("type") == "text"
        and isinstance(body.get("to"), str)
        and isinstance(body.get("text"), dict)
        and isinstance(body["text"].get("body"), str)
    )
