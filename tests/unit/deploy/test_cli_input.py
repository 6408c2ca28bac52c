"""`tidewire tenant add` and `tidewire token` refuse what the admin API and the token
verifier refuse, before anything is stored or printed."""

from __future__ import annotations

import pytest

from tidewire_deploy.cli import main

pytestmark = pytest.mark.unit

_ADD = ["tenant", "add", "--company-id", "c1", "--name", "N"]
_CONN = ["--verify-token", "vt", "--app-secret", "sec"]
_PHONE = ["--phone-number-id", "pn-1"]
_TOKEN = ["token", "--company-id", "c1"]

CASES = {
    "empty-name": ([*_ADD[:-1], ""], "--name: String should have at least 1"),
    "long-display-number": (
        [*_ADD, *_PHONE, *_CONN, "--display-phone-number", "9" * 33],
        "--display-phone-number: String should have at most 32",
    ),
    "long-secret": (
        [*_ADD, *_PHONE, "--verify-token", "vt", "--app-secret", "s" * 257],
        "--app-secret: String should have at most 256",
    ),
    "bad-phone-id": (
        [*_ADD, "--phone-number-id", "has space", *_CONN],
        "--phone-number-id: String should match pattern",
    ),
    "bad-user-id": ([*_TOKEN, "--user-id", "a b"], "--user-id 'a b': 1-256 characters"),
    "ttl-0": ([*_TOKEN, "--user-id", "u1", "--ttl", "0"], "--ttl must be positive"),
}


@pytest.mark.parametrize(("argv", "says"), CASES.values(), ids=CASES.keys())
def test_refused_with_the_flag_named(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert says in out.err
    assert len(out.err.strip().splitlines()) == 1
