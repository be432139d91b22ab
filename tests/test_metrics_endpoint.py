"""A real HTTP scrape of /metrics shows seed 003's exact series, and promtool accepts the exposition."""

from __future__ import annotations

import asyncio
import subprocess
import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from tests.conftest import require_tool
from tests.support.scrape import scrape

# Seed 003, "Lightweight Observability SDK": names, kinds, bucket sets and labels, copied from the seed text.
FAST = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
STD = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
SEED_003 = {
    "lukhas_memory_upsert_seconds": ("histogram", STD, {"lane", "service"}),
    "lukhas_memory_search_seconds": ("histogram", STD, {"lane", "service"}),
    "lukhas_memory_docs_total": ("counter", None, {"lane", "service"}),
    "lukhas_memory_dedup_dropped_total": ("counter", None, {"lane", "service"}),
    "lukhas_reflection_latency_seconds": ("histogram", FAST, {"lane", "service"}),
    "lukhas_reflection_anomalies_total": ("counter", None, {"lane", "service"}),
    "lukhas_dream_step_seconds": ("histogram", STD, {"lane", "service"}),
    "lukhas_dream_backpressure": ("gauge", None, {"lane", "service"}),
    "lukhas_auth_latency_seconds": ("histogram", STD, {"lane", "service", "tier"}),
    "lukhas_auth_failures_total": ("counter", None, {"lane", "service", "tier", "reason"}),
}


def _record_everything() -> None:
    lukhas_obs.metric("lukhas_memory_upsert_seconds").record(0.02)
    lukhas_obs.metric("lukhas_memory_search_seconds").record(0.3)
    lukhas_obs.metric("lukhas_memory_docs_total").add(3)
    lukhas_obs.metric("lukhas_memory_dedup_dropped_total").add(1)
    lukhas_obs.metric("lukhas_reflection_latency_seconds").record(0.004)
    lukhas_obs.metric("lukhas_reflection_anomalies_total").add(2)
    lukhas_obs.metric("lukhas_dream_step_seconds").record(0.07)
    lukhas_obs.metric("lukhas_dream_backpressure").set(0.25)
    lukhas_obs.metric("lukhas_auth_latency_seconds").record(0.15, tier="T2")
    lukhas_obs.metric("lukhas_auth_failures_total").add(1, tier="T2", reason="invalid_credentials")


@pytest.mark.e2e
def test_scrape_shows_every_seed_series_with_exact_buckets_and_common_labels(configured):
    _record_everything()
    result = scrape(configured.metrics_url)
    assert result.status == 200
    assert result.content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(result.body)}

    for metric_name, (kind, buckets, labels) in SEED_003.items():
        family_name = metric_name[: -len("_total")] if kind == "counter" else metric_name
        assert family_name in families, f"{metric_name} missing from /metrics"
        family = families[family_name]
        assert family.type == kind, metric_name
        assert family.samples, metric_name
        for sample in family.samples:
            keys = set(sample.labels) - {"le"}
            assert keys == labels, (metric_name, sample)
            assert sample.labels["lane"] == "candidate"
            assert sample.labels["service"] == "lukhas"
        if kind == "histogram":
            les = [s.labels["le"] for s in family.samples if s.name == metric_name + "_bucket"]
            assert les == [*(str(float(b)) for b in buckets), "+Inf"], metric_name
            assert {s.name for s in family.samples} == {f"{metric_name}_{part}" for part in ("bucket", "sum", "count")}
        elif kind == "counter":
            assert [s.name for s in family.samples] == [metric_name]

    search_count = result.samples("lukhas_memory_search_seconds_count")
    assert [s.value for s in search_count] == [1.0]
    le_025 = [s for s in result.samples("lukhas_memory_search_seconds_bucket") if s.labels["le"] == "0.25"]
    le_05 = [s for s in result.samples("lukhas_memory_search_seconds_bucket") if s.labels["le"] == "0.5"]
    assert (le_025[0].value, le_05[0].value) == (0.0, 1.0)  # 0.3 s falls in the (0.25, 0.5] bucket
    failures = result.samples("lukhas_auth_failures_total")
    assert [(s.labels["tier"], s.labels["reason"], s.value) for s in failures] == [("T2", "invalid_credentials", 1)]


@pytest.mark.e2e
def test_no_scope_labels_and_target_info_carries_the_resource(configured):
    _record_everything()
    body = scrape(configured.metrics_url).body
    assert "otel_scope_" not in body
    (target,) = scrape(configured.metrics_url).samples("target_info")
    assert target.labels["service_name"] == "lukhas"
    assert target.labels["lukhas_lane"] == "candidate"
    assert target.labels["deployment_environment_name"] == "dev"
    assert "process_command_args" not in target.labels  # command lines can carry secrets


@pytest.mark.e2e
def test_scope_labels_when_asked(tmp_path):
    telemetry = lukhas_obs.configure(prometheus_port=0, scope_labels=True, traces_exporter="none")
    lukhas_obs.metric("lukhas_memory_docs_total").add(1)
    (sample,) = scrape(telemetry.metrics_url).samples("lukhas_memory_docs_total")
    assert sample.labels["otel_scope_name"] == "lukhas_obs"


#: The catalogs whose families the promtool checks read.
CORE = ["lukhas_core", "lukhas_obs_self"]


@pytest.mark.e2e
def test_promtool_accepts_the_exposition(configured):
    promtool = require_tool("promtool")
    _record_everything()
    assert scrape(configured.metrics_url).status == 200
    # The core's and self-telemetry's families (with target_info): other systems' catalogs may be registered in this
    # process, and some seeds' names trip promtool's naming lint (Luna's gauges named *_count, seed-exact on purpose).
    body, _ = lukhas_obs.render_exposition(catalogs=CORE)
    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


@pytest.mark.e2e
def test_openmetrics_when_the_scraper_asks(configured):
    _record_everything()
    result = scrape(configured.metrics_url, accept="application/openmetrics-text; version=1.0.0")
    assert result.content_type.startswith("application/openmetrics-text")
    assert result.body.rstrip().endswith("# EOF")
    assert "lukhas_auth_failures_total{" in result.body


@pytest.mark.e2e
def test_health_reveals_only_liveness_and_unknown_paths_are_404(configured):
    with urllib.request.urlopen(configured.metrics_url.replace("/metrics", "/health"), timeout=5) as response:
        assert response.status == 200
        assert response.read() == b'{"status": "ok"}'
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(configured.metrics_url.replace("/metrics", "/debug"), timeout=5)
    assert err.value.code == 404


def _call_wsgi(app) -> tuple[str, bytes]:
    environ: dict = {}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], body


def test_wsgi_app_serves_the_active_configuration(tmp_path):
    app = lukhas_obs.metrics_wsgi_app()
    status, _ = _call_wsgi(app)
    assert status.startswith("503")
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric("lukhas_memory_docs_total").add(5)
    status, body = _call_wsgi(app)
    assert status.startswith("200")
    assert 'lukhas_memory_docs_total{lane="candidate",service="lukhas"} 5.0' in body.decode()


def test_asgi_app_serves_the_active_configuration(tmp_path):
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric("lukhas_dream_backpressure").set(0.5)
    app = lukhas_obs.metrics_asgi_app()
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert 'lukhas_dream_backpressure{lane="candidate",service="lukhas"} 0.5' in body


def test_lane_and_service_come_from_the_configuration(tmp_path):
    telemetry = lukhas_obs.configure(prometheus_port=0, service="lukhas-memory", lane="prod", traces_exporter="none")
    lukhas_obs.metric("lukhas_memory_search_seconds").record(0.01)
    (count,) = scrape(telemetry.metrics_url).samples("lukhas_memory_search_seconds_count")
    assert (count.labels["lane"], count.labels["service"]) == ("prod", "lukhas-memory")


@pytest.mark.e2e
def test_force_flush_never_duplicates_series_on_the_next_scrape(configured):
    promtool = require_tool("promtool")
    _record_everything()
    assert lukhas_obs.force_flush(timeout=5)
    body = scrape(configured.metrics_url).body
    assert body.count("\nlukhas_memory_docs_total{") == 1
    core, _ = lukhas_obs.render_exposition(catalogs=CORE)  # as above: the core's families
    assert core.count(b"\nlukhas_memory_docs_total{") == 1
    checked = subprocess.run([promtool, "check", "metrics"], input=core, capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stderr.decode()
