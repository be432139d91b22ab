"""Multiprocess mode vs the in-process fast path vs prometheus_client's multiprocess mode.

Run from the repository root::

    python -m benchmarks.bench_multiprocess            # full run (about a minute on 2 cores)
    python -m benchmarks.bench_multiprocess --quick    # small batches, fewer repeats (under 40 s; ratios indicative)
    python -m benchmarks.bench_multiprocess --json out.json

What is measured (medians over interleaved batches, ns per operation including the loop):

- **record**, per kind, with the attributes bound beforehand: a :class:`lukhas_obs.multiprocess.ProcessStore`
  series method (this process's own memory-mapped file, under ``--dir`` or a temporary directory; ``/dev/shm`` is
  the recommended place) vs the in-process fast path (a bound series method of :mod:`lukhas_obs.aggregation`,
  published to one reader: the default ``/metrics``-only configuration; a second row with two readers, as with
  OTLP too) vs prometheus_client's multiprocess mode (a bound child ``.observe``/``.inc``/``.set``, in a subprocess
  because ``PROMETHEUS_MULTIPROC_DIR`` must be set before prometheus_client is imported). Exemplar filters are the
  defaults (``trace_based``, no span current). Gauges: the store's ``last`` mode (a ``time_ns()`` per set, like
  prometheus_client's ``mostrecent``) and ``sum`` (like ``livesum``); the ``time_ns`` column is the clock read
  alone (a system call on some virtual machines: then the ``last`` gauge's ratio is the clock's, not the store's).
- **merge + render** of 4 worker processes × 1,000 histogram series (the same series in each, 3 measurements per
  series and process, 9 bucket bounds): :class:`MultiprocessCollector` (warm: what a ``/metrics`` endpoint pays at
  each scrape after the first) and one-shot :func:`collect` (cold: parses every file), each followed by
  :func:`lukhas_obs.exporters.render.render` (Prometheus text), vs prometheus_client's ``MultiProcessCollector`` in a
  fresh registry + ``generate_latest`` (what its documented ``/metrics`` handler does per request).

Targets (ratios of medians in one run): record ≤ 2× the in-process fast path and ≤ 0.2× prometheus_client's
multiprocess mode, per kind; merge + render ≤ 0.05× prometheus_client. Nothing is asserted; the JSON names each
target as ``"<what> (target <= X)": ratio`` for ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from time import perf_counter_ns, time_ns
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from lukhas_obs._compat.metric_producer import install
from lukhas_obs.aggregation import Aggregator
from lukhas_obs.exporters.render import render
from lukhas_obs.multiprocess import MultiprocessCollector, ProcessStore, collect

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ATTRS = {"lane": "candidate", "service": "lukhas-bench"}
KINDS = ("histogram", "counter", "updown_counter", "gauge_last", "gauge_sum")
RECORD_LIMIT_FAST = 2.0
RECORD_LIMIT_PROM = 0.2
MERGE_LIMIT = 0.05


@dataclass
class Config:
    batch_ops: int
    repeats: int
    merge_repeats: int
    series: int = 1000
    workers: int = 4


FULL = Config(batch_ops=50_000, repeats=9, merge_repeats=7)
QUICK = Config(batch_ops=10_000, repeats=5, merge_repeats=3)


def _values() -> list[float]:
    return [((i * 7919) % 1000) / 400 for i in range(1000)]  # 0 … 2.5, deterministic


def _time(fn: Callable[[Any], Any], values: list[Any], ops: int) -> float:
    rounds = max(1, ops // len(values))
    start = perf_counter_ns()
    for _ in range(rounds):
        for v in values:
            fn(v)
    return (perf_counter_ns() - start) / (rounds * len(values))


def _aggregator(readers: int) -> tuple[Aggregator, MeterProvider]:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader() for _ in range(readers)], shutdown_on_exit=False)
    agg = Aggregator()
    install(provider, agg, scope_name="lukhas_obs", scope_version="bench")
    return agg, provider


def _agg_methods(agg: Aggregator) -> dict[str, Callable[[Any], Any]]:
    return {
        "histogram": agg.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS).series(ATTRS).record,
        "counter": agg.metric("bench.docs", "d", "1", "counter").series(ATTRS).add,
        "updown_counter": agg.metric("bench.inflight", "d", "1", "updown_counter").series(ATTRS).add,
        "gauge_last": agg.metric("bench.level", "d", "1", "gauge").series(ATTRS).set,
        "gauge_sum": agg.metric("bench.level2", "d", "1", "gauge").series(ATTRS).set,
    }


def _store_methods(store: ProcessStore) -> dict[str, Callable[[Any], Any]]:
    return {
        "histogram": store.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS).series(ATTRS).record,
        "counter": store.metric("bench.docs", "d", "1", "counter").series(ATTRS).add,
        "updown_counter": store.metric("bench.inflight", "d", "1", "updown_counter").series(ATTRS).add,
        "gauge_last": store.metric("bench.level", "d", "1", "gauge", gauge_mode="last").series(ATTRS).set,
        "gauge_sum": store.metric("bench.level2", "d", "1", "gauge", gauge_mode="sum").series(ATTRS).set,
    }


def _inputs(kind: str) -> list[Any]:
    return [1] * 1000 if kind == "counter" else _values()


def record_in_process(config: Config, directory: str) -> dict[str, dict[str, float]]:
    """kind → {"store", "fast", "fast_2_readers", "loop"} medians in ns."""
    agg1, p1 = _aggregator(1)
    agg2, p2 = _aggregator(2)
    store = ProcessStore(directory)
    columns = {"store": _store_methods(store), "fast": _agg_methods(agg1), "fast_2_readers": _agg_methods(agg2)}
    samples: dict[str, dict[str, list[float]]] = {k: {c: [] for c in (*columns, "loop", "clock")} for k in KINDS}
    for _ in range(config.repeats):
        for kind in KINDS:
            inputs = _inputs(kind)
            for column, methods in columns.items():
                samples[kind][column].append(_time(methods[kind], inputs, config.batch_ops))
            samples[kind]["loop"].append(_time(lambda v: None, inputs, config.batch_ops))
            samples[kind]["clock"].append(_time(lambda v: time_ns(), inputs, config.batch_ops))
    store.close()
    p1.shutdown()
    p2.shutdown()
    return {k: {c: statistics.median(v) for c, v in cols.items()} for k, cols in samples.items()}


_PROM_RECORD = textwrap.dedent(
    """
    import json, os, statistics, sys
    from time import perf_counter_ns, time_ns
    from prometheus_client import Counter, Gauge, Histogram
    ops, repeats = int(sys.argv[1]), int(sys.argv[2])
    attrs = {"lane": "candidate", "service": "lukhas-bench"}
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
    values = [((i * 7919) % 1000) / 400 for i in range(1000)]
    children = {
        "histogram": Histogram("bench_search_seconds", "d", list(attrs), buckets=buckets).labels(**attrs).observe,
        "counter": Counter("bench_docs", "d", list(attrs)).labels(**attrs).inc,
        "updown_counter": Gauge("bench_inflight", "d", list(attrs), multiprocess_mode="livesum").labels(**attrs).inc,
        "gauge_last": Gauge("bench_level", "d", list(attrs), multiprocess_mode="mostrecent").labels(**attrs).set,
        "gauge_sum": Gauge("bench_level2", "d", list(attrs), multiprocess_mode="livesum").labels(**attrs).set,
    }
    def timed(fn, inputs):
        rounds = max(1, ops // len(inputs))
        start = perf_counter_ns()
        for _ in range(rounds):
            for v in inputs:
                fn(v)
        return (perf_counter_ns() - start) / (rounds * len(inputs))
    out = {k: [] for k in children}
    for _ in range(repeats):
        for kind, fn in children.items():
            out[kind].append(timed(fn, [1] * 1000 if kind == "counter" else values))
    print(json.dumps({k: statistics.median(v) for k, v in out.items()}))
    """
)


def record_prometheus_client(config: Config, directory: str) -> dict[str, float]:
    """kind → prometheus_client multiprocess bound child, median ns (a subprocess with PROMETHEUS_MULTIPROC_DIR)."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
    ops = max(1000, config.batch_ops // 4)  # about 1.5 µs each: fewer operations for the same batch time
    run = subprocess.run(
        [sys.executable, "-c", _PROM_RECORD, str(ops), str(config.repeats)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


_PROM_WORKER = textwrap.dedent(
    """
    import sys
    from prometheus_client import Histogram
    n = int(sys.argv[1])
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
    h = Histogram("lukhas_memory_search_seconds", "Search latency", ["lane", "service", "route"], buckets=buckets)
    for i in range(n):
        child = h.labels("candidate", "lukhas-bench", f"r{i}")
        for v in (0.003, 0.02, 0.3):
            child.observe(v)
    """
)

_PROM_MERGE = textwrap.dedent(
    """
    import json, statistics, sys
    from time import perf_counter_ns, time_ns
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    path, repeats = sys.argv[1], int(sys.argv[2])
    out = []
    for _ in range(repeats):
        start = perf_counter_ns()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        body = generate_latest(registry)
        out.append((perf_counter_ns() - start) / 1e6)
    print(json.dumps({"ms": statistics.median(out), "bytes": len(body)}))
    """
)


def _store_worker(directory: str, n: int) -> None:  # pragma: no cover - runs in a forked child
    store = ProcessStore(directory)
    metric = store.metric("lukhas.memory.search", "Search latency", "s", "histogram", buckets=BUCKETS)
    for i in range(n):
        series = metric.series({"lane": "candidate", "service": "lukhas-bench", "route": f"r{i}"})
        for v in (0.003, 0.02, 0.3):
            series.record(v)


def merge_and_render(config: Config, base: str) -> dict[str, Any]:
    """Our warm and cold merge + render vs prometheus_client's, in ms (medians), and the rendered sizes."""
    ours = os.path.join(base, "lkmp")
    theirs = os.path.join(base, "prom")
    os.makedirs(ours)
    os.makedirs(theirs)
    pids = []
    for _ in range(config.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                _store_worker(ours, config.series)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=theirs)
    prom_workers = [
        subprocess.Popen([sys.executable, "-c", _PROM_WORKER, str(config.series)], env=env)
        for _ in range(config.workers)
    ]
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError("a store worker failed")
    for proc in prom_workers:
        if proc.wait(timeout=120) != 0:
            raise RuntimeError("a prometheus_client worker failed")
    warm, cold, warm_collect, cold_collect = [], [], [], []
    collector = MultiprocessCollector(ours)
    collector.collect()  # the first scrape parses the files
    body = b""
    for _ in range(config.merge_repeats):
        start = perf_counter_ns()
        data, stats = collector.collect()
        mid = perf_counter_ns()
        body = render(data, openmetrics=False)
        end = perf_counter_ns()
        warm.append((end - start) / 1e6)
        warm_collect.append((mid - start) / 1e6)
        start = perf_counter_ns()
        data, stats = collect(ours)
        mid = perf_counter_ns()
        render(data, openmetrics=False)
        end = perf_counter_ns()
        cold.append((end - start) / 1e6)
        cold_collect.append((mid - start) / 1e6)
    if stats.processes != config.workers or stats.points != config.series:
        raise RuntimeError(f"unexpected merge: {stats}")
    run = subprocess.run(
        [sys.executable, "-c", _PROM_MERGE, theirs, str(config.merge_repeats)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    prom = json.loads(run.stdout.strip().splitlines()[-1])
    return {
        "warm_ms": statistics.median(warm),
        "warm_collect_ms": statistics.median(warm_collect),
        "cold_ms": statistics.median(cold),
        "cold_collect_ms": statistics.median(cold_collect),
        "prometheus_client_ms": prom["ms"],
        "bytes": len(body),
        "prometheus_client_bytes": prom["bytes"],
    }


def run(config: Config, directory: str | None = None) -> dict[str, Any]:
    base = tempfile.mkdtemp(prefix="lkmp-bench-", dir=directory)
    try:
        store_dir = os.path.join(base, "record")
        prom_dir = os.path.join(base, "record-prom")
        os.makedirs(prom_dir)
        prom = record_prometheus_client(config, prom_dir)
        record = record_in_process(config, store_dir)
        merge = merge_and_render(config, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    targets: dict[str, float] = {}
    for kind in KINDS:
        row = record[kind]
        targets[f"record {kind}: multiprocess store / in-process fast path (target <= {RECORD_LIMIT_FAST:g})"] = (
            row["store"] / row["fast"]
        )
        name = f"record {kind}: multiprocess store / prometheus_client multiprocess (target <= {RECORD_LIMIT_PROM:g})"
        targets[name] = row["store"] / prom[kind]
    targets[f"merge+render 4 workers x 1k series: warm / prometheus_client (target <= {MERGE_LIMIT:g})"] = (
        merge["warm_ms"] / merge["prometheus_client_ms"]
    )
    return {
        "record_ns": {k: {**record[k], "prometheus_client": prom[k]} for k in KINDS},
        "merge_ms": merge,
        "cold merge+render / prometheus_client (no target)": merge["cold_ms"] / merge["prometheus_client_ms"],
        "targets": targets,
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "opentelemetry-sdk": metadata.version("opentelemetry-sdk"),
            "prometheus_client": metadata.version("prometheus_client"),
            "directory": directory or tempfile.gettempdir(),
        },
    }


def _print(result: dict[str, Any]) -> None:
    print("record (ns per operation, loop included; medians)")
    print(f"  {'kind':<16}{'store':>10}{'fast 1r':>10}{'fast 2r':>10}{'prom mp':>10}{'loop':>8}{'time_ns':>9}")
    for kind, row in result["record_ns"].items():
        print(
            f"  {kind:<16}{row['store']:>10.0f}{row['fast']:>10.0f}{row['fast_2_readers']:>10.0f}"
            f"{row['prometheus_client']:>10.0f}{row['loop']:>8.0f}{row['clock']:>9.0f}"
        )
    print("  (store gauge_last pays one time.time_ns() per set: the 'time_ns' column is that call with the loop)")
    m = result["merge_ms"]
    print("merge + render, 4 workers x 1k histogram series (ms, medians)")
    print(f"  ours warm {m['warm_ms']:.1f} (collect {m['warm_collect_ms']:.1f}), cold {m['cold_ms']:.1f} "
          f"(collect {m['cold_collect_ms']:.1f}); prometheus_client {m['prometheus_client_ms']:.1f}")  # fmt: skip
    print(f"  cold / prometheus_client: {result['cold merge+render / prometheus_client (no target)']:.3f}")
    print("targets")
    for name, ratio in result["targets"].items():
        limit = float(name.rsplit("<=", 1)[1].rstrip(")"))
        print(f"  {'PASS' if ratio <= limit else 'MISS'} {ratio:6.3f}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches, fewer repeats (under 40 s)")
    parser.add_argument("--dir", default=None, help="where the files go (default: the temporary directory)")
    parser.add_argument("--json", default=None, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else FULL, args.dir)
    result["quick"] = bool(args.quick)
    _print(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
