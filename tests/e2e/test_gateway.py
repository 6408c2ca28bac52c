"""Gateway mode end to end, one family at a time (issue "Gateway mode", "Done means").

Each family's front end is reproduced as CONTRACT.md describes its socket calls, with the
socket.io-client major version it pins (3.x: community, saas1; 4.x: ticketz, plus), through
the documented nginx configuration (Debian's nginx) in front of two gateway edges and a
stand-in helpdesk backend that publishes Whaticket-shaped payloads through @tidewire/emitter.

What is checked: the family's own token opens the socket (a forged one does not), ticketz
gets `ready`, joins and leaves change exactly the family's rooms, every published payload
arrives once, unchanged, in order (a status change's removal before its update), nothing of
another company or namespace ever arrives, and, for 4.x front ends, a transport drop, the kill
of the edge and a move to the other edge come back with `recovered === true` and nothing
missing or doubled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gateway import (
    FAMILIES,
    RECOVERING,
    Backend,
    FrontEnd,
    GatewayEdges,
    Nginx,
    Publication,
    company_id,
    expected,
    helpdesk_token,
    marker,
    neighbour,
    publish,
    ticketz_secret,
    until_marker,
)
from tests.support.stack import Services, wait_for
from tidewire_platform.settings import StackSettings
from tidewire_platform.tokens import issue_publisher_token

pytestmark = pytest.mark.e2e

BARRIER = 1000  # seq of the company-wide event that ends each round of publications


@dataclass
class Gateway:
    """One family's deployment: two gateway edges behind nginx, the stand-in backend."""

    family: str
    settings: StackSettings
    edges: GatewayEdges
    nginx: Nginx
    secret: str
    fixed_company: str | None  # community: the one company of its edges

    @property
    def url(self) -> str:
        return self.nginx.url

    def companies(self) -> tuple[str, str]:
        """A company for the test, and another one read in the same order by the edges."""
        mine = self.fixed_company or company_id()
        return mine, neighbour(mine, self.settings.partitions)

    def token(self, user_id: int, company: str, profile: str = "admin") -> str:
        return helpdesk_token(
            self.family, self.secret, user_id=user_id, company=company, profile=profile
        )

    def namespace(self, company: str) -> str:
        """The namespace the family's front end connects to (plus: `/<companyId>`)."""
        return f"/{company}" if self.family == "plus" else "/"


@pytest.fixture(scope="module")
def backend(services: Services, settings: StackSettings) -> Iterator[Backend]:
    token = issue_publisher_token(settings, "stand-in-helpdesk")  # every company, as SaaS
    b = Backend(services.run_dir, services.ingest_url, token)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def gateway(
    request: pytest.FixtureRequest,
    services: Services,
    settings: StackSettings,
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    family: str = request.param
    env = {"TIDEWIRE_GATEWAY": family}
    fixed = None
    if family == "ticketz":
        secret = ticketz_secret(settings)  # the edge reads it from Redis itself
    else:
        secret = f"helpdesk-{uuid.uuid4().hex}"
        env["TIDEWIRE_GATEWAY_JWT_SECRET"] = secret
    if family == "community":
        fixed = company_id()
        env["TIDEWIRE_GATEWAY_COMPANY_ID"] = fixed
    edges = GatewayEdges(settings, services.run_dir, family, env)
    nginx = Nginx(
        Path(tmp_path_factory.mktemp(f"nginx-{family}")), edges.addresses(), backend.address
    )
    try:
        edges.start()
        nginx.start()
        yield Gateway(family, settings, edges, nginx, secret, fixed)
    finally:
        nginx.stop()
        edges.stop()


def families(*names: str) -> Any:
    return pytest.mark.parametrize("gateway", names, indirect=True)


# -- the cast of each family: its front end's components, their joins, and their rooms -----

T1, T2 = 101, 102  # ticket 101 is open, 102 pending; agent 7 is an admin
AGENT = 7


def uuid_of(ticket: int) -> str:
    return f"00000000-0000-4000-8000-{ticket:012d}"


@dataclass
class Tab:
    """A browser tab: the components mounted and the rooms each connection should be in."""

    user_id: int
    profile: str
    components: list[tuple[str, list[list[Any]]]]
    rooms: dict[str, set[str]]  # connection -> rooms (per component for 3.x, one socket 4.x)


def tab(family: str, company: str, user_id: int = AGENT, profile: str = "admin") -> Tab:
    c = company
    if family in ("community", "saas1"):
        # One connection per component (CONTRACT.md §2.1), each in its own rooms.
        components = [
            ("chat", [["joinChatBox", str(T1)]]),
            ("open", [["joinTickets", "open"]]),
            ("pending", [["joinTickets", "pending"]]),
            ("bell", [["joinNotification"]]),
            ("auth", []),  # useAuth, settings pages…: no room, only broadcasts
        ]
        rooms = {
            "chat": {str(T1)},
            "open": {"open"},
            "pending": {"pending"},
            "bell": {"notification"},
            "auth": set(),
        }
        return Tab(user_id, profile, components, rooms)
    if family == "ticketz":
        components = [
            ("messages", [["joinChatBox", str(T1)]]),
            ("ticket", [["joinChatBox", str(T1)]]),
            ("open", [["joinTickets", "open"]]),
            ("pending", [["joinTickets", "pending"]]),
            ("bell", [["joinNotification"]]),
        ]
        fixed = {f"company-{c}-mainchannel", f"user-{user_id}"}
        if profile == "admin":
            fixed |= {f"company-{c}-admin", str(T1)}
            fixed |= {f"company-{c}-open", f"company-{c}-pending", f"company-{c}-notification"}
        else:
            # No queues in the token: joinTickets("open") is refused, pending and
            # notification name the user's queue rooms (none); joinChatBox is let through.
            fixed |= {str(T1)}
        return Tab(user_id, profile, components, {"socket": fixed})
    components = [
        ("messages", [["joinChatBox", uuid_of(T1)]]),
        ("ticket", [["joinChatBox", str(T1)]]),
        ("open", [["joinTickets", "open"]]),
        ("bell", [["joinNotification"]]),
    ]
    return Tab(
        user_id, profile, components, {"socket": {uuid_of(T1), str(T1), "open", "notification"}}
    )


async def open_tab(gw: Gateway, company: str, t: Tab) -> FrontEnd:
    """Open the tab and wait until it is connected and its joins are in effect."""
    front = await FrontEnd.open(
        gw.family,
        gw.url,
        token=gw.token(t.user_id, company, t.profile),
        company=company,
        user_id=t.user_id,
        components=t.components,
    )
    for conn in t.rooms:
        joins = sum(len(j) for n, j in t.components if conn in (n, "socket"))
        await front.connected(conn)
        if joins:
            await front.acked(conn, joins)
    return front


def message(ticket: int, status: str, seq: int, body: str, **more: Any) -> dict[str, Any]:
    """A customer's message on `ticket` (appMessage create, and what goes with it)."""
    step = {"ticketId": ticket, "uuid": uuid_of(ticket), "status": status, "seq": seq}
    return {"do": "message", **step, "body": body, "at": seq * 1000, **more}


def ack(ticket: int, seq: int, body: str, room: str | None = None) -> dict[str, Any]:
    """Message `seq` of `ticket` read by the customer: appMessage update to the ticket's room
    (or to `room`: a probe of the socket's joins)."""
    step = message(ticket, "open", seq, body, **({"room": room} if room else {}))
    return {**step, "do": "messageUpdate"}


def taken(ticket: int, old: str, new: str) -> dict[str, Any]:
    """The agent takes `ticket` from `old` to `new`: its removal(s), then its update."""
    step = {"ticketId": ticket, "uuid": uuid_of(ticket), "from": old, "to": new}
    return {"do": "statusChange", **step, "userId": AGENT, "at": 3000}


def round_of() -> list[dict[str, Any]]:
    """A helpdesk moment: two messages, a ticket taken from pending to open by the agent, an
    ack of the first message."""
    return [
        message(T1, "open", 1, "Bom dia, meu pedido não chegou"),
        message(T2, "pending", 2, "Olá?"),
        taken(T2, "pending", "open"),
        ack(T1, 1, "Bom dia, meu pedido não chegou"),
    ]


def barrier(seq: int = BARRIER) -> dict[str, Any]:
    return {"do": "userUpdate", "userId": AGENT, "seq": seq}


def user_event(family: str, company: str) -> str:
    return "user" if family == "community" else f"company-{company}-user"


def assert_received(
    front: FrontEnd, conn: str, pubs: Sequence[Publication], company: str, ns: str, rooms: set[str]
) -> list[tuple[str, Any]]:
    want = expected(pubs, company, ns, rooms)
    got = front.received(conn)
    assert got == want, (
        f"{conn} (rooms {sorted(rooms)}) got {[(e, marker(d)) for e, d in got]}, "
        f"expected {[(e, marker(d)) for e, d in want]}"
    )
    return got


# -- the tests ---------------------------------------------------------------------------------


@families(*FAMILIES)
async def test_nginx_sends_sockets_to_the_edges_and_everything_else_to_the_backend(
    gateway: Gateway,
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        api = await http.get("/api/tickets?status=open&showAll=true")
        assert api.status_code == 200
        assert api.json() == {
            "backend": "stand-in helpdesk",
            "method": "GET",
            "path": "/api/tickets?status=open&showAll=true",
        }
        # An Engine.IO long-polling handshake: answered by an edge, not by the backend.
        handshake = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert handshake.status_code == 200, handshake.text
        assert handshake.text.startswith('0{"sid":'), handshake.text


@families(*FAMILIES)
async def test_a_token_the_helpdesk_did_not_sign_is_refused(gateway: Gateway) -> None:
    company, _ = gateway.companies()
    forged = helpdesk_token(
        gateway.family, f"not-the-secret-{uuid.uuid4().hex}", user_id=AGENT, company=company
    )
    front = await FrontEnd.open(
        gateway.family,
        gateway.url,
        token=forged,
        company=company,
        user_id=AGENT,
        components=[("chat", [["joinChatBox", str(T1)]])],
    )
    try:
        conn = "chat" if gateway.family in ("community", "saas1") else "socket"
        refusal = await front.js.wait_for(lambda h: h["kind"] == "connect_error", what="refusal")
        assert "token" in refusal["message"] or "signature" in refusal["message"], refusal
        assert front.of(conn, "connect") == []
    finally:
        await front.close()


@families("plus")
async def test_plus_a_token_of_another_company_is_refused_in_this_namespace(
    gateway: Gateway,
) -> None:
    company, other = gateway.companies()
    front = await FrontEnd.open(
        "plus",
        gateway.url,
        token=gateway.token(AGENT, other),  # valid, but for another company
        company=company,  # the namespace /<company>
        user_id=AGENT,
        components=[],
    )
    try:
        refusal = await front.js.wait_for(lambda h: h["kind"] == "connect_error", what="refusal")
        assert "namespace" in refusal["message"], refusal
        assert front.of("socket", "connect") == []
    finally:
        await front.close()


@families("saas1")
async def test_saas1_without_the_one_line_fix_is_refused_naming_the_file_to_change(
    gateway: Gateway,
) -> None:
    company, _ = gateway.companies()
    front = await FrontEnd.open(
        "saas1",
        gateway.url,
        token=gateway.token(AGENT, company),
        company=company,
        user_id=AGENT,
        components=[("chat", [["joinChatBox", str(T1)]])],
        fix=False,  # its front end as published: {companyId, userId} and no token
    )
    try:
        refusal = await front.js.wait_for(lambda h: h["kind"] == "connect_error", what="refusal")
        assert "frontend/src/services/socket.js" in refusal["message"], refusal
        assert front.of("chat", "connect") == []
    finally:
        await front.close()


@families("saas1")
async def test_saas1_a_claimed_company_is_never_trusted_over_the_token(gateway: Gateway) -> None:
    company, other = gateway.companies()
    front = await FrontEnd.open(
        "saas1",
        gateway.url,
        token=gateway.token(AGENT, company),  # fixed front end, but it claims another company
        company=other,
        user_id=AGENT,
        components=[("chat", [["joinChatBox", str(T1)]])],
    )
    try:
        refusal = await front.js.wait_for(lambda h: h["kind"] == "connect_error", what="refusal")
        assert "companyId" in refusal["message"], refusal
        assert front.of("chat", "connect") == []
    finally:
        await front.close()


@families(*FAMILIES)
async def test_each_connection_gets_exactly_its_rooms_payloads_once_unchanged_in_order(
    gateway: Gateway,
) -> None:
    family = gateway.family
    company, other = gateway.companies()
    mine = tab(family, company)
    tabs = [(company, mine, await open_tab(gateway, company, mine))]
    if family == "ticketz":
        agent = tab(family, company, user_id=8, profile="user")
        tabs.append((company, agent, await open_tab(gateway, company, agent)))
    if gateway.fixed_company is None:  # community's edges serve one company only
        theirs = tab(family, other)
        tabs.append((other, theirs, await open_tab(gateway, other, theirs)))
    try:
        for _, t, front in tabs:
            for conn in t.rooms:
                first = front.of(conn, "connect")[0]
                assert first["recovered"] in (False, None)  # 3.x has no recovery at all
                if family == "ticketz":
                    ready = [h for h in front.of(conn, "event") if h["name"] == "ready"]
                    assert [r["args"] for r in ready] == [[]], "ticketz: one `ready`, no args"
                if family == "plus":  # default transports, through nginx: polling first
                    assert front.of(conn, "open")[0]["transport"] == "polling"
                    upgrade = await front.js.wait_for(
                        lambda h, c=conn: h["kind"] == "upgrade" and h["conn"] == c,
                        what="the upgrade to a WebSocket",
                    )
                    assert upgrade["transport"] == "websocket"
        if family == "ticketz":
            acks = {(a["event"], a["arg"]): a["answer"] for a in tabs[1][2].of("socket", "ack")}
            assert acks[("joinTickets", "open")]["ok"] is False, acks  # not an admin
            assert acks[("joinChatBox", str(T1))]["ok"] is True, acks
        steps = round_of()
        steps.append({"do": "otherNamespace", "seq": 90})
        if family == "ticketz":
            steps.append({"do": "exceptUser", "userId": AGENT, "seq": 91})
            steps.append({"do": "whatsappUpdate", "at": 92})  # company-<C>-admin only
        pubs = await publish(gateway.url, family, company, steps)
        # The other company, at the same time: the same rooms, tickets and event shapes.
        pubs += await publish(gateway.url, family, other, [*round_of(), barrier()])
        pubs += await publish(gateway.url, family, company, [barrier()])

        for c, t, front in tabs:
            for conn in t.rooms:
                await until_marker(front, conn, user_event(family, c), BARRIER)
        for c, t, front in tabs:
            ns_c = gateway.namespace(c)
            for conn, rooms in t.rooms.items():
                assert_received(front, conn, pubs, c, ns_c, rooms)

        # The order a status change depends on, spelt out for the connection(s) that list
        # open tickets: the removal from the pending list before the update to the open one.
        main = tabs[0][2]
        conn = "open" if family in ("community", "saas1") else "socket"
        got = [
            (e, d.get("action"), d.get("ticketId") or d.get("ticket", {}).get("id"))
            for e, d in main.received(conn)
        ]
        ticket_ev = "ticket" if family == "community" else f"company-{company}-ticket"
        update = got.index((ticket_ev, "update", T2))
        if family != "community":  # community's open list is not told of the removal
            removal = next(i for i, g in enumerate(got) if g[0] == ticket_ev and g[2] == T2)
            assert removal < update
        if family in ("community", "saas1"):  # the pending list: removal(s), no update
            actions = [d["action"] for e, d in main.received("pending") if e == ticket_ev]
            want = ["delete"] if family == "community" else ["removeFromList", "delete"]
            assert actions == want
        if family == "ticketz":
            settings = [d for e, d in main.received("socket") if e == "settings"]
            assert settings == [], "the `except` room (user-7) must not get it"
            assert [d for e, d in tabs[1][2].received("socket") if e == "settings"]
            whatsapp = f"company-{company}-whatsapp"
            assert [e for e, _ in main.received("socket") if e == whatsapp] == [whatsapp]
            assert [e for e, _ in tabs[1][2].received("socket") if e == whatsapp] == []
    finally:
        for _, _, front in tabs:
            await front.close()


@families("ticketz", "plus")
@pytest.mark.parametrize("after", ["connect", "recovery"])
async def test_leaves_take_the_socket_out_of_exactly_the_family_rooms(
    gateway: Gateway, after: str
) -> None:
    """After a recovered reconnect too: ticketz's counts are kept (its front end does not
    join again), plus joins again on every `connect` and a join of a room it is in changes
    nothing (Socket.IO's rooms are sets), so one `joinChatBoxLeave` still leaves."""
    family = gateway.family
    company, _ = gateway.companies()
    ns = gateway.namespace(company)
    t = tab(family, company)
    front = await open_tab(gateway, company, t)
    probe_room = uuid_of(T1) if family == "plus" else str(T1)

    def probe(seq: int, room: str) -> dict[str, Any]:
        return ack(T1, seq, f"probe {seq}", room=room)

    try:
        want: list[tuple[str, Any]] = []
        if after == "recovery":
            await front.send("drop")
            again = await front.reconnected("socket", 2)
            assert again["recovered"] is True
            if family == "plus":  # its `connect` listeners join again
                await front.acked("socket", 2 * sum(len(j) for _, j in t.components))
        joins = len(front.of("socket", "ack"))
        # messages unmounts: ticketz counts joins (the Ticket component still holds room
        # 101); plus leaves the uuid room with joinChatBoxLeave.
        await front.send("unmount", component="messages")
        await front.acked("socket", joins + 1)
        rooms = set(t.rooms["socket"])
        if family == "plus":
            rooms.discard(uuid_of(T1))
        pubs = await publish(
            gateway.url, family, company, [probe(11, probe_room), probe(12, str(T1)), barrier(2001)]
        )
        want += expected(pubs, company, ns, rooms)
        await until_marker(front, "socket", user_event(family, company), 2001)
        got = [
            d["message"]["body"] for e, d in front.received("socket") if e.endswith("appMessage")
        ]
        assert got == (["probe 12"] if family == "plus" else ["probe 11", "probe 12"]), (
            "plus: one joinChatBoxLeave leaves the room however often it was joined (Socket.IO "
            "rooms are sets; CONTRACT.md §6.2), also after a recovered reconnect made its "
            "`connect` listeners join again; ticketz: counted (§5.3), the Ticket component "
            "still holds room 101"
        )

        # ticket and open unmount: ticketz leaves room 101 at its last leave and
        # company-<C>-open (TicketsListCustom leaves twice: the extra leave changes nothing);
        # plus's `leaveTickets` has no handler in its server: still in "open".
        await front.send("unmount", component="ticket")
        await front.send("unmount", component="open")
        extra = 3 if family == "ticketz" else 2
        await front.acked("socket", joins + 1 + extra)
        rooms.discard(str(T1))
        if family == "ticketz":
            rooms.discard(f"company-{company}-open")
        open_room = "open" if family == "plus" else f"company-{company}-open"
        pubs = await publish(
            gateway.url, family, company, [probe(13, str(T1)), probe(14, open_room), barrier(2002)]
        )
        want += expected(pubs, company, ns, rooms)
        await until_marker(front, "socket", user_event(family, company), 2002)
        assert front.received("socket") == want
        got = [
            d["message"]["body"] for e, d in front.received("socket") if e.endswith("appMessage")
        ]
        assert got[-1:] == (["probe 14"] if family == "plus" else ["probe 12"])
    finally:
        await front.close()


@families("community", "saas1")
async def test_a_3x_front_end_reconnects_joins_again_and_gets_delivery(gateway: Gateway) -> None:
    """socket.io-client 3.x has no connection state recovery (docs/gateway.md §7): after a
    drop each component's connection comes back as a new socket, joins again on `connect`
    and receives what is published from then on, in its rooms only, once."""
    family = gateway.family
    company, _ = gateway.companies()
    t = tab(family, company)
    front = await open_tab(gateway, company, t)
    try:
        first = {conn: front.of(conn, "connect")[0]["id"] for conn in t.rooms}
        await front.send("drop")
        for conn, joins in t.components:
            again = await front.reconnected(conn, 2)
            assert again["recovered"] is None  # 3.x: no such thing
            assert again["id"] != first[conn]
            if joins:
                await front.acked(conn, 2 * len(joins))
        pubs = await publish(gateway.url, family, company, [*round_of(), barrier()])
        for conn, rooms in t.rooms.items():
            await until_marker(front, conn, user_event(family, company), BARRIER)
            assert_received(front, conn, pubs, company, "/", rooms)
    finally:
        await front.close()


@families(*RECOVERING)
@pytest.mark.parametrize("disruption", ["drop", "kill", "move"])
async def test_a_4x_front_end_recovers_with_nothing_missing_or_doubled(
    gateway: Gateway, disruption: str
) -> None:
    family = gateway.family
    company, _ = gateway.companies()
    ns = gateway.namespace(company)
    first = gateway.edges.ports[0]
    a, b = gateway.edges.addresses()
    gateway.nginx.route(down=[b])  # the tab starts on the first edge
    mark = gateway.nginx.logged()
    t = tab(family, company)
    front = await open_tab(gateway, company, t)
    pubs: list[Publication] = []
    try:
        if family == "plus":
            await front.js.wait_for(lambda h: h["kind"] == "upgrade", what="upgrade")
        before = front.of("socket", "connect")[0]
        joins = len(front.of("socket", "ack"))
        pubs += await publish(gateway.url, family, company, [*round_of()[:2], barrier(3001)])
        await until_marker(front, "socket", user_event(family, company), 3001)

        if disruption == "drop":
            await front.send("drop")  # the network drops; nginx keeps it on this edge
        elif disruption == "kill":
            gateway.nginx.route(down=[])  # both edges; the first is about to die
            gateway.edges.kill(first)
        else:
            gateway.nginx.route(down=[a])  # drained: the next connection goes to the second
            await front.send("drop")
        await front.js.wait_for(lambda h: h["kind"] == "disconnect", what="the disconnect")

        # While it is away: the rest of the round, then more.
        away = [*round_of()[2:], message(T1, "open", 5, "ainda aí?"), barrier(3002)]
        pubs += await publish(gateway.url, family, company, away)
        again = await front.reconnected("socket", 2)
        assert again["recovered"] is True, front.js.seen[-5:]
        assert again["id"] == before["id"]
        await until_marker(front, "socket", user_event(family, company), 3002)

        live = [ack(T1, 5, "ainda aí?"), barrier(3003)]
        pubs += await publish(gateway.url, family, company, live)
        await until_marker(front, "socket", user_event(family, company), 3003)
        assert_received(front, "socket", pubs, company, ns, t.rooms["socket"])
        rejoins = len(front.of("socket", "ack")) - joins
        if family == "ticketz":
            assert rejoins == 0  # recovered: its front end trusts the socket kept its rooms
        await front.close()
        # Where nginx sent the two WebSockets (logged as they close): the move and the kill
        # took the tab to the other edge, the drop brought it back to its own.
        wait_for(lambda: len(gateway.nginx.websockets(mark)) >= 2, 10, "nginx's log")
        assert gateway.nginx.websockets(mark) == [a, a if disruption == "drop" else b]
    finally:
        await front.close()
        if disruption == "kill":
            gateway.edges.start(first)
        gateway.nginx.route(down=[])
