"""Whether a ticket belongs to a company, from the tickets read model.

The edge asks before a socket joins a ticket's room (Whaticket's `joinChatBox <ticketId>`):
room names are scoped by the token's company anyway, so a foreign id could never deliver
another company's events, but the client should hear that the ticket is not one of its own
instead of waiting in a room that stays silent. Opened on first use, so a node starts (and
serves everything else) while Cassandra is down.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_platform.cql import cached_rows, connect
from tidewire_platform.read_models_home import FollowedKeyspace
from tidewire_platform.settings import StackSettings

_REMEMBERED = 50_000  # tickets never change company: a yes stays true


class OwnersUnavailable(RuntimeError):
    """Cassandra did not answer; the question is open, not answered with no."""


class TicketOwners:
    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self._session: Session | None = None
        self._select: Any = None
        self._keyspace = ""
        self._active = FollowedKeyspace(settings.cassandra_keyspace)
        self._lock = asyncio.Lock()
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def owns(self, company_id: str, ticket_id: str) -> bool:
        """True when the company has this ticket; raises OwnersUnavailable when unknown."""
        key = (company_id, ticket_id)
        if key in self._known:
            return True
        try:
            try:
                found = await self._lookup(company_id, ticket_id, refresh=False)
            except Exception:  # the keyspace looked at may be one a rebuild just dropped
                found = False
            if not found:  # maybe a rebuild moved the read models since the last look
                found = await self._lookup(company_id, ticket_id, refresh=True)
        except Exception as exc:  # the driver raises NoHostAvailable, timeouts and friends
            raise OwnersUnavailable(f"Cassandra: {exc}") from exc
        if found:
            self._known[key] = None
            if len(self._known) > _REMEMBERED:
                self._known.popitem(last=False)
        return found

    async def _lookup(self, company_id: str, ticket_id: str, refresh: bool) -> bool:
        async with self._lock:
            if self._session is None:
                self._session = await asyncio.to_thread(connect, self._s, None, 5.0, cached_rows)
            session = self._session
            assert session is not None
            keyspace = await self._active.get(session, fresh=refresh)
            if keyspace != self._keyspace or self._select is None:
                self._select = await asyncio.to_thread(
                    session.prepare,
                    f"SELECT ticket_id FROM {keyspace}.tickets WHERE company_id=? AND ticket_id=?",
                )
                self._keyspace = keyspace
            select = self._select
        rows = await execute(session, select, (company_id, ticket_id))
        return rows.one() is not None

    def close(self) -> None:
        if self._session is not None:
            self._session.cluster.shutdown()
            self._session = None
