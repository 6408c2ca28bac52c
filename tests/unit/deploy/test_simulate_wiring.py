"""How `tidewire up` and `tidewire simulate` wire the simulator: the outbound sender sends to
it, it posts to this stack's ingest, the demo connection is one it accepts; bad flags are
refused before anything is provisioned."""

from __future__ import annotations

import argparse

import pytest

from tidewire_deploy import supervisor
from tidewire_deploy.cli import main, parser
from tidewire_platform.settings import StackSettings
from tidewire_simulator import flags
from tidewire_simulator.simulation import DEMO

pytestmark = pytest.mark.unit


def _by_name(simulate: bool) -> dict[str, supervisor.Service]:
    return {s.name: s for s in supervisor.services(flags.PaceFlags() if simulate else None)}


def test_up_runs_the_simulator_and_points_the_outbound_sender_at_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TIDEWIRE_GRAPH_API_BASE", raising=False)
    svc = _by_name(simulate=True)
    sim = svc["simulator"]
    assert sim.port == supervisor.SIMULATOR_PORT
    assert (
        sim.argv[sim.argv.index("--ingest-url") + 1] == f"http://127.0.0.1:{supervisor.INGEST_PORT}"
    )
    assert sim.argv[sim.argv.index("--port") + 1] == str(supervisor.SIMULATOR_PORT)
    env = svc["outbound"].env
    assert env is not None
    assert env["TIDEWIRE_GRAPH_API_BASE"] == f"http://127.0.0.1:{supervisor.SIMULATOR_PORT}/v21.0"
    assert "PATH" in env  # the whole environment, not just the override


def test_no_simulate_runs_none_and_leaves_the_graph_api_alone() -> None:
    svc = _by_name(simulate=False)
    assert "simulator" not in svc
    assert svc["outbound"].env is None


def test_the_demo_connection_is_the_one_the_simulator_plays() -> None:
    c = supervisor.DEMO_CONNECTION
    assert (c.company_id, c.phone_number_id, c.app_secret, c.access_token) == (
        DEMO.company_id,
        DEMO.phone_number_id,
        DEMO.app_secret,
        DEMO.access_token,
    )


def test_up_simulates_unless_told_not_to() -> None:
    assert parser().parse_args(["up"]).no_simulate is False
    assert parser().parse_args(["up", "--no-simulate"]).no_simulate is True


def test_the_simulate_flags_survive_the_trip_to_the_simulator_process() -> None:
    given = ["simulate", "--rate", "2.5", "--companies", "3", "--customers", "7", "--seed", "4"]
    args = parser().parse_args([*given, "--failure-rate", "0", "--speed", "2", "--port", "9"])
    again = argparse.ArgumentParser()
    flags.add_arguments(again)
    back = vars(again.parse_args(flags.argv_of(args)))
    assert back == {k: v for k, v in vars(args).items() if k in back}
    assert (back["rate"], back["companies"], back["seed"], back["port"]) == (2.5, 3, 4, 9)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--rate", "-1", "--rate must be >= 0"),
        ("--companies", "0", "--companies must be >= 1"),
        ("--customers", "0", "--customers must be >= 1"),
        ("--failure-rate", "2", "--failure-rate must be within [0, 1]"),
        ("--speed", "0", "--speed must be positive"),
    ],
)
def test_bad_simulate_flags_are_refused_before_provisioning(
    flag: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", flag, value]) == 2
    assert says in capsys.readouterr().err


def test_a_graph_api_base_the_user_set_is_kept_under_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEWIRE_GRAPH_API_BASE", "https://graph.example/v21.0")
    svc = _by_name(simulate=True)
    assert "simulator" in svc  # customers still write in
    assert svc["outbound"].env is None  # the user's base, untouched


def test_up_passes_its_pace_to_the_simulator_and_provisions_those_companies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = parser().parse_args(["up", "--rate", "1.5", "--companies", "3", "--customers", "9"])
    seen: list[flags.PaceFlags | None] = []
    monkeypatch.setattr(
        supervisor, "up", lambda s, detach, simulate, observing: seen.append(simulate) or 0
    )
    assert args.func(args) == 0
    pace = seen[0]
    assert pace == flags.PaceFlags(1.5, 3, 9)
    sim = {s.name: s for s in supervisor.services(pace)}["simulator"].argv
    assert sim[-3:] == ["--rate=1.5", "--companies=3", "--customers=9"]
    assert [t.company_id for t, _ in supervisor.demo_tenants(pace.companies)] == [
        "demo",
        "demo-2",
        "demo-3",
    ]
    assert parser().parse_args(["up"]).companies == 1


def test_up_refuses_bad_pace_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--companies", "0"]) == 2
    assert "--companies must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["simulate"], ["up"], ["up", "--no-simulate"]])
def test_demo_tenants_are_never_provisioned_under_production_settings(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIDEWIRE_ENV", "production")
    monkeypatch.setenv("TIDEWIRE_JWT_SECRET", "p" * 40)
    monkeypatch.delenv("TIDEWIRE_GRAPH_API_BASE", raising=False)
    touched: list[str] = []
    monkeypatch.setattr(supervisor, "up", lambda *a, **k: touched.append("up") or 0)
    monkeypatch.setattr(supervisor, "run_foreground", lambda argv: touched.append("sim") or 0)
    monkeypatch.setattr(
        "tidewire_deploy.provision.provision", lambda *a, **k: touched.append("provision")
    )
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "refused under production settings" in err[0]
    assert touched == []


def test_the_banner_says_where_agents_replies_go(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TIDEWIRE_GRAPH_API_BASE", raising=False)
    supervisor._banner(StackSettings(), flags.PaceFlags())
    assert "every tenant's sends go to the simulator" in capsys.readouterr().out
    monkeypatch.setenv("TIDEWIRE_GRAPH_API_BASE", "https://graph.example/v21.0")
    supervisor._banner(StackSettings(), flags.PaceFlags())
    assert "https://graph.example/v21.0  (TIDEWIRE_GRAPH_API_BASE, kept" in capsys.readouterr().out
