"""The inbox as a newcomer first meets it: the WhatsApp simulator plays Meta for a company of
the test stack, its customers' conversations arrive on screen, and an agent's reply typed
there gets ✓, ✓✓ and the blue ✓✓ of `read` from the simulator's status webhooks.

Everything the simulator sends goes through ingest's signed webhook endpoint, and the reply
leaves through the real outbound sender to the simulator's Graph API stand-in (the suite's
`graph`). With TIDEWIRE_SCREENSHOT set (`make screenshot`) the inbox is saved there as the
README's picture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import InboxServer, console_of
from tests.support.api import SECRET
from tests.support.stack import Services
from tidewire_simulator.cloud_api import CloudApi, access_token_of
from tidewire_simulator.customers import THANKS
from tidewire_simulator.simulation import Company, Pace, Simulation

WAIT_MS = 30_000
REPLY = "Thanks for writing! Let me check that for you."

# Every state the reply's row shows, in order, recorded by the page itself: the ticks can
# change faster than a poll from here would notice.
RECORD_STATES = """(text) => {
  window.__states = [];
  const record = () => {
    const row = [...document.querySelectorAll('#messages [data-testid="message"]')]
      .find((li) => li.textContent.includes(text));
    const state = row?.dataset.state;
    if (state && window.__states.at(-1) !== state) window.__states.push(state);
  };
  new MutationObserver(record).observe(document.getElementById("messages"),
    { childList: true, subtree: true, attributes: true });
}"""


@pytest.fixture
def simulation(
    services: Services, graph: CloudApi, company: str, phone: str
) -> Iterator[Simulation]:
    """The simulator for the test's company, on the suite's Cloud API stand-in: three
    customers writing about once a second in all, no failures, every reply answered."""
    simulated = Company(
        company, "Test company", phone, "15550001111", f"vt-{phone}", SECRET, access_token_of(phone)
    )
    pace = Pace(rate=1.0, customers=3, failure_rate=0.0, answer_rate=1.0, seed=19)
    sim = Simulation(graph, services.ingest_url, [simulated], pace)
    graph.submit(sim.start()).result(10)
    try:
        yield sim
    finally:
        graph.submit(sim.stop()).result(10)


async def test_simulated_conversations_arrive_and_a_reply_gets_sent_delivered_read(
    browser: Browser,
    inbox_server: InboxServer,
    agent_token: str,
    simulation: Simulation,
    graph: CloudApi,
    phone: str,
    tmp_path: Path,
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    errors = console_of(page)
    try:
        await page.goto(f"{inbox_server()}/?token={agent_token}")
        tickets = page.get_by_test_id("ticket")
        # Conversations of several customers arrive, as the simulator's webhooks land.
        await expect(tickets.nth(1)).to_be_visible(timeout=WAIT_MS)
        await tickets.first.click()
        messages = page.get_by_test_id("messages").get_by_test_id("message")
        await expect(messages.first).to_be_visible(timeout=WAIT_MS)

        await page.evaluate(RECORD_STATES, REPLY)
        await page.get_by_test_id("composer").fill(REPLY)
        await page.get_by_test_id("send").click()
        mine = messages.filter(has_text=REPLY)
        await expect(mine).to_have_attribute("data-state", "read", timeout=WAIT_MS)
        states = await page.evaluate("window.__states")
        ticks = [s for s in states if s in ("sent", "delivered", "read")]
        assert ticks == ["sent", "delivered", "read"], states
        tick = mine.locator(".tick")
        await expect(tick).to_have_text("✓✓")
        await expect(tick).to_have_css("color", "rgb(2, 132, 199)")  # the blue of `read`
        # The reply left through the outbound sender to the simulator, to this customer.
        sends = [s for s in graph.seen(phone) if s.body["text"]["body"] == REPLY]
        assert [s.status for s in sends] == [200]

        # The customer answers the reply: thanks, or a thumbs-up on it.
        answers = "|".join(re.escape(t) for t in (*THANKS, "👍"))
        answer = messages.filter(has_text=re.compile(answers))
        await expect(answer.first).to_be_visible(timeout=WAIT_MS)
        shot = Path(os.environ.get("TIDEWIRE_SCREENSHOT") or tmp_path / "inbox.png")
        assert len(await page.screenshot(path=str(shot))) > 10_000
        assert errors == []
    finally:
        await page.close()
