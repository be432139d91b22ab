"""``lukhas-obs traces``: inspect local OTLP/JSON-lines trace files without a collector or a UI.

- ``lukhas-obs traces show FILE|DIR`` draws a terminal waterfall of each trace (:mod:`.waterfall`), with the log
  records made in each span (``logs_exporter=file``) under it (``--no-logs`` hides them);
- ``lukhas-obs traces export --format jaeger|otlp-json FILE|DIR -o OUT`` writes Jaeger UI's upload format or one
  merged OTLP/JSON document (:mod:`.jaeger`).

Both read ``*.jsonl`` and rotated ``*.jsonl.N`` files (:mod:`.model`), skip bad lines with a warning, and select
traces with the same filters: ``--trace-id``, ``--name``, ``--min-duration``, ``--errors-only``, ``--limit``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from lukhas_obs.tracefile.jaeger import jaeger_document, merge_otlp_documents
from lukhas_obs.tracefile.model import (
    LogLine,
    Selection,
    SpanRecord,
    Trace,
    group_traces,
    iter_documents,
    read_records,
    read_spans,
    trace_files,
)
from lukhas_obs.tracefile.waterfall import Style, render

__all__ = [
    "LogLine",
    "Selection",
    "SpanRecord",
    "Style",
    "Trace",
    "export_command",
    "group_traces",
    "jaeger_document",
    "load_traces",
    "merge_otlp_documents",
    "read_records",
    "read_spans",
    "register_cli",
    "render",
    "show_command",
]

#: Warnings printed about bad lines before the rest are only counted.
MAX_PRINTED_PROBLEMS = 10
#: ``traces show`` prints at most this many traces unless ``--limit`` says otherwise.
DEFAULT_SHOW_LIMIT = 20


class _Problems:
    """Prints the first few input problems to stderr, counts the rest."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        if self.count <= MAX_PRINTED_PROBLEMS:
            print(f"lukhas-obs traces: warning: {message}", file=self.err)

    def summary(self) -> None:
        if self.count > MAX_PRINTED_PROBLEMS:
            print(f"lukhas-obs traces: warning: {self.count} problems in total (first shown)", file=self.err)


def load_traces(
    paths: Sequence[str], selection: Selection, err: TextIO | None = None, *, logs: bool = True
) -> tuple[list[Trace], int]:
    """The selected traces of ``paths`` (with their log records unless ``logs`` is False) and how many traces the
    files hold in total; problems go to ``err``."""
    problems = _Problems(err or sys.stderr)
    spans, lines = read_records(paths, problems, logs=logs)
    traces = group_traces(spans, lines)
    problems.summary()
    return selection.apply(traces), len(traces)


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _selection(args: argparse.Namespace, default_limit: int | None) -> Selection:
    limit = default_limit if args.limit is None else args.limit
    return Selection(
        trace_ids=tuple(args.trace_id or ()),
        name=args.name,
        min_duration_ms=args.min_duration,
        errors_only=args.errors_only,
        limit=limit or None,
    )


def show_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``traces show``: print the waterfall of the selected traces; 0 even when none match (it says so)."""
    out = out or sys.stdout
    err = err or sys.stderr
    selection = _selection(args, DEFAULT_SHOW_LIMIT)
    show_logs = not getattr(args, "no_logs", False)
    traces, total = load_traces(args.paths, selection, err, logs=show_logs)
    if not traces:
        print(
            "no traces in the files" if not total else f"no trace matches the filters ({total} in the files)", file=err
        )
        return 0
    style = Style(
        color=_use_color(args.color, out),
        unicode=_can_encode(out, "█│└─µ…"),
        bar_width=args.width,
    )
    lines = render(traces, attrs=tuple(args.attr) if args.attr else ("component",), style=style, logs=show_logs)
    try:
        out.write("\n".join(lines) + "\n")
        out.flush()
    except BrokenPipeError:  # `... | head`: the reader has seen enough
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    note = f"{len(traces)} of {total} traces shown"
    if selection.limit and len(traces) == selection.limit and total > len(traces):
        note += f" (the {selection.limit} most recent that match; --limit 0 shows all)"
    print(note, file=err)
    return 0


def export_command(args: argparse.Namespace, err: TextIO | None = None) -> int:
    """``traces export``: write Jaeger JSON or one merged OTLP/JSON document to ``-o`` (``-`` = stdout)."""
    err = err or sys.stderr
    selection = _selection(args, None)
    traces, total = load_traces(args.paths, selection, err, logs=args.format == "jaeger")
    document: dict[str, Any]
    if args.format == "jaeger":
        document = jaeger_document(traces)
    else:
        files = [f for p in args.paths for f in trace_files(p)]
        wanted = {t.trace_id for t in traces} if selection != Selection() else None
        document = merge_otlp_documents(iter_documents(files, lambda _msg: None), wanted)
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    spans = sum(len(t.spans) for t in traces)
    where = "stdout" if args.output == "-" else args.output
    print(f"wrote {len(traces)} of {total} traces ({spans} spans) as {args.format} to {where}", file=err)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be a number >= 0")
    return value


def _add_input_and_filters(parser: argparse.ArgumentParser, limit_help: str) -> None:
    parser.add_argument("paths", nargs="+", metavar="FILE|DIR", help="trace file(s), or directories of *.jsonl[.N]")
    parser.add_argument(
        "--trace-id", action="append", metavar="HEX", help="only this trace (a prefix is enough; repeatable)"
    )
    parser.add_argument("--name", metavar="PATTERN", help="traces with a span whose name contains PATTERN (or glob)")
    parser.add_argument(
        "--min-duration", type=_non_negative_float, metavar="MS", help="traces lasting at least MS milliseconds"
    )
    parser.add_argument("--errors-only", action="store_true", help="traces with at least one ERROR span")
    parser.add_argument("--limit", type=_non_negative_int, metavar="N", help=limit_help)


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs traces show|export`` to the command line."""
    traces = sub.add_parser("traces", help="inspect local trace files: terminal waterfall, Jaeger/OTLP JSON export")
    actions = traces.add_subparsers(dest="traces_command", required=True)

    show = actions.add_parser("show", help="terminal waterfall of the traces in OTLP/JSON-lines files")
    _add_input_and_filters(show, f"the N most recent matching traces (default {DEFAULT_SHOW_LIMIT}; 0 = all)")
    show.add_argument(
        "--attr", action="append", metavar="KEY", help="span attribute to show (repeatable; default component)"
    )
    show.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="auto: TTY and no NO_COLOR")
    show.add_argument("--width", type=_positive_int, default=40, metavar="CELLS", help="width of the timeline (40)")
    show.add_argument("--no-logs", action="store_true", help="hide the log records shown under their spans")
    show.set_defaults(handler=show_command)

    export = actions.add_parser("export", help="write Jaeger UI JSON or one merged OTLP/JSON document")
    _add_input_and_filters(export, "the N most recent matching traces (default all)")
    export.add_argument("--format", choices=("jaeger", "otlp-json"), default="jaeger", help="output format (jaeger)")
    export.add_argument("-o", "--output", default="-", metavar="OUT", help="output file ('-' = stdout, the default)")
    export.set_defaults(handler=export_command)
