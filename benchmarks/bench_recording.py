"""Recording-path benchmark: lukhas-obs, the raw OpenTelemetry SDK and prometheus_client side by side, in one process.

Run from the repository root::

    python -m benchmarks                                  # this suite + the span/scrape benches: one target table
    python -m benchmarks.bench_recording                 # this suite alone (about 2 minutes on 2 cores)
    python -m benchmarks.bench_recording --quick         # every case, tiny batches (< 60 s): the numbers are noise
    python -m benchmarks.bench_recording --json out.json # also every sample, ratio, target and the environment
    python -m benchmarks.bench_recording --only bound,unbound   # some groups only

Why one process: the libraries then share the interpreter, the CPU frequency state and the moment in time, and their
batches are interleaved (the order rotates every repeat), so a ratio between them is far more stable than a ratio
between two separate runs. Each figure is the median over ``repeats`` batches of ns per operation; one batch is sized
by calibration to take ``--batch-ms``. Batches are timed with the process CPU clock by default (every thread of the
process — the span processor's export thread counts — and none of the time the scheduler gives other processes,
which matters on a shared machine); ``--clock wall`` times wall time. The garbage collector stays on and is emptied
before every batch. Figures include the benchmark loop itself (reported as "empty loop").

Columns (the same label values everywhere: lane ``candidate``, service ``lukhas-bench``):

- **lukhas** — lukhas-obs as configured by default: handles record into its own aggregation
  (:mod:`lukhas_obs.aggregation`, published to the SDK's readers). **lukhas (sdk)** — the same calls with
  ``configure(aggregation="sdk")``: handles record through the OTel SDK's instruments. Both configurations are built
  once and swapped per batch (:mod:`lukhas_obs._state` holds the whole active configuration), so they are measured
  interleaved with the others.
- **raw OTel** — a ``MeterProvider`` with the same reader kind, the catalog's explicit buckets, attributes passed as
  the dict hand-written code builds; spans via ``start_as_current_span``; no-op rows use the API's no-op objects.
- **prometheus_client** — metrics on a private ``CollectorRegistry`` with the same names, labels and buckets:
  "bound" rows use a child bound once (``.labels(...)`` at set-up), "unbound" rows call ``.labels(...)`` per
  operation. It has no spans and no no-op mode.

Groups (``--only``): ``bound`` and ``unbound`` (each kind, 0/1/2/5 call-time attributes, on a benchmark catalog this
module registers), ``spans`` (``@timed``, the identity flow, ``span()``), ``disabled`` (not configured and
``OTEL_SDK_DISABLED=true``), ``scrape`` (``/metrics`` at 10…10k series), ``collect`` (one periodic OTLP reader
collection, exporter excluded), ``memory`` (bytes per series). Every target of the issue is a row of the target
table: measured ratio, limit, PASS or MISS.

Exemplars: every MeterProvider reads ``OTEL_METRICS_EXEMPLAR_FILTER`` at construction; the benchmark sets it
(default ``trace_based``, the SDK's own default) before building any, so all columns run the same filter.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from time import perf_counter, perf_counter_ns, process_time_ns
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Counter as SDKCounter
from opentelemetry.sdk.metrics import Histogram as SDKHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics import UpDownCounter as SDKUpDownCounter
from opentelemetry.sdk.metrics import _Gauge as SDKGauge
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult, SpanProcessor
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

import lukhas_obs
from lukhas_obs import _state, runtime
from lukhas_obs.catalog import Catalog, find_metric, load_catalog, register
from lukhas_obs.exporters.sanitize import ByteBudget, SanitizingSpanExporter
from lukhas_obs.exporters.selfmetrics import CountingSpanExporter, QueueWatch
from lukhas_obs.flows import identity
from lukhas_obs.scrubbing import ScrubbingSpanExporter

__all__ = [
    "FULL",
    "GROUPS",
    "QUICK",
    "TITLES",
    "Config",
    "Row",
    "Target",
    "main",
    "render_markdown",
    "render_targets",
    "run",
]

LANE = "candidate"
SERVICE = "lukhas-bench"
BASE: dict[str, str] = {"lane": LANE, "service": SERVICE}
TIER = "T2"
REASON = "invalid_credentials"
VALUE = 0.012  # seconds: lands mid-bucket
SEARCH = "lukhas_memory_search_seconds"  # the core's histogram `@timed` records into
AUTH_LATENCY = "lukhas_auth_latency_seconds"
AUTH_FAILURES = "lukhas_auth_failures_total"
SPAN_NAME = "memory.query"

#: The SDK's default per-reader cardinality limit: lukhas' readers keep it, so ``aggregation="sdk"`` folds series
#: past it into one overflow series (the own aggregation does not go through it).
SDK_READER_LIMIT = 2000
_SDK_OVERFLOW = "aggregation=sdk not measured: lukhas' readers keep the SDK's 2,000-series limit (overflow). "

#: Column keys and their titles, in table order.
TITLES: dict[str, str] = {
    "lukhas": "lukhas-obs",
    "lukhas_sdk": "lukhas-obs (aggregation=sdk)",
    "lukhas_chain": "lukhas-obs + its span export chain",
    "lukhas_exporter": "lukhas-obs via the OTel exporter",
    "otel": "raw OTel SDK",
    "otel_noop": "OTel no-op API",
    "prom": "prometheus_client",
}

GROUPS: tuple[str, ...] = ("bound", "unbound", "spans", "disabled", "scrape", "collect", "memory")

Batch = Callable[[int], None]
"""Runs one operation ``n`` times; the unit every measurement times."""


@dataclass(frozen=True)
class Config:
    """How hard to measure."""

    repeats: int  # batches per figure (recording, span and no-op rows)
    batch_ns: int  # CPU (or wall) time one batch should take
    max_ops: int  # ops cap per batch
    sizes: tuple[int, ...]  # series counts of the scrape and collect rows
    size_repeats: int  # scrapes/collections per figure below 10k series
    big_repeats: int  # ... at 10k series and more
    memory_series: int  # series created for the memory row
    big_references: bool = True  # reference columns (lukhas through the OTel exporter) at 10k series and more


FULL = Config(
    repeats=7,
    batch_ns=40_000_000,
    max_ops=2_000_000,
    sizes=(10, 100, 1_000, 10_000),
    size_repeats=7,
    big_repeats=3,
    memory_series=10_000,
)
QUICK = Config(
    repeats=3,
    batch_ns=1_000_000,
    max_ops=5_000,
    sizes=(10, 100, 1_000, 10_000),
    size_repeats=3,
    big_repeats=1,
    memory_series=10_000,
    big_references=False,
)


@dataclass
class Row:
    """One case: the median of each column, the ratios between columns and the raw samples.

    ``unit``: ``ns`` (per operation), ``ms`` (values are still ns; shown in ms) or ``B`` (bytes per series).
    """

    id: str
    group: str
    operation: str
    unit: str
    medians: dict[str, float]
    ratios: dict[str, float]
    spread_pct: dict[str, float]
    ops_per_batch: dict[str, int]
    samples: dict[str, list[float]]
    note: str = ""  # shared by the rows of a group (shown once)
    detail: str = ""  # this row's own remark


@dataclass
class Target:
    """One target of the issue: ``numerator / denominator`` of row ``row`` must be at most ``limit``."""

    id: str
    text: str
    row: str
    numerator: str
    denominator: str
    limit: float
    ratio: float | None
    status: str  # PASS, MISS, or NOT RUN
    source: str = "bench_recording"
    detail: str = ""


@dataclass
class Report:
    """What one run produced."""

    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


# -- timing harness ------------------------------------------------------------------------------------------------

#: The clock batches are timed with (``--clock``): process CPU time (default) or wall time.
_clock: Callable[[], int] = process_time_ns


@dataclass
class Impl:
    """One column of one case: the batch, and what to do before each timed batch (outside the clock)."""

    batch: Batch
    setup: Callable[[], None] | None = None


def _time_batch(impl: Impl, n: int) -> int:
    """Clock ns of ``impl.batch(n)``, after its set-up and an emptied youngest GC generation (so every batch starts
    alike; a full collection per batch would cost ~15 ms and evict the caches: it runs once per round instead)."""
    if impl.setup is not None:
        impl.setup()
    gc.collect(0)
    clock = _clock
    start = clock()
    impl.batch(n)
    return clock() - start


def _batch_size(impl: Impl, config: Config) -> int:
    """Ops per batch so one batch takes about ``config.batch_ns`` (timeit-style autorange; doubles as warm-up)."""
    n = 1
    while True:
        elapsed = max(1, _time_batch(impl, n))
        if elapsed >= config.batch_ns // 10 or n >= config.max_ops:
            break
        n = min(config.max_ops, max(n * 2, int(n * config.batch_ns / 10 / elapsed)))
    return max(1, min(config.max_ops, int(config.batch_ns * n / elapsed)))


def measure(
    impls: Mapping[str, Impl],
    config: Config,
    *,
    ops: int | None = None,
    repeats: int | None = None,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """ns/op samples of every column, interleaved with the order rotating every repeat.

    ``ops`` fixes the ops per batch (no calibration, no warm-up: for operations that take milliseconds and were run
    once already); otherwise each batch is calibrated to ``config.batch_ns``.
    """
    sizes = {name: ops if ops is not None else _batch_size(impl, config) for name, impl in impls.items()}
    samples: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    for repeat in range(repeats or config.repeats):
        gc.collect()
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_time_batch(impls[name], sizes[name]) / sizes[name])
    return samples, sizes


def _spread(samples: Sequence[float]) -> float:
    """Inter-quartile range relative to the median, in percent: how much one figure can be trusted."""
    if len(samples) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return 100.0 * (q3 - q1) / statistics.median(samples)


Comparison = tuple[str, str]  # (numerator column, denominator column)
TargetSpec = tuple[str, str, str, float, str]  # (target id, numerator, denominator, limit, text)


def make_row(
    report: Report,
    row_id: str,
    group: str,
    operation: str,
    samples: Mapping[str, list[float]],
    sizes: Mapping[str, int],
    *,
    unit: str = "ns",
    compare: Sequence[Comparison] = (),
    targets: Sequence[TargetSpec] = (),
    note: str = "",
    detail: str = "",
) -> Row:
    """Add a row (medians of ``samples``, the ratios asked for) and its targets to ``report``."""
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios: dict[str, float] = {}
    for num, den in [*compare, *((t[1], t[2]) for t in targets)]:
        if num in medians and den in medians and medians[den] > 0:
            ratios[f"{num}/{den}"] = medians[num] / medians[den]
    row = Row(
        id=row_id,
        group=group,
        operation=operation,
        unit=unit,
        medians=medians,
        ratios=ratios,
        spread_pct={name: round(_spread(values), 2) for name, values in samples.items()},
        ops_per_batch=dict(sizes),
        samples={name: [round(v, 2) for v in values] for name, values in samples.items()},
        note=note,
        detail=detail,
    )
    report.rows.append(row)
    for target_id, num, den, limit, text in targets:
        ratio = ratios.get(f"{num}/{den}")
        status = "NOT RUN" if ratio is None else ("PASS" if ratio <= limit else "MISS")
        report.targets.append(Target(target_id, text, row_id, num, den, limit, ratio, status))
    return row


def _loop(call: str, **names: Any) -> Batch:
    """A batch running the statement ``call`` ``n`` times, its ``names`` read once into locals (LOAD_FAST in the
    loop, as in hand-written code that hoists its method lookups)."""
    params = ", ".join(names)
    hoist = "".join(f"    {name} = _ns[{name!r}]\n" for name in names)
    source = f"def batch(n):\n{hoist}    for _ in range(n):\n        {call}\n"
    namespace: dict[str, Any] = {"_ns": dict(names)}
    exec(compile(source, f"<bench {call[:40]} ({params})>", "exec"), namespace)
    batch: Batch = namespace["batch"]
    return batch


def _calls(fn: Callable[[], Any]) -> Batch:
    return _loop("f()", f=fn)


# -- the benchmark catalog -----------------------------------------------------------------------------------------

CATALOG_NAME = "lukhas_bench"
#: Call-time attribute counts of the unbound rows.
ATTRIBUTE_COUNTS: tuple[int, ...] = (0, 1, 2, 5)
#: Bound rows bind this many call-time attributes (besides lane and service).
BOUND_ATTRIBUTES = 2
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
ATTRIBUTE_VALUE = "x"
ROUTE_METRIC = "lukhas_bench_route_seconds"  # histogram with one free-form attribute: scrape, collect, memory


@dataclass(frozen=True)
class KindInfo:
    """How each column records one kind: lukhas/OTel method, prometheus_client class and method, value."""

    letter: str
    unit: str
    suffix: str
    method: str
    otel_factory: str
    prom_class: type
    prom_method: str
    value: float | int


KIND_INFO: dict[str, KindInfo] = {
    "histogram": KindInfo("h", "s", "_seconds", "record", "create_histogram", Histogram, "observe", VALUE),
    "counter": KindInfo("c", "{op}", "_total", "add", "create_counter", Counter, "inc", 1),
    "updown_counter": KindInfo("u", "{op}", "", "add", "create_up_down_counter", Gauge, "inc", 1),
    "gauge": KindInfo("g", "1", "", "set", "create_gauge", Gauge, "set", 0.4),
}


def bench_metric(kind: str, attributes: int) -> str:
    """The Prometheus name of the benchmark catalog's ``kind`` metric with ``attributes`` call-time attributes."""
    info = KIND_INFO[kind]
    return f"lukhas_bench_{info.letter}{attributes}{info.suffix}"


def _attribute_keys(count: int) -> list[str]:
    return [f"a{i}" for i in range(1, count + 1)]


def catalog_document() -> dict[str, Any]:
    """The benchmark catalog: one metric per kind and attribute count (enumerated attributes ``a1``…``a5``), plus
    one histogram with a free-form ``route`` attribute for the scrape, collect and memory rows."""
    metrics: list[dict[str, Any]] = []
    for kind, info in KIND_INFO.items():
        for count in ATTRIBUTE_COUNTS:
            metric: dict[str, Any] = {
                "name": bench_metric(kind, count),
                "otel_name": f"lukhas.bench.{info.letter}{count}",
                "kind": kind,
                "unit": info.unit,
                "description": f"Benchmark {kind} with {count} call-time attribute(s)",
            }
            if count:
                metric["attributes"] = _attribute_keys(count)
            if kind == "histogram":
                metric["buckets"] = list(BUCKETS)
            metrics.append(metric)
    metrics.append(
        {
            "name": ROUTE_METRIC,
            "otel_name": "lukhas.bench.route",
            "kind": "histogram",
            "unit": "s",
            "buckets": list(BUCKETS),
            "description": "Benchmark histogram with a free-form attribute",
            "attributes": ["route"],
        }
    )
    attributes: dict[str, Any] = {
        key: {"description": "Benchmark attribute", "values": [ATTRIBUTE_VALUE, "y", "z"]}
        for key in _attribute_keys(max(ATTRIBUTE_COUNTS))
    }
    attributes["route"] = {"description": "Free-form benchmark attribute"}
    return {
        "catalog": CATALOG_NAME,
        "title": "lukhas-obs benchmark",
        "description": "Metrics of benchmarks/bench_recording.py (each kind, 0 to 5 call-time attributes).",
        "common_attributes": ["lane", "service"],
        "attributes": attributes,
        "metrics": metrics,
    }


def register_catalog() -> Catalog:
    """Register the benchmark catalog (idempotent: an equal catalog registered again is a no-op)."""
    return register(load_catalog(catalog_document()))


# -- the set-ups ---------------------------------------------------------------------------------------------------


class NoopSpanExporter(SpanExporter):
    """Accepts every batch and does nothing: the span pipeline is measured up to the exporter, not the exporter."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class NoopMetricExporter(MetricExporter):
    """Accepts every collection and keeps a reference to the last one (to check it), nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.last: MetricsData | None = None

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.last = metrics_data
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


_SDK_INSTRUMENTS = (SDKCounter, SDKUpDownCounter, SDKHistogram, SDKGauge)


def _limits(series: int) -> dict[type, int]:
    """Reader cardinality limits that never send ``series`` series to the SDK's overflow series."""
    return dict.fromkeys(_SDK_INSTRUMENTS, max(SDK_READER_LIMIT, series + 10))


RESOURCE_ATTRIBUTES = {"service.name": SERVICE, "lukhas.lane": LANE}


class RawOtel:
    """The raw SDK wired like lukhas' pipeline, without lukhas: meter + one reader, tracer + batch spans.

    ``reader="prometheus"``: a ``PrometheusMetricReader`` on its own registry (no ``otel_scope_*`` labels, like
    lukhas' default); ``reader="periodic"``: a ``PeriodicExportingMetricReader`` (no export thread) to
    :class:`NoopMetricExporter`, as an OTLP reader minus the encoding and the network.
    """

    def __init__(self, *, reader: str = "prometheus", series: int = 0) -> None:
        resource = Resource.create(RESOURCE_ATTRIBUTES)
        self.registry = CollectorRegistry(auto_describe=True)
        self.exporter = NoopMetricExporter()
        self.reader: Any
        if reader == "prometheus":
            self.reader = PrometheusMetricReader(
                disable_target_info=False,
                scope_info_enabled=False,
                registry=self.registry,
                cardinality_limits=_limits(series),
            )
        else:
            self.reader = PeriodicExportingMetricReader(
                self.exporter, export_interval_millis=math.inf, cardinality_limits=_limits(series)
            )
        self.meter_provider = MeterProvider(metric_readers=[self.reader], resource=resource, shutdown_on_exit=False)
        self.meter = self.meter_provider.get_meter("benchmarks.raw_otel")
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
        self.tracer = self.tracer_provider.get_tracer("benchmarks.raw_otel")
        self._instruments: dict[str, Any] = {}

    def instrument(self, metric_name: str) -> Any:
        """The OTel instrument of catalog metric ``metric_name``, created (once) as lukhas creates it."""
        found = self._instruments.get(metric_name)
        if found is None:
            spec = find_metric(metric_name)
            options: dict[str, Any] = {}
            if spec.kind == "histogram":
                options["explicit_bucket_boundaries_advisory"] = list(spec.buckets or ())
            factory = getattr(self.meter, KIND_INFO[spec.kind].otel_factory)
            found = self._instruments[metric_name] = factory(
                spec.otel_name, unit=spec.unit, description=spec.description, **options
            )
        return found

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


class RawPrometheus:
    """prometheus_client metrics on a private registry, named, labelled and bucketed like the catalog entries."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Any] = {}

    def metric(self, metric_name: str) -> Any:
        """The metric of catalog entry ``metric_name`` (created once)."""
        found = self._metrics.get(metric_name)
        if found is None:
            spec = find_metric(metric_name)
            labels = [*spec.common_attributes, *(a.key for a in spec.attributes)]
            cls = KIND_INFO[spec.kind].prom_class
            options: dict[str, Any] = {"buckets": list(spec.buckets or ())} if cls is Histogram else {}
            found = self._metrics[metric_name] = cls(
                metric_name, spec.description, labels, registry=self.registry, **options
            )
        return found


@contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _chain_processor(settings: Any) -> SpanProcessor:
    """lukhas' own per-span export chain (as ``runtime`` builds it for every exporter) around a no-op exporter."""
    budget = ByteBudget(runtime.SPAN_QUEUE_MAX_BYTES)
    chain = SanitizingSpanExporter(
        CountingSpanExporter(ScrubbingSpanExporter(NoopSpanExporter(), runtime.scrubber_for(settings)), "bench"),
        "bench",
        max_value_length=runtime.span_limits().max_span_attribute_length,
        budget=budget,
    )
    return QueueWatch(BatchSpanProcessor(chain), "bench", budget=budget)


class Configurations:
    """Several lukhas-obs configurations alive at once, one active at a time (:meth:`use` swaps it in).

    Each ``configure()`` runs with nothing active, so it builds a fresh configuration without shutting the others
    down; :func:`lukhas_obs._state.swap` then makes one of them the active state in one assignment, exactly what
    ``configure()`` itself does. Spans: ``spans="bare"`` adds one ``BatchSpanProcessor`` to a no-op exporter (the
    same as raw OTel's), ``spans="chain"`` lukhas' export chain around it.
    """

    def __init__(self) -> None:
        self.telemetry: dict[str, lukhas_obs.Telemetry] = {}
        self.states: dict[str, _state.State] = {}

    def add(self, key: str, *, spans: str | None = "bare", disabled: bool = False, **options: Any) -> Any:
        _state.swap(_state.INACTIVE)
        defaults: dict[str, Any] = {
            "service": SERVICE,
            "lane": LANE,
            "traces_exporter": "none",
            "metrics_exporter": "prometheus",
            "serve_metrics": False,
            "reconfigure": True,
        }
        with _environ("OTEL_SDK_DISABLED", "true" if disabled else None):
            telemetry = lukhas_obs.configure(**{**defaults, **options})
        if disabled and not telemetry.disabled:
            raise RuntimeError("OTEL_SDK_DISABLED=true did not disable lukhas-obs")
        provider = telemetry.tracer_provider
        if provider is not None and spans == "bare":
            provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
        elif provider is not None and spans == "chain":
            provider.add_span_processor(_chain_processor(telemetry.settings))
        self.telemetry[key] = telemetry
        self.states[key] = _state.current
        _state.swap(_state.INACTIVE)
        return telemetry

    def use(self, key: str | None) -> None:
        """Make configuration ``key`` active (None: nothing configured)."""
        _state.swap(_state.INACTIVE if key is None else self.states[key])

    def flush(self) -> None:
        for telemetry in self.telemetry.values():
            if telemetry.tracer_provider is not None:
                telemetry.tracer_provider.force_flush()

    def close(self) -> None:
        _state.swap(_state.INACTIVE)
        for telemetry in self.telemetry.values():
            telemetry.shutdown(timeout=5)
        self.telemetry.clear()
        self.states.clear()


@contextmanager
def configurations() -> Iterator[Configurations]:
    configs = Configurations()
    try:
        yield configs
    finally:
        configs.close()


def _setup(configs: Configurations, key: str | None, warm: Batch | None = None, *, flush: bool = False) -> Any:
    """The set-up of one column: make ``key`` active, flush pending spans, run ``warm`` twice (re-binding handles
    after the swap happens here, not inside the timed batch)."""

    def setup() -> None:
        configs.use(key)
        if flush:
            configs.flush()
        if warm is not None:
            warm(2)

    return setup


# -- bound and unbound recording -------------------------------------------------------------------------------------


def _prom_labels(count: int) -> str:
    return ", ".join(repr(v) for v in (LANE, SERVICE, *[ATTRIBUTE_VALUE] * count))


def _otel_dict(count: int) -> str:
    items = {**BASE, **dict.fromkeys(_attribute_keys(count), ATTRIBUTE_VALUE)}
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in items.items()) + "}"


def _keywords(count: int) -> str:
    return "".join(f", {k}={ATTRIBUTE_VALUE!r}" for k in _attribute_keys(count))


def group_recording(report: Report, config: Config, groups: Sequence[str]) -> None:
    """Rows ``bound.<kind>`` and ``unbound.<kind>.<n>``: one measurement, every column, interleaved."""
    register_catalog()
    otel = RawOtel()
    prom = RawPrometheus()
    try:
        with configurations() as configs:
            configs.add("own", spans=None)
            configs.add("sdk", spans=None, aggregation="sdk")
            if "bound" in groups:
                for kind in KIND_INFO:
                    _bound_case(report, config, configs, otel, prom, kind)
            if "unbound" in groups:
                for kind in KIND_INFO:
                    for count in ATTRIBUTE_COUNTS:
                        _unbound_case(report, config, configs, otel, prom, kind, count)
    finally:
        otel.close()


def _lukhas_columns(configs: Configurations, batch: Batch) -> dict[str, Impl]:
    return {
        "lukhas": Impl(batch, _setup(configs, "own", batch)),
        "lukhas_sdk": Impl(batch, _setup(configs, "sdk", batch)),
    }


def _bound_case(
    report: Report, config: Config, configs: Configurations, otel: RawOtel, prom: RawPrometheus, kind: str
) -> None:
    info = KIND_INFO[kind]
    name = bench_metric(kind, BOUND_ATTRIBUTES)
    keys = _attribute_keys(BOUND_ATTRIBUTES)
    handle: Any = lukhas_obs.metric(name)
    bound = handle.bind(**dict.fromkeys(keys, ATTRIBUTE_VALUE))
    attrs = {**BASE, **dict.fromkeys(keys, ATTRIBUTE_VALUE)}
    child = prom.metric(name).labels(LANE, SERVICE, *[ATTRIBUTE_VALUE] * BOUND_ATTRIBUTES)
    value = info.value
    impls = _lukhas_columns(configs, _loop("m(v)", m=getattr(bound, info.method), v=value))
    impls["otel"] = Impl(_loop("m(v, a)", m=getattr(otel.instrument(name), info.method), v=value, a=attrs))
    impls["prom"] = Impl(_loop("m(v)", m=getattr(child, info.prom_method), v=value))
    samples, sizes = measure(impls, config)
    text = {"histogram": "record", "counter": "add", "updown_counter": "add", "gauge": "set"}[kind]
    targets: list[TargetSpec] = []
    if kind != "updown_counter":
        targets.append(
            (
                f"bound.{kind}",
                "lukhas",
                "prom",
                0.35,
                f"bound {kind} {text} ≤ 0.35× prometheus_client bound child .{info.prom_method}",
            )
        )
    make_row(
        report,
        f"bound.{kind}",
        "bound",
        f"bound {kind} `.{text}(v)` ({BOUND_ATTRIBUTES} attributes bound + lane, service)",
        samples,
        sizes,
        compare=[("lukhas", "prom"), ("lukhas", "lukhas_sdk"), ("lukhas", "otel")],
        targets=targets,
        note="lukhas: `handle.bind(a1=..., a2=...)`; prometheus_client: a child bound once; raw OTel has no bound "
        "instrument: a constant attribute dict.",
    )


def _unbound_case(
    report: Report,
    config: Config,
    configs: Configurations,
    otel: RawOtel,
    prom: RawPrometheus,
    kind: str,
    count: int,
) -> None:
    info = KIND_INFO[kind]
    name = bench_metric(kind, count)
    handle = lukhas_obs.metric(name)
    value = info.value
    impls = _lukhas_columns(configs, _loop(f"m(v{_keywords(count)})", m=getattr(handle, info.method), v=value))
    otel_method = getattr(otel.instrument(name), info.method)
    if count:
        otel_batch = _loop(f"m(v, {_otel_dict(count)})", m=otel_method, v=value)
    else:
        otel_batch = _loop("m(v, a)", m=otel_method, v=value, a=dict(BASE))
    impls["otel"] = Impl(otel_batch)
    impls["prom"] = Impl(_loop(f"m({_prom_labels(count)}).{info.prom_method}(v)", m=prom.metric(name).labels, v=value))
    samples, sizes = measure(impls, config)
    targets: list[TargetSpec] = []
    if count in (1, 2):
        targets.append(
            (
                f"unbound.{kind}.{count}",
                "lukhas",
                "prom",
                0.3,
                f"{kind} {info.method}, {count} call-time attribute(s) ≤ 0.3× prometheus_client "
                f"`.labels(...).{info.prom_method}`",
            )
        )
    call = f"{info.method}(v{_keywords(count)})".replace("'", '"')
    make_row(
        report,
        f"unbound.{kind}.{count}",
        "unbound",
        f"{kind} `{call}` ({count} call-time attribute(s) + lane, service)",
        samples,
        sizes,
        compare=[("lukhas", "prom"), ("lukhas", "lukhas_sdk"), ("lukhas", "otel")],
        targets=targets,
    )


# -- spans: @timed and the identity flow ------------------------------------------------------------------------------


def _failed_login() -> tuple[bool, str]:
    """The verifier of the authentication cases: a rejected password (so span, histogram and counter all record)."""
    return False, REASON


def lukhas_auth_batch() -> Batch:
    """lukhas-obs: one tier-T2 authentication through the identity flow helper (span + histogram + counter)."""
    return _loop("a(t, f)", a=identity.authenticate, t=TIER, f=_failed_login)


def otel_auth_batch(tracer: Any, latency: Any, failures: Any) -> Batch:
    """Raw OTel, hand-written: what the identity helper does, as a developer would write it against the API."""
    start = tracer.start_as_current_span
    record = latency.record
    add = failures.add

    def batch(n: int) -> None:
        verify = _failed_login
        for _ in range(n):
            tier = TIER
            with start("identity.authenticate_T2", attributes={"tier": tier, "component": "identity"}) as span:
                t0 = perf_counter()
                ok, reason = verify()
                span.set_attribute("auth.ok", ok)
                if not ok:
                    span.set_attribute("auth.reason", reason)
                    add(1, {"lane": LANE, "service": SERVICE, "tier": tier, "reason": reason})
                record(perf_counter() - t0, {"lane": LANE, "service": SERVICE, "tier": tier})

    return batch


def _local_hand_written(tracer: Any, histogram: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """(the @timed flow, span alone) written by hand against ``tracer``/``histogram`` (SDK or no-op API)."""
    start, record = tracer.start_as_current_span, histogram.record
    attrs: dict[str, object] = {"k": 8, "component": "memory"}
    metric_attrs = dict(BASE)

    def timed_flow() -> None:
        with start(SPAN_NAME, attributes=attrs):
            t0 = perf_counter()
            record(perf_counter() - t0, metric_attrs)

    def span_alone() -> None:
        with start(SPAN_NAME, attributes=attrs):
            pass

    return timed_flow, span_alone


def _local_lukhas_code() -> tuple[Callable[[], None], Callable[[], None]]:
    """(the @timed flow, span alone) with lukhas' helpers."""

    @lukhas_obs.timed(SEARCH, span_name=SPAN_NAME, k=8)
    def timed_flow() -> None:
        pass

    span = lukhas_obs.span

    def span_alone() -> None:
        with span(SPAN_NAME, k=8):
            pass

    return timed_flow, span_alone


def span_code() -> tuple[Callable[..., Any], Callable[..., Any], str]:
    """(hand_written, lukhas_code, where from): the span bench's own cases when ``benchmarks/bench_spans.py``
    exposes them with the expected shape, else this module's copies (the same code)."""
    try:
        from benchmarks import bench_spans

        hand, ours = bench_spans.hand_written, bench_spans.lukhas_code
        if callable(hand) and callable(ours) and getattr(bench_spans, "METRIC", SEARCH) == SEARCH:
            return hand, ours, "benchmarks.bench_spans.hand_written / lukhas_code"
    except Exception:  # the span bench is missing or being edited: measure the same code from here
        pass
    return _local_hand_written, _local_lukhas_code, "benchmarks.bench_recording (local copies)"


def group_spans(report: Report, config: Config) -> str:
    """Rows ``spans.timed``, ``spans.identity`` and ``spans.span``; returns where the span code came from."""
    hand_written, lukhas_code, source = span_code()
    otel = RawOtel()
    try:
        with configurations() as configs:
            configs.add("own")
            configs.add("sdk", aggregation="sdk")
            configs.add("chain", spans="chain")
            raw_timed, raw_span = hand_written(otel.tracer, otel.instrument(SEARCH))
            lukhas_timed, lukhas_span = lukhas_code()
            raw_auth = otel_auth_batch(otel.tracer, otel.instrument(AUTH_LATENCY), otel.instrument(AUTH_FAILURES))
            providers = [otel.tracer_provider]

            def flush_raw() -> None:
                configs.flush()
                for provider in providers:
                    provider.force_flush()

            def columns(lukhas_batch: Batch, raw_batch: Batch) -> dict[str, Impl]:
                impls = {
                    key: Impl(lukhas_batch, _setup(configs, state, lukhas_batch, flush=True))
                    for key, state in (("lukhas", "own"), ("lukhas_sdk", "sdk"), ("lukhas_chain", "chain"))
                }

                def raw_setup() -> None:
                    configs.use("own")
                    flush_raw()

                impls["otel"] = Impl(raw_batch, raw_setup)
                return impls

            cases = (
                ("spans.timed", "span + duration histogram: a function decorated with `@timed`", lukhas_timed,
                 raw_timed, 0.4),
                ("spans.identity", "span + histogram + counter: a rejected T2 login (`identity.authenticate`)", None,
                 raw_auth, 0.4),
                ("spans.span", "span alone: `with span(...)` vs `start_as_current_span`", lukhas_span, raw_span, None),
            )  # fmt: skip
            for row_id, operation, lukhas_fn, raw_fn, limit in cases:
                lukhas_batch = lukhas_auth_batch() if lukhas_fn is None else _calls(lukhas_fn)
                raw_batch = raw_fn if row_id == "spans.identity" else _calls(raw_fn)
                samples, sizes = measure(columns(lukhas_batch, raw_batch), config)
                flush_raw()
                targets: list[TargetSpec] = []
                if limit is not None:
                    what = "`@timed`" if row_id == "spans.timed" else "the identity flow"
                    targets.append(
                        (row_id, "lukhas", "otel", limit, f"{what} ≤ {limit}× the same hand-written with raw OTel")
                    )
                make_row(
                    report,
                    row_id,
                    "spans",
                    operation,
                    samples,
                    sizes,
                    compare=[("lukhas", "otel"), ("lukhas_sdk", "otel"), ("lukhas_chain", "otel")],
                    targets=targets,
                    note="Same span processor on both sides (one BatchSpanProcessor to a no-op exporter); "
                    "'+ its span export chain' adds lukhas' sanitising/counting/scrubbing wrappers on the lukhas side "
                    "only (what a user with a lukhas-built exporter pays).",
                )
    finally:
        otel.close()
    return source


# -- disabled helpers --------------------------------------------------------------------------------------------------


def group_disabled(report: Report, config: Config) -> None:
    """Rows ``disabled.<helper>.<how>``: lukhas off (never configured / ``OTEL_SDK_DISABLED=true``) vs the same code
    on the OTel API's no-op objects."""
    hand_written, lukhas_code, _ = span_code()
    register_catalog()
    meter = otel_metrics.NoOpMeterProvider().get_meter("benchmarks.noop")
    tracer = otel_trace.NoOpTracerProvider().get_tracer("benchmarks.noop")
    spec = find_metric(SEARCH)
    noop_hist = meter.create_histogram(spec.otel_name, unit=spec.unit, description=spec.description)
    noop_timed, _ = hand_written(tracer, noop_hist)
    lukhas_timed, _ = lukhas_code()
    name = bench_metric("histogram", 1)
    handle = lukhas_obs.histogram(name)
    bound = handle.bind(a1=ATTRIBUTE_VALUE)
    helpers: tuple[tuple[str, str, Batch, Batch], ...] = (
        ("record", "histogram `record(v, a1=...)`", _loop("m(v, a1='x')", m=handle.record, v=VALUE),
         _loop(f"m(v, {_otel_dict(1)})", m=noop_hist.record, v=VALUE)),
        ("bound", "bound histogram `record(v)`", _loop("m(v)", m=bound.record, v=VALUE),
         _loop("m(v, a)", m=noop_hist.record, v=VALUE, a={**BASE, "a1": ATTRIBUTE_VALUE})),
        ("timed", "`@timed` function", _calls(lukhas_timed), _calls(noop_timed)),
        ("identity", "identity flow (span + histogram + counter)", lukhas_auth_batch(),
         otel_auth_batch(tracer, meter.create_histogram("lukhas.auth.latency"),
                         meter.create_counter("lukhas.auth.failures"))),
    )  # fmt: skip
    with configurations() as configs:
        configs.add("disabled", disabled=True)
        for how, key, text in (("unconfigured", None, "before `configure()`"),
                               ("sdk_disabled", "disabled", "with `OTEL_SDK_DISABLED=true`")):  # fmt: skip
            for helper, what, lukhas_batch, noop_batch in helpers:
                impls = {
                    "lukhas": Impl(lukhas_batch, _setup(configs, key, lukhas_batch)),
                    "otel_noop": Impl(noop_batch, _setup(configs, key)),
                }
                samples, sizes = measure(impls, config)
                row_id = f"disabled.{helper}.{how}"
                make_row(
                    report,
                    row_id,
                    "disabled",
                    f"{what}, lukhas {text}",
                    samples,
                    sizes,
                    targets=[(row_id, "lukhas", "otel_noop", 0.5, f"disabled {what} {text} ≤ 0.5× the OTel no-op API")],
                    note="OTel: the same code on the API's no-op tracer/meter (no SDK).",
                )


# -- scrape ----------------------------------------------------------------------------------------------------------


def _routes(count: int) -> list[str]:
    return [f"r{i:05d}" for i in range(count)]


def _fill(configs: Configurations, keys: Sequence[str], routes: Sequence[str]) -> None:
    """Give ``ROUTE_METRIC`` one series per route in each configuration of ``keys``."""
    record = lukhas_obs.histogram(ROUTE_METRIC).record
    for key in keys:
        configs.use(key)
        for route in routes:
            record(VALUE, route=route)
    configs.use(None)


def _fill_raw(otel: RawOtel, prom: RawPrometheus | None, routes: Sequence[str]) -> None:
    hist = otel.instrument(ROUTE_METRIC)
    for route in routes:
        hist.record(VALUE, {"lane": LANE, "service": SERVICE, "route": route})
    if prom is not None:
        labels = prom.metric(ROUTE_METRIC).labels
        for route in routes:
            labels(LANE, SERVICE, route).observe(VALUE)


def _series_in(body: bytes) -> int:
    return body.count(b"lukhas_bench_route_seconds_count{")


def group_scrape(report: Report, config: Config) -> None:
    """Rows ``scrape.<n>``: one ``/metrics`` rendering with ``n`` histogram series (and nothing else)."""
    register_catalog()
    for count in config.sizes:
        _scrape_case(report, config, count)


def _render() -> bytes:
    return lukhas_obs.render_exposition()[0]


def _keeping(bodies: dict[str, bytes], name: str, fn: Callable[[], bytes]) -> Batch:
    """A batch calling ``fn`` and keeping its last result in ``bodies[name]`` (checked after timing)."""

    def batch(n: int) -> None:
        for _ in range(n):
            bodies[name] = fn()

    return batch


def _scrape_case(report: Report, config: Config, count: int) -> None:
    routes = _routes(count)
    otel = RawOtel(series=count)
    prom = RawPrometheus()
    sdk_ok = count <= SDK_READER_LIMIT
    try:
        with configurations() as configs:
            limit = max(1000, count + 10)
            configs.add("own", spans=None, cardinality_limit=limit)
            keys = ["own"]
            if sdk_ok:
                configs.add("sdk", spans=None, cardinality_limit=limit, aggregation="sdk")
                keys.append("sdk")
            _fill(configs, keys, routes)
            _fill_raw(otel, prom, routes)
            own_registry = configs.telemetry["own"].registry
            columns: dict[str, tuple[Callable[[], bytes], str | None]] = {"lukhas": (_render, "own")}
            if sdk_ok:
                columns["lukhas_sdk"] = (_render, "sdk")
            if count < 10_000 or config.big_references:
                columns["lukhas_exporter"] = (lambda: generate_latest(own_registry), "own")
            columns["otel"] = (lambda: generate_latest(otel.registry), None)
            columns["prom"] = (lambda: generate_latest(prom.registry), None)
            bodies: dict[str, bytes] = {}
            impls = {
                name: Impl(_keeping(bodies, name, fn), _setup(configs, key)) for name, (fn, key) in columns.items()
            }
            repeats = config.size_repeats if count < 10_000 else config.big_repeats
            samples, sizes = measure(impls, config, ops=1, repeats=repeats)
            for name, body in bodies.items():  # every column rendered every series
                if _series_in(body) != count:
                    raise AssertionError(f"scrape {name}: {_series_in(body)} series rendered, expected {count}")
    finally:
        otel.close()
    targets: list[TargetSpec] = []
    if count >= 10_000:
        targets.append(
            (f"scrape.{count}", "lukhas", "otel", 0.1, f"`/metrics` at {count:,} series ≤ 0.1× the OTel exporter path")
        )
    body_kib = ", ".join(f"{TITLES[k]} {len(v) / 1024:,.0f} KiB" for k, v in bodies.items())
    make_row(
        report,
        f"scrape.{count}",
        "scrape",
        f"`/metrics` with {count:,} histogram series",
        samples,
        sizes,
        unit="ms",
        compare=[("lukhas", "otel"), ("lukhas", "prom"), ("lukhas_sdk", "otel"), ("lukhas_exporter", "otel")],
        targets=targets,
        note="lukhas: `render_exposition()` (the direct renderer); via the OTel exporter: `generate_latest` on "
        "lukhas' own registry (the exporter's conversion of the same data); raw OTel: `generate_latest` on a "
        "PrometheusMetricReader's registry; prometheus_client: `generate_latest` (it adds `_created` samples).",
        detail=("" if sdk_ok else _SDK_OVERFLOW) + f"Body: {body_kib}.",
    )


# -- OTLP collect ----------------------------------------------------------------------------------------------------


def _silence(reader: Any) -> NoopMetricExporter:
    """Replace the innermost exporter behind ``reader``'s lukhas wrappers (counting, int64 safety) with a no-op:
    the collection and lukhas' own export-side work run, the OTLP encoding and the network do not."""
    sink = NoopMetricExporter()
    holder, attribute = reader, "_exporter"
    while True:
        inner = getattr(holder, attribute)
        deeper = next((a for a in ("inner", "_inner") if isinstance(getattr(inner, a, None), MetricExporter)), None)
        if deeper is None:
            break
        holder, attribute = inner, deeper
    old = getattr(holder, attribute)
    setattr(holder, attribute, sink)
    with contextlib.suppress(Exception):  # an exporter that cannot shut down cleanly is out of the path anyway
        old.shutdown(timeout_millis=1000)
    return sink


def _points(data: MetricsData | None) -> int:
    if data is None:
        return 0
    return sum(
        len(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "lukhas.bench.route"
    )


def group_collect(report: Report, config: Config) -> None:
    """Rows ``collect.<n>``: one collection of a periodic (OTLP) reader with ``n`` histogram series."""
    register_catalog()
    for count in config.sizes:
        _collect_case(report, config, count)


def _collect_case(report: Report, config: Config, count: int) -> None:
    routes = _routes(count)
    otel = RawOtel(reader="periodic", series=count)
    sdk_ok = count <= SDK_READER_LIMIT
    try:
        with configurations() as configs:
            common: dict[str, Any] = {
                "spans": None,
                "cardinality_limit": max(1000, count + 10),
                "metrics_exporter": "otlp",
                "otlp_endpoint": "http://127.0.0.1:9",  # never contacted: the exporter is replaced below
                "metric_export_interval": 3600,
            }
            configs.add("own", **common)
            keys = ["own"]
            if sdk_ok:
                configs.add("sdk", aggregation="sdk", **common)
                keys.append("sdk")
            readers = {key: configs.telemetry[key].push_readers[0] for key in keys}
            sinks = {key: _silence(reader) for key, reader in readers.items()}
            _fill(configs, keys, routes)
            _fill_raw(otel, None, routes)
            columns: dict[str, tuple[Any, str | None, NoopMetricExporter]] = {
                "lukhas": (readers["own"], "own", sinks["own"])
            }
            if sdk_ok:
                columns["lukhas_sdk"] = (readers["sdk"], "sdk", sinks["sdk"])
            columns["otel"] = (otel.reader, None, otel.exporter)
            impls = {
                name: Impl(_calls(reader.collect), _setup(configs, key)) for name, (reader, key, _) in columns.items()
            }
            repeats = config.size_repeats if count < 10_000 else config.big_repeats
            samples, sizes = measure(impls, config, ops=1, repeats=repeats)
            for name, (_, _, sink) in columns.items():  # every column collected every series
                if _points(sink.last) != count:
                    raise AssertionError(f"collect {name}: {_points(sink.last)} points, expected {count}")
    finally:
        otel.close()
    targets: list[TargetSpec] = []
    if count >= 10_000:
        text = f"OTLP collect at {count:,} series ≤ 0.6× the SDK's"
        targets.append((f"collect.{count}", "lukhas", "otel", 0.6, text))
    make_row(
        report,
        f"collect.{count}",
        "collect",
        f"OTLP collect with {count:,} histogram series",
        samples,
        sizes,
        unit="ms",
        compare=[("lukhas", "otel"), ("lukhas", "lukhas_sdk")],
        targets=targets,
        note="`PeriodicExportingMetricReader.collect()` up to a no-op exporter (lukhas: behind its counting and "
        "int64 wrappers; raw OTel: directly).",
        detail="" if sdk_ok else _SDK_OVERFLOW,
    )


# -- memory ------------------------------------------------------------------------------------------------------------


def _traced_bytes(fn: Callable[[], None]) -> int:
    """tracemalloc growth (bytes still allocated after a collection) while ``fn`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def group_memory(report: Report, config: Config) -> None:
    """Row ``memory``: bytes per histogram series (one measurement each), lukhas vs raw SDK vs prometheus_client,
    each with one reader; the first series (classes, instruments, memo tables) is made before counting."""
    register_catalog()
    count = config.memory_series
    routes = _routes(count)
    per_series: dict[str, float] = {}
    with configurations() as configs:
        configs.add("own", spans=None, cardinality_limit=count + 10)
        configs.use("own")
        record = lukhas_obs.histogram(ROUTE_METRIC).record
        record(VALUE, route="first")

        def lukhas_series() -> None:
            for route in routes:
                record(VALUE, route=route)

        per_series["lukhas"] = _traced_bytes(lukhas_series) / count
        body = lukhas_obs.render_exposition()[0]
        if _series_in(body) != count + 1:
            raise AssertionError(f"memory: lukhas has {_series_in(body)} series, expected {count + 1}")
    otel = RawOtel(series=count + 1)
    try:
        hist = otel.instrument(ROUTE_METRIC)
        hist.record(VALUE, {"lane": LANE, "service": SERVICE, "route": "first"})

        def otel_series() -> None:
            for route in routes:
                hist.record(VALUE, {"lane": LANE, "service": SERVICE, "route": route})

        per_series["otel"] = _traced_bytes(otel_series) / count
    finally:
        otel.close()
    labels = RawPrometheus().metric(ROUTE_METRIC).labels
    labels(LANE, SERVICE, "first").observe(VALUE)

    def prom_series() -> None:
        for route in routes:
            labels(LANE, SERVICE, route).observe(VALUE)

    per_series["prom"] = _traced_bytes(prom_series) / count
    make_row(
        report,
        "memory",
        "memory",
        f"memory per histogram series ({count:,} series, one reader, {len(BUCKETS)} buckets)",
        {name: [value] for name, value in per_series.items()},
        dict.fromkeys(per_series, count),
        unit="B",
        compare=[("lukhas", "otel"), ("lukhas", "prom")],
        targets=[("memory", "lukhas", "otel", 1.0, "memory per series ≤ the SDK's")],
        note="tracemalloc growth over the series' creation, after a garbage collection, divided by the series "
        "count; lukhas' figure includes its memo entries and the validated attribute set.",
    )


# -- environment and report ----------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def environment(config: Config, command: str, exemplar_filter: str, clock: str) -> dict[str, Any]:
    """Everything needed to judge and reproduce a run."""
    return {
        "command": command,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "lukhas_obs": lukhas_obs.__version__,
        "git": _git_revision(),
        "opentelemetry_api": _version("opentelemetry-api"),
        "opentelemetry_sdk": _version("opentelemetry-sdk"),
        "opentelemetry_exporter_prometheus": _version("opentelemetry-exporter-prometheus"),
        "prometheus_client": _version("prometheus-client"),
        "gil": "off" if not getattr(sys, "_is_gil_enabled", lambda: True)() else "on",
        "exemplar_filter": exemplar_filter,
        "clock": clock,
        "repeats": config.repeats,
        "batch_ms": config.batch_ns / 1e6,
        "sizes": list(config.sizes),
        "memory_series": config.memory_series,
        "load_before": _load(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _empty_loop(n: int) -> None:
    for _ in range(n):
        pass


def run(
    config: Config,
    *,
    groups: Sequence[str] = GROUPS,
    exemplar_filter: str = "trace_based",
    log: Callable[[str], None] | None = None,
) -> Report:
    """Run the chosen groups; the environment variables it sets are restored and nothing stays configured."""
    report = Report()
    say = log or (lambda text: print(text, file=sys.stderr))
    with _environ("OTEL_METRICS_EXEMPLAR_FILTER", exemplar_filter), _environ("OTEL_SDK_DISABLED", None):
        lukhas_obs.shutdown()
        loop, _ = measure({"loop": Impl(_empty_loop)}, config)
        report.meta["empty_loop_ns"] = statistics.median(loop["loop"])
        steps: list[tuple[str, Callable[[], Any]]] = []
        if "bound" in groups or "unbound" in groups:
            steps.append(("bound+unbound", lambda: group_recording(report, config, groups)))
        if "spans" in groups:
            steps.append(("spans", lambda: report.meta.__setitem__("span_code", group_spans(report, config))))
        for name, fn in (("disabled", group_disabled), ("scrape", group_scrape), ("collect", group_collect),
                         ("memory", group_memory)):  # fmt: skip
            if name in groups:
                steps.append((name, lambda fn=fn: fn(report, config)))
        for name, step in steps:
            started = perf_counter()
            step()
            say(f"  {name}: {perf_counter() - started:.1f}s")
        lukhas_obs.shutdown()
    report.meta["load_after"] = _load()
    return report


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value / 1e6:,.2f}"
    return f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def render_targets(targets: Sequence[Target]) -> str:
    """The target table: one line per target with its measured ratio (3 decimals, so a MISS never reads like the
    limit), the limit and PASS/MISS."""
    lines = ["| target | source | measured | limit | result |", "|---|---|---:|---:|---|"]
    for target in targets:
        measured = "—" if target.ratio is None else f"{target.ratio:.3f}×"
        lines.append(f"| {target.text} | {target.source} | {measured} | ≤ {target.limit:g}× | {target.status} |")
    return "\n".join(lines)


def render_group(rows: Sequence[Row]) -> list[str]:
    """One table for rows of one group: a column per implementation present, then every ratio."""
    columns = [name for name in TITLES if any(name in row.medians for row in rows)]
    ratio_names = list(dict.fromkeys(name for row in rows for name in row.ratios))
    unit = rows[0].unit
    unit_text = {"ns": "ns/op", "ms": "ms", "B": "bytes/series"}[unit]
    head = ["case", *(f"{TITLES[c]} ({unit_text})" for c in columns)]
    head += [" / ".join(TITLES[p] for p in name.split("/")) for name in ratio_names]
    lines = ["| " + " | ".join(head) + " | spread |", "|---" + "|---:" * (len(head) - 1) + "|---:|"]
    for row in rows:
        cells = [row.operation, *(_fmt(row.medians.get(c), unit) for c in columns)]
        cells += [_ratio(row.ratios.get(name)) for name in ratio_names]
        spread = max(row.spread_pct.values()) if row.spread_pct else 0.0
        lines.append("| " + " | ".join(cells) + f" | {spread:.0f} % |")
    return lines


def render_markdown(report: Report) -> str:
    """Targets, then one table per group with the notes, then the environment and the exact command."""
    meta = report.meta
    lines = ["## Targets", "", render_targets(report.targets), ""]
    for group in GROUPS:
        rows = [row for row in report.rows if row.group == group]
        if not rows:
            continue
        lines += [f"## {group}", "", *render_group(rows), ""]
        notes = [f"- {note}" for note in dict.fromkeys(row.note for row in rows if row.note)]
        notes += [f"- *{row.operation}*: {row.detail}" for row in rows if row.detail]
        lines += [*notes, ""] if notes else []
    lines += [
        f"Medians of {meta['repeats']} interleaved batches of ~{meta['batch_ms']:g} ms ({meta['clock']} clock) per "
        f"figure; scrape/collect: one operation per batch, {meta.get('size_repeats', '')} repeats. Ratio < 1 means "
        f"lukhas-obs costs less. *spread*: the largest inter-quartile range / median of a row. Figures include the "
        f"benchmark loop (empty loop: {meta['empty_loop_ns']:.0f} ns/op).",
        "",
        *machine_lines(meta),
    ]
    return "\n".join(lines) + "\n"


def machine_lines(meta: Mapping[str, Any]) -> list[str]:
    """The environment block printed under every report (and copied into docs/PERFORMANCE.md)."""
    return [
        f"Command: `{meta['command']}`  ",
        f"Python {meta['python']} ({meta['implementation']}, GIL {meta['gil']}), {meta['platform']}  ",
        f"CPU: {meta['cpu_model']}, {meta['cpu_count']} cores; load average before/after: {meta['load_before']} / "
        f"{meta.get('load_after', '?')}  ",
        f"lukhas-obs {meta['lukhas_obs']} (git {meta['git']}), opentelemetry-api/sdk {meta['opentelemetry_api']}/"
        f"{meta['opentelemetry_sdk']}, opentelemetry-exporter-prometheus {meta['opentelemetry_exporter_prometheus']}, "
        f"prometheus_client {meta['prometheus_client']}  ",
        f"OTEL_METRICS_EXEMPLAR_FILTER={meta['exemplar_filter']}; span code: {meta.get('span_code', 'n/a')}  ",
        f"Run {meta['date_utc']}",
    ]


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The options of this suite (``python -m benchmarks`` adds its own)."""
    parser = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every case, tiny batches (< 60 s): the numbers are noise")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write rows, samples, targets and environment")
    parser.add_argument("--only", metavar="GROUPS", help=f"comma-separated groups (default all: {', '.join(GROUPS)})")
    parser.add_argument("--repeats", type=int, help="batches per figure (default 7; --quick 3)")
    parser.add_argument("--batch-ms", type=float, help="time per batch (default 40; --quick 1)")
    parser.add_argument("--sizes", help="series counts of the scrape/collect rows (default 10,100,1000,10000)")
    parser.add_argument("--memory-series", type=int, help="series of the memory row (default 10000)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="process CPU time (default) or wall")
    parser.add_argument(
        "--exemplar-filter",
        choices=("trace_based", "always_on", "always_off"),
        default="trace_based",
        help="OTEL_METRICS_EXEMPLAR_FILTER for every MeterProvider (default: the SDK default, trace_based)",
    )
    return parser


def config_from(args: argparse.Namespace) -> tuple[Config, list[str]]:
    """The configuration and groups the parsed options ask for (SystemExit naming a bad option)."""
    base = QUICK if args.quick else FULL
    groups = GROUPS if not args.only else [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise SystemExit(f"--only: unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else base.sizes
    except ValueError:
        raise SystemExit("--sizes: expected comma-separated whole numbers, e.g. 10,100,1000,10000") from None
    if any(s < 1 for s in sizes):
        raise SystemExit("--sizes: every size must be at least 1")
    config = Config(
        repeats=max(1, args.repeats) if args.repeats else base.repeats,
        batch_ns=int(args.batch_ms * 1e6) if args.batch_ms else base.batch_ns,
        max_ops=base.max_ops,
        sizes=sizes,
        size_repeats=base.size_repeats,
        big_repeats=base.big_repeats,
        memory_series=max(1, args.memory_series) if args.memory_series else base.memory_series,
        big_references=base.big_references,
    )
    return config, list(groups)


def set_clock(name: str) -> None:
    global _clock
    _clock = process_time_ns if name == "cpu" else perf_counter_ns


def execute(args: argparse.Namespace, command: str) -> Report:
    """Run the suite as ``args`` asks and return its report (with the environment in ``meta``)."""
    config, groups = config_from(args)
    set_clock(args.clock)
    meta = environment(config, command, args.exemplar_filter, args.clock)
    meta["size_repeats"] = f"{config.size_repeats} ({config.big_repeats} at 10k+)"
    print(f"running {', '.join(groups)}: {command}", file=sys.stderr)
    report = run(config, groups=groups, exemplar_filter=args.exemplar_filter)
    report.meta = {**meta, **report.meta}
    return report


def report_json(report: Report) -> dict[str, Any]:
    """The JSON form of a report."""
    return {
        "meta": report.meta,
        "targets": [asdict(t) for t in report.targets],
        "rows": [asdict(r) for r in report.rows],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: run the suite, print the markdown report, optionally write the JSON one."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser("python -m benchmarks.bench_recording").parse_args(args_list)
    command = shlex.join(["python", "-m", "benchmarks.bench_recording", *args_list])
    report = execute(args, command)
    print(render_markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report_json(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
