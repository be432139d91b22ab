"""Span benchmark: lukhas-obs ``@timed`` / ``span()`` against the same code written by hand with raw OpenTelemetry.

Run from the repository root::

    python -m benchmarks.bench_spans            # full run (~2 min on 2 cores), a table of medians and ratios
    python -m benchmarks.bench_spans --quick    # under 30 s: fewer, shorter batches (ratios within ~10 %)
    python -m benchmarks.bench_spans --json out.json

Everything runs in one process, batches interleaved (the order rotates every repeat), medians of ns per operation.
What is compared, with the same span processors on both sides:

- **@timed flow**: a function decorated with ``@lukhas_obs.timed("lukhas_memory_search_seconds",
  span_name="memory.query", k=8)`` (a real SDK span + one duration-histogram record) against the hand-written
  equivalent on a plain SDK ``TracerProvider``/``MeterProvider``: ``with tracer.start_as_current_span("memory.query",
  attributes={"k": 8, "component": "memory"})`` around ``perf_counter()`` and ``histogram.record(elapsed, attrs)``.
  Also: lukhas with its fast path switched off (``spans.use_fast_path(False)``, the public ``start_span`` path).
- **span() alone**: ``with lukhas_obs.span("memory.query", k=8)`` against ``with tracer.start_as_current_span(...)``.
- **disabled**: the same lukhas code before ``configure()`` (and after ``configure(disabled=True)``) against the
  same hand-written code on the OTel API without an SDK (``NoOpTracer`` + a no-op histogram).

Span processors, in both providers (``--pipeline``): ``bare`` (default) is one ``BatchSpanProcessor`` to an exporter
that does nothing; ``lukhas`` is lukhas' own per-span chain around that exporter (``QueueWatch``,
``CountingSpanExporter``, ``ScrubbingSpanExporter``), built the same way for the raw SDK provider. Exemplars use the
SDK default (``trace_based``) on both MeterProviders.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from time import perf_counter, perf_counter_ns, process_time_ns
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult, SpanProcessor

import lukhas_obs
from lukhas_obs import runtime, spans
from lukhas_obs.catalog import find_metric
from lukhas_obs.exporters.selfmetrics import CountingSpanExporter, QueueWatch
from lukhas_obs.scrubbing import ScrubbingSpanExporter

__all__ = ["FULL", "QUICK", "Config", "main", "run"]

SERVICE = "lukhas-bench"
LANE = "candidate"
METRIC = "lukhas_memory_search_seconds"
SPAN_NAME = "memory.query"
RAW_ATTRS: dict[str, object] = {"k": 8, "component": "memory"}  # what lukhas puts on the span
RAW_METRIC_ATTRS: dict[str, str] = {"lane": LANE, "service": SERVICE}  # what lukhas puts on the measurement

Batch = Callable[[int], None]


@dataclass(frozen=True)
class Config:
    """Repeats per figure and wall time per batch."""

    repeats: int
    batch_ns: int
    max_ops: int = 1_000_000


FULL = Config(repeats=9, batch_ns=200_000_000)
QUICK = Config(repeats=5, batch_ns=60_000_000)


class NoopSpanExporter(SpanExporter):
    """Accepts every batch and does nothing: the span pipeline is measured up to the exporter."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _processor(pipeline: str, settings: Any) -> SpanProcessor:
    """One span processor as ``--pipeline`` asks (a fresh one per provider: processors are not shared)."""
    if pipeline == "bare":
        return BatchSpanProcessor(NoopSpanExporter())
    scrubber = runtime.scrubber_for(settings)
    exporter = CountingSpanExporter(ScrubbingSpanExporter(NoopSpanExporter(), scrubber), "bench")
    return QueueWatch(BatchSpanProcessor(exporter), "bench")


# -- timing harness -------------------------------------------------------------------------------------------------


#: The clock batches are timed with (``--clock``): process CPU time (default: every thread of the process, so the
#: batch processor's export thread counts, and time the scheduler gives other processes does not) or wall time.
_clock: Callable[[], int] = process_time_ns


def _time_batch(batch: Batch, n: int) -> int:
    gc.collect()
    clock = _clock
    start = clock()
    batch(n)
    return clock() - start


def _batch_size(batch: Batch, config: Config) -> int:
    """Ops per batch so one batch takes about ``config.batch_ns`` (doubles as warm-up)."""
    n = 1
    while True:
        elapsed = max(1, _time_batch(batch, n))
        if elapsed >= config.batch_ns // 10 or n >= config.max_ops:
            break
        n = min(config.max_ops, max(n * 2, int(n * config.batch_ns / 10 / elapsed)))
    return max(1, min(config.max_ops, int(config.batch_ns * n / elapsed)))


def measure(batches: Mapping[str, Batch], config: Config) -> dict[str, list[float]]:
    """ns/op samples of every batch, interleaved, the order rotating every repeat."""
    sizes = {name: _batch_size(batch, config) for name, batch in batches.items()}
    samples: dict[str, list[float]] = {name: [] for name in batches}
    names = list(batches)
    for repeat in range(config.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_time_batch(batches[name], sizes[name]) / sizes[name])
    return samples


def _calls(fn: Callable[[], Any]) -> Batch:
    def batch(n: int) -> None:
        for _ in range(n):
            fn()

    return batch


# -- set-ups ----------------------------------------------------------------------------------------------------------


class RawOtel:
    """A plain SDK tracer and histogram, wired with the same span processor kind and resource as lukhas'."""

    def __init__(self, pipeline: str, settings: Any) -> None:
        resource = Resource.create({"service.name": SERVICE, "lukhas.lane": LANE})
        self.meter_provider = MeterProvider(
            metric_readers=[InMemoryMetricReader()], resource=resource, shutdown_on_exit=False
        )
        spec = find_metric(METRIC)
        self.histogram = self.meter_provider.get_meter("benchmarks.raw_otel").create_histogram(
            spec.otel_name,
            unit=spec.unit,
            description=spec.description,
            explicit_bucket_boundaries_advisory=list(spec.buckets or ()),
        )
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(_processor(pipeline, settings))
        self.tracer = self.tracer_provider.get_tracer("benchmarks.raw_otel")

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def hand_written(tracer: Any, histogram: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    """(the @timed flow, span alone) written by hand against ``tracer``/``histogram`` (SDK or no-op API)."""
    start, record, attrs, metric_attrs = tracer.start_as_current_span, histogram.record, RAW_ATTRS, RAW_METRIC_ATTRS

    def timed_flow() -> None:
        with start(SPAN_NAME, attributes=attrs):
            t0 = perf_counter()
            record(perf_counter() - t0, metric_attrs)

    def span_alone() -> None:
        with start(SPAN_NAME, attributes=attrs):
            pass

    return timed_flow, span_alone


def lukhas_code() -> tuple[Callable[[], None], Callable[[], None]]:
    """(the @timed flow, span alone) with lukhas' helpers."""

    @lukhas_obs.timed(METRIC, span_name=SPAN_NAME, k=8)
    def timed_flow() -> None:
        pass

    span = lukhas_obs.span

    def span_alone() -> None:
        with span(SPAN_NAME, k=8):
            pass

    return timed_flow, span_alone


@contextmanager
def lukhas_configured(pipeline: str) -> Iterator[Any]:
    lukhas_obs.shutdown()
    telemetry = lukhas_obs.configure(
        service=SERVICE,
        lane=LANE,
        prometheus_port=0,
        traces_exporter="none",
        metrics_exporter="prometheus",
        reconfigure=True,
    )
    assert telemetry.tracer_provider is not None, "lukhas-obs is disabled: nothing to measure"
    telemetry.tracer_provider.add_span_processor(_processor(pipeline, telemetry.settings))
    try:
        yield telemetry
    finally:
        lukhas_obs.shutdown()


# -- the run ----------------------------------------------------------------------------------------------------------


def _median(samples: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in samples.items()}


def _spread(values: Sequence[float]) -> float:
    if len(values) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return 100.0 * (q3 - q1) / statistics.median(values)


def run(config: Config, pipeline: str = "bare") -> dict[str, Any]:
    """Every case; returns medians (ns/op), spreads (%) and the ratios."""
    results: dict[str, Any] = {"medians_ns": {}, "spread_pct": {}, "ratios": {}}
    with lukhas_configured(pipeline) as telemetry:
        assert spans.fast_path_active(), "the span fast path is off on this SDK (see spans.KNOWN_SDK_FINGERPRINTS)"
        raw = RawOtel(pipeline, telemetry.settings)
        try:
            raw_timed, raw_span = hand_written(raw.tracer, raw.histogram)
            lukhas_timed, lukhas_span = lukhas_code()
            spans.use_fast_path(False)
            fallback_timed, fallback_span = lukhas_code()

            def fallback(fn: Callable[[], None]) -> Batch:
                def batch(n: int) -> None:
                    spans.use_fast_path(False)
                    try:
                        _calls(fn)(n)
                    finally:
                        spans.use_fast_path(True)

                return batch

            spans.use_fast_path(True)
            samples = measure(
                {
                    "timed: lukhas": _calls(lukhas_timed),
                    "timed: lukhas, fast path off": fallback(fallback_timed),
                    "timed: raw OTel": _calls(raw_timed),
                    "span: lukhas": _calls(lukhas_span),
                    "span: lukhas, fast path off": fallback(fallback_span),
                    "span: raw OTel": _calls(raw_span),
                },
                config,
            )
        finally:
            spans.use_fast_path(True)
            raw.close()
    lukhas_obs.shutdown()
    noop_tracer = otel_trace.NoOpTracer()
    noop_histogram = otel_metrics.NoOpMeter("benchmarks.noop").create_histogram("noop", unit="s")
    noop_timed, noop_span = hand_written(noop_tracer, noop_histogram)
    off_timed, off_span = lukhas_code()
    samples.update(
        measure(
            {
                "disabled timed: lukhas": _calls(off_timed),
                "disabled timed: OTel no-op API": _calls(noop_timed),
                "disabled span: lukhas": _calls(off_span),
                "disabled span: OTel no-op API": _calls(noop_span),
            },
            config,
        )
    )
    lukhas_obs.configure(disabled=True, reconfigure=True)  # configured, but disabled (OTEL_SDK_DISABLED=true)
    try:
        samples.update(measure({"disabled timed: lukhas, configure(disabled=True)": _calls(off_timed)}, config))
    finally:
        lukhas_obs.shutdown()
    medians = _median(samples)
    results["medians_ns"] = {name: round(value, 1) for name, value in medians.items()}
    results["spread_pct"] = {name: round(_spread(values), 1) for name, values in samples.items()}
    results["ratios"] = {
        "timed: lukhas / raw OTel (target <= 0.4)": medians["timed: lukhas"] / medians["timed: raw OTel"],
        "timed: lukhas fast path off / raw OTel": medians["timed: lukhas, fast path off"] / medians["timed: raw OTel"],
        "span: lukhas / raw OTel": medians["span: lukhas"] / medians["span: raw OTel"],
        "span: lukhas fast path off / raw OTel": medians["span: lukhas, fast path off"] / medians["span: raw OTel"],
        "disabled timed: lukhas / OTel no-op (target <= 0.5)": medians["disabled timed: lukhas"]
        / medians["disabled timed: OTel no-op API"],
        "disabled timed: lukhas configure(disabled=True) / OTel no-op (target <= 0.5)": medians[
            "disabled timed: lukhas, configure(disabled=True)"
        ]
        / medians["disabled timed: OTel no-op API"],
        "disabled span: lukhas / OTel no-op (target <= 0.5)": medians["disabled span: lukhas"]
        / medians["disabled span: OTel no-op API"],
    }
    return results


def environment(config: Config, pipeline: str, command: str, clock: str) -> dict[str, Any]:
    versions = {}
    for package in ("opentelemetry-sdk", "opentelemetry-api"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[package] = "not installed"
    return {
        "command": command,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "pipeline": pipeline,
        "clock": clock,
        "repeats": config.repeats,
        "batch_ms": config.batch_ns / 1e6,
        "sdk_fingerprint": spans.sdk_fingerprint(),
        **versions,
    }


def render(results: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    lines = [
        f"# Span benchmark ({meta['command']})",
        "",
        f"Python {meta['python']} on {meta['machine']} ({meta['cpus']} CPUs), opentelemetry-sdk "
        f"{meta['opentelemetry-sdk']}, span processors: {meta['pipeline']}, {meta['clock']} clock, "
        f"{meta['repeats']} repeats of {meta['batch_ms']:.0f} ms batches, medians.",
        "",
        "| case | ns/op | spread |",
        "|---|---:|---:|",
    ]
    for name, value in results["medians_ns"].items():
        lines.append(f"| {name} | {value:,.0f} | {results['spread_pct'][name]:.0f} % |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    for name, value in results["ratios"].items():
        lines.append(f"| {name} | {value:.2f}x |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: run the cases, print the table, optionally write JSON."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_spans", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under 30 s: fewer and shorter batches")
    parser.add_argument("--pipeline", choices=("bare", "lukhas"), default="bare", help="span processors on both sides")
    parser.add_argument("--repeats", type=int, help="batches per figure (default 9; --quick 5)")
    parser.add_argument("--batch-ms", type=float, help="wall time per batch (default 200; --quick 60)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="process CPU time (default; robust on a shared machine) or wall time",
    )
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write medians, spreads and ratios here")
    args = parser.parse_args(args_list)
    config = QUICK if args.quick else FULL
    config = Config(
        repeats=max(1, args.repeats) if args.repeats else config.repeats,
        batch_ns=int(args.batch_ms * 1e6) if args.batch_ms else config.batch_ns,
    )
    global _clock
    _clock = process_time_ns if args.clock == "cpu" else perf_counter_ns
    command = " ".join(["python -m benchmarks.bench_spans", *args_list])
    results = run(config, args.pipeline)
    meta = environment(config, args.pipeline, command, args.clock)
    print(render(results, meta))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
