"""Self-telemetry of the export path: is the application's telemetry actually getting out?

Three small decorators, wired in by the runtime where exporters and span processors are created:

- :class:`CountingSpanExporter` / :class:`CountingMetricExporter` wrap an exporter and count what it was handed, by
  outcome (``exported`` or ``failed``), in ``lukhas_obs_exported_spans_total{exporter,outcome}`` and
  ``lukhas_obs_exported_metric_points_total{exporter,outcome}``; every failed or raising export call also counts in
  ``lukhas_obs_exporter_errors_total{exporter,signal}``. They never raise: an exporter that throws reports failure.
- :class:`QueueWatch` wraps a ``BatchSpanProcessor``: spans that end while its queue is full (by count, or by bytes
  against its budget) are dropped and counted as ``outcome="dropped"``, and the queue length is published in
  ``lukhas_obs_span_queue_size{exporter}``. The queue is read, never modified, through guarded private attribute
  access — on an SDK version without that attribute the gauge and the drop count are simply absent.

Both exporter wrappers are also bound to the process that created them: after ``os.fork()`` the child's copies of
the parent's exporters report success and send nothing (the child re-initialises its own, see
:func:`lukhas_obs.runtime._after_fork_in_child`), so a worker never re-sends the parent's accumulated data.

Counts go through catalog handles (:func:`lukhas_obs.metric`), so they appear on ``/metrics`` with ``lane``/``service``
labels like every other series, and are no-ops when lukhas-obs is not configured.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence, Sized
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from lukhas_obs import _state

__all__ = [
    "EXPORTED_METRIC_POINTS",
    "EXPORTED_SPANS",
    "EXPORTER_ERRORS",
    "SPAN_QUEUE_SIZE",
    "CountingMetricExporter",
    "CountingSpanExporter",
    "QueueWatch",
    "count_metric_points",
]

_log = logging.getLogger("lukhas_obs")

EXPORTED_SPANS = "lukhas_obs_exported_spans_total"
EXPORTED_METRIC_POINTS = "lukhas_obs_exported_metric_points_total"
EXPORTER_ERRORS = "lukhas_obs_exporter_errors_total"
SPAN_QUEUE_SIZE = "lukhas_obs_span_queue_size"


class Owner:
    """The configuration a pipeline's self-telemetry belongs to (set by the runtime once it is built).

    A pipeline abandoned by a shutdown that timed out (collector down) may still finish a batch later; it must not
    count into the next configuration's ``lukhas_obs_exported_*`` series.
    """

    __slots__ = ("telemetry",)

    def __init__(self) -> None:
        self.telemetry: object = None

    def counts(self) -> bool:
        """True while this configuration is the active one (or before it is known)."""
        telemetry = self.telemetry
        return telemetry is None or telemetry is _state.current.telemetry


def _add(metric_name: str, amount: int, owner: Owner | None = None, **attributes: str) -> None:
    """Count through the catalog handle; self-telemetry must never fail the export path."""
    if amount <= 0 or (owner is not None and not owner.counts()):
        return
    try:
        from lukhas_obs.instruments import counter

        counter(metric_name).add(amount, **attributes)
    except Exception:  # pragma: no cover - handles never raise; this guards an import-time problem
        pass


class _WarnOnce:
    """Log the first exception of an exporter: one line, not one per batch while a collector is down."""

    def __init__(self) -> None:
        self._done = False

    def __call__(self, exporter: str, what: str, exc: BaseException) -> None:
        if not self._done:
            self._done = True
            _log.warning(
                "lukhas_obs: the %s exporter raised during %s (%s: %s); counted in %s, logged once",
                exporter,
                what,
                type(exc).__name__,
                exc,
                EXPORTER_ERRORS,
            )


def _call_shutdown(inner: Any, timeout_millis: float | None) -> None:
    """``inner.shutdown``, passing ``timeout_millis`` only to exporters that take it (as the SDK's processor does)."""
    try:
        takes_timeout = "timeout_millis" in inspect.getfullargspec(inner.shutdown).args
    except TypeError:
        takes_timeout = False
    if takes_timeout and timeout_millis is not None:
        inner.shutdown(timeout_millis=timeout_millis)
    else:
        inner.shutdown()


class CountingSpanExporter(SpanExporter):
    """A :class:`SpanExporter` that delegates to ``inner`` and counts spans by outcome; never raises."""

    def __init__(self, inner: SpanExporter, exporter: str, *, owner: Owner | None = None) -> None:
        self.inner = inner
        self.exporter = exporter
        self.owner = owner
        self._warn = _WarnOnce()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<CountingSpanExporter {self.exporter}: {self.inner!r}>"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if os.getpid() != self._pid:  # inherited by a forked child: the parent's data is not ours to send
            return SpanExportResult.SUCCESS
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            self._warn(self.exporter, "export", exc)
            result = SpanExportResult.FAILURE
        ok = result is SpanExportResult.SUCCESS
        _add(EXPORTED_SPANS, len(spans), self.owner, exporter=self.exporter, outcome="exported" if ok else "failed")
        if not ok:
            _add(EXPORTER_ERRORS, 1, self.owner, exporter=self.exporter, signal="traces")
        return result

    def shutdown(self, timeout_millis: float | None = None) -> None:
        try:
            _call_shutdown(self.inner, timeout_millis)
        except Exception as exc:
            self._warn(self.exporter, "shutdown", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception as exc:
            self._warn(self.exporter, "force_flush", exc)
            return False


def count_metric_points(data: MetricsData) -> int:
    """Number of data points in an export batch (every series of every metric of every scope)."""
    total = 0
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                total += len(getattr(metric.data, "data_points", ()) or ())
    return total


class CountingMetricExporter(MetricExporter):
    """A :class:`MetricExporter` that delegates to ``inner`` and counts data points by outcome; never raises.

    It adopts ``inner``'s preferred temporality and aggregation, so the reader behaves exactly as without it.
    """

    def __init__(self, inner: MetricExporter, exporter: str, *, owner: Owner | None = None) -> None:
        self.owner = owner
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self.inner = inner
        self.exporter = exporter
        self._warn = _WarnOnce()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<CountingMetricExporter {self.exporter}: {self.inner!r}>"

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if os.getpid() != self._pid:  # inherited by a forked child: the parent's data is not ours to send
            return MetricExportResult.SUCCESS
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            self._warn(self.exporter, "export", exc)
            result = MetricExportResult.FAILURE
        ok = result is MetricExportResult.SUCCESS
        try:
            points = count_metric_points(metrics_data)
        except Exception:  # pragma: no cover - a foreign MetricsData shape
            points = 0
        _add(EXPORTED_METRIC_POINTS, points, self.owner, exporter=self.exporter, outcome="exported" if ok else "failed")
        if not ok:
            _add(EXPORTER_ERRORS, 1, self.owner, exporter=self.exporter, signal="metrics")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis=timeout_millis))
        except Exception as exc:
            self._warn(self.exporter, "force_flush", exc)
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            self._warn(self.exporter, "shutdown", exc)


def _private_queue(processor: SpanProcessor) -> tuple[Sized, int] | None:
    """The (queue, capacity) of a ``BatchSpanProcessor``: SDK >= 1.34 keeps them on ``_batch_processor``."""
    holder = getattr(processor, "_batch_processor", processor)
    queue = getattr(holder, "_queue", None)
    if queue is None:
        queue = getattr(holder, "queue", None)  # older SDKs
    capacity = getattr(holder, "_max_queue_size", None) or getattr(holder, "max_queue_size", None)
    if queue is None or not isinstance(capacity, int) or not hasattr(queue, "__len__"):
        return None
    return queue, capacity


class QueueWatch(SpanProcessor):
    """Wraps a ``BatchSpanProcessor``: bounds its queue in bytes, counts the spans it drops, publishes its length.

    - Count: a span that ends while the queue is full is dropped here (the SDK would evict the *oldest* queued span
      instead, with only a log line) and counted as ``outcome="dropped"``.
    - Bytes: with a ``budget`` (:class:`~lukhas_obs.exporters.sanitize.ByteBudget`), each queued span is charged its
      estimated size (:func:`~lukhas_obs.exporters.sanitize.span_size`) and the exporter's
      :class:`~lukhas_obs.exporters.sanitize.SanitizingSpanExporter` releases it when the batch leaves; a span that
      would take the queue over the budget is dropped and counted the same way, with one warning. So a collector
      that is down holds at most ``budget`` bytes of spans, whatever their attributes weigh.

    The check, the charge and the hand-over happen under one lock, so concurrent threads never overfill the SDK's
    queue. Never raises.
    """

    def __init__(self, inner: SpanProcessor, exporter: str, *, budget: Any = None, owner: Owner | None = None) -> None:
        self.inner = inner
        self.exporter = exporter
        self.owner = owner
        self.budget = budget
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._warned = False
        found = _private_queue(inner)
        self._queue: Sized | None
        self._queue, self.capacity = found if found is not None else (None, 0)
        if found is not None:
            _register(self)
        else:
            _log.debug("lukhas_obs: cannot observe the span queue of %r; no queue gauge or drop count", inner)

    def __repr__(self) -> str:
        return f"<QueueWatch {self.exporter}: {self.inner!r}>"

    def queue_size(self) -> int | None:
        """Spans waiting in the queue now, or None when the queue cannot be observed or the processor stopped."""
        if self._queue is None or getattr(getattr(self.inner, "_batch_processor", self.inner), "_shutdown", False):
            return None
        return len(self._queue)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        on_ending = getattr(self.inner, "_on_ending", None)
        if on_ending is not None:
            on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            sampled = span.context.trace_flags.sampled
        except Exception:  # a foreign span object: let the processor decide
            sampled = False
        if not sampled or os.getpid() != self._pid:
            # not queued by the SDK, or a forked child ending a span of the parent's provider (whose queue the SDK
            # cleared, and whose lock another thread may have held at fork time): nothing to bound
            self.inner.on_end(span)
            return
        queue, budget = self._queue, self.budget
        with self._lock:
            if queue is not None and len(queue) >= self.capacity:
                accepted, why = False, "full"
            elif budget is not None and not budget.charge(_span_size(span)):
                accepted, why = False, "bytes"
            else:
                accepted, why = True, ""
                self.inner.on_end(span)
        if not accepted:
            _add(EXPORTED_SPANS, 1, self.owner, exporter=self.exporter, outcome="dropped")
            if why == "bytes" and not self._warned:
                self._warned = True
                _log.warning(
                    "lukhas_obs: the %s span queue holds its byte budget (%d bytes); newer spans are dropped until "
                    "the exporter catches up (counted in %s{outcome=\"dropped\"}, logged once)",
                    self.exporter,
                    getattr(budget, "limit", 0),
                    EXPORTED_SPANS,
                )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def _span_size(span: ReadableSpan) -> int:
    from lukhas_obs.exporters.sanitize import span_size

    return span_size(span)


# The gauge's callback is registered once per process; it reads whichever watches are alive and not shut down, so
# re-configuration neither piles up callbacks nor reports the queues of a configuration that was replaced.
_watches: weakref.WeakSet[QueueWatch] = weakref.WeakSet()
_watches_lock = threading.Lock()
_gauge_registered = False


def _register(watch: QueueWatch) -> None:
    global _gauge_registered
    with _watches_lock:
        _watches.add(watch)
        if _gauge_registered:
            return
        _gauge_registered = True
    try:
        from lukhas_obs.instruments import observable_gauge

        observable_gauge(SPAN_QUEUE_SIZE).observe(_queue_sizes)
    except Exception as exc:  # pragma: no cover - the catalog ships this metric
        _log.debug("lukhas_obs: cannot register %s: %s", SPAN_QUEUE_SIZE, exc)


def _queue_sizes() -> Iterable[tuple[float, Mapping[str, object]]]:
    totals: dict[str, int] = {}
    with _watches_lock:
        watches = list(_watches)
    for watch in watches:
        size = watch.queue_size()
        if size is not None:
            totals[watch.exporter] = totals.get(watch.exporter, 0) + size
    return [(size, {"exporter": exporter}) for exporter, size in sorted(totals.items())]
