"""The metric kinds: one table that catalog validation, Prometheus naming, handles, dashboards and docs all read.

Adding a kind is adding one :class:`MetricKind` entry here (and, if it records differently, its handle class in
:mod:`lukhas_obs.instruments`, which refuses to import when a kind of this table has none). Everything that
depends on a kind — whether it takes buckets, which OTel instrument it creates, the sample names it puts on
``/metrics``, which dashboard query shapes apply to it, how the docs describe it — is a field of its entry rather
than a ``kind == "..."`` test somewhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "MetricKind", "kind"]


@dataclass(frozen=True)
class MetricKind:
    """What one catalog ``kind:`` means, end to end."""

    #: The catalog's spelling (``kind: histogram``).
    name: str
    #: The OTel ``Meter`` factory that creates its instrument (``create_histogram``).
    otel_factory: str
    #: The handle method that records one measurement (``record``), or ``None`` for kinds read by callbacks.
    method: str | None
    #: The Prometheus ``# TYPE`` its family gets.
    prometheus_type: str
    #: Monotonic totals: the Prometheus name ends in ``_total`` (stripped from and re-added to the OTel name).
    monotonic: bool = False
    #: Measurements below zero are refused, with this drop reason (``None``: any sign is fine).
    negative_reason: str | None = None
    #: Histograms: explicit bucket boundaries are required (and refused on every other kind).
    buckets: bool = False
    #: Values are read at collection time from registered callbacks rather than recorded by calls.
    observable: bool = False
    #: Recorded into lukhas-obs' own aggregation (:mod:`lukhas_obs.aggregation`) when the configuration allows it;
    #: otherwise (and always when False) through the OTel SDK instrument made by ``otel_factory``.
    aggregated: bool = False
    #: Dashboard query shapes that read this kind (``rate`` of a histogram reads its ``_count`` series).
    shapes: tuple[str, ...] = ()
    #: One line for the generated metrics reference.
    doc: str = ""
    #: A suffix the Prometheus name must end with (``_info``), besides the counters' ``_total``.
    name_suffix: str = ""

    def sample_names(self, metric_name: str) -> tuple[str, ...]:
        """Every sample name a metric of this kind puts on ``/metrics`` (to detect collisions between metrics)."""
        if self.buckets:
            return (metric_name + "_bucket", metric_name + "_sum", metric_name + "_count", metric_name + "_created")
        if self.monotonic:
            return (metric_name, metric_name[: -len("_total")] + "_created")
        return (metric_name,)


_GAUGE_SHAPES = ("avg_over_time", "max_over_time", "value")

#: Every kind a catalog may declare, in the order the docs list them.
KINDS: dict[str, MetricKind] = {
    k.name: k
    for k in (
        MetricKind(
            "counter",
            "create_counter",
            "add",
            "counter",
            monotonic=True,
            negative_reason="negative_increment",
            shapes=("rate", "increase"),
            aggregated=True,
            doc="a monotonic total (`*_total`); `add(n)` with n >= 0",
        ),
        MetricKind(
            "updown_counter",
            "create_up_down_counter",
            "add",
            "gauge",
            shapes=_GAUGE_SHAPES,
            aggregated=True,
            doc="a total that may go down, exposed as a gauge; `add(n)` with any sign",
        ),
        MetricKind(
            "histogram",
            "create_histogram",
            "record",
            "histogram",
            negative_reason="negative_value",
            buckets=True,
            shapes=("quantile", "rate", "increase"),
            aggregated=True,
            doc="a distribution with explicit buckets; `record(x)` with x >= 0",
        ),
        MetricKind(
            "gauge",
            "create_gauge",
            "set",
            "gauge",
            shapes=_GAUGE_SHAPES,
            aggregated=True,
            doc="the last value set wins; `set(x)`",
        ),
        MetricKind(
            "observable_gauge",
            "create_observable_gauge",
            None,
            "gauge",
            observable=True,
            shapes=_GAUGE_SHAPES,
            doc="a value read at collection time from callbacks registered with `observe(fn)`",
        ),
        MetricKind(
            "observable_counter",
            "create_observable_counter",
            None,
            "counter",
            monotonic=True,
            negative_reason="negative_value",
            observable=True,
            shapes=("rate", "increase"),
            doc="a monotonic total read at collection time from state the application keeps (`observe(fn)`); "
            "a lower total is published as a counter reset",
        ),
        MetricKind(
            "observable_updown_counter",
            "create_observable_up_down_counter",
            None,
            "gauge",
            observable=True,
            shapes=_GAUGE_SHAPES,
            doc="a total that may go down, read at collection time (`observe(fn)`)",
        ),
        MetricKind(
            "rate_of_change",
            "create_observable_gauge",
            None,
            "gauge",
            observable=True,
            shapes=_GAUGE_SHAPES,
            doc="the rate of change per second of a catalog gauge (`source:`) over sliding `windows:` "
            "(least-squares slope, like PromQL's `deriv()`), one series per `window` label",
        ),
        MetricKind(
            "info",
            "create_observable_gauge",
            "info",
            "info",
            observable=True,
            name_suffix="_info",
            doc="constant facts as labels of one series at 1 (`*_info`); `info(version=...)` replaces them",
        ),
    )
}


def kind(name: str) -> MetricKind:
    """The kind named ``name``; KeyError lists the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown metric kind {name!r}; expected one of: {', '.join(KINDS)}") from None
