"""The reverse proxy of gateway mode, rendered for a deployment's addresses.

A Whaticket-family front end uses one URL for its REST API and its socket, so gateway mode
puts nginx in front: `/socket.io/` to tidewire's edges, everything else to the helpdesk's own
backend. `deploy/gateway/nginx.conf` is both the documented configuration and the template:
`render` swaps in the edges' and the backend's addresses and the listen port, keeping every
other line (and each `server` line's parameters) as documented, so what the tests run under
Debian's nginx is what the docs tell operators to deploy.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "gateway" / "nginx.conf"

EDGES_UPSTREAM = "tidewire_edges"
BACKEND_UPSTREAM = "helpdesk_backend"

# host:port, IPv4/name or [IPv6], or unix:/path: nothing that could end a directive.
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$|^unix:/[^\s;{}#]+$")
_UPSTREAM = re.compile(r"^(\s*)upstream\s+(\S+)\s*\{\s*$")
_SERVER = re.compile(r"^(\s*)server\s+(\S+)((?:\s+[^;]*?)?)\s*;\s*(#.*)?$")
_LISTEN = re.compile(r"^(\s*)listen\s+[^;]+;")


def _checked(address: str) -> str:
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"{address!r} is not host:port (or unix:/path)")
    return address


def render(
    template: str,
    *,
    edges: Sequence[str],
    backend: str,
    listen: int | str,
    down: Collection[str] = (),
) -> str:
    """`template` with the edges' upstream made of `edges` (those in `down` marked `down`,
    as an operator drains an edge: its clients recover on the others), the backend's upstream
    made of `backend`, and the server listening on `listen` (a port or `address:port`).

    Each new `server` line keeps the parameters of the template's first one in its upstream
    (`max_fails`, `fail_timeout`…). Raises ValueError if the template lacks an upstream or a
    `listen` directive to replace, so a change of the documented file cannot slip past."""
    if not edges:
        raise ValueError("at least one edge")
    unknown = set(down) - set(edges)
    if unknown:
        raise ValueError(f"edges marked down but not listed: {sorted(unknown)}")
    listen_text = str(listen)
    if not re.fullmatch(r"\d{1,5}|[A-Za-z0-9.:\[\]-]+:\d{1,5}", listen_text):
        raise ValueError(f"{listen_text!r} is not a port or address:port")
    servers = {
        EDGES_UPSTREAM: [(_checked(e), e in down) for e in edges],
        BACKEND_UPSTREAM: [(_checked(backend), False)],
    }
    out: list[str] = []
    replaced: set[str] = set()
    listens = 0
    upstream: str | None = None
    for line in template.splitlines():
        opened = _UPSTREAM.match(line)
        if opened:
            upstream = opened.group(2)
            out.append(line)
            continue
        if upstream is not None and line.strip() == "}":
            upstream = None
        if upstream in servers:
            server = _SERVER.match(line)
            if server:
                if upstream not in replaced:  # the first server line stands for all
                    indent, params = server.group(1), server.group(3).strip()
                    for address, is_down in servers[upstream]:
                        extra = " ".join(p for p in (params, "down" if is_down else "") if p)
                        out.append(f"{indent}server {address}{' ' + extra if extra else ''};")
                    replaced.add(upstream)
                continue
        listening = _LISTEN.match(line)
        if listening and upstream is None:
            out.append(f"{listening.group(1)}listen {listen_text};")
            listens += 1
            continue
        out.append(line)
    missing = sorted(set(servers) - replaced)
    if missing:
        raise ValueError(f"the template has no server line in upstream(s) {missing}")
    if listens != 1:
        raise ValueError(f"the template needs exactly one listen directive, found {listens}")
    return "\n".join(out) + "\n"


def render_file(
    *,
    edges: Sequence[str],
    backend: str,
    listen: int | str,
    down: Collection[str] = (),
    template: Path = TEMPLATE,
) -> str:
    """`render` of the documented configuration (`deploy/gateway/nginx.conf`)."""
    return render(template.read_text(), edges=edges, backend=backend, listen=listen, down=down)
