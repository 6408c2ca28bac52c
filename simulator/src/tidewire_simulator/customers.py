"""What a simulated customer writes, and when they answer (pure: every choice comes from the
`random.Random` passed in, so a seed replays a whole demo).

A customer opens with a text, then writes at the crowd's pace in any of the kinds a helpdesk
meets first: text, an image with a caption, a location, a reaction to an earlier message, and
a text quoting an earlier message. An agent's reply is usually answered after a human pause:
a thank-you, a thumbs-up on the reply, or a text quoting it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from tidewire_simulator import webhooks
from tidewire_simulator.webhooks import Json

NAMES = (
    "Ana Souza", "Bruno Lima", "Carla Mendes", "Diego Rocha", "Elena Costa", "Felipe Alves",
    "Gabriela Nunes", "Hugo Martins", "Isabel Ferreira", "João Ribeiro", "Karina Dias",
    "Lucas Pereira",
)  # fmt: skip
OPENINGS = (
    "Hi! My order hasn't arrived yet",
    "Hello, I need a copy of my invoice",
    "Good morning, is the store open on Sunday?",
    "Hi, I was charged twice this month",
    "Hello! Can I change my delivery address?",
    "Hi, the app keeps logging me out",
)
FOLLOW_UPS = (
    "Order number is 48213",
    "Any news?",
    "I'm still waiting",
    "It was on the 3rd",
    "Is there a phone number I can call?",
    "Thanks for the patience",
)
CAPTIONS = ("Here is the receipt", "This is the error I get", "The package looked like this")
PLACES = (
    (-23.5614, -46.6559, "Avenida Paulista", "Av. Paulista, 1578, São Paulo"),
    (-22.9519, -43.2105, "Cristo Redentor", "Parque Nacional da Tijuca, Rio de Janeiro"),
    (-19.9245, -43.9352, "Praça da Liberdade", "Funcionários, Belo Horizonte"),
)
THANKS = ("Thank you!", "Great, thanks", "Perfect 🙏", "Ok, I'll wait")
EMOJIS = ("👍", "❤️", "🙏", "😂")
# Weights of each kind after the opening text.
KINDS = {"text": 45, "image": 15, "location": 10, "reaction": 15, "reply": 15}


@dataclass
class Customer:
    """A customer of one simulated company, and the messages of their conversation so far."""

    wa_id: str
    name: str
    own: list[str] = field(default_factory=list)  # wamids this customer sent (not reactions)
    agents: list[str] = field(default_factory=list)  # wamids of agents' messages received

    @property
    def opened(self) -> bool:
        return bool(self.own)


def crowd(company_id: str, count: int) -> list[Customer]:
    """`count` customers with stable WhatsApp ids (Brazilian mobile numbers derived from the
    company and the index: the same demo run after run)."""
    out = []
    for i in range(count):
        digest = int(hashlib.sha256(f"{company_id}/{i}".encode()).hexdigest(), 16)
        out.append(Customer(f"55119{digest % 10**8:08d}", NAMES[i % len(NAMES)]))
    return out


def next_message(rng: random.Random, customer: Customer, business: str, at: int) -> Json:
    """The customer's next message to the business whose display number is `business`
    (recorded in the customer's history)."""
    wamid = webhooks.new_wamid()
    sender = customer.wa_id
    if not customer.opened:
        message = webhooks.text(sender, rng.choice(OPENINGS), wamid=wamid, at=at)
    else:
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        message = _of_kind(rng, kind, customer, business, wamid, at)
    if message["type"] != "reaction":
        customer.own.append(wamid)
    return message


def _of_kind(
    rng: random.Random, kind: str, customer: Customer, business: str, wamid: str, at: int
) -> Json:
    sender = customer.wa_id
    if kind == "image":
        media = str(rng.randrange(10**15, 10**16))
        return webhooks.image(sender, rng.choice(CAPTIONS), media, wamid=wamid, at=at)
    if kind == "location":
        lat, lon, name, address = rng.choice(PLACES)
        return webhooks.location(sender, lat, lon, name, address, wamid=wamid, at=at)
    earlier = customer.agents + customer.own
    if kind == "reaction" and earlier:
        return webhooks.reaction(
            sender, rng.choice(earlier), rng.choice(EMOJIS), wamid=wamid, at=at
        )
    message = webhooks.text(sender, rng.choice(FOLLOW_UPS), wamid=wamid, at=at)
    if kind == "reply" and earlier:
        quoted = rng.choice(earlier)
        return webhooks.quoting(message, quoted, business if quoted in customer.agents else sender)
    return message


def answer(
    rng: random.Random, customer: Customer, agent_wamid: str, business: str, at: int
) -> Json:
    """What the customer sends back to the agent's message `agent_wamid` (recorded)."""
    customer.agents.append(agent_wamid)
    wamid = webhooks.new_wamid()
    roll = rng.random()
    if roll < 0.3:
        return webhooks.reaction(customer.wa_id, agent_wamid, "👍", wamid=wamid, at=at)
    message = webhooks.text(customer.wa_id, rng.choice(THANKS), wamid=wamid, at=at)
    customer.own.append(wamid)
    if roll < 0.6:
        return webhooks.quoting(message, agent_wamid, business)
    return message
