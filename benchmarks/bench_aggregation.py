"""Own aggregation vs prometheus_client vs the raw OTel SDK, side by side in one process.

Run from the repository root::

    python -m benchmarks.bench_aggregation            # full run (well under a minute on 2 cores)
    python -m benchmarks.bench_aggregation --quick    # tiny batches: checks that every case runs, numbers are noise

What is measured (medians over interleaved batches, ns per operation including the loop, which is reported):

- **hot path**: a pre-bound series method of :mod:`lukhas_obs.aggregation` (``series.record``/``add``/``set``)
  vs prometheus_client's bound child (``.observe``/``.inc``/``.set``) vs the raw OTel SDK instrument with the
  same two attributes (``hist.record(x, attrs)``). Both MeterProviders have the same two readers (a Prometheus
  reader on a private registry and an in-memory reader standing in for OTLP), so the engine keeps two reader slots
  and the SDK two aggregations per series. The exemplar filter is the SDK default (``trace_based``) unless a row
  says otherwise; "sampled span" rows record inside a current sampled span (the exemplar slow path).
- **collect**: one in-memory reader collection of N histogram series (each with a few measurements), through the
  SDK's reader path (``get_metrics_data()``) for both: own aggregation merged by the compatibility seam vs plain
  SDK aggregation; and one ``/metrics`` rendering (``generate_latest``) through the OTel Prometheus exporter, which
  converts and renders the same data for both (most of that time is the exporter's and prometheus_client's).
- **memory per series**: tracemalloc growth creating N histogram series (one measurement each), divided by N.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import random
import statistics
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from time import perf_counter_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics import _Gauge as Gauge
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOffExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PCounter
from prometheus_client import Gauge as PGauge
from prometheus_client import Histogram as PHistogram

from lukhas_obs._compat.metric_producer import install
from lukhas_obs.aggregation import Aggregator

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ATTRS = {"lane": "candidate", "service": "lukhas-bench"}
RESOURCE = Resource({"service.name": "lukhas-bench"})
_INSTRUMENTS = (Counter, UpDownCounter, Histogram, Gauge)


@dataclass
class Config:
    batch_ops: int
    repeats: int
    collect_sizes: tuple[int, ...]
    collect_repeats: int
    memory_series: int


FULL = Config(
    batch_ops=20_000, repeats=7, collect_sizes=(10, 100, 1_000, 10_000), collect_repeats=3, memory_series=5_000
)
QUICK = Config(batch_ops=300, repeats=2, collect_sizes=(10, 100), collect_repeats=1, memory_series=200)


def providers(exemplar_filter: Any = None) -> tuple[MeterProvider, InMemoryMetricReader]:
    """A provider with a Prometheus reader (its registry in :data:`REGISTRIES`) and an in-memory reader."""
    registry = CollectorRegistry(auto_describe=True)
    # no SDK overflow series below 20k series (its default limit, 2000, would make larger SDK runs look cheap)
    memory = InMemoryMetricReader(cardinality_limits=dict.fromkeys(_INSTRUMENTS, 20_000))
    prom = PrometheusMetricReader(
        disable_target_info=False,
        scope_info_enabled=False,
        registry=registry,
        cardinality_limits=dict.fromkeys(_INSTRUMENTS, 20_000),
    )
    provider = MeterProvider(
        metric_readers=[prom, memory], resource=RESOURCE, shutdown_on_exit=False, exemplar_filter=exemplar_filter
    )
    REGISTRIES[provider] = registry
    return provider, memory


REGISTRIES: dict[MeterProvider, CollectorRegistry] = {}


def own(exemplar_filter: Any = None, locked: bool | None = None) -> tuple[Aggregator, MeterProvider, Any]:
    provider, memory = providers(exemplar_filter)
    aggregator = Aggregator(locked=locked)
    install(provider, aggregator, scope_name="lukhas_obs", scope_version="bench")
    return aggregator, provider, memory


def time_case(fn: Callable[[Any], Any], values: list[Any], ops: int) -> float:
    """ns per call of ``fn`` over ``ops`` calls (values cycled), loop included."""
    rounds = max(1, ops // len(values))
    gc.collect()
    start = perf_counter_ns()
    for _ in range(rounds):
        for v in values:
            fn(v)
    return (perf_counter_ns() - start) / (rounds * len(values))


def hot_path(config: Config) -> list[tuple[str, float, float | None, float | None]]:
    rng = random.Random(7)
    values = [rng.random() * 3 for _ in range(1000)]
    # own aggregation
    agg, own_provider, _ = own()
    hist = agg.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS).series(ATTRS)
    cnt = agg.metric("bench.docs", "d", "1", "counter").series(ATTRS)
    updown = agg.metric("bench.inflight", "d", "1", "updown_counter").series(ATTRS)
    gauge = agg.metric("bench.level", "d", "1", "gauge").series(ATTRS)
    agg_off, off_provider, _ = own(AlwaysOffExemplarFilter())
    hist_off = agg_off.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS).series(ATTRS)
    agg_locked, locked_provider, _ = own(locked=True)
    hist_locked = agg_locked.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS).series(ATTRS)
    cnt_locked = agg_locked.metric("bench.docs", "d", "1", "counter").series(ATTRS)
    # raw OTel SDK
    sdk_provider, _ = providers()
    meter = sdk_provider.get_meter("raw", "1")
    o_hist = meter.create_histogram(
        "bench.search", unit="s", description="d", explicit_bucket_boundaries_advisory=list(BUCKETS)
    )
    o_cnt = meter.create_counter("bench.docs")
    o_updown = meter.create_up_down_counter("bench.inflight")
    o_gauge = meter.create_gauge("bench.level")
    # prometheus_client bound children
    reg = CollectorRegistry()
    p_hist = PHistogram("bench_search_seconds", "d", list(ATTRS), registry=reg, buckets=BUCKETS).labels(**ATTRS)
    p_cnt = PCounter("bench_docs", "d", list(ATTRS), registry=reg).labels(**ATTRS)
    p_gauge = PGauge("bench_level", "d", list(ATTRS), registry=reg).labels(**ATTRS)

    ones = [1] * len(values)
    Case = tuple[Callable[[Any], Any], Callable[[Any], Any] | None, Callable[[Any], Any] | None, list[Any]]
    cases: dict[str, Case] = {
        "histogram record": (hist.record, p_hist.observe, lambda v: o_hist.record(v, ATTRS), values),
        "counter add": (cnt.add, p_cnt.inc, lambda v: o_cnt.add(v, ATTRS), ones),
        "up-down counter add": (updown.add, p_gauge.inc, lambda v: o_updown.add(v, ATTRS), values),
        "gauge set": (gauge.set, p_gauge.set, lambda v: o_gauge.set(v, ATTRS), values),
        "histogram record, exemplar filter always_off": (hist_off.record, p_hist.observe, None, values),
        "histogram record, locked path (free-threaded builds)": (hist_locked.record, p_hist.observe, None, values),
        "counter add, locked path": (cnt_locked.add, p_cnt.inc, None, ones),
        "empty loop (included in every row)": (lambda v: None, None, None, values),
    }
    rows: dict[str, list[list[float]]] = {name: [[], [], []] for name in cases}
    for _ in range(config.repeats):
        for name, (*fns, inputs) in cases.items():
            for column, fn in enumerate(fns):
                if fn is not None:
                    ops = config.batch_ops if column != 2 else max(1, config.batch_ops // 10)
                    rows[name][column].append(time_case(fn, inputs, ops))
    # inside a sampled span: the exemplar slow path, own vs raw OTel
    span = NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    sampled: list[list[float]] = [[], [], []]
    with trace.use_span(span, end_on_exit=False):
        for _ in range(config.repeats):
            sampled[0].append(time_case(hist.record, values, max(1, config.batch_ops // 4)))
            sampled[2].append(time_case(lambda v: o_hist.record(v, ATTRS), values, max(1, config.batch_ops // 20)))
    rows["histogram record inside a sampled span (exemplars)"] = sampled
    for provider in (own_provider, off_provider, locked_provider, sdk_provider):
        provider.shutdown()
    out = []
    for name, (a, b, c) in rows.items():
        out.append(
            (
                name,
                statistics.median(a),
                statistics.median(b) if b else None,
                statistics.median(c) if c else None,
            )
        )
    return out


def collect(config: Config) -> list[tuple[int, float, float, float, float]]:
    """Per size: (n, own collect ms, SDK collect ms, own scrape ms, SDK scrape ms)."""
    rng = random.Random(3)
    out = []
    for n in config.collect_sizes:
        agg, own_provider, own_memory = own()
        state = agg.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS)
        sdk_provider, sdk_memory = providers()
        o_hist = sdk_provider.get_meter("lukhas_obs", "bench").create_histogram(
            "bench.search", unit="s", description="d", explicit_bucket_boundaries_advisory=list(BUCKETS)
        )
        for i in range(n):
            attrs = {"lane": "candidate", "route": f"r{i}"}
            series = state.series(attrs)
            for _ in range(3):
                v = rng.random()
                series.record(v)
                o_hist.record(v, attrs)
        for reader, provider in ((own_memory, own_provider), (sdk_memory, sdk_provider)):  # warm-up, untimed
            reader.get_metrics_data()
            generate_latest(REGISTRIES[provider])
        times: list[list[float]] = [[], [], [], []]
        repeats = config.collect_repeats if n < 10_000 else min(2, config.collect_repeats)
        for _ in range(repeats):
            for column, reader in enumerate((own_memory, sdk_memory)):
                gc.collect()
                start = perf_counter_ns()
                data = reader.get_metrics_data()
                times[column].append((perf_counter_ns() - start) / 1e6)
                assert data is not None
            for column, provider in enumerate((own_provider, sdk_provider)):
                gc.collect()
                start = perf_counter_ns()
                body = generate_latest(REGISTRIES[provider])
                times[2 + column].append((perf_counter_ns() - start) / 1e6)
                assert body.count(b"_count{") == n
        out.append((n, *(statistics.median(t) for t in times)))  # type: ignore[arg-type]
        own_provider.shutdown()
        sdk_provider.shutdown()
    return out


def _own_series_maker() -> tuple[Callable[[dict[str, str]], None], MeterProvider]:
    agg, provider, _ = own()
    state = agg.metric("bench.search", "d", "s", "histogram", buckets=BUCKETS)

    def make(a: dict[str, str]) -> None:
        state.series(a).record(0.1)

    return make, provider


def _sdk_series_maker() -> tuple[Callable[[dict[str, str]], None], MeterProvider]:
    provider, _ = providers()
    hist = provider.get_meter("lukhas_obs", "bench").create_histogram(
        "bench.search", unit="s", description="d", explicit_bucket_boundaries_advisory=list(BUCKETS)
    )

    def make(a: dict[str, str]) -> None:
        hist.record(0.1, a)

    return make, provider


def memory(config: Config) -> tuple[float, float]:
    """Bytes per series: tracemalloc growth over N new series (after a first one: classes, instruments, views)."""
    n = config.memory_series
    attrs = [{"lane": "candidate", "route": f"r{i}"} for i in range(n)]
    results = []
    for factory in (_own_series_maker, _sdk_series_maker):
        make, provider = factory()
        make(attrs[0])
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for a in attrs[1:]:
            make(a)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        results.append((after - before) / (n - 1))
        provider.shutdown()
    return results[0], results[1]


def _ratio(a: float, b: float | None) -> str:
    return f"{a / b:.2f}×" if b else "—"


def _ns(v: float | None) -> str:
    return f"{v:,.0f}" if v is not None else "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches (a smoke run; numbers are noise)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    started = perf_counter_ns()
    print(
        f"# bench_aggregation: Python {platform.python_version()} ({platform.machine()}), "
        f"opentelemetry-sdk {metadata.version('opentelemetry-sdk')}, "
        f"prometheus_client {metadata.version('prometheus_client')}, GIL {'off' if Aggregator().locked else 'on'}"
    )
    print()
    print("| operation (ns, medians) | own | prometheus_client bound child | raw OTel SDK | own / prom | own / OTel |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, a, b, c in hot_path(config):
        print(f"| {name} | {_ns(a)} | {_ns(b)} | {_ns(c)} | {_ratio(a, b)} | {_ratio(a, c)} |")
    print()
    print(
        "| histogram series | in-memory collect, own (ms) | plain SDK (ms) | own / SDK "
        "| Prometheus scrape via the OTel exporter, own (ms) | plain SDK (ms) | own / SDK |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, a, b, c, d in collect(config):
        print(f"| {n:,} | {a:.2f} | {b:.2f} | {_ratio(a, b)} | {c:.1f} | {d:.1f} | {_ratio(c, d)} |")
    print()
    own_bytes, sdk_bytes = memory(config)
    print("| memory per histogram series (bytes, 2 readers, incl. the attribute dict) | own | SDK | own / SDK |")
    print("|---|---:|---:|---:|")
    print(f"| {config.memory_series:,} series | {own_bytes:,.0f} | {sdk_bytes:,.0f} | {_ratio(own_bytes, sdk_bytes)} |")
    print()
    print(f"total {(perf_counter_ns() - started) / 1e9:.1f} s; command: {' '.join([sys.executable, *sys.argv])}")
    return 0 if math.isfinite(own_bytes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
