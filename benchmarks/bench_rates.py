"""Cost of :class:`lukhas_obs.rates.RateOfChange`: an update, a read of full windows, the memory of full windows.

Run from the repository root::

    python -m benchmarks.bench_rates            # a few seconds
    python -m benchmarks.bench_rates --quick    # tiny batches: checks that every case runs, numbers are noise

Cases (the seed's three windows, 30 s / 60 s / 300 s, at the default ``max_samples``), medians over batches,
ns per operation including the loop:

- ``update_ns_explicit_t``: ``update(v, t=...)`` with timestamps 1 ms apart (1 kHz: buckets merge samples);
- ``update_ns_1hz``: the same 1 s apart (every update closes a bucket into the ring and ages one out);
- ``update_ns_clock``: ``update(v)`` reading ``time.monotonic`` under the lock;
- ``read_full_ms``: ``rates()`` when every window holds its maximum number of entries (the worst scrape);
- ``full_entries`` / ``full_bytes``: entries kept and tracemalloc growth of one object with full windows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tracemalloc
from time import perf_counter_ns
from typing import Any

from lukhas_obs.rates import RateOfChange


def _median_ns(fn: Any, ops: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = perf_counter_ns()
        fn(ops)
        samples.append((perf_counter_ns() - start) / ops)
    return statistics.median(samples)


def _full(seconds: float = 400.0, step: float = 0.001) -> RateOfChange:
    """An object fed at 1 kHz for longer than its longest window: every window at its entry bound."""
    roc = RateOfChange(clock=lambda: seconds)
    for i in range(int(seconds / step)):
        roc.update(0.75 + 1e-4 * (i % 100), t=i * step)
    return roc


def run(quick: bool = False) -> dict[str, float]:
    """Measure every case; ``quick`` uses tiny batches (a smoke run)."""
    ops, repeats = (500, 3) if quick else (50_000, 7)

    roc = RateOfChange()
    state = {"i": 0}

    def explicit(n: int) -> None:
        update, i = roc.update, state["i"]
        for k in range(i, i + n):
            update(0.75, t=k * 0.001)
        state["i"] = i + n

    sparse = RateOfChange()
    sparse_state = {"i": 0}

    def one_hertz(n: int) -> None:
        update, i = sparse.update, sparse_state["i"]
        for k in range(i, i + n):
            update(0.75, t=float(k))
        sparse_state["i"] = i + n

    clock_roc = RateOfChange()

    def clocked(n: int) -> None:
        update = clock_roc.update
        for _ in range(n):
            update(0.75)

    report: dict[str, float] = {
        "update_ns_explicit_t": _median_ns(explicit, ops, repeats),
        "update_ns_1hz": _median_ns(one_hertz, ops, repeats),
        "update_ns_clock": _median_ns(clocked, ops, repeats),
    }

    seconds = 40.0 if quick else 400.0
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    full = _full(seconds)
    report["full_bytes"] = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    report["full_entries"] = full.sample_count()
    reads = 5 if quick else 50
    report["read_full_ms"] = _median_ns(lambda n: [full.rates() for _ in range(n)], reads, repeats) / 1e6
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_rates", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches: a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    print(f"Python {sys.version.split()[0]}, windows 30s/60s/300s, default max_samples")
    print("| case | value |\n|---|---:|")
    for key, value in report.items():
        print(f"| {key} | {value:,.2f} |" if isinstance(value, float) else f"| {key} | {value:,} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
