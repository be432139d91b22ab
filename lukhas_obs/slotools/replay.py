"""``lukhas-obs replay``: averages, percentiles and SLO pass/fail of the last N heartbeats of a JSON-lines file.

Seed 004 (AURIS SELF) keeps one JSON object per line in ``data/identity.jsonl``; heartbeats look like
``{"kind": "heartbeat", "coherence": 0.95, "continuity": 0.98, "presence": 1.0, "stress": 0.12}``. Replay reads the
file once, keeps the last ``--count`` heartbeats (default 50, as the seed's script), and prints the seed's report:
averages, p50 / p95 / p99, and ``[✅ PASS] coherence >= 0.80 (actual: 1.000)`` per target, with a non-zero exit
when a target fails (``--json`` prints the same as one JSON document).

The input is untrusted text, so reading never crashes and never holds more than it needs:

* lines are split at ``\\n`` only (U+2028 is valid inside a JSON string) and read at most :data:`MAX_LINE_BYTES` at
  a time; a longer line is skipped (``too_long``) without being held in memory;
* a line that is not UTF-8, not JSON or not a JSON object is skipped (``corrupt``); an object whose ``kind`` is not
  ``heartbeat`` is skipped (``other``); each kind is counted and reported, never printed;
* a heartbeat field that is absent is ``missing``; one that is not a finite number (NaN, Infinity, a string, a
  boolean, a lone surrogate, an integer too large for a float) is ``invalid``; both are counted per field and left
  out of that field's numbers (the heartbeat's other fields still count);
* values are kept in per-field arrays of doubles (8 bytes per value), at most :data:`MAX_COUNT` heartbeats.

Percentiles use **linear interpolation between closest ranks** (rank ``q·(n−1)``, 0-based): numpy's default
``method="linear"``, ``statistics.quantiles(method="inclusive")``, Excel's PERCENTILE.INC, and the definition
Prometheus's ``quantile_over_time`` uses, so a replayed file and the online evaluation of a gauge agree. Seed 004
names no definition.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from lukhas_obs.slotools._io import atomic_write_text, can_encode
from lukhas_obs.slotools.targets import (
    AGGREGATES,
    SECTION_KEY,
    SloTarget,
    SloTargets,
    SloTargetsError,
    load_targets,
    load_targets_file,
)

__all__ = [
    "DEFAULT_COUNT",
    "DEFAULT_KIND",
    "DEFAULT_SNAPSHOT",
    "MAX_COUNT",
    "MAX_LINE_BYTES",
    "PERCENTILE_METHOD",
    "FieldStats",
    "ReplayOptions",
    "ReplayReport",
    "TargetStatus",
    "percentile",
    "read_heartbeats",
    "register_cli",
    "render_report",
    "replay",
    "run_replay",
    "targets_for_system",
    "targets_from_catalogs",
]

#: Heartbeats analysed when ``--count`` is not given (seed 004's script: "последних 50 heartbeats (default)").
DEFAULT_COUNT = 50
#: Most heartbeats kept; ``--count 0`` ("all") keeps the most recent this many.
MAX_COUNT = 1_000_000
#: Longest line read; longer lines are skipped and counted as ``too_long``.
MAX_LINE_BYTES = 1 << 20
#: The ``kind`` a heartbeat line carries.
DEFAULT_KIND = "heartbeat"
#: Where ``--save-snapshot`` without a path writes (seed 004: ``data/self_state.json``).
DEFAULT_SNAPSHOT = "data/self_state.json"
#: Most fields found in the heartbeats when no targets say which to report.
MAX_DISCOVERED_FIELDS = 64
#: Integer literals with more digits than this are not numbers a heartbeat can mean (float overflows at 309).
_MAX_INT_DIGITS = 400
#: How the percentiles are defined (printed in the report and the JSON output).
PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy 'linear', statistics 'inclusive')"

_VALID, _MISSING, _INVALID = 0, 1, 2
_SKIP_REASONS = ("corrupt", "other", "too_long")


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 ≤ q ≤ 1) of ``ordered`` (sorted ascending) by linear interpolation; NaN when empty.

    Rank ``h = q·(n−1)``; the result is ``x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])``.
    """
    n = len(ordered)
    if n == 0:
        return math.nan
    if n == 1:
        return float(ordered[0])
    rank = q * (n - 1)
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    return float(ordered[low] + (rank - low) * (ordered[high] - ordered[low]))


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a finite number (bool is not a number here)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        try:
            result = float(value)
        except OverflowError:
            return None
        return result if math.isfinite(result) else None
    return None


def _parse_int(text: str) -> Any:
    # json.loads raises on > 4300 digits (the whole line would be lost); a huge literal is one invalid value
    return math.inf if len(text) > _MAX_INT_DIGITS else int(text)


class _Column:
    """One field's values over the window: doubles and a status byte per heartbeat slot (a ring once full)."""

    __slots__ = ("status", "values")

    def __init__(self, size: int) -> None:
        self.values = array("d", bytes(8 * size))
        self.status = bytearray([_MISSING]) * size


class _Window:
    """The last ``capacity`` heartbeats, column-wise."""

    def __init__(self, capacity: int, fields: Sequence[str] | None) -> None:
        self.capacity = capacity
        self.size = 0  # slots filled (≤ capacity)
        self.next = 0  # slot the next heartbeat overwrites once full
        self.discover = fields is None
        self.columns: dict[str, _Column] = {name: _Column(0) for name in fields or ()}
        self.ignored_fields = 0

    def push(self, obj: Mapping[str, Any]) -> None:
        if self.discover:
            for key, value in obj.items():
                if key not in self.columns and key != "kind" and _number(value) is not None:
                    if len(self.columns) >= MAX_DISCOVERED_FIELDS:
                        self.ignored_fields += 1
                        continue
                    self.columns[key] = _Column(self.size)
        full = self.size == self.capacity
        slot = self.next if full else self.size
        for name, column in self.columns.items():
            raw = obj.get(name, _Window)  # _Window: a sentinel no JSON value can be
            number = None if raw is _Window else _number(raw)
            status = _MISSING if raw is _Window else (_VALID if number is not None else _INVALID)
            if full:
                column.values[slot] = number if number is not None else 0.0
                column.status[slot] = status
            else:
                column.values.append(number if number is not None else 0.0)
                column.status.append(status)
        if full:
            self.next = (self.next + 1) % self.capacity
        else:
            self.size += 1

    def last_slot(self) -> int | None:
        if self.size == 0:
            return None
        return (self.next - 1) % self.size if self.size == self.capacity else self.size - 1


@dataclass
class FieldStats:
    """A field's numbers over the analysed heartbeats (NaN when it has no valid value)."""

    name: str
    n: int
    missing: int
    invalid: int
    avg: float = math.nan
    p50: float = math.nan
    p95: float = math.nan
    p99: float = math.nan
    min: float = math.nan
    max: float = math.nan

    def get(self, aggregate: str) -> float:
        """The value of one of :data:`~lukhas_obs.slotools.targets.AGGREGATES`."""
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
        return float(getattr(self, aggregate))


def _stats(name: str, column: _Column) -> FieldStats:
    valid = sorted(v for v, s in zip(column.values, column.status, strict=True) if s == _VALID)
    stats = FieldStats(name, n=len(valid), missing=column.status.count(_MISSING), invalid=column.status.count(_INVALID))
    if valid:
        stats.avg = math.fsum(valid) / len(valid)
        stats.p50, stats.p95, stats.p99 = (percentile(valid, q) for q in (0.5, 0.95, 0.99))
        stats.min, stats.max = valid[0], valid[-1]
    return stats


@dataclass
class TargetStatus:
    """A target's outcome on the replayed heartbeats: ``pass``, ``fail``, ``no_data`` or ``skipped`` (no field)."""

    target: SloTarget
    status: str
    actual: float | None


@dataclass
class ReplayReport:
    """What replay found: counts, per-field numbers, per-target outcomes."""

    source: str
    count: int
    analyzed: int
    total: int
    skipped: dict[str, int]
    fields: list[FieldStats]
    targets: list[TargetStatus]
    title: str = ""
    last_heartbeat: dict[str, float] = field(default_factory=dict)
    ignored_fields: int = 0

    @property
    def failed(self) -> list[TargetStatus]:
        return [t for t in self.targets if t.status == "fail"]

    @property
    def no_data(self) -> list[TargetStatus]:
        return [t for t in self.targets if t.status == "no_data"]

    @property
    def exit_code(self) -> int:
        """0 every evaluated target passed, 1 a target failed, 3 a target had no data (and none failed)."""
        if self.failed:
            return 1
        if self.no_data:
            return 3
        return 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document (NaN becomes null)."""

        def num(value: float | None) -> float | None:
            return None if value is None or math.isnan(value) else value

        return {
            "source": self.source,
            "title": self.title,
            "heartbeats": {"analyzed": self.analyzed, "total": self.total, "count": self.count},
            "skipped_lines": dict(self.skipped),
            "percentile_method": PERCENTILE_METHOD,
            "fields": {
                s.name: {
                    "n": s.n,
                    "missing": s.missing,
                    "invalid": s.invalid,
                    **{a: num(getattr(s, a)) for a in AGGREGATES},
                }
                for s in self.fields
            },
            "targets": [
                {
                    "name": t.target.name,
                    "field": t.target.field,
                    "aggregate": t.target.aggregate,
                    "comparison": t.target.comparison,
                    "threshold": t.target.threshold,
                    "actual": num(t.actual),
                    "status": t.status,
                }
                for t in self.targets
            ],
            "passed": self.exit_code == 0,
            "exit_code": self.exit_code,
            "last_heartbeat": dict(self.last_heartbeat),
        }


def _lines(stream: BinaryIO, skipped: dict[str, int]) -> Iterator[bytes]:
    """Lines of ``stream`` split at ``\\n``, each at most :data:`MAX_LINE_BYTES`; longer ones counted and dropped."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            skipped["too_long"] += 1
            while True:  # drain the rest of the line in bounded chunks
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            continue
        yield line


def read_heartbeats(
    stream: BinaryIO,
    fields: Sequence[str] | None,
    count: int = DEFAULT_COUNT,
    kind: str = DEFAULT_KIND,
    source: str = "<stream>",
) -> ReplayReport:
    """Read heartbeats from a binary stream and compute per-field numbers (no targets: see :func:`replay`).

    ``fields`` None reports every numeric top-level field found (at most 64); ``count`` 0 keeps all (at most
    :data:`MAX_COUNT`); ``kind`` "" accepts every JSON object as a heartbeat.
    """
    if not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count={count!r} is not accepted; expected 0 (all) to {MAX_COUNT}")
    window = _Window(count or MAX_COUNT, fields)
    skipped = dict.fromkeys(_SKIP_REASONS, 0)
    total = 0
    first = True
    for raw in _lines(stream, skipped):
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        first = False
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
        except Exception:  # not UTF-8, not JSON, nested too deep: one corrupt line
            skipped["corrupt"] += 1
            continue
        if not isinstance(obj, dict):
            skipped["corrupt"] += 1
            continue
        if kind and obj.get("kind") != kind:
            skipped["other"] += 1
            continue
        total += 1
        window.push(obj)
    stats = [_stats(name, column) for name, column in window.columns.items()]
    last: dict[str, float] = {}
    slot = window.last_slot()
    if slot is not None:
        last = {n: c.values[slot] for n, c in window.columns.items() if c.status[slot] == _VALID}
    return ReplayReport(
        source=source,
        count=count,
        analyzed=window.size,
        total=total,
        skipped=skipped,
        fields=stats,
        targets=[],
        last_heartbeat=last,
        ignored_fields=window.ignored_fields,
    )


def _judge(report: ReplayReport, targets: SloTargets | None) -> ReplayReport:
    if targets is None:
        return report
    by_name = {s.name: s for s in report.fields}
    report.title = targets.title
    for target in targets.targets:
        if not target.field:
            report.targets.append(TargetStatus(target, "skipped", None))
            continue
        stats = by_name.get(target.field)
        actual = stats.get(target.aggregate) if stats is not None else math.nan
        if math.isnan(actual):
            report.targets.append(TargetStatus(target, "no_data", None))
        else:
            report.targets.append(TargetStatus(target, "pass" if target.holds(actual) else "fail", actual))
    return report


def replay(
    path: str,
    targets: SloTargets | None,
    count: int = DEFAULT_COUNT,
    kind: str = DEFAULT_KIND,
    stdin: BinaryIO | None = None,
) -> ReplayReport:
    """Replay the heartbeats of ``path`` (``-`` reads ``stdin``) against ``targets`` (None: numbers only).

    The fields reported are ``targets.fields`` (``report_fields`` then each target's field), or, without targets,
    every numeric field found. OSError when the file cannot be opened.
    """
    fields = targets.fields if targets is not None else None
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return _judge(read_heartbeats(stream, fields, count, kind, source="-"), targets)
    with open(path, "rb") as fh:
        return _judge(read_heartbeats(fh, fields, count, kind, source=path), targets)


# ------------------------------------------------------------------------------------------------------ the report

_FANCY = {
    "analyzing": "📊 ",
    "averages": "📈 ",
    "percentiles": "📊 ",
    "slo": "🎯 ",
    "warn": "⚠️  ",
    "pass": "✅ PASS",
    "fail": "❌ FAIL",
    "no_data": "⚪ NO DATA",
    "skipped": "⏭️  SKIP",
    "all_pass": "🟢 ",
    "some_fail": "🔴 ",
    "some_missing": "🟡 ",
}
_PLAIN = {
    **dict.fromkeys(("analyzing", "averages", "percentiles", "slo", "all_pass", "some_fail", "some_missing"), ""),
    "warn": "warning: ",
    "pass": "PASS",
    "fail": "FAIL",
    "no_data": "NO DATA",
    "skipped": "SKIP",
}


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def render_report(report: ReplayReport, fancy: bool = True) -> str:
    """The seed 004 report as text; ``fancy`` False replaces the emoji with plain words (ASCII terminals)."""
    sym = _FANCY if fancy else _PLAIN
    lines = [f"{sym['analyzing']}Analyzing last {report.analyzed} heartbeats (of {report.total} total)"]
    skipped = sum(report.skipped.values())
    if skipped:
        detail = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.skipped.items())
        lines.append(f"{sym['warn']}skipped {skipped} lines ({detail})")
    if report.ignored_fields:
        lines.append(f"{sym['warn']}more than {MAX_DISCOVERED_FIELDS} numeric fields; the rest are not reported")
    lines += ["", f"{sym['averages']}Averages:"]
    for s in report.fields:
        note = ""
        if s.missing or s.invalid:
            note = f"   ({s.n} values; {s.invalid} invalid, {s.missing} missing)"
        lines.append(f"   {s.name:<12} = {_fmt(s.avg)}{note}")
    lines += ["", f"{sym['percentiles']}Percentiles (p50 / p95 / p99; linear interpolation between closest ranks):"]
    for s in report.fields:
        lines.append(f"   {s.name:<12} = {_fmt(s.p50)} / {_fmt(s.p95)} / {_fmt(s.p99)}")
    if report.targets:
        title = f" ({report.title})" if report.title else ""
        lines += ["", f"{sym['slo']}SLO Status{title}:"]
        for t in report.targets:
            text = t.target.describe()
            if t.status == "skipped":
                lines.append(f"   [{sym['skipped']}] {text:<20} (no heartbeat field; online only)")
            else:
                actual = "no data" if t.actual is None else _fmt(t.actual)
                lines.append(f"   [{sym[t.status]}] {text:<20} (actual: {actual})")
        lines.append("")
        failed, missing = len(report.failed), len(report.no_data)
        if failed:
            lines.append(f"{sym['some_fail']}{failed} SLO TARGET{'S' if failed > 1 else ''} FAILED")
        elif missing:
            lines.append(f"{sym['some_missing']}{missing} SLO TARGET{'S' if missing > 1 else ''} WITHOUT DATA")
        else:
            lines.append(f"{sym['all_pass']}ALL SLO TARGETS PASSED")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------ CLI


@dataclass
class ReplayOptions:
    """What ``lukhas-obs replay`` was asked to do."""

    path: str
    count: int = DEFAULT_COUNT
    kind: str = DEFAULT_KIND
    save_snapshot: str | None = None
    json: bool = False


def run_replay(
    options: ReplayOptions,
    targets: SloTargets | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Replay, print the report (text or ``--json``), optionally save a snapshot; return the exit code.

    ``targets`` is the targets source, resolved by the caller (``--targets FILE`` or ``--system NAME``). Exit
    codes: 0 every target passed (or no targets), 1 a target failed, 3 a target had no data, 2 the file or snapshot
    could not be read/written.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        report = replay(options.path, targets, options.count, options.kind, stdin=stdin)
    except OSError as exc:
        print(f"lukhas-obs replay: cannot read {options.path}: {exc.strerror or type(exc).__name__}", file=err)
        return 2
    document = report.to_dict()
    if options.save_snapshot:
        snapshot = {**document, "saved_at": time.time()}
        try:
            atomic_write_text(options.save_snapshot, json.dumps(snapshot, indent=2, allow_nan=False) + "\n")
        except OSError as exc:
            print(f"lukhas-obs replay: cannot write {options.save_snapshot}: {exc.strerror or exc}", file=err)
            return 2
    if options.json:
        out.write(json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
    else:
        text = render_report(report, fancy=can_encode(out, "📊✅❌🟢⏭️⚠️"))
        out.write(text)
        if options.save_snapshot:
            out.write(f"\nsnapshot saved to {options.save_snapshot}\n")
    return report.exit_code


def targets_for_system(name: str) -> SloTargets:
    """The ``slo_targets:`` of system ``name``'s catalogs (``lukhas_obs.systems.system(name)``), ready to use.

    See :func:`targets_from_catalogs`; an unknown system is a SloTargetsError listing the known ones.
    """
    from lukhas_obs.systems import system

    try:
        found = system(name)
    except KeyError as exc:
        raise SloTargetsError(f"system {name}", [str(exc.args[0])]) from None
    return targets_from_catalogs(found.catalogs, f"system {name}")


def targets_from_catalogs(paths: Sequence[str | os.PathLike[str]], origin: str = "catalogs") -> SloTargets:
    """The ``slo_targets:`` sections of the catalog files ``paths`` as one set of targets.

    One catalog with the section: its targets. Several: their targets in catalog order (title and window of each
    target from its own section; report fields merged), target names unique across them. SloTargetsError names the
    catalog file and line of every problem, or says that none of the catalogs declares targets.
    """
    from lukhas_obs.catalog.yamlfile import read_yaml
    from lukhas_obs.errors import CatalogError

    sections: list[SloTargets] = []
    for path in paths:
        try:
            document = read_yaml(path)
        except CatalogError as exc:
            raise SloTargetsError(os.fspath(path), exc.problems) from None
        data = document.data
        if isinstance(data, dict) and data.get(SECTION_KEY) is not None:
            where = os.fspath(path)
            sections.append(load_targets(data[SECTION_KEY], where, locate=document.line, prefix=(SECTION_KEY,)))
    if not sections:
        files = ", ".join(os.fspath(p) for p in paths) or "none"
        raise SloTargetsError(origin, [f"no catalog of {origin} has a {SECTION_KEY}: section (catalogs: {files})"])
    if len(sections) == 1:
        return sections[0]
    targets = tuple(t for section in sections for t in section.targets)
    names = [t.name for t in targets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SloTargetsError(origin, [f"target name {n!r} is declared by more than one catalog" for n in twice])
    fields = tuple(dict.fromkeys(f for section in sections for f in section.report_fields))
    return SloTargets(targets, title=sections[0].title, report_fields=fields, origin=origin)


def targets_from_args(args: argparse.Namespace) -> SloTargets | None:
    """The targets ``--targets FILE`` or ``--system NAME`` names (None without either); SloTargetsError / OSError as
    the loaders raise."""
    path = getattr(args, "targets", None)
    if path:
        return load_targets_file(path)
    name = getattr(args, "system", None)
    return targets_for_system(name) if name else None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 (all) to {MAX_COUNT}") from None
    if not 0 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 (all) to {MAX_COUNT}")
    return value


def _handler(args: argparse.Namespace) -> int:
    try:
        targets = targets_from_args(args)
    except OSError as exc:
        source = args.targets or f"the catalogs of system {args.system}"
        print(f"lukhas-obs replay: cannot read {source}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2
    except SloTargetsError as exc:
        print(f"lukhas-obs replay: error: {exc}", file=sys.stderr)
        return 2
    options = ReplayOptions(
        path=args.file, count=args.count, kind=args.kind, save_snapshot=args.save_snapshot, json=args.json
    )
    return run_replay(options, targets)


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs replay`` to the command line."""
    parser = sub.add_parser(
        "replay",
        help="averages, percentiles and SLO pass/fail of the last N heartbeats of a JSON-lines file",
        description="Replay heartbeats (one JSON object per line, seed 004's data/identity.jsonl shape). "
        "Exit 0: every target passed; 1: a target failed; 3: a target had no data; 2: bad input or targets.",
    )
    parser.add_argument("file", help="the JSON-lines file ('-' reads stdin)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--targets", metavar="FILE", default=None, help="YAML file with a slo_targets: section")
    source.add_argument(
        "--system", metavar="NAME", default=None, help="use the slo_targets: of this system's catalogs (auris_self)"
    )
    parser.add_argument(
        "--count", type=_count, default=DEFAULT_COUNT, help=f"last N heartbeats (default {DEFAULT_COUNT}; 0 = all)"
    )
    parser.add_argument(
        "--kind", default=DEFAULT_KIND, help="the 'kind' of heartbeat lines (default heartbeat; '' = every object)"
    )
    parser.add_argument(
        "--save-snapshot",
        nargs="?",
        const=DEFAULT_SNAPSHOT,
        default=None,
        metavar="PATH",
        help=f"write the report as JSON to PATH (atomic; default {DEFAULT_SNAPSHOT})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the report")
    parser.set_defaults(handler=_handler)
