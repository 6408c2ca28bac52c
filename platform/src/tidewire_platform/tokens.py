"""Agent and edge-client tokens, and operators' admin tokens: HS256 JWTs.

The company of every request and socket comes from here, never from what a client says.
Admin tokens are signed with a key of their own and carry their own audience, so neither an
agent key that leaks nor an agent token that claims `role: admin` opens `/admin`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt

from tidewire_platform.contracts import ID_PATTERN, valid_id, valid_user_id
from tidewire_platform.settings import StackSettings

_ALGORITHM = "HS256"
_AUDIENCE = "tidewire"
_ADMIN_AUDIENCE = "tidewire-admin"
ADMIN_COMPANY = "platform"  # the company named in admin tokens (they administer every one)


class TokenError(ValueError):
    """The token is missing, malformed, badly signed or expired; the message says which."""


_CLOCK_SKEW_S = 30


@dataclass(frozen=True)
class Principal:
    company_id: str
    user_id: str
    role: str | None = None  # "admin": a platform operator (tenant administration)


class AdminDisabled(TokenError):
    """No admin key is configured: tenant administration over HTTP is off."""


def issue_token(
    settings: StackSettings,
    company_id: str,
    user_id: str,
    ttl: int | None = None,
) -> str:
    """An agent's token, signed with the agent key."""
    return _issue(settings.jwt_secret, _AUDIENCE, company_id, user_id, ttl, settings, None)


def issue_admin_token(
    settings: StackSettings,
    user_id: str,
    ttl: int | None = None,
    company_id: str = ADMIN_COMPANY,
) -> str:
    """An operator's token for `/admin`, signed with the admin key (the company it names
    is informative only: an operator administers every company)."""
    key = settings.admin_key
    if key is None:
        raise AdminDisabled(
            "no admin key: set TIDEWIRE_ADMIN_JWT_SECRET to issue admin tokens in production"
        )
    return _issue(key, _ADMIN_AUDIENCE, company_id, user_id, ttl, settings, "admin")


def _issue(
    key: str,
    audience: str,
    company_id: str,
    user_id: str,
    ttl: int | None,
    settings: StackSettings,
    role: str | None,
) -> str:
    if not valid_id(company_id):
        raise ValueError(f"company id {company_id!r} does not match {ID_PATTERN}")
    if not valid_user_id(user_id):
        raise ValueError(f"user id {user_id!r} must be 1-256 characters, no spaces")
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "company_id": company_id,
        "aud": audience,
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.jwt_ttl_seconds),
    }
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def verify_token(settings: StackSettings, token: str | None) -> Principal:
    """An agent token's principal; admin tokens are refused (another key and audience)."""
    principal, _ = verify_token_expiry(settings, token)
    return principal


def verify_token_expiry(settings: StackSettings, token: str | None) -> tuple[Principal, float]:
    """An agent token's principal and its expiry (seconds since the epoch)."""
    return _checked(settings.jwt_secret, _AUDIENCE, token)


def verify_admin_token(settings: StackSettings, token: str | None) -> Principal:
    """An operator token's principal (signed with the admin key, role admin)."""
    key = settings.admin_key
    if key is None:
        raise AdminDisabled(
            "tenant administration over HTTP is off: TIDEWIRE_ADMIN_JWT_SECRET is not set"
        )
    principal, _ = _checked(key, _ADMIN_AUDIENCE, token)
    if principal.role != "admin":
        raise TokenError("not an admin token")
    return principal


def _checked(key: str, audience: str, token: str | None) -> tuple[Principal, float]:
    if not token:
        raise TokenError("missing token")
    principal, expires = _verified(key, audience, token)
    if expires <= time.time():  # PyJWT's rule: expired at `exp` itself
        raise TokenError("token expired")
    return principal, expires


def _claims(secret: str, audience: str, token: str, what: str) -> dict[str, Any]:
    """A token's claims once its signature, audience and required claims check out."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=audience,
            options={"require": ["exp", "sub", "company_id"]},
            # For `iat`/`nbf` a little in the future: the issuer's clock may run ahead.
            # Expiry stays exact: the callers check `exp` themselves.
            leeway=_CLOCK_SKEW_S,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid {what}: {exc}") from exc
    return claims


# A token is checked once per secret; later uses only check its expiry. Reconnecting clients
# present the same token again and again, and a storm of a thousand reconnects spent ≈ 4 % of
# an edge node's CPU decoding and verifying them. Refused tokens raise, so are never kept.
@lru_cache(maxsize=8192)
def _verified(secret: str, audience: str, token: str) -> tuple[Principal, float]:
    claims = _claims(secret, audience, token, "token")
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


# -- publishers (gateway mode) ----------------------------------------------------------------

_PUBLISHER_AUDIENCE = "tidewire-publisher"
_ANY_COMPANY = "*"
PUBLISHER_TTL_S = 365 * 24 * 3600  # a backend's credential, rotated by its operator


@dataclass(frozen=True)
class Publisher:
    """A helpdesk backend allowed to publish: for one company, or for every company (a SaaS
    backend serving many) when `company_id` is None."""

    name: str
    company_id: str | None

    def may_publish_for(self, company_id: str) -> bool:
        return self.company_id is None or self.company_id == company_id


def issue_publisher_token(
    settings: StackSettings, name: str, company_id: str | None = None, ttl: int | None = None
) -> str:
    """A publisher's token (`POST /api/publish`), signed with the agent key under an audience
    of its own: it opens no agent API and no socket, and agent tokens cannot publish."""
    if company_id is not None and not valid_id(company_id):
        raise ValueError(f"company id {company_id!r} does not match {ID_PATTERN}")
    if not valid_user_id(name):
        raise ValueError(f"publisher name {name!r} must be 1-256 characters, no spaces")
    now = int(time.time())
    claims = {
        "sub": name,
        "company_id": company_id if company_id is not None else _ANY_COMPANY,
        "aud": _PUBLISHER_AUDIENCE,
        "iat": now,
        "exp": now + (ttl if ttl is not None else PUBLISHER_TTL_S),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=_ALGORITHM)


def verify_publisher_token(settings: StackSettings, token: str | None) -> Publisher:
    if not token:
        raise TokenError("missing token")
    publisher, expires = _verified_publisher(settings.jwt_secret, token)
    if expires <= time.time():
        raise TokenError("token expired")
    return publisher


@lru_cache(maxsize=1024)
def _verified_publisher(secret: str, token: str) -> tuple[Publisher, float]:
    claims = _claims(secret, _PUBLISHER_AUDIENCE, token, "publisher token")
    company_id, name = claims.get("company_id"), claims.get("sub")
    if not isinstance(name, str) or not valid_user_id(name):
        raise TokenError("invalid publisher token: sub must be 1-256 characters, no spaces")
    if company_id != _ANY_COMPANY and not valid_id(company_id):
        raise TokenError(f"invalid publisher token: company_id must be '*' or match {ID_PATTERN}")
    scope = None if company_id == _ANY_COMPANY else str(company_id)
    return Publisher(name=name, company_id=scope), float(claims["exp"])
