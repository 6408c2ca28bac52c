"""Tickets this ingest has found, so that an agent's next message to one skips the read.

An agent's send checks only that the ticket exists in the caller's company (404 otherwise);
it needs nothing else of the document. Tickets are never deleted and never change company, so
a yes stays true and is remembered (the most recently used, bounded; as the edge's
`ticket_owners` does). That read was a Cassandra round trip on the path of every send, before
the command is in Kafka. A no is never remembered: a ticket created a moment ago is found by
the next read. Commands that need the ticket's state (a change keyed by it) still read it.
"""

from __future__ import annotations

from cachetools import LRUCache

from tidewire_platform.read_models import ReadModelReader

# (company, ticket) pairs: ~18 MB with realistic ids (tracemalloc), per ingest process. One
# busy tenant may take most of it: the others then read again, as they did before.
_REMEMBERED = 50_000


class KnownTickets:
    def __init__(self, size: int = _REMEMBERED) -> None:
        self._known: LRUCache[tuple[str, str], bool] = LRUCache(maxsize=size)

    async def exists(self, queries: ReadModelReader, company_id: str, ticket_id: str) -> bool:
        """Whether the company has the ticket: remembered, else read (a store error goes up
        as the read raised it)."""
        key = (company_id, ticket_id)
        if self._known.get(key):
            return True
        found = await queries.ticket(company_id, ticket_id) is not None
        if found:
            self._known[key] = True
        return found
