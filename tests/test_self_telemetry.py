"""Self-telemetry on /metrics: an operator sees when telemetry itself is in trouble.

``lukhas_obs_exported_spans_total{exporter,outcome}``, ``lukhas_obs_exported_metric_points_total{exporter,outcome}``,
``lukhas_obs_exporter_errors_total{exporter,signal}`` and ``lukhas_obs_span_queue_size{exporter}``, scraped over HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import lukhas_obs
from lukhas_obs.exporters.selfmetrics import CountingMetricExporter, CountingSpanExporter, QueueWatch
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.rotel import free_port
from tests.support.scrape import scrape


def _series(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of ``name`` keyed by their labels other than lane/service (which every series carries)."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for sample in scrape(url).samples(name):
        assert sample.labels["lane"] and sample.labels["service"]
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("lane", "service")))
        out[key] = sample.value
    return out


def _value(url: str, name: str, **labels: str) -> float:
    return _series(url, name).get(tuple(sorted(labels.items())), 0.0)


def _eventually(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_collector_down_raises_failure_and_drop_counters(caplog):
    caplog.set_level(logging.CRITICAL, logger="opentelemetry")
    telemetry = lukhas_obs.configure(
        prometheus_port=0,
        otlp_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens
        otlp_protocol="grpc",
        otlp_timeout=1,
        metric_export_interval=0.5,
    )
    url = telemetry.metrics_url
    tracer = lukhas_obs.get_tracer("tests.self")
    emitted = 4000
    for _ in range(emitted):  # faster than a 1 s failing export drains: the 2048-span queue overflows
        with tracer.start_as_current_span("memory.query"):
            pass

    assert _value(url, "lukhas_obs_exported_spans_total", exporter="otlp", outcome="dropped") > 0
    assert _eventually(lambda: _value(url, "lukhas_obs_exported_spans_total", exporter="otlp", outcome="failed") > 0)
    assert _eventually(lambda: _value(url, "lukhas_obs_exporter_errors_total", exporter="otlp", signal="traces") > 0)
    assert _eventually(lambda: _value(url, "lukhas_obs_exporter_errors_total", exporter="otlp", signal="metrics") > 0)
    failed_points = _value(url, "lukhas_obs_exported_metric_points_total", exporter="otlp", outcome="failed")
    assert failed_points > 0
    spans = _series(url, "lukhas_obs_exported_spans_total")
    assert (("exporter", "otlp"), ("outcome", "exported")) not in spans
    # conservation: every span is counted once as failed or dropped, or is still queued or in the batch in flight
    queued = _value(url, "lukhas_obs_span_queue_size", exporter="otlp")
    accounted = sum(spans.values()) + queued
    print(f"\ncollector down: {spans} queued={queued:.0f} of {emitted}; failed metric points={failed_points:.0f}")
    assert emitted - 2 * 512 <= accounted <= emitted
    telemetry.shutdown(timeout=0.5)


@pytest.mark.e2e
def test_collector_up_exported_counters_match_what_arrived():
    with OtlpReceiver("http") as receiver:
        telemetry = lukhas_obs.configure(
            prometheus_port=0,
            otlp_endpoint=receiver.endpoint,
            otlp_protocol="http",
            otlp_timeout=5,
            metric_export_interval=1.0,
        )
        url = telemetry.metrics_url
        tracer = lukhas_obs.get_tracer("tests.self")
        for i in range(25):
            with tracer.start_as_current_span("memory.query", attributes={"k": i}):
                lukhas_obs.metric("lukhas_memory_search_seconds").record(0.01)
        assert telemetry.tracer_provider.force_flush(5000)  # spans only: the Prometheus reader is not collected

        assert receiver.wait_for(lambda r: len(r.spans()) == 25, timeout=10)
        assert _value(url, "lukhas_obs_exported_spans_total", exporter="otlp", outcome="exported") == 25
        assert set(_series(url, "lukhas_obs_exported_spans_total")) == {(("exporter", "otlp"), ("outcome", "exported"))}
        assert _series(url, "lukhas_obs_exporter_errors_total") == {}
        assert _value(url, "lukhas_obs_span_queue_size", exporter="otlp") == 0

        def points_received() -> int:
            return sum(len(getattr(metric, metric.WhichOneof("data")).data_points) for _, metric in receiver.metrics())

        assert receiver.wait_for(lambda r: points_received() > 0, timeout=10)
        # periodic exports keep going: the two sides agree between two exports
        agree = _eventually(
            lambda: (
                points_received()
                == _value(url, "lukhas_obs_exported_metric_points_total", exporter="otlp", outcome="exported")
            ),
            timeout=10,
        )
        assert agree, (points_received(), _series(url, "lukhas_obs_exported_metric_points_total"))


class _Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("boom")

    def shutdown(self) -> None:
        raise RuntimeError("shutdown boom")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        raise RuntimeError("flush boom")


class _FailingMetrics(MetricExporter):
    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        raise TimeoutError("slow")

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


def test_wrappers_never_raise_and_count_exceptions_as_failures(caplog):
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    url = telemetry.metrics_url
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("s") as span:
        pass
    wrapped = CountingSpanExporter(_Raising(), "console")
    assert wrapped.export([span, span, span]) is SpanExportResult.FAILURE
    assert wrapped.export([span]) is SpanExportResult.FAILURE
    wrapped.shutdown()
    assert wrapped.force_flush() is False
    assert _value(url, "lukhas_obs_exported_spans_total", exporter="console", outcome="failed") == 4
    assert _value(url, "lukhas_obs_exporter_errors_total", exporter="console", signal="traces") == 2
    assert sum("raised during export" in r.getMessage() for r in caplog.records) == 1  # logged once

    metrics = CountingMetricExporter(_FailingMetrics(), "otlp")
    assert metrics.export(MetricsData(resource_metrics=[])) is MetricExportResult.FAILURE
    assert _value(url, "lukhas_obs_exporter_errors_total", exporter="otlp", signal="metrics") == 1


def test_queue_watch_delegates_and_tolerates_processors_without_a_queue():
    class Plain:
        def __init__(self) -> None:
            self.ended = 0

        def on_start(self, span, parent_context=None) -> None:
            pass

        def on_end(self, span) -> None:
            self.ended += 1

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    inner = Plain()
    watch = QueueWatch(inner, "file")  # type: ignore[arg-type]
    provider = TracerProvider()
    provider.add_span_processor(watch)
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    assert inner.ended == 1
    assert watch.queue_size() is None
    assert watch.force_flush() is True


def test_an_abandoned_pipeline_never_counts_into_the_next_configuration():
    """A shutdown that timed out leaves a pipeline that may still finish (fail) a batch later: it must count into
    its own, ended configuration, never into the active one's lukhas_obs_exported_* series."""
    from opentelemetry.sdk.trace.export import SpanExportResult

    from lukhas_obs.exporters.selfmetrics import CountingSpanExporter, Owner

    class Failing:
        def export(self, spans):
            return SpanExportResult.FAILURE

        def shutdown(self):
            return None

        def force_flush(self, timeout_millis=0):
            return True

    old = Owner()
    old.telemetry = object()  # a configuration that is no longer the active one
    mine = Owner()
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    mine.telemetry = telemetry
    CountingSpanExporter(Failing(), "otlp", owner=old).export([object()] * 3)
    assert _series(telemetry.metrics_url, "lukhas_obs_exported_spans_total") == {}
    CountingSpanExporter(Failing(), "otlp", owner=mine).export([object()] * 2)
    assert _value(telemetry.metrics_url, "lukhas_obs_exported_spans_total", exporter="otlp", outcome="failed") == 2
