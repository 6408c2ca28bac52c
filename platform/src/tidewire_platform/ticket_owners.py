"""Whether a ticket belongs to a company, from the tickets read model.

The edge asks before a socket joins a ticket's room (Whaticket's `joinChatBox <ticketId>`):
room names are scoped by the token's company anyway, so a foreign id could never deliver
another company's events, but the client should hear that the ticket is not one of its own
instead of waiting in a room that stays silent. The reader opens Cassandra on first use, so a
node starts (and serves everything else) while Cassandra is down.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from tidewire_platform.cql import LazySession, cached_rows
from tidewire_platform.page_cursor import cursor_key
from tidewire_platform.read_models import ReadModelReader
from tidewire_platform.read_models_cassandra import CassandraReadModels
from tidewire_platform.settings import StackSettings

_REMEMBERED = 50_000  # tickets never change company: a yes stays true


class OwnersUnavailable(RuntimeError):
    """Cassandra did not answer; the question is open, not answered with no."""


class TicketOwners:
    def __init__(
        self, read_models: ReadModelReader, close: Callable[[], None] = lambda: None
    ) -> None:
        self._read_models = read_models
        self._close = close
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()

    @classmethod
    def on_cassandra(cls, settings: StackSettings) -> TicketOwners:
        """Owners read from the cluster, opened on first use (`close` shuts it down)."""
        session = LazySession(settings, 5.0, cached_rows)
        reader = CassandraReadModels(
            session.get, settings.cassandra_keyspace, cursor_key(settings.jwt_secret)
        )
        return cls(reader, session.close)

    def close(self) -> None:
        self._close()

    async def owns(self, company_id: str, ticket_id: str) -> bool:
        """True when the company has this ticket; raises OwnersUnavailable when unknown."""
        key = (company_id, ticket_id)
        if key in self._known:
            return True
        try:
            # A read of a keyspace a rebuild just dropped is retried by the reader itself.
            found = await self._read_models.ticket(company_id, ticket_id) is not None
            if not found:  # maybe a rebuild moved the read models since the last look
                await self._read_models.follow()
                found = await self._read_models.ticket(company_id, ticket_id) is not None
        except Exception as exc:  # the driver raises NoHostAvailable, timeouts and friends
            raise OwnersUnavailable(f"Cassandra: {exc}") from exc
        if found:
            self._known[key] = None
            if len(self._known) > _REMEMBERED:
                self._known.popitem(last=False)
        return found
