"""One WhatsApp webhook delivery, taken per phone number: verified, split, made durable.

Meta batches the changes of many phone numbers into one POST, and a POST answered with
anything but 2xx is retried and, after days, dropped whole. So a delivery is never refused for
one number's sake: each `messages` change names one `phone_number_id`, and it is accepted if,
and only if, that number belongs to a tenant whose app secret signs the raw body (Meta signs a
delivery with the secret of the app subscribed to the numbers in it; tenants on one app share
it). The rest is dropped, logged, counted (`tidewire_ingest_webhook_parts_refused_total`) and
named in the 200 answer.

No oracle: before any part verifies, the sender is a stranger, and an unknown number and a
known one with a bad signature look the same to it (401, and `unverified` in a partly accepted
delivery's `dropped`): each costs one lookup and one HMAC (a per-process random secret stands
in for a missing tenant's). Only what a verified sender sent is described in detail.

Nothing accepted is lost: the verified parts are appended together, and if Kafka does not
confirm them the whole delivery is 503, so Meta retries it; the command ids derive from the
source, so what was written before the failure is deduplicated downstream.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from tidewire_ingest.accept import accept
from tidewire_ingest.body import parse_json
from tidewire_ingest.command_log import CommandLog
from tidewire_ingest.problems import Problem
from tidewire_ingest.signature import expected_signature, signature_well_formed
from tidewire_ingest.whatsapp import (
    WebhookFact,
    WebhookPart,
    WebhookSchemaError,
    parse_parts,
    parse_webhook,
    phone_number_ids,
)
from tidewire_platform.contracts import Command, stable_id, valid_id
from tidewire_platform.metrics import WEBHOOK_PARTS_REFUSED
from tidewire_platform.tenants import TenantStore

log = logging.getLogger("tidewire.ingest.webhook")

# What a refused part is called in the answer; the metric and the log tell unknown numbers
# from bad signatures apart, the sender never does.
Reason = Literal["unverified", "invalid", "unwritable"]

# Checked in place of the secret of a number no tenant owns, so that an unknown number costs
# what a known one does. Random per process: nothing can ever be signed with it.
_NOBODY_SECRET = secrets.token_hex(32)


@dataclass(frozen=True)
class Dropped:
    """A part of a delivery that was not accepted, as the answer describes it."""

    phone_number_id: str | None
    reason: Reason
    loc: str | None = None
    detail: str | None = None
    status: int = 422  # the status the part alone would have had (not part of the answer)

    def wire(self) -> dict[str, Any]:
        phone = None if self.phone_number_id is None else _shown(self.phone_number_id)
        out: dict[str, Any] = {"phone_number_id": phone, "reason": self.reason}
        if self.loc is not None:
            out["loc"] = self.loc
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass
class Delivery:
    """What became of a delivery answered 200: commands accepted, parts dropped."""

    accepted: int = 0
    dropped: list[Dropped] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "dropped": [d.wire() for d in self.dropped]}


def command_for(company_id: str, fact: WebhookFact) -> Command:
    """The command of one fact; its id depends only on the source, so Meta's redeliveries
    produce the same id and are deduplicated downstream."""
    return Command(
        id=stable_id(company_id, "whatsapp", fact.type, fact.phone_number_id, fact.source_id),
        type=fact.type,
        company_id=company_id,
        payload={
            **fact.payload,
            "phone_number_id": fact.phone_number_id,
            "contact_wa_id": fact.contact_wa_id,
            "occurred_at": fact.occurred_at,
        },
    )


def _shown(phone: str) -> str:
    return phone if len(phone) <= 80 else f"{phone[:80]}…"


def _schema_problem(exc: WebhookSchemaError) -> Problem:
    return Problem(422, "Request does not match the schema", f"{exc.loc}: {exc}")


async def take_webhook(
    raw: bytes,
    signature: str | None,
    tenants: TenantStore,
    commands_log: CommandLog,
    max_phone_numbers: int = 100,
) -> Delivery:
    """Verify, split and accept one delivery (its raw body and signature header): what was
    accepted and dropped, or `Problem` when nothing of it can be accepted."""
    body = parse_json(raw)
    if not signature:
        raise Problem(401, "Signature missing", "X-Hub-Signature-256 header is required")
    if not signature_well_formed(signature):
        raise Problem(
            401, "Signature malformed", "X-Hub-Signature-256 must be 'sha256=' and 64 hex digits"
        )
    phones = phone_number_ids(body)
    if not phones:
        # Only non-message changes (account updates and the like): nothing to route, so no
        # tenant's app secret to check the signature with, and nothing to write. Well-formed
        # ones get 200 so Meta stops retrying; broken ones get 422.
        try:
            parse_webhook(body)
        except WebhookSchemaError as exc:
            raise _schema_problem(exc) from exc
        return Delivery()
    if len(phones) > max_phone_numbers:
        raise Problem(
            422,
            "Too many phone numbers",
            f"a delivery may name at most {max_phone_numbers} phone_number_ids",
        )
    companies = await _verified(raw, signature, phones, tenants)
    if not companies:
        raise Problem(
            401,
            "Bad signature",
            "X-Hub-Signature-256 does not match the body and the app secret of any phone "
            "number it names (or no tenant owns them)",
        )
    try:
        parts = parse_parts(body)
    except WebhookSchemaError as exc:  # not a webhook at all: nothing of it to take
        raise _schema_problem(exc) from exc
    delivery = Delivery()
    taken: list[tuple[WebhookPart, list[Command]]] = []
    unverified: set[str] = set()
    for part in parts:
        phone = part.phone_number_id
        if phone is not None and phone not in companies:
            if phone not in unverified:  # one line per number, whatever its changes
                unverified.add(phone)
                delivery.dropped.append(Dropped(phone, "unverified"))
        elif part.error is not None:
            detail = f"{part.error.loc}: {part.error}"
            delivery.dropped.append(Dropped(phone, "invalid", part.loc, detail))
            _count(phone, "invalid", detail)
        else:
            assert phone is not None  # a change that parsed names its number
            taken.append((part, [command_for(companies[phone], f) for f in part.facts]))
    delivery.accepted, unwritable = await _accept(commands_log, taken)
    delivery.dropped += unwritable
    first = next((d for d in delivery.dropped if d.reason != "unverified"), None)
    if first is not None and len(unwritable) == len(taken):
        # Nothing of it was accepted, and the sender proved it signs for a number here: the
        # refusal as it always was (413 or 422, final), naming every part it concerns.
        if first.reason == "invalid":
            title, detail = "Request does not match the schema", str(first.detail)
        else:  # `accept`'s titles for a command no record holds
            title = "Payload too large" if first.status == 413 else "Payload cannot be stored"
            detail = f"{first.loc}: {first.detail}"
        raise Problem(first.status, title, detail, dropped=[d.wire() for d in delivery.dropped])
    return delivery


async def _verified(
    raw: bytes, signature: str, phones: set[str], tenants: TenantStore
) -> dict[str, str]:
    """The company of each phone number whose tenant's app secret signs `raw`. One HMAC per
    distinct secret (tenants of one Meta app share it), the stand-in included."""
    given = signature.strip().lower()
    matches: dict[str, bool] = {}
    companies: dict[str, str] = {}
    refused: dict[str, list[str]] = {}
    for phone in sorted(phones):
        # An id no tenant could have registered is not worth a lookup (and a huge one is a key
        # Cassandra refuses); it is answered like any unknown one.
        conn = await tenants.connection_for_phone(phone) if valid_id(phone) else None
        secret = conn.app_secret if conn is not None else _NOBODY_SECRET
        if secret not in matches:
            matches[secret] = hmac.compare_digest(given, expected_signature(raw, secret))
        if conn is not None and matches[secret]:
            companies[phone] = conn.company_id
        else:
            refused.setdefault("unknown_phone" if conn is None else "bad_signature", []).append(
                phone
            )
    for reason, refused_phones in refused.items():
        # One line per reason and delivery, however many numbers a stranger makes up.
        WEBHOOK_PARTS_REFUSED.labels(reason).inc(len(refused_phones))
        shown = ", ".join(repr(_shown(p)) for p in refused_phones[:5])
        more = f" and {len(refused_phones) - 5} more" if len(refused_phones) > 5 else ""
        log.warning("webhook: %s for phone_number_id %s%s", reason, shown, more)
    return companies


_UNWRITABLE = (413, 422)  # `accept`'s refusals of a command no record can hold


async def _accept(
    commands_log: CommandLog, taken: list[tuple[WebhookPart, list[Command]]]
) -> tuple[int, list[Dropped]]:
    """Append the commands of every part together (one round trip, the usual case); if one
    of them is a command no record can hold (then nothing was written), part by part, so
    that only the parts holding such commands are dropped. 503 (`Problem`) if Kafka does not
    confirm: the whole delivery is retried."""
    everything = [c for _, commands in taken for c in commands]
    if not everything:
        return 0, []
    try:
        await accept(commands_log, everything)
        return len(everything), []
    except Problem as exc:
        if exc.status not in _UNWRITABLE:
            raise
        if len(taken) == 1:
            return 0, [_unwritable(taken[0][0], exc)]
    accepted, dropped = 0, []
    for part, commands in taken:
        try:
            if commands:
                await accept(commands_log, commands)
            accepted += len(commands)
        except Problem as exc:
            if exc.status not in _UNWRITABLE:
                raise
            dropped.append(_unwritable(part, exc))
    return accepted, dropped


def _unwritable(part: WebhookPart, exc: Problem) -> Dropped:
    _count(part.phone_number_id, "unwritable", exc.detail)
    return Dropped(part.phone_number_id, "unwritable", part.loc, exc.detail, exc.status)


def _count(phone: str | None, reason: str, detail: str) -> None:
    """A part a verified sender sent, refused: its facts are lost once we answer 200."""
    WEBHOOK_PARTS_REFUSED.labels(reason).inc()
    shown = "none" if phone is None else repr(_shown(phone))
    log.warning("webhook: part of phone_number_id %s refused, %s: %s", shown, reason, detail)
