"""Which binary a `go install` of a pinned module leaves in `<home>/bin`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidewire_deploy.go_tools import HELM, VEGETA, binary_name, ensure_go_tool

pytestmark = pytest.mark.unit


def test_binary_names_skip_major_version_suffixes() -> None:
    assert binary_name(VEGETA) == "vegeta"
    assert binary_name(HELM) == "helm"
    assert binary_name("example.com/tool@v1.0.0") == "tool"


def test_an_installed_binary_is_used_without_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "helm").write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", "")  # no `go` to find: the existing binary must do
    assert ensure_go_tool(tmp_path, HELM) == (tmp_path / "bin" / "helm").resolve()
