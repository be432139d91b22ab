"""stdlib logging with trace context (lukhas_obs.logs): ids in every sink, secrets scrubbed in every field, never
blocking, bounded, and ``lukhas-obs traces show`` printing log lines under their spans.

Sinks are real: OTLP/HTTP to tests/support/otlp_receiver.py on 127.0.0.1 (which decodes logs requests), the trace
file, and a formatter of the application's own handler.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import logging.handlers
import os
import queue
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import lukhas_obs
from lukhas_obs import logs, runtime
from lukhas_obs.tracefile import register_cli
from tests.support.hostile import Hostile, RaisingStr
from tests.support.otlp_receiver import OtlpReceiver, attributes_to_dict

MARKER = "S3CR3T-log-4f9d2c"
GH_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
FORMAT = "%(levelname)s trace=%(otelTraceID)s span=%(otelSpanID)s %(message)s"


@pytest.fixture
def app_log() -> Iterator[logging.Logger]:
    """The application's logger (INFO, propagating), and a clean root logger restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logger = logging.getLogger("lukhas_test_app")
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    root.handlers[:], root.level = saved


def _configure(tmp_path: Path, **options: object) -> runtime.Telemetry:
    settings: dict[str, object] = {
        "prometheus_port": 0,
        "traces_file": tmp_path / "traces.jsonl",
        "traces_exporter": "file",
        "metrics_exporter": "prometheus",
        "logs_exporter": "file",
    }
    settings.update(options)
    return runtime.configure(reconfigure=True, **settings)


def _file_logs(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        for rl in json.loads(line).get("resourceLogs", ()):
            for sl in rl["scopeLogs"]:
                out += sl["logRecords"]
    return out


def _file_spans(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines():
        for rs in json.loads(line).get("resourceSpans", ()):
            for ss in rs["scopeSpans"]:
                out.update({s["name"]: s for s in ss["spans"]})
    return out


def _capture(logger: logging.Logger) -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return stream


# --- trace context in every sink --------------------------------------------------------------------------------------


def test_records_inside_a_span_carry_its_ids_in_otlp_the_file_and_a_formatter(tmp_path, app_log):
    with OtlpReceiver("http") as receiver:
        telemetry = _configure(tmp_path, logs_exporter="otlp,file", otlp_endpoint=receiver.endpoint)
        stream = _capture(app_log)
        with lukhas_obs.span("logs.outer") as outer:
            app_log.info("inside the outer span")
            with lukhas_obs.span("logs.inner") as inner:
                app_log.warning("inside the inner span %d", 7)
        app_log.info("outside any span")
        assert telemetry.force_flush(5)
        assert receiver.wait_for(lambda r: len(r.logs()) == 3)
        received = {record.body.string_value: record for _, _, record in receiver.logs()}
        scopes = {scope for _, scope, _ in receiver.logs()}

    ids = {
        "inside the outer span": (outer.get_span_context().trace_id, outer.get_span_context().span_id),
        "inside the inner span 7": (inner.get_span_context().trace_id, inner.get_span_context().span_id),
    }
    for body, (trace_id, span_id) in ids.items():
        record = received[body]
        assert record.trace_id == trace_id.to_bytes(16, "big") and record.span_id == span_id.to_bytes(8, "big")
        assert f"trace={trace_id:032x} span={span_id:016x} " in stream.getvalue()
    assert received["outside any span"].trace_id == b"" and received["outside any span"].span_id == b""
    assert "trace=0 span=0 INFO" not in stream.getvalue() and "trace=0 span=0 outside any span" in stream.getvalue()
    assert received["inside the inner span 7"].severity_text == "WARN"
    assert scopes == {"lukhas_test_app"}
    attributes = attributes_to_dict(received["inside the outer span"].attributes)
    assert attributes["code.function.name"].startswith("test_records_inside")
    assert "trace_id" not in attributes and "otelTraceID" not in attributes  # ids are fields, not attributes

    runtime.shutdown()
    in_file = {r["body"]["stringValue"]: r for r in _file_logs(tmp_path / "traces.jsonl")}
    for body, (trace_id, span_id) in ids.items():
        assert (in_file[body]["traceId"], in_file[body]["spanId"]) == (f"{trace_id:032x}", f"{span_id:016x}")
    assert "traceId" not in in_file["outside any span"]
    spans = _file_spans(tmp_path / "traces.jsonl")  # the spans themselves, in the same file
    assert spans["logs.inner"]["spanId"] == in_file["inside the inner span 7"]["spanId"]


def test_an_extra_named_like_a_trace_field_never_raises_and_wins(tmp_path, app_log):
    """A factory that set ``trace_id`` on records at creation would make this ``extra=`` raise KeyError."""
    _configure(tmp_path)
    stream = _capture(app_log)
    app_log.handlers[0].setFormatter(logging.Formatter("%(trace_id)s|%(otelSpanID)s|%(message)s"))
    with lukhas_obs.span("logs.extra"):
        app_log.info("mine", extra={"trace_id": "caller-trace", "otelSpanID": "caller-span"})
    assert "caller-trace|caller-span|mine" in stream.getvalue()
    runtime.shutdown()
    record = _file_logs(tmp_path / "traces.jsonl")[0]
    attributes = {a["key"]: a["value"]["stringValue"] for a in record["attributes"] if "stringValue" in a["value"]}
    assert attributes["trace_id"] == "caller-trace" and attributes["otelSpanID"] == "caller-span"  # the caller's
    assert len(record["traceId"]) == 32 and record["traceId"] != "caller-trace"  # and the real ids


def test_a_queue_handler_keeps_the_span_the_record_was_made_in(tmp_path, app_log):
    _configure(tmp_path)
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    stream = io.StringIO()
    target = logging.StreamHandler(stream)
    target.setFormatter(logging.Formatter(FORMAT))
    listener = logging.handlers.QueueListener(records, target)
    app_log.addHandler(logging.handlers.QueueHandler(records))
    listener.start()
    try:
        with lukhas_obs.span("logs.queued") as span:
            app_log.info("queued")
    finally:
        listener.stop()
    context = span.get_span_context()
    assert f"trace={context.trace_id:032x} span={context.span_id:016x} queued" in stream.getvalue()
    runtime.shutdown()
    exported = _file_logs(tmp_path / "traces.jsonl")
    assert len(exported) == 1 and exported[0]["spanId"] == f"{context.span_id:016x}"  # once, with its span


def test_basic_config_still_works_after_configure(tmp_path, app_log):
    """A handler added to the root logger would make the application's ``logging.basicConfig()`` a no-op."""
    root = logging.getLogger()
    root.handlers.clear()
    _configure(tmp_path)
    assert root.handlers == []
    stream = io.StringIO()
    logging.basicConfig(stream=stream, format="%(message)s", level=logging.INFO)
    try:
        app_log.info("configured by the application")
        assert "configured by the application" in stream.getvalue()
    finally:
        root.handlers.clear()
    runtime.shutdown()
    exported = [r["body"]["stringValue"] for r in _file_logs(tmp_path / "traces.jsonl")]
    assert exported == ["configured by the application"]


def test_records_of_non_propagating_and_opentelemetry_loggers_are_not_exported(tmp_path, app_log):
    _configure(tmp_path)
    quiet = logging.getLogger("lukhas_test_app.quiet")
    quiet.propagate = False
    try:
        quiet.warning("not propagated")
        logging.getLogger("opentelemetry.exporter.test").warning("an exporter complaining")
        app_log.warning("exported")
    finally:
        quiet.propagate = True
    runtime.shutdown()
    assert [r["body"]["stringValue"] for r in _file_logs(tmp_path / "traces.jsonl")] == ["exported"]


def test_nothing_is_exported_after_shutdown_or_with_logs_off(tmp_path, app_log):
    _configure(tmp_path)
    app_log.warning("one")
    runtime.shutdown()
    app_log.warning("after shutdown")
    _configure(tmp_path, logs_exporter="none")
    app_log.warning("logs off")
    runtime.shutdown()
    assert [r["body"]["stringValue"] for r in _file_logs(tmp_path / "traces.jsonl")] == ["one"]


# --- secrets ----------------------------------------------------------------------------------------------------------


def test_secrets_are_scrubbed_in_message_args_extras_exception_and_stack(tmp_path, app_log):
    with OtlpReceiver("http") as receiver:
        telemetry = _configure(tmp_path, logs_exporter="otlp,file", otlp_endpoint=receiver.endpoint)
        with lukhas_obs.span("logs.secrets"):
            app_log.info(f"login with password={MARKER}")  # in the message
            app_log.info("token %s for %s", GH_TOKEN, "bob")  # in the args
            app_log.info("extras", extra={"password": MARKER, "note": f"Authorization: Bearer {MARKER}x9"})
            try:
                raise ValueError(f"db failed: api_key={MARKER}")
            except ValueError:
                app_log.exception("query failed")  # in the exception text
            app_log.warning(f"here secret={MARKER}", stack_info=True)
        assert telemetry.force_flush(5)
        assert receiver.wait_for(lambda r: len(r.logs()) == 5)
        wire = b"".join(request.SerializeToString() for request in receiver.log_requests)
        bodies = [record.body.string_value for _, _, record in receiver.logs()]
        failed = next(record for _, _, record in receiver.logs() if record.body.string_value == "query failed")
    runtime.shutdown()
    text = (tmp_path / "traces.jsonl").read_text()
    for sink in (wire.decode("utf-8", "replace"), text):
        assert MARKER not in sink and GH_TOKEN not in sink
        assert "[REDACTED:password]" in sink and "REDACTED" in sink
    assert any(b.startswith("token [REDACTED") and b.endswith(" for bob") for b in bodies), bodies
    exception = attributes_to_dict(failed.attributes)
    assert exception["exception.type"] == "ValueError" and "Traceback" in exception["exception.stacktrace"]
    assert MARKER not in exception["exception.message"]


# --- hostile records --------------------------------------------------------------------------------------------------


def test_hostile_records_never_raise_and_are_still_exported(tmp_path, app_log):
    logging.getLogger().handlers.clear()  # pytest's capture handler re-raises formatting errors; ours must not
    app_log.addHandler(logging.NullHandler())
    _configure(tmp_path)

    class BadStr:
        def __str__(self) -> str:
            raise RuntimeError("str")

    class BadException(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str")

    with lukhas_obs.span("logs.hostile"):
        app_log.info("value %s", BadStr())  # getMessage raises
        app_log.info(Hostile())  # type: ignore[arg-type]  # msg whose __str__ raises
        app_log.info("lone \ud800 surrogate", extra={"sub": RaisingStr("x"), "big": 10**40, "obj": Hostile()})
        try:
            raise BadException()
        except BadException:
            app_log.exception("unprintable exception")
        app_log.info("x" * 200_000)  # bounded by the scrubber's scan
    runtime.shutdown()
    records = _file_logs(tmp_path / "traces.jsonl")
    bodies = [r["body"]["stringValue"] for r in records]
    assert len(records) == 5
    assert bodies[0].startswith("value %s") and bodies[1] == "<unformattable log message>"
    assert bodies[2] == "lone \ufffd surrogate"
    keys = {a["key"] for a in records[2]["attributes"]}
    assert "sub" in keys and "big" not in keys and "obj" not in keys  # made valid, or dropped (counted)
    exception = {a["key"]: a["value"].get("stringValue") for a in records[3]["attributes"]}
    assert exception["exception.message"].startswith("<unprintable ")
    assert exception["exception.type"].endswith("BadException")
    assert len(bodies[4]) < 70_000 and bodies[4].endswith("[REDACTED:truncated]")


# --- never blocking, bounded ------------------------------------------------------------------------------------------


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _blackhole() -> Iterator[int]:
    """A collector that accepts connections (in the kernel's backlog) and never answers."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    try:
        yield int(hole.getsockname()[1])
    finally:
        hole.close()


def test_a_dead_or_stalled_collector_never_blocks_logging(tmp_path, app_log):
    with OtlpReceiver("http") as stalled:
        stalled.delay_s = 5.0  # answers every export after 5 s
        telemetry = _configure(tmp_path, logs_exporter="otlp", otlp_endpoint=stalled.endpoint, otlp_timeout=2)
        started = time.perf_counter()
        worst = 0.0
        for index in range(3000):
            before = time.perf_counter()
            app_log.warning("record %d", index)
            worst = max(worst, time.perf_counter() - before)
        elapsed = time.perf_counter() - started
        assert elapsed < 2.0, f"3000 records took {elapsed:.2f}s"
        assert worst < 0.25, f"one record took {worst * 1000:.0f} ms"
        started = time.monotonic()
        telemetry.shutdown(timeout=1.0)
        assert time.monotonic() - started < 2.5  # bounded, whatever the collector does
        stalled.delay_s = 0

    telemetry = _configure(tmp_path, logs_exporter="otlp", otlp_endpoint=f"http://127.0.0.1:{_dead_port()}")
    started = time.perf_counter()
    for index in range(1000):
        app_log.warning("to nobody %d", index)
    assert time.perf_counter() - started < 1.0
    started = time.monotonic()
    telemetry.shutdown(timeout=1.0)
    assert time.monotonic() - started < 2.5


def test_a_flood_of_logs_stays_bounded_in_memory(tmp_path, app_log):
    logging.getLogger().handlers.clear()  # pytest's capture handler keeps every record: measure ours alone
    app_log.addHandler(logging.NullHandler())  # and no lastResort printing to stderr
    with _blackhole() as port:  # the exporter waits on its first batch for the whole flood
        telemetry = _configure(tmp_path, logs_exporter="otlp", otlp_endpoint=f"http://127.0.0.1:{port}", otlp_timeout=5)
        payload = "p" * 4000
        tracemalloc.start()
        try:
            for index in range(12_000):  # 48 MB of messages
                app_log.warning("%d %s", index, payload)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        sink = telemetry.logs.sinks[0]
        assert sink.queue_size() <= logs.LOG_QUEUE_SIZE
        assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for 48 MB of messages"
        telemetry.shutdown(timeout=1.0)


COUNTING = textwrap.dedent(
    """
    import json, logging, socket, sys, urllib.request
    import lukhas_obs
    from lukhas_obs import catalog, runtime
    from lukhas_obs.catalog.load import load_catalog

    if not any(m.name == "lukhas_obs_exported_log_records_total" for c in catalog.catalogs() for m in c.metrics):
        catalog.register(load_catalog(sys.argv[3]))  # stand-in until lukhas_obs_self declares the counter

    hole = socket.socket(); hole.bind(("127.0.0.1", 0)); hole.listen(64); dead = hole.getsockname()[1]  # never answers
    telemetry = runtime.configure(
        prometheus_port=0, traces_exporter="none", logs_exporter="otlp,file", traces_file=sys.argv[1],
        otlp_endpoint=f"http://127.0.0.1:{dead}", otlp_timeout=0.5, metrics_exporter="prometheus",
    )
    log = logging.getLogger("flood")
    log.setLevel(logging.INFO)
    for index in range(int(sys.argv[2])):
        log.info("record %d", index)
    telemetry.force_flush(5)
    body = urllib.request.urlopen(telemetry.metrics_url).read().decode()
    counts = {}
    for line in body.splitlines():
        if line.startswith("lukhas_obs_exported_log_records_total{"):
            labels = dict(kv.split("=") for kv in line[line.index("{") + 1 : line.index("}")].split(","))
            counts[labels["exporter"].strip('"') + "/" + labels["outcome"].strip('"')] = float(line.split()[-1])
    print(json.dumps(counts))
    runtime.shutdown(timeout=1)
    """
)

STAND_IN = textwrap.dedent(
    """
    catalog: lukhas_obs_logs_stand_in
    title: stand-in for the log-records row of lukhas_obs_self
    description: Only registered by the test when the self-telemetry catalog does not declare the counter yet.
    common_attributes: [lane, service]
    attributes:
      exporter:
        description: Which log exporter.
        values: [otlp, file, console]
      outcome:
        description: What became of the records.
        values: [exported, failed, dropped]
    metrics:
      - name: lukhas_obs_exported_log_records_total
        otel_name: lukhas_obs.exported_log_records
        kind: counter
        unit: "{record}"
        component: lukhas_obs
        description: Log records handed to an exporter, by exporter and outcome
        attributes: [exporter, outcome]
    """
)


def test_log_records_are_counted_by_exporter_and_outcome(tmp_path):
    """Exported (file), failed (a collector that never answers) and dropped (a full queue) records, on /metrics."""
    (tmp_path / "stand_in.yaml").write_text(STAND_IN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")])
    flood = logs.LOG_QUEUE_SIZE + 3000
    done = subprocess.run(
        [sys.executable, "-c", COUNTING, str(tmp_path / "t.jsonl"), str(flood), str(tmp_path / "stand_in.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts.get("otlp/dropped", 0) > 0 and counts.get("otlp/failed", 0) > 0, counts
    assert counts["otlp/dropped"] + counts["otlp/failed"] + counts.get("otlp/exported", 0) <= flood
    file_total = counts.get("file/exported", 0) + counts.get("file/dropped", 0)
    assert file_total == flood, counts  # the file keeps up, or what it could not queue is counted
    assert len(_file_logs(tmp_path / "t.jsonl")) == counts.get("file/exported", 0)


# --- traces show ------------------------------------------------------------------------------------------------------


def test_traces_show_prints_log_lines_under_their_spans(tmp_path, app_log):
    _configure(tmp_path)
    with lukhas_obs.span("logs.request"):
        app_log.info("request received")
        with lukhas_obs.span("logs.query"):
            app_log.warning("slow query")
        with lukhas_obs.span("logs.render"):
            pass
    runtime.shutdown()

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["traces", "show", str(tmp_path / "traces.jsonl"), "--color", "never"])
    out, err = io.StringIO(), io.StringIO()
    assert args.handler(args, out=out, err=err) == 0
    lines = out.getvalue().splitlines()
    request = next(i for i, line in enumerate(lines) if line.lstrip().startswith("logs.request"))
    query = next(i for i, line in enumerate(lines) if "logs.query" in line)
    render = next(i for i, line in enumerate(lines) if "logs.render" in line)
    assert "INFO" in lines[request + 1] and "request received" in lines[request + 1]
    assert "WARN" in lines[query + 1] and "slow query" in lines[query + 1]
    assert render == query + 2  # nothing was logged in logs.render
    assert lines[query + 1].index("slow query") > lines[request + 1].index("request received") - 8

    args = parser.parse_args(["traces", "show", str(tmp_path / "traces.jsonl"), "--no-logs"])
    out = io.StringIO()
    args.handler(args, out=out, err=io.StringIO())
    assert "slow query" not in out.getvalue() and "logs.query" in out.getvalue()


def test_logs_over_otlp_grpc_carry_the_span_ids(tmp_path, app_log):
    with OtlpReceiver("grpc") as receiver:
        telemetry = _configure(tmp_path, logs_exporter="otlp", otlp_endpoint=receiver.endpoint, otlp_protocol="grpc")
        with lukhas_obs.span("logs.grpc") as span:
            app_log.warning(f"over grpc password={MARKER}")
        assert telemetry.force_flush(5)
        assert receiver.wait_for(lambda r: len(r.logs()) == 1)
        (_, _, record), = receiver.logs()
    assert record.span_id == span.get_span_context().span_id.to_bytes(8, "big")
    assert MARKER not in record.body.string_value and "[REDACTED:password]" in record.body.string_value


def test_the_export_handler_level_and_filters_choose_what_is_exported(tmp_path, app_log):
    telemetry = _configure(tmp_path)
    telemetry.logs.handler.setLevel(logging.WARNING)
    telemetry.logs.handler.addFilter(lambda record: "skip me" not in record.getMessage())
    app_log.info("too low")
    app_log.warning("skip me")
    app_log.error("kept")
    runtime.shutdown()
    assert [r["body"]["stringValue"] for r in _file_logs(tmp_path / "traces.jsonl")] == ["kept"]
