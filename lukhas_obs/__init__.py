"""lukhas-obs: OpenTelemetry-first instrumentation for the LUKHΛS family.

Quick start::

    import lukhas_obs

    lukhas_obs.configure(service="lukhas-memory", lane="candidate")   # /metrics on 127.0.0.1:9109
    search = lukhas_obs.metric("lukhas_memory_search_seconds")
    search.record(0.012)

Everything measured is declared in a catalog (:mod:`lukhas_obs.catalog`); handles come from there and never raise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from lukhas_obs import flows, propagation, runtime
from lukhas_obs._version import __version__
from lukhas_obs.catalog import Catalog, MetricSpec, SpanSpec, catalogs, load_catalog, register, register_yaml
from lukhas_obs.collect_hooks import before_collect
from lukhas_obs.errors import AlreadyConfiguredError, CatalogError, ConfigurationError
from lukhas_obs.exporters import prometheus as _prometheus
from lukhas_obs.exporters.prometheus import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from lukhas_obs.instruments import (
    BoundCounter,
    BoundGauge,
    BoundHistogram,
    BoundUpDownCounter,
    CounterHandle,
    GaugeHandle,
    HistogramHandle,
    InfoHandle,
    MetricHandle,
    ObservableCounterHandle,
    ObservableGaugeHandle,
    ObservableUpDownCounterHandle,
    RateOfChangeHandle,
    UpDownCounterHandle,
    counter,
    gauge,
    histogram,
    info,
    metric,
    observable_counter,
    observable_gauge,
    observable_updown_counter,
    updown_counter,
)
from lukhas_obs.runtime import Telemetry, force_flush, shutdown
from lukhas_obs.settings import Settings, resolve_settings
from lukhas_obs.spans import span, timed
from lukhas_obs.tracer_provider import get_tracer

__all__ = [
    "OPENMETRICS_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "AlreadyConfiguredError",
    "BoundCounter",
    "BoundGauge",
    "BoundHistogram",
    "BoundUpDownCounter",
    "Catalog",
    "CatalogError",
    "ConfigurationError",
    "CounterHandle",
    "GaugeHandle",
    "HistogramHandle",
    "InfoHandle",
    "MetricHandle",
    "MetricSpec",
    "ObservableCounterHandle",
    "ObservableGaugeHandle",
    "ObservableUpDownCounterHandle",
    "RateOfChangeHandle",
    "Settings",
    "SpanSpec",
    "Telemetry",
    "UpDownCounterHandle",
    "__version__",
    "active",
    "before_collect",
    "catalogs",
    "configure",
    "counter",
    "flows",
    "force_flush",
    "gauge",
    "get_tracer",
    "histogram",
    "info",
    "load_catalog",
    "metric",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "observable_counter",
    "observable_gauge",
    "observable_updown_counter",
    "propagation",
    "register",
    "register_yaml",
    "render_exposition",
    "resolve_settings",
    "shutdown",
    "span",
    "timed",
    "updown_counter",
]


def configure(
    *,
    service: str | None = None,
    lane: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    namespace: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    disabled: bool | None = None,
    metrics_exporter: str | Sequence[str] | None = None,
    traces_exporter: str | Sequence[str] | None = None,
    prometheus_host: str | None = None,
    prometheus_port: int | None = None,
    serve_metrics: bool = True,
    scope_labels: bool = False,
    traces_file: str | os.PathLike[str] | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    otlp_headers: Mapping[str, str] | str | None = None,
    otlp_timeout: float | None = None,
    metric_export_interval: float | None = None,
    shutdown_timeout: float | None = None,
    cardinality_limit: int | None = None,
    cardinality_limits: Mapping[str, int] | None = None,
    aggregation: str | None = None,
    multiprocess_dir: str | os.PathLike[str] | None = None,
    metrics_temporality: str | None = None,
    traces_sampler: str | None = None,
    traces_sampler_arg: float | str | None = None,
    metrics_path: str | None = None,
    metrics_endpoints: Mapping[str, str | Sequence[str]] | str | None = None,
    health_body: Mapping[str, Any] | str | None = None,
    created_series: bool | None = None,
    scrub_patterns: Sequence[str] | None = None,
    scrub_allow: Sequence[str] | None = None,
    metrics_bearer_token: str | None = None,
    metrics_basic_auth: str | tuple[str, str] | None = None,
    metrics_tls_cert: str | os.PathLike[str] | None = None,
    metrics_tls_key: str | os.PathLike[str] | None = None,
    third_party_metrics: bool | str | None = None,
    third_party_allow: Sequence[str] | str | None = None,
    third_party_cardinality_limit: int | None = None,
    logs_exporter: str | Sequence[str] | None = None,
    reconfigure: bool = False,
) -> Telemetry:
    """Configure metrics and traces for this process; safe to call more than once.

    Every option falls back to ``LUKHAS_*`` variables, then the standard ``OTEL_*`` ones, then a default (see
    :mod:`lukhas_obs.settings` and the README's configuration table). Main options:

    - ``service`` / ``lane`` / ``version`` / ``environment`` / ``namespace``: the shared resource
      (``service.name``, ``lukhas.lane``, ...) and the ``service``/``lane`` labels on every catalog series.
    - ``prometheus_host``/``prometheus_port`` (127.0.0.1:9109): where ``/metrics`` and ``/health`` are served;
      ``serve_metrics=False`` to mount :func:`metrics_asgi_app`/:func:`metrics_wsgi_app` in your own server instead.
    - ``otlp_endpoint``/``otlp_protocol`` (``grpc`` or ``http``)/``otlp_headers``: send traces and metrics to a
      collector. Without an endpoint, traces go to ``traces_file`` (OTLP/JSON lines).
    - ``traces_exporter``: any of ``file``, ``console``, ``otlp``, or ``none``; ``metrics_exporter``: ``prometheus``,
      ``otlp``, or ``none``.
    - ``cardinality_limit`` (1000) / ``cardinality_limits`` (per metric): distinct attribute sets admitted per metric;
      past it new sets are dropped, warned about once and counted.
    - ``aggregation``: ``own`` (default; lukhas-obs' aggregation, output identical to the SDK's) or ``sdk`` (record
      through the OTel SDK's instruments).
    - ``multiprocess_dir`` (``LUKHAS_MULTIPROCESS_DIR``): pre-fork servers' multiprocess mode: each worker keeps its
      catalog series in a file of its own there, and ``/metrics`` shows the merge of every file (docs/MULTIPROCESS.md).
    - ``metrics_temporality`` (``cumulative``; ``delta`` for OTLP backends that need it), ``traces_sampler``
      (``parentbased_always_on``; ``parentbased_traceidratio`` with ``traces_sampler_arg=0.1`` keeps 10 % of new
      traces): the standard ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``/``OTEL_TRACES_SAMPLER[_ARG]``.
    - ``metrics_path`` (``/metrics``), ``metrics_endpoints`` (``{"/metrics/exp": ["auris_self"]}``: more paths, each
      serving chosen catalogs or systems), ``health_body`` (what ``/health`` answers), ``created_series``
      (prometheus_client's ``_created`` samples for counters and histograms).
    - ``scrub_patterns`` / ``scrub_allow``: extra secret patterns (regular expressions) and attribute names never
      scrubbed; see :mod:`lukhas_obs.scrubbing`.
    - ``metrics_bearer_token`` / ``metrics_basic_auth`` (``"user:password"``) / ``metrics_tls_cert`` +
      ``metrics_tls_key``: protect the built-in ``/metrics`` server.

    - ``third_party_metrics`` / ``third_party_allow`` / ``third_party_cardinality_limit``: an opt-in global
      MeterProvider so contrib instrumentations' metrics reach ``/metrics`` and OTLP (docs/ZERO-CODE.md);
      ``logs_exporter`` (``otlp``, ``file``, ``console``): stdlib logging with trace context (docs/LOGS.md).

    Returns the same :class:`Telemetry` when the resolved settings are unchanged. Different settings raise
    :class:`AlreadyConfiguredError` unless ``reconfigure=True``. Invalid values raise :class:`ConfigurationError`
    naming the field and what is accepted. Runtime problems (port in use, collector down) only warn.
    """
    options: dict[str, Any] = {k: v for k, v in locals().items() if k != "reconfigure"}
    return runtime.configure(reconfigure=reconfigure, **options)


def active() -> Telemetry | None:
    """The active configuration, or None before :func:`configure` / after :func:`shutdown`."""
    return runtime.active()


def metrics_wsgi_app(
    *, catalogs: str | Sequence[str] | None = None, endpoint: str | None = None
) -> Callable[..., Any]:
    """A WSGI app serving the active configuration's metrics (mount it at ``/metrics`` in Flask or Django).

    ``catalogs`` (catalog or system names) or ``endpoint`` (a path of ``metrics_endpoints``) serve a subset.
    """
    return _prometheus.metrics_wsgi_app(runtime.active_registry, catalogs=catalogs, endpoint=endpoint)


def metrics_asgi_app(
    *, catalogs: str | Sequence[str] | None = None, endpoint: str | None = None
) -> Callable[..., Any]:
    """An ASGI app serving the active configuration's metrics: ``app.add_route("/metrics", metrics_asgi_app())``.

    Not ``app.mount(...)``: Starlette answers ``307 → /metrics/`` and FastAPI ``Depends`` does not cover mounts. To
    put ``/metrics`` behind the app's own auth, serve :func:`render_exposition` from a route (docs/SERVING.md).
    """
    return _prometheus.metrics_asgi_app(runtime.active_registry, catalogs=catalogs, endpoint=endpoint)


def render_exposition(
    accept: str | None = None,
    *,
    names: Iterable[str] | None = None,
    catalogs: str | Sequence[str] | None = None,
    endpoint: str | None = None,
) -> tuple[bytes, str]:
    """``(body, content_type)`` of the active metrics for an ordinary route of your framework; never raises.

    ``accept`` is the request's ``Accept`` header (OpenMetrics when asked for, text 0.0.4 otherwise); ``names``
    restricts the output like ``?name[]=``; ``catalogs`` (catalog or system names) or ``endpoint`` (a path of
    ``metrics_endpoints``) serve one subset, as ``/metrics/exp`` does. Unconfigured: a valid exposition with no
    samples. See docs/SERVING.md.
    """
    return _prometheus.render_exposition(accept, names=names, catalogs=catalogs, endpoint=endpoint)
