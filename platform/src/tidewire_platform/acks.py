"""The delivery acknowledgement of a message: one scale for the webhook parser, the projector's
rules, the read models and the browser SDK (`sdk/js/src/acks.js` mirrors it; a unit test
holds the two equal).

The values are Whaticket's (`ack` 0 to 4, so its front ends read them as they are), plus two
below zero for the endings Whaticket lacks. They are ordered: a later state never goes
backwards (`next_ack`).
"""

from __future__ import annotations

from enum import IntEnum


class Ack(IntEnum):
    # The outbound sender asked Graph and got no answer it can trust (a timeout, a 5xx, a
    # crash in the middle): the message may or may not have reached the customer and is never
    # sent again by itself. Only a pending message without wamid becomes unknown; a wamid
    # learned later (another process's answer) moves it on like any ack.
    UNKNOWN = -2
    FAILED = -1  # terminal
    PENDING = 0
    SENT = 1
    DELIVERED = 2
    READ = 3
    PLAYED = 4  # a voice message listened to, after read


# WhatsApp's status names (a webhook's `statuses[].status`) on that scale.
OF_WHATSAPP_STATUS: dict[str, Ack] = {
    "failed": Ack.FAILED,
    "sent": Ack.SENT,
    "delivered": Ack.DELIVERED,
    "read": Ack.READ,
    "played": Ack.PLAYED,
}


def next_ack(current: int, incoming: int) -> int:
    """The ack after `incoming` arrives: never backwards; failed is terminal and is ignored
    once the message was read (a read message was evidently delivered); unknown replaces only
    pending, and any known progress replaces unknown."""
    if current == Ack.FAILED:
        return current
    if incoming == Ack.UNKNOWN:
        return Ack.UNKNOWN if current == Ack.PENDING else current
    if incoming == Ack.FAILED:
        return Ack.FAILED if current < Ack.READ else current
    return max(current, incoming)
