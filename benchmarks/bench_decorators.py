"""Cost of :mod:`lukhas_obs.decorators` per call: against the undecorated function and against the same
instrumentation written by hand with prometheus_client (its ``Histogram.time()`` and ``Counter.count_exceptions()``
decorators, and Luna's ``track_*`` shapes from seed 000).

Run from the repository root::

    python -m benchmarks.bench_decorators            # about 15 s on 2 cores
    python -m benchmarks.bench_decorators --quick    # every case, tiny batches (< 5 s): the numbers are noise
    python -m benchmarks.bench_decorators --json out.json

Each figure is the median over batches of ns per call, the loop included, timed with the process CPU clock (the
time the scheduler gives other processes on a shared machine does not count); the cases run interleaved (the order
rotates every repeat) in one process, so ratios between columns are steadier than their absolute values. The
decorated function does nothing (``return x``), so a row is the decorator's whole cost. "over bare" subtracts the
undecorated call. lukhas-obs is configured with its defaults (own aggregation) and no server; prometheus_client
metrics live on a private registry with the same names, labels and buckets.

Rows (lukhas-obs column / prometheus_client column):

- ``timed``: ``@timed_histogram(h)`` / ``@h.time()``
- ``timed, hand-written``: — / Luna's ``track_phi_calculation`` (``with h.time(): return func()``)
- ``outcomes, success`` and ``outcomes, error``: ``@count_outcomes(c, tool_name=...)`` / Luna's ``track_tool_call``
  (``c.labels(tool_name, status).inc()`` in try/except); the error rows include raising and catching
- ``count_exceptions, success``: — / ``@c.labels(...).count_exceptions()`` (counts errors only)
- ``by result``: ``@count_by_result(c, label="type", key="type")`` / ``c.labels(type=result.get('type', ...))``
- ``by argument, keyword`` and ``, positional``: ``@count_by_argument(c, label="layer", argument="layer")`` /
  ``kwargs.get('layer', 'unknown')`` (the hand-written shape cannot read a positional argument)
- ``timed + outcomes, stacked`` / ``instrument()``: two stacked decorators against one ``instrument(...)`` wrapper /
  ``@h.time()`` over Luna's outcome counting
- ``async timed``: ``@timed_histogram`` on ``async def`` / ``with h.time(): return await func()``, per awaited
  call inside one running coroutine
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import sys
from collections.abc import Callable
from time import process_time_ns
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

import lukhas_obs
from lukhas_obs.catalog import load_catalog, register
from lukhas_obs.decorators import count_by_argument, count_by_result, count_outcomes, instrument, timed_histogram

BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
LATENCY = "benchdeco_latency_seconds"
TOOLS = "benchdeco_tool_calls_total"
INSIGHTS = "benchdeco_insights_total"
STORES = "benchdeco_stores_total"

CATALOG: dict[str, Any] = {
    "catalog": "bench_decorators",
    "common_attributes": [],
    "attributes": {
        "tool_name": {},
        "status": {"values": ["success", "error"]},
        "type": {"values": ["phi_insight", "cross_domain", "emotional", "semantic"], "fold_to": "unknown"},
        "layer": {"values": ["root", "branch", "leaf", "seed"], "fold_to": "unknown"},
    },
    "metrics": [
        {"name": LATENCY, "kind": "histogram", "unit": "s", "description": "Latency.", "buckets": BUCKETS},
        {"name": TOOLS, "kind": "counter", "description": "Tool calls.", "attributes": ["tool_name", "status"]},
        {"name": INSIGHTS, "kind": "counter", "description": "Insights.", "attributes": ["type"]},
        {"name": STORES, "kind": "counter", "description": "Stores.", "attributes": ["layer"]},
    ],
}

Loop = Callable[[int], None]


def _cases() -> dict[str, tuple[Loop | None, Loop | None]]:
    """Row → (lukhas-obs loop, prometheus_client loop); each loop makes ``n`` decorated calls."""
    registry = CollectorRegistry()
    p_hist = Histogram(LATENCY, "Latency.", buckets=BUCKETS, registry=registry)
    p_tools = Counter(TOOLS, "Tool calls.", ["tool_name", "status"], registry=registry)
    p_insights = Counter(INSIGHTS, "Insights.", ["type"], registry=registry)
    p_stores = Counter(STORES, "Stores.", ["layer"], registry=registry)

    def bare(x: Any, layer: str = "root") -> Any:
        return x

    def raising(x: Any) -> Any:
        raise ValueError(x)

    insight = {"type": "emotional", "text": "..."}

    def make_insight() -> dict[str, str]:
        return insight

    # --- lukhas-obs
    l_timed = timed_histogram(LATENCY)(bare)
    l_ok = count_outcomes(TOOLS, tool_name="search")(bare)
    l_err = count_outcomes(TOOLS, tool_name="search")(raising)
    l_result = count_by_result(INSIGHTS, label="type", key="type")(make_insight)
    l_arg = count_by_argument(STORES, label="layer", argument="layer")(bare)
    l_stacked = timed_histogram(LATENCY)(count_outcomes(TOOLS, tool_name="search")(bare))
    l_combined = instrument(timed_histogram(LATENCY), count_outcomes(TOOLS, tool_name="search"))(bare)

    @timed_histogram(LATENCY)
    async def l_async(x: Any) -> Any:
        return x

    # --- prometheus_client: its own decorators, and Luna's hand-written shapes
    p_timed = p_hist.time()(bare)

    def luna_phi(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with p_hist.time():
                return func(*args, **kwargs)

        return wrapper

    def luna_tool(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = func(*args, **kwargs)
                p_tools.labels(tool_name="search", status="success").inc()
                return result
            except Exception:
                p_tools.labels(tool_name="search", status="error").inc()
                raise

        return wrapper

    def luna_insight(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            if result:
                p_insights.labels(type=result.get("type", "unknown")).inc()
            return result

        return wrapper

    def luna_store(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            p_stores.labels(layer=kwargs.get("layer", "unknown")).inc()
            return result

        return wrapper

    p_phi = luna_phi(bare)
    p_ok = luna_tool(bare)
    p_err = luna_tool(raising)
    p_count_exc = p_tools.labels(tool_name="search", status="error").count_exceptions()(bare)
    p_result = luna_insight(make_insight)
    p_arg = luna_store(bare)
    p_stacked = p_hist.time()(luna_tool(bare))

    async def p_async_inner(x: Any) -> Any:
        return x

    async def p_async(x: Any) -> Any:
        with p_hist.time():
            return await p_async_inner(x)

    def calls(fn: Callable[..., Any]) -> Loop:
        def loop(n: int) -> None:
            for _ in range(n):
                fn(1)

        return loop

    def keyword(fn: Callable[..., Any]) -> Loop:
        def loop(n: int) -> None:
            for _ in range(n):
                fn(1, layer="leaf")

        return loop

    def positional(fn: Callable[..., Any]) -> Loop:
        def loop(n: int) -> None:
            for _ in range(n):
                fn(1, "leaf")

        return loop

    def no_args(fn: Callable[[], Any]) -> Loop:
        def loop(n: int) -> None:
            for _ in range(n):
                fn()

        return loop

    def failing(fn: Callable[..., Any]) -> Loop:
        def loop(n: int) -> None:
            for _ in range(n):
                with contextlib.suppress(ValueError):
                    fn(1)

        return loop

    def awaited(fn: Callable[..., Any]) -> Loop:
        async def many(n: int) -> None:
            for _ in range(n):
                await fn(1)

        def loop(n: int) -> None:
            asyncio.run(many(n))

        return loop

    async def bare_async(x: Any) -> Any:
        return x

    return {
        "bare call": (calls(bare), None),
        "bare call, raising": (failing(raising), None),
        "bare async call": (awaited(bare_async), None),
        "timed": (calls(l_timed), calls(p_timed)),
        "timed, hand-written": (None, calls(p_phi)),
        "outcomes, success": (calls(l_ok), calls(p_ok)),
        "outcomes, error": (failing(l_err), failing(p_err)),
        "count_exceptions, success": (None, calls(p_count_exc)),
        "by result": (no_args(l_result), no_args(p_result)),
        "by argument, keyword": (keyword(l_arg), keyword(p_arg)),
        "by argument, positional": (positional(l_arg), None),
        "timed + outcomes, stacked": (calls(l_stacked), calls(p_stacked)),
        "timed + outcomes, instrument()": (calls(l_combined), None),
        "async timed": (awaited(l_async), awaited(p_async)),
    }


def _measure(loops: dict[tuple[str, str], Loop], ops: int, repeats: int) -> dict[tuple[str, str], float]:
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in loops}
    keys = list(loops)
    for key in keys:  # warm-up: memos, bound handles, first series
        loops[key](min(ops, 200))
    for r in range(repeats):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for key in order:
            gc.collect()
            start = process_time_ns()
            loops[key](ops)
            samples[key].append((process_time_ns() - start) / ops)
    return {key: statistics.median(values) for key, values in samples.items()}


def run(quick: bool = False) -> dict[str, Any]:
    """Measure every row; ``quick`` uses tiny batches (a smoke run). Returns rows of ns per call."""
    ops, repeats = (500, 3) if quick else (20_000, 7)
    register(load_catalog(CATALOG))
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none", metrics_exporter="prometheus")
    try:
        cases = _cases()
        loops = {
            (row, col): loop
            for row, pair in cases.items()
            for col, loop in zip(("lukhas", "prom"), pair, strict=True)
            if loop is not None
        }
        medians = _measure(loops, ops, repeats)
    finally:
        lukhas_obs.shutdown()
    base = {
        "sync": medians[("bare call", "lukhas")],
        "raising": medians[("bare call, raising", "lukhas")],
        "async": medians[("bare async call", "lukhas")],
    }
    rows = []
    for row in cases:
        baseline = base["raising"] if "error" in row else base["async"] if "async" in row else base["sync"]
        entry: dict[str, Any] = {"case": row}
        for col in ("lukhas", "prom"):
            value = medians.get((row, col))
            entry[f"{col}_ns"] = value
            entry[f"{col}_over_bare_ns"] = None if value is None or row.startswith("bare") else value - baseline
        rows.append(entry)
    return {"ops": ops, "repeats": repeats, "python": sys.version.split()[0], "rows": rows}


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def render(report: dict[str, Any]) -> str:
    lines = [
        f"Python {report['python']}, {report['ops']:,} calls x {report['repeats']} batches, ns per call (median)",
        "",
        "| case | lukhas-obs | over bare | prometheus_client | over bare |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['case']} | {_cell(row['lukhas_ns'])} | {_cell(row['lukhas_over_bare_ns'])} "
            f"| {_cell(row['prom_ns'])} | {_cell(row['prom_over_bare_ns'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_decorators", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches: a smoke run (< 5 s)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    print(render(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
