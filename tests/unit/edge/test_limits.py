"""The edge's limits without a server: addresses behind proxies, the connect rate's window,
and the per-user and per-company socket counts."""

from __future__ import annotations

import ipaddress

import pytest

from tidewire_edge.limits import ConnectRate, SocketCounts, client_address
from tidewire_platform.tokens import Principal

pytestmark = pytest.mark.unit

PROXY = [ipaddress.ip_network("10.0.0.0/8")]


def test_the_peer_is_the_client_unless_it_is_a_trusted_proxy() -> None:
    forged = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert client_address(forged, []) == "203.0.113.9"
    assert client_address(forged, PROXY) == "203.0.113.9"  # the peer is no proxy of ours


def test_behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() -> None:
    # The client itself wrote "1.1.1.1": only the hops the proxies added count.
    environ = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 198.51.100.7, 10.1.2.3"}
    assert client_address(environ, PROXY) == "198.51.100.7"
    assert client_address({"REMOTE_ADDR": "10.0.0.2"}, PROXY) == "10.0.0.2"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_connects_past_the_limit_in_a_window_are_refused_per_address() -> None:
    clock = _Clock()
    rate = ConnectRate(3, 1.0, clock)
    assert [rate.hit("a") for _ in range(4)] == [True, True, True, False]
    assert rate.hit("b")  # another address is not affected
    clock.now += 1.1  # 0.1 s into the next window: the last one still counts 3 * 0.9 = 2.7
    assert rate.hit("a")
    assert not rate.hit("a")
    clock.now += 5  # long quiet: everything forgotten, memory too
    assert rate.hit("c")
    assert len(rate) == 1


def test_sockets_are_counted_per_user_and_per_company_and_released() -> None:
    counts = SocketCounts(per_user=2, per_company=3)
    ann, bob = Principal("co1", "ann"), Principal("co1", "bob")
    assert counts.admit("s1", ann) is None
    assert counts.admit("s1", ann) is None  # a recovered socket keeps its sid: counted once
    assert counts.admit("s2", ann) is None
    refused = counts.admit("s3", ann)
    assert refused is not None
    assert refused.code == "too_many_sockets"
    assert refused.error_args["message"] == "too many sockets for this user (limit 2)"
    assert counts.admit("s4", bob) is None
    refused = counts.admit("s5", bob)
    assert refused is not None
    assert refused.error_args["data"]["reason"] == "too many sockets for this company (limit 3)"
    assert counts.admit("s6", Principal("co2", "ann")) is None  # another company: its own
    assert (counts.busiest_user(), counts.busiest_company()) == (2, 3)
    counts.release("s1")
    counts.release("s1")
    assert counts.admit("s3", ann) is None
    for sid in ("s2", "s3", "s4", "s6"):
        counts.release(sid)
    assert not counts.users
    assert not counts.companies
