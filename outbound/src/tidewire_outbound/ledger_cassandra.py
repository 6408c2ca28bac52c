"""The sends ledger (`outbound_sends`): a send is recorded as in flight before Graph is called.

`claim` writes the row with `IF NOT EXISTS` (a Paxos round), so of two deliveries of the same
message (a restart's redelivery, a twin record, two processes around a rebalance) exactly one
finds it free and may call Graph; the others see the row as it stands. `finish` records the
outcome once its command is in the commands log. A row found still in flight therefore means
a send that may have left without its outcome being recorded: the sender marks the message
unknown instead of sending it again.

`finish` is a plain write, not a second Paxos round (`IF EXISTS`): the claim alone decides who
may send, and nothing about the finish needs a condition. The delivery that won the claim
finishes the row after its claim was committed at a quorum; a twin that found it in flight
finishes it too, as `unknown`. Two such finishes are ordered by their writers' clocks, not by
when they happened: with a twin's clock ahead, the row may end `unknown` where the winner's
send was accepted. That only mislabels the ledger: later claims read a row only as finished
or not, and what agents see comes from the result commands. The only condition ever
evaluated on the row is a later claim's "does it exist", which the finish cannot change (the
row exists from the claim on), so mixing a plain write with Paxos rounds on this row cannot
let a second claim win; and that claim's Paxos read (LOCAL_SERIAL) reads a quorum, so it sees
a finish written at LOCAL_QUORUM. Where a finish can go wrong, it fails safe, never towards a
second Graph send:
- lost (the process dies before it, or the write fails): the row stays in flight, so a
  redelivery marks the message unknown, as before;
- clock skew: a plain write carries the client's timestamp, the claim its Paxos ballot's (the
  coordinator's clock). With the client's clock behind, the finish's `state` can lose to the
  claim's `in_flight`; but `finished_at`, `wamid` and `reason` are cells the claim never
  writes, so they stand whatever their timestamp, and a row with `finished_at` reads as
  finished (`Claimed.finished`) even when its `state` still says in flight: a twin is
  skipped, never sent (a client clock ahead only makes the finish win, as intended);
- the row expired before the finish (it cannot: the TTL is a day beyond the topic's
  retention): the update writes cells without a row marker, which still read as a finished
  row.

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
    """The row as another delivery left it (`claim` found it taken). `state` is the row's,
    except for a finished row whose state write lost to the claim's (a client clock behind
    Cassandra's, see the module docstring): "finished", its outcome then told by `wamid` and
    `reason`."""

    state: str
    wamid: str | None
    reason: str | None

    @property
    def finished(self) -> bool:
        """Whether its outcome was recorded (the send is over), else it may be in flight."""
        return self.state != "in_flight"


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
        self._finish = session.prepare(
            f"UPDATE {keyspace}.outbound_sends USING TTL {int(ttl_s)} SET state = ?, "
            "finished_at = ?, wamid = ?, reason = ? WHERE company_id = ? AND message_id = ?"
        )

    async def claim(self, company_id: str, message_id: str) -> Claimed | None:
        """Record the message's send as in flight; None when this call claimed it, else the
        row another delivery wrote."""
        rs = await execute(self._session, self._claim, (company_id, message_id, datetime.now(UTC)))
        if rs.was_applied:
            return None
        row = rs.one()
        state = "finished" if row.state == "in_flight" and row.finished_at else str(row.state)
        return Claimed(state, row.wamid, row.reason)

    async def finish(
        self,
        company_id: str,
        message_id: str,
        state: SendState,
        wamid: str | None,
        reason: str | None,
    ) -> None:
        """The send's outcome, once the command recording it is in the log: a plain write
        (why that is safe: the module docstring)."""
        await execute(
            self._session,
            self._finish,
            (state, datetime.now(UTC), wamid, reason, company_id, message_id),
        )
