"""Recent traces for the viewer, read from the OTLP/JSON-lines trace file(s) incrementally and kept bounded.

Spans are decoded by :mod:`lukhas_obs.tracefile.model` (the reader of ``lukhas-obs traces show``), and selected with
its :class:`~lukhas_obs.tracefile.model.Selection` (trace id prefix, span name substring or glob, minimum duration,
errors only, limit), so the page and the terminal agree. Log records written to the same file (OTLP/JSON
``resourceLogs`` lines, written with ``logs_exporter=file``, decoded by the same model) are attached to their trace
and span; a file without them is read the same way.

Bounds: the first read takes at most the last ``max_bytes`` of the files (newest first); later reads take only
what was appended (a truncated or rotated file is read again from its tail); at most ``max_traces`` traces (the
most recent) are kept, ``max_spans`` spans and ``max_logs`` log records each. Files are looked at again at most once
a second, whatever the number of requests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lukhas_obs.tracefile.model import (
    SPAN_KIND_NAMES,
    STATUS_ERROR,
    LogLine,
    Selection,
    SpanRecord,
    Trace,
    logs_of,
    spans_of,
    trace_files,
)

__all__ = ["TraceStore", "span_rows", "trace_detail", "trace_summary", "value_text"]

DEFAULT_MAX_TRACES = 2000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_SPANS = 5000
DEFAULT_MAX_LOGS = 1000
#: Longest attribute value, key and name sent to the page (characters).
MAX_TEXT = 4096
MAX_KEY = 256
MAX_ATTRIBUTES = 256
_REFRESH_S = 1.0
#: Longest line parsed (a longer one is skipped whole: a span batch is far smaller).
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass
class _Entry:
    spans: dict[str, SpanRecord] = field(default_factory=dict)
    logs: list[LogLine] = field(default_factory=list)
    start_ns: int = 0


class TraceStore:
    """The most recent traces of the trace file(s) at ``paths``; thread-safe, refreshed lazily by :meth:`traces`."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        max_traces: int = DEFAULT_MAX_TRACES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_spans: int = DEFAULT_MAX_SPANS,
        max_logs: int = DEFAULT_MAX_LOGS,
    ) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.max_traces = max_traces
        self.max_bytes = max_bytes
        self.max_spans = max_spans
        self.max_logs = max_logs
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._files: dict[str, tuple[int, int]] = {}  # path -> (inode, offset read up to)
        self._checked = 0.0
        self.problems = 0
        self.last_problem: str | None = None

    # ------------------------------------------------------------------------------------------------ reading

    def _files_now(self) -> list[Path]:
        found: list[Path] = []
        for path in self.paths:
            try:
                found.extend(trace_files(path))
            except ValueError:
                continue  # not written yet: the page says there are no traces
        return found

    def refresh(self, force: bool = False, wait: bool = True) -> None:
        """Read what the files gained since the last look (at most once a second unless ``force``).

        ``wait=False`` returns at once when another request is reading (a dashboard's exemplar links do not wait for
        the first read of a large file)."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._refresh(force)
        finally:
            self._lock.release()

    def _refresh(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._checked < _REFRESH_S:
            return
        self._checked = now
        files = self._files_now()
        stats: dict[str, tuple[int, int]] = {}
        for f in files:
            with contextlib.suppress(OSError):
                st = f.stat()
                stats[str(f)] = (st.st_ino, st.st_size)
        reload = any(
            key not in stats or stats[key][0] != inode or stats[key][1] < offset
            for key, (inode, offset) in self._files.items()
        )
        if reload:  # rotated or truncated: start again from the tails
            self._entries.clear()
            self._files.clear()
        budget = self.max_bytes
        plan: list[tuple[str, int, int, int, bool]] = []
        for key in reversed(list(stats)):  # newest file first gets the budget
            inode, size = stats[key]
            known = self._files.get(key)
            read_from = known[1] if known is not None else 0
            start = max(read_from, size - max(budget, 0))
            budget -= size - start
            plan.append((key, inode, start, size, start > read_from))  # started inside a line: skip it
            if budget <= 0:
                break
        planned = {item[0] for item in plan}
        for key, (inode, size) in stats.items():  # beyond the budget: never read, not read later either
            if key not in planned:
                self._files[key] = (inode, size)
        for key, inode, start, size, partial in reversed(plan):  # oldest data first
            self._files[key] = (inode, self._read(key, start, size, skip_partial=partial))
        self._evict()

    def _read(self, path: str, start: int, end: int, skip_partial: bool) -> int:
        """Parse the complete lines of ``path`` in ``[start, end)``; the offset after the last complete line."""
        if end <= start:
            return start
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                data = handle.read(end - start)
        except OSError as exc:
            self._problem(f"cannot read {path}: {exc.strerror or type(exc).__name__}")
            return start
        consumed = 0
        if skip_partial:  # started inside a line: skip to the next one
            first = data.find(b"\n")
            if first < 0:
                return start
            consumed = first + 1
        last = data.rfind(b"\n")
        if last < consumed:
            return start + consumed
        for raw in data[consumed : last + 1].split(b"\n"):
            if raw.strip() and len(raw) <= MAX_LINE_BYTES:
                self._line(raw)
        return start + last + 1

    def _problem(self, message: str) -> None:
        self.problems += 1
        self.last_problem = message[:300]

    def _line(self, raw: bytes) -> None:
        try:
            doc = json.loads(raw.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            self._problem("skipped a line that is not JSON")
            return
        if not isinstance(doc, dict):
            self._problem("skipped a line that is not an OTLP request")
            return
        if isinstance(doc.get("resourceSpans"), list):
            try:
                spans = list(spans_of(doc))
            except (ValueError, TypeError, AttributeError, RecursionError):
                self._problem("skipped a malformed trace request")
                spans = []
            for span in spans:
                if span.trace_id and span.span_id:
                    entry = self._entry(span.trace_id, span.start_ns)
                    if len(entry.spans) < self.max_spans or span.span_id in entry.spans:
                        entry.spans.setdefault(span.span_id, span)
        if isinstance(doc.get("resourceLogs"), list):
            try:
                records = list(logs_of(doc))
            except (ValueError, TypeError, AttributeError, RecursionError):
                self._problem("skipped a malformed logs request")
                records = []
            for record in records:
                if record.trace_id:
                    entry = self._entry(record.trace_id, record.time_ns)
                    if len(entry.logs) < self.max_logs:
                        entry.logs.append(record)

    def _entry(self, trace_id: str, start_ns: int) -> _Entry:
        entry = self._entries.get(trace_id)
        if entry is None:
            entry = self._entries[trace_id] = _Entry(start_ns=start_ns)
        elif start_ns and (not entry.start_ns or start_ns < entry.start_ns):
            entry.start_ns = start_ns
        return entry

    def _evict(self) -> None:
        if len(self._entries) <= self.max_traces:
            return
        ordered = sorted(self._entries.items(), key=lambda kv: kv[1].start_ns)
        for trace_id, _ in ordered[: len(ordered) - self.max_traces]:
            del self._entries[trace_id]

    # ------------------------------------------------------------------------------------------------ answers

    def traces(self, selection: Selection | None = None) -> tuple[list[Trace], int]:
        """The selected traces (with their log records in :attr:`Trace.logs`), oldest first, and how many traces
        are kept in total. Only traces with at least one span are listed (log records alone do not make one)."""
        self.refresh()
        with self._lock:
            entries = [(tid, list(e.spans.values()), list(e.logs)) for tid, e in self._entries.items() if e.spans]
        traces = [_trace(tid, spans, logs) for tid, spans, logs in entries]
        traces.sort(key=lambda t: (t.start_ns, t.trace_id))
        return (selection or Selection()).apply(traces), len(traces)

    def trace(self, trace_id: str) -> Trace | None:
        """One trace by its full id (lower-case hex), or None."""
        self.refresh()
        with self._lock:
            entry = self._entries.get(trace_id)
            if entry is None or not entry.spans:
                return None
            spans, logs = list(entry.spans.values()), list(entry.logs)
        return _trace(trace_id, spans, logs)

    def has(self, trace_id: str) -> bool:
        """Whether the trace is among those kept (an exemplar's link then opens it); False while a long read holds
        the store (the dashboard does not wait for it)."""
        if not self._lock.acquire(timeout=0.05):
            return False
        try:
            entry = self._entries.get(trace_id)
            return entry is not None and bool(entry.spans)
        finally:
            self._lock.release()

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                "files": self.paths,
                "traces": sum(1 for e in self._entries.values() if e.spans),
                "max_traces": self.max_traces,
                "problems": self.problems,
                "last_problem": self.last_problem,
            }


def _trace(trace_id: str, spans: list[SpanRecord], logs: list[LogLine]) -> Trace:
    return Trace(
        trace_id, sorted(spans, key=lambda s: (s.start_ns, s.end_ns)), sorted(logs, key=lambda r: r.time_ns)
    )


# ------------------------------------------------------------------------------------------------- JSON shapes


def value_text(value: Any) -> str:
    """An attribute value as the page shows it (text, bounded): strings as they are, others as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, bytes):
        text = base64.b64encode(value[:MAX_TEXT]).decode("ascii")
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)[: MAX_TEXT + 1]
        except (ValueError, TypeError, RecursionError):
            text = "<unprintable>"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _attrs(values: Mapping[str, Any]) -> list[list[str]]:
    return [[str(k)[:MAX_KEY], value_text(v)] for k, v in list(values.items())[:MAX_ATTRIBUTES]]


def span_rows(trace: Trace) -> list[tuple[SpanRecord, int, bool]]:
    """``(span, depth, orphan)`` in the terminal waterfall's order: depth first from each root, children by start.

    A span whose parent is not in the trace is an orphan at depth 0; spans reachable only through a parent cycle
    are shown at depth 0 rather than lost (as :func:`lukhas_obs.tracefile.waterfall.render_trace` does).
    """
    children = trace.children()
    rows: list[tuple[SpanRecord, int, bool]] = []
    visited: set[str] = set()
    for root in [*trace.roots(), *trace.spans]:
        if root.span_id in visited:
            continue
        orphan = bool(root.parent_span_id)
        stack: list[tuple[SpanRecord, int, bool]] = [(root, 0, orphan)]
        while stack:
            span, depth, is_orphan = stack.pop()
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
            rows.append((span, depth, is_orphan))
            kids = children.get(span.span_id, [])
            stack.extend((kid, depth + 1, False) for kid in reversed(kids))
    return rows


def trace_summary(trace: Trace) -> dict[str, Any]:
    """One row of the trace list."""
    root = trace.root
    return {
        "trace_id": trace.trace_id,
        "name": root.name[:MAX_TEXT],
        "service": root.service[:MAX_KEY],
        "lane": str(root.resource.get("lukhas.lane", ""))[:MAX_KEY],
        "start_ms": trace.start_ns / 1e6,
        "duration_ns": trace.duration_ns,
        "spans": len(trace.spans),
        "errors": sum(1 for s in trace.spans if s.status_code == STATUS_ERROR),
        "logs": len(trace.logs),
    }


def trace_detail(trace: Trace) -> dict[str, Any]:
    """Everything the waterfall of one trace shows: spans in tree order, their details, and the trace's logs."""
    start = trace.start_ns
    spans = []
    for span, depth, orphan in span_rows(trace):
        spans.append(
            {
                "span_id": span.span_id,
                "parent_span_id": span.parent_span_id or "",
                "name": span.name[:MAX_TEXT],
                "depth": depth,
                "orphan": orphan,
                "offset_ns": span.start_ns - start,
                "duration_ns": span.duration_ns,
                "kind": SPAN_KIND_NAMES.get(span.kind, "unspecified"),
                "status": {0: "unset", 1: "ok", 2: "error"}.get(span.status_code, "unset"),
                "status_message": span.status_message[:MAX_TEXT],
                "service": span.service[:MAX_KEY],
                "scope": span.scope_name[:MAX_KEY],
                "attributes": _attrs(span.attributes),
                "events": [
                    {"name": e.name[:MAX_TEXT], "offset_ns": e.time_ns - start, "attributes": _attrs(e.attributes)}
                    for e in span.events[:MAX_ATTRIBUTES]
                ],
                "links": [
                    {"trace_id": lk.trace_id, "span_id": lk.span_id, "attributes": _attrs(lk.attributes)}
                    for lk in span.links[:MAX_ATTRIBUTES]
                ],
            }
        )
    return {
        **trace_summary(trace),
        "span_list": spans,
        "log_records": [
            {
                "offset_ns": (r.time_ns - start) if r.time_ns else None,
                "severity": r.level[:MAX_KEY],
                "body": r.body[:MAX_TEXT],
                "span_id": r.span_id,
                "attributes": _attrs(r.attributes),
            }
            for r in trace.logs
        ],
    }
