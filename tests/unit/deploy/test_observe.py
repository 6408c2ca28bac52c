"""The Prometheus configuration `tidewire up --observe` writes: Prometheus' own checker accepts
it with the rules file it names, and it scrapes the ports the stack listens on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tidewire_deploy import observe, supervisor
from tidewire_deploy.prereqs import MissingPrerequisite, prometheus


def test_promtool_accepts_the_config_and_the_rules_it_loads(tmp_path: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"  # Debian's prometheus package
    cfg = observe.write_config(
        tmp_path / "prometheus.yml", observe.config(supervisor.scrape_targets())
    )
    done = subprocess.run(
        [promtool, "check", "config", str(cfg)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "11 rules found" in done.stdout + done.stderr  # the rules file was read, not skipped


def test_each_process_is_a_job_the_rules_select_at_its_own_port() -> None:
    cfg = observe.config({"ingest": [18000], "edge": [18101, 18102]}, interval_s=0.5)
    assert cfg["global"] == {"scrape_interval": "500ms", "evaluation_interval": "500ms"}
    assert cfg["rule_files"] == [str(observe.RULES.resolve())]
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in cfg["scrape_configs"]}
    assert jobs == {
        "tidewire-ingest": ["127.0.0.1:18000"],
        "tidewire-edge": ["127.0.0.1:18101", "127.0.0.1:18102"],
    }
    assert 'job=~"tidewire-.*"' in observe.RULES.read_text()  # what the chart narrows
    ports = supervisor.scrape_targets()
    assert ports["ingest"] == [supervisor.INGEST_PORT]
    assert ports["edge"] == list(supervisor.EDGE_PORTS)


def test_the_marker_names_this_stacks_data_folder_and_port(tmp_path: Path) -> None:
    """`tidewire down` finds its Prometheus by the arguments after the binary and the
    configuration: another stack's Prometheus (another folder or port) is never signalled."""
    argv = observe.argv(tmp_path / "p.yml", tmp_path / "data", 19090, binary="/usr/bin/prometheus")
    marker = " ".join(argv[2:])
    assert f"--storage.tsdb.path={tmp_path / 'data'}" in marker
    assert "--web.listen-address=127.0.0.1:19090" in marker


def test_a_named_binary_that_is_missing_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIDEWIRE_PROMETHEUS", str(tmp_path / "absent"))
    with pytest.raises(MissingPrerequisite, match="TIDEWIRE_PROMETHEUS"):
        prometheus()
    monkeypatch.delenv("TIDEWIRE_PROMETHEUS")
    assert Path(prometheus()).is_file()  # Debian's, installed by `make`


def test_a_taken_prometheus_port_names_the_way_out() -> None:
    hint = supervisor._PORT_HINTS["prometheus"]
    assert "TIDEWIRE_PROMETHEUS_PORT" in hint
    assert "systemctl disable --now prometheus" in hint


def test_the_installer_stops_the_system_prometheus_it_may_start() -> None:
    """Debian's package starts prometheus.service on every interface; the installer disables
    it, guarded so that a machine without systemd (a container) is left alone."""
    script = (Path(__file__).parents[3] / "deploy/scripts/install-system.sh").read_text()
    after_install = script[script.index("apt-get install") :]
    assert "systemctl disable --now prometheus" in after_install
    guard = after_install[: after_install.index("systemctl disable")]
    assert "command -v systemctl" in guard
    assert "[ -d /run/systemd/system ]" in guard


def test_observe_without_the_charts_rules_says_it_needs_a_source_checkout(
    tmp_path: Path,
) -> None:
    assert observe.rules_file() == observe.RULES  # a clone has them
    with pytest.raises(MissingPrerequisite, match=r"development feature.*source checkout"):
        observe.rules_file(tmp_path / "gone.rules.yaml")
