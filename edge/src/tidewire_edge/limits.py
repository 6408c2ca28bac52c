"""What one client may hold of an edge node: sockets per user and company, connects per address.

Every limit is counted on the node that holds the sockets, not across the cluster. The limits
exist to keep one user, tenant or address from taking a node's memory and CPU (the attack they
answer held 1,000 sockets and made 3,000 connects in 3 s against one node), and a node's own
count is exact, costs no Redis round trip per connect, and cannot be left stale by a node killed
with SIGKILL (a cluster-wide count in Redis would need leases refreshed by every node). Across a
cluster of N nodes a user may hold at most N times its limit, which the operator sizes knowing N.

A refusal is a Socket.IO CONNECT_ERROR whose message says which limit was hit, with its value,
and whose data carries a stable `code` for programs (see `Refused`).
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import socketio
from pydantic import IPvAnyNetwork

from tidewire_platform.tokens import Principal


class Refused(socketio.exceptions.ConnectionRefusedError):  # type: ignore[misc]
    """A CONNECT_ERROR: `message` is the reason, `data` is `{code, reason, **extra}`."""

    def __init__(self, code: str, reason: str, **extra: Any) -> None:
        super().__init__(reason, {"code": code, "reason": reason, **extra})
        self.code = code


def client_address(environ: dict[str, Any], trusted: Sequence[IPvAnyNetwork]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
    address of X-Forwarded-For that is not a trusted proxy (walking from the right, since
    everything left of the last untrusted hop may be made up by the client)."""
    peer = str(environ.get("REMOTE_ADDR") or "unknown")
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, trusted):
            return hop
    return peer


def _trusted(address: str, trusted: Sequence[IPvAnyNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address at all: never a proxy of ours
    return any(ip in net for net in trusted)


class ConnectRate:
    """At most `limit` connects per address in any `window_s`, estimated with a sliding window
    counter: the previous window's count, weighted by how much of it still overlaps, plus the
    current one's. O(1) per connect, and memory is the addresses seen in the last two windows
    (the older table is dropped whole when a window ends). Written here rather than taken from
    `limits`: its asyncio memory storage scans every key on each expiry pass and takes a lock
    per key, costs a connect storm should not pay."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._start = clock()
        self._current: Counter[str] = Counter()
        self._previous: Counter[str] = Counter()

    def hit(self, address: str) -> bool:
        """Count a connect of `address`; False (and not counted) when it is over the limit."""
        now = self._clock()
        elapsed = now - self._start
        if elapsed >= self.window_s:
            windows = int(elapsed // self.window_s)
            self._previous = self._current if windows == 1 else Counter()
            self._current = Counter()
            self._start += windows * self.window_s
            elapsed = now - self._start
        weight = 1.0 - elapsed / self.window_s
        if self._previous[address] * weight + self._current[address] >= self.limit:
            return False
        self._current[address] += 1
        return True

    def __len__(self) -> int:
        """Addresses remembered (the memory this costs)."""
        return len(self._current) + len(self._previous)


class SocketCounts:
    """Sockets held on this node per user and per company, admitted against their limits."""

    def __init__(self, per_user: int, per_company: int) -> None:
        self.per_user = per_user
        self.per_company = per_company
        self._of: dict[str, tuple[str, tuple[str, str]]] = {}  # sid -> (company, user key)
        self.users: Counter[tuple[str, str]] = Counter()
        self.companies: Counter[str] = Counter()

    def admit(self, sid: str, who: Principal) -> Refused | None:
        """Count `sid` for its user and company, or the refusal if either is full. A sid already
        counted (a recovered socket keeps its sid) is not counted twice."""
        if sid in self._of:
            return None
        user = (who.company_id, who.user_id)
        if self.users[user] >= self.per_user:
            return Refused(
                "too_many_sockets",
                f"too many sockets for this user (limit {self.per_user})",
                limit=self.per_user,
            )
        if self.companies[who.company_id] >= self.per_company:
            return Refused(
                "too_many_company_sockets",
                f"too many sockets for this company (limit {self.per_company})",
                limit=self.per_company,
            )
        self._of[sid] = (who.company_id, user)
        self.users[user] += 1
        self.companies[who.company_id] += 1
        return None

    def release(self, sid: str) -> None:
        """Forget `sid` (idempotent: a disconnect and an undone connect may both call it)."""
        counted = self._of.pop(sid, None)
        if counted is None:
            return
        company, user = counted
        _drop(self.companies, company)
        _drop(self.users, user)

    def busiest_user(self) -> int:
        return max(self.users.values(), default=0)

    def busiest_company(self) -> int:
        return max(self.companies.values(), default=0)


def _drop(table: Counter[Any], key: Any) -> None:
    """One socket fewer under `key`; a key that holds none is removed (memory follows sockets)."""
    table[key] -= 1
    if table[key] <= 0:
        del table[key]
