"""Render traces as a terminal waterfall: the span tree, offsets, durations and bars scaled to the trace.

::

    trace 4bf92f3577b34da6a3ce929d0e0e4736  memory.add_event  12.40ms  3 spans  lukhas/candidate  2026-11-21 …
      span                         offset  duration  |timeline                                |  status
      memory.add_event              +0µs   12.40ms   |████████████████████████████████████████|        component=memory
      ├─ memory.query              +1.2ms   3.10ms   |    ██████████                          |        component=memory
      └─ identity.authenticate_T2  +9.0ms   3.00ms   |                             ██████████ |  ERROR  component=id…

Log records (``logs_exporter=file``) are printed under the span they were made in, with their offset from the trace's
start, level and message (``▸ +1.5ms  WARN   memory tier full``); records of the trace whose span is not in the
files follow the tree. Spans nest under their parent; a span whose parent is not in the files (an orphan) is shown at
the top level and marked. ERROR spans are highlighted in red when colour is on. The caller decides about colour
(TTY, ``NO_COLOR``) and Unicode; this module only formats.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lukhas_obs.tracefile.model import STATUS_ERROR, STATUS_OK, LogLine, SpanRecord, Trace

__all__ = ["Style", "format_duration", "render", "render_trace"]

_RESET, _BOLD, _DIM, _RED, _CYAN, _YELLOW = "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[36m", "\x1b[33m"
_MAX_NAME = 60
_MAX_VALUE = 48
#: Longest log message shown (characters; the rest is cut with an ellipsis).
MAX_LOG_TEXT = 160


@dataclass(frozen=True)
class Style:
    """How to draw: ANSI colour or not, Unicode box/bar characters or ASCII, bar width in cells."""

    color: bool = False
    unicode: bool = True
    bar_width: int = 40

    def paint(self, text: str, *codes: str) -> str:
        return f"{''.join(codes)}{text}{_RESET}" if self.color and codes else text

    @property
    def full(self) -> str:
        return "█" if self.unicode else "#"

    @property
    def micro(self) -> str:
        return "µs" if self.unicode else "us"

    def branch(self, last: bool) -> str:
        if self.unicode:
            return "└─ " if last else "├─ "
        return "`- " if last else "|- "

    def stem(self, last: bool) -> str:
        return "   " if last else ("│  " if self.unicode else "|  ")

    @property
    def log_marker(self) -> str:
        return "▸" if self.unicode else ">"


def format_duration(ns: int, style: Style | None = None) -> str:
    """A short human duration: ``850ns``, ``312µs``, ``12.40ms``, ``1.52s``."""
    micro = (style or Style()).micro
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.0f}{micro}"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f}ms"
    return f"{ns / 1_000_000_000:.2f}s"


def _value_text(value: object) -> str:
    text = value if isinstance(value, str) else repr(value) if not isinstance(value, (int, float)) else str(value)
    text = str(text).replace("\n", " ")
    if len(text) > _MAX_VALUE:
        text = text[: _MAX_VALUE - 1] + "…"
    return f'"{text}"' if (" " in text or not text) else text


def _bar(span: SpanRecord, start: int, total: int, style: Style) -> str:
    width = style.bar_width
    if total <= 0:
        first, last = 0, width
    else:
        first = min(width - 1, math.floor((span.start_ns - start) / total * width))
        last = min(width, max(first + 1, math.ceil((max(span.end_ns, span.start_ns) - start) / total * width)))
    cells = " " * first + style.full * (last - first) + " " * (width - last)
    color = _RED if span.status_code == STATUS_ERROR else _CYAN
    return "|" + style.paint(cells, color) + "|"


def _tree(trace: Trace, style: Style) -> list[tuple[SpanRecord, str, bool]]:
    """Depth-first ``(span, prefix, is_orphan)`` rows; a parent cycle is cut rather than looped over."""
    children = trace.children()
    rows: list[tuple[SpanRecord, str, bool]] = []
    visited: set[str] = set()

    def walk(span: SpanRecord, prefix: str, depth: int, last: bool, orphan: bool) -> None:
        if span.span_id in visited:
            return
        visited.add(span.span_id)
        rows.append((span, prefix + (style.branch(last) if depth else ""), orphan))
        kids = children.get(span.span_id, [])
        below = prefix + (style.stem(last) if depth else "")
        for index, child in enumerate(kids):
            walk(child, below, depth + 1, index == len(kids) - 1, False)

    for root in trace.roots():
        walk(root, "", 0, True, bool(root.parent_span_id))
    for span in trace.spans:  # only reachable through a parent cycle: show them rather than lose them
        if span.span_id not in visited:
            walk(span, "", 0, True, True)
    return rows


def _header(trace: Trace, style: Style) -> str:
    root = trace.root
    services = sorted({f"{s.service}/{s.resource.get('lukhas.lane', '-')}" for s in trace.spans})
    started = _dt.datetime.fromtimestamp(trace.start_ns / 1e9, tz=_dt.timezone.utc)
    errors = sum(1 for s in trace.spans if s.status_code == STATUS_ERROR)
    parts = [
        style.paint(f"trace {trace.trace_id}", _BOLD),
        style.paint(root.name, _BOLD),
        format_duration(trace.duration_ns, style),
        f"{len(trace.spans)} span{'s' if len(trace.spans) != 1 else ''}",
        ", ".join(services),
        started.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC",
    ]
    if errors:
        parts.append(style.paint(f"{errors} error{'s' if errors != 1 else ''}", _RED, _BOLD))
    return "  ".join(parts)


def _continuation(prefix: str, style: Style) -> str:
    """The indentation of what hangs under a row drawn with ``prefix`` (its branch turned into a stem)."""
    for last in (True, False):
        branch = style.branch(last)
        if prefix.endswith(branch):
            return prefix[: -len(branch)] + style.stem(last)
    return prefix


def _log_text(line: LogLine) -> str:
    text = " ".join(line.body.split())  # newlines and runs of spaces: one line per record
    kind = line.attributes.get("exception.type")
    if kind and str(kind) not in text:
        text = f"{text} [{kind}]" if text else f"[{kind}]"
    if len(text) > MAX_LOG_TEXT:
        text = text[: MAX_LOG_TEXT - 1] + "…"
    return text


def _log_row(line: LogLine, indent: str, start: int, off_w: int, style: Style) -> str:
    level = line.level.upper()
    codes = (_RED, _BOLD) if level in ("ERROR", "FATAL", "CRITICAL") else (_YELLOW,) if level.startswith("WARN") else ()
    offset = f"+{format_duration(max(0, line.time_ns - start), style)}"
    level_text = style.paint(f"{level[:5]:<5}", *codes) if codes else f"{level[:5]:<5}"
    marker = style.paint(style.log_marker, _DIM)
    return f"  {indent}{marker} {offset:>{off_w}}  {level_text}  {_log_text(line)}".rstrip()


def render_trace(
    trace: Trace, attrs: Sequence[str] = ("component",), style: Style | None = None, *, logs: bool = True
) -> list[str]:
    """The lines of one trace: a header, a column legend, then one line per span in tree order, each followed by the
    log records made in it (``logs``); log records of spans not in the files come last."""
    style = style or Style()
    rows = _tree(trace, style)
    start, total = trace.start_ns, trace.duration_ns
    labels = [prefix + span.name for span, prefix, _ in rows]
    name_width = min(_MAX_NAME, max([len(label) for label in labels] + [4]))
    offsets = [f"+{format_duration(span.start_ns - start, style)}" for span, _, _ in rows]
    durations = [format_duration(span.duration_ns, style) for span, _, _ in rows]
    off_w = max(len(o) for o in [*offsets, "offset"])
    dur_w = max(len(d) for d in [*durations, "duration"])
    legend = f"  {'span':<{name_width}}  {'offset':>{off_w}}  {'duration':>{dur_w}}  |{'timeline':<{style.bar_width}}|"
    lines = [_header(trace, style), style.paint(legend + "  status", _DIM)]
    by_span: dict[str, list[LogLine]] = {}
    for record in trace.logs if logs else ():
        by_span.setdefault(record.span_id, []).append(record)
    shown = {span.span_id for span, _, _ in rows}
    parents = trace.children() if by_span else {}  # a span with children: its log lines keep the tree's stem
    for (span, prefix, orphan), label, offset, duration in zip(rows, labels, offsets, durations, strict=True):
        if len(label) > name_width:
            label = label[: name_width - 1] + "…"
        name = label.ljust(name_width)
        if span.status_code == STATUS_ERROR:
            name = style.paint(name, _RED, _BOLD)
        status = {STATUS_ERROR: "ERROR", STATUS_OK: "OK"}.get(span.status_code, "")
        status_text = style.paint(f"{status:<5}", _RED, _BOLD) if status == "ERROR" else f"{status:<5}"
        details = [f"{key}={_value_text(span.attributes[key])}" for key in attrs if key in span.attributes]
        if span.status_code == STATUS_ERROR and span.status_message:
            details.append(style.paint(f"error={_value_text(span.status_message)}", _RED))
        if span.events:
            details.append(f"events={len(span.events)}")
        if orphan:
            details.append(style.paint(f"(orphan: parent {span.parent_span_id} not in the files)", _YELLOW))
        bar = _bar(span, start, total, style)
        line = f"  {name}  {offset:>{off_w}}  {duration:>{dur_w}}  {bar}  {status_text}"
        lines.append(("  ".join([line, *details]) if details else line).rstrip())
        indent = _continuation(prefix, style) + ("│ " if style.unicode and parents.get(span.span_id) else "  ")
        for record in by_span.get(span.span_id, ()):
            lines.append(_log_row(record, indent, start, off_w, style))
    loose = [record for record in trace.logs if logs and record.span_id not in shown]
    if loose:
        lines.append(style.paint(f"  log records of spans not in the files ({len(loose)}):", _DIM))
        lines.extend(_log_row(record, "  ", start, off_w, style) for record in loose)
    return lines


def render(
    traces: Iterable[Trace], attrs: Sequence[str] = ("component",), style: Style | None = None, *, logs: bool = True
) -> list[str]:
    """All traces, separated by a blank line (with their log records unless ``logs`` is False)."""
    out: list[str] = []
    for trace in traces:
        if out:
            out.append("")
        out.extend(render_trace(trace, attrs, style, logs=logs))
    return out
