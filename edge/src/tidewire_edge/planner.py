"""Connect planning: who connects, and whether the connection starts fresh, recovers its
session or replays after `lastEventId` (plans.py lists the outcomes).

It runs before python-socketio makes a sid (recovery.RecoveringServer calls it), so the
CONNECT reply can carry the recovered session's pid and keep its sid. In gateway mode the
helpdesk's own token (or its connect proxy) says who connects, instead of a tidewire token.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from tidewire_edge.gateway.auth import Gateway, ProxyUnavailable
from tidewire_edge.gateway.families import Refused as GatewayRefused
from tidewire_edge.gateway.state import Connected, GatewayState
from tidewire_edge.limits import ConnectRate, client_address
from tidewire_edge.node import Engines
from tidewire_edge.plans import Fresh, Outcome, Plan, Recovered, Refusal, Replayed, Retry
from tidewire_edge.sessions import Session
from tidewire_edge.settings import EdgeSettings
from tidewire_platform.cursor import Cursor, CursorError
from tidewire_platform.events_log import ForeignCursor, StaleCursor
from tidewire_platform.metrics import EDGE_RECOVERIES
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import Principal, TokenError, verify_token_expiry

log = logging.getLogger("tidewire.edge.planner")


def bearer_token(auth: Any, environ: dict[str, Any]) -> str | None:
    """The token a client connects with: `auth.token`, else `?token=` (Whaticket front ends)."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return str(auth["token"])
    query = str(environ.get("QUERY_STRING", ""))
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "token" and value:
            return value
    return None


class ConnectPlanner:
    def __init__(
        self,
        stack: StackSettings,
        settings: EdgeSettings,
        engines: Engines,
        rate: ConnectRate,
        gateway: Gateway | None,
    ) -> None:
        self._stack = stack
        self._settings = settings
        self._engines = engines  # read at each call: tests swap in fakes after construction
        self._rate = rate
        self._gateway = gateway

    async def plan(self, auth: Any, environ: dict[str, Any], namespace: str = "/") -> Plan:
        outcome = await self._decide(auth if isinstance(auth, dict) else {}, environ, namespace)
        pid = outcome.session.pid if isinstance(outcome, Recovered) else uuid.uuid4().hex
        return Plan(pid=pid, namespace=namespace, outcome=outcome)

    async def _decide(
        self, auth: dict[str, Any], environ: dict[str, Any], namespace: str
    ) -> Outcome:
        pid, offset, last_id = auth.get("pid"), auth.get("offset"), auth.get("lastEventId")
        # Past the connect rate, only a connect that recovers a session gets in: it adds
        # nothing to Redis, and refusing it would strand clients reconnecting after a node
        # went away (many share an address behind a NAT; socket.io-client never retries a
        # connect_error).
        within = self._rate.hit(client_address(environ, self._settings.trusted_proxies))
        if not within and not (isinstance(pid, str) and pid):
            return self._too_many_connects()
        if not within and self._gateway is not None and not await self._known(str(pid)):
            # Checking a helpdesk token may cost the helpdesk a Redis read or a proxy call: a
            # made-up pid past the rate gets none of it.
            return self._too_many_connects()
        if self._gateway is not None:
            identified = await self._helpdesk_user(auth, environ, namespace)
        else:
            identified = self._platform_user(auth, environ)
        if not isinstance(identified, Fresh):
            return identified
        outcome = await self._recover_or_replay(identified, namespace, pid, offset, last_id)
        if not within and not isinstance(outcome, Recovered):
            return self._too_many_connects()
        if isinstance(outcome, Fresh) and outcome.failed_as is not None:
            # Counted here, once: a lastEventId fallback may have replaced a failed recovery.
            EDGE_RECOVERIES.labels(outcome.failed_as).inc()
        return outcome

    async def _known(self, pid: str) -> bool:
        try:
            return await self._engines.sessions.exists(pid)
        except Exception:
            return False

    def _platform_user(self, auth: dict[str, Any], environ: dict[str, Any]) -> Fresh | Refusal:
        """Platform mode: a tidewire token says who connects, and until when (the socket's
        clock, expiry.py: kept here, so the token is not read again once connected)."""
        try:
            who, expires = verify_token_expiry(self._stack, bearer_token(auth, environ))
            return Fresh(who, expires=expires)
        except TokenError as exc:
            return _bad_token(str(exc))

    async def _helpdesk_user(
        self, auth: dict[str, Any], environ: dict[str, Any], namespace: str
    ) -> Fresh | Refusal | Retry:
        """Gateway mode: the helpdesk's own token (or its connect proxy) says who connects."""
        assert self._gateway is not None
        query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        try:
            user, rooms, expires = await self._gateway.connect(auth, query, namespace)
        except GatewayRefused as exc:
            return _bad_token(str(exc))
        except ProxyUnavailable as exc:
            log.warning("helpdesk unavailable at connect: %s", exc)
            return Retry("temporarily unavailable (helpdesk)")
        except Exception as exc:  # a proxy's odd answer, Redis: the client retries later
            log.warning("cannot check a helpdesk connect: %r", exc)
            return Retry(f"temporarily unavailable ({type(exc).__name__})")
        who = Principal(company_id=user.company_id, user_id=user.user_id, role=None)
        return Fresh(who, Connected(user, rooms, expires))

    def _too_many_connects(self) -> Refusal:
        limit, window = self._settings.connects_per_address, self._settings.connect_window_s
        return Refusal(
            f"too many connects from this address (limit {limit} per {window:g} s)",
            {"code": "too_many_connects", "limit": limit, "window_s": window},
        )

    async def _recover_or_replay(
        self, fresh: Fresh, namespace: str, pid: Any, offset: Any, last_id: Any
    ) -> Outcome:
        try:
            if isinstance(pid, str) and pid:
                recovered = await self._recovery(fresh, namespace, pid, offset)
                if not isinstance(recovered, Fresh) or not (isinstance(last_id, str) and last_id):
                    return recovered
                # The session is gone, but the client also said where it was (the official
                # client sends its pid on every reconnect): replay after that instead.
                return await self._after(fresh, last_id)
            if isinstance(last_id, str) and last_id:
                return await self._after(fresh, last_id)
        except Exception as exc:  # Redis or Kafka failed us: a clear refusal, not silence
            log.warning("cannot plan a connection: %r", exc)
            EDGE_RECOVERIES.labels("failed").inc()
            return Retry(f"temporarily unavailable ({type(exc).__name__})")
        return fresh

    async def _recovery(
        self, fresh: Fresh, namespace: str, pid: str, offset: Any
    ) -> Fresh | Recovered:
        sessions = self._engines.sessions
        session = await sessions.take(pid)
        if session is None:
            resync = "session expired or unknown; state was not recovered"
            return dataclasses.replace(fresh, failed_as="expired", resync=resync)
        who = fresh.who
        if (session.company_id, session.user_id) != (who.company_id, who.user_id) or (
            GatewayState.of(session).namespace != namespace
        ):
            await sessions.save(session)  # its owner's still: a stranger must not end it
            resync = "session belongs to another user; state was not recovered"
            return dataclasses.replace(fresh, failed_as="foreign", resync=resync)
        try:
            return await self._resume(fresh, session, offset)
        except Exception:
            # Taken from Redis but not resumed: put it back, or a passing error (a Kafka
            # leader election) would have lost a session the client can still recover.
            await sessions.save(session)
            raise

    async def _resume(self, fresh: Fresh, session: Session, offset: Any) -> Fresh | Recovered:
        after = None
        if isinstance(offset, str):
            try:
                after = Cursor.decode(offset)
            except CursorError:
                after = None  # a trailing string that was not ours: use the session's position
        start = Cursor.decode(session.position) if session.position is not None else None
        if start is not None and (after is None or _before(after, start)):
            # The client's offset predates this session: it kept it through a resync (the
            # official client only moves its offset on events). Everything before the
            # session's start was given up then; replaying it now would repeat history.
            after = start
        problem = await self._replayable(fresh.who.company_id, after)
        if problem is not None:
            return dataclasses.replace(fresh, failed_as="stale", resync=problem)
        return Recovered(fresh.who, fresh.gateway, session, after, fresh.expires)

    async def _after(self, fresh: Fresh, last_id: str) -> Fresh | Replayed:
        try:
            after = Cursor.decode(last_id)
        except CursorError:
            resync = "lastEventId is not a tidewire cursor; nothing replayed"
            return dataclasses.replace(fresh, failed_as="invalid", resync=resync)
        problem = await self._replayable(fresh.who.company_id, after)
        if problem is not None:
            return dataclasses.replace(fresh, failed_as="stale", resync=problem)
        return Replayed(fresh.who, fresh.gateway, after, fresh.expires)

    async def _replayable(self, company_id: str, after: Cursor | None) -> str | None:
        """Why replaying after `after` is impossible, or None. Never a partial replay."""
        events = self._engines.events
        try:
            if after is not None:
                events.check(company_id, after)
            first, end = await events.bounds(company_id)
        except StaleCursor as exc:
            return str(exc)
        if after is None:
            return None if first == 0 else "session older than the events log's retention"
        if after.offset + 1 < first:
            return "cursor is older than the events log's retention; resync"
        if after.offset >= end:
            return str(ForeignCursor("cursor points past the end of the events log"))
        return None


def _bad_token(reason: str) -> Refusal:
    code = "token_expired" if reason == "token expired" else "token_invalid"
    return Refusal(reason, {"code": code})


def _before(cursor: Cursor, start: Cursor) -> bool:
    """Whether `cursor` lies before a session's `start` (another epoch or partition counts
    as before: the session's own position is the one this log still knows)."""
    return (cursor.epoch, cursor.partition) != (start.epoch, start.partition) or (
        cursor.offset < start.offset
    )
