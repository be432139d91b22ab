"""``lukhas-obs traces show`` (terminal waterfall) and ``lukhas-obs traces export`` (Jaeger JSON, OTLP/JSON).

Two inputs: traces written by the real demo (``lukhas-obs demo --iterations 20 --traces-file``), and a hand-built
directory whose spans have exact times, so bars, offsets, nesting, errors, events, links, orphans, rotated files and
bad lines can be asserted precisely.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry import trace as trace_api
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from lukhas_obs.cli import main
from lukhas_obs.exporters.jsonl import JsonLinesSpanExporter
from lukhas_obs.tracefile import model
from lukhas_obs.tracefile.model import read_spans

MS = 1_000_000
T0 = 1_700_000_000_000_000_000
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# ---------------------------------------------------------------------------------------------------- inputs


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    """Traces from the real demo, run the way an operator runs it."""
    directory = tmp_path_factory.mktemp("demo")
    path = directory / "demo.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    command = [sys.executable, "-m", "lukhas_obs.cli", "demo", "--iterations", "20", "--port", "0"]
    done = subprocess.run(
        [*command, "--traces-file", str(path)], env=env, cwd=directory, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert path.stat().st_size > 0
    return path


class Built:
    """The hand-built directory and the ids of its traces."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.file = directory / "traces.jsonl"
        self.ids: dict[str, str] = {}


def _provider(path: Path, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service, "lukhas.lane": "canary"}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(str(path))))
    return provider


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    out = Built(tmp_path_factory.mktemp("built"))
    memory = _provider(out.file, "lukhas-memory").get_tracer("lukhas.memory", "1.0")
    identity = _provider(out.file, "lukhas-identity").get_tracer("lukhas.identity")

    # trace A: a tree across two services, with an event and an ERROR span
    root = memory.start_span(
        "memory.add_event",
        start_time=T0,
        attributes={"component": "memory", "mem.meta.size": 11, "ratio": 0.5, "ok": True, "tags": ["a", "b"]},
    )
    in_root = trace_api.set_span_in_context(root)
    query = memory.start_span(
        "memory.query", context=in_root, start_time=T0 + 10 * MS, attributes={"component": "memory", "k": 8}
    )
    query.add_event("cache.miss", {"shard": 3}, timestamp=T0 + 20 * MS)
    embed = memory.start_span("memory.embed", context=trace_api.set_span_in_context(query), start_time=T0 + 20 * MS)
    embed.end(end_time=T0 + 40 * MS)
    query.end(end_time=T0 + 60 * MS)
    auth = identity.start_span(
        "identity.authenticate_T2",
        context=in_root,
        kind=SpanKind.CLIENT,
        start_time=T0 + 70 * MS,
        attributes={"component": "identity"},
    )
    auth.set_status(Status(StatusCode.ERROR, "bad totp"))
    auth.end(end_time=T0 + 95 * MS)
    root.end(end_time=T0 + 100 * MS)
    out.ids["A"] = format(root.get_span_context().trace_id, "032x")
    out.ids["A.root"] = format(root.get_span_context().span_id, "016x")

    # trace C: an orphan, whose parent was never written
    missing_parent = SpanContext(0xC0FFEE << 64, 0xDEAD, is_remote=True, trace_flags=TraceFlags(1))
    orphan = memory.start_span(
        "memory.recall",
        context=trace_api.set_span_in_context(trace_api.NonRecordingSpan(missing_parent)),
        start_time=T0 + 2000 * MS,
        attributes={"component": "memory", "k": 1},
    )
    orphan.end(end_time=T0 + 2005 * MS)
    out.ids["C"] = format(orphan.get_span_context().trace_id, "032x")

    # trace B, in the rotated file: long, linked to trace A
    rotated = _provider(out.directory / "traces.jsonl.1", "lukhas-consciousness").get_tracer("lukhas.consciousness")
    reflect = rotated.start_span(
        "consciousness.reflect",
        start_time=T0 + 1000 * MS,
        links=[Link(root.get_span_context(), {"why": "follows"})],
        attributes={"component": "consciousness", "phase": "deep"},
    )
    reflect.end(end_time=T0 + 1200 * MS)
    out.ids["B"] = format(reflect.get_span_context().trace_id, "032x")

    with open(out.file, "a", encoding="utf-8") as fh:
        fh.write("this is not json\n")
        fh.write('{"something": "else"}\n')
    (out.directory / "notes.txt").write_text("not a trace file\n")
    return out


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def span_lines(out: str) -> list[str]:
    """The span rows of the waterfall (header and legend lines removed), colour codes stripped."""
    rows = []
    for line in ANSI.sub("", out).splitlines():
        if line.startswith("  ") and not line.strip().startswith("span "):
            rows.append(line)
    return rows


# ---------------------------------------------------------------------------------------------------- model


def test_reader_finds_rotated_files_skips_bad_lines_and_decodes_values(built):
    assert [p.name for p in model.trace_files(built.directory)] == ["traces.jsonl.1", "traces.jsonl"]
    problems: list[str] = []
    spans = read_spans([built.directory], problems.append)
    assert len(spans) == 6
    assert len(problems) == 2
    assert "traces.jsonl:" in problems[0] and "not JSON" in problems[0]
    assert "not an OTLP trace request" in problems[1]
    root = next(s for s in spans if s.name == "memory.add_event")
    assert dict(root.attributes) == {
        "component": "memory",
        "mem.meta.size": 11,
        "ratio": 0.5,
        "ok": True,
        "tags": ["a", "b"],
    }
    assert type(root.attributes["mem.meta.size"]) is int and root.duration_ns == 100 * MS
    assert root.resource["service.name"] == "lukhas-memory" and root.scope_version == "1.0"


def test_reader_accepts_base64_ids_from_protobufs_json_mapping(tmp_path):
    span = {"traceId": base64.b64encode(bytes(range(16))).decode(), "spanId": base64.b64encode(bytes(8)).decode()}
    span.update(name="x", startTimeUnixNano="1", endTimeUnixNano="2", kind="SPAN_KIND_SERVER")
    line = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [span]}]}]}
    path = tmp_path / "b64.jsonl"
    path.write_text(json.dumps(line) + "\n")
    (record,) = read_spans([path])
    assert record.trace_id == bytes(range(16)).hex() and record.span_id == "0" * 16 and record.kind == 2


def test_missing_path_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "traces", "show", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file or directory" in err


# ---------------------------------------------------------------------------------------------------- show


def test_waterfall_tree_bars_offsets_and_errors(capsys, built):
    code, out, err = run(capsys, "traces", "show", str(built.directory), "--trace-id", built.ids["A"], "--width", "20")
    assert code == 0
    assert "\x1b[" not in out  # captured output is not a TTY: no colour
    header = out.splitlines()[0]
    assert header.startswith(f"trace {built.ids['A']}  memory.add_event  100.00ms  4 spans")
    assert "lukhas-identity/canary, lukhas-memory/canary" in header and "1 error" in header
    rows = span_lines(out)
    names = [re.match(r"^  (.+?)\s+\+[0-9]", row).group(1) for row in rows]
    assert names == ["memory.add_event", "├─ memory.query", "│  └─ memory.embed", "└─ identity.authenticate_T2"]
    # 20 cells for 100 ms: 5 ms per cell
    bars = [row[row.index("|") + 1 : row.rindex("|")] for row in rows]
    assert bars == [
        "█" * 20,
        "  " + "█" * 10 + " " * 8,  # 10–60 ms
        "    " + "█" * 4 + " " * 12,  # 20–40 ms
        " " * 14 + "█" * 5 + " ",  # 70–95 ms
    ]
    assert re.search(r"\+10\.00ms\s+50\.00ms", rows[1])
    assert rows[3].split("|")[-1].split()[:2] == ["ERROR", "component=identity"]
    assert 'error="bad totp"' in rows[3]
    assert "events=1" in rows[1]
    assert "4 of 3 traces" not in err and "1 of 3 traces shown" in err
    assert "2 problems" not in err and err.count("warning:") == 2  # the two bad lines, reported


def test_chosen_attributes_replace_the_default(capsys, built):
    _, out, _ = run(capsys, "traces", "show", str(built.file), "--trace-id", built.ids["A"][:8], "--attr", "k")
    rows = span_lines(out)
    assert "k=8" in rows[1] and "component=" not in out


def test_orphans_are_shown_at_the_top_level(capsys, built):
    _, out, _ = run(capsys, "traces", "show", str(built.file), "--trace-id", built.ids["C"])
    (row,) = span_lines(out)
    assert row.startswith("  memory.recall") and "orphan: parent 000000000000dead not in the files" in row


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--name", "identity.*"], ["A"]),  # glob
        (["--name", "reflect"], ["B"]),  # substring
        (["--min-duration", "150"], ["B"]),
        (["--errors-only"], ["A"]),
        (["--limit", "1"], ["C"]),  # the most recent
        ([], ["A", "B", "C"]),  # start order, rotated file included
    ],
)
def test_filters_select_whole_traces(capsys, built, flags, expected):
    code, out, _ = run(capsys, "traces", "show", str(built.directory), *flags)
    assert code == 0
    shown = re.findall(r"^trace ([0-9a-f]{32})", out, flags=re.MULTILINE)
    assert shown == [built.ids[key] for key in expected]


def test_no_match_says_so(capsys, built):
    code, out, err = run(capsys, "traces", "show", str(built.file), "--name", "nothing-like-this")
    assert code == 0 and out == "" and "no trace matches the filters" in err


class _Tty(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_tty_without_no_color(built, monkeypatch):
    from lukhas_obs.cli import build_parser
    from lukhas_obs.tracefile import show_command

    args = build_parser().parse_args(["traces", "show", str(built.file), "--errors-only"])
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = _Tty()
    show_command(args, out=tty, err=io.StringIO())
    assert "\x1b[31m\x1b[1m" in tty.getvalue()  # ERROR highlighted in red
    monkeypatch.setenv("NO_COLOR", "1")
    tty = _Tty()
    show_command(args, out=tty, err=io.StringIO())
    assert "\x1b[" not in tty.getvalue()


def test_ascii_fallback_when_the_terminal_cannot_encode_unicode(built):
    from lukhas_obs.cli import build_parser
    from lukhas_obs.tracefile import show_command

    class Ascii(io.StringIO):
        encoding = "ascii"

    args = build_parser().parse_args(["traces", "show", str(built.file), "--trace-id", built.ids["A"]])
    out = Ascii()
    show_command(args, out=out, err=io.StringIO())
    out.getvalue().encode("ascii")
    assert "|- memory.query" in out.getvalue() and "#" in out.getvalue()


def test_show_renders_the_real_demo_traces(capsys, demo_file):
    spans = read_spans([demo_file])
    trace_count = len({s.trace_id for s in spans})
    code, out, err = run(capsys, "traces", "show", str(demo_file), "--limit", "0")
    assert code == 0
    assert len(re.findall(r"^trace [0-9a-f]{32}", out, flags=re.MULTILINE)) == trace_count
    assert len(span_lines(out)) == len(spans)
    assert f"{trace_count} of {trace_count} traces shown" in err
    code, out, _ = run(capsys, "traces", "show", str(demo_file))
    assert len(re.findall(r"^trace ", out, flags=re.MULTILINE)) == min(20, trace_count)


# ---------------------------------------------------------------------------------------------------- Jaeger JSON

# Jaeger's JSON model (jaegertracing/jaeger model/json/model.go), as Jaeger UI's JSON upload reads it.
HEX32 = {"type": "string", "pattern": r"^[0-9a-f]{32}$"}
HEX16 = {"type": "string", "pattern": r"^[0-9a-f]{16}$"}
KEY_VALUE = {
    "type": "object",
    "required": ["key", "type", "value"],
    "properties": {
        "key": {"type": "string"},
        "type": {"enum": ["string", "bool", "int64", "float64", "binary"]},
        "value": {},
    },
    "additionalProperties": False,
}
REFERENCE = {
    "type": "object",
    "required": ["refType", "traceID", "spanID"],
    "properties": {"refType": {"enum": ["CHILD_OF", "FOLLOWS_FROM"]}, "traceID": HEX32, "spanID": HEX16},
    "additionalProperties": False,
}
LOG = {
    "type": "object",
    "required": ["timestamp", "fields"],
    "properties": {"timestamp": {"type": "integer", "minimum": 0}, "fields": {"type": "array", "items": KEY_VALUE}},
    "additionalProperties": False,
}
WARNINGS = {"type": ["array", "null"], "items": {"type": "string"}}
SPAN = {
    "type": "object",
    "required": ["traceID", "spanID", "operationName", "references", "startTime", "duration", "tags", "processID"],
    "properties": {
        "traceID": HEX32,
        "spanID": HEX16,
        "flags": {"type": "integer", "minimum": 0},
        "operationName": {"type": "string"},
        "references": {"type": "array", "items": REFERENCE},
        "startTime": {"type": "integer", "minimum": 0},
        "duration": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": KEY_VALUE},
        "logs": {"type": "array", "items": LOG},
        "processID": {"type": "string", "pattern": r"^p[0-9]+$"},
        "warnings": WARNINGS,
    },
    "additionalProperties": False,
}
PROCESS = {
    "type": "object",
    "required": ["serviceName", "tags"],
    "properties": {"serviceName": {"type": "string"}, "tags": {"type": "array", "items": KEY_VALUE}},
    "additionalProperties": False,
}
TRACE = {
    "type": "object",
    "required": ["traceID", "spans", "processes"],
    "properties": {
        "traceID": HEX32,
        "spans": {"type": "array", "items": SPAN},
        "processes": {"type": "object", "additionalProperties": PROCESS},
        "warnings": WARNINGS,
    },
    "additionalProperties": False,
}
DOCUMENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {"type": "array", "items": TRACE},
        "total": {"type": "integer"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "errors": {"type": ["array", "null"]},
    },
    "additionalProperties": False,
}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
# Jaeger's value types and the JSON values they carry.
_TAG_VALUES = {
    "string": _TYPES["string"],
    "bool": _TYPES["boolean"],
    "int64": _TYPES["integer"],
    "float64": _TYPES["number"],
}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """The subset of JSON Schema used above: type, enum, pattern, minimum, required, properties, items."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_TYPES[name](value) for name in names):
            return [f"{path}: {type(value).__name__} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.match(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        errors += [f"{path}: missing {key!r}" for key in schema.get("required", ()) if key not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += validate(item, properties[key], f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}: unexpected field {key!r}")
            elif isinstance(extra, dict):
                errors += validate(item, extra, f"{path}[{key!r}]")
        tag_type = value.get("type") if set(value) == {"key", "type", "value"} else None
        if tag_type in _TAG_VALUES and not _TAG_VALUES[tag_type](value["value"]):
            errors.append(f"{path}: value {value['value']!r} is not a Jaeger {value['type']}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], f"{path}[{index}]")
    return errors


def test_the_schema_check_itself_rejects_wrong_shapes():
    good = {"key": "k", "type": "int64", "value": 3}
    assert validate(good, KEY_VALUE) == []
    assert validate({**good, "value": "3"}, KEY_VALUE)  # a string is not an int64
    assert validate({**good, "value": True}, KEY_VALUE)  # nor is a bool
    assert validate({**good, "type": "int"}, KEY_VALUE)
    assert validate({"traceID": "x" * 32, "spans": [], "processes": {}}, TRACE)
    span = {"traceID": "0" * 32, "spanID": "0" * 16, "operationName": "x", "references": [], "tags": []}
    assert validate({**span, "startTime": 1.5, "duration": 1, "processID": "p1"}, SPAN)  # µs are integers
    assert validate({**span, "startTime": 1, "duration": 1, "processID": "p1", "parentSpanID": "1"}, SPAN)


def _export(capsys, *argv: str) -> tuple[int, str]:
    code, _, err = run(capsys, "traces", "export", *argv)
    return code, err


def test_jaeger_export_of_the_real_demo_matches_jaegers_model(capsys, demo_file, tmp_path):
    out = tmp_path / "jaeger.json"
    code, err = _export(capsys, "--format", "jaeger", str(demo_file), "-o", str(out))
    assert code == 0 and "as jaeger to" in err
    document = json.loads(out.read_text())
    assert validate(document, DOCUMENT) == []
    spans = read_spans([demo_file])
    assert document["total"] == len(document["data"]) == len({s.trace_id for s in spans})
    assert sum(len(t["spans"]) for t in document["data"]) == len(spans)
    for trace in document["data"]:
        ids = {s["spanID"] for s in trace["spans"]}
        for span in trace["spans"]:
            assert span["traceID"] == trace["traceID"]
            assert span["processID"] in trace["processes"]
            for ref in span["references"]:
                if ref["refType"] == "CHILD_OF":
                    assert ref["spanID"] in ids and ref["traceID"] == trace["traceID"]
        for process in trace["processes"].values():
            assert process["serviceName"] == "lukhas"
            assert {"key": "lukhas.lane", "type": "string", "value": "candidate"} in process["tags"]


def _by_name(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {span["operationName"]: (span, trace) for trace in document["data"] for span in trace["spans"]}


def _tags(items: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    return {tag["key"]: (tag["type"], tag["value"]) for tag in items}


def test_jaeger_export_maps_status_kind_events_links_types_and_processes(capsys, built, tmp_path):
    out = tmp_path / "j.json"
    code, _ = _export(capsys, "--format", "jaeger", str(built.directory), "-o", str(out))
    assert code == 0
    document = json.loads(out.read_text())
    assert validate(document, DOCUMENT) == []
    spans = _by_name(document)

    root, trace_a = spans["memory.add_event"]
    assert root["startTime"] == T0 // 1000 and root["duration"] == 100_000  # microseconds
    assert root["references"] == [] and root["flags"] == 1
    assert _tags(root["tags"]) == {
        "otel.scope.name": ("string", "lukhas.memory"),
        "otel.scope.version": ("string", "1.0"),
        "component": ("string", "memory"),
        "mem.meta.size": ("int64", 11),
        "ratio": ("float64", 0.5),
        "ok": ("bool", True),
        "tags": ("string", '["a", "b"]'),
        "span.kind": ("string", "internal"),
    }
    query, _ = spans["memory.query"]
    assert query["references"] == [{"refType": "CHILD_OF", "traceID": built.ids["A"], "spanID": built.ids["A.root"]}]
    assert query["logs"] == [
        {
            "timestamp": (T0 + 20 * MS) // 1000,
            "fields": [
                {"key": "event", "type": "string", "value": "cache.miss"},
                {"key": "shard", "type": "int64", "value": 3},
            ],
        }
    ]
    auth, _ = spans["identity.authenticate_T2"]
    tags = _tags(auth["tags"])
    assert tags["error"] == ("bool", True)
    assert tags["otel.status_code"] == ("string", "ERROR")
    assert tags["otel.status_description"] == ("string", "bad totp")
    assert tags["span.kind"] == ("string", "client")

    processes = trace_a["processes"]
    assert sorted(processes) == ["p1", "p2"]
    by_service = {p["serviceName"]: pid for pid, p in processes.items()}
    assert set(by_service) == {"lukhas-memory", "lukhas-identity"}
    assert auth["processID"] == by_service["lukhas-identity"] and root["processID"] == by_service["lukhas-memory"]
    assert {"key": "lukhas.lane", "type": "string", "value": "canary"} in processes["p1"]["tags"]
    assert all(tag["key"] != "service.name" for p in processes.values() for tag in p["tags"])

    reflect, trace_b = spans["consciousness.reflect"]
    assert trace_b["traceID"] == built.ids["B"]
    assert reflect["references"] == [
        {"refType": "FOLLOWS_FROM", "traceID": built.ids["A"], "spanID": built.ids["A.root"]}
    ]


def test_export_filters_and_writes_to_stdout(capsys, built):
    code, out, err = run(capsys, "traces", "export", str(built.directory), "--errors-only")
    assert code == 0 and "wrote 1 of 3 traces (4 spans)" in err
    assert [t["traceID"] for t in json.loads(out)["data"]] == [built.ids["A"]]


# ---------------------------------------------------------------------------------------------------- OTLP JSON


def _to_protobuf(document: dict[str, Any]) -> ExportTraceServiceRequest:
    """OTLP/JSON (hex ids) → protobuf (whose JSON mapping wants base64 ids)."""
    doc = json.loads(json.dumps(document))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                for link in span.get("links", ()):
                    for key in ("traceId", "spanId"):
                        link[key] = base64.b64encode(bytes.fromhex(link[key])).decode()
    return ParseDict(doc, ExportTraceServiceRequest())


def test_otlp_json_export_merges_every_line_into_one_valid_document(capsys, demo_file, tmp_path):
    out = tmp_path / "merged.json"
    code, _ = _export(capsys, "--format", "otlp-json", str(demo_file), "-o", str(out))
    assert code == 0
    document = json.loads(out.read_text())
    request = _to_protobuf(document)
    assert len(request.resource_spans) == 1  # one process, one resource
    exported = {
        (s.trace_id.hex(), s.span_id.hex()) for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
    }
    assert exported == {(s.trace_id, s.span_id) for s in read_spans([demo_file])}


def test_otlp_json_export_keeps_resources_apart_and_honours_filters(capsys, built, tmp_path):
    out = tmp_path / "a.json"
    code, _ = _export(
        capsys, "--format", "otlp-json", str(built.directory), "--trace-id", built.ids["A"], "-o", str(out)
    )
    assert code == 0
    request = _to_protobuf(json.loads(out.read_text()))
    services = sorted(
        next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
        for rs in request.resource_spans
    )
    assert services == ["lukhas-identity", "lukhas-memory"]  # the memory spans came on 3 lines: merged
    assert [len(rs.scope_spans) for rs in request.resource_spans] == [1, 1]
    names = sorted(s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
    assert names == ["identity.authenticate_T2", "memory.add_event", "memory.embed", "memory.query"]
