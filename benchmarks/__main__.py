"""``python -m benchmarks``: every performance target of lukhas-obs, measured and judged in one table.

Run from the repository root::

    python -m benchmarks                  # full run (a few minutes on 2 cores), then the target table
    python -m benchmarks --quick          # every case with tiny batches (about a minute): the numbers are noise
    python -m benchmarks --json out.json  # also the targets, rows, samples, environment and sub-benchmark runs

What runs: :mod:`benchmarks.bench_recording` in this process (recording, spans, disabled helpers, scrape, OTLP
collect, memory: every target of the recording issue), then each optional benchmark present next to it
(:data:`SUB_BENCHMARKS`: ``bench_spans``, ``bench_scrape``) in a subprocess with ``--json`` (and ``--quick``), bounded
by ``--sub-timeout``. A sub-benchmark that fails or times out is reported as such below the table; it never hides
the others' results.

How a sub-benchmark reports a target, in its ``--json`` file (either form, anywhere in the document):

- a mapping entry ``"<what> (target <= 0.4)": 0.31`` (a name containing ``target <= X`` or ``target ≤ X``, a ratio);
- an object with a numeric ``ratio`` and a numeric ``limit`` (or ``target``), named by ``text``, ``name`` or ``id``.

Speed is never asserted anywhere: PASS/MISS is this table's verdict on one run on one machine (see
docs/PERFORMANCE.md for the recorded run and what each case measures).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import bench_recording
from benchmarks.bench_recording import Target

__all__ = ["SUB_BENCHMARKS", "SubRun", "extract_targets", "main", "run_sub_benchmark"]

#: Optional benchmarks run (when their file exists) after the recording suite, with the extra options of a
#: ``--quick`` run (kept well under a minute in total).
SUB_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "bench_spans": (),
    "bench_scrape": ("--sizes", "10,1000", "--repeats", "1"),
}
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_TARGET_NAME = re.compile(r"target\s*(?:<=|≤)\s*([0-9]*\.?[0-9]+)", re.IGNORECASE)


@dataclass
class SubRun:
    """How one sub-benchmark run went."""

    name: str
    command: str
    status: str  # "ok", "not present", "failed: ...", "timed out after N s"
    seconds: float = 0.0
    targets: int = 0


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _walk(node: object) -> Iterator[tuple[str, float, float]]:
    """(name, ratio, limit) of every target found in a JSON document (see the module docstring)."""
    if isinstance(node, dict):
        ratio = _number(node.get("ratio"))
        limit = _number(node.get("limit", node.get("target")))
        if ratio is not None and limit is not None:
            name = next((str(node[k]) for k in ("text", "name", "id") if isinstance(node.get(k), str)), "target")
            yield name, ratio, limit
            return
        for key, value in node.items():
            found = _TARGET_NAME.search(key) if isinstance(key, str) else None
            number = _number(value)
            if found is not None and number is not None:
                yield key, number, float(found.group(1))
            else:
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _scrape_targets(document: object) -> Iterator[tuple[str, float, float]]:
    """``bench_scrape``'s report names no targets; its ``results`` (series → column → ms) hold the scrape target:
    the default path (own aggregation, direct renderer) at 10k series and more ≤ 0.1× the OTel exporter."""
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, dict):
        return
    for size, columns in results.items():
        if not (isinstance(size, str) and size.isdigit() and int(size) >= 10_000 and isinstance(columns, dict)):
            continue
        ours, exporter = _number(columns.get("agg_direct")), _number(columns.get("exporter"))
        if ours is not None and exporter:
            yield f"`/metrics` at {int(size):,} series: aggregation → direct / exporter", ours / exporter, 0.1


#: Sub-benchmarks whose report has a known shape without declared targets: where their targets are.
_ADAPTERS = {"bench_scrape": _scrape_targets}


def extract_targets(document: object, source: str) -> list[Target]:
    """The targets a sub-benchmark's JSON report declares, judged PASS (ratio <= limit) or MISS."""
    found = list(_walk(document))
    if not found and source in _ADAPTERS:
        found = list(_ADAPTERS[source](document))
    targets = []
    for index, (name, ratio, limit) in enumerate(found):
        targets.append(
            Target(
                id=f"{source}.{index}",
                text=name,
                row="",
                numerator="",
                denominator="",
                limit=limit,
                ratio=ratio,
                status="PASS" if ratio <= limit else "MISS",
                source=source,
            )
        )
    return targets


def run_sub_benchmark(name: str, *, quick: bool, timeout: float) -> tuple[SubRun, list[Target], Any]:
    """Run ``benchmarks.<name>`` in a subprocess with ``--json``; its run record, targets and JSON document."""
    args = ["-m", f"benchmarks.{name}", *(["--quick", *SUB_BENCHMARKS.get(name, ())] if quick else [])]
    command = shlex.join(["python", *args])
    if not (HERE / f"{name}.py").is_file():
        return SubRun(name, command, "not present"), [], None
    with tempfile.TemporaryDirectory(prefix="lukhas-bench-") as tmp:
        out = Path(tmp) / f"{name}.json"
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, *args, "--json", str(out)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:  # subprocess.run kills the child it started
            return SubRun(name, command, f"timed out after {timeout:g} s", timeout), [], None
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no error output"])[-1][:200]
            return SubRun(name, command, f"failed (exit {proc.returncode}): {last}", seconds), [], None
        try:
            document = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            return SubRun(name, command, f"failed: no readable --json report ({type(exc).__name__})", seconds), [], None
    targets = extract_targets(document, name)
    return SubRun(name, command, "ok", seconds, len(targets)), targets, document


def render_runs(runs: Sequence[SubRun]) -> str:
    """One line per sub-benchmark: what ran, how it went."""
    lines = ["Sub-benchmarks:"]
    for sub in runs:
        took = f", {sub.seconds:.1f} s, {sub.targets} target(s)" if sub.status == "ok" else ""
        lines.append(f"- `{sub.command}`: {sub.status}{took}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the recording suite and the sub-benchmarks present; print one target table, then the details."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = bench_recording.build_parser("python -m benchmarks")
    parser.description = (__doc__ or "").splitlines()[0]
    parser.add_argument(
        "--skip",
        default="",
        help=f"comma-separated sub-benchmarks not to run ({', '.join(SUB_BENCHMARKS)}; 'all' for none)",
    )
    parser.add_argument(
        "--sub-timeout", type=float, help="seconds each sub-benchmark may take (default 900; --quick 40)"
    )
    args: argparse.Namespace = parser.parse_args(args_list)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - {*SUB_BENCHMARKS, *(n.removeprefix("bench_") for n in SUB_BENCHMARKS), "all"}
    if unknown:
        known = ", ".join(SUB_BENCHMARKS)
        parser.error(f"--skip: unknown sub-benchmark(s) {', '.join(sorted(unknown))}; known: {known}")
    timeout = args.sub_timeout or (40.0 if args.quick else 900.0)
    command = shlex.join(["python", "-m", "benchmarks", *args_list])
    report = bench_recording.execute(args, command)
    runs: list[SubRun] = []
    documents: dict[str, Any] = {}
    for name in SUB_BENCHMARKS:
        if "all" in skip or name in skip or name.removeprefix("bench_") in skip:
            continue
        print(f"running {name} ...", file=sys.stderr)
        sub, targets, document = run_sub_benchmark(name, quick=args.quick, timeout=timeout)
        runs.append(sub)
        report.targets.extend(targets)
        if document is not None:
            documents[name] = document
    print(bench_recording.render_markdown(report))
    if runs:
        print(render_runs(runs))
    if args.json:
        data = bench_recording.report_json(report)
        data["sub_benchmarks"] = [asdict(sub) for sub in runs]
        data["sub_reports"] = documents
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
