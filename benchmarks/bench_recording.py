"""Recording-path benchmark: lukhas-obs, the raw OpenTelemetry SDK and prometheus_client side by side, in one process.

Run from the repository root::

    python -m benchmarks.bench_recording                 # full run (~1 min on 2 cores), markdown table on stdout
    python -m benchmarks.bench_recording --quick         # tiny batches: checks that every case runs, numbers are noise
    python -m benchmarks.bench_recording --json out.json # also write every sample and the environment as JSON

Why one process: the three libraries then share the interpreter, the CPU frequency state and the moment in time, and
their batches are interleaved (the order rotates every repeat), so a ratio between them is far more stable than a
ratio between two separate runs. Each figure is the median over ``repeats`` batches of ns per operation; one batch is
sized by calibration to take ``--batch-ms`` of wall time. The garbage collector stays on (allocation-driven
collections are part of what a hot path costs) and is emptied before every batch so each starts alike. Figures
include the benchmark loop itself (reported as "empty loop").

What each column runs, with the same label values (lane ``candidate``, service ``lukhas-bench``):

- **lukhas-obs**: the public seam (``lukhas_obs.metric(...).record/add/set``, ``timed``, the identity flow helper)
  after ``configure(prometheus_port=0, traces_exporter="none", metrics_exporter="prometheus")``. Spans go to a
  ``BatchSpanProcessor`` with a no-op exporter, wrapped exactly as lukhas' runtime wraps every processor it builds
  (``QueueWatch`` around it, ``CountingSpanExporter`` + ``ScrubbingSpanExporter`` around the exporter).
- **raw OTel SDK**: a ``MeterProvider`` with a ``PrometheusMetricReader`` on its own ``CollectorRegistry`` (no
  ``otel_scope_*`` labels, like lukhas' default), the catalog's explicit bucket boundaries, attributes passed as the
  dict hand-written code would build; spans via ``start_as_current_span`` on a ``TracerProvider`` with a
  ``BatchSpanProcessor`` to a no-op exporter.
- **prometheus_client**: metrics on their own ``CollectorRegistry``, same names, labels and buckets; constant label
  sets use a child bound once (``.labels(...)`` at set-up), call-time labels call ``.labels(...)`` per operation. It
  has no spans and no no-op mode.

Exemplars: both MeterProviders read ``OTEL_METRICS_EXEMPLAR_FILTER`` at construction; the benchmark sets it (default
``trace_based``, the SDK's own default) before building either, so lukhas and raw OTel always run the same filter.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

import lukhas_obs
from lukhas_obs import runtime
from lukhas_obs.catalog import MetricSpec, find_metric
from lukhas_obs.exporters.selfmetrics import CountingSpanExporter, QueueWatch
from lukhas_obs.flows import identity
from lukhas_obs.instruments import DEFAULT_CARDINALITY_LIMIT
from lukhas_obs.scrubbing import ScrubbingSpanExporter

__all__ = ["FULL", "IMPLS", "QUICK", "Config", "Row", "main", "render_markdown", "run"]

#: Column keys, in table order.
IMPLS: tuple[str, ...] = ("lukhas", "otel", "prometheus_client")
IMPL_TITLES = {"lukhas": "lukhas-obs", "otel": "raw OTel SDK", "prometheus_client": "prometheus_client"}

LANE = "candidate"
SERVICE = "lukhas-bench"
BASE: dict[str, str] = {"lane": LANE, "service": SERVICE}
TIER = "T2"
REASON = "invalid_credentials"
VALUE = 0.012  # seconds: lands mid-bucket in both bucket sets

SEARCH = "lukhas_memory_search_seconds"  # histogram, labels lane/service
AUTH_LATENCY = "lukhas_auth_latency_seconds"  # histogram, labels lane/service + tier
AUTH_FAILURES = "lukhas_auth_failures_total"  # counter, labels lane/service + tier/reason
BACKPRESSURE = "lukhas_dream_backpressure"  # gauge, labels lane/service

Batch = Callable[[int], None]
"""Runs one operation ``n`` times; the unit every measurement times."""


@dataclass(frozen=True)
class Config:
    """How hard to measure: repeats per figure, wall time per batch, the ops cap and the scrape size."""

    repeats: int
    batch_ns: int
    max_ops: int
    scrape_series: int


FULL = Config(repeats=9, batch_ns=150_000_000, max_ops=2_000_000, scrape_series=1000)
QUICK = Config(repeats=5, batch_ns=200_000, max_ops=40, scrape_series=20)


@dataclass
class Row:
    """One case: the median ns/op of each implementation, the ratios computed from them, and the raw samples."""

    id: str
    operation: str
    unit: str  # how the markdown shows the numbers: "ns" or "ms" (JSON values are always ns)
    lukhas_ns: float
    otel_ns: float
    prometheus_client_ns: float | None
    lukhas_over_otel: float
    lukhas_over_prometheus_client: float | None
    spread_pct: dict[str, float]
    ops_per_batch: dict[str, int]
    samples_ns: dict[str, list[float]]
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


# -- timing harness ------------------------------------------------------------------------------------------------


def _time_batch(batch: Batch, n: int) -> int:
    """Wall ns of ``batch(n)``, starting from an empty GC generation 0 so every batch starts alike."""
    gc.collect()
    start = perf_counter_ns()
    batch(n)
    return perf_counter_ns() - start


def _batch_size(batch: Batch, config: Config) -> int:
    """Ops per batch so one batch takes about ``config.batch_ns`` (timeit-style autorange; doubles as warm-up)."""
    n = 1
    while True:
        elapsed = max(1, _time_batch(batch, n))
        if elapsed >= config.batch_ns // 10 or n >= config.max_ops:
            break
        n = min(config.max_ops, max(n * 2, int(n * config.batch_ns / 10 / elapsed)))
    return max(1, min(config.max_ops, int(config.batch_ns * n / elapsed)))


def measure(batches: Mapping[str, Batch], config: Config) -> tuple[dict[str, list[float]], dict[str, int]]:
    """ns/op samples (``config.repeats`` each) of every batch, interleaved with the order rotating every repeat."""
    sizes = {name: _batch_size(batch, config) for name, batch in batches.items()}
    samples: dict[str, list[float]] = {name: [] for name in batches}
    names = list(batches)
    for repeat in range(config.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_time_batch(batches[name], sizes[name]) / sizes[name])
    return samples, sizes


def _spread(samples: Sequence[float]) -> float:
    """Inter-quartile range relative to the median, in percent: how much one figure can be trusted."""
    if len(samples) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return 100.0 * (q3 - q1) / statistics.median(samples)


def make_row(
    row_id: str,
    operation: str,
    samples: Mapping[str, list[float]],
    sizes: Mapping[str, int],
    *,
    unit: str = "ns",
    note: str = "",
    extra: Mapping[str, float] | None = None,
) -> Row:
    """A report row from the samples of ``lukhas``, ``otel`` and (when it has an equivalent) ``prometheus_client``.

    Other sample keys are reference measurements: their medians go to ``extra``, with ``extra`` given here.
    """
    median = {name: statistics.median(values) for name, values in samples.items()}
    prom = median.get("prometheus_client")
    return Row(
        id=row_id,
        operation=operation,
        unit=unit,
        lukhas_ns=median["lukhas"],
        otel_ns=median["otel"],
        prometheus_client_ns=prom,
        lukhas_over_otel=median["lukhas"] / median["otel"],
        lukhas_over_prometheus_client=median["lukhas"] / prom if prom is not None else None,
        spread_pct={name: round(_spread(values), 2) for name, values in samples.items()},
        ops_per_batch=dict(sizes),
        samples_ns={name: [round(v, 2) for v in values] for name, values in samples.items()},
        note=note,
        extra={**{name: value for name, value in median.items() if name not in IMPLS}, **(extra or {})},
    )


# -- the three set-ups ---------------------------------------------------------------------------------------------


class NoopSpanExporter(SpanExporter):
    """Accepts every batch and does nothing: the span pipeline is measured up to the exporter, not the exporter."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class RawOtel:
    """The raw SDK wired like lukhas' own pipeline, without lukhas: meter + Prometheus reader, tracer + batch spans."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(disable_target_info=False, scope_info_enabled=False, registry=self.registry)
        resource = Resource.create({"service.name": SERVICE, "lukhas.lane": LANE})
        self.meter_provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
        self.meter = self.meter_provider.get_meter("benchmarks.raw_otel")
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
        self.tracer = self.tracer_provider.get_tracer("benchmarks.raw_otel")

    def histogram(self, metric_name: str) -> Any:
        """The catalog histogram ``name`` with its explicit buckets (as lukhas creates it)."""
        spec = find_metric(metric_name)
        return self.meter.create_histogram(
            spec.otel_name,
            unit=spec.unit,
            description=spec.description,
            explicit_bucket_boundaries_advisory=list(spec.buckets or ()),
        )

    def counter(self, metric_name: str) -> Any:
        spec = find_metric(metric_name)
        return self.meter.create_counter(spec.otel_name, unit=spec.unit, description=spec.description)

    def gauge(self, metric_name: str) -> Any:
        spec = find_metric(metric_name)
        return self.meter.create_gauge(spec.otel_name, unit=spec.unit, description=spec.description)

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


class RawPrometheus:
    """prometheus_client metrics on a private registry, named, labelled and bucketed like the catalog entries."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

    @staticmethod
    def _labels(spec: MetricSpec) -> list[str]:
        return [*spec.common_attributes, *(a.key for a in spec.attributes)]

    def histogram(self, metric_name: str) -> Histogram:
        spec = find_metric(metric_name)
        return Histogram(
            metric_name, spec.description, self._labels(spec), buckets=list(spec.buckets or ()), registry=self.registry
        )

    def counter(self, metric_name: str) -> Counter:
        spec = find_metric(metric_name)
        return Counter(metric_name, spec.description, self._labels(spec), registry=self.registry)

    def gauge(self, metric_name: str) -> Gauge:
        spec = find_metric(metric_name)
        return Gauge(metric_name, spec.description, self._labels(spec), registry=self.registry)


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextmanager
def lukhas_configured(*, plain_spans: bool = False, **options: Any) -> Iterator[lukhas_obs.Telemetry]:
    """A fresh lukhas-obs configuration (nothing on the network), shut down on exit.

    Spans get lukhas' real per-span pipeline (``QueueWatch``, ``CountingSpanExporter``, ``ScrubbingSpanExporter``)
    ending in a no-op exporter, so the span work matches raw OTel's plus what lukhas adds. ``plain_spans=True`` uses
    a bare ``BatchSpanProcessor`` instead: a reference that isolates what those wrappers cost.
    """
    lukhas_obs.shutdown()
    telemetry = lukhas_obs.configure(
        service=SERVICE,
        lane=LANE,
        prometheus_port=0,
        traces_exporter="none",
        metrics_exporter="prometheus",
        reconfigure=True,
        **options,
    )
    provider = telemetry.tracer_provider
    if provider is not None and plain_spans:
        provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
    elif provider is not None:
        scrubber = runtime.scrubber_for(telemetry.settings)
        exporter = CountingSpanExporter(ScrubbingSpanExporter(NoopSpanExporter(), scrubber), "bench")
        provider.add_span_processor(QueueWatch(BatchSpanProcessor(exporter), "bench"))
    try:
        yield telemetry
    finally:
        lukhas_obs.shutdown()


@contextmanager
def raw_setups() -> Iterator[tuple[RawOtel, RawPrometheus]]:
    """Fresh raw OTel and prometheus_client set-ups for one case (so no case sees another's series)."""
    otel = RawOtel()
    try:
        yield otel, RawPrometheus()
    finally:
        otel.close()


# -- the operations ------------------------------------------------------------------------------------------------


def _empty_loop(n: int) -> None:
    for _ in range(n):
        pass


def _failed_login() -> tuple[bool, str]:
    """The verifier of the authentication cases: a rejected password (so span, histogram and counter all record)."""
    return False, REASON


def lukhas_auth_batch() -> Batch:
    """lukhas-obs: one tier-T2 authentication through the identity flow helper (span + histogram + counter)."""
    authenticate = identity.authenticate

    def batch(n: int) -> None:
        verify = _failed_login
        for _ in range(n):
            authenticate(TIER, verify)

    return batch


def otel_auth_batch(tracer: otel_trace.Tracer, latency: Any, failures: Any) -> Batch:
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


def prom_auth_batch(latency: Histogram, failures: Counter) -> Batch:
    """prometheus_client, hand-written: the histogram's ``.time()`` and the counter; there is no span."""

    def batch(n: int) -> None:
        verify = _failed_login
        for _ in range(n):
            tier = TIER
            with latency.labels(LANE, SERVICE, tier).time():
                ok, reason = verify()
                if not ok:
                    failures.labels(LANE, SERVICE, tier, reason).inc()

    return batch


# -- the cases -------------------------------------------------------------------------------------------------------


def case_histogram_common(config: Config) -> Row:
    """1. Histogram record with no call-time attribute: lukhas adds lane/service, the others pass the same two."""
    with raw_setups() as (otel, prom), lukhas_configured():
        handle = lukhas_obs.metric(SEARCH)
        otel_hist = otel.histogram(SEARCH)
        prom_hist = prom.histogram(SEARCH)
        prom_child = prom_hist.labels(LANE, SERVICE)

        def lukhas_batch(n: int) -> None:
            record = handle.record  # type: ignore[attr-defined]
            for _ in range(n):
                record(VALUE)

        def otel_batch(n: int) -> None:
            record, attrs = otel_hist.record, BASE
            for _ in range(n):
                record(VALUE, attrs)

        def prom_batch(n: int) -> None:
            observe = prom_child.observe
            for _ in range(n):
                observe(VALUE)

        def prom_labels_batch(n: int) -> None:
            labels = prom_hist.labels
            for _ in range(n):
                labels(LANE, SERVICE).observe(VALUE)

        samples, sizes = measure(
            {
                "lukhas": lukhas_batch,
                "otel": otel_batch,
                "prometheus_client": prom_batch,
                "prometheus_client .labels() per call": prom_labels_batch,
            },
            config,
        )
    return make_row(
        "1",
        "histogram record, 0 call-time attributes (→ lane, service)",
        samples,
        sizes,
        note="prometheus_client uses a child bound once at set-up (its label values are constant, as lukhas' are).",
    )


def case_histogram_tier(config: Config) -> Row:
    """2. Histogram record with one call-time enumerated attribute (tier): three labels in all."""
    with raw_setups() as (otel, prom), lukhas_configured():
        handle = lukhas_obs.metric(AUTH_LATENCY)
        otel_hist = otel.histogram(AUTH_LATENCY)
        prom_hist = prom.histogram(AUTH_LATENCY)

        def lukhas_batch(n: int) -> None:
            record = handle.record  # type: ignore[attr-defined]
            for _ in range(n):
                record(VALUE, tier=TIER)

        def otel_batch(n: int) -> None:
            record = otel_hist.record
            for _ in range(n):
                record(VALUE, {"lane": LANE, "service": SERVICE, "tier": TIER})

        def prom_batch(n: int) -> None:
            labels = prom_hist.labels
            for _ in range(n):
                labels(LANE, SERVICE, TIER).observe(VALUE)

        samples, sizes = measure({"lukhas": lukhas_batch, "otel": otel_batch, "prometheus_client": prom_batch}, config)
    return make_row("2", "histogram record, + 1 call-time enum attribute (tier → 3 labels)", samples, sizes)


def case_counter(config: Config) -> Row:
    """3. Counter add with four labels (lane, service, tier, reason)."""
    with raw_setups() as (otel, prom), lukhas_configured():
        handle = lukhas_obs.metric(AUTH_FAILURES)
        otel_counter = otel.counter(AUTH_FAILURES)
        prom_counter = prom.counter(AUTH_FAILURES)

        def lukhas_batch(n: int) -> None:
            add = handle.add  # type: ignore[attr-defined]
            for _ in range(n):
                add(1, tier=TIER, reason=REASON)

        def otel_batch(n: int) -> None:
            add = otel_counter.add
            for _ in range(n):
                add(1, {"lane": LANE, "service": SERVICE, "tier": TIER, "reason": REASON})

        def prom_batch(n: int) -> None:
            labels = prom_counter.labels
            for _ in range(n):
                labels(LANE, SERVICE, TIER, REASON).inc()

        samples, sizes = measure({"lukhas": lukhas_batch, "otel": otel_batch, "prometheus_client": prom_batch}, config)
    return make_row("3", "counter add, 4 labels (lane, service, tier, reason)", samples, sizes)


def case_gauge(config: Config) -> Row:
    """4. Synchronous gauge set (lane/service only)."""
    with raw_setups() as (otel, prom), lukhas_configured():
        handle = lukhas_obs.metric(BACKPRESSURE)
        otel_gauge = otel.gauge(BACKPRESSURE)
        prom_child = prom.gauge(BACKPRESSURE).labels(LANE, SERVICE)

        def lukhas_batch(n: int) -> None:
            set_ = handle.set  # type: ignore[attr-defined]
            for _ in range(n):
                set_(0.4)

        def otel_batch(n: int) -> None:
            set_, attrs = otel_gauge.set, BASE
            for _ in range(n):
                set_(0.4, attrs)

        def prom_batch(n: int) -> None:
            set_ = prom_child.set
            for _ in range(n):
                set_(0.4)

        samples, sizes = measure({"lukhas": lukhas_batch, "otel": otel_batch, "prometheus_client": prom_batch}, config)
    return make_row("4", "gauge set (→ lane, service)", samples, sizes, note="prometheus_client: bound child.")


def _batch_of(fn: Callable[[], None]) -> Batch:
    """A batch calling ``fn`` (a decorated or hand-instrumented function) ``n`` times."""

    def batch(n: int) -> None:
        for _ in range(n):
            fn()

    return batch


def _bare_span_reference(lukhas_batch: Batch, otel_batch: Batch, config: Config) -> dict[str, float]:
    """Re-run ``lukhas_batch`` with a bare ``BatchSpanProcessor`` next to ``otel_batch``: what lukhas' span-export
    wrappers (scrubbing, counting, queue watch) cost, separated from its recording path. Reference figures only."""
    with lukhas_configured(plain_spans=True):
        reference, _ = measure({"bare": lukhas_batch, "otel": otel_batch}, config)
    return {
        "lukhas with a bare BatchSpanProcessor (no scrubbing/counting wrappers)": statistics.median(reference["bare"]),
        "raw OTel SDK in that same round": statistics.median(reference["otel"]),
    }


def case_typical_auth(config: Config) -> Row:
    """5a. The typical hand-written operation: span + latency histogram + failure counter, every call."""
    with raw_setups() as (otel, prom):
        lukhas_batch = lukhas_auth_batch()
        otel_batch = otel_auth_batch(otel.tracer, otel.histogram(AUTH_LATENCY), otel.counter(AUTH_FAILURES))
        prom_batch = prom_auth_batch(prom.histogram(AUTH_LATENCY), prom.counter(AUTH_FAILURES))
        with lukhas_configured():
            samples, sizes = measure(
                {"lukhas": lukhas_batch, "otel": otel_batch, "prometheus_client": prom_batch}, config
            )
        extra = _bare_span_reference(lukhas_batch, otel_batch, config)
    return make_row(
        "5a",
        "span + histogram + counter: a rejected T2 login (lukhas: `identity.authenticate`)",
        samples,
        sizes,
        note="prometheus_client has no span: its figure is histogram `.time()` + counter only.",
        extra=extra,
    )


def case_typical_timed(config: Config) -> Row:
    """5b. A function decorated to be traced and timed (success path): span + histogram."""
    with raw_setups() as (otel, prom):

        @lukhas_obs.timed(SEARCH, span_name="memory.query", k=8)
        def lukhas_search() -> None:
            return None

        otel_hist = otel.histogram(SEARCH)
        start = otel.tracer.start_as_current_span

        def otel_search() -> None:
            with start("memory.query", attributes={"k": 8, "component": "memory"}):
                t0 = perf_counter()
                result = None
                otel_hist.record(perf_counter() - t0, BASE)
                return result

        @prom.histogram(SEARCH).labels(LANE, SERVICE).time()
        def prom_search() -> None:
            return None

        with lukhas_configured():
            samples, sizes = measure(
                {
                    "lukhas": _batch_of(lukhas_search),
                    "otel": _batch_of(otel_search),
                    "prometheus_client": _batch_of(prom_search),
                },
                config,
            )
        extra = _bare_span_reference(_batch_of(lukhas_search), _batch_of(otel_search), config)
    return make_row(
        "5b",
        "span + histogram: a function decorated with `@timed` (success path)",
        samples,
        sizes,
        note="prometheus_client has no span: its figure is the histogram's `@.time()` decorator only.",
        extra=extra,
    )


def _noop_histogram() -> Any:
    """An OTel API histogram with no SDK installed (the no-op the API hands out)."""
    meter = otel_metrics.NoOpMeterProvider().get_meter("benchmarks.noop")
    spec = find_metric(SEARCH)
    return meter.create_histogram(spec.otel_name, unit=spec.unit, description=spec.description)


def _noop_record_batches() -> dict[str, Batch]:
    handle = lukhas_obs.metric(SEARCH)
    noop = _noop_histogram()

    def lukhas_batch(n: int) -> None:
        record = handle.record  # type: ignore[attr-defined]
        for _ in range(n):
            record(VALUE)

    def otel_batch(n: int) -> None:
        record, attrs = noop.record, BASE
        for _ in range(n):
            record(VALUE, attrs)

    return {"lukhas": lukhas_batch, "otel": otel_batch}


_NOOP_NOTE = "prometheus_client has no no-op mode (n/a); OTel is the API's no-op objects (`NoOp*Provider`), no SDK."


def case_noop_unconfigured(config: Config) -> Row:
    """6a. Histogram record while lukhas-obs is not configured vs the OTel API without an SDK."""
    lukhas_obs.shutdown()
    samples, sizes = measure(_noop_record_batches(), config)
    return make_row("6a", "no-op histogram record: lukhas before `configure()`", samples, sizes, note=_NOOP_NOTE)


def case_noop_disabled(config: Config) -> Row:
    """6b. Histogram record with ``OTEL_SDK_DISABLED=true`` vs the OTel API without an SDK."""
    with _environ("OTEL_SDK_DISABLED", "true"), lukhas_configured() as telemetry:
        assert telemetry.disabled, "OTEL_SDK_DISABLED=true did not disable lukhas-obs"
        samples, sizes = measure(_noop_record_batches(), config)
    return make_row(
        "6b", "no-op histogram record: lukhas with `OTEL_SDK_DISABLED=true`", samples, sizes, note=_NOOP_NOTE
    )


def case_noop_typical(config: Config) -> Row:
    """6c. The typical operation of 5a while lukhas-obs is not configured vs the same code on the OTel no-op API."""
    lukhas_obs.shutdown()
    meter = otel_metrics.NoOpMeterProvider().get_meter("benchmarks.noop")
    tracer = otel_trace.NoOpTracerProvider().get_tracer("benchmarks.noop")
    samples, sizes = measure(
        {
            "lukhas": lukhas_auth_batch(),
            "otel": otel_auth_batch(
                tracer, meter.create_histogram("lukhas.auth.latency"), meter.create_counter("lukhas.auth.failures")
            ),
        },
        config,
    )
    return make_row(
        "6c",
        "no-op span + histogram + counter (5a's code): lukhas before `configure()`",
        samples,
        sizes,
        note=_NOOP_NOTE,
    )


def case_scrape(config: Config) -> Row:
    """7. Render /metrics with ``config.scrape_series`` histogram series (one histogram, one service label each)."""
    count = config.scrape_series
    services = [f"svc-{i:05d}" for i in range(count)]
    with raw_setups() as (otel, prom), lukhas_configured(cardinality_limit=max(DEFAULT_CARDINALITY_LIMIT, count + 10)):
        handle = lukhas_obs.metric(SEARCH)
        otel_hist = otel.histogram(SEARCH)
        prom_hist = prom.histogram(SEARCH)
        for service in services:
            handle.record(VALUE, service=service)  # type: ignore[attr-defined]
            otel_hist.record(VALUE, {"lane": LANE, "service": service})
            prom_hist.labels(LANE, service).observe(VALUE)
        registries = {
            "lukhas": runtime.active_registry(),  # exactly what the /metrics endpoint renders
            "otel": otel.registry,
            "prometheus_client": prom.registry,
        }
        sizes_bytes: dict[str, int] = {}
        for name, registry in registries.items():
            assert registry is not None
            text = generate_latest(registry).decode()
            series = text.count("lukhas_memory_search_seconds_count{")
            assert series == count, f"{name}: {series} series rendered, expected {count}"
            sizes_bytes[name] = len(text)

        def scrape_batch(registry: CollectorRegistry) -> Batch:
            def batch(n: int) -> None:
                for _ in range(n):
                    generate_latest(registry)

            return batch

        samples, sizes = measure({name: scrape_batch(reg) for name, reg in registries.items() if reg}, config)
    size_text = ", ".join(f"{IMPL_TITLES[name]} {size / 1024:,.0f} KiB" for name, size in sizes_bytes.items())
    return make_row(
        "7",
        f"scrape: render /metrics with {count:,} histogram series (ms per scrape)",
        samples,
        sizes,
        unit="ms",
        note=f"`generate_latest` on each registry; body size: {size_text}.",
    )


CASES: tuple[Callable[[Config], Row], ...] = (
    case_histogram_common,
    case_histogram_tier,
    case_counter,
    case_gauge,
    case_typical_auth,
    case_typical_timed,
    case_noop_unconfigured,
    case_noop_disabled,
    case_noop_typical,
    case_scrape,
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


def environment(config: Config, command: str, exemplar_filter: str) -> dict[str, Any]:
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
        "exemplar_filter": exemplar_filter,
        "repeats": config.repeats,
        "batch_ms": config.batch_ns / 1e6,
        "scrape_series": config.scrape_series,
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def run(config: Config, *, exemplar_filter: str = "trace_based") -> tuple[list[Row], dict[str, Any]]:
    """Run every case and return the rows plus the empty-loop reference (ns/op), restoring the environment."""
    with _environ("OTEL_METRICS_EXEMPLAR_FILTER", exemplar_filter):
        loop, _ = measure({"loop": _empty_loop}, config)
        rows = []
        for case in CASES:
            started = perf_counter()
            rows.append(case(config))
            print(f"  {case.__name__}: {perf_counter() - started:.1f}s", file=sys.stderr)
    return rows, {"empty_loop_ns": statistics.median(loop["loop"])}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value / 1e6:,.1f} ms"
    return f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def render_markdown(rows: Sequence[Row], meta: Mapping[str, Any]) -> str:
    """The results table with its environment, the exact command and the per-row notes."""
    lines = [
        "| # | operation | lukhas-obs | raw OTel SDK | prometheus_client | lukhas / OTel | lukhas / prom_client "
        "| spread |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        spread = max(row.spread_pct[name] for name in IMPLS if name in row.spread_pct)
        lines.append(
            f"| {row.id} | {row.operation} | {_fmt(row.lukhas_ns, row.unit)} | {_fmt(row.otel_ns, row.unit)} | "
            f"{_fmt(row.prometheus_client_ns, row.unit)} | {_ratio(row.lukhas_over_otel)} | "
            f"{_ratio(row.lukhas_over_prometheus_client)} | {spread:.0f} % |"
        )
    lines += [
        "",
        "ns per operation (median of "
        f"{meta['repeats']} interleaved batches of ~{meta['batch_ms']:g} ms each) unless marked ms; ratio > 1 means "
        "lukhas-obs costs more. *spread*: the largest inter-quartile range / median among the columns. Figures include "
        f"the benchmark loop (empty loop: {meta['empty_loop_ns']:.0f} ns/op).",
        "",
    ]
    for row in rows:
        suffix = " ns/op" if row.unit == "ns" else ""
        references = "; ".join(f"{name}: {_fmt(value, row.unit)}{suffix}" for name, value in row.extra.items())
        notes = [text for text in (row.note, f"Reference: {references}." if references else "") if text]
        if notes:
            lines.append(f"- **{row.id}**: " + " ".join(notes))
    lines += [
        "",
        f"Command: `{meta['command']}`  ",
        f"Python {meta['python']} ({meta['implementation']}), {meta['platform']}  ",
        f"CPU: {meta['cpu_model']}, {meta['cpu_count']} cores  ",
        f"lukhas-obs {meta['lukhas_obs']} (git {meta['git']}), opentelemetry-api/sdk {meta['opentelemetry_api']}/"
        f"{meta['opentelemetry_sdk']}, opentelemetry-exporter-prometheus {meta['opentelemetry_exporter_prometheus']}, "
        f"prometheus_client {meta['prometheus_client']}  ",
        f"OTEL_METRICS_EXEMPLAR_FILTER={meta['exemplar_filter']} (both MeterProviders)  ",
        f"Run {meta['date_utc']}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: run the suite, print the markdown report, optionally write the JSON one."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_recording", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches: a smoke run, the numbers are noise")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the rows, samples and environment here")
    parser.add_argument("--repeats", type=int, help="batches per figure (default 9; --quick 5)")
    parser.add_argument("--batch-ms", type=float, help="wall time per batch (default 150; --quick 0.2)")
    parser.add_argument("--scrape-series", type=int, help="histogram series for the scrape case (default 1000)")
    parser.add_argument(
        "--exemplar-filter",
        choices=("trace_based", "always_on", "always_off"),
        default="trace_based",
        help="OTEL_METRICS_EXEMPLAR_FILTER for both MeterProviders (default: the SDK default, trace_based)",
    )
    args = parser.parse_args(args_list)
    config = QUICK if args.quick else FULL
    config = Config(
        repeats=max(1, args.repeats) if args.repeats else config.repeats,
        batch_ns=int(args.batch_ms * 1e6) if args.batch_ms else config.batch_ns,
        max_ops=config.max_ops,
        scrape_series=args.scrape_series or config.scrape_series,
    )
    command = shlex.join(["python", "-m", "benchmarks.bench_recording", *args_list])
    meta = environment(config, command, args.exemplar_filter)
    print(f"running {len(CASES)} cases: {command}", file=sys.stderr)
    rows, reference = run(config, exemplar_filter=args.exemplar_filter)
    meta.update(reference)
    print(render_markdown(rows, meta))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": [asdict(row) for row in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
