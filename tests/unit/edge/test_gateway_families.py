"""Each family's handshake and joins as CONTRACT.md describes them, without a server."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tidewire_edge.gateway.auth import Gateway
from tidewire_edge.gateway.families import (
    FAMILIES,
    Change,
    HelpdeskUser,
    Memberships,
    Refused,
)
from tidewire_edge.gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit

SECRET = "mysecret"


def _jwt(**claims: Any) -> str:
    return jwt.encode({"exp": int(time.time()) + 900, **claims}, SECRET, algorithm="HS256")


def _gateway(family: str, **conf: Any) -> Gateway:
    settings = GatewaySettings(jwt_secret=SECRET, **conf)
    return Gateway(settings, FAMILIES[family], "redis://127.0.0.1:1/0")


async def test_community_takes_the_bare_token_and_one_configured_company() -> None:
    gw = _gateway("community", company_id="7")
    token = _jwt(usarname="Ana", profile="admin", id=3, companyId=99)
    user, rooms, expires = await gw.connect(None, {"token": [token]}, "/")
    assert (user.company_id, user.user_id, user.profile, rooms) == ("7", "3", "admin", ())
    assert expires is not None
    assert FAMILIES["community"].join("joinChatBox", "12", user) == Change(join=("12",))
    assert FAMILIES["community"].join("joinTickets", "open", user) == Change(join=("open",))
    assert FAMILIES["community"].join("joinNotification", None, user) == Change(
        join=("notification",)
    )
    with pytest.raises(Refused, match="not served"):
        await gw.connect(None, {"token": [token]}, "/7")


async def test_saas1_without_a_token_is_refused_with_the_front_end_fix() -> None:
    gw = _gateway("saas1")
    with pytest.raises(Refused, match=r"frontend/src/services/socket\.js"):
        await gw.connect(None, {"companyId": ["5"], "userId": ["3"]}, "/")
    token = _jwt(id=3, companyId=5, profile="user")
    user, _, _ = await gw.connect(None, {"companyId": ["5"], "token": [token]}, "/")
    assert user.company_id == "5"
    with pytest.raises(Refused, match="not the token's company"):
        await gw.connect(None, {"companyId": ["6"], "token": [token]}, "/")


async def test_ticketz_joins_its_rooms_at_connect_and_follows_its_join_rules() -> None:
    gw = _gateway("ticketz")
    admin = _jwt(id=3, companyId=5, profile="admin", super=True)
    user, rooms, _ = await gw.connect(None, {"token": [admin], "r": ["1"]}, "/")
    assert rooms == ("company-5-mainchannel", "user-3", "super", "company-5-admin")
    ticketz = FAMILIES["ticketz"]
    assert ticketz.sends_ready
    assert ticketz.join("joinTickets", "open", user) == Change(join=("company-5-open",))
    assert ticketz.join("leaveNotification", None, user) == Change(
        leave=("company-5-notification",)
    )
    agent = HelpdeskUser("5", "4", profile="user", queues=("1", "2"))
    assert ticketz.join("joinTickets", "pending", agent) == Change(
        join=("queue-1-pending", "queue-2-pending")
    )
    with pytest.raises(Refused, match="only admins"):
        ticketz.join("joinTickets", "open", agent)
    assert ticketz.join("joinNotification", None, agent).join == (
        "queue-1-notification",
        "queue-2-notification",
    )


async def test_plus_strips_bearer_and_checks_the_namespace_against_the_token() -> None:
    gw = _gateway("plus")
    token = _jwt(id=3, companyId=42, profile="user")
    user, rooms, _ = await gw.connect(None, {"userId": ["3"], "token": [f"Bearer {token}"]}, "/42")
    assert (user.company_id, rooms) == ("42", ())
    with pytest.raises(Refused, match="not the namespace's"):
        await gw.connect(None, {"token": [f"Bearer {token}"]}, "/43")
    custom = _gateway("plus", namespace_pattern="/workspace-{company}")
    assert (await custom.connect(None, {"token": [token]}, "/workspace-42"))[0].company_id == "42"
    with pytest.raises(Refused, match="does not match"):
        await custom.connect(None, {"token": [token]}, "/42")
    plus = FAMILIES["plus"]
    assert plus.join("joinChatBoxLeave", "abc-uuid", user) == Change(leave=("abc-uuid",))
    assert plus.join("leaveTickets", "open", user) == Change()


async def test_expired_and_forged_tokens_are_refused_unless_a_grace_is_set() -> None:
    expired = jwt.encode({"id": 1, "companyId": 42, "exp": int(time.time()) - 60}, SECRET, "HS256")
    with pytest.raises(Refused, match="expired"):
        await _gateway("plus").connect(None, {"token": [expired]}, "/42")
    user, _, _ = await _gateway("plus", expired_grace_s=3600).connect(
        None, {"token": [expired]}, "/42"
    )
    assert user.company_id == "42"
    forged = jwt.encode({"id": 1, "companyId": 42}, "not-the-secret", "HS256")
    with pytest.raises(Refused, match="signature"):
        await _gateway("plus").connect(None, {"token": [forged]}, "/42")
    none_alg = jwt.encode({"id": 1, "companyId": 42}, None, algorithm="none")
    with pytest.raises(Refused, match="invalid token"):
        await _gateway("plus").connect(None, {"token": [none_alg]}, "/42")


def test_memberships_count_joins_and_ignore_extra_leaves() -> None:
    m = Memberships()
    m.apply(Change(join=("open",)))
    m.apply(Change(join=("open", "12")))
    m.apply(Change(leave=("open",)))
    assert m.rooms == {"open", "12"}
    m.apply(Change(leave=("open", "open", "12")))
    assert m.rooms == frozenset()


@pytest.mark.parametrize("bad", [None, "", "a b", "x" * 65, True, {"id": 1}])
def test_join_arguments_must_name_a_room(bad: object) -> None:
    with pytest.raises(Refused):
        FAMILIES["community"].join("joinChatBox", bad, HelpdeskUser("1", "1"))


def test_uncounted_memberships_follow_socket_io_join_and_leave() -> None:
    m = Memberships(counted=False)
    m.apply(Change(join=("uuid-1",)))
    m.apply(Change(join=("uuid-1",)))  # plus joins again on a recovered connect
    m.apply(Change(leave=("uuid-1",)))
    assert m.rooms == frozenset()


def test_only_ticketz_counts_joins_and_renews_its_socket_token() -> None:
    assert {n for n, f in FAMILIES.items() if f.counts_joins} == {"ticketz"}
    assert {n for n, f in FAMILIES.items() if f.renews_token} == {"ticketz"}


@pytest.mark.parametrize(
    "room", ["company-5-open", "company-5-admin", "user-17", "queue-3-pending", "super", "open"]
)
def test_ticketz_chat_boxes_are_numeric_tickets_never_reserved_rooms(room: str) -> None:
    agent = HelpdeskUser("5", "4", profile="user")
    with pytest.raises(Refused, match="numeric ticket id"):
        FAMILIES["ticketz"].join("joinChatBox", room, agent)
    assert FAMILIES["ticketz"].join("joinChatBox", 123, agent) == Change(join=("123",))


async def test_a_token_issued_by_a_clock_a_little_ahead_is_accepted() -> None:
    ahead = _jwt(id=3, companyId=5, iat=int(time.time()) + 20)
    user, _, _ = await _gateway("ticketz").connect(None, {"token": [ahead]}, "/")
    assert user.company_id == "5"


@pytest.mark.parametrize("family", ["saas1", "ticketz", "plus"])
def test_multi_company_families_refuse_a_token_without_company_first(family: str) -> None:
    """Checked before anything else: a token with neither `id` nor `companyId` is refused for
    its missing company; community (one company) needs no claim."""
    users = FAMILIES[family]
    with pytest.raises(Refused, match="no companyId claim"):
        users.user({"id": 3, "profile": "user"}, {}, "7")
    with pytest.raises(Refused, match="no companyId claim"):
        users.user({}, {}, "7")
    assert users.user({"id": 3, "companyId": 5}, {}, "7").company_id == "5"
    assert FAMILIES["community"].user({"id": 3}, {}, "7").company_id == "7"
