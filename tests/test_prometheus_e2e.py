"""End to end with a real Prometheus: the demo's /metrics, the generated rules and every dashboard query.

One module-scoped stack: ``lukhas-obs demo`` (subprocess, real /metrics) scraped every second by a real
``prometheus`` (loopback, temporary TSDB) that loads the freshly generated rule files. The tests then ask
Prometheus itself whether every dashboard expression and every recording rule returns data, whether every rule
evaluates without error, and whether the generated PromQL equals seed 003's hand-written PromQL once Prometheus has
formatted both.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lukhas_obs.catalog import builtin
from lukhas_obs.catalog.spec import Catalog
from lukhas_obs.generate import dashboards, generate, rules
from lukhas_obs.generate.output import write_files
from tests.support.prometheus import (
    PrometheusApi,
    free_port,
    http_get,
    require_binary,
    start_process,
    stop_process,
    tail,
    wait_for,
    write_prometheus_config,
)

pytestmark = pytest.mark.e2e

#: Values substituted for the dashboard variables (the demo's defaults, seed 003's COMMON_LABELS).
VARIABLES = {"$lane": "candidate", "$service": "lukhas"}
STARTUP_TIMEOUT_S = 60
DATA_TIMEOUT_S = 60

#: Seed 003's rule expressions, verbatim (section 5).
SEED_RULE_EXPRS = {
    "job:lukhas_memory_search_p95:rate5m": (
        "histogram_quantile(0.95, sum(rate(lukhas_memory_search_seconds_bucket[5m])) by (le))"
    ),
    "MemorySearchLatencyHigh": "job:lukhas_memory_search_p95:rate5m > 0.1",
    "job:lukhas_reflection_p95:rate5m": (
        "histogram_quantile(0.95, sum(rate(lukhas_reflection_latency_seconds_bucket[5m])) by (le))"
    ),
    "ReflectionLatencyHigh": "job:lukhas_reflection_p95:rate5m > 0.01",
    "ReflectionAnomalyBurst": "rate(lukhas_reflection_anomalies_total[5m]) > 0.1",
    "job:lukhas_auth_p95:rate5m": (
        "histogram_quantile(0.95, sum by (le,tier) (rate(lukhas_auth_latency_seconds_bucket[5m])))"
    ),
    "IdentityAuthFailures": "sum(rate(lukhas_auth_failures_total[5m])) by (tier) > 0.2",
}

_F = '{lane="$lane",service="$service"}'
#: Seed 003's dashboard expressions, verbatim, by (panel title, legendFormat).
SEED_PANEL_EXPRS = {
    ("SLO • Reflection p95 (<10ms)", "p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_reflection_latency_seconds_bucket{_F}[5m])))"
    ),
    ("SLO • Memory search p95 (<100ms)", "p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_memory_search_seconds_bucket{_F}[5m])))"
    ),
    ("SLO • Identity auth p95 (<250ms)", "p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_auth_latency_seconds_bucket{_F}[5m])))"
    ),
    ("Guardian anomalies (5m rate)", "anomalies/s"): f"rate(lukhas_reflection_anomalies_total{_F}[5m])",
    ("Memory • Search latency (p50/p95/p99)", "p50"): (
        f"histogram_quantile(0.50, sum by (le) (rate(lukhas_memory_search_seconds_bucket{_F}[5m])))"
    ),
    ("Memory • Search latency (p50/p95/p99)", "p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_memory_search_seconds_bucket{_F}[5m])))"
    ),
    ("Memory • Search latency (p50/p95/p99)", "p99"): (
        f"histogram_quantile(0.99, sum by (le) (rate(lukhas_memory_search_seconds_bucket{_F}[5m])))"
    ),
    ("Memory • Upsert latency (p50/p95)", "p50"): (
        f"histogram_quantile(0.50, sum by (le) (rate(lukhas_memory_upsert_seconds_bucket{_F}[5m])))"
    ),
    ("Memory • Upsert latency (p50/p95)", "p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_memory_upsert_seconds_bucket{_F}[5m])))"
    ),
    ("Memory • Docs indexed (total)", "docs/h"): f"sum(increase(lukhas_memory_docs_total{_F}[1h]))",
    ("Memory • Dedupe drops (1h)", "drops/h"): f"sum(increase(lukhas_memory_dedup_dropped_total{_F}[1h]))",
    ("Reflection • latency (p50/p95/p99)", "p50"): (
        f"histogram_quantile(0.50, sum by (le) (rate(lukhas_reflection_latency_seconds_bucket{_F}[5m])))"
    ),
    ("Reflection • latency (p50/p95/p99)", "p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_reflection_latency_seconds_bucket{_F}[5m])))"
    ),
    ("Reflection • latency (p50/p95/p99)", "p99"): (
        f"histogram_quantile(0.99, sum by (le) (rate(lukhas_reflection_latency_seconds_bucket{_F}[5m])))"
    ),
    ("Dream • step latency & backpressure", "step p95"): (
        f"histogram_quantile(0.95, sum by (le) (rate(lukhas_dream_step_seconds_bucket{_F}[5m])))"
    ),
    ("Dream • step latency & backpressure", "backpressure avg"): f"avg_over_time(lukhas_dream_backpressure{_F}[5m])",
    ("Identity • auth latency (p95 by tier)", "tier {{tier}}"): (
        f"histogram_quantile(0.95, sum by (le,tier) (rate(lukhas_auth_latency_seconds_bucket{_F}[5m])))"
    ),
    ("Identity • auth failures (rate by tier)", "tier {{tier}} ({{reason}})"): (
        f"sum by (tier,reason) (rate(lukhas_auth_failures_total{_F}[5m]))"
    ),
}


@dataclass
class Stack:
    api: PrometheusApi
    catalog: Catalog
    rule_docs: dict
    prometheus_log: Path
    demo_log: Path


def _substitute(expr: str) -> str:
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


def _squash(text: str) -> str:
    """Prometheus pretty-prints long expressions over several lines (``f(\n  a,\n  b\n)``); undo that layout."""
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", " ".join(text.split())))


def _all_panel_exprs(catalog: Catalog) -> list[tuple[str, str, str]]:
    return [
        (panel.title, query.legend, expr)
        for dash in catalog.dashboards
        for panel, query, expr in dashboards.panel_queries(catalog, dash)
    ]


def _all_rules(rule_docs: dict) -> list[dict]:
    return [rule for doc in rule_docs.values() for group in doc["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("prom-e2e")
    catalog = builtin("lukhas_core")
    assert catalog.slos is not None
    rule_paths = write_files(tmp / "generated", generate(["rules"], [catalog]))
    assert rule_paths, "the catalog generated no rule files"

    demo_port, prom_port = free_port(), free_port()
    demo_log, prom_log = tmp / "demo.log", tmp / "prometheus.log"
    demo = start_process(
        [
            sys.executable,
            "-m",
            "lukhas_obs.cli",
            "demo",
            "--port",
            str(demo_port),
            "--duration",
            "0",
            "--traces-file",
            str(tmp / "traces.jsonl"),
        ],
        demo_log,
    )
    prometheus = None
    try:
        wait_for(
            f"the demo's /metrics on port {demo_port} (log: {tail(demo_log)})",
            lambda: "lukhas_memory_search_seconds_bucket" in http_get(f"http://127.0.0.1:{demo_port}/metrics"),
            STARTUP_TIMEOUT_S,
        )
        config = write_prometheus_config(
            tmp / "prometheus.yml", catalog.slos.job, f"127.0.0.1:{demo_port}", [p.resolve() for p in rule_paths]
        )
        prometheus = start_process(
            [
                prometheus_bin,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
            ],
            prom_log,
        )
        api = PrometheusApi(f"http://127.0.0.1:{prom_port}")
        wait_for(f"Prometheus to be ready (log: {tail(prom_log)})", api.ready, STARTUP_TIMEOUT_S)
        wait_for(
            "the demo target to be up",
            lambda: any(t["health"] == "up" and t["labels"]["job"] == catalog.slos.job for t in api.targets()),
            STARTUP_TIMEOUT_S,
        )
        yield Stack(api, catalog, rules.rule_documents(catalog), prom_log, demo_log)
    finally:
        if prometheus is not None:
            stop_process(prometheus)
        stop_process(demo)


def _wait_all_return_data(api: PrometheusApi, exprs: dict[str, str], what: str) -> None:
    """Poll until every expression returns at least one series; fail listing the ones that never did."""
    missing: dict[str, str] = dict(exprs)

    def probe() -> bool:
        for key, expr in list(missing.items()):
            if api.query(expr):
                del missing[key]
        return not missing

    try:
        wait_for(what, probe, DATA_TIMEOUT_S, interval=1.0)
    except pytest.fail.Exception:
        pytest.fail(
            f"{len(missing)} {what} returned no series:\n" + "\n".join(f"  {k}: {e}" for k, e in missing.items())
        )


def test_every_dashboard_expression_returns_series(stack: Stack) -> None:
    exprs = {f"{title} [{legend}]": _substitute(expr) for title, legend, expr in _all_panel_exprs(stack.catalog)}
    assert len(exprs) == len(SEED_PANEL_EXPRS)
    _wait_all_return_data(stack.api, exprs, "dashboard expressions")


def test_every_recording_rule_returns_series(stack: Stack) -> None:
    records = {r["record"]: r["record"] for r in _all_rules(stack.rule_docs) if "record" in r}
    assert len(records) >= 3 + 3 * 4  # seed records + 4 burn windows per latency SLO
    _wait_all_return_data(stack.api, records, "recording rules")


def test_every_rule_is_loaded_and_evaluates_cleanly(stack: Stack) -> None:
    expected = {
        g["name"]: [r.get("record") or r["alert"] for r in g["rules"]]
        for doc in stack.rule_docs.values()
        for g in doc["groups"]
    }

    def evaluated() -> list[dict] | None:
        groups = stack.api.rule_groups()
        if {g["name"] for g in groups} != set(expected):
            return None
        rules_ = [r for g in groups for r in g["rules"]]
        return rules_ if all(r["health"] != "unknown" for r in rules_) else None

    loaded = wait_for("every rule group to be loaded and evaluated once", evaluated, DATA_TIMEOUT_S)
    bad = [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in loaded if r["health"] != "ok"]
    assert not bad, "rules failing to evaluate:\n" + "\n".join(bad)
    assert sorted(r["name"] for r in loaded) == sorted(n for names in expected.values() for n in names)


def test_generated_promql_is_in_prometheus_canonical_form(stack: Stack) -> None:
    exprs = [r["expr"] for r in _all_rules(stack.rule_docs)] + [e for _, _, e in _all_panel_exprs(stack.catalog)]
    drift = [(e, f) for e in exprs if _squash(f := stack.api.format_query(e)) != _squash(e)]
    assert not drift, "\n".join(f"generated: {e}\nprometheus: {f}" for e, f in drift)


def test_generated_rules_equal_seed_003_after_prometheus_formatting(stack: Stack) -> None:
    generated = {r.get("record") or r["alert"]: r["expr"] for r in _all_rules(stack.rule_docs)}
    for name, seed_expr in SEED_RULE_EXPRS.items():
        assert name in generated, f"seed rule {name} is not generated"
        assert _squash(stack.api.format_query(seed_expr)) == _squash(stack.api.format_query(generated[name])), name


def test_generated_dashboard_equals_seed_003_after_prometheus_formatting(stack: Stack) -> None:
    generated = {(title, legend): expr for title, legend, expr in _all_panel_exprs(stack.catalog)}
    assert set(generated) == set(SEED_PANEL_EXPRS)
    for key, seed_expr in SEED_PANEL_EXPRS.items():
        assert _squash(stack.api.format_query(seed_expr)) == _squash(stack.api.format_query(generated[key])), key
