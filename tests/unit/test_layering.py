"""Who may import whom: the product never imports the tests or the benchmarks, and the tests
import a benchmark only to test that benchmark; the product's image is built without them."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["platform", "ingest", "projector", "outbound", "edge", "simulator", "deploy"]


def _imports(path: Path) -> Iterator[str]:
    """Every module name `path` imports, at any depth (lazy imports inside functions too)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def test_product_modules_import_neither_tests_nor_benchmarks() -> None:
    offending = [
        f"{path.relative_to(ROOT)}: {module}"
        for folder in PRODUCT
        for path in sorted((ROOT / folder / "src").rglob("*.py"))
        for module in _imports(path)
        if _top(module) in ("tests", "tidewire_bench")
    ]
    assert offending == []


def test_product_modules_read_no_files_of_the_tests_folder() -> None:
    """A path built from a `"tests"` part (`… / "tests" / "js"`) is the tests' files read at
    run time: what the product needs ships in its own package."""
    offending = [
        str(path.relative_to(ROOT))
        for folder in PRODUCT
        for path in sorted((ROOT / folder / "src").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and node.value in ("tests", "tests/")
    ]
    assert offending == []


def test_only_the_benchmarks_own_tests_import_a_benchmark() -> None:
    own = ROOT / "tests" / "unit" / "bench"
    offending = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if own not in path.parents
        for module in _imports(path)
        if _top(module) == "tidewire_bench"
    ]
    assert offending == []


def test_the_product_distribution_and_image_leave_the_benchmarks_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    where = project["tool"]["setuptools"]["packages"]["find"]["where"]
    assert where == [f"{folder}/src" for folder in PRODUCT]
    dockerfile = (ROOT / "deploy" / "container" / "Dockerfile").read_text()
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert "bench" not in copied
