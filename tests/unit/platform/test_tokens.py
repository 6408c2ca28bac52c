import time

import jwt
import pytest

from tidewire_platform.settings import (
    DEV_ADMIN_JWT_SECRET,
    DEV_JWT_SECRET,
    StackSettings,
)
from tidewire_platform.tokens import (
    AdminDisabled,
    TokenError,
    issue_admin_token,
    issue_publisher_token,
    issue_token,
    verify_admin_token,
    verify_publisher_token,
    verify_token,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def s() -> StackSettings:
    return StackSettings(jwt_secret="s" * 40)


def test_roundtrip_carries_company_and_user(s: StackSettings) -> None:
    p = verify_token(s, issue_token(s, "acme", "u7"))
    assert (p.company_id, p.user_id) == ("acme", "u7")


def test_expired_token_says_so(s: StackSettings) -> None:
    token = issue_token(s, "acme", "u7", ttl=-10)
    with pytest.raises(TokenError, match="expired"):
        verify_token(s, token)


def test_foreign_signature_is_refused(s: StackSettings) -> None:
    other = StackSettings(jwt_secret="o" * 40)
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(s, issue_token(other, "acme", "u7"))


def test_missing_company_claim_is_refused(s: StackSettings) -> None:
    token = jwt.encode(
        {"sub": "u", "aud": "tidewire", "exp": int(time.time()) + 60},
        s.jwt_secret,
        algorithm="HS256",
    )
    with pytest.raises(TokenError, match="company_id"):
        verify_token(s, token)


def test_company_ids_outside_the_id_rule_are_neither_issued_nor_accepted(
    s: StackSettings,
) -> None:
    for bad in ("c" * 65, "acme\n"):  # too long; a trailing newline (`$` would accept it)
        with pytest.raises(ValueError, match="company id"):
            issue_token(s, bad, "u")
    forged = jwt.encode(
        {"sub": "u", "company_id": "a b", "aud": "tidewire", "exp": int(time.time()) + 60},
        s.jwt_secret,
        algorithm="HS256",
    )
    with pytest.raises(TokenError, match="company_id"):
        verify_token(s, forged)


def test_missing_token(s: StackSettings) -> None:
    with pytest.raises(TokenError, match="missing"):
        verify_token(s, None)


@pytest.mark.parametrize("env", ["production", "prod", "Production", "staging", "", "DEV"])
def test_dev_secret_refused_unless_the_env_is_exactly_development_or_test(env: str) -> None:
    with pytest.raises(ValueError, match="TIDEWIRE_JWT_SECRET is the public development key"):
        StackSettings(env=env)
    with pytest.raises(ValueError, match="TIDEWIRE_ADMIN_JWT_SECRET is the public development"):
        StackSettings(env=env, jwt_secret="p" * 40, admin_jwt_secret=DEV_ADMIN_JWT_SECRET)
    assert StackSettings(env=env, jwt_secret="p" * 40).production


@pytest.mark.parametrize("env", ["development", "test"])
def test_dev_keys_serve_development_and_test_stacks(env: str) -> None:
    s = StackSettings(env=env)
    assert (s.production, s.jwt_secret, s.admin_key) == (
        False,
        DEV_JWT_SECRET,
        DEV_ADMIN_JWT_SECRET,
    )


def test_admin_key_must_be_long_and_differ_from_the_agent_key() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        StackSettings(admin_jwt_secret="short")
    with pytest.raises(ValueError, match="must differ"):
        StackSettings(jwt_secret="k" * 40, admin_jwt_secret="k" * 40)


def test_admin_tokens_have_their_own_key_and_audience(s: StackSettings) -> None:
    admin = issue_admin_token(s, "ops")
    assert verify_admin_token(s, admin).role == "admin"
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(s, admin)  # an admin token opens no agent API or socket
    # An agent token claiming the role, signed with the agent key: not an admin token.
    claims = {"sub": "u", "company_id": "acme", "role": "admin", "aud": "tidewire"}
    forged = jwt.encode({**claims, "exp": int(time.time()) + 60}, s.jwt_secret, "HS256")
    assert verify_token(s, forged).role == "admin"
    with pytest.raises(TokenError, match="invalid token"):
        verify_admin_token(s, forged)
    with pytest.raises(TokenError, match="invalid token"):
        verify_admin_token(s, issue_token(s, "acme", "u"))


def test_production_without_an_admin_key_has_no_admin_tokens() -> None:
    s = StackSettings(env="production", jwt_secret="p" * 40)
    assert s.admin_key is None
    with pytest.raises(AdminDisabled):
        issue_admin_token(s, "ops")
    with pytest.raises(AdminDisabled, match="TIDEWIRE_ADMIN_JWT_SECRET"):
        verify_admin_token(s, "anything")
    on = StackSettings(env="production", jwt_secret="p" * 40, admin_jwt_secret="a" * 40)
    assert verify_admin_token(on, issue_admin_token(on, "ops")).user_id == "ops"


def test_a_token_verified_before_is_refused_once_it_expires(
    s: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issue_token(s, "acme", "u7", ttl=60)
    assert verify_token(s, token).company_id == "acme"  # verified and remembered
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenError, match="expired"):
        verify_token(s, token)


def test_a_token_is_checked_against_the_secret_it_is_verified_with(s: StackSettings) -> None:
    token = issue_token(s, "acme", "u7")
    assert verify_token(s, token).user_id == "u7"
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(StackSettings(jwt_secret="o" * 40), token)


def test_an_issuer_clock_a_little_ahead_is_tolerated_but_expiry_is_exact(
    s: StackSettings,
) -> None:
    now = int(time.time())
    claims = {"sub": "u7", "company_id": "acme", "aud": "tidewire", "exp": now + 60}
    ahead = jwt.encode({**claims, "iat": now + 20}, s.jwt_secret, algorithm="HS256")
    assert verify_token(s, ahead).user_id == "u7"
    far_ahead = jwt.encode({**claims, "iat": now + 300}, s.jwt_secret, algorithm="HS256")
    with pytest.raises(TokenError, match="iat"):
        verify_token(s, far_ahead)
    just_expired = jwt.encode({**claims, "exp": now - 5}, s.jwt_secret, algorithm="HS256")
    with pytest.raises(TokenError, match="expired"):
        verify_token(s, just_expired)


def test_user_ids_of_identity_providers_are_accepted(s: StackSettings) -> None:
    for sub in ("ana@example.com", "auth0|5f3c9a", "7", "x" * 256):
        assert verify_token(s, issue_token(s, "acme", sub)).user_id == sub


@pytest.mark.parametrize("sub", ["", "x" * 257, "a b", "agent\n"])
def test_user_ids_outside_the_id_rule_are_neither_issued_nor_accepted(
    s: StackSettings, sub: str
) -> None:
    with pytest.raises(ValueError, match="user id"):
        issue_token(s, "acme", sub)
    claims = {"sub": sub, "company_id": "acme", "aud": "tidewire", "exp": int(time.time()) + 60}
    with pytest.raises(TokenError, match="sub"):
        verify_token(s, jwt.encode(claims, s.jwt_secret, algorithm="HS256"))


def test_publisher_tokens_are_scoped_and_open_nothing_else(s: StackSettings) -> None:
    every = verify_publisher_token(s, issue_publisher_token(s, "backend"))
    assert every.company_id is None
    assert every.may_publish_for("anyone")
    one = verify_publisher_token(s, issue_publisher_token(s, "backend", company_id="acme"))
    assert one.may_publish_for("acme")
    assert not one.may_publish_for("other")
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(s, issue_publisher_token(s, "backend", company_id="acme"))
    with pytest.raises(TokenError, match="invalid publisher token"):
        verify_publisher_token(s, issue_token(s, "acme", "agent"))
    with pytest.raises(TokenError, match="expired"):
        verify_publisher_token(s, issue_publisher_token(s, "backend", ttl=-5))
