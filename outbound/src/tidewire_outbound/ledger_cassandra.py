"""The sends ledger (`outbound_sends`): a send is recorded as in flight before Graph is called.

`claim` writes the row with `IF NOT EXISTS` (a Paxos round), so of two deliveries of the same
message (a restart's redelivery, a twin record, two processes around a rebalance) exactly one
finds it free and may call Graph; the others see the row as it stands. `finish` records the
outcome once its command is in the commands log. A row found still in flight therefore means
a send that may have left without its outcome being recorded: the sender marks the message
unknown instead of sending it again.

Rows expire (`ttl_s`: the outbound topic's retention and a day), so the table holds what a
redelivery can still ask about, not every message ever sent; past that, the read models'
wamid or negative ack is what says a message was handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cassandra.cluster import Session

from tidewire_platform.aio import execute
from tidewire_platform.lwt import prepare_lwt

SendState = Literal["in_flight", "sent", "failed", "unknown"]


@dataclass(frozen=True)
class Claimed:
    """The row as another delivery left it (`claim` found it taken)."""

    state: str
    wamid: str | None
    reason: str | None


def ledger_ttl_s(events_retention_ms: int) -> int:
    """How long a ledger row is kept: the outbound topic's retention (that of the events)
    and a day, so no record still in the topic can outlive its row; for ever (0: no TTL)
    when the events are kept for ever, as the projector's journal then is."""
    if events_retention_ms <= 0:
        return 0
    return events_retention_ms // 1000 + 24 * 3600


class CassandraLedger:
    def __init__(self, session: Session, keyspace: str, ttl_s: int) -> None:
        self._session = session
        self._claim = prepare_lwt(
            session,
            f"INSERT INTO {keyspace}.outbound_sends (company_id, message_id, state, claimed_at) "
            f"VALUES (?, ?, 'in_flight', ?) IF NOT EXISTS USING TTL {int(ttl_s)}",
        )
        self._finish = prepare_lwt(
            session,
            f"UPDATE {keyspace}.outbound_sends USING TTL {int(ttl_s)} SET state = ?, "
            "finished_at = ?, wamid = ?, reason = ? WHERE company_id = ? AND message_id = ? "
            "IF EXISTS",
        )

    async def claim(self, company_id: str, message_id: str) -> Claimed | None:
        """Record the message's send as in flight; None when this call claimed it, else the
        row another delivery wrote."""
        rs = await execute(self._session, self._claim, (company_id, message_id, datetime.now(UTC)))
        if rs.was_applied:
            return None
        row = rs.one()
        return Claimed(str(row.state), row.wamid, row.reason)

    async def finish(
        self,
        company_id: str,
        message_id: str,
        state: SendState,
        wamid: str | None,
        reason: str | None,
    ) -> None:
        """The send's outcome, once the command recording it is in the log."""
        await execute(
            self._session,
            self._finish,
            (state, datetime.now(UTC), wamid, reason, company_id, message_id),
        )
