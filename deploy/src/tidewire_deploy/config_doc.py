"""Writes docs/configuration.md from the settings classes, so the reference cannot drift.

Every pydantic `BaseSettings` class under a service's `src/` is found by reading the source
(no list to keep up to date), imported, and rendered as one table: environment variable,
type and bounds, default, and the field's `description`. A field without a description is an
error, not a blank cell: the description is the documentation. The few variables read
outside a settings class (the ports of `tidewire up`, explicit binaries) are listed in
`OTHER_VARIABLES` below.

    python -m tidewire_deploy.config_doc           # rewrite docs/configuration.md
    python -m tidewire_deploy.config_doc --check   # exit 1 when the file is not current
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "configuration.md"
REGENERATE = "python -m tidewire_deploy.config_doc"
# The folders whose `src/` hold the services and the kernel.
PACKAGES = ("platform", "ingest", "projector", "edge", "outbound", "deploy")
# Sections in this order; a settings class not named here comes after them, by module.
ORDER = ("StackSettings", "IngestSettings", "EdgeSettings", "GatewaySettings")
# Section headings; a class not named here is headed by its own name.
TITLES = {
    "StackSettings": "Every process",
    "IngestSettings": "Ingest",
    "EdgeSettings": "Edge nodes",
    "GatewaySettings": "Gateway mode (edge nodes)",
}


@dataclass(frozen=True)
class Variable:
    """A variable read outside a settings class."""

    name: str
    default: str
    meaning: str
    read_in: str


OTHER_VARIABLES = (
    Variable(
        "TIDEWIRE_INGEST_PORT",
        "8000",
        "ingest's port under `tidewire up` (also `tidewire bench publish`'s default `--api`)",
        "deploy/src/tidewire_deploy/supervisor.py",
    ),
    Variable(
        "TIDEWIRE_PROJECTOR_PORT",
        "8200",
        "the projector's probes and metrics port under `tidewire up` (`/healthz`, `/readyz`, "
        "`/metrics`)",
        "deploy/src/tidewire_deploy/supervisor.py",
    ),
    Variable(
        "TIDEWIRE_OUTBOUND_PORT",
        "8210",
        "the outbound sender's probes and metrics port under `tidewire up`",
        "deploy/src/tidewire_deploy/supervisor.py",
    ),
    Variable(
        "TIDEWIRE_EDGE_PORTS",
        "8101,8102",
        "the edge nodes `tidewire up` starts, one per port (also the default `--edges` of "
        "`tidewire bench edge` and `tidewire bench publish`)",
        "deploy/src/tidewire_deploy/supervisor.py",
    ),
    Variable(
        "TIDEWIRE_INBOX_PORT",
        "8300",
        "the SDK's demo agent inbox under `tidewire up` (a development page, not in the chart)",
        "deploy/src/tidewire_deploy/supervisor.py",
    ),
    Variable(
        "TIDEWIRE_SIMULATOR_PORT",
        "8400",
        "the WhatsApp simulator under `tidewire up` (a development helper, not in the chart)",
        "deploy/src/tidewire_deploy/supervisor.py",
    ),
    Variable(
        "TIDEWIRE_PROMETHEUS_PORT",
        "9090",
        "where `tidewire up --observe` runs Prometheus (127.0.0.1 only)",
        "deploy/src/tidewire_deploy/observe.py",
    ),
    Variable(
        "TIDEWIRE_PROMETHEUS",
        "`prometheus` on the PATH, else /usr/bin/prometheus",
        "the Prometheus binary `tidewire up --observe` runs (set but not a file: an error)",
        "deploy/src/tidewire_deploy/prereqs.py",
    ),
    Variable(
        "TIDEWIRE_JAVA",
        "found on the machine",
        "the Java 17 binary that runs Kafka and Cassandra",
        "deploy/src/tidewire_deploy/prereqs.py",
    ),
    Variable(
        "TIDEWIRE_REDIS_SERVER",
        "found on the PATH",
        "the `redis-server` binary of the local stack",
        "deploy/src/tidewire_deploy/prereqs.py",
    ),
    Variable(
        "TIDEWIRE_CHROMIUM",
        "`chromium` on the PATH",
        "the Chromium the browser tests drive",
        "tests/browser",
    ),
)

HEADER = """\
# Configuration

<!-- Generated from the settings classes by `{regenerate}`:
edit their descriptions, not this file. A unit test fails while it is not current. -->

Every process reads its configuration from `TIDEWIRE_*` environment variables, checked at
start: a value of the wrong type or out of its bounds stops the process with the variable's
name. The defaults describe the local single-machine stack that `tidewire up` starts;
production points the same variables at real clusters (the Helm chart sets them from its
values, see [operations.md](operations.md)). Lists are JSON (`["https://app.example"]`).

Outside `TIDEWIRE_ENV=development` or `test`, the public development keys are refused:
set `TIDEWIRE_JWT_SECRET` (and `TIDEWIRE_ADMIN_JWT_SECRET` to administer tenants over HTTP).
"""


def settings_classes(repo: Path = REPO) -> list[type[BaseSettings]]:
    """Every `BaseSettings` subclass defined under the packages' `src/`, in `ORDER`."""
    found: list[type[BaseSettings]] = []
    for module_name, class_name in _declared(repo):
        cls = getattr(importlib.import_module(module_name), class_name)
        if isinstance(cls, type) and issubclass(cls, BaseSettings):
            found.append(cls)

    def rank(cls: type[BaseSettings]) -> tuple[int, str, str]:
        known = ORDER.index(cls.__name__) if cls.__name__ in ORDER else len(ORDER)
        return (known, cls.__module__, cls.__name__)

    return sorted(found, key=rank)


def _declared(repo: Path) -> Iterator[tuple[str, str]]:
    """(module, class) of each class whose bases name `BaseSettings`, read from the source."""
    for package in PACKAGES:
        src = repo / package / "src"
        for path in sorted(src.rglob("*.py")):
            text = path.read_text()
            if "BaseSettings" not in text:
                continue
            for node in ast.parse(text).body:
                if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(base).endswith("BaseSettings") for base in node.bases
                ):
                    parts = path.relative_to(src).with_suffix("").parts
                    yield ".".join(p for p in parts if p != "__init__"), node.name


def env_name(cls: type[BaseSettings], name: str, field: FieldInfo) -> str:
    """The environment variable of a field: its alias when it has one, else prefix + name."""
    if isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def type_text(annotation: Any) -> str:
    """A field's type as a reader wants it: `int`, `str | unset`, `community | saas1 | …`."""
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        shown = [type_text(a) for a in args if a is not type(None)]
        return " | ".join(shown) + (" or unset" if type(None) in args else "")
    if origin is not None:
        inner = ", ".join(type_text(a) for a in get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(str(m.value) for m in annotation)
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(field: FieldInfo) -> str:
    """The field's numeric bounds (`≥ 1`, `> 0`, `≤ 1024`)."""
    marks: list[str] = []
    for meta in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(meta, attr, None)
            if value is not None and isinstance(meta, annotated_types.BaseMetadata):
                marks.append(f"{sign} {_number(value)}")
    return ", ".join(marks)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else str(value)


def default_text(name: str, value: Any) -> str:
    """The default as one would type it, with sizes and durations spelled out."""
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, list):
        return f"`{json.dumps([str(v) for v in value])}`"
    if isinstance(value, str):
        if value and name.endswith(("secret", "password")):
            return "a public development key"
        return f"`{value}`" if value else "empty"
    text = f"`{value}`"
    if isinstance(value, int) and not isinstance(value, bool):
        if name.endswith("_bytes") and value >= 1024:
            text += f" ({_size(value)})"
        elif name.endswith("_ms") and value >= 3_600_000 and value % 3_600_000 == 0:
            hours = value // 3_600_000
            text += f" ({hours // 24} days)" if hours % 24 == 0 else f" ({hours} h)"
        elif name.endswith("_seconds") and value >= 3600 and value % 3600 == 0:
            text += f" ({value // 3600} h)"
    return text


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            amount = n / scale
            return f"{amount:g} {unit}" if amount == int(amount) else f"≈ {amount:.1f} {unit}"
    return f"{n} B"


def _cell(text: str) -> str:
    """Text for a table cell: one line; pipes escaped (GitHub needs it inside code spans too),
    and `<` outside code spans, where `<home>` would be read as an HTML tag."""
    pieces = " ".join(text.split()).split("`")
    pieces[::2] = [p.replace("<", "&lt;") for p in pieces[::2]]
    return "`".join(pieces).replace("|", "\\|")


class UndescribedField(ValueError):
    """A settings field has no `description`: the reference would have a blank cell."""


def section(cls: type[BaseSettings]) -> str:
    """One settings class as a heading, its docstring, where it lives and its table."""
    module = sys.modules[cls.__module__]
    source = Path(module.__file__ or "").resolve().relative_to(REPO)
    prefix = cls.model_config.get("env_prefix", "")
    intro = " ".join((cls.__doc__ or "").split())
    lines = [
        f"## {TITLES.get(cls.__name__, cls.__name__)} (`{prefix}*`)",
        "",
        f"{intro} Read by `{cls.__name__}` in `{source}`.".strip(),
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in cls.model_fields.items():
        if not field.description:
            raise UndescribedField(
                f"{cls.__name__}.{name} ({source}) has no description: add "
                f"Field(..., description=...) and run `{REGENERATE}`"
            )
        bounds = bounds_text(field)
        kind = type_text(field.annotation) + (f", {bounds}" if bounds else "")
        lines.append(
            f"| `{env_name(cls, name, field)}` | {_cell(kind)} "
            f"| {default_text(name, field.default)} | {_cell(field.description)} |"
        )
    return "\n".join(lines)


def others() -> str:
    lines = [
        "## Read outside the settings classes",
        "",
        "The local stack's ports and binaries, read by the CLI when it starts processes.",
        "",
        "| variable | default | meaning | read in |",
        "|---|---|---|---|",
    ]
    for v in OTHER_VARIABLES:
        lines.append(f"| `{v.name}` | {v.default} | {_cell(v.meaning)} | `{v.read_in}` |")
    return "\n".join(lines)


def render() -> str:
    """The whole of docs/configuration.md."""
    parts = [HEADER.format(regenerate=REGENERATE).strip()]
    parts += [section(cls) for cls in settings_classes()]
    parts.append(others())
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the file is not current")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        if DOC.exists() and DOC.read_text() == text:
            return 0
        print(f"{DOC.relative_to(REPO)} is not current: run `{REGENERATE}`", file=sys.stderr)
        return 1
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
