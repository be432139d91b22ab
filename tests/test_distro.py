"""Zero-code instrumentation and third-party metrics (lukhas_obs.distro), with real contrib instrumentations.

- In process: opentelemetry-instrumentation-wsgi's middleware on a real threaded WSGI server on 127.0.0.1 and
  opentelemetry-instrumentation-requests: their spans reach the trace file and their metrics reach ``/metrics`` and
  OTLP (a real receiver) next to the catalog's; the allow-list, the cardinality limit, name collisions, scrubbing and
  hostile values; instruments follow reconfiguration.
- Out of process: ``opentelemetry-instrument python tests/data/zero_code/small_wsgi_app.py`` with lukhas-obs chosen
  as distro and configurator (``OTEL_PYTHON_DISTRO``/``OTEL_PYTHON_CONFIGURATOR``), its entry points installed by a
  throwaway ``*.dist-info`` on ``PYTHONPATH`` when the installed lukhas-obs does not declare them yet.
"""

from __future__ import annotations

import json
import math
import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import Observation
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import distro, runtime
from tests.support.hostile import Hostile, RaisingStr
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.scrape import scrape

APP = Path(__file__).parent / "data" / "zero_code" / "small_wsgi_app.py"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _require(module: str) -> None:
    """The contrib packages are test dependencies: skipped outside CI when missing, a failure in CI."""
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is required in CI (a test dependency)")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(autouse=True)
def _contrib() -> None:
    _require("opentelemetry.instrumentation.wsgi")
    _require("opentelemetry.instrumentation.requests")


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def wsgi_server() -> Iterator[str]:
    """A real threaded WSGI server on 127.0.0.1 behind OpenTelemetryMiddleware; ``/echo`` answers ``ok``."""
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

    def app(environ: dict, start_response) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = make_server(
        "127.0.0.1", 0, OpenTelemetryMiddleware(app), server_class=_ThreadingServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _configure(tmp_path: Path, **options: object) -> runtime.Telemetry:
    settings: dict[str, object] = {
        "prometheus_port": 0,
        "traces_file": tmp_path / "traces.jsonl",
        "traces_exporter": "file",
        "third_party_metrics": True,
    }
    settings.update(options)
    return runtime.configure(reconfigure=True, **settings)


def _families(url: str) -> dict:
    body = scrape(url).body
    types = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "two # TYPE blocks for one name: invalid exposition"
    return {f.name: f for f in text_string_to_metric_families(body)}


def _spans(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        for rs in doc.get("resourceSpans", ()):
            for ss in rs["scopeSpans"]:
                out += ss["spans"]
    return out


# --- real contrib instrumentations, in process ----------------------------------------------------------------------


def test_wsgi_and_requests_metrics_and_spans_reach_metrics_otlp_and_the_trace_file(tmp_path, wsgi_server):
    import requests
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    with OtlpReceiver("http") as receiver:
        telemetry = _configure(
            tmp_path,
            otlp_endpoint=receiver.endpoint,
            metrics_exporter=["prometheus", "otlp"],
            metric_export_interval=60,
        )
        assert otel_metrics.get_meter_provider() is distro.global_meter_provider
        RequestsInstrumentor().instrument()
        try:
            for _ in range(3):
                assert requests.get(wsgi_server + "/echo", timeout=5).text == "ok"
        finally:
            RequestsInstrumentor().uninstrument()
        lukhas_obs.counter("lukhas_memory_docs_total").add(2)

        families = _families(telemetry.metrics_url)
        server = families["http_server_duration_milliseconds"]
        count = [s for s in server.samples if s.name.endswith("_count")]
        assert sum(s.value for s in count) == 3
        assert {s.labels["lane"] for s in count} == {"candidate"} and {s.labels["service"] for s in count} == {"lukhas"}
        client = families["http_client_duration_milliseconds"].samples
        assert sum(s.value for s in client if s.name.endswith("_count")) == 3
        assert "http_server_active_requests" in families
        assert families["lukhas_memory_docs"].samples[0].value == 2  # the catalog's, in the same scrape
        assert not any("otel_metric_overflow" in s.labels for f in families.values() for s in f.samples)

        assert telemetry.force_flush(5)
        wanted = {"http.server.duration", "http.client.duration", "lukhas.memory.docs"}
        assert receiver.wait_for(lambda r: wanted <= {m.name for _, m in r.metrics()})

    runtime.shutdown()
    spans = _spans(tmp_path / "traces.jsonl")
    kinds = sorted(s["kind"] for s in spans)
    assert kinds == [2, 2, 2, 3, 3, 3]  # three SERVER spans (wsgi), three CLIENT spans (requests)
    server_spans = [s for s in spans if s["kind"] == 2]
    client_spans = [s for s in spans if s["kind"] == 3]
    assert {s["parentSpanId"] for s in server_spans} == {s["spanId"] for s in client_spans}  # propagated


def test_off_by_default_lukhas_never_sets_the_global_meter_provider(tmp_path):
    code = (
        "import lukhas_obs; from opentelemetry import metrics; "
        f"lukhas_obs.configure(prometheus_port=0, traces_file={str(tmp_path / 't.jsonl')!r}); "
        "print(type(metrics.get_meter_provider()).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_ProxyMeterProvider"


def test_the_allow_list_keeps_other_instruments_out(tmp_path):
    telemetry = _configure(tmp_path, third_party_allow=["http.server.*", "db.client.*"])
    meter = otel_metrics.get_meter("contrib.example")
    meter.create_counter("http.server.hits").add(1)
    meter.create_counter("rpc.server.calls").add(5)
    meter.create_histogram("db.client.operation.duration", unit="s").record(0.01)
    families = _families(telemetry.metrics_url)
    assert "http_server_hits" in families and "db_client_operation_duration_seconds" in families
    assert "rpc_server_calls" not in families


def test_cardinality_limit_drops_new_sets_counts_them_and_never_overflows(tmp_path):
    telemetry = _configure(tmp_path, third_party_cardinality_limit=5)
    counter = otel_metrics.get_meter("contrib.limit").create_counter("contrib.limited")
    for index in range(40):
        counter.add(1, {"path": f"/item/{index}"})
    counter.add(1, {"path": "/item/0"})  # an admitted set still records
    families = _families(telemetry.metrics_url)
    series = [s for s in families["contrib_limited"].samples if s.name == "contrib_limited_total"]
    assert len(series) == 5
    assert next(s.value for s in series if s.labels["path"] == "/item/0") == 2
    assert not any("otel_metric_overflow" in s.labels for s in series)
    dropped = families["lukhas_obs_dropped_measurements"].samples
    assert any(
        s.labels.get("metric") == "contrib.limited" and s.labels.get("reason") == "cardinality_limit" and s.value == 35
        for s in dropped
    ), dropped


def test_a_name_that_collides_with_the_catalog_is_refused_and_the_exposition_stays_valid(tmp_path):
    telemetry = _configure(tmp_path)
    lukhas_obs.counter("lukhas_memory_docs_total").add(1)
    meter = otel_metrics.get_meter("contrib.collide")
    meter.create_counter("lukhas.memory.docs", unit="{doc}").add(100)  # the catalog's own OTel name
    meter.create_histogram("lukhas_memory_search", unit="s").record(1.0)  # lukhas_memory_search_seconds
    meter.create_counter("contrib.twice", description="one").add(1)
    meter.create_up_down_counter("contrib.twice", description="two").add(7)  # same family, another kind
    families = _families(telemetry.metrics_url)  # asserts one # TYPE per name
    assert families["lukhas_memory_docs"].samples[0].value == 1
    assert families["contrib_twice"].type == "counter"
    dropped = {(s.labels["metric"], s.labels["reason"]) for s in families["lukhas_obs_dropped_measurements"].samples}
    assert {("lukhas.memory.docs", "wrong_kind"), ("lukhas_memory_search", "wrong_kind")} <= dropped
    assert ("contrib.twice", "wrong_kind") in dropped


def test_third_party_attribute_values_are_scrubbed(tmp_path):
    telemetry = _configure(tmp_path)
    counter = otel_metrics.get_meter("contrib.scrub").create_counter("contrib.requests")
    counter.add(1, {"http.target": f"/login?token={GH_TOKEN}", "api_key": "k" * 24, "method": "GET"})
    body = scrape(telemetry.metrics_url).body
    assert GH_TOKEN not in body and "k" * 24 not in body
    assert "REDACTED" in body and 'method="GET"' in body


def test_hostile_third_party_values_never_raise_and_are_counted(tmp_path):
    telemetry = _configure(tmp_path)
    meter = otel_metrics.get_meter("contrib.hostile")
    counter = meter.create_counter("contrib.hostile_total")
    histogram = meter.create_histogram("contrib.hostile_seconds", unit="s")
    gauge = meter.create_gauge("contrib.hostile_gauge")
    for amount in (math.nan, math.inf, 10**30, -5, True, "7", Hostile(), None):
        counter.add(amount)  # type: ignore[arg-type]
        histogram.record(amount)  # type: ignore[arg-type]
        gauge.set(amount)  # type: ignore[arg-type]

    class EvilKeys(dict):
        def items(self):
            return [(RaisingStr("k"), "v")]

    counter.add(1, EvilKeys())
    counter.add(1, {"ok": RaisingStr("v")})
    counter.add(1, {"lone": "x\ud800y", "big": 10**40, "map": {"a": 1}})
    counter.add(1, Hostile())  # type: ignore[arg-type]

    def bad_callback(options):
        raise RuntimeError("boom")

    meter.create_observable_gauge("contrib.hostile_observed", callbacks=[bad_callback])
    _families(telemetry.metrics_url)  # the scrape itself still works (the callback's drop counts from this one on)
    families = _families(telemetry.metrics_url)
    reasons = {(s.labels["metric"], s.labels["reason"]) for s in families["lukhas_obs_dropped_measurements"].samples}
    for reason in ("nan", "infinite", "out_of_range", "negative_increment", "not_a_number"):
        assert ("contrib.hostile_total", reason) in reasons, reason
    assert ("contrib.hostile_seconds", "negative_value") in reasons
    assert ("contrib.hostile_observed", "callback_error") in reasons
    series = {tuple(sorted(s.labels.items())) for s in families["contrib_hostile"].samples}
    assert any(dict(labels).get("lone") == "x\ufffdy" for labels in series)  # made valid text, not dropped


def test_instruments_follow_reconfiguration_and_go_quiet_when_turned_off(tmp_path):
    meter = otel_metrics.get_meter("contrib.switch")
    counter = meter.create_counter("contrib.switch")
    seen: list[int] = []

    def observe(options):
        seen.append(1)
        return [Observation(42, {"k": "v"})]

    meter.create_observable_gauge("contrib.observed", callbacks=[observe])

    first = _configure(tmp_path)
    counter.add(3)
    assert _families(first.metrics_url)["contrib_switch"].samples[0].value == 3
    assert _families(first.metrics_url)["contrib_observed"].samples[0].value == 42

    second = _configure(tmp_path, lane="other")  # a new configuration: new provider, same instruments
    counter.add(1)
    families = _families(second.metrics_url)
    assert families["contrib_switch"].samples[0].value == 1
    assert families["contrib_switch"].samples[0].labels["lane"] == "other"
    assert families["contrib_observed"].samples[0].value == 42

    third = _configure(tmp_path, third_party_metrics=False)
    counter.add(1)
    calls = len(seen)
    families = _families(third.metrics_url)
    assert "contrib_switch" not in families and "contrib_observed" not in families
    assert len(seen) == calls  # callbacks of third-party observables are not even called


def test_distro_turns_third_party_metrics_on_unless_set(monkeypatch):
    monkeypatch.delenv("LUKHAS_THIRD_PARTY_METRICS", raising=False)
    distro.LukhasDistro().configure()
    assert os.environ["LUKHAS_THIRD_PARTY_METRICS"] == "on"
    monkeypatch.setenv("LUKHAS_THIRD_PARTY_METRICS", "off")
    distro.LukhasDistro().configure()
    assert os.environ["LUKHAS_THIRD_PARTY_METRICS"] == "off"


def test_an_instrumentor_that_raises_is_skipped_not_fatal(caplog):
    class EntryPoint:
        name = "broken"

        def load(self):
            class Broken:
                def instrument(self, **kwargs):
                    raise RuntimeError("instrumentor bug")

            return Broken

    distro.LukhasDistro().load_instrumentor(EntryPoint(), skip_dep_check=True)  # does not raise
    assert "instrumentation broken failed" in caplog.text


def test_the_configurator_never_raises_on_a_refused_configuration(monkeypatch, caplog):
    monkeypatch.setenv("LUKHAS_PROMETHEUS_PORT", "not-a-port")
    distro.LukhasConfigurator().configure(auto_instrumentation_version="test")
    assert runtime.active() is None
    assert "prometheus_port" in caplog.text and "LUKHAS_PROMETHEUS_PORT" in caplog.text


# --- opentelemetry-instrument, out of process ------------------------------------------------------------------------

ENTRY_POINTS = (
    "[opentelemetry_distro]\nlukhas_obs = lukhas_obs.distro:LukhasDistro\n\n"
    "[opentelemetry_configurator]\nlukhas_obs = lukhas_obs.distro:LukhasConfigurator\n"
)


def _declared_by_installed_package() -> bool:
    return all(
        any(ep.name == "lukhas_obs" for ep in metadata.entry_points(group=group))
        for group in ("opentelemetry_distro", "opentelemetry_configurator")
    )


@pytest.fixture
def zero_code_env(tmp_path: Path) -> dict[str, str]:
    """The environment of an ``opentelemetry-instrument`` run choosing lukhas-obs, with a decoy configurator that
    would fail the run if it were picked."""
    site = tmp_path / "site"
    info = site / "lukhas_obs_zero_code-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lukhas-obs-zero-code\nVersion: 0.0\n")
    decoy = "\n[opentelemetry_configurator]\naaa_decoy = decoy_configurator:Decoy\n"
    (info / "entry_points.txt").write_text(("" if _declared_by_installed_package() else ENTRY_POINTS) + decoy)
    (site / "decoy_configurator.py").write_text(
        "class Decoy:\n    def configure(self, **kwargs):\n        raise SystemExit('the decoy configurator ran')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(Path(__file__).parent.parent)]),
        OTEL_PYTHON_DISTRO="lukhas_obs",
        OTEL_PYTHON_CONFIGURATOR="lukhas_obs",
        LUKHAS_PROMETHEUS_PORT="0",
        LUKHAS_TRACES_FILE=str(tmp_path / "traces.jsonl"),
        LUKHAS_LOGS_EXPORTER="file",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="",
    )
    return env


def _instrument_command() -> list[str]:
    binary = Path(sys.executable).parent / "opentelemetry-instrument"
    if not binary.exists():
        _require("opentelemetry.instrumentation.auto_instrumentation")
        pytest.fail(f"opentelemetry-instrument is not next to {sys.executable}")
    return [str(binary), sys.executable, str(APP)]


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict]:
    process = subprocess.Popen(
        _instrument_command(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(30)
    if not ready or not ready[0]:
        process.kill()
        pytest.fail("the app did not start: " + (process.communicate(timeout=5)[1] or "")[-2000:])
    return process, json.loads(ready[0])


def test_opentelemetry_instrument_runs_a_wsgi_app_with_lukhas_obs_as_the_distro(zero_code_env, tmp_path):
    import requests

    process, info = _start(zero_code_env)
    try:
        assert info["metrics"], "lukhas-obs was not configured by the configurator"
        for _ in range(3):
            assert requests.get(info["app"] + "/proxy", timeout=10).text == "hello"
        families = _families(info["metrics"])
        assert families["lukhas_memory_docs"].samples[0].value == 3  # the catalog's metric
        server = families["http_server_duration_milliseconds"].samples  # the wsgi middleware's
        assert sum(s.value for s in server if s.name.endswith("_count")) == 6  # /proxy and /hello, three times each
        client = families["http_client_duration_milliseconds"].samples  # requests, instrumented by the tool
        assert sum(s.value for s in client if s.name.endswith("_count")) == 3
        requests.get(info["app"] + "/quit", timeout=10)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    stderr = process.stderr.read()  # type: ignore[union-attr]
    assert "decoy configurator ran" not in stderr

    spans = _spans(tmp_path / "traces.jsonl")
    names = sorted(s["name"] for s in spans if s["kind"] == 2)
    assert names == ["GET /hello"] * 3 + ["GET /proxy"] * 3 + ["GET /quit"]
    assert sum(1 for s in spans if s["kind"] == 3) == 3
    text = (tmp_path / "traces.jsonl").read_text()
    assert "zero-code-secret-value" not in text
    logs = [
        record
        for line in text.splitlines()
        for rl in json.loads(line).get("resourceLogs", ())
        for sl in rl["scopeLogs"]
        for record in sl["logRecords"]
    ]
    hello_ids = {(s["traceId"], s["spanId"]) for s in spans if s["name"] == "GET /hello"}
    assert len(logs) == 3 and {(r["traceId"], r["spanId"]) for r in logs} == hello_ids


def test_a_refused_zero_code_configuration_says_why_and_the_app_still_runs(zero_code_env):
    import requests

    zero_code_env["LUKHAS_THIRD_PARTY_ALLOW"] = "http.server.*, bad glob with spaces"
    started = time.monotonic()
    process, info = _start(zero_code_env)
    try:
        assert info["metrics"] is None  # telemetry is off, the app is not
        assert requests.get(info["app"] + "/hello", timeout=10).text == "hello"
        requests.get(info["app"] + "/quit", timeout=10)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    stderr = process.stderr.read()  # type: ignore[union-attr]
    refusals = [line for line in stderr.splitlines() if "zero-code configuration refused" in line]
    assert len(refusals) == 1 and "third_party_allow" in refusals[0] and "LUKHAS_THIRD_PARTY_ALLOW" in refusals[0]
    assert time.monotonic() - started < 30
