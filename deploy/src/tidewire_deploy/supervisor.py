"""`tidewire up | down`: the engines plus ingest, projector, outbound sender, two edge nodes, the
demo inbox and the WhatsApp simulator (and, with `--observe`, a Prometheus scraping them).

Foreground `up` owns everything it started and stops it on Ctrl-C (services first, then the
engines it started itself); `up --detach` leaves them running for `tidewire down`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType

from tidewire_deploy import inbox, infra, observe
from tidewire_deploy.dashboards import CHART_COPY as CHART_DASHBOARD
from tidewire_deploy.engines import port_open
from tidewire_deploy.layout import layout_of
from tidewire_deploy.prereqs import prometheus
from tidewire_deploy.procs import Managed
from tidewire_deploy.projector_pause import hold_file
from tidewire_deploy.provision import provision
from tidewire_platform.settings import StackSettings
from tidewire_platform.tenants import Connection, Tenant, TenantConflict
from tidewire_platform.tokens import issue_token
from tidewire_simulator import flags as simulator
from tidewire_simulator.flags import PaceFlags
from tidewire_simulator.simulation import DEMO, companies

INGEST_PORT = int(os.environ.get("TIDEWIRE_INGEST_PORT", "8000"))
PROJECTOR_PORT = int(os.environ.get("TIDEWIRE_PROJECTOR_PORT", "8200"))
OUTBOUND_PORT = int(os.environ.get("TIDEWIRE_OUTBOUND_PORT", "8210"))
EDGE_PORTS = tuple(int(p) for p in os.environ.get("TIDEWIRE_EDGE_PORTS", "8101,8102").split(","))
INBOX_PORT = int(os.environ.get("TIDEWIRE_INBOX_PORT", "8300"))
SIMULATOR_PORT = int(os.environ.get("TIDEWIRE_SIMULATOR_PORT", str(simulator.DEFAULT_PORT)))
DEMO_COMPANY, DEMO_USER = DEMO.company_id, "agent-1"
# The demo tenant's WhatsApp connection: development values, printed in the banner so a
# developer can point a webhook (or a signed curl) at the local ingest. The simulator plays
# Meta for it (its access token is the one the simulator's Graph API stand-in accepts).
DEMO_TENANT = Tenant(DEMO_COMPANY, DEMO.name)
DEMO_CONNECTION = Connection(
    company_id=DEMO_COMPANY,
    phone_number_id=DEMO.phone_number_id,
    display_phone_number=DEMO.display_phone_number,
    verify_token=DEMO.verify_token,
    app_secret=DEMO.app_secret,
    access_token=DEMO.access_token,
)


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    port: int
    # What `up` waits for: the projector counts as started once Cassandra and its producer
    # are open (bad settings or a schema it cannot use fail there), the others once they answer.
    probe: str = "/healthz"
    # ... and then stays up this long after that: faust opens its data folder and joins the
    # group once the stores are open, and fails there within the next seconds if it cannot.
    settle_s: float = 0.0
    env: Mapping[str, str] | None = None  # the whole environment when given

    @property
    def marker(self) -> str:
        return " ".join(self.argv[2:])  # "tidewire_edge --port 8101" etc.


def edge_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "tidewire_edge", "--port", str(port)]


def outbound_argv(port: int | None, host: str = "127.0.0.1") -> list[str]:
    """The outbound sender; probes on `port` when given."""
    argv = [sys.executable, "-m", "tidewire_outbound"]
    return argv if port is None else [*argv, "--host", host, "--port", str(port)]


def simulator_base() -> str:
    """The Graph API base URL of the simulator `up` starts."""
    return f"http://127.0.0.1:{SIMULATOR_PORT}/v21.0"


def simulator_argv(pace: PaceFlags | None = None) -> list[str]:
    """The WhatsApp simulator for the demo tenants at `pace`, posting webhooks to this stack's
    ingest."""
    module = "tidewire_simulator"
    argv = [sys.executable, "-m", module, "--port", str(SIMULATOR_PORT)]
    return [*argv, "--ingest-url", f"http://127.0.0.1:{INGEST_PORT}", *(pace or PaceFlags()).argv()]


def demo_tenants(count: int) -> list[tuple[Tenant, Connection]]:
    """The simulated companies (demo, demo-2, ...) as tenants with their connections."""
    return [
        (
            Tenant(c.company_id, c.name),
            Connection(
                c.company_id,
                c.phone_number_id,
                c.display_phone_number,
                c.verify_token,
                c.app_secret,
                access_token=c.access_token,
            ),
        )
        for c in companies(count)
    ]


def user_graph_base() -> str | None:
    """A Graph API base the user set in the environment: `up` keeps it over its simulator's."""
    return os.environ.get("TIDEWIRE_GRAPH_API_BASE") or None


def services(simulate: PaceFlags | None = None) -> list[Service]:
    """What `up` runs; with `simulate` (the simulator's pace), the simulator too, and the
    outbound sender sends to it instead of the Graph API: every tenant's sends, as the base is
    one for the whole process (a Graph base per connection is future work). A
    TIDEWIRE_GRAPH_API_BASE the user set is kept (the banner says so)."""
    redirect = simulate is not None and user_graph_base() is None
    graph = {**os.environ, "TIDEWIRE_GRAPH_API_BASE": simulator_base()} if redirect else None
    return [
        Service(
            "ingest",
            [sys.executable, "-m", "tidewire_ingest", "--port", str(INGEST_PORT)],
            INGEST_PORT,
        ),
        Service(
            "projector",
            [sys.executable, "-m", "tidewire_projector", "--port", str(PROJECTOR_PORT)],
            PROJECTOR_PORT,
            "/readyz",
            settle_s=5.0,
        ),
        # Ready once Cassandra, the producer and its consumer group are open.
        Service("outbound", outbound_argv(OUTBOUND_PORT), OUTBOUND_PORT, "/readyz", env=graph),
        *(Service(f"edge-{p}", edge_argv(p), p) for p in EDGE_PORTS),
        # A development page: never a reason for the stack not to start.
        *([Service("inbox", inbox_argv(), INBOX_PORT)] if inbox.available() else []),
        *(
            [Service("simulator", simulator_argv(simulate), SIMULATOR_PORT)]
            if simulate is not None
            else []
        ),
    ]


def observer(s: StackSettings) -> Service:
    """Prometheus (`--observe`), its configuration and data in the state folder."""
    lay = layout_of(s.home, s.lib_dir)
    cfg, data = lay.conf / "prometheus.yml", lay.data / "prometheus"
    port = observe.PROMETHEUS_PORT
    return Service("prometheus", observe.argv(cfg, data, port), port, "/-/ready")


def scrape_targets() -> dict[str, list[int]]:
    """The ports Prometheus scrapes, by job: every process that serves /metrics."""
    return {
        "ingest": [INGEST_PORT],
        "projector": [PROJECTOR_PORT],
        "outbound": [OUTBOUND_PORT],
        "edge": list(EDGE_PORTS),
    }


# How often the supervisor of an observed stack asks each process's /readyz, as a cluster's
# kubelet does: `tidewire_ready` is the outcome of the last such check, so unasked, ingest and
# the edges would report 0 and raise TidewireNotReady on a healthy stack.
READINESS_EVERY_S = 10.0


def probe_readiness() -> None:
    """One /readyz check of every scraped process (each updates its `tidewire_ready`)."""
    for port in (p for ports in scrape_targets().values() for p in ports):
        _healthy(port, "/readyz")


def _watched(s: StackSettings, simulate: PaceFlags | None, observing: bool) -> list[Service]:
    """What `up` starts and keeps running: the services, and Prometheus when observing."""
    return [*services(simulate), *([observer(s)] if observing else [])]


def inbox_argv() -> list[str]:
    """The SDK's demo agent inbox (inbox.py), pointed at this stack's ingest and first edge."""
    api, edge = f"http://127.0.0.1:{INGEST_PORT}", f"http://127.0.0.1:{EDGE_PORTS[0]}"
    module = "tidewire_deploy.inbox"
    return [sys.executable, "-m", module, "--port", str(INBOX_PORT), "--api", api, "--edge", edge]


def _managed(s: StackSettings, name: str) -> Managed:
    lay = layout_of(s.home, s.lib_dir)
    return Managed(name, lay.run, lay.logs / f"{name}.out")


def _healthy(port: int, path: str = "/healthz") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


_PORT_HINTS = {
    "simulator": " (TIDEWIRE_SIMULATOR_PORT picks another; `tidewire up --no-simulate` runs none)",
    # Debian's prometheus package may run a system prometheus.service on :9090.
    "prometheus": " (TIDEWIRE_PROMETHEUS_PORT picks another; a system Prometheus, e.g. Debian's "
    "prometheus.service, may hold it: `sudo systemctl disable --now prometheus`)",
}


def start_services(
    s: StackSettings,
    timeout_s: float = 60.0,
    simulate: PaceFlags | None = None,
    observing: bool = False,
) -> None:
    if observing:  # the ports of this run, before Prometheus reads them
        cfg = observe.config(scrape_targets())
        observe.write_config(layout_of(s.home, s.lib_dir).conf / "prometheus.yml", cfg)
    started: set[str] = set()
    for svc in _watched(s, simulate, observing):
        proc = _managed(s, svc.name)
        if proc.running():
            continue
        if port_open("127.0.0.1", svc.port):
            hint = _PORT_HINTS.get(svc.name, "")
            raise RuntimeError(f"port {svc.port} for {svc.name} is taken by another process{hint}")
        proc.start(svc.argv, svc.marker, svc.env)
        started.add(svc.name)
    if started:
        print(f"services starting: {', '.join(sorted(started))}…", flush=True)
    deadline = time.monotonic() + timeout_s
    for svc in _watched(s, simulate, observing):
        proc = _managed(s, svc.name)
        while not _healthy(svc.port, svc.probe):
            if not proc.running():
                raise RuntimeError(f"{svc.name} exited during start-up; see {proc.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{svc.name} not healthy after {timeout_s} s; see {proc.log}")
            time.sleep(0.2)
        settled = time.monotonic() + (svc.settle_s if svc.name in started else 0.0)
        while time.monotonic() < settled:
            if not proc.running():
                raise RuntimeError(f"{svc.name} exited during start-up; see {proc.log}")
            time.sleep(0.2)


def stop_services(s: StackSettings) -> None:
    _managed(s, "prometheus").stop(grace_s=15.0)  # if `--observe` started it
    for svc in reversed(services(simulate=PaceFlags())):  # whichever ran
        _managed(s, svc.name).stop(grace_s=15.0)


def inbox_url(token: str) -> str:
    return f"http://127.0.0.1:{INBOX_PORT}/?token={token}"


def _banner(s: StackSettings, simulate: PaceFlags | None = None, observing: bool = False) -> None:
    """Where everything is; the last lines are what a newcomer needs: the token and the
    inbox's address with it (the page keeps the token and drops it from the address)."""
    token = issue_token(s, DEMO_COMPANY, DEMO_USER)
    print("tidewire is up:")
    print(
        f"  kafka      {s.kafka_bootstrap}\n  cassandra  {s.cassandra_host}:{s.cassandra_port}"
        f"\n  redis      {s.redis_host}:{s.redis_port}"
    )
    print(f"  ingest     http://127.0.0.1:{INGEST_PORT}  (OpenAPI at /docs)")
    print(
        f"  projector  http://127.0.0.1:{PROJECTOR_PORT}  (faust worker, group "
        f"{s.projector_group}; /healthz, /readyz, /metrics)"
    )
    print(
        f"  outbound   http://127.0.0.1:{OUTBOUND_PORT}  (Graph API sender, group "
        f"{s.outbound_group}; /healthz, /readyz, /metrics)"
    )
    for p in EDGE_PORTS:
        print(f"  edge       http://127.0.0.1:{p}  (Socket.IO)")
    if inbox.available():
        print(f"  inbox      http://127.0.0.1:{INBOX_PORT}  (the SDK's demo agent inbox)")
    else:
        print("  inbox      not started: sdk/js is not installed here (`make` installs it)")
    if simulate is not None:
        print(
            f"  simulator  {simulator_base()}  (WhatsApp for the demo tenant: customers write "
            "in, agents' replies get statuses; `tidewire up --no-simulate` for none)"
        )
        if (base := user_graph_base()) is not None:
            print(
                f"  graph api  {base}  (TIDEWIRE_GRAPH_API_BASE, kept: agents' replies go there, "
                "not to the simulator)"
            )
        else:
            print("  graph api  every tenant's sends go to the simulator")
    if observing:
        print(
            f"  prometheus http://127.0.0.1:{observe.PROMETHEUS_PORT}  (every process scraped; "
            "alert rules loaded: /alerts)"
        )
        print(f"  dashboard  {CHART_DASHBOARD}  (import into Grafana)")
    print(f"  logs       {layout_of(s.home, s.lib_dir).logs}")
    c = DEMO_CONNECTION
    print(
        f"demo tenant: company {c.company_id} ({DEMO_TENANT.name}), phone_number_id "
        f"{c.phone_number_id}, verify token {c.verify_token}, app secret {c.app_secret}"
    )
    print(f"demo agent token (company {DEMO_COMPANY}, user {DEMO_USER}):\n{token}")
    if inbox.available():
        print(f"open the inbox: {inbox_url(token)}")
    sys.stdout.flush()


def up(
    s: StackSettings, detach: bool, simulate: PaceFlags | None = None, observing: bool = False
) -> int:
    """The whole local stack; `simulate` (None: no simulator) sets the simulator's pace, and
    its companies are provisioned (the demo tenant always is)."""
    # Engines that answered before this command are someone else's to stop (a `tidewire infra
    # up`, a test run, a system Redis): this command stops only those it started.
    if observing:
        prometheus()  # missing: say so before any engine starts
        observe.rules_file()  # likewise the rules, outside a source checkout
    before = {r.name for r in infra.status(s) if r.state != "stopped"}
    ours = [r.name for r in infra.status(s) if r.name not in before]
    me = _supervisor(s)
    # Recorded from the start, so that a `tidewire down` meanwhile finds this command and asks
    # it to stop (SIGTERM, like Ctrl-C, interrupts the start-up) instead of racing it.
    me.record_self()
    asked: list[int] = []

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        """`tidewire down` during start-up: stop as Ctrl-C would, undoing what was started
        (SIGUSR1, from `down --keep-infra`: the services only)."""
        asked.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGUSR1, _interrupt)
    try:
        infra.up(s)
        # Before the services start, so ingest knows the demo number from its first request.
        for tenant, connection in demo_tenants(1 if simulate is None else simulate.companies):
            try:
                provision(s, tenant, connection)
            except TenantConflict as exc:
                raise RuntimeError(f"cannot provision {tenant.company_id}: {exc}") from exc
        start_services(s, simulate=simulate, observing=observing)
        _banner(s, simulate, observing)
    except BaseException:  # a failure or Ctrl-C before the stack is up leaves nothing running
        stop_services(s)
        if signal.SIGUSR1 not in asked:
            infra.down(s, only=ours)
        me.pid_file.unlink(missing_ok=True)
        raise
    if detach:
        me.pid_file.unlink(missing_ok=True)
        print("running in the background; `tidewire down` stops everything")
        return 0
    keep_infra = _supervise(s, simulate, observing)
    print("stopping services…", flush=True)
    stop_services(s)
    if keep_infra:
        print("leaving the engines running (`tidewire down --keep-infra`)")
    else:
        infra.down(s, only=ours)
        if before:
            print(f"engines running before `tidewire up` left running: {', '.join(sorted(before))}")
    _supervisor(s).pid_file.unlink(missing_ok=True)  # last: `down` waits for this
    return 0


def _supervise(
    s: StackSettings, simulate: PaceFlags | None = None, observing: bool = False
) -> bool:
    """Keep the services running (restarting any that exits, with back-off) until SIGINT or
    SIGTERM; returns True when asked to leave the engines running (SIGUSR1, from `tidewire
    down --keep-infra`)."""
    stopping: list[int] = []

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, _stop)
    print("press Ctrl-C to stop", flush=True)
    delay: dict[str, float] = {}  # service -> seconds to wait before its next restart
    due: dict[str, float] = {}
    probed = 0.0
    while not stopping:
        now = time.monotonic()
        if observing and now - probed >= READINESS_EVERY_S:
            probe_readiness()
            probed = now
        for svc in _watched(s, simulate, observing):
            proc = _managed(s, svc.name)
            if proc.running() or hold_file(proc.run_dir, svc.name).exists():
                if now - due.get(svc.name, now) > 60:  # up for a minute: forgive past crashes
                    delay.pop(svc.name, None)
                continue
            if now < due.get(svc.name, 0.0):
                continue
            wait = delay.get(svc.name, 0.5)
            print(
                f"{svc.name} exited unexpectedly; restarting (next try in {wait:.1f} s if it "
                f"exits again; log: {proc.log})",
                flush=True,
            )
            proc.start(svc.argv, svc.marker, svc.env)
            delay[svc.name] = min(wait * 2, 30.0)
            due[svc.name] = now + wait
        time.sleep(0.5)
    return stopping[0] == signal.SIGUSR1


def _supervisor(s: StackSettings) -> Managed:
    """A foreground `tidewire up` (it records itself so `down` can find it)."""
    return _managed(s, "supervisor")


def down(s: StackSettings, keep_infra: bool = False) -> None:
    pid = _supervisor(s).pid()
    if pid is not None:
        # A foreground `up` restarts any service that stops: ask it to stop everything itself
        # (as Ctrl-C would; SIGUSR1: its services only), and wait for it, before stopping
        # whatever is left.
        os.kill(pid, signal.SIGUSR1 if keep_infra else signal.SIGTERM)
        deadline = time.monotonic() + 120
        while _supervisor(s).running() and time.monotonic() < deadline:
            time.sleep(0.2)
    stop_services(s)
    if not keep_infra:
        infra.down(s)


def run_foreground(argv: list[str]) -> int:
    os.execv(argv[0], argv)
    return 0  # not reached
