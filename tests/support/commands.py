"""Commands as ingest makes them, for tests of what consumes the commands log (projector, rebuild).

Built from a webhook body through ingest's own parser and `command_for`, so a test folds exactly
what production folds; only the identity (company, customer, message number) is the test's.
"""

from __future__ import annotations

import time

from tests.support import whatsapp
from tidewire_ingest.webhook_delivery import command_for
from tidewire_ingest.whatsapp import parse_webhook
from tidewire_platform.contracts import Command


def inbound_command(company_id: str, contact: int, run: str, seq: int) -> Command:
    """Customer number `contact`'s text message number `seq` in `run` (accepted_at = now)."""
    sender = f"55119{contact:08d}"
    message = whatsapp.text_message(
        f"message {seq}",
        wamid=f"wamid.{run}.{company_id}.{seq}",
        sender=sender,
        timestamp=int(time.time()),
    )
    [fact] = parse_webhook(whatsapp.webhook(messages=[message]))
    return command_for(company_id, fact)
