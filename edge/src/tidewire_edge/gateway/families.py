"""The four Whaticket families' socket contracts, as `../shared/whaticket/CONTRACT.md` reads
them from their source: where the token is, what its claims are called, which namespace a
company uses, which rooms the server joins at connect, whether it says `ready`, and which room
each join or leave event names.

Pure rules, no I/O: the edge verifies signatures and asks proxies; this module only maps.
Room names are the helpdesk's own (`"123"`, `"company-5-open"`); the edge keeps them apart per
company, so whatever a client asks to join, it only ever receives its own company's emits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidewire_platform.contracts import valid_id, valid_user_id
from tidewire_platform.readmodel import TICKET_STATUSES

# Statuses the families' lists join; plus adds its own.
_STATUSES = frozenset({*TICKET_STATUSES, "group", "chatbot", "nps", "lgpd"})

# `joinX` / `leaveX` argument: a ticket id or uuid, a status; anything else is refused.
_ROOM_ARG = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# ticketz's ticket rooms are its numeric ticket ids (its front end sends `${ticket.id}`): any
# other name could reach the rooms its server reserves (`company-<C>-admin`, `user-<U>`,
# `queue-<Q>-…`, `super`) past its profile and queue rules.
_TICKET_ID = re.compile(r"^[0-9]{1,20}$")


class Refused(ValueError):
    """A handshake or join the family's rules refuse; the message says why."""


@dataclass(frozen=True)
class HelpdeskUser:
    """Who a helpdesk token (or the connect proxy) says the socket is."""

    company_id: str
    user_id: str
    profile: str | None = None  # "admin", "user", …
    super: bool = False
    queues: tuple[str, ...] = ()  # the user's queue ids, when the connect proxy names them

    @property
    def admin(self) -> bool:
        return self.profile == "admin"


@dataclass(frozen=True)
class Change:
    """Rooms a client event adds and removes (counted: see `Memberships`)."""

    join: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()


@dataclass
class Memberships:
    """A socket's rooms. Counted as ticketz's server counts them (`counted`): a room is
    entered at its first join and left at its last leave, and extra leaves do nothing (its
    front end sends more leaves than joins). Otherwise Socket.IO's own rule, as the other
    families' servers have it: joining twice changes nothing and one leave leaves (plus's
    front end joins again on every connect, recovered or not)."""

    counts: dict[str, int] = field(default_factory=dict)
    counted: bool = True

    def apply(self, change: Change) -> None:
        for room in change.join:
            self.counts[room] = self.counts.get(room, 0) + 1 if self.counted else 1
        for room in change.leave:
            n = self.counts.get(room, 0) - 1
            if n > 0:
                self.counts[room] = n
            else:
                self.counts.pop(room, None)

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(self.counts)


def _arg(arg: object, what: str) -> str:
    text = str(arg) if isinstance(arg, (str, int)) and not isinstance(arg, bool) else ""
    if not _ROOM_ARG.fullmatch(text):
        raise Refused(f"{what} needs {'a ticket id' if 'ChatBox' in what else 'a status'}")
    return text


def _status(arg: object, what: str) -> str:
    status = _arg(arg, what)
    if status not in _STATUSES:
        raise Refused(f"{what} needs a status: one of {', '.join(sorted(_STATUSES))}")
    return status


def _first(query: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = query.get(key) or []
    return values[0] if values and values[0] else None


def _claim_id(claims: Mapping[str, Any], key: str) -> str | None:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value)


class Family:
    """What every family shares: a bare JWT in `query.token` (or `auth.token`), HS256 with
    the backend's secret, the namespace `/`, the three joins of the original Whaticket."""

    name = "community"
    sends_ready = False  # the server emits `ready` after its connect-time joins (ticketz)
    counts_joins = False  # joins and leaves counted per room (ticketz's CounterManager)
    # The front end renews its socket's token (ticketz, on every reconnect attempt): the edge
    # may then end a socket when its token expires. The others read the token once and their
    # own servers check it only at connect, so cutting them at expiry would end every tab's
    # live updates for good after the token's lifetime (15 minutes).
    renews_token = False
    # Every token must name its company (`companyId`): the multi-company families.
    needs_company_claim = False
    # Client events this family sends, each mapped by `join` below.
    events: tuple[str, ...] = ("joinChatBox", "joinNotification", "joinTickets")

    def token(self, auth: Any, query: Mapping[str, Sequence[str]]) -> str | None:
        if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
            return str(auth["token"])
        return _first(query, "token")

    def user(
        self, claims: Mapping[str, Any], query: Mapping[str, Sequence[str]], default_company: str
    ) -> HelpdeskUser:
        """The socket's user from a verified token's claims."""
        if self.needs_company_claim and _claim_id(claims, "companyId") is None:
            raise Refused("invalid token: no companyId claim")
        user_id = _claim_id(claims, "id")
        if user_id is None or not valid_user_id(user_id):
            raise Refused("invalid token: no user id claim (`id`)")
        company = _claim_id(claims, "companyId")
        if company is None:
            company = default_company
        if not valid_id(company):
            raise Refused("invalid token: companyId is not a company id")
        profile = claims.get("profile")
        return HelpdeskUser(
            company_id=company,
            user_id=user_id,
            profile=profile if isinstance(profile, str) else None,
            super=claims.get("super") is True,
        )

    def namespace_company(self, namespace: str, pattern: str) -> str | None:
        """The company a namespace belongs to; None for `/` (the token decides)."""
        if namespace != "/":
            raise Refused(f"namespace {namespace!r} is not served: this helpdesk uses '/'")
        return None

    def connect_rooms(self, user: HelpdeskUser) -> tuple[str, ...]:
        return ()

    def join(self, event: str, arg: object, user: HelpdeskUser) -> Change:
        """The rooms `event` (with its argument) adds or removes; `Refused` when the family's
        rules refuse it."""
        if event == "joinChatBox":
            return Change(join=(_arg(arg, event),))
        if event == "joinNotification":
            return Change(join=("notification",))
        if event == "joinTickets":
            return Change(join=(_status(arg, event),))
        raise Refused(f"unknown event {event!r}")


class Community(Family):
    """canove/whaticket-community: one company (`TIDEWIRE_GATEWAY_COMPANY_ID`), no company in
    its token, rooms `<ticketId>`, `<status>`, `notification`."""

    def user(
        self, claims: Mapping[str, Any], query: Mapping[str, Sequence[str]], default_company: str
    ) -> HelpdeskUser:
        # The original has no companies: every token belongs to the configured one, even one
        # that carries a companyId claim.
        return super().user(
            {k: v for k, v in claims.items() if k != "companyId"}, query, default_company
        )


class Saas1(Family):
    """The original Whaticket SaaS (ticketz's first commit): its front end sends
    `query = {companyId, userId}` and no token, which a server must never trust. With the
    one-line front-end fix (docs/gateway.md) it sends its token, verified like community's
    plus the `companyId` claim; the claimed `companyId`, if any, must be the token's."""

    name = "saas1"
    needs_company_claim = True

    def token(self, auth: Any, query: Mapping[str, Sequence[str]]) -> str | None:
        token = super().token(auth, query)
        if token is None:
            raise Refused(
                "saas1 front ends send no credential (only a companyId anyone can claim): add "
                "`token: JSON.parse(localStorage.getItem('token'))` to the query of "
                "frontend/src/services/socket.js"
            )
        return token

    def user(
        self, claims: Mapping[str, Any], query: Mapping[str, Sequence[str]], default_company: str
    ) -> HelpdeskUser:
        user = super().user(claims, query, default_company)
        claimed = _first(query, "companyId")
        if claimed is not None and claimed != user.company_id:
            raise Refused("the query's companyId is not the token's company")
        return user


class Ticketz(Family):
    """ticketz-oss/ticketz: one shared socket, rooms joined at connect, `ready`, joins
    authorised by profile and queues, counted leaves."""

    name = "ticketz"
    needs_company_claim = True
    sends_ready = True
    counts_joins = True
    renews_token = True
    events = (
        "joinChatBox",
        "leaveChatBox",
        "joinNotification",
        "leaveNotification",
        "joinTickets",
        "leaveTickets",
    )

    def connect_rooms(self, user: HelpdeskUser) -> tuple[str, ...]:
        c = user.company_id
        rooms = [f"company-{c}-mainchannel", f"user-{user.user_id}"]
        if user.super:
            rooms.append("super")
        if user.admin:
            rooms.append(f"company-{c}-admin")
        return tuple(rooms)

    def join(self, event: str, arg: object, user: HelpdeskUser) -> Change:
        leaving = event.startswith("leave")
        kind = event.removeprefix("leave").removeprefix("join")
        rooms = self._rooms(kind, arg, user, event)
        return Change(leave=rooms) if leaving else Change(join=rooms)

    def _rooms(self, kind: str, arg: object, user: HelpdeskUser, event: str) -> tuple[str, ...]:
        c = user.company_id
        if kind == "ChatBox":
            # ticketz checks the ticket's assignee and queues in its database; without the
            # join proxy tidewire cannot, and lets any user of the company in (docs/gateway.md),
            # but only into ticket rooms.
            ticket = _arg(arg, event)
            if not _TICKET_ID.fullmatch(ticket):
                raise Refused(f"{event} needs a numeric ticket id")
            return (ticket,)
        if kind == "Notification":
            if user.admin:
                return (f"company-{c}-notification",)
            return tuple(f"queue-{q}-notification" for q in user.queues)
        if kind == "Tickets":
            status = _status(arg, event)
            if user.admin:
                return (f"company-{c}-{status}",)
            if status != "pending":
                raise Refused(f"{event}: only admins may follow {status!r} tickets")
            return tuple(f"queue-{q}-pending" for q in user.queues)
        raise Refused(f"unknown event {event!r}")


class Plus(Family):
    """The per-company-namespace derivative: namespace `/<companyId>` (or a configured
    pattern), `query.token = "Bearer <jwt>"`, events broadcast to the whole namespace."""

    name = "plus"
    needs_company_claim = True
    events = (
        "joinChatBox",
        "joinChatBoxLeave",
        "joinNotification",
        "joinVersion",
        "joinTickets",
        "joinTicketsLeave",
        "leaveTickets",
        "leaveNotification",
    )

    def token(self, auth: Any, query: Mapping[str, Sequence[str]]) -> str | None:
        values = [v for v in query.get("token") or [] if v]
        if len(values) > 1:  # the original takes the second of a repeated `token`
            return values[1]
        raw = super().token(auth, query)
        if raw is None:
            return None
        scheme, _, rest = raw.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest.strip() else raw

    def namespace_company(self, namespace: str, pattern: str) -> str | None:
        prefix, _, suffix = pattern.partition("{company}")
        if not namespace.startswith(prefix) or not namespace.endswith(suffix):
            raise Refused(f"namespace {namespace!r} does not match {pattern!r}")
        company = namespace[len(prefix) : len(namespace) - len(suffix)]
        if not valid_id(company):
            raise Refused(f"namespace {namespace!r} names no company")
        return company

    def join(self, event: str, arg: object, user: HelpdeskUser) -> Change:
        if event in ("leaveTickets", "leaveNotification"):
            return Change()  # no handler in the original: they change nothing
        if event == "joinChatBoxLeave":
            return Change(leave=(_arg(arg, event),))
        if event == "joinTicketsLeave":
            return Change(leave=(_status(arg, event),))
        if event == "joinVersion":
            return Change(join=("version",))
        return super().join(event, arg, user)


FAMILIES: dict[str, Family] = {f.name: f for f in (Community(), Saas1(), Ticketz(), Plus())}
