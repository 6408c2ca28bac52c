"""Who a gateway socket is: the helpdesk's own token, checked with the helpdesk's own secret,
or the helpdesk's answer through the connect proxy; and which rooms a join names, from the
family's rules or the join proxy.

A company id is never taken from what a client merely claims: it comes from a verified
signature, the namespace a verified token must match, or the helpdesk backend itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import jwt
import redis.asyncio as aioredis

from tidewire_edge.gateway.families import Change, Family, HelpdeskUser, Refused
from tidewire_edge.gateway.settings import GatewaySettings
from tidewire_platform.contracts import valid_id, valid_user_id

log = logging.getLogger("tidewire.edge.gateway")

_JOIN_CACHE = 4096  # join proxy answers kept (each a few rooms)


class ProxyUnavailable(RuntimeError):
    """A proxy (or the helpdesk's Redis) did not answer in time or answered nonsense: the
    client should retry."""


_SECRET_REREAD_S = 10.0  # a bad signature re-reads ticketz's secret at most this often
_CLOCK_SKEW_S = 30  # `iat`/`nbf` a little in the future: the helpdesk's clock may run ahead


class Gateway:
    """A family's handshake and joins, with the secret and proxies of one deployment."""

    def __init__(self, settings: GatewaySettings, family: Family, redis_url: str) -> None:
        self.conf = settings
        self.family = family
        self._redis_url = settings.redis_url or redis_url
        self._secret: str | None = settings.jwt_secret or None
        self._secret_read_at = -_SECRET_REREAD_S
        self._secret_lock = asyncio.Lock()
        self._redis: aioredis.Redis | None = None  # the helpdesk's, opened on first use
        self._http = httpx.AsyncClient(timeout=settings.proxy_timeout_s)
        self._joins: OrderedDict[tuple[str, str, str, str], tuple[float, Change]] = OrderedDict()

    async def close(self) -> None:
        await self._http.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def connect(
        self, auth: Any, query: Mapping[str, Sequence[str]], namespace: str
    ) -> tuple[HelpdeskUser, tuple[str, ...], float | None]:
        """(user, rooms joined at connect, token expiry or None) or `Refused`."""
        expected = self.family.namespace_company(namespace, self.conf.namespace_pattern)
        token = self.family.token(auth, query)
        if self.conf.connect_proxy_url:
            user, rooms = await self._ask_connect(token, query, namespace)
            expires = None
        else:
            if token is None:
                raise Refused("missing token")
            claims, expires = await self._verified(token)
            user = self.family.user(claims, query, self.conf.company_id)
            rooms = self.family.connect_rooms(user)
        if expected is not None and user.company_id != expected:
            raise Refused(f"the token's company is not the namespace's ({namespace!r})")
        return user, rooms, expires

    async def _verified(self, token: str) -> tuple[dict[str, Any], float | None]:
        secret = self._secret or await self._read_secret(force=False)
        try:
            claims = self._decode(token, secret)
        except jwt.InvalidSignatureError:
            if self.conf.jwt_secret:
                raise Refused("invalid token: bad signature") from None
            # ticketz may have rotated its secret: read it again (at most every few seconds,
            # one read for all connects: a stranger's forged tokens must not hammer the
            # helpdesk's Redis).
            fresh = await self._read_secret(force=True)
            if fresh == secret:
                raise Refused("invalid token: bad signature") from None
            secret = fresh
            try:
                claims = self._decode(token, secret)
            except jwt.InvalidTokenError as exc:
                raise Refused(f"invalid token: {exc}") from exc
        except jwt.InvalidTokenError as exc:
            raise Refused(f"invalid token: {exc}") from exc
        exp = claims.get("exp")
        expires = float(exp) + self.conf.expired_grace_s if isinstance(exp, (int, float)) else None
        if expires is not None and expires <= time.time():
            raise Refused("token expired")
        return claims, expires

    @staticmethod
    def _decode(token: str, secret: str) -> dict[str, Any]:
        # Expiry is checked by the caller, with the configured grace.
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_aud": False},
            leeway=_CLOCK_SKEW_S,
        )
        return claims

    async def _read_secret(self, force: bool) -> str:
        async with self._secret_lock:
            recent = time.monotonic() - self._secret_read_at < _SECRET_REREAD_S
            if self._secret is not None and (not force or recent):
                return self._secret
            if self._redis is None:
                self._redis = aioredis.Redis.from_url(
                    self._redis_url, socket_timeout=3, socket_connect_timeout=3
                )
            self._secret_read_at = time.monotonic()
            try:
                raw = await self._redis.get(self.conf.jwt_secret_redis_key)
            except aioredis.RedisError as exc:
                raise ProxyUnavailable("the helpdesk's Redis did not answer") from exc
            if not raw:
                # An operator-side gap (ticketz not started yet, Redis flushed): retry later,
                # not a refusal the client would give up on.
                log.warning(
                    "no helpdesk JWT secret in Redis under %r", self.conf.jwt_secret_redis_key
                )
                raise ProxyUnavailable("the helpdesk's JWT secret is not available")
            self._secret = raw.decode() if isinstance(raw, bytes) else str(raw)
            return self._secret

    async def _ask_connect(
        self, token: str | None, query: Mapping[str, Sequence[str]], namespace: str
    ) -> tuple[HelpdeskUser, tuple[str, ...]]:
        body = {
            "token": token,
            "query": {k: list(v) for k, v in query.items()},
            "namespace": namespace,
        }
        answer = await self._ask(self.conf.connect_proxy_url, body)
        company, user_id = answer.get("company_id"), answer.get("user_id")
        if not isinstance(company, (str, int)) or not valid_id(str(company)):
            raise ProxyUnavailable("connect proxy answered no valid company_id")
        if not isinstance(user_id, (str, int)) or not valid_user_id(str(user_id)):
            raise ProxyUnavailable("connect proxy answered no valid user_id")
        profile = answer.get("profile")
        queues = answer.get("queues") or []
        if not isinstance(queues, list) or len(queues) > 256:
            raise ProxyUnavailable("connect proxy answered queues that are not a list")
        user = HelpdeskUser(
            company_id=str(company),
            user_id=str(user_id),
            profile=profile if isinstance(profile, str) else None,
            super=answer.get("super") is True,
            queues=tuple(str(q) for q in queues if isinstance(q, (str, int))),
        )
        rooms = answer.get("rooms")
        if rooms is None:
            return user, self.family.connect_rooms(user)
        return user, _names(rooms, "connect proxy rooms")

    async def join(self, event: str, arg: object, user: HelpdeskUser) -> Change:
        """The rooms a join or leave changes: the join proxy's answer when one is set (cached
        briefly), else the family's own rules."""
        if not self.conf.join_proxy_url:
            return self.family.join(event, arg, user)
        key = (user.company_id, user.user_id, event, repr(arg)[:200])
        cached = self._joins.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        body = {"company": user.company_id, "user": user.user_id, "event": event, "argument": arg}
        answer = await self._ask(self.conf.join_proxy_url, body)
        change = Change(
            join=_names(answer.get("join") or [], "join proxy rooms"),
            leave=_names(answer.get("leave") or [], "join proxy rooms"),
        )
        self._joins[key] = (time.monotonic() + self.conf.proxy_cache_s, change)
        while len(self._joins) > _JOIN_CACHE:
            self._joins.popitem(last=False)
        return change

    async def _ask(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http.post(url, json=body)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise ProxyUnavailable(f"proxy {url} did not answer ({type(exc).__name__})") from exc
        if response.status_code in (401, 403):
            reason = "refused by the helpdesk"
            try:
                detail = response.json()
                if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
                    reason = detail["reason"][:200]
            except ValueError:
                pass
            raise Refused(reason)
        if response.status_code != 200:
            raise ProxyUnavailable(f"proxy {url} answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProxyUnavailable(f"proxy {url} answered no JSON") from exc
        if not isinstance(answer, dict):
            raise ProxyUnavailable(f"proxy {url} answered no JSON object")
        return answer


def _names(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 256:
        raise ProxyUnavailable(f"{what}: not a list of at most 256 names")
    names = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise ProxyUnavailable(f"{what}: {item!r} is not a room name")
        text = str(item)
        if not 0 < len(text) <= 200 or any(ord(ch) < 0x20 for ch in text):
            raise ProxyUnavailable(f"{what}: {text[:40]!r} is not a room name")
        names.append(text)
    return tuple(names)
