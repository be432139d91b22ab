"""Read local OTLP/JSON-lines trace files into plain span records, grouped into traces.

Input is what :class:`~lukhas_obs.exporters.jsonl.JsonLinesSpanExporter` writes (and the OpenTelemetry Collector's
file exporter): one ``ExportTraceServiceRequest`` per line in OTLP/JSON — hex ids, integer enums, 64-bit integers as
strings. Ids in protobuf's base64 JSON mapping are accepted too. A line that is not valid JSON or not a trace request
is skipped with a warning naming ``file:line``; the rest of the file is still read.

The same files hold log records when ``logs_exporter=file`` (one ``ExportLogsServiceRequest`` per line,
``resourceLogs``): :func:`read_records` returns them as :class:`LogLine` next to the spans, and
:func:`group_traces` attaches each to its trace (:attr:`Trace.logs`). Readers of spans only (:func:`read_spans`,
:func:`iter_documents` without ``logs=True``) pass over log lines without a warning.

Nothing here renders or converts: :mod:`lukhas_obs.tracefile.waterfall` and :mod:`lukhas_obs.tracefile.jaeger`
build on it.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SPAN_KIND_NAMES",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_UNSET",
    "Event",
    "Link",
    "LogLine",
    "Selection",
    "SpanRecord",
    "Trace",
    "any_value",
    "attributes",
    "group_traces",
    "iter_documents",
    "logs_of",
    "read_records",
    "read_spans",
    "spans_of",
    "trace_files",
]

_log = logging.getLogger("lukhas_obs")

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
#: OTLP ``Span.SpanKind`` values → the names Jaeger and OpenTracing use.
SPAN_KIND_NAMES: dict[int, str] = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, **{f"SPAN_KIND_{v.upper()}": k for k, v in SPAN_KIND_NAMES.items()}}
_ROTATED = re.compile(r"\.jsonl(\.\d+)?$")

Problem = Callable[[str], None]


@dataclass(frozen=True)
class Event:
    """A span event (OTLP) — a Jaeger log."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A link from a span to another span context (OTLP) — a Jaeger ``FOLLOWS_FROM`` reference."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanRecord:
    """One span, decoded: hex ids, nanosecond times, attribute values as Python ``str/bool/int/float/list/dict``."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: int = 0
    status_code: int = STATUS_UNSET
    status_message: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    links: tuple[Link, ...] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    flags: int = 0
    trace_state: str = ""

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", "unknown_service"))


@dataclass(frozen=True)
class LogLine:
    """One log record, decoded: hex ids ('' outside a span), nanosecond time, body as text."""

    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    trace_id: str = ""
    span_id: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    resource: Mapping[str, Any] = field(default_factory=dict)
    scope_name: str = ""

    @property
    def level(self) -> str:
        """The severity text, or a name derived from the OTel severity number."""
        if self.severity_text:
            return self.severity_text
        for floor, name in ((21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE")):
            if self.severity_number >= floor:
                return name
        return "LOG"


@dataclass
class Trace:
    """The spans of one trace id, sorted by start time, and the log records made in it, sorted by time."""

    trace_id: str
    spans: list[SpanRecord]
    logs: list[LogLine] = field(default_factory=list)

    @property
    def start_ns(self) -> int:
        return min(s.start_ns for s in self.spans)

    @property
    def end_ns(self) -> int:
        return max(max(s.end_ns, s.start_ns) for s in self.spans)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def has_error(self) -> bool:
        return any(s.is_error for s in self.spans)

    def roots(self) -> list[SpanRecord]:
        """Spans without a parent in this trace: true roots first, then orphans whose parent is not in the files."""
        ids = {s.span_id for s in self.spans}
        return [s for s in self.spans if not s.parent_span_id or s.parent_span_id not in ids]

    def children(self) -> dict[str, list[SpanRecord]]:
        """parent span id → its children in this trace, each list sorted by start time."""
        out: dict[str, list[SpanRecord]] = {}
        for span in self.spans:
            if span.parent_span_id:
                out.setdefault(span.parent_span_id, []).append(span)
        return out

    @property
    def root(self) -> SpanRecord:
        """The earliest top-level span (a true root when there is one): names the trace in listings."""
        roots = self.roots()
        true_roots = [s for s in roots if not s.parent_span_id]
        return (true_roots or roots or self.spans)[0]


# ---------------------------------------------------------------------------------------------------- files


def trace_files(path: str | Path) -> list[Path]:
    """``path`` itself, or the ``*.jsonl`` and rotated ``*.jsonl.N`` files of a directory (oldest rotation first).

    Raises ValueError when the path does not exist or a directory holds no trace file.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise ValueError(f"no such file or directory: {str(p)!r}")
    files = [f for f in p.iterdir() if f.is_file() and _ROTATED.search(f.name)]
    if not files:
        raise ValueError(f"no *.jsonl trace files in directory {str(p)!r}")

    def order(f: Path) -> tuple[str, int]:
        match = _ROTATED.search(f.name)
        base = f.name[: match.start()] if match else f.name
        suffix = match.group(1) if match else None
        return (base, -int(suffix[1:]) if suffix else 0)  # file.jsonl.2, file.jsonl.1, file.jsonl

    return sorted(files, key=order)


def _warn(message: str) -> None:
    _log.warning("lukhas_obs: %s", message)


def _numbered_lines(path: Path, on_problem: Problem) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from enumerate(handle, 1)
    except OSError as exc:
        on_problem(f"cannot read {path}: {exc.strerror or exc}")


def iter_documents(
    paths: Iterable[Path], on_problem: Problem = _warn, *, logs: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, document)`` for every line that parses as a trace request (and, with ``logs``, as a logs
    request); report the others. Log lines are passed over silently when ``logs`` is False."""
    for path in paths:
        for number, line in _numbered_lines(path, on_problem):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                doc = json.loads(line)
            except ValueError as exc:
                on_problem(f"{where}: skipped a line that is not JSON ({getattr(exc, 'msg', exc)})")
                continue
            if isinstance(doc, dict) and isinstance(doc.get("resourceLogs"), list):
                if logs:
                    yield where, doc
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
                on_problem(f"{where}: skipped a line that is not an OTLP trace request (no resourceSpans)")
                continue
            yield where, doc


# ---------------------------------------------------------------------------------------------------- decoding


def _hex_id(value: Any, size: int) -> str:
    """An id as lower-case hex of ``size`` bytes: accepts OTLP/JSON hex and protobuf-JSON base64; '' when absent."""
    if not value or not isinstance(value, str):
        return ""
    if len(value) == size * 2:
        try:
            bytes.fromhex(value)
            return value.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"id {value!r} is neither {size}-byte hex nor base64") from None
    if len(raw) != size:
        raise ValueError(f"id {value!r} is not {size} bytes")
    return raw.hex()


def _int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    return int(value)  # OTLP/JSON writes 64-bit integers as strings


def _float(value: Any) -> float:
    if isinstance(value, str):
        return float(value)  # "NaN", "Infinity", "-Infinity" in protobuf JSON
    return float(value)


def any_value(value: Mapping[str, Any] | None) -> Any:
    """A Python value from an OTLP/JSON ``AnyValue``: ``str``, ``bool``, ``int``, ``float``, ``bytes``, list, dict."""
    if not value:
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return _int(value["intValue"])
    if "doubleValue" in value:
        return _float(value["doubleValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", ())]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values", ()))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    return None


def attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    """An OTLP/JSON ``KeyValue`` list as a dict (later duplicates win, as in the SDK)."""
    return {str(kv.get("key", "")): any_value(kv.get("value")) for kv in items or ()}


def _enum(value: Any, names: Mapping[str, int]) -> int:
    if isinstance(value, str) and not value.isdigit():
        return names.get(value, 0)
    return _int(value)


def _span(raw: Mapping[str, Any], resource: Mapping[str, Any], scope: Mapping[str, Any]) -> SpanRecord:
    status = raw.get("status") or {}
    parent = _hex_id(raw.get("parentSpanId"), 8)
    return SpanRecord(
        trace_id=_hex_id(raw.get("traceId"), 16),
        span_id=_hex_id(raw.get("spanId"), 8),
        parent_span_id=parent or None,
        name=str(raw.get("name", "")),
        start_ns=_int(raw.get("startTimeUnixNano")),
        end_ns=_int(raw.get("endTimeUnixNano")),
        kind=_enum(raw.get("kind", 0), _KIND_NAMES),
        status_code=_enum(status.get("code", 0), _STATUS_NAMES),
        status_message=str(status.get("message", "")),
        attributes=attributes(raw.get("attributes")),
        events=tuple(
            Event(str(e.get("name", "")), _int(e.get("timeUnixNano")), attributes(e.get("attributes")))
            for e in raw.get("events", ())
        ),
        links=tuple(
            Link(_hex_id(lk.get("traceId"), 16), _hex_id(lk.get("spanId"), 8), attributes(lk.get("attributes")))
            for lk in raw.get("links", ())
        ),
        resource=resource,
        scope_name=str(scope.get("name", "")),
        scope_version=str(scope.get("version", "")),
        flags=_int(raw.get("flags")),
        trace_state=str(raw.get("traceState", "")),
    )


def spans_of(doc: Mapping[str, Any]) -> Iterator[SpanRecord]:
    """The spans of one ``ExportTraceServiceRequest`` document. Raises ValueError/TypeError on a malformed span."""
    for resource_spans in doc.get("resourceSpans", ()):
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        scopes = resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or ()
        for scope_spans in scopes:
            scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            for raw in scope_spans.get("spans", ()):
                yield _span(raw, resource, scope)


def _text(value: Any) -> str:
    """An OTLP/JSON ``AnyValue`` body as text (structured bodies as compact JSON)."""
    python = any_value(value) if isinstance(value, Mapping) else value
    if python is None:
        return ""
    if isinstance(python, str):
        return python
    try:
        return json.dumps(python, ensure_ascii=False, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(python)


def logs_of(doc: Mapping[str, Any]) -> Iterator[LogLine]:
    """The log records of one ``ExportLogsServiceRequest`` document. Raises ValueError/TypeError on a malformed one."""
    for resource_logs in doc.get("resourceLogs", ()):
        resource = attributes((resource_logs.get("resource") or {}).get("attributes"))
        for scope_logs in resource_logs.get("scopeLogs") or ():
            scope = scope_logs.get("scope") or {}
            for raw in scope_logs.get("logRecords", ()):
                yield LogLine(
                    time_ns=_int(raw.get("timeUnixNano")) or _int(raw.get("observedTimeUnixNano")),
                    severity_number=_enum(raw.get("severityNumber", 0), {}),
                    severity_text=str(raw.get("severityText", "")),
                    body=_text(raw.get("body")),
                    trace_id=_hex_id(raw.get("traceId"), 16),
                    span_id=_hex_id(raw.get("spanId"), 8),
                    attributes=attributes(raw.get("attributes")),
                    resource=resource,
                    scope_name=str(scope.get("name", "")),
                )


def read_spans(paths: Sequence[str | Path], on_problem: Problem = _warn) -> list[SpanRecord]:
    """Every span in ``paths`` (files or directories), de-duplicated by (trace id, span id).

    A malformed line or span is reported through ``on_problem`` (default: a logged warning) and skipped.
    """
    return read_records(paths, on_problem, logs=False)[0]


def read_records(
    paths: Sequence[str | Path], on_problem: Problem = _warn, *, logs: bool = True
) -> tuple[list[SpanRecord], list[LogLine]]:
    """Every span (de-duplicated by trace and span id) and, with ``logs``, every log record in ``paths``."""
    files = [f for p in paths for f in trace_files(p)]
    seen: set[tuple[str, str]] = set()
    out: list[SpanRecord] = []
    lines: list[LogLine] = []
    for where, doc in iter_documents(files, on_problem, logs=logs):
        if "resourceLogs" in doc:
            try:
                lines.extend(logs_of(doc))
            except (ValueError, TypeError, AttributeError) as exc:
                on_problem(f"{where}: skipped a malformed logs request ({exc})")
            continue
        try:
            spans = list(spans_of(doc))
        except (ValueError, TypeError, AttributeError) as exc:
            on_problem(f"{where}: skipped a malformed trace request ({exc})")
            continue
        for span in spans:
            if not span.trace_id or not span.span_id:
                on_problem(f"{where}: skipped span {span.name!r} without a trace or span id")
                continue
            key = (span.trace_id, span.span_id)
            if key not in seen:
                seen.add(key)
                out.append(span)
    return out, lines


def group_traces(spans: Iterable[SpanRecord], logs: Iterable[LogLine] = ()) -> list[Trace]:
    """Spans grouped by trace id; traces sorted by start time, spans within a trace by start time. Log records
    join the trace of their trace id (sorted by time); those of a trace with no span in the files are left out."""
    by_id: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_id.setdefault(span.trace_id, []).append(span)
    traces = [Trace(tid, sorted(group, key=lambda s: (s.start_ns, s.end_ns))) for tid, group in by_id.items()]
    by_trace = {t.trace_id: t for t in traces}
    for line in logs:
        trace = by_trace.get(line.trace_id)
        if trace is not None:
            trace.logs.append(line)
    for trace in traces:
        trace.logs.sort(key=lambda line: line.time_ns)
    traces.sort(key=lambda t: (t.start_ns, t.trace_id))
    return traces


# ---------------------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """Which traces to keep. Every criterion that is set must hold; a trace is kept or dropped whole.

    - ``trace_ids``: the trace id starts with one of these (hex, case-insensitive; a prefix is enough).
    - ``name``: some span's name matches — as a glob when it contains ``*?[``, else as a substring.
    - ``min_duration_ms``: the trace (first start to last end) lasts at least this long.
    - ``errors_only``: some span has status ERROR.
    - ``limit``: keep the most recent ``limit`` traces of those matching (0 or None: all).
    """

    trace_ids: tuple[str, ...] = ()
    name: str | None = None
    min_duration_ms: float | None = None
    errors_only: bool = False
    limit: int | None = None

    def name_matches(self, span_name: str) -> bool:
        if self.name is None:
            return True
        if any(ch in self.name for ch in "*?["):
            return fnmatch.fnmatchcase(span_name, self.name)
        return self.name in span_name

    def matches(self, trace: Trace) -> bool:
        if self.trace_ids and not any(trace.trace_id.startswith(t.lower()) for t in self.trace_ids):
            return False
        if self.name is not None and not any(self.name_matches(s.name) for s in trace.spans):
            return False
        if self.min_duration_ms is not None and trace.duration_ns < self.min_duration_ms * 1e6:
            return False
        return not (self.errors_only and not trace.has_error)

    def apply(self, traces: Sequence[Trace]) -> list[Trace]:
        """The matching traces, in start order, cut to the most recent ``limit``."""
        kept = [t for t in traces if self.matches(t)]
        if self.limit:
            kept = kept[-self.limit :]
        return kept
