"""lukhas-obs check: emitted telemetry (/metrics, trace files, OTLP) against the catalogs; hostile peers and inputs."""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import lukhas_obs
from lukhas_obs import check
from lukhas_obs.catalog import builtin

HOST = "127.0.0.1"

#: The demo workload wraps each iteration in a ``lukhas_core.tick`` span the core catalog does not declare (yet);
#: the live-output test declares it here so that the rest of the output is checked strictly.
WORKLOAD_SPANS = """\
catalog: lukhas_core_workload
metrics: []
spans:
  - name: lukhas_core.tick
    component: lukhas_core
    description: One iteration of the demo workload.
    attributes: [iteration]
"""


def core_checker(**options: Any) -> check.Checker:
    return check.Checker([builtin("lukhas_core"), builtin("lukhas_obs_self")], **options)


def errors(report: check.CheckReport) -> list[tuple[str, str]]:
    return sorted((f.code, f.subject) for f in report.findings if f.severity == check.ERROR)


def run_cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    check.register_cli(parser.add_subparsers())
    args = parser.parse_args(["check", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = check.check_command(args, out, err)
    return code, out.getvalue(), err.getvalue()


def drive_flows() -> None:
    """Spans and measurements of every core component, with a failing authentication (tier and reason labels)."""
    with lukhas_obs.span("memory.query", k=4):
        lukhas_obs.histogram("lukhas_memory_search_seconds").record(0.004)
    lukhas_obs.counter("lukhas_memory_docs_total").add(3)
    lukhas_obs.histogram("lukhas_reflection_latency_seconds").record(0.001)
    lukhas_obs.gauge("lukhas_dream_backpressure").set(0.4)
    with lukhas_obs.span("identity.authenticate_T2", tier="T2", **{"auth.ok": False, "auth.reason": "expired"}):
        lukhas_obs.counter("lukhas_auth_failures_total").add(1, tier="T2", reason="expired")
        lukhas_obs.histogram("lukhas_auth_latency_seconds").record(0.02, tier="T2")


@pytest.fixture
def workload_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "workload.yaml"
    path.write_text(WORKLOAD_SPANS, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ the demo's live output


class Demo:
    """``lukhas-obs demo`` in a child process: its /metrics URL, its trace file, and a stop by PID."""

    def __init__(self, traces: Path) -> None:
        self.traces = traces
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
        self.child = subprocess.Popen(
            [sys.executable, "-m", "lukhas_obs.cli", "demo", "--duration", "20", "--port", "0", "--traces-file",
             str(traces)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        self.url = ""

    def wait_for_url(self) -> str:
        assert self.child.stderr is not None
        deadline = time.monotonic() + 15
        while not self.url and time.monotonic() < deadline:
            line = self.child.stderr.readline()
            if not line:
                break
            found = re.search(r"metrics: (http://\S+/metrics)", line)
            self.url = found.group(1) if found else ""
        assert self.url, "the demo did not print its /metrics URL"
        return self.url

    def stop(self) -> None:
        """SIGTERM by PID: the demo flushes its spans to the trace file and exits 0."""
        if self.child.poll() is None:
            os.kill(self.child.pid, signal.SIGTERM)
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.child.pid, signal.SIGKILL)
            self.child.wait(timeout=5)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    child = Demo(tmp_path / "demo-traces.jsonl")
    try:
        child.wait_for_url()
        time.sleep(0.6)  # a few iterations
        yield child
    finally:
        child.stop()


def test_the_demos_live_output_passes(demo: Demo, workload_catalog: Path) -> None:
    """Done-when: ``lukhas-obs check`` passes on the demo's /metrics (scraped live) and on its trace file."""
    code, out, _err = run_cli(demo.url, "--system", "lukhas_core")
    assert code == 0, out
    assert "OK: 0 error(s), 0 warning(s)" in out
    assert re.search(r"metric families \d+, samples \d+", out)
    demo.stop()
    assert demo.child.returncode == 0
    code, out, _err = run_cli(str(demo.traces), "--system", "lukhas_core", "--catalog-file", str(workload_catalog))
    assert code == 0, out
    spans = int(re.search(r"spans (\d+)", out).group(1))  # type: ignore[union-attr]
    assert spans > 10


def test_the_demos_trace_file_names_the_undeclared_workload_span(demo: Demo) -> None:
    """Without the workload's span declared, the one gap of the core catalog is named, nothing else."""
    demo.stop()
    code, out, _err = run_cli(str(demo.traces), "--system", "lukhas_core")
    assert code == 1
    report_lines = [line for line in out.splitlines() if line.startswith("error")]
    assert len(report_lines) == 1 and "undeclared_span" in report_lines[0] and "lukhas_core.tick" in report_lines[0]


# ------------------------------------------------------------------------------------------ precise failures


@pytest.fixture
def real_output(tmp_path: Path) -> tuple[str, Path]:
    """The text exposition and the trace file of an in-process configuration driving the core flows."""
    traces = tmp_path / "traces.jsonl"
    telemetry = lukhas_obs.configure(serve_metrics=False, traces_file=traces)
    drive_flows()
    text = lukhas_obs.render_exposition()[0].decode()
    telemetry.shutdown(timeout=5)
    return text, traces


def test_real_output_passes(real_output: tuple[str, Path]) -> None:
    text, traces = real_output
    checker = core_checker()
    checker.metrics_exposition(text, openmetrics=False, source="text")
    checker.trace_files(traces)
    report = checker.report()
    assert report.ok and report.exit_code == 0, report.text()
    assert report.checked["samples"] > 20 and report.checked["spans"] >= 2


def test_renamed_metric_wrong_label_and_undeclared_span_fail_precisely(
    real_output: tuple[str, Path], tmp_path: Path
) -> None:
    """Done-when: each of the three is named, with the declared name suggested; nothing else is reported."""
    text, traces = real_output
    broken = text.replace("lukhas_memory_search_seconds", "lukhas_memory_serch_seconds")
    broken = re.sub(r'(lukhas_auth_failures_total\{[^}]*)tier="', r'\1teir="', broken)
    assert broken.count("lukhas_memory_serch_seconds") > 5 and 'teir="T2"' in broken
    bad_traces = tmp_path / "bad.jsonl"
    bad_traces.write_text(traces.read_text().replace('"memory.query"', '"memory.qery"'), encoding="utf-8")

    scraped = tmp_path / "metrics.txt"
    scraped.write_text(broken)
    with serve_once(broken.encode()) as url:
        code, out, _err = run_cli(url, str(bad_traces), "--system", "lukhas_core")
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("error")]
    assert len(lines) == 3, out
    assert re.search(
        r"^error +unknown_metric +lukhas_memory_serch_seconds: no checked catalog declares it \(histogram, \d+ "
        r"sample\(s\)\); did you mean lukhas_memory_search_seconds\?$", out, re.M
    ), out  # fmt: skip
    assert re.search(
        r"^error +unexpected_label +lukhas_auth_failures_total: label 'teir' is not declared \(declared: lane, "
        r"reason, service, tier\)$", out, re.M
    ), out  # fmt: skip
    assert re.search(
        r"^error +undeclared_span +memory\.qery: no checked catalog declares this span name; did you mean "
        r"memory\.query\?$", out, re.M
    ), out  # fmt: skip

    code, out, _err = run_cli(str(bad_traces), "--system", "lukhas_core", "--json")
    document = json.loads(out)
    assert code == 1 and document["ok"] is False and document["exit_code"] == 1
    assert [(f["code"], f["subject"]) for f in document["findings"] if f["severity"] == "error"] == [
        ("undeclared_span", "memory.qery")
    ]
    assert "memory.query" in document["not_seen"]["spans"]


def test_kinds_units_label_values_and_span_details_are_checked() -> None:
    exposition = "\n".join(
        [
            "# HELP lukhas_memory_docs_total x",
            "# TYPE lukhas_memory_docs_total gauge",
            'lukhas_memory_docs_total{lane="a",service="b"} 1',
            "# HELP lukhas_dream_backpressure x",
            "# TYPE lukhas_dream_backpressure gauge",
            "lukhas_dream_backpressure 0.5",
            "# HELP lukhas_auth_failures_total x",
            "# TYPE lukhas_auth_failures_total counter",
            'lukhas_auth_failures_total{lane="a",service="b",tier="T9",reason="expired"} 1',
            'lukhas_auth_failures_total{lane="a",service="b",tier="other",reason="expired",otel_metric_overflow="true"}'
            " 1",
            "",
        ]
    )
    om = "\n".join(
        [
            "# TYPE lukhas_reflection_anomalies counter",
            "# UNIT lukhas_reflection_anomalies anomalies",
            'lukhas_reflection_anomalies_total{lane="a",service="b"} 1',
            "# EOF",
            "",
        ]
    )
    checker = core_checker()
    checker.metrics_exposition(exposition, openmetrics=False, source="a")
    checker.metrics_exposition(om, openmetrics=True, source="b")
    checker.span("memory.query", 2, {"k": 1, "component": "identity"}, "c")  # server kind, wrong component
    checker.span("memory.add_event", 1, {"lane": "x", "user.email": "ada@example.com"}, "c")
    report = checker.report()
    assert errors(report) == [
        ("missing_label", "lukhas_dream_backpressure"),
        ("missing_label", "lukhas_dream_backpressure"),
        ("undeclared_attribute", "memory.add_event"),
        ("unknown_label_value", "lukhas_auth_failures_total"),
        ("wrong_kind", "lukhas_memory_docs_total"),
        ("wrong_span_kind", "memory.query"),
        ("wrong_unit", "lukhas_reflection_anomalies_total"),
    ]
    text = report.text()
    assert "label 'tier' has value 'T9', which is not declared (T1, T2, T3, T4, T5, other)" in text
    assert "exposed as a gauge; the catalog declares a counter" in text
    assert "unit 'anomalies'; the catalog declares '{anomaly}' (exposed as '')" in text
    assert "span kind server; the catalog declares internal" in text
    assert "warning cardinality_overflow" in text and "warning wrong_component" in text
    assert "ada@example.com" not in text


def test_an_openmetrics_body_the_strict_parser_refuses_is_named_and_still_checked() -> None:
    """A unit that contradicts the name is refused by the OpenMetrics parser; the families are read leniently."""
    om = (
        "# TYPE lukhas_memory_upsert_seconds histogram\n# UNIT lukhas_memory_upsert_seconds milliseconds\n"
        'lukhas_memory_upsert_seconds_count{lane="a",service="b"} 1\nlukhas_memory_upsert_seconds_sum{lane="a",'
        'service="b"} 1\n# TYPE lukhas_memory_serch_seconds histogram\nlukhas_memory_serch_seconds_count 1\n# EOF\n'
    )
    checker = core_checker()
    checker.metrics_exposition(om, openmetrics=True, source="om")
    report = checker.report()
    assert errors(report) == [("invalid_exposition", "om"), ("unknown_metric", "lukhas_memory_serch_seconds")]
    assert "Unit does not match metric name" in report.text()


def test_allow_and_ignore_label_skip_what_is_not_the_catalogs() -> None:
    exposition = (
        "# TYPE http_server_duration_seconds histogram\n"
        'http_server_duration_seconds_bucket{le="+Inf"} 1\nhttp_server_duration_seconds_count 1\n'
        "http_server_duration_seconds_sum 1\n"
        "# TYPE lukhas_memory_docs_total counter\n"
        'lukhas_memory_docs_total{lane="a",service="b",pod="p1"} 1\n'
    )
    checker = core_checker()
    checker.metrics_exposition(exposition, openmetrics=False, source="x")
    assert errors(checker.report()) == [
        ("unexpected_label", "lukhas_memory_docs_total"),
        ("unknown_metric", "http_server_duration_seconds"),
    ]
    checker = core_checker(allow=["http_*"], ignore_labels=["pod"])
    checker.metrics_exposition(exposition, openmetrics=False, source="x")
    assert checker.report().ok


def test_hostile_names_and_values_are_shown_escaped_and_redacted() -> None:
    """Attack: terminal escapes, a lone surrogate and a GitHub token in what a service emits never reach the
    report raw."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    exposition = (
        "# TYPE lukhas_auth_failures_total counter\n"
        f'lukhas_auth_failures_total{{lane="a",service="b",tier="\x1b[2J{token}",reason="expired"}} 1\n'
    )
    checker = core_checker()
    checker.metrics_exposition(exposition, openmetrics=False, source="x")
    checker.span(f"evil\x1b]0;title\x07{token}\ud800", 1, {f"k\x1b[31m{token}": 1}, "y")
    text = checker.report().text() + json.dumps(checker.report().as_dict())
    assert "\x1b" not in text and "\x07" not in text and token not in text and "\ud800" not in text
    assert "\\x1b" in text


def test_findings_are_bounded() -> None:
    """Attack: a million distinct undeclared span names keep at most MAX_FINDINGS findings."""
    checker = core_checker()
    for i in range(check.MAX_FINDINGS + 500):
        checker.span(f"undeclared.{i}", 1, {}, "x")
    report = checker.report()
    assert len([f for f in report.findings if f.severity == check.ERROR]) == check.MAX_FINDINGS
    assert report.truncated == 500 and "500 more finding(s) not kept" in report.text()


def test_an_unreadable_trace_line_is_reported_and_the_rest_checked(tmp_path: Path, real_output) -> None:
    _text, traces = real_output
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("not json\n" + traces.read_text(), encoding="utf-8")
    code, out, _err = run_cli(str(mixed), "--system", "lukhas_core")
    assert code == 0 and "warning unreadable" in out and re.search(r"spans [1-9]", out)
    code, out, _err = run_cli(str(tmp_path / "missing.jsonl"))
    assert code == 2 and "unreadable" in out


# ------------------------------------------------------------------------------------------ scraping (real HTTP)


class _Server:
    """A tiny HTTP server on 127.0.0.1 whose handler is a function; records the requests' headers."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.headers.append(dict(self.headers.items()))
                respond(self)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/metrics"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _reply(body: bytes, status: int = 200, headers: dict[str, str] | None = None):
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for key, value in {"Content-Type": "text/plain; version=0.0.4", **(headers or {})}.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


class serve_once:
    def __init__(self, body: bytes) -> None:
        self._server = _Server(_reply(body))

    def __enter__(self) -> str:
        self._server.__enter__()
        return self._server.url

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)


def test_bearer_token_from_file_is_sent_and_never_printed(tmp_path: Path) -> None:
    token = "s3cr3t-token-value-42"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")

    def respond(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != f"Bearer {token}":
            _reply(f"denied: got {handler.headers.get('Authorization')}".encode(), 401)(handler)
        else:
            _reply(b"# TYPE lukhas_memory_docs_total counter\nlukhas_memory_docs_total{lane=\"a\",service=\"b\"} 1\n")(
                handler
            )

    with _Server(respond) as server:
        code, out, err = run_cli(server.url, "--bearer-token-file", str(token_file))
        assert code == 0, out
        os.environ["CHECK_TEST_TOKEN"] = "wrong-" + token
        try:
            code, out, err = run_cli(server.url, "--bearer-token-env", "CHECK_TEST_TOKEN", "--json")
        finally:
            del os.environ["CHECK_TEST_TOKEN"]
    assert code == 2 and "HTTP 401" in out and token not in out + err
    with pytest.raises(ValueError, match="not set or empty"):
        check.read_token(env="CHECK_TEST_TOKEN_ABSENT")
    token_file.write_text("two words\n")
    with pytest.raises(ValueError, match=r"whitespace or non-ASCII characters \(not shown\)") as bad:
        check.read_token(file=str(token_file))
    assert "two words" not in str(bad.value)


def test_a_redirect_is_not_followed_with_the_token(tmp_path: Path) -> None:
    """Attack: /metrics redirects to another server; the token must not reach it."""
    token_file = tmp_path / "token"
    token_file.write_text("redirect-token-123")
    with _Server(_reply(b"")) as elsewhere:

        def respond(handler: BaseHTTPRequestHandler) -> None:
            _reply(b"", 302, {"Location": elsewhere.url})(handler)

        with _Server(respond) as server:
            code, out, _err = run_cli(server.url, "--bearer-token-file", str(token_file))
    assert code == 2 and "redirected (302)" in out
    assert elsewhere.headers == []


def test_a_slow_server_times_out_in_bounded_time() -> None:
    """Attack: headers at once, then one byte per 0.2 s forever."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"#")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    with _Server(respond) as server:
        started = time.monotonic()
        code, out, _err = run_cli(server.url, "--timeout", "1")
        elapsed = time.monotonic() - started
    assert code == 2 and "did not arrive within 1s" in out, out
    assert elapsed < 2.5


def test_a_huge_body_and_a_gzip_bomb_are_refused() -> None:
    with _Server(_reply(b"# " + b"x" * 300_000 + b"\n")) as server:
        code, out, _err = run_cli(server.url, "--max-bytes", "100000")
    assert code == 2 and "larger than 100000 bytes" in out
    bomb = gzip.compress(b"0" * 20_000_000)
    assert len(bomb) < 100_000
    with _Server(_reply(bomb, headers={"Content-Encoding": "gzip"})) as server:
        code, out, _err = run_cli(server.url, "--max-bytes", "1000000")
    assert code == 2 and "once decompressed" in out


def test_gzip_and_openmetrics_are_understood(real_output) -> None:
    body, _ctype = lukhas_obs.render_exposition("application/openmetrics-text; version=1.0.0")
    text, _traces = real_output
    assert "# EOF" not in text
    om_body = body if b"# EOF" in body else None
    if om_body is None:  # nothing configured now: make an OpenMetrics exposition of the real output again
        lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
        drive_flows()
        om_body, _ctype = lukhas_obs.render_exposition("application/openmetrics-text; version=1.0.0")
        lukhas_obs.shutdown()
    headers = {"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8", "Content-Encoding": "gzip"}
    with _Server(_reply(gzip.compress(om_body), headers=headers)) as server:
        code, out, _err = run_cli(server.url, "--system", "lukhas_core")
    assert code == 0, out
    assert server.headers[0]["Accept"].startswith("application/openmetrics-text")


def test_connection_refused_and_bad_arguments_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    code, out, _err = run_cli(f"http://{HOST}:{port}/metrics")
    assert code == 2 and "unreadable" in out
    code, _out, err = run_cli()
    assert code == 2 and "give a /metrics URL" in err
    with pytest.raises(ValueError, match="not a loopback address"):
        check.OtlpCapture(core_checker(), "0.0.0.0", 0)


# ------------------------------------------------------------------------------------------ OTLP --listen


@pytest.fixture
def capture() -> Iterator[check.OtlpCapture]:
    rx = check.OtlpCapture(core_checker(), HOST, 0).start()
    try:
        yield rx
    finally:
        rx.stop()


def test_listen_passes_on_lukhas_obs_otlp_output(capture: check.OtlpCapture) -> None:
    capture.checker = check.Checker(check._catalogs(None, None, None))  # every known system's: all are exported
    lukhas_obs.configure(
        serve_metrics=False, otlp_endpoint=capture.endpoint, otlp_protocol="http", metrics_exporter="otlp",
        traces_exporter="otlp", metric_export_interval=60,
    )  # fmt: skip
    drive_flows()
    assert lukhas_obs.shutdown(timeout=5)
    report = capture.checker.report()
    assert capture.requests["traces"] >= 1 and capture.requests["metrics"] >= 1
    assert report.checked["otlp metrics"] >= 5 and report.checked["spans"] >= 2
    assert report.ok, report.text()


def test_listen_fails_precisely_on_raw_sdk_output(capture: check.OtlpCapture) -> None:
    """Instruments that disagree with the catalog, exported by the plain OTel SDK over real OTLP/HTTP."""
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=capture.endpoint + "/v1/metrics"), 60_000)
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    meter = meters.get_meter("raw")
    meter.create_histogram("lukhas.memory.serch", unit="s").record(0.1, {"lane": "a", "service": "b"})
    meter.create_histogram("lukhas.memory.search", unit="ms").record(1, {"lane": "a", "service": "b"})
    meter.create_up_down_counter("lukhas.memory.docs", unit="{doc}").add(1, {"lane": "a", "service": "b"})
    meter.create_counter("lukhas.auth.failures", unit="{failure}").add(
        1, {"lane": "a", "service": "b", "teir": "T2", "reason": "expired"}
    )
    meters.shutdown(timeout_millis=5000)
    tracers = TracerProvider(shutdown_on_exit=False)
    tracers.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=capture.endpoint + "/v1/traces")))
    tracer = tracers.get_tracer("raw")
    with tracer.start_as_current_span("memory.qery"):
        pass
    with tracer.start_as_current_span("memory.query", kind=SpanKind.SERVER, attributes={"k": 1, "extra": 2}):
        pass
    tracers.shutdown()
    report = capture.checker.report()
    assert errors(report) == [
        ("undeclared_attribute", "memory.query"),
        ("undeclared_span", "memory.qery"),
        ("unexpected_label", "lukhas_auth_failures_total"),
        ("unknown_metric", "lukhas.memory.serch"),
        ("wrong_kind", "lukhas_memory_docs_total"),
        ("wrong_span_kind", "memory.query"),
        ("wrong_unit", "lukhas_memory_search_seconds"),
    ], report.text()
    text = report.text()
    assert "did you mean lukhas.memory.search?" in text
    assert "lukhas.memory.docs arrives as a non-monotonic sum (up-down counter); the catalog declares a counter" in text
    assert "lukhas.memory.search has unit 'ms'; the catalog declares 's'" in text


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_receiver_refuses_oversized_compressed_bombs_garbage_and_chunked_bodies() -> None:
    checker = core_checker()
    with check.OtlpCapture(checker, HOST, 0, max_body=100_000) as rx:
        status, _ = _post(rx.port, "/v1/traces", b"x" * 200_000, {"Content-Type": "application/x-protobuf"})
        assert status == 413
        bomb = gzip.compress(b"\0" * 5_000_000)
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        assert _post(rx.port, "/v1/traces", bomb, headers)[0] == 413
        assert _post(rx.port, "/v1/metrics", b"\xff\xfe garbage", {"Content-Type": "application/x-protobuf"})[0] == 400
        assert _post(rx.port, "/v1/metrics", b"{", {"Content-Type": "application/json"})[0] == 400
        assert _post(rx.port, "/v1/other", b"", {})[0] == 404
        conn = http.client.HTTPConnection(HOST, rx.port, timeout=5)
        conn.putrequest("POST", "/v1/traces")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        assert conn.getresponse().status == 411
        conn.close()
        assert _post(rx.port, "/v1/traces", b"", {"Content-Type": "application/x-protobuf"})[0] == 200  # still serves
        assert rx.requests["rejected"] == 4
    assert "unreadable" in {f.code for f in checker.report().findings}


def test_idle_clients_neither_block_the_receiver_nor_exceed_its_connection_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack: clients that connect and send nothing hold at most MAX_CONNECTIONS slots, for a bounded time."""
    monkeypatch.setattr(check, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(check, "CONNECTION_TIMEOUT_S", 1.0)
    with check.OtlpCapture(core_checker(), HOST, 0) as rx:
        idle = [socket.create_connection((HOST, rx.port)) for _ in range(2)]
        try:
            assert _post(rx.port, "/v1/traces", b"", {"Content-Type": "application/x-protobuf"})[0] == 200
            idle.append(socket.create_connection((HOST, rx.port)))
            time.sleep(0.2)
            extra = socket.create_connection((HOST, rx.port))
            extra.settimeout(2)
            assert extra.recv(1) == b""  # the fourth connection is closed at once
            extra.close()
            time.sleep(1.3)  # the idle ones time out and free their slots
            assert _post(rx.port, "/v1/traces", b"", {"Content-Type": "application/x-protobuf"})[0] == 200
        finally:
            for sock in idle:
                sock.close()


def test_a_client_trickling_bytes_is_cut_at_the_connection_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: one header byte every 0.3 s renews a 1 s read timeout for ever; the lifetime bound cuts it."""
    monkeypatch.setattr(check, "CONNECTION_TIMEOUT_S", 1.0)
    monkeypatch.setattr(check, "MAX_CONNECTION_S", 1.5)
    with check.OtlpCapture(core_checker(), HOST, 0) as rx:
        sock = socket.create_connection((HOST, rx.port))
        started = time.monotonic()
        try:
            with pytest.raises(OSError):
                for byte in b"POST /v1/traces HTTP/1.1\r\n" * 20:
                    sock.sendall(bytes([byte]))
                    time.sleep(0.3)
                    if time.monotonic() - started > 6:
                        break
                    sock.settimeout(0.01)
                    try:
                        if sock.recv(1) == b"":
                            raise ConnectionResetError("closed by the receiver")
                    except TimeoutError:
                        pass
        finally:
            sock.close()
        assert time.monotonic() - started < 3


def test_listen_on_the_command_line_receives_for_the_duration(capture: check.OtlpCapture) -> None:
    capture.stop()  # this test runs the command's own receiver
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    result: dict[str, Any] = {}

    def run() -> None:
        result["cli"] = run_cli("--listen", f"{HOST}:{port}", "--duration", "1.5", "--system", "lukhas_core", "--json")

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    tracers = TracerProvider(shutdown_on_exit=False)
    tracers.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{HOST}:{port}/v1/traces")))
    with tracers.get_tracer("raw").start_as_current_span("memory.qery"):
        pass
    tracers.shutdown()
    thread.join(timeout=10)
    code, out, err = result["cli"]
    assert 1.4 < time.monotonic() - started < 5
    assert code == 1 and json.loads(out)["findings"][0]["subject"] == "memory.qery"
    assert f"receiving OTLP/HTTP at http://{HOST}:{port}" in err and "traces 1" in err
