"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`."""

from __future__ import annotations

import hmac
import re

_SHAPE = re.compile(r"sha256=[0-9a-fA-F]{64}")


def signature_well_formed(header: str) -> bool:
    """Whether the header has the shape Meta sends, whatever secret signed it."""
    return _SHAPE.fullmatch(header.strip()) is not None


def expected_signature(raw: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.digest(app_secret.encode(), raw, "sha256").hex()


def signature_valid(raw: bytes, header: str | None, app_secret: str) -> bool:
    """Constant-time comparison over the exact bytes received (never re-serialised JSON)."""
    if not header:
        return False
    return hmac.compare_digest(header.strip().lower(), expected_signature(raw, app_secret))
