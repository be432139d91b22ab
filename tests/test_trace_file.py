"""The embedded default: spans to a local OTLP/JSON-lines file, readable without a collector."""

from __future__ import annotations

import json

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import lukhas_obs
from lukhas_obs.exporters.jsonl import JsonLinesSpanExporter


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_spans_land_in_the_file_as_otlp_json_with_hex_ids(tmp_path):
    path = tmp_path / "traces.jsonl"
    lukhas_obs.configure(prometheus_port=0, traces_file=path, lane="prod")
    tracer = lukhas_obs.get_tracer()
    with tracer.start_as_current_span("memory.add_event") as parent, tracer.start_as_current_span(
        "memory.query", attributes={"k": 5}
    ):
        pass
    assert lukhas_obs.force_flush(timeout=5)
    spans = [
        (rs["resource"], span)
        for doc in _lines(path)
        for rs in doc["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    by_name = {span["name"]: span for _, span in spans}
    assert set(by_name) == {"memory.add_event", "memory.query"}
    child, root = by_name["memory.query"], by_name["memory.add_event"]
    assert root["traceId"] == format(parent.get_span_context().trace_id, "032x")
    assert child["parentSpanId"] == root["spanId"] and len(root["spanId"]) == 16
    assert child["kind"] == 1  # OTLP/JSON encodes enums as integers
    resource = {a["key"]: a["value"] for a in spans[0][0]["attributes"]}
    assert resource["lukhas.lane"] == {"stringValue": "prod"}
    assert resource["service.name"] == {"stringValue": "lukhas"}


def test_lines_decode_back_into_otlp_protobuf(tmp_path):
    path = tmp_path / "t.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(str(path))))
    with provider.get_tracer("t").start_as_current_span("consciousness.reflect"):
        pass
    doc = _lines(path)[0]
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId"):  # protobuf's JSON mapping wants base64 for bytes; OTLP/JSON uses hex
        span[key] = __import__("base64").b64encode(bytes.fromhex(span[key])).decode()
    request = ParseDict(doc, ExportTraceServiceRequest())
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "consciousness.reflect"


def test_file_is_rotated_so_disk_use_is_bounded(tmp_path):
    path = tmp_path / "t.jsonl"
    exporter = JsonLinesSpanExporter(str(path), max_bytes=4096, backups=1)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(200):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    assert path.stat().st_size <= 4096
    assert (tmp_path / "t.jsonl.1").stat().st_size <= 4096
    assert not (tmp_path / "t.jsonl.2").exists()


def test_unwritable_path_warns_once_and_never_raises(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    exporter = JsonLinesSpanExporter(str(blocker / "traces.jsonl"))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for _ in range(3):
        with provider.get_tracer("t").start_as_current_span("s"):
            pass
    assert sum("cannot write traces" in r.getMessage() for r in caplog.records) == 1
