"""What the docs say, as parsed Markdown: code blocks (and the snippet marker above one),
inline code, links and headings' anchors. Parsed with markdown-it-py, so a table cell or a
nested list is read as GitHub renders it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

REPO = Path(__file__).resolve().parents[2]
_MARKER = re.compile(r"<!--\s*snippet:\s*([\w-]+)\s*-->")


@dataclass(frozen=True)
class Block:
    """A fenced code block; `snippet` names it when `<!-- snippet: NAME -->` comes just before."""

    info: str
    code: str
    line: int
    snippet: str | None


@dataclass(frozen=True)
class Doc:
    path: Path
    blocks: list[Block]
    inline_code: list[tuple[str, int]]  # (text, line)
    links: list[tuple[str, int]]  # (href, line)
    anchors: set[str]

    @property
    def name(self) -> str:
        return str(self.path.relative_to(REPO))

    def snippet(self, name: str) -> str:
        found = [b.code for b in self.blocks if b.snippet == name]
        assert len(found) == 1, f"{self.name}: {len(found)} blocks marked `snippet: {name}`"
        return found[0]


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def parse(path: Path) -> Doc:
    tokens = _parser().parse(path.read_text())
    blocks: list[Block] = []
    inline: list[tuple[str, int]] = []
    links: list[tuple[str, int]] = []
    anchors: set[str] = set()
    marker: str | None = None
    for i, token in enumerate(tokens):
        line = (token.map[0] + 1) if token.map else 0
        if token.type == "html_block":
            found = _MARKER.search(token.content)
            marker = found.group(1) if found else None
            continue
        if token.type == "fence":
            blocks.append(Block(token.info.strip(), token.content, line, marker))
        elif token.type == "heading_open":
            anchors.add(slug(_text(tokens[i + 1])))
        elif token.type == "inline":
            for child in token.children or []:
                if child.type == "code_inline":
                    inline.append((child.content.replace("\\|", "|"), line))
                elif child.type == "link_open":
                    links.append((str(child.attrs.get("href", "")), line))
        marker = None  # a marker names the block right after it only
    return Doc(path, blocks, inline, links, anchors)


def _text(inline: Token) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def user_docs() -> list[Path]:
    """The documents users read: the README, docs/, the SDKs' READMEs, the changelog."""
    return [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "sdk").glob("*/README.md")),
    ]
