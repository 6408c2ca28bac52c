"""Agent and edge-client tokens: HS256 JWTs carrying the company and the user.

The company of every request and socket comes from here, never from what a client says.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import jwt

from tidewire_platform.contracts import ID_PATTERN, valid_id, valid_user_id
from tidewire_platform.settings import StackSettings

_ALGORITHM = "HS256"
_AUDIENCE = "tidewire"


class TokenError(ValueError):
    """The token is missing, malformed, badly signed or expired; the message says which."""


_CLOCK_SKEW_S = 30


@dataclass(frozen=True)
class Principal:
    company_id: str
    user_id: str
    role: str | None = None  # "admin": a platform operator (tenant administration)


def issue_token(
    settings: StackSettings,
    company_id: str,
    user_id: str,
    ttl: int | None = None,
    role: str | None = None,
) -> str:
    if not valid_id(company_id):
        raise ValueError(f"company id {company_id!r} does not match {ID_PATTERN}")
    if not valid_user_id(user_id):
        raise ValueError(f"user id {user_id!r} must be 1-256 characters, no spaces")
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "company_id": company_id,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.jwt_ttl_seconds),
    }
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, settings.jwt_secret, algorithm=_ALGORITHM)


def verify_token(settings: StackSettings, token: str | None) -> Principal:
    if not token:
        raise TokenError("missing token")
    principal, expires = _verified(settings.jwt_secret, token)
    if expires <= time.time():  # PyJWT's rule: expired at `exp` itself
        raise TokenError("token expired")
    return principal


# A token is checked once per secret; later uses only check its expiry. Reconnecting clients
# present the same token again and again, and a storm of a thousand reconnects spent ≈ 4 % of
# an edge node's CPU decoding and verifying them. Refused tokens raise, so are never kept.
@lru_cache(maxsize=8192)
def _verified(secret: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "sub", "company_id"]},
            # For `iat`/`nbf` a little in the future: the issuer's clock may run ahead.
            # Expiry stays exact: `verify_token` checks `exp` itself.
            leeway=_CLOCK_SKEW_S,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    company_id, user_id = claims.get("company_id"), claims.get("sub")
    if not isinstance(company_id, str) or not isinstance(user_id, str):
        raise TokenError("invalid token: company_id and sub must be strings")
    if not valid_id(company_id):
        raise TokenError(f"invalid token: company_id does not match {ID_PATTERN}")
    if not valid_user_id(user_id):  # it names rooms and assignees
        raise TokenError("invalid token: sub must be 1-256 characters, no spaces")
    role = claims.get("role")
    principal = Principal(
        company_id=company_id, user_id=user_id, role=role if isinstance(role, str) else None
    )
    return principal, float(claims["exp"])
