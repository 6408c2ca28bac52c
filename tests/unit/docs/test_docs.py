"""The documents users read say only what is true of this tree: every `tidewire` command and
flag they name exists in the CLI, every repository path they name exists, every relative
link resolves, and none carries work-item numbers or build history (that is git's and the
changelog's)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tests.support.markdown import REPO, Doc, parse, user_docs
from tidewire_deploy.cli import parser as cli_parser

pytestmark = pytest.mark.unit

DOCS = [parse(path) for path in user_docs() if path.exists()]
# Documents that describe the tree as it is (the changelog may name what was removed).
CURRENT = [d for d in DOCS if d.path.name != "CHANGELOG.md"]
SHELL = {"sh", "shell", "bash", "console", "sh-session"}
# Made by `make` and `tidewire up`, never committed.
GENERATED = {".venv", "node_modules", ".tidewire"}

# Work-item numbers and build history: in no document at all.
WORK_ITEMS = re.compile(
    r"\b(?:issue|session|sprint|work[- ]item|milestone)s?\s*#?\d+"
    r"|(?<![\w&/#])#\d+\b"
    r"|\bwork[- ]items?\b",
    re.IGNORECASE,
)
# How things used to be: in no document but the changelog.
HISTORY = re.compile(
    r"\((?:was|were)\b|\bused to (?:be|wait|hold|make|have|take|keep)\b"
    r"|\bpreviously\b|\bformerly\b"
    r"|\bno longer (?:does|is|has)\b",
    re.IGNORECASE,
)


def _commands(doc: Doc) -> list[tuple[list[str], int]]:
    """Each `tidewire …` invocation (its arguments) in the inline code and shell blocks."""
    texts = list(doc.inline_code)
    for block in doc.blocks:
        if block.info.split()[:1] and block.info.split()[0] in SHELL:
            joined = block.code.replace("\\\n", " ")
            texts += [(line, block.line + n) for n, line in enumerate(joined.splitlines(), 1)]
    found: list[tuple[list[str], int]] = []
    for text, line in texts:
        words = text.split()
        for i, word in enumerate(words):
            if word.lstrip("$(") == "tidewire" or word.endswith("bin/tidewire"):
                args: list[str] = []
                for arg in words[i + 1 :]:
                    if arg[0] in "|;&)#" or arg.startswith("$("):
                        break
                    args.append(arg)
                found.append((args, line))
    return found


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser | None]:
    """The words that may follow at this level: subparsers, or a positional's choices."""
    words: dict[str, argparse.ArgumentParser | None] = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            words.update(action.choices)
        elif not action.option_strings and action.choices is not None:
            words.update(dict.fromkeys(map(str, action.choices)))
    return words


def _check_invocation(args: list[str]) -> str | None:
    """Why `tidewire <args>` names something the CLI lacks (None: it all exists)."""
    p = cli_parser()
    path = ["tidewire"]
    expecting = True  # the next plain word may be a subcommand
    for raw in args:
        arg = raw.strip("[]`,.'\"")
        if arg.startswith("--"):
            flag = arg.split("=")[0]
            if flag not in p._option_string_actions:
                return f"`{' '.join(path)}` has no option {flag}"
            expecting = False
            continue
        words = _subcommands(p)
        if expecting and words and re.fullmatch(r"[a-z][a-z0-9-]*", arg):
            if arg not in words:
                return f"`{' '.join(path)}` has no subcommand {arg!r} (it has {sorted(words)})"
            path.append(arg)
            sub = words[arg]
            if sub is not None:
                p = sub
            expecting = sub is not None
        else:
            expecting = False  # a value or placeholder: no subcommand after it
    return None


@pytest.mark.parametrize("doc", CURRENT, ids=lambda d: d.name)
def test_every_tidewire_command_and_flag_named_exists(doc: Doc) -> None:
    wrong = [
        f"{doc.name}:{line}: {why}"
        for args, line in _commands(doc)
        if (why := _check_invocation(args)) is not None
    ]
    assert not wrong, "\n".join(wrong)


def _path_candidates(doc: Doc) -> list[tuple[str, int]]:
    texts = list(doc.inline_code)
    for block in doc.blocks:
        if block.info.split()[:1] and block.info.split()[0] in SHELL:
            texts += [(w, block.line) for w in block.code.split()]
    return [
        (text, line)
        for text, line in texts
        if "/" in text
        and " " not in text
        and not text.startswith(("/", "http", "@", "$", "<", "."))
        and "://" not in text
    ]


def _exists(base: Path, text: str) -> bool:
    pattern = re.sub(r"NNNN|<[^>]*>", "*", text.rstrip("/:,.")).split(":")[0]
    pattern = pattern.replace("…", "**")
    return any(base.glob(pattern)) if "*" in pattern else (base / pattern).exists()


@pytest.mark.parametrize("doc", CURRENT, ids=lambda d: d.name)
def test_every_repository_path_named_exists(doc: Doc) -> None:
    missing: list[str] = []
    for text, line in _path_candidates(doc):
        first = text.split("/")[0]
        if first in GENERATED:
            continue
        # A path of the repository, or of the document's own folder (an SDK's `src/…`).
        bases = [b for b in (REPO, doc.path.parent) if (b / first).exists()]
        if bases and not any(_exists(b, text) for b in bases):
            missing.append(f"{doc.name}:{line}: {text}")
    assert not missing, "named but not in the repository:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_relative_link_resolves(doc: Doc) -> None:
    anchors = {d.path: d.anchors for d in DOCS}
    broken: list[str] = []
    for href, line in doc.links:
        if re.match(r"[a-z]+:", href):
            continue  # http:, https:, mailto:
        target, _, anchor = href.partition("#")
        path = (doc.path.parent / target).resolve() if target else doc.path
        if not path.exists():
            broken.append(f"{doc.name}:{line}: {href} (no such file)")
        elif anchor and path.suffix == ".md":
            known = anchors.get(path) or parse(path).anchors
            if anchor not in known:
                broken.append(f"{doc.name}:{line}: {href} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_no_work_item_numbers_or_build_history(doc: Doc) -> None:
    patterns = [WORK_ITEMS] + ([HISTORY] if doc in CURRENT else [])
    hits = [
        f"{doc.name}:{n}: {m.group(0)!r} in {line.strip()!r}"
        for n, line in enumerate(doc.path.read_text().splitlines(), 1)
        for pattern in patterns
        for m in pattern.finditer(line)
    ]
    assert not hits, "say what holds now; history belongs to git:\n" + "\n".join(hits)


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The checks above are not vacuous: each finds a planted mistake."""
    assert _check_invocation(["up", "--detach"]) is None
    assert _check_invocation(["infra", "status", "--quiet"]) is None
    assert "no subcommand 'launch'" in (_check_invocation(["launch"]) or "")
    assert "no option --colour" in (_check_invocation(["bench", "edge", "--colour"]) or "")
    assert "no option --port" in (_check_invocation(["up", "--port", "1"]) or "")
    assert WORK_ITEMS.search("as decided in issue 17")
    assert WORK_ITEMS.search("see #17")
    assert not WORK_ITEMS.search("[x](docs/gateway.md#3-the-edge) and &#39;")
    assert HISTORY.search("recent records (was 20,000 records)")
    planted = tmp_path / "doc.md"
    planted.write_text("Run `tidewire up --observe-all`, see `deploy/nowhere.py`.\n")
    doc = parse(planted)
    assert [args for args, _ in _commands(doc)] == [["up", "--observe-all"]]
    assert _path_candidates(doc) == [("deploy/nowhere.py", 1)]
    assert not _exists(REPO, "deploy/nowhere.py")
    assert _exists(REPO, "deploy/src/tidewire_deploy/migrations/NNNN_*.cql")
    assert _exists(REPO, "platform/…/settings.py")
    chart = tmp_path / "chart.md"
    chart.write_text("`helm install tw helm/tidewire --set a=b`\n")
    assert _commands(parse(chart)) == []
