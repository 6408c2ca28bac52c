import re

import pytest

from tidewire_deploy.gateway_proxy import TEMPLATE, render, render_file

pytestmark = pytest.mark.unit


def _upstream(conf: str, name: str) -> list[str]:
    block = re.search(rf"upstream {name} \{{(.*?)\n\}}", conf, re.S)
    assert block, conf
    return [
        line.strip() for line in block.group(1).splitlines() if line.strip().startswith("server")
    ]


def test_the_documented_file_renders_with_real_addresses() -> None:
    conf = render_file(
        edges=["127.0.0.1:9001", "127.0.0.1:9002"], backend="127.0.0.1:7000", listen=8999
    )
    assert _upstream(conf, "tidewire_edges") == [
        "server 127.0.0.1:9001 max_fails=1 fail_timeout=2s;",
        "server 127.0.0.1:9002 max_fails=1 fail_timeout=2s;",
    ]
    assert _upstream(conf, "helpdesk_backend") == ["server 127.0.0.1:7000;"]
    assert re.findall(r"^\s*listen .*$", conf, re.M) == ["    listen 8999;"]
    # Everything else is the documented file, line for line.
    kept = [line for line in TEMPLATE.read_text().splitlines() if "server 127.0.0.1" not in line]
    assert [line for line in kept if "listen" not in line] == [
        line
        for line in conf.splitlines()
        if "server 127.0.0.1" not in line and "listen" not in line
    ]
    assert "hash $remote_addr consistent;" in conf
    assert "location /socket.io/ {" in conf


def test_a_drained_edge_is_marked_down_and_may_be_any_number() -> None:
    conf = render_file(
        edges=["10.0.0.1:8101", "10.0.0.2:8101", "[::1]:8101"],
        backend="backend:8080",
        listen="0.0.0.0:80",
        down={"10.0.0.2:8101"},
    )
    assert _upstream(conf, "tidewire_edges") == [
        "server 10.0.0.1:8101 max_fails=1 fail_timeout=2s;",
        "server 10.0.0.2:8101 max_fails=1 fail_timeout=2s down;",
        "server [::1]:8101 max_fails=1 fail_timeout=2s;",
    ]
    assert "listen 0.0.0.0:80;" in conf


@pytest.mark.parametrize(
    ("edges", "backend", "listen", "down", "why"),
    [
        ([], "b:1", 80, (), "at least one edge"),
        (["a:1; include /etc/passwd"], "b:1", 80, (), "is not host:port"),
        (["a:1"], "b:1 }", 80, (), "is not host:port"),
        (["a:1"], "b:1", "80; user root", (), "is not a port"),
        (["a:1"], "b:1", 80, ("c:2",), "marked down but not listed"),
    ],
)
def test_addresses_that_could_break_out_of_a_directive_are_refused(
    edges: list[str], backend: str, listen: object, down: tuple[str, ...], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        render_file(edges=edges, backend=backend, listen=listen, down=down)  # type: ignore[arg-type]


def test_a_template_without_what_is_replaced_is_refused() -> None:
    template = TEMPLATE.read_text()
    with pytest.raises(ValueError, match="helpdesk_backend"):
        render(
            template.replace("upstream helpdesk_backend", "upstream other"),
            edges=["a:1"],
            backend="b:2",
            listen=80,
        )
    with pytest.raises(ValueError, match="listen"):
        render(template.replace("listen 8443;", ""), edges=["a:1"], backend="b:2", listen=80)
