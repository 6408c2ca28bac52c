"""The Helm chart (`helm/tidewire`) rendered by a real helm and checked against Kubernetes'
own schemas, the processes' settings and the metrics catalogue. No cluster here: what a
cluster would refuse or misread is what these tests look for."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tidewire_deploy.dashboards import CHART_COPY, Declared, catalogue, queries, render
from tidewire_deploy.go_tools import HELM, ensure_go_tool
from tidewire_edge.gateway.settings import GatewaySettings
from tidewire_edge.settings import EdgeSettings
from tidewire_ingest.settings import IngestSettings
from tidewire_platform.settings import StackSettings

pytestmark = pytest.mark.chart

CHART = Path(__file__).resolve().parents[2] / "helm" / "tidewire"
KUBE = "1.30.0"
SECRET = "s3cr3t-" + "x" * 32
ALL_ON = [
    f"jwt.secret={SECRET}",
    "ingress.enabled=true",
    "ingress.tls.secretName=tidewire-tls",
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
]


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_go_tool(StackSettings().home, HELM)


def _helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _render(helm: Path, *sets: str, namespace: str = "default") -> list[dict[str, Any]]:
    flags = [x for s in sets for x in ("--set", s)]
    done = _helm(
        helm, "template", "tw", str(CHART), "--kube-version", KUBE, "-n", namespace, *flags
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture(scope="module")
def objects(helm: Path) -> list[dict[str, Any]]:
    return _render(helm, *ALL_ON)


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in ("Deployment", "Job"):
            for c in o["spec"]["template"]["spec"]["containers"]:
                yield o["metadata"]["name"], c


def test_lint_is_clean(helm: Path) -> None:
    done = _helm(helm, "lint", "--strict", str(CHART), "--kube-version", KUBE, "--set", ALL_ON[0])
    assert done.returncode == 0, done.stdout + done.stderr
    gateway = ("gateway.family=plus", "gateway.jwtSecret=k", "gateway.backend.service=desk")
    flags = [x for s in (*ALL_ON, *gateway) for x in ("--set", s)]
    done = _helm(helm, "lint", "--strict", str(CHART), "--kube-version", KUBE, *flags)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_core_object_is_valid_kubernetes(objects: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "Job", "Ingress"} <= kinds
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    for o in objects:
        if o["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # Prometheus Operator CRDs: not in Kubernetes' schemas (checked below)
        # strict: a misspelt or misplaced field is an error, not silently dropped by the API.
        kubernetes_validate.validate(o, KUBE, strict=True)


def test_refused_settings_fail_the_render_with_a_reason(helm: Path) -> None:
    cases = {
        (): "set jwt.secret or jwt.existingSecret",
        ("jwt.secret=short",): "at least 32 characters",
        (f"jwt.secret={SECRET}", "projector.replicas=13"): "above partitions (12)",
        (f"jwt.secret={SECRET}", "jwt.adminSecret=short"): "adminSecret must be at least 32",
        (f"jwt.secret={SECRET}", f"jwt.adminSecret={SECRET}"): "must differ from jwt.secret",
        (f"jwt.secret={SECRET}", "gateway.family=whaticket"): (
            'gateway.family "whaticket" is not a helpdesk family tidewire speaks'
        ),
        # Families whose tokens only the helpdesk's JWT_SECRET can check (ticketz reads it
        # from its Redis, so it renders without one: see the gateway tests below).
        (f"jwt.secret={SECRET}", "gateway.family=community"): (
            "gateway.family=community checks the helpdesk's own tokens: set gateway.jwtSecret"
        ),
        (f"jwt.secret={SECRET}", "gateway.family=saas1"): "gateway.family=saas1 checks",
        (f"jwt.secret={SECRET}", "gateway.family=plus"): "gateway.family=plus checks",
        (
            f"jwt.secret={SECRET}",
            "gateway.family=plus",
            "gateway.jwtSecret=k",
            "gateway.namespacePattern=/workspace",
        ): "must contain {company}",
        (f"jwt.secret={SECRET}", "ingress.enabled=true", "gateway.backend.service=api"): (
            "gateway.backend.service is gateway mode's one-URL ingress: set gateway.family"
        ),
        (
            f"jwt.secret={SECRET}",
            "gateway.family=ticketz",
            "gateway.backend.service=api",
        ): "set ingress.enabled=true",
        (
            f"jwt.secret={SECRET}",
            "ingress.enabled=true",
            "gateway.family=ticketz",
            "gateway.backend.service=api",
            "gateway.backend.port=",
        ): "gateway.backend.port is empty",
    }
    for sets, reason in cases.items():
        flags = [x for s in sets for x in ("--set", s)]
        done = _helm(helm, "template", "tw", str(CHART), "--kube-version", KUBE, *flags)
        assert done.returncode != 0, sets
        assert reason in done.stderr, (sets, done.stderr)


def test_secrets_reach_every_process_as_settings(helm: Path) -> None:
    """The token key from a Secret of one's own (none rendered then), and the engines'
    credentials when given; every variable is one a settings class reads."""
    objects = _render(
        helm,
        "jwt.existingSecret=tokens",
        "jwt.secretKey=key",
        "cassandra.auth.existingSecret=cass",
        "redis.auth.existingSecret=red",
        "jwt.adminExistingSecret=ops",
    )
    assert not [o for o in objects if o["kind"] == "Secret"]
    processes = [(n, c) for n, c in _containers(objects) if not n.endswith("-migrate")]
    assert len(processes) == 4  # ingest, projector, outbound, edge
    for name, c in processes:
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
        # The admin key only where /admin is served.
        admin = {"TIDEWIRE_ADMIN_JWT_SECRET": {"name": "ops", "key": "admin-jwt-secret"}}
        assert refs == {
            "TIDEWIRE_JWT_SECRET": {"name": "tokens", "key": "key"},
            "TIDEWIRE_CASSANDRA_USERNAME": {"name": "cass", "key": "username"},
            "TIDEWIRE_CASSANDRA_PASSWORD": {"name": "cass", "key": "password"},
            "TIDEWIRE_REDIS_PASSWORD": {"name": "red", "key": "redis-password"},
            **(admin if name.endswith("-ingest") else {}),
        }, name
        assert set(refs) <= _setting_names()
    [(_, migrate)] = [(n, c) for n, c in _containers(objects) if n.endswith("-migrate")]
    assert {e["name"] for e in migrate["env"]} == {
        "TIDEWIRE_CASSANDRA_USERNAME",
        "TIDEWIRE_CASSANDRA_PASSWORD",
    }


def _setting_names() -> set[str]:
    return (
        {f"TIDEWIRE_{n.upper()}" for n in StackSettings.model_fields}
        | {f"TIDEWIRE_EDGE_{n.upper()}" for n in EdgeSettings.model_fields}
        | {f"TIDEWIRE_INGEST_{n.upper()}" for n in IngestSettings.model_fields}
        # The family is `TIDEWIRE_GATEWAY` itself (an alias), the rest `TIDEWIRE_GATEWAY_*`.
        | {
            str(f.validation_alias or f"TIDEWIRE_GATEWAY_{n.upper()}")
            for n, f in GatewaySettings.model_fields.items()
        }
    )


def test_settings_are_ones_the_processes_read(
    objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key of the ConfigMaps is a field of a settings class (the classes ignore unknown
    variables, so a typo would silently fall back to a default), and the values parse."""
    fields = _setting_names()
    config = _one(objects, "ConfigMap", "tw-tidewire")["data"]
    migrate = _one(objects, "ConfigMap", "tw-tidewire-migrate")["data"]
    assert set(config) - fields == set()
    assert set(migrate) <= set(config)
    assert all(config[k] == v for k, v in migrate.items())
    env = {**config, "TIDEWIRE_JWT_SECRET": SECRET}
    stack = StackSettings(_env_file=None, **_as_kwargs(env, "TIDEWIRE_", StackSettings))
    assert stack.env == "production"
    assert stack.partitions == 12
    assert stack.kafka_bootstrap == "kafka-bootstrap.kafka.svc:9092"
    assert stack.kafka_replication_factor == 3  # a 1-copy topic refuses acks=all on clusters
    assert stack.cassandra_replication == "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
    # The projector's read-model memory: a sixth of its pod's 3 GiB limit.
    assert stack.projector_cache_bytes == 512 * 1024 * 1024
    for name, value in env.items():  # as the process reads them: lists come as JSON
        monkeypatch.setenv(name, value)
    edge = EdgeSettings()
    assert edge.recovery_window_s == 1800
    assert edge.memory_bytes == 1024**3  # the edge's memory limit: its byte bounds' base
    assert next(str(n) for n in edge.trusted_proxies) == "10.0.0.0/8"
    ingest = IngestSettings(_env_file=None)
    assert (ingest.max_body_bytes, ingest.cors_origins) == (1048576, ["*"])
    assert (ingest.webhook_max_body_bytes, ingest.webhook_max_phone_numbers) == (3145728, 100)
    assert (ingest.max_publication_bytes, ingest.max_publications) == (262144, 500)
    # Platform mode by default: no process is told to speak a helpdesk's handshake.
    assert GatewaySettings().family is None
    assert not [k for _, c in _containers(objects) for k in _env_names(c) if "GATEWAY" in k]


def _env_names(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def _as_kwargs(env: dict[str, str], prefix: str, cls: Any) -> dict[str, str]:
    names = {f"{prefix}{n.upper()}": n for n in cls.model_fields}
    return {names[k]: v for k, v in env.items() if k in names}


def test_each_process_listens_where_its_service_and_probes_point(
    objects: list[dict[str, Any]],
) -> None:
    for component in ("ingest", "projector", "outbound", "edge"):
        module = f"tidewire_{component}"
        deployment = _one(objects, "Deployment", f"tw-tidewire-{component}")
        [c] = deployment["spec"]["template"]["spec"]["containers"]
        assert c["command"][:3] == ["python", "-m", module]
        port = int(c["command"][c["command"].index("--port") + 1])
        assert c["command"][c["command"].index("--host") + 1] == "0.0.0.0"
        assert c["ports"] == [{"name": "http", "containerPort": port}]
        probes = {k: c[k]["httpGet"] for k in ("readinessProbe", "livenessProbe", "startupProbe")}
        assert probes == {
            "readinessProbe": {"path": "/readyz", "port": "http"},
            "livenessProbe": {"path": "/healthz", "port": "http"},
            "startupProbe": {"path": "/healthz", "port": "http"},
        }
        # Longer than /readyz's own waits on Kafka and Redis, so a slow answer is not a "no".
        assert c["readinessProbe"]["timeoutSeconds"] > 6
        template = deployment["spec"]["template"]["metadata"]["annotations"]
        assert {"checksum/config", "checksum/secret"} <= set(template)
        service = _one(objects, "Service", f"tw-tidewire-{component}")
        assert service["spec"]["ports"][0]["port"] == port
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert "/var/lib/tidewire" in mounts  # faust's data folder, TIDEWIRE_HOME
        if component in ("ingest", "edge"):  # drain before SIGTERM; the others serve no clients
            assert c["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    projector = _one(objects, "Deployment", "tw-tidewire-projector")
    assert projector["spec"]["strategy"] == {"type": "Recreate"}
    assert projector["spec"]["replicas"] == 1  # no fencing between processes: one by default


def test_the_outbound_sender_runs_apart_from_the_projector(objects: list[dict[str, Any]]) -> None:
    """Its own Deployment (a slow Graph API never holds up projection), one generation at a
    time, with time to finish the send in hand on SIGTERM."""
    outbound = _one(objects, "Deployment", "tw-tidewire-outbound")
    spec = outbound["spec"]["template"]["spec"]
    assert outbound["spec"]["strategy"] == {"type": "Recreate"}
    assert outbound["spec"]["replicas"] == 1
    config = _one(objects, "ConfigMap", "tw-tidewire")["data"]
    stack = StackSettings(
        _env_file=None,
        **_as_kwargs({**config, "TIDEWIRE_JWT_SECRET": SECRET}, "TIDEWIRE_", StackSettings),
    )
    bound = stack.graph_api_deadline_s + stack.graph_api_attempt_timeout_s
    assert spec["terminationGracePeriodSeconds"] > bound
    [projector] = _one(objects, "Deployment", "tw-tidewire-projector")["spec"]["template"]["spec"][
        "containers"
    ]
    assert "tidewire_outbound" not in projector["command"]


def test_socket_io_goes_to_the_edge_and_the_api_to_ingest(objects: list[dict[str, Any]]) -> None:
    edge = _one(objects, "Ingress", "tw-tidewire-edge")
    [rule] = edge["spec"]["rules"]
    assert [p["path"] for p in rule["http"]["paths"]] == ["/socket.io"]
    assert edge["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    ingest = _one(objects, "Ingress", "tw-tidewire-ingest")
    paths = {p["path"] for p in ingest["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/webhooks", "/api"}  # /admin stays inside the cluster by default
    assert "affinity" not in json.dumps(ingest["metadata"].get("annotations", {}))
    # Meta's 3 MB webhook deliveries pass ingress-nginx (1 MiB by default).
    body_size = ingest["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body_size == "3145728"


GATEWAY_KEY = "helpdesk-" + "k" * 24


def test_gateway_mode_reaches_the_edge_as_its_settings(
    helm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every gateway value becomes the edge's `TIDEWIRE_GATEWAY*` variable, one that
    `GatewaySettings` reads and parses to the value given; the helpdesk's JWT secret travels
    only in a Secret, and only the edge is given it (or anything of gateway mode)."""
    objects = _render(
        helm,
        *ALL_ON,
        "gateway.family=plus",
        f"gateway.jwtSecret={GATEWAY_KEY}",
        "gateway.redisUrl=redis://helpdesk-redis:6379/2",
        "gateway.jwtSecretRedisKey=PLUS_SECRET",
        "gateway.companyId=7",
        "gateway.namespacePattern=/workspace-{company}",
        "gateway.expiredGraceSeconds=86400",
        "gateway.connectProxyUrl=http://helpdesk:8080/tidewire/connect",
        "gateway.joinProxyUrl=http://helpdesk:8080/tidewire/join",
        "gateway.proxyTimeoutSeconds=2",
        "gateway.proxyCacheSeconds=10",
    )
    for o in objects:
        if not o["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(o, KUBE, strict=True)
    gateway = {n: {k for k in _env_names(c) if "GATEWAY" in k} for n, c in _containers(objects)}
    assert {n for n, keys in gateway.items() if keys} == {"tw-tidewire-edge"}
    [edge] = [c for n, c in _containers(objects) if n == "tw-tidewire-edge"]
    env = {e["name"]: e for e in edge["env"]}
    assert gateway["tw-tidewire-edge"] <= _setting_names()
    assert env["TIDEWIRE_GATEWAY_JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "tw-tidewire-gateway-jwt",
        "key": "gateway-jwt-secret",
    }
    secret = _one(objects, "Secret", "tw-tidewire-gateway-jwt")
    assert secret["data"] == {"gateway-jwt-secret": base64.b64encode(GATEWAY_KEY.encode()).decode()}
    # Nowhere else, in the clear or encoded: not in a ConfigMap, not in another process.
    others = json.dumps([o for o in objects if o is not secret])
    assert GATEWAY_KEY not in others
    assert secret["data"]["gateway-jwt-secret"] not in others
    assert not [k for k in _one(objects, "ConfigMap", "tw-tidewire")["data"] if "GATEWAY" in k]
    for name, e in env.items():  # as the edge reads them
        monkeypatch.setenv(name, e.get("value", GATEWAY_KEY))
    settings = GatewaySettings()
    assert settings.model_dump() == {
        "family": "plus",
        "jwt_secret": GATEWAY_KEY,
        "jwt_secret_redis_key": "PLUS_SECRET",
        "redis_url": "redis://helpdesk-redis:6379/2",
        "company_id": "7",
        "namespace_pattern": "/workspace-{company}",
        "expired_grace_s": 86400,
        "connect_proxy_url": "http://helpdesk:8080/tidewire/connect",
        "join_proxy_url": "http://helpdesk:8080/tidewire/join",
        "proxy_timeout_s": 2.0,
        "proxy_cache_s": 10.0,
    }


def test_gateway_secrets_of_ones_own(helm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helpdesk's key from a Secret one keeps (none rendered then), a Redis URL with a
    password from a Secret too; ticketz needs no key at all (it reads it from its Redis)."""
    objects = _render(
        helm,
        f"jwt.secret={SECRET}",
        "gateway.family=community",
        "gateway.existingSecret=helpdesk",
        "gateway.secretKey=JWT_SECRET",
    )
    assert not [o for o in objects if o["metadata"]["name"] == "tw-tidewire-gateway-jwt"]
    [edge] = [c for n, c in _containers(objects) if n == "tw-tidewire-edge"]
    env = {e["name"]: e for e in edge["env"]}
    assert env["TIDEWIRE_GATEWAY_JWT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "helpdesk",
        "key": "JWT_SECRET",
    }
    objects = _render(
        helm,
        f"jwt.secret={SECRET}",
        "gateway.family=ticketz",
        "gateway.redisUrlExistingSecret=ticketz-redis",
    )
    assert not [o for o in objects if "gateway" in o["metadata"]["name"]]
    [edge] = [c for n, c in _containers(objects) if n == "tw-tidewire-edge"]
    env = {e["name"]: e for e in edge["env"]}
    assert "TIDEWIRE_GATEWAY_JWT_SECRET" not in env
    assert env["TIDEWIRE_GATEWAY_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "ticketz-redis",
        "key": "redis-url",
    }
    for name, e in env.items():
        if "GATEWAY" in name:
            monkeypatch.setenv(name, e.get("value", "redis://:pw@ticketz-redis:6379"))
    settings = GatewaySettings()
    assert (settings.family, settings.jwt_secret) == ("ticketz", "")
    assert settings.jwt_secret_redis_key == "TICKETZ_JWT_SECRET"


def _routes(objects: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(host, path) → (the Ingress serving it, its backend)."""
    return {
        (rule["host"], p["path"]): (o["metadata"]["name"], p["backend"]["service"])
        for o in objects
        if o["kind"] == "Ingress"
        for rule in o["spec"]["rules"]
        for p in rule["http"]["paths"]
    }


def test_one_url_serves_sockets_from_the_edges_and_the_rest_from_the_helpdesk(
    helm: Path,
) -> None:
    """Gateway mode's ingress: the helpdesk's host sends /socket.io to the edges (with their
    affinity and timeouts) and everything else to the helpdesk's backend (without them);
    ingest's routes are not on that host, where they would shadow the helpdesk's own /api."""
    objects = _render(
        helm,
        *ALL_ON,
        "ingress.host=desk.example.com",
        "gateway.family=ticketz",
        "gateway.backend.service=ticketz-backend",
        "gateway.backend.port=3000",
        "gateway.backend.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size=50m",
    )
    for o in objects:
        if o["kind"] == "Ingress":
            kubernetes_validate.validate(o, KUBE, strict=True)
    routes = _routes(objects)
    assert routes == {
        ("desk.example.com", "/socket.io"): (
            "tw-tidewire-edge",
            {"name": "tw-tidewire-edge", "port": {"name": "http"}},
        ),
        ("desk.example.com", "/"): (
            "tw-tidewire-helpdesk",
            {"name": "ticketz-backend", "port": {"number": 3000}},
        ),
    }
    edge = _one(objects, "Ingress", "tw-tidewire-edge")["metadata"]["annotations"]
    desk = _one(objects, "Ingress", "tw-tidewire-helpdesk")
    assert edge["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert edge["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert "nginx.ingress.kubernetes.io/proxy-body-size" not in edge
    assert desk["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "50m"}
    assert desk["spec"]["tls"] == [{"hosts": ["desk.example.com"], "secretName": "tidewire-tls"}]
    # A named port of the backend's Service works as well.
    named = _render(
        helm,
        *ALL_ON,
        "gateway.family=ticketz",
        "gateway.backend.service=ticketz-backend",
        "gateway.backend.port=http",
    )
    [(_, (_, service))] = [(k, v) for k, v in _routes(named).items() if k[1] == "/"]
    assert service == {"name": "ticketz-backend", "port": {"name": "http"}}


def test_admin_is_public_only_when_asked_and_has_its_own_key(helm: Path) -> None:
    objects = _render(helm, *ALL_ON, "ingress.exposeAdmin=true", f"jwt.adminSecret=a{SECRET}")
    ingest = _one(objects, "Ingress", "tw-tidewire-ingest")
    assert "/admin" in {p["path"] for p in ingest["spec"]["rules"][0]["http"]["paths"]}
    secret = _one(objects, "Secret", "tw-tidewire-admin-jwt")
    assert set(secret["data"]) == {"admin-jwt-secret"}
    keys = {n: {e["name"] for e in c["env"]} for n, c in _containers(objects) if "env" in c}
    assert {n for n, env in keys.items() if "TIDEWIRE_ADMIN_JWT_SECRET" in env} == {
        "tw-tidewire-ingest"
    }


def test_the_dashboard_is_built_from_the_metrics_catalogue(objects: list[dict[str, Any]]) -> None:
    """The chart's copy is what `python -m tidewire_deploy.dashboards` builds today, and each
    metric of the catalogue has its panel with the queries its type calls for."""
    assert CHART_COPY.read_text(encoding="utf-8") == render(), (
        "helm/tidewire/dashboards/tidewire.json is stale: run python -m tidewire_deploy.dashboards"
    )
    shipped = _one(objects, "ConfigMap", "tw-tidewire-dashboard")
    assert shipped["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(shipped["data"]["tidewire.json"])["panels"]
    drawn = {
        p["description"].split(" ")[0]: [t["expr"] for t in p["targets"]]
        for p in panels
        if p["type"] == "timeseries"
    }
    for metric in catalogue():
        assert drawn.pop(metric.name) == [e for e, _ in queries(metric)], metric.name
    assert drawn == {}, "panels for metrics the catalogue does not declare"


def test_queries_fit_the_metric_type() -> None:
    scope = '{namespace=~"$namespace"}'
    rate = "[$__rate_interval]"
    assert queries(Declared("tidewire_x_sent", "counter", "h", ("kind",))) == [
        (f"sum by (kind) (rate(tidewire_x_sent_total{scope}{rate}))", "{{kind}}")
    ]
    [(p50, _), (p99, _)] = queries(Declared("tidewire_x_seconds", "histogram", "h", ()))
    assert p99 == (
        f"histogram_quantile(0.99, sum by (le) (rate(tidewire_x_seconds_bucket{scope}{rate})))"
    )
    assert p50.startswith("histogram_quantile(0.5,")
    assert queries(Declared("tidewire_x_open", "gauge", "h", ())) == [
        (f"sum by (instance) (tidewire_x_open{scope})", "{{instance}}")
    ]


def test_alerts_use_only_declared_metrics_of_their_own_release(helm: Path) -> None:
    objects = _render(helm, *ALL_ON, namespace="chat")
    samples = {s for m in catalogue() for s in m.samples}
    rule = _one(objects, "PrometheusRule", "tw-tidewire")
    [group] = rule["spec"]["groups"]
    assert len(group["rules"]) >= 8
    for r in group["rules"]:
        assert r["alert"].startswith("Tidewire")
        assert r["annotations"]["summary"]
        used = set(re.findall(r"tidewire_[a-z_]+", r["expr"]))
        assert used <= samples, (r["alert"], used - samples)
        selectors = re.findall(r"\{([^}]*)\}", r["expr"])
        assert selectors, r["alert"]
        for sel in selectors:  # another release's series never trip this one's alerts
            assert sel.startswith('namespace="chat", job=~"tw-tidewire-.*"'), (r["alert"], sel)
    monitor = _one(objects, "ServiceMonitor", "tw-tidewire")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]


def test_the_image_recipe_copies_what_exists() -> None:
    root = CHART.parents[1]
    dockerfile = (root / "deploy" / "container" / "Dockerfile").read_text()
    sources = re.findall(r"^COPY (?!--)(.+) \S+$", dockerfile, flags=re.MULTILINE)
    assert sources
    for line in sources:
        for src in line.split():
            assert (root / src).exists(), src
