"""An idle keep-alive connection stays open longer than the peers in front of ingest keep
theirs, so a webhook sent on it is never met by a server closing the connection (a TCP reset
to Meta or to the ingress). uvicorn's default closed it after 5 s."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.stack import Services

pytestmark = pytest.mark.integration

_UVICORN_DEFAULT_S = 5.0


def _get_healthz(sock: socket.socket, port: int) -> bytes:
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed mid-answer: {answer!r}"
        answer += chunk
    return answer


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed its side (EOF or reset waiting to be read)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # open, nothing to read
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def test_idle_connection_outlives_uvicorns_default(services: Services) -> None:
    port = services.ingest_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert _get_healthz(sock, port).startswith(b"HTTP/1.1 200")
        # Idle past uvicorn's default keep-alive: this wait is the scenario, not a sync point.
        idle_until = time.monotonic() + _UVICORN_DEFAULT_S + 1.5
        while time.monotonic() < idle_until:
            assert not _closed_by_server(sock), "ingest closed an idle keep-alive connection"
            time.sleep(0.25)
        assert _get_healthz(sock, port).startswith(b"HTTP/1.1 200")
