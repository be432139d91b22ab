"""The viewer's trace store: the terminal waterfall's order, incremental and bounded reading, rotation, log lines."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import lukhas_obs
from lukhas_obs.tracefile.model import Selection, group_traces, read_spans
from lukhas_obs.tracefile.waterfall import Style, render_trace
from lukhas_obs.viewer.traces import MAX_TEXT, TraceStore, span_rows, trace_detail, value_text


def _span(trace: int, span: int, parent: int | None, name: str, start: int, end: int, **attrs: object) -> dict:
    def value(v: object) -> dict:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, bytes):
            import base64

            return {"bytesValue": base64.b64encode(v).decode()}
        if isinstance(v, list):
            return {"arrayValue": {"values": [value(x) for x in v]}}
        return {"stringValue": str(v)}

    doc = {
        "traceId": f"{trace:032x}", "spanId": f"{span:016x}", "name": name,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(end), "kind": 1,
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()], "status": {},
    }  # fmt: skip
    if parent is not None:
        doc["parentSpanId"] = f"{parent:016x}"
    return doc


def _line(*spans: dict) -> str:
    doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                              "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}  # fmt: skip
    return json.dumps(doc) + "\n"


def _log_line(trace: int, span: int, body: str, at: int) -> str:
    doc = {"resourceLogs": [{"resource": {}, "scopeLogs": [{"scope": {"name": "t"}, "logRecords": [
        {"timeUnixNano": str(at), "severityNumber": 17, "severityText": "ERROR", "body": {"stringValue": body},
         "traceId": f"{trace:032x}", "spanId": f"{span:016x}"}]}]}]}  # fmt: skip
    return json.dumps(doc) + "\n"


def test_waterfall_order_is_the_terminal_waterfalls(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_file=path)
    with lukhas_obs.span("root"):
        with lukhas_obs.span("a"):
            with lukhas_obs.span("a.1"):
                pass
            with lukhas_obs.span("a.2"):
                pass
        with lukhas_obs.span("b"):
            pass
    telemetry.shutdown(timeout=5)
    (trace,), _ = TraceStore([path]).traces()
    viewer_names = [span.name for span, _, _ in span_rows(trace)]
    assert viewer_names == ["root", "a", "a.1", "a.2", "b"]
    (terminal,) = group_traces(read_spans([path]))
    lines = render_trace(terminal, style=Style(unicode=False))[2:]
    terminal_names = [re.match(r"\s*[|`\- ]*(\S+)", line).group(1) for line in lines]  # type: ignore[union-attr]
    assert terminal_names == viewer_names
    depths = [depth for _, depth, _ in span_rows(trace)]
    assert depths == [0, 1, 2, 2, 1]


def test_reads_appended_lines_only_once_and_waits_for_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(_line(_span(1, 1, None, "one", 10, 20)))
    store = TraceStore([path])
    assert store.traces()[1] == 1
    half = _line(_span(2, 1, None, "two", 30, 40))
    with open(path, "a") as fh:
        fh.write(half[:40])
    store.refresh(force=True)
    assert store.traces()[1] == 1 and store.problems == 0  # the partial line waits
    with open(path, "a") as fh:
        fh.write(half[40:])
    store.refresh(force=True)
    traces, total = store.traces()
    assert total == 2 and [t.root.name for t in traces] == ["one", "two"]


def test_rotation_and_truncation_start_again_from_the_files(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(_line(_span(1, 1, None, "old", 10, 20)))
    store = TraceStore([tmp_path])
    assert store.traces()[1] == 1
    os.replace(path, tmp_path / "t.jsonl.1")  # what the exporter's rotation does
    path.write_text(_line(_span(2, 1, None, "new", 30, 40)))
    store.refresh(force=True)
    traces, total = store.traces()
    assert total == 2 and {t.root.name for t in traces} == {"old", "new"}
    path.write_text("")  # truncated
    (tmp_path / "t.jsonl.1").unlink()
    store.refresh(force=True)
    assert store.traces()[1] == 0


def test_bounded_in_traces_and_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with open(path, "w") as fh:
        for i in range(1, 301):
            fh.write(_line(_span(i, 1, None, f"t{i}", i * 100, i * 100 + 5)))
    store = TraceStore([path], max_traces=50)
    traces, total = store.traces()
    assert total == 50 and traces[-1].root.name == "t300" and traces[0].root.name == "t251"
    size = path.stat().st_size
    tail = TraceStore([path], max_bytes=size // 10)
    traces, total = tail.traces()
    assert 20 <= total <= 31 and traces[-1].root.name == "t300"
    assert tail.problems == 0  # the line cut by the byte budget is skipped, not reported as broken


def test_selection_is_the_terminals(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [
        _line(_span(1, 1, None, "memory.query", 0, 5_000_000)),
        _line(_span(2, 1, None, "identity.authenticate_T2", 0, 50_000_000)),
        _line({**_span(3, 1, None, "identity.authenticate_T4", 0, 1_000), "status": {"code": 2, "message": "no"}}),
    ]
    path.write_text("".join(lines))
    store = TraceStore([path])
    names = lambda sel: [t.root.name for t in store.traces(sel)[0]]  # noqa: E731
    assert names(Selection(name="identity.*")) == ["identity.authenticate_T2", "identity.authenticate_T4"]
    assert names(Selection(min_duration_ms=10)) == ["identity.authenticate_T2"]
    assert names(Selection(errors_only=True)) == ["identity.authenticate_T4"]
    assert names(Selection(trace_ids=(f"{1:032x}",))) == ["memory.query"]
    assert names(Selection(limit=1)) == ["identity.authenticate_T4"]


def test_log_lines_are_attached_to_their_trace_and_span(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        _line(_span(7, 1, None, "root", 100, 900), _span(7, 2, 1, "child", 200, 300))
        + _log_line(7, 2, "<b>bad</b> thing", 250)
        + '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": 5}]}]}]}\n'
    )
    store = TraceStore([path])
    (trace,), _ = store.traces()
    detail = trace_detail(trace)
    assert detail["logs"] == 1
    (record,) = detail["log_records"]
    assert record == {"offset_ns": 150, "severity": "ERROR", "body": "<b>bad</b> thing", "span_id": f"{2:016x}",
                      "attributes": []}  # fmt: skip


def test_hostile_lines_and_values(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    huge = "x" * (MAX_TEXT * 3)
    path.write_text(
        "not json\n"
        + "[" * 100_000 + "]" * 100_000 + "\n"  # nested too deep for json
        + '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}\n'
        + json.dumps({"resourceSpans": 5}) + "\n"
        + _line(_span(9, 1, None, huge, 0, 10, big=huge, raw=b"\x00\xff", many=[1, "two", True], ok=False))
    )
    started = time.monotonic()
    store = TraceStore([path])
    (trace,), total = store.traces()
    assert time.monotonic() - started < 3
    assert total == 1 and store.problems >= 3
    detail = trace_detail(trace)
    (span,) = detail["span_list"]
    assert len(span["name"]) <= MAX_TEXT
    attrs = dict(span["attributes"])
    assert len(attrs["big"]) == MAX_TEXT and attrs["raw"] == "AP8=" and attrs["many"] == '[1, "two", true]'
    assert attrs["ok"] == "false"
    assert value_text(float("nan")) == "nan"


def test_missing_file_is_no_traces(tmp_path: Path) -> None:
    store = TraceStore([tmp_path / "nope.jsonl"])
    assert store.traces() == ([], 0)


def test_a_long_read_does_not_hold_up_the_dashboard(tmp_path: Path) -> None:
    """While one request reads a large file (the store busy), exemplar checks answer at once instead of waiting."""
    import threading

    path = tmp_path / "t.jsonl"
    path.write_text(_line(_span(1, 1, None, "one", 10, 20)))
    store = TraceStore([path])
    store.refresh(force=True)
    busy = threading.Event()
    release = threading.Event()

    def reader() -> None:
        with store._lock:  # what a first read of a 64 MB file looks like from outside
            busy.set()
            release.wait(10)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert busy.wait(5)
        started = time.monotonic()
        store.refresh(force=True, wait=False)
        assert store.has(f"{1:032x}") is False  # not known *now*; the page says "not in the file yet"
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        thread.join(5)
    assert store.has(f"{1:032x}") is True
