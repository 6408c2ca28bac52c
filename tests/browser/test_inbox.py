"""The demo agent inbox in headless Chromium against the real stack: what an agent sees.

The page is the SDK (sdk/js) rendered with plain DOM calls; these tests read it only through
what is on screen (elements marked `data-testid`), as an agent would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Locator, Page, Route, expect

from tests.browser.conftest import InboxServer, console_of
from tests.support import whatsapp as wa
from tests.support.api import Api
from tests.support.stack import free_port
from tidewire_simulator.cloud_api import Accept, AcceptThenFail, CloudApi

WAIT_MS = 30_000


@asynccontextmanager
async def _open_inbox(
    browser: Browser, url: str, token: str
) -> AsyncIterator[tuple[Page, list[str]]]:
    """A tab on the inbox with `token`, and its console errors; closed afterwards."""
    page = await browser.new_page()
    errors = console_of(page)
    try:
        await page.goto(f"{url}/?token={token}")
        yield page, errors
    finally:
        await page.close()


def _ticket_row(page: Page, ticket: str) -> Locator:
    return page.locator(f'[data-testid="ticket"][data-id="{ticket}"]')


async def _connection_is(page: Page, state: str) -> None:
    """The badge says live (socket up) or polling (socket down)."""
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", state, timeout=WAIT_MS
    )


async def test_an_agent_answers_a_customer_and_sees_the_ticks_move(
    browser: Browser, inbox_server: InboxServer, api: Api, agent_token: str
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket, "Oi, tudo bem?")
    async with _open_inbox(browser, inbox_server(), agent_token) as (page, errors):
        await _connection_is(page, "live")
        row = _ticket_row(page, ticket)
        await expect(row).to_contain_text("Oi, tudo bem?", timeout=WAIT_MS)
        await row.click()
        messages = page.get_by_test_id("messages").get_by_test_id("message")
        await expect(messages.filter(has_text="Oi, tudo bem?")).to_have_count(1, timeout=WAIT_MS)

        # The browser's first send is held, then answered 503 (ingest could not reach Kafka):
        # the message must show at once, and the SDK's retry must not make it twice.
        held: asyncio.Queue[Route] = asyncio.Queue()
        sends: list[str] = []

        async def hold_first(route: Route) -> None:
            sends.append(route.request.post_data_json["client_message_id"])
            if len(sends) == 1:
                await held.put(route)
            else:
                await route.continue_()

        await page.route(f"**/api/tickets/{ticket}/messages", hold_first)
        await page.get_by_test_id("composer").fill("Olá! Em que posso ajudar?")
        await page.get_by_test_id("send").click()
        first = await asyncio.wait_for(held.get(), WAIT_MS / 1000)
        mine = messages.filter(has_text="Olá! Em que posso ajudar?")
        # Optimistic: on screen while the server has not even answered...
        await expect(mine).to_have_attribute("data-state", "sending", timeout=WAIT_MS)
        await first.fulfill(status=503, headers={"retry-after": "1"}, json={"title": "busy"})
        # ...then re-sent under the same key and replaced by the fact (the clock stays until
        # WhatsApp reports a status).
        await expect(mine).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
        key = await mine.get_attribute("data-client-id")
        assert sends == [key, key]

        def sent() -> str | None:
            found = api.get(f"/api/tickets/{ticket}/messages")["messages"]
            return next((m["wamid"] for m in found if m["clientMessageId"] == key), None)

        wamid = await asyncio.to_thread(api.until, sent, "the Graph API's wamid")
        await asyncio.to_thread(api.deliver, statuses=[wa.status(wamid, "delivered")])
        await expect(mine).to_have_attribute("data-state", "delivered", timeout=WAIT_MS)
        await asyncio.to_thread(api.deliver, statuses=[wa.status(wamid, "read")])
        await expect(mine).to_have_attribute("data-state", "read", timeout=WAIT_MS)

        # The customer writes again: it appears live, once.
        await asyncio.to_thread(api.deliver, [wa.text_message("Preciso da segunda via")])
        await expect(messages.filter(has_text="Preciso da segunda via")).to_have_count(
            1, timeout=WAIT_MS
        )
        assert await mine.count() == 1  # never shown twice, pending and confirmed
        assert [e for e in errors if "503" not in e] == []  # the held send's refusal only


async def test_a_send_whose_outcome_is_unknown_shows_so_and_is_sent_again_on_retry(
    browser: Browser,
    inbox_server: InboxServer,
    api: Api,
    agent_token: str,
    graph: CloudApi,
    phone: str,
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket, "Recebeu?")
    graph.behave(AcceptThenFail(), phone_number_id=phone)
    async with _open_inbox(browser, inbox_server(), agent_token) as (page, _):
        await _ticket_row(page, ticket).click()
        messages = page.get_by_test_id("messages").get_by_test_id("message")
        await expect(messages.filter(has_text="Recebeu?")).to_have_count(1, timeout=WAIT_MS)
        await page.get_by_test_id("composer").fill("Sim, enviei")
        await page.get_by_test_id("send").click()
        mine = messages.filter(has_text="Sim, enviei")
        await expect(mine).to_have_attribute("data-state", "unknown", timeout=WAIT_MS)
        retry = mine.get_by_test_id("retry")
        await expect(retry).to_have_attribute("title", re.compile("may have reached the customer"))
        assert len(graph.seen(phone)) == 1  # nothing sent again by itself
        graph.behave(Accept(), phone_number_id=phone)
        await retry.click()
        await expect(mine).to_have_count(2, timeout=WAIT_MS)  # the old one stays, unknown
        await expect(mine.nth(0)).to_have_attribute("data-state", "unknown")
        await expect(mine.nth(1)).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
        await asyncio.to_thread(
            api.until, lambda: len(graph.seen(phone)) == 2, "the send the agent asked for"
        )
        await expect(mine.get_by_test_id("retry")).to_have_count(0)  # once per click-through


async def test_a_reload_shows_the_same_inbox_without_duplicates(
    browser: Browser, inbox_server: InboxServer, api: Api, agent_token: str
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket, "primeira")
    async with _open_inbox(browser, inbox_server(), agent_token) as (page, errors):
        row = _ticket_row(page, ticket)
        await row.click()
        messages = page.get_by_test_id("messages").get_by_test_id("message")
        await expect(messages).to_have_count(1, timeout=WAIT_MS)
        await page.reload()  # the token and the cursor come back from localStorage
        await _connection_is(page, "live")
        await asyncio.to_thread(api.deliver, [wa.text_message("segunda")])
        await _ticket_row(page, ticket).click()
        await expect(messages).to_have_text(["primeira", "segunda"], timeout=WAIT_MS)
        assert errors == []


async def test_a_reply_not_yet_accepted_when_the_page_reloads_is_sent_after_it(
    browser: Browser, inbox_server: InboxServer, api: Api, agent_token: str
) -> None:
    ticket = await asyncio.to_thread(api.open_ticket, "pode confirmar?")
    sends = f"**/api/tickets/{ticket}/messages"
    async with _open_inbox(browser, inbox_server(), agent_token) as (page, _):
        await _ticket_row(page, ticket).click()
        refused: asyncio.Queue[str] = asyncio.Queue()

        async def busy(route: Route) -> None:  # ingest cannot reach Kafka: retry in 30 s
            await refused.put(route.request.post_data_json["client_message_id"])
            await route.fulfill(status=503, headers={"retry-after": "30"}, json={"title": "busy"})

        await page.route(sends, busy)
        await page.get_by_test_id("composer").fill("Confirmado!")
        await page.get_by_test_id("send").click()
        key = await asyncio.wait_for(refused.get(), WAIT_MS / 1000)
        messages = page.get_by_test_id("messages").get_by_test_id("message")
        reply = messages.filter(has_text="Confirmado!")
        await expect(reply).to_have_attribute("data-state", "sending", timeout=WAIT_MS)
        assert await reply.get_attribute("data-client-id") == key

        # After the reload the re-send is held: the reply must be on screen before any answer.
        await page.unroute(sends)
        resent: asyncio.Queue[Route] = asyncio.Queue()
        await page.route(sends, resent.put)
        await page.reload()  # the tab's retry timer dies with the page; the reply must not
        await _ticket_row(page, ticket).click()
        request = await asyncio.wait_for(resent.get(), WAIT_MS / 1000)
        assert request.request.post_data_json["client_message_id"] == key  # the same key
        await expect(reply).to_have_attribute("data-state", "sending", timeout=WAIT_MS)
        await request.continue_()
        await expect(reply).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
        found = await asyncio.to_thread(api.get, f"/api/tickets/{ticket}/messages")
        assert [m["body"] for m in found["messages"] if m["clientMessageId"] == key] == [
            "Confirmado!"
        ]


async def test_without_a_socket_the_page_polls_and_says_so(
    browser: Browser, inbox_server: InboxServer, api: Api, agent_token: str
) -> None:
    """A proxy that kills websockets, an edge being redeployed: the page keeps showing new
    messages from `GET /api/events` and tells the agent it is offline."""
    ticket = await asyncio.to_thread(api.open_ticket, "alô")
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with _open_inbox(browser, inbox_server(edge=nowhere), agent_token) as (page, _):
        await _connection_is(page, "polling")
        await _ticket_row(page, ticket).click()
        await asyncio.to_thread(api.deliver, [wa.text_message("ainda sem socket")])
        messages = page.get_by_test_id("messages").get_by_test_id("message")
        await expect(messages.filter(has_text="ainda sem socket")).to_have_count(1, timeout=WAIT_MS)


async def test_a_bad_token_is_refused_on_screen(
    browser: Browser, inbox_server: InboxServer
) -> None:
    async with _open_inbox(browser, inbox_server(), "not-a-token") as (page, _):
        await expect(page.get_by_test_id("problem")).to_contain_text("401", timeout=WAIT_MS)
