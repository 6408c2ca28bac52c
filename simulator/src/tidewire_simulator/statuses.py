"""What WhatsApp reports about a message the business sent, and when (pure).

Meta reports `sent` once its servers took the message, `delivered` once it reached the
customer's phone, `read` once the customer opened the chat; sometimes, instead of reaching the
phone, `failed` (code 131026, "Message undeliverable": a number without WhatsApp, an old app).
Delays are drawn per step from ranges that look like a phone on a mobile network; `speed`
divides them (tests and demos that cannot wait several seconds per tick).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

UNDELIVERABLE = (131026, "Message undeliverable")


@dataclass(frozen=True)
class Step:
    """One status webhook: `state` sent `after_s` seconds after the previous step."""

    after_s: float
    state: str
    error: tuple[int, str] | None = None


@dataclass(frozen=True)
class Delays:
    """Ranges (seconds) of the wait before each status."""

    sent: tuple[float, float] = (0.3, 1.2)
    delivered: tuple[float, float] = (0.5, 2.5)
    read: tuple[float, float] = (2.0, 8.0)
    failed: tuple[float, float] = (1.0, 4.0)

    def scaled(self, speed: float) -> Delays:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")

        def s(r: tuple[float, float]) -> tuple[float, float]:
            return (r[0] / speed, r[1] / speed)

        return Delays(s(self.sent), s(self.delivered), s(self.read), s(self.failed))


def plan(rng: random.Random, failure_rate: float, delays: Delays = Delays()) -> list[Step]:
    """The statuses one accepted message gets: sent, delivered, read; or, with probability
    `failure_rate`, sent then failed."""
    if not 0.0 <= failure_rate <= 1.0:
        raise ValueError(f"failure_rate must be within [0, 1], not {failure_rate}")
    sent = Step(rng.uniform(*delays.sent), "sent")
    if rng.random() < failure_rate:
        return [sent, Step(rng.uniform(*delays.failed), "failed", UNDELIVERABLE)]
    return [
        sent,
        Step(rng.uniform(*delays.delivered), "delivered"),
        Step(rng.uniform(*delays.read), "read"),
    ]
