"""Connection state recovery with the official socket.io-client against two real edge nodes.

Each test drops the client's connection (a network drop, not a goodbye), lets events happen
while it is away, reconnects, and checks `recovered`, the socket id and that every event
arrived exactly once and in order.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis
import socketio

from tests.support.api import Api
from tests.support.chat import Chat, open_client, reconnect
from tests.support.jsclient import JsClient
from tests.support.kafka import expire_events
from tests.support.proxy import SwitchingProxy
from tests.support.stack import Services
from tidewire_platform.tokens import issue_token

pytestmark = pytest.mark.e2e


async def test_short_drop_recovers_every_missed_event_once(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    js = await open_client(services.edge_url(0), agent_token)
    try:
        first = js.connects()[0]
        assert first["recovered"] is False
        await chat.say("a", "b")
        await chat.received_all(js)
        await js.send("drop")
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        await chat.say("c", "d", "e")  # while away
        again = await reconnect(js, 2)
        assert again["recovered"] is True
        assert again["id"] == first["id"]
        await chat.say("f")  # live again
        assert await chat.received_all(js) == ["a", "b", "c", "d", "e", "f"]
    finally:
        await js.close()


async def test_drop_before_any_event_then_three_drops_in_a_row(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    js = await open_client(services.edge_url(1), agent_token)
    try:
        for round_ in range(1, 4):
            await js.send("drop")
            await js.wait_for(
                lambda h, r=round_: len([x for x in js.seen if x["kind"] == "disconnect"]) >= r,
                what="disconnect",
            )
            await chat.say(f"away-{round_}")
            again = await reconnect(js, round_ + 1)
            assert again["recovered"] is True, f"drop #{round_}"
            assert await chat.received_all(js) == chat.sent
        assert len(js.bodies(chat.name)) == 3
    finally:
        await js.close()


async def test_reconnect_through_the_other_node(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    proxy = await SwitchingProxy(services.edge_ports[0]).start()
    js = await open_client(proxy.url, agent_token)
    try:
        await chat.say("on node A")
        await chat.received_all(js)
        await proxy.switch(services.edge_ports[1])  # the balancer moves us; the socket drops
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        await chat.say("missed 1", "missed 2")
        again = await reconnect(js, 2)
        assert again["recovered"] is True
        assert again["id"] == js.connects()[0]["id"]
        await chat.say("live on node B")
        assert await chat.received_all(js) == chat.sent
    finally:
        await js.close()
        await proxy.close()


async def test_last_event_id_replays_for_a_fresh_client(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    await chat.say("one", "two", "three")
    events = await asyncio.to_thread(api.events)
    js = await open_client(services.edge_url(0), agent_token, lastEventId=events[0]["cursor"])
    try:
        assert js.connects()[0]["recovered"] is False  # a replay, not a recovered session
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 2, what="replay")
        await chat.say("four")
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 3, what="live")
        assert js.bodies(chat.name) == ["two", "three", "four"]
    finally:
        await js.close()


async def _drop_and_expire(js: JsClient, r: redis.Redis) -> None:
    """The client's network drops, and its session outlives the recovery window."""
    pid = js.connects()[0]["pid"]
    await js.send("drop")
    await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
    assert await r.delete(f"tidewire:edge:session:{pid}") == 1


async def test_expired_session_connects_clean_and_unrecovered(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    js = await open_client(services.edge_url(0), agent_token)
    r = redis.from_url(services.settings.redis_url)
    try:
        await _drop_and_expire(js, r)
        await chat.say("while expired")
        again = await reconnect(js, 2)
        assert again["recovered"] is False
        assert again["id"] != js.connects()[0]["id"]
        resync = await js.wait_for(lambda h: h.get("name") == "tidewire:resync", what="resync")
        assert "expired" in resync["args"][0]["reason"]
        assert isinstance(resync["args"][-1], str)  # the new session's start: the new offset
        # A quiet new session that drops in turn recovers from its own start: the history
        # the client was told is lost is not replayed now.
        await js.send("drop")
        drops = lambda _: sum(h["kind"] == "disconnect" for h in js.seen) >= 2  # noqa: E731
        await js.wait_for(drops, what="the second disconnect")
        await chat.say("later")
        third = await reconnect(js, 3)
        assert third["recovered"] is True
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 1, what="the missed event")
        await chat.say("fresh")
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 2, what="live event")
        assert js.bodies(chat.name) == ["later", "fresh"]  # neither a partial nor an old replay
    finally:
        await r.aclose()
        await js.close()


async def test_an_expired_session_falls_back_to_the_clients_last_event_id(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    """The official client sends its pid on every reconnect; when that session is gone, the
    lastEventId the application also gave still replays what was missed."""
    chat = Chat(api, company)
    await chat.say("seen")
    [seen] = await asyncio.to_thread(api.events)
    js = await open_client(services.edge_url(0), agent_token, lastEventId=seen["cursor"])
    r = redis.from_url(services.settings.redis_url)
    try:
        await _drop_and_expire(js, r)
        await chat.say("missed")
        again = await reconnect(js, 2)
        assert again["recovered"] is False  # a new session, replayed from lastEventId
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 1, what="replay")
        await chat.say("live")
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 2, what="live event")
        assert js.bodies(chat.name) == ["missed", "live"]
        assert not [h for h in js.seen if h.get("name") == "tidewire:resync"]
    finally:
        await r.aclose()
        await js.close()


async def test_cursor_older_than_retention_is_not_recovered(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    js = await open_client(services.edge_url(1), agent_token)
    try:
        await chat.say("seen")
        await chat.received_all(js)
        await js.send("drop")
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        await chat.say("gone 1", "gone 2")
        await expire_events(services.settings, company)
        again = await reconnect(js, 2)
        assert again["recovered"] is False
        resync = await js.wait_for(lambda h: h.get("name") == "tidewire:resync", what="resync")
        assert "retention" in resync["args"][0]["reason"]
        assert js.bodies(chat.name) == ["seen"]
    finally:
        await js.close()


async def test_a_company_never_sees_another(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    await chat.say("private")
    [ticket] = await asyncio.to_thread(api.tickets, "pending")
    theirs = (await asyncio.to_thread(api.events))[0]["cursor"]
    intruder = issue_token(services.settings, "co-intruder", "mallory")
    spy = await open_client(services.edge_url(0), intruder, lastEventId=theirs)
    js = await open_client(services.edge_url(1), agent_token)
    beside = await open_client(services.edge_url(0), agent_token)  # the spy's node
    try:
        await spy.send("emit", event="joinChatBox", args=[ticket["id"]])
        foreign = await spy.wait_for(lambda h: h.get("name") == "error", what="refused join")
        assert "not a ticket of your company" in foreign["args"][0]["message"]
        await spy.send("emit", event="joinTickets", args=["pending"])
        await spy.send("emit", event="joinNotification", args=[])
        await spy.send("emit", event="joinTickets", args=["../company-x"])
        err = await spy.wait_for(
            lambda h: h.get("name") == "error" and "status" in h["args"][0]["message"],
            what="refused status",
        )
        assert "one of" in err["args"][0]["message"]
        await chat.say("more private")
        await js.wait_for(lambda _: "more private" in js.bodies(chat.name), what="owner event")
        await beside.wait_for(lambda _: "more private" in beside.bodies(chat.name), what="event")
        # The spy's node has sent the event to its sockets. One more request of the spy and
        # its answer: packets of one connection arrive in order, so a leak would be here now.
        await spy.send("emit", event="joinTickets", args=["../again"])
        refusals = lambda: [  # noqa: E731
            h for h in spy.seen if h.get("name") == "error" and "status" in str(h["args"])
        ]
        await spy.wait_for(lambda _: len(refusals()) >= 2, what="the last refusal")
        # The owners got it live; the spy, on the same ingest and both nodes, got nothing.
        spy_events = [
            h
            for h in spy.seen
            if h["kind"] == "event" and h["name"].startswith(f"company-{company}")
        ]
        assert spy_events == []
        assert not any(company in str(h) for h in spy.seen if h["kind"] == "event")
    finally:
        await spy.close()
        await js.close()
        await beside.close()


async def test_ack_mode_resends_until_acknowledged(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    chat = Chat(api, company)
    js = await open_client(services.edge_url(0), agent_token, acks=True)
    try:
        await chat.say("needs ack")
        await js.wait_for(lambda _: len(js.bodies(chat.name)) >= 2, 15, "a re-send")
        first = js.events(chat.name)[0]
        assert js.events(chat.name)[1] == first  # the same event, same cursor
        await js.send("emit", event="ack", args=[first[-1]])
        await chat.say("second")
        # Re-sends back off (1 s, then 2 s): when the second event has been sent three times,
        # the first would have been re-sent again had its ack been ignored. It stays settled.
        await js.wait_for(lambda _: js.bodies(chat.name).count("second") >= 3, 20, "re-sends")
        # Settled: the copies of the first that came before the second's first delivery. The
        # ack crosses one socket while the second crosses Kafka twice, so it is processed by
        # then; a re-send already on its way when the ack landed (the box may be slow to pass
        # it on) is still counted as settled, and not as ignored.
        bodies = js.bodies(chat.name)
        settled = bodies[: bodies.index("second")].count("needs ack")
        assert bodies.count("needs ack") == settled
    finally:
        await js.close()


async def test_python_socketio_client_replays_after_last_event_id(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    """python-socketio's client has no recovery of its own; lastEventId gives it the same
    guarantee: everything after its cursor, in order, then live events."""
    chat = Chat(api, company)
    await chat.say("p1", "p2", "p3")
    events = await asyncio.to_thread(api.events)
    got: list[tuple[str, str]] = []
    client = socketio.AsyncClient()
    client.on(chat.name, lambda data, cursor: got.append((data["message"]["body"], cursor)))
    await client.connect(
        services.edge_url(1),
        auth={"token": agent_token, "lastEventId": events[0]["cursor"]},
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        await chat.say("p4")
        await asyncio.to_thread(api.until, lambda: len(got) >= 3, "replayed and live events")
        assert [body for body, _ in got] == ["p2", "p3", "p4"]
        assert [cursor for _, cursor in got][:2] == [e["cursor"] for e in events[1:3]]
    finally:
        await client.disconnect()


@pytest.mark.parametrize("node", [0, 1], ids=["same node", "other node"])
async def test_a_recovered_session_evicts_its_live_twin(
    services: Services, api: Api, company: str, agent_token: str, node: int
) -> None:
    """A reconnect that recovers a session whose old transport still looks alive (half-open)
    takes its sid, and the old connection is closed, wherever it is."""
    chat = Chat(api, company)
    js = await open_client(services.edge_url(0), agent_token)
    twin = socketio.AsyncClient(reconnection=False)
    try:
        first = js.connects()[0]
        await chat.say("before")
        await chat.received_all(js)
        [cursor] = [args[-1] for args in js.events(chat.name)]
        await twin.connect(
            services.edge_url(node),
            auth={"token": agent_token, "pid": first["pid"], "offset": cursor},
            transports=["websocket"],
            wait_timeout=10,
        )
        gone = await js.wait_for(lambda h: h["kind"] == "disconnect", what="eviction")
        assert gone["reason"] == "io server disconnect"
        assert twin.get_sid() == first["id"]
    finally:
        await twin.disconnect()
        await js.close()


async def test_a_stranger_with_someones_pid_does_not_end_their_session(
    services: Services, api: Api, company: str, agent_token: str
) -> None:
    """Another user presenting a session's pid gets a fresh connection, and the session is
    still there for its owner (reading it must not consume it)."""
    chat = Chat(api, company)
    js = await open_client(services.edge_url(0), agent_token)
    stranger = socketio.AsyncClient(reconnection=False)
    try:
        first = js.connects()[0]
        await chat.say("before")
        await chat.received_all(js)
        await js.send("drop")
        await js.wait_for(lambda h: h["kind"] == "disconnect", what="disconnect")
        other = issue_token(services.settings, company, "someone-else")
        await stranger.connect(
            services.edge_url(1),
            auth={"token": other, "pid": first["pid"]},
            transports=["websocket"],
            wait_timeout=10,
        )
        assert stranger.get_sid() != first["id"]
        await chat.say("while away")
        again = await reconnect(js, 2)
        assert again["recovered"] is True
        assert again["id"] == first["id"]
        assert await chat.received_all(js) == ["before", "while away"]
    finally:
        await stranger.disconnect()
        await js.close()
