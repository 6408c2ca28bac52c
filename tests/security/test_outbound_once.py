"""At most once towards the customer: a send that may have reached Graph is never repeated.

Graph takes no idempotency key. A Graph API that accepts a message and then answers 500, one
that takes it and never answers within the sender's timeout, and a sender SIGKILLed while its
send is in flight must each leave exactly one request at the fake, and the message shown
`unknown` (ack -2, with the reason) through the query API and the events log, for the agent to
decide on. Against the real stack: ingest, projector, the outbound process, Kafka, Cassandra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.stack import Services
from tidewire_platform.acks import Ack
from tidewire_simulator.cloud_api import Accept, AcceptThenFail, CloudApi, Hang

# A restarted sender waits for the group to drop the killed member (its session timeout)
# before it gets the partition back; projection and the API add a little.
_RESTART_S = 90


@pytest.fixture
def released(graph: CloudApi) -> Iterator[CloudApi]:
    """The fake, with whatever still hangs answered when the test ends."""
    yield graph
    graph.release()


def _until_unknown(api: Api, ticket: str, message_id: str, timeout: float) -> dict[str, Any]:
    return dict(
        api.until(
            lambda: (m := api.message(ticket, message_id)) and m["ack"] == Ack.UNKNOWN and m,
            "the message marked unknown",
            timeout,
        )
    )


def _updates_of(api: Api, message_id: str) -> list[dict[str, Any]]:
    """The message's updates in the events log. Read models are written before events are
    appended: read after `_then_nothing_more`, whose later message's wamid is projected in a
    later batch, so every event of the first message's is in the log by then."""
    return [
        e["payload"]["message"]
        for e in api.events()
        if e["type"] == "message.updated" and e["payload"]["message"]["id"] == message_id
    ]


def _then_nothing_more(api: Api, graph: CloudApi, phone: str, ticket: str) -> list[str]:
    """Send one more message that Graph accepts and wait for its wamid: the outbound partition
    is read in order, so by then the first message's record is done with for good. Returns
    the bodies Graph received, in order."""
    graph.behave(Accept(), phone_number_id=phone)
    later = api.send(ticket, "depois")
    api.until(lambda: (m := api.message(ticket, later)) and m["wamid"], "the later wamid", 60)
    return [s.body["text"]["body"] for s in graph.seen(phone)]


def test_a_500_after_graph_accepted_is_sent_once_and_shown_unknown(
    api: Api, released: CloudApi, phone: str
) -> None:
    graph = released
    graph.behave(AcceptThenFail(), phone_number_id=phone)
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "só uma vez")
    shown = _until_unknown(api, ticket, message_id, 60)
    assert shown["error"] == "unknown: 131000: Something went wrong"
    assert shown["wamid"] is None
    sent = _then_nothing_more(api, graph, phone, ticket)
    [update] = _updates_of(api, message_id)
    assert (update["ack"], update["error"]) == (Ack.UNKNOWN, shown["error"])
    assert sent == ["só uma vez", "depois"]


def test_no_answer_within_the_timeout_is_sent_once_and_shown_unknown(
    api: Api, released: CloudApi, phone: str
) -> None:
    graph = released
    graph.behave(Hang(), phone_number_id=phone)
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "sem resposta")
    shown = _until_unknown(api, ticket, message_id, 60)  # the attempt timeout is 10 s
    assert shown["error"].startswith("unknown: no answer from the Graph API after sending")
    graph.release()
    sent = _then_nothing_more(api, graph, phone, ticket)
    [update] = _updates_of(api, message_id)
    assert update["ack"] == Ack.UNKNOWN
    assert sent == ["sem resposta", "depois"]


def test_a_sender_killed_mid_send_is_restarted_and_does_not_send_again(
    api: Api, released: CloudApi, phone: str, services: Services
) -> None:
    graph = released
    graph.behave(Hang(), phone_number_id=phone)
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "em voo")
    api.until(lambda: graph.seen(phone), "the send in flight at Graph", 60)
    try:
        services.procs["outbound"].kill()  # SIGKILL: no chance to record anything
        graph.release()  # Graph did take it: the customer has the message
    finally:
        services.start("outbound")
    shown = _until_unknown(api, ticket, message_id, _RESTART_S)
    assert shown["error"].startswith("unknown: a send of this message was in flight")
    sent = _then_nothing_more(api, graph, phone, ticket)
    assert [u["ack"] for u in _updates_of(api, message_id)] == [Ack.UNKNOWN]
    assert sent == ["em voo", "depois"]


def test_a_sender_stopped_mid_send_finishes_that_send_first(
    api: Api, released: CloudApi, phone: str, services: Services
) -> None:
    """SIGTERM (a deploy) is not a crash: the answer that comes within the attempt timeout is
    recorded, so ordinary restarts leave no unknowns behind."""
    graph = released
    graph.behave(Hang(seconds=2), phone_number_id=phone)  # a slow 200, within the timeout
    ticket = api.open_ticket("oi, preciso de ajuda")
    message_id = api.send(ticket, "devagar")
    api.until(lambda: graph.seen(phone), "the send in flight at Graph", 60)
    try:
        assert services.procs["outbound"].stop(grace_s=60)
    finally:
        services.start("outbound")
    [seen] = graph.seen(phone)
    sent = api.until(lambda: (m := api.message(ticket, message_id)) and m["wamid"], "wamid", 60)
    assert sent == seen.wamid
    assert _then_nothing_more(api, graph, phone, ticket) == ["devagar", "depois"]
