"""Past one machine: collector/scale-out/ checked for structure, and the parts that run here run for real.

What runs for real (loopback only, every process stopped by its PID):

- **Prometheus → remote_write → VictoriaMetrics**: ``lukhas-obs demo`` serves ``/metrics``; Prometheus 2.42, started
  from ``collector/scale-out/prometheus-remote-write.yml`` (targets, URL and intervals replaced for loopback), scrapes
  it every second, evaluates the lukhas_core rules committed in ``collector/prometheus/rules/`` and remote-writes
  everything to VictoriaMetrics 1.79. Every recording rule and every dashboard query of
  ``collector/grafana/dashboards/lukhas-t4-core.json`` (its variables set to their ``current`` values) must answer
  from VictoriaMetrics' ``/api/v1/query``, and VictoriaMetrics must hold the same series and values Prometheus has.
- **vmagent + vmalert → VictoriaMetrics** (the alternative, ``vmagent-scrape.yml``): the same queries must answer from
  a second VictoriaMetrics fed only by them.
- **The agent hop**: two demo processes send OTLP to one rotel agent, which forwards to an OTLP receiver standing for
  the gateway tier: every span arrives, each trace whole and from one process, the processes told apart by
  ``service.instance.id``.

What cannot run here (no otelcol-contrib with these components, no Docker): the otelcol agent, gateway
(``loadbalancing``, ``routing_key: traceID``) and sampler (``tail_sampling``) configs, and the compose file. They are
checked for structure by :func:`otelcol_problems` — component names against the otelcol-contrib 0.104 components
used, every pipeline reference defined and every definition used, processor order, the load balancer's routing key
and resolver, the tail-sampling policy shapes — and the tiers' endpoints against each other and the compose services.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.series_budget import budget, registered_catalogs
from lukhas_obs.catalog import builtin
from lukhas_obs.catalog.naming import sample_names
from lukhas_obs.tracefile.model import read_spans
from tests.support.otlp_receiver import OtlpReceiver, attributes_to_dict
from tests.support.prometheus import (
    PrometheusApi,
    free_port,
    http_get,
    run_tool,
    start_process,
    stop_process,
    tail,
    wait_for,
)
from tests.support.rotel import Rotel, start_or_skip

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
COLLECTOR = REPO / "collector"
SCALE = COLLECTOR / "scale-out"
DASHBOARD = COLLECTOR / "grafana/dashboards/lukhas-t4-core.json"
OTELCOL_FILES = ("otelcol-agent.yaml", "otelcol-gateway.yaml", "otelcol-sampler.yaml")
STARTUP_TIMEOUT_S = 20
DATA_TIMEOUT_S = 35

# ---------------------------------------------------------------------------------------------------- structure

#: otelcol-contrib 0.104 component types this repository's configs may use (each checked against its README).
KNOWN_TYPES = {
    "receivers": {"otlp", "prometheus"},
    "processors": {"memory_limiter", "batch", "resource", "attributes", "tail_sampling", "filter", "transform"},
    "exporters": {"otlp", "otlphttp", "loadbalancing", "prometheusremotewrite", "prometheus", "debug"},
    "extensions": {"health_check", "pprof", "zpages"},
    "connectors": {"forward", "spanmetrics"},
}
#: Which signals a component type handles (types not listed handle every signal).
SIGNALS_OF = {"tail_sampling": {"traces"}, "prometheusremotewrite": {"metrics"}, "prometheus": {"metrics"}}
#: tail_sampling policy types of otelcol-contrib 0.104 and the keys each one's block requires.
TAIL_POLICIES: dict[str, set[str]] = {
    "always_sample": set(),
    "latency": {"threshold_ms"},
    "numeric_attribute": {"key"},
    "probabilistic": {"sampling_percentage"},
    "status_code": {"status_codes"},
    "string_attribute": {"key", "values"},
    "rate_limiting": {"spans_per_second"},
    "span_count": {"min_spans"},
    "trace_state": {"key", "values"},
    "boolean_attribute": {"key", "value"},
    "ottl_condition": set(),
    "and": {"and_sub_policy"},
    "composite": {"max_total_spans_per_second", "policy_order", "composite_sub_policy"},
}
_ID = re.compile(r"^([a-z][a-z0-9_]*)(?:/[^/\s]+)?$")
_PIPELINE = re.compile(r"^(traces|metrics|logs)(?:/[^/\s]+)?$")
_DURATION = re.compile(r"^\d+(?:\.\d+)?(?:ns|us|ms|s|m|h)$")


def _type(component_id: str) -> str:
    match = _ID.match(component_id)
    return match.group(1) if match else ""


def _policy_problems(policies: Any, where: str) -> list[str]:
    if not isinstance(policies, list) or not policies:
        return [f"{where}: policies must be a non-empty list"]
    problems: list[str] = []
    names = [p.get("name") for p in policies if isinstance(p, dict)]
    if len(set(names)) != len(names) or None in names:
        problems.append(f"{where}: every policy needs a unique name (got {names})")
    for policy in policies:
        if not isinstance(policy, dict):
            problems.append(f"{where}: a policy is not a mapping")
            continue
        name, kind = policy.get("name"), policy.get("type")
        if kind not in TAIL_POLICIES:
            problems.append(f"{where}: policy {name!r} has unknown type {kind!r}")
            continue
        extra = set(policy) - {"name", "type", kind}
        if extra:
            problems.append(f"{where}: policy {name!r} has blocks for other types: {sorted(extra)}")
        block = policy.get(kind, {}) if TAIL_POLICIES[kind] or kind in policy else {}
        if TAIL_POLICIES[kind] and not isinstance(block, dict):
            problems.append(f"{where}: policy {name!r} needs a `{kind}:` block")
            continue
        missing = TAIL_POLICIES[kind] - set(block or {})
        if missing:
            problems.append(f"{where}: policy {name!r} ({kind}) lacks {sorted(missing)}")
        if kind == "status_code" and not set(block.get("status_codes", [])) <= {"OK", "ERROR", "UNSET"}:
            problems.append(f"{where}: policy {name!r} status_codes must be OK, ERROR or UNSET")
        if kind == "probabilistic" and not 0 < float(block.get("sampling_percentage", 0)) <= 100:
            problems.append(f"{where}: policy {name!r} sampling_percentage must be in (0, 100]")
        if kind == "latency" and not int(block.get("threshold_ms", 0)) > 0:
            problems.append(f"{where}: policy {name!r} threshold_ms must be > 0")
        if kind in ("and", "composite"):
            sub = block.get("and_sub_policy" if kind == "and" else "composite_sub_policy")
            problems += _policy_problems(sub, f"{where} {name}")
    return problems


def _loadbalancing_problems(cid: str, config: dict[str, Any], signals: set[str]) -> list[str]:
    problems: list[str] = []
    if config.get("routing_key", "traceID") != "traceID":
        problems.append(f"{cid}: routing_key must be traceID for tail sampling, not {config.get('routing_key')!r}")
    if signals - {"traces", "logs"}:
        problems.append(f"{cid}: routing by trace ID is for traces (and logs) pipelines, used in {sorted(signals)}")
    otlp = (config.get("protocol") or {}).get("otlp")
    if not isinstance(otlp, dict):
        problems.append(f"{cid}: needs protocol.otlp")
    elif "endpoint" in otlp:
        problems.append(f"{cid}: protocol.otlp.endpoint is set by the resolver, remove it")
    resolver = config.get("resolver") or {}
    kinds = set(resolver) & {"static", "dns", "k8s", "aws_cloud_map"}
    if len(kinds) != 1 or set(resolver) != kinds:
        problems.append(f"{cid}: resolver must be exactly one of static, dns, k8s (got {sorted(resolver)})")
    elif "dns" in kinds:
        dns = resolver["dns"]
        if not dns.get("hostname"):
            problems.append(f"{cid}: resolver.dns.hostname is required")
        for key in ("interval", "timeout"):
            if key in dns and not _DURATION.match(str(dns[key])):
                problems.append(f"{cid}: resolver.dns.{key} must be a duration")
    elif "static" in kinds and not resolver["static"].get("hostnames"):
        problems.append(f"{cid}: resolver.static.hostnames is required")
    return problems


def otelcol_problems(config: Any) -> list[str]:
    """Structural problems of an otelcol-contrib configuration (empty list: it passes).

    Not a collector: it checks what a YAML schema can — component ids, references, order, and the shapes of the
    loadbalancing exporter and tail_sampling processor — so a broken file fails here before it fails on a cluster.
    """
    if not isinstance(config, dict):
        return ["the configuration is not a mapping"]
    problems = [f"unknown top-level section {k!r}" for k in config if k not in {*KNOWN_TYPES, "service"}]
    for section, known in KNOWN_TYPES.items():
        for cid in config.get(section) or {}:
            if _type(cid) not in known:
                problems.append(f"{section}: {cid!r} is not an otelcol-contrib component this check knows")
    service = config.get("service") or {}
    for ext in service.get("extensions", []):
        if ext not in (config.get("extensions") or {}):
            problems.append(f"service.extensions: {ext!r} is not defined")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("service.pipelines is empty")
    used: dict[str, set[str]] = {s: set() for s in ("receivers", "processors", "exporters")}
    signals_using: dict[str, set[str]] = {}
    for name, pipeline in pipelines.items():
        match = _PIPELINE.match(name)
        if not match:
            problems.append(f"pipeline {name!r}: name must be traces, metrics or logs[/name]")
            continue
        signal = match.group(1)
        if not set(pipeline) <= {"receivers", "processors", "exporters"}:
            unknown = sorted(set(pipeline) - {"receivers", "processors", "exporters"})
            problems.append(f"pipeline {name}: unknown keys {unknown}")
        for section in ("receivers", "exporters"):
            if not pipeline.get(section):
                problems.append(f"pipeline {name}: needs at least one of {section}")
        for section in ("receivers", "processors", "exporters"):
            items = pipeline.get(section) or []
            if len(set(items)) != len(items):
                problems.append(f"pipeline {name}: {section} lists a component twice")
            for cid in items:
                if cid not in (config.get(section) or {}):
                    problems.append(f"pipeline {name}: {section} {cid!r} is not defined")
                used[section].add(cid)
                signals_using.setdefault(cid, set()).add(signal)
                allowed = SIGNALS_OF.get(_type(cid))
                if allowed and signal not in allowed:
                    problems.append(f"pipeline {name}: {cid!r} does not handle {signal}")
        types = [_type(p) for p in pipeline.get("processors") or []]
        if "memory_limiter" in types and types[0] != "memory_limiter":
            problems.append(f"pipeline {name}: memory_limiter must be the first processor")
        if "batch" in types and types[-1] != "batch":
            problems.append(f"pipeline {name}: batch must be the last processor")
        if "tail_sampling" in types and "batch" in types and types.index("batch") < types.index("tail_sampling"):
            problems.append(f"pipeline {name}: tail_sampling must come before batch")
    for section, ids in used.items():
        for cid in set(config.get(section) or {}) - ids:
            problems.append(f"{section}: {cid!r} is defined but no pipeline uses it")
    for cid, cfg in (config.get("exporters") or {}).items():
        cfg = cfg or {}
        kind = _type(cid)
        if kind == "loadbalancing":
            problems += _loadbalancing_problems(cid, cfg, signals_using.get(cid, set()))
        elif kind in ("otlp", "otlphttp", "prometheusremotewrite") and not cfg.get("endpoint"):
            problems.append(f"exporters: {cid} needs an endpoint")
        if kind == "prometheusremotewrite" and not str(cfg.get("endpoint", "")).endswith("/api/v1/write"):
            problems.append(f"exporters: {cid} endpoint must be a remote-write URL (/api/v1/write)")
    for cid, cfg in (config.get("processors") or {}).items():
        cfg = cfg or {}
        if _type(cid) == "tail_sampling":
            problems += _policy_problems(cfg.get("policies"), cid)
            if "decision_wait" in cfg and not _DURATION.match(str(cfg["decision_wait"])):
                problems.append(f"{cid}: decision_wait must be a duration")
        if _type(cid) == "memory_limiter" and not (
            {"limit_mib", "spike_limit_mib"} <= set(cfg) or {"limit_percentage", "spike_limit_percentage"} <= set(cfg)
        ):
            problems.append(f"{cid}: needs limit_mib + spike_limit_mib or limit_percentage + spike_limit_percentage")
    return problems


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


@pytest.mark.parametrize("name", [*OTELCOL_FILES, "../otelcol-config.yaml"])
def test_otelcol_configs_pass_the_structure_check(name: str) -> None:
    problems = otelcol_problems(_load(SCALE / name))
    assert not problems, "\n".join(problems)


def _break(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = broken
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return broken


_DELETE = object()

#: (file, dotted path, new value, words the problem must contain): each must make the check fail.
BREAKS = [
    ("otelcol-gateway.yaml", "exporters.loadbalancing.routing_key", "service", "routing_key"),
    ("otelcol-gateway.yaml", "service.pipelines.metrics.exporters", ["loadbalancing"], "routing by trace id"),
    ("otelcol-gateway.yaml", "exporters.loadbalancing.resolver", {"static": {}, "dns": {"hostname": "x"}}, "resolver"),
    ("otelcol-gateway.yaml", "exporters.loadbalancing.protocol.otlp.endpoint", "x:4317", "endpoint"),
    ("otelcol-gateway.yaml", "service.pipelines.traces.processors", ["memory_limiter", "bogus"], "not defined"),
    ("otelcol-gateway.yaml", "service.pipelines.traces.exporters", ["prometheusremotewrite"], "does not handle"),
    ("otelcol-sampler.yaml", "processors.tail_sampling.policies.0.type", "sometimes", "unknown type"),
    ("otelcol-sampler.yaml", "processors.tail_sampling.policies.1.latency", _DELETE, "lacks"),
    ("otelcol-sampler.yaml", "processors.tail_sampling.policies.0.status_codes", ["ERROR"], "other types"),
    ("otelcol-sampler.yaml", "processors.tail_sampling.policies.3.probabilistic.sampling_percentage", 0, "(0, 100]"),
    ("otelcol-sampler.yaml", "processors.tail_sampling.policies.2.name", "errors", "unique name"),
    ("otelcol-sampler.yaml", "service.pipelines.traces.processors", ["memory_limiter", "batch", "tail_sampling"],
     "before batch"),
    ("otelcol-sampler.yaml", "service.pipelines.metrics", {"receivers": ["otlp"], "exporters": ["otlp/jaeger"],
                                                           "processors": ["tail_sampling"]}, "does not handle"),
    ("otelcol-agent.yaml", "exporters.otlp/unused", {"endpoint": "x:4317"}, "no pipeline uses"),
    ("otelcol-agent.yaml", "processors.memory_limiter", {"check_interval": "1s"}, "limit_mib"),
    ("otelcol-agent.yaml", "receivers.jaeger_thrift", {}, "not an otelcol-contrib component"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "path", "value", "words"), BREAKS, ids=[f"{b[0]}:{b[1]}" for b in BREAKS])
def test_structure_check_catches_a_broken_config(name: str, path: str, value: Any, words: str) -> None:
    problems = otelcol_problems(_break(_load(SCALE / name), path, value))
    assert any(words.lower() in p.lower() for p in problems), problems


def _host_port(endpoint: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    assert parsed.hostname and parsed.port, endpoint
    return parsed.hostname, parsed.port


def test_tiers_point_at_each_other_and_at_compose_services() -> None:
    agent, gateway, sampler = (_load(SCALE / n) for n in OTELCOL_FILES)
    compose = _load(SCALE / "docker-compose.yml")
    services = compose["services"]

    host, port = _host_port(agent["exporters"]["otlp/gateway"]["endpoint"])
    assert host == "otel-gateway" and host in services
    assert _host_port(gateway["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])[1] == port

    dns = gateway["exporters"]["loadbalancing"]["resolver"]["dns"]
    assert dns["hostname"] == "otel-sampler" and dns["hostname"] in services
    assert _host_port(sampler["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])[1] == dns["port"]
    # More than one replica on each side of the load balancer, or there is nothing to balance.
    assert services["otel-gateway"]["deploy"]["replicas"] >= 2 and services["otel-sampler"]["deploy"]["replicas"] >= 2

    assert _host_port(sampler["exporters"]["otlp/jaeger"]["endpoint"]) == ("jaeger", 4317)
    vm_write = "http://victoria-metrics:8428/api/v1/write"
    assert gateway["exporters"]["prometheusremotewrite"]["endpoint"] == vm_write
    prom = _load(SCALE / "prometheus-remote-write.yml")
    assert [rw["url"] for rw in prom["remote_write"]] == [vm_write]
    assert f"-remoteWrite.url={vm_write}" in services["vmagent"]["command"]
    assert "-datasource.url=http://victoria-metrics:8428" in services["vmalert"]["command"]
    vm_port = next(c for c in services["victoria-metrics"]["command"] if c.startswith("-httpListenAddr="))
    assert vm_port.endswith(":8428")

    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (SCALE / source).exists(), f"{name} mounts {source}, which does not exist"
        if name.startswith("otel-"):
            config = [c for c in service["command"] if c.startswith("--config=")]
            mounts = dict(v.split(":")[:2] for v in service["volumes"])
            assert config == [f"--config={mounts[next(iter(mounts))]}"], name


def test_remote_write_prometheus_loads_exactly_the_generated_rules_where_compose_mounts_them() -> None:
    prom = _load(SCALE / "prometheus-remote-write.yml")
    matched = {p.resolve() for pattern in prom["rule_files"] for p in SCALE.glob(pattern)}
    assert matched == {p.resolve() for p in (COLLECTOR / "prometheus/rules").glob("*.yml")}
    mounts = dict(v.split(":")[:2] for v in _load(SCALE / "docker-compose.yml")["services"]["prometheus"]["volumes"])
    config_dir = Path(mounts["./prometheus-remote-write.yml"]).parent
    rules_dir = Path(mounts["../prometheus"])
    for pattern in prom["rule_files"]:
        assert os.path.normpath(config_dir / pattern).startswith(str(rules_dir) + "/"), pattern


def _require(name: str, package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian: apt-get install -y {package})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must provide it (scripts/test.sh installs it)")
    pytest.skip(message)


def _core_rule_files() -> list[Path]:
    """The committed rule files generated from the lukhas_core catalog (the dashboard's catalog)."""
    files = [
        p
        for p in sorted((COLLECTOR / "prometheus/rules").glob("*.yml"))
        if "from catalog lukhas_core." in p.read_text(encoding="utf-8").splitlines()[0]
    ]
    assert files, "no committed rule file was generated from lukhas_core"
    return files


def test_promtool_vmagent_and_vmalert_accept_the_shipped_files() -> None:
    promtool = _require("promtool", "prometheus")
    done = run_tool([promtool, "check", "config", str(SCALE / "prometheus-remote-write.yml")], timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    vmagent = _require("vmagent", "victoria-metrics")
    done = run_tool([vmagent, "-dryRun", f"-promscrape.config={SCALE / 'vmagent-scrape.yml'}"], timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    vmalert = _require("vmalert", "victoria-metrics")
    rules = [f"-rule={p}" for p in sorted((COLLECTOR / "prometheus/rules").glob("*.yml"))]
    done = run_tool([vmalert, "-dryRun", *rules], timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------------- real stack


def _dashboard_queries() -> dict[str, str]:
    """Every target expression of the core dashboard, its variables replaced by their ``current`` values."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    values = {
        v["name"]: v["current"]["value"]
        for v in board["templating"]["list"]
        if v.get("type") != "datasource" and v.get("current")
    }
    out: dict[str, str] = {}

    def visit(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            visit(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = target["expr"]
                for name, value in values.items():
                    expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
                assert "$" not in expr, f"unsubstituted variable in {expr}"
                out[f"{panel['title']} [{target.get('legendFormat', '')}]"] = expr

    visit(board["panels"])
    return out


def _recording_rules(files: list[Path]) -> list[str]:
    return [r["record"] for p in files for g in _load(p)["groups"] for r in g["rules"] if "record" in r]


class VmApi(PrometheusApi):
    """VictoriaMetrics' Prometheus-compatible query API (the same calls), plus its own readiness probe."""

    def ready(self) -> bool:
        try:
            return http_get(f"{self.base_url}/health", timeout=2).strip() == "OK"
        except OSError:
            return False

    def query_at(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self._call("/api/v1/query", {"query": expr, "time": f"{at:.3f}"}, post=True)
        return list(data["result"])


@dataclass
class Stack:
    demo_url: str
    prometheus: PrometheusApi
    vm_prometheus: VmApi  # fed by Prometheus' remote_write
    vm_vmagent: VmApi  # fed by vmagent and vmalert only
    rules: list[Path]
    logs: dict[str, Path]

    def log_tails(self) -> str:
        return "\n".join(f"--- {name} ---\n{tail(path, 1500)}" for name, path in self.logs.items())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """demo → Prometheus → remote_write → VictoriaMetrics #1, and demo → vmagent (+ vmalert) → VictoriaMetrics #2."""
    prometheus_bin = _require("prometheus", "prometheus")
    vm_bin = _require("victoria-metrics", "victoria-metrics")
    vmagent_bin = _require("vmagent", "victoria-metrics")
    vmalert_bin = _require("vmalert", "victoria-metrics")
    tmp = tmp_path_factory.mktemp("scale-out")
    rules = _core_rule_files()
    ports = {name: free_port() for name in ("demo", "prom", "vm1", "vm2", "vmagent", "vmalert", "closed")}
    logs = {name: tmp / f"{name}.log" for name in ("demo", "prometheus", "vm1", "vm2", "vmagent", "vmalert")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for vm in ("vm1", "vm2"):
            argv = [vm_bin, f"-httpListenAddr=127.0.0.1:{ports[vm]}", f"-storageDataPath={tmp / vm}"]
            procs.append(start_process([*argv, "-search.latencyOffset=1s"], logs[vm]))
        demo_argv = [sys.executable, "-m", "lukhas_obs.cli", "demo", "--port", str(ports["demo"]), "--duration", "0"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
        procs.append(start_process([*demo_argv, "--traces-file", str(tmp / "traces.jsonl")], logs["demo"], env=env))

        prom = _load(SCALE / "prometheus-remote-write.yml")
        prom["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
        prom["rule_files"] = [str(p) for p in rules]
        prom["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{ports['demo']}"]}]
        prom["remote_write"][0]["url"] = f"http://127.0.0.1:{ports['vm1']}/api/v1/write"
        prom["remote_write"][0]["queue_config"]["batch_send_deadline"] = "1s"
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom, sort_keys=False), encoding="utf-8")
        scrape = _load(SCALE / "vmagent-scrape.yml")
        scrape["global"]["scrape_interval"] = "1s"
        scrape["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{ports['demo']}"]}]
        (tmp / "vmagent.yml").write_text(yaml.safe_dump(scrape, sort_keys=False), encoding="utf-8")

        vm1, vm2 = VmApi(f"http://127.0.0.1:{ports['vm1']}"), VmApi(f"http://127.0.0.1:{ports['vm2']}")
        wait_for("VictoriaMetrics to be ready", lambda: vm1.ready() and vm2.ready(), STARTUP_TIMEOUT_S)
        procs.append(
            start_process(
                [
                    prometheus_bin,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--web.listen-address=127.0.0.1:{ports['prom']}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                ],
                logs["prometheus"],
            )
        )
        procs.append(
            start_process(
                [
                    vmagent_bin,
                    f"-httpListenAddr=127.0.0.1:{ports['vmagent']}",
                    f"-promscrape.config={tmp / 'vmagent.yml'}",
                    f"-remoteWrite.url={vm2.base_url}/api/v1/write",
                    f"-remoteWrite.tmpDataPath={tmp / 'vmagent-buffer'}",
                ],
                logs["vmagent"],
            )
        )
        procs.append(
            start_process(
                [
                    vmalert_bin,
                    f"-httpListenAddr=127.0.0.1:{ports['vmalert']}",
                    *(f"-rule={p}" for p in rules),
                    f"-datasource.url={vm2.base_url}",
                    f"-remoteWrite.url={vm2.base_url}",
                    # vmalert refuses alerting rules without a notifier; nothing fires in these few seconds.
                    f"-notifier.url=http://127.0.0.1:{ports['closed']}",
                    "-evaluationInterval=1s",
                ],
                logs["vmalert"],
            )
        )
        api = PrometheusApi(f"http://127.0.0.1:{ports['prom']}")
        wait_for(f"Prometheus to be ready ({tail(logs['prometheus'])})", api.ready, STARTUP_TIMEOUT_S)
        demo_url = f"http://127.0.0.1:{ports['demo']}/metrics"
        wait_for(
            f"the demo's /metrics ({tail(logs['demo'])})",
            lambda: "lukhas_memory_search_seconds_bucket" in http_get(demo_url),
            STARTUP_TIMEOUT_S,
        )
        yield Stack(demo_url, api, vm1, vm2, rules, logs)
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def _wait_answers(api: VmApi, exprs: dict[str, str], what: str, stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Poll until every expression returns a series with a finite value; fail listing those that never did."""
    missing = dict(exprs)
    answers: dict[str, list[dict[str, Any]]] = {}

    def probe() -> bool:
        for key, expr in list(missing.items()):
            result = api.query(expr)
            if any(math.isfinite(float(r["value"][1])) for r in result):
                answers[key] = result
                del missing[key]
        return not missing

    try:
        wait_for(what, probe, DATA_TIMEOUT_S, interval=0.5)
    except pytest.fail.Exception:
        listing = "\n".join(f"  {k}: {e}" for k, e in missing.items())
        pytest.fail(f"{len(missing)} {what} returned nothing from VictoriaMetrics:\n{listing}\n{stack.log_tails()}")
    return answers


def test_dashboard_and_recording_rules_answer_from_victoriametrics_via_prometheus_remote_write(stack: Stack) -> None:
    queries = _dashboard_queries()
    records = {r: r for r in _recording_rules(stack.rules)}
    assert len(queries) >= 10 and len(records) >= 15
    answers = _wait_answers(stack.vm_prometheus, {**queries, **records}, "dashboard queries and recording rules", stack)
    # What VictoriaMetrics holds came through remote_write: it carries Prometheus' external label.
    for record in records:
        assert all(r["metric"].get("cluster") == "lukhas-obs" for r in answers[record]), answers[record]
    text = http_get(f"{stack.prometheus.base_url}/metrics")
    sent = sum(float(v) for v in re.findall(r"^prometheus_remote_storage_samples_total\{[^}]*\} (\S+)$", text, re.M))
    failed = re.findall(r"^prometheus_remote_storage_samples_failed_total\{[^}]*\} (\S+)$", text, re.M)
    assert sent > 0 and all(float(v) == 0 for v in failed), (sent, failed)
    sizes = re.findall(r"^prometheus_remote_storage_bytes_total\{[^}]*\} (\S+)$", text, re.M)
    sent_bytes = sum(float(v) for v in sizes)
    print(f"remote_write: {sent:.0f} samples in {sent_bytes:,.0f} B ({sent_bytes / sent:.1f} B/sample, snappy)")


def _label_sets(result: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in drop)) for r in result}


def test_victoriametrics_holds_the_series_and_values_prometheus_scraped(stack: Stack) -> None:
    selector = '{job="lukhas",__name__=~"lukhas_.*"}'

    def same_series() -> bool:
        at = time.time() - 3
        local = stack.prometheus.query(f"{selector} @ {at:.3f}")
        remote = stack.vm_prometheus.query_at(selector, at)
        return bool(local) and _label_sets(local) == _label_sets(remote, drop=("cluster",))

    wait_for(f"the same series in Prometheus and VictoriaMetrics\n{stack.log_tails()}", same_series, DATA_TIMEOUT_S)

    # One counter's value at one instant, asked of both: the samples were copied, not approximated.
    series = 'lukhas_memory_search_seconds_count{job="lukhas"}'

    def same_value() -> bool:
        at = time.time() - 3
        local = stack.prometheus.query(f"sum({series} @ {at:.3f})")
        remote = stack.vm_prometheus.query_at(f"sum({series})", at)
        return bool(local and remote) and float(local[0]["value"][1]) == float(remote[0]["value"][1]) > 0

    wait_for("one value at one instant to agree", same_value, DATA_TIMEOUT_S)


def test_vmagent_and_vmalert_alternative_answers_the_same_queries(stack: Stack) -> None:
    queries = _dashboard_queries()
    records = {r: r for r in _recording_rules(stack.rules)}
    answers = _wait_answers(stack.vm_vmagent, {**queries, **records}, "queries via vmagent + vmalert", stack)
    up = stack.vm_vmagent.query('up{job="lukhas"}')
    assert [r["value"][1] for r in up] == ["1"] and up[0]["metric"]["cluster"] == "lukhas-obs"
    assert set(answers) == {*queries, *records}


def test_the_demo_scrape_stays_within_the_series_budget(stack: Stack) -> None:
    """benchmarks/series_budget.py counts, docs/SCALING.md quotes: what the demo really exposes must fit in it."""
    rows = {r.metric: r for r in budget(registered_catalogs())}
    kinds = {r.metric: r.kind for r in rows.values()}
    owner = {sample: name for name in rows for sample in sample_names(name, kinds[name])}
    seen: dict[str, int] = {}
    for line in http_get(stack.demo_url).splitlines():
        if not line or line.startswith("#"):
            continue
        sample = re.split(r"[{ ]", line, maxsplit=1)[0]
        if sample == "target_info":
            seen[sample] = seen.get(sample, 0) + 1
            continue
        assert sample in owner, f"{sample} is on /metrics but in no catalog's budget"
        seen[owner[sample]] = seen.get(owner[sample], 0) + 1
    assert seen.pop("target_info") == 1
    over = {name: (n, rows[name].series) for name, n in seen.items() if n > rows[name].series}
    assert not over, f"series beyond the budget (seen, budget): {over}"
    core = {m.name for m in builtin("lukhas_core").metrics}
    assert core <= set(seen), f"core metrics not exposed: {core - set(seen)}"
    exact = {name for name in core if rows[name].declared_sets == 1}
    assert all(seen[name] == rows[name].series for name in exact), {n: (seen[n], rows[n].series) for n in exact}


# ---------------------------------------------------------------------------------------------------- agent hop


def test_agent_hop_keeps_processes_apart_and_every_trace_whole(tmp_path: Path) -> None:
    """Two processes → one rotel agent → the next tier: whole traces (trace-ID routing needs them), apart."""
    receiver = OtlpReceiver("grpc").start()
    agent = Rotel(receiver.endpoint, "grpc", workdir=tmp_path / "rotel")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        start_or_skip(agent)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))},
            "LUKHAS_SERVICE": "lukhas",
            "LUKHAS_LANE": "canary",
            "OTEL_TRACES_EXPORTER": "otlp,file",  # a local copy of what each process sent
        }
        for i in range(2):
            argv = [sys.executable, "-m", "lukhas_obs.cli", "demo", "--iterations", "6", "--port", "0"]
            argv += ["--traces-file", str(tmp_path / f"sent-{i}.jsonl"), "--otlp-endpoint", agent.endpoint("http")]
            procs.append(start_process([*argv, "--otlp-protocol", "http"], tmp_path / f"demo-{i}.log", env=env))
        for i, proc in enumerate(procs):
            assert proc.wait(timeout=60) == 0, tail(tmp_path / f"demo-{i}.log")

        sent_by_process = [read_spans([tmp_path / f"sent-{i}.jsonl"]) for i in range(2)]
        instance_of: dict[tuple[str, str], str] = {}
        instances = []
        for spans in sent_by_process:
            ids = {s.resource["service.instance.id"] for s in spans}
            assert len(ids) == 1 and spans, ids
            instances.append(ids.pop())
            instance_of.update({(s.trace_id, s.span_id): instances[-1] for s in spans})
        assert instances[0] != instances[1], "two processes share one service.instance.id: their series would collide"

        arrived = receiver.wait_for(lambda r: len(r.spans()) >= len(instance_of), timeout=20)
        assert arrived, f"{len(receiver.spans())} of {len(instance_of)} spans arrived\n{agent.log_text()[-3000:]}"
        received = {(s.trace_id.hex(), s.span_id.hex()): res for res, _, s in receiver.spans()}
        assert set(received) == set(instance_of)
        traces: dict[str, set[str]] = {}
        for (trace_id, _), resource in received.items():
            assert resource["service.instance.id"] == instance_of[(trace_id, _)]
            assert resource["service.name"] == "lukhas" and resource["lukhas.lane"] == "canary"
            traces.setdefault(trace_id, set()).add(resource["service.instance.id"])
        assert all(len(owners) == 1 for owners in traces.values()), "a trace arrived with spans of two processes"
        sent_traces = {t for t, _ in instance_of}
        assert set(traces) == sent_traces and len(sent_traces) >= 12

        # The sampler's attribute policies name keys that really arrive.
        sampler = _load(SCALE / "otelcol-sampler.yaml")["processors"]["tail_sampling"]["policies"]
        for policy in (p for p in sampler if p["type"] == "string_attribute"):
            key, values = policy["string_attribute"]["key"], policy["string_attribute"]["values"]
            assert any(res.get(key) in values for res in received.values()), (key, values)

        catalog = {m.otel_name for m in builtin("lukhas_core").metrics}

        def both_processes_metrics(r: OtlpReceiver) -> bool:
            seen = {res.get("service.instance.id") for res, m in r.metrics() if m.name in catalog}
            return set(instances) <= seen

        assert receiver.wait_for(both_processes_metrics, timeout=20), "metrics of both processes did not arrive"
        for _resource, metric in receiver.metrics():
            if metric.name in catalog:
                for point in getattr(metric, metric.WhichOneof("data")).data_points:
                    assert attributes_to_dict(point.attributes)["lane"] == "canary"
        volume = receiver.bytes_by_signal
        spans_n = len(received)
        print(
            f"agent hop: {spans_n} spans in {len(receiver.trace_requests)} requests, {volume['traces']:,} B "
            f"({volume['traces'] / spans_n:.0f} B/span); metrics {volume['metrics']:,} B in "
            f"{len(receiver.metric_requests)} requests"
        )
    finally:
        for proc in procs:
            stop_process(proc)
        agent.stop()
        receiver.stop()
