"""Keep OTLP metric batches encodable when a running integer total outgrows int64.

Handles admit only integers inside int64, but a counter's cumulative sum is a Python int the SDK lets grow without
bound: ``add(2**62)`` twice makes a total OTLP's ``as_int`` (sfixed64) cannot carry, and the exporter then fails to
encode the *whole batch* — every metric of the process stops arriving. This wrapper turns such a data point's value
into a double (which OTLP carries, and which is what the total means) before the batch is encoded; everything else
passes through untouched, without a copy.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Gauge,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    Sum,
)

__all__ = ["Int64SafeMetricExporter", "int64_safe"]

_log = logging.getLogger("lukhas_obs")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _outside(point: object) -> bool:
    value = getattr(point, "value", None)
    return value.__class__ is int and not _INT64_MIN <= value <= _INT64_MAX


def int64_safe(data: MetricsData) -> MetricsData:
    """``data`` itself when every integer value fits int64, else a copy with the oversized ones as doubles."""
    changed = False
    resource_metrics = []
    for rm in data.resource_metrics:
        scope_metrics = []
        for sm in rm.scope_metrics:
            metrics = []
            for metric in sm.metrics:
                series = metric.data
                # Only sums and gauges carry NumberDataPoint values (histograms have their own point types).
                if isinstance(series, (Sum, Gauge)):
                    points = series.data_points
                    if any(isinstance(p, NumberDataPoint) and _outside(p) for p in points):
                        changed = True
                        fixed = [dataclasses.replace(p, value=float(p.value)) if _outside(p) else p for p in points]
                        metric = dataclasses.replace(metric, data=dataclasses.replace(series, data_points=fixed))
                metrics.append(metric)
            scope_metrics.append(dataclasses.replace(sm, metrics=metrics))
        resource_metrics.append(dataclasses.replace(rm, scope_metrics=scope_metrics))
    if not changed:
        return data
    return dataclasses.replace(data, resource_metrics=resource_metrics)


class Int64SafeMetricExporter(MetricExporter):
    """Wraps a metric exporter; see the module docstring. Temporality and aggregation follow the inner exporter."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self._inner = inner
        self._warned = False

    def __repr__(self) -> str:
        return f"Int64SafeMetricExporter({self._inner!r})"

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        try:
            safe = int64_safe(metrics_data)
        except Exception:  # never lose the batch over the check itself
            safe = metrics_data
        if safe is not metrics_data and not self._warned:
            self._warned = True
            _log.warning("lukhas_obs: a cumulative integer total outgrew int64; exported as a double (logged once)")
        return self._inner.export(safe, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)
