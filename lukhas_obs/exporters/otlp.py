"""OTLP exporters (gRPC or HTTP/protobuf) built from resolved :class:`~lukhas_obs.settings.OtlpSettings`.

Every value is passed explicitly, so the exporters do not re-read ``OTEL_EXPORTER_OTLP_*`` behind our precedence
rules (certificate variables excepted: the exporters read those themselves).
"""

from __future__ import annotations

import importlib
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from lukhas_obs.settings import OtlpSettings

_EXPORTERS = {
    ("grpc", "traces"): ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter"),
    ("grpc", "metrics"): ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter"),
    ("http/protobuf", "traces"): ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter"),
    ("http/protobuf", "metrics"): ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter"),
}


def _build(cfg: OtlpSettings) -> Any:
    module, name = _EXPORTERS[(cfg.protocol, cfg.signal)]
    exporter_class = getattr(importlib.import_module(module), name)
    kwargs: dict[str, Any] = {"endpoint": cfg.endpoint, "headers": dict(cfg.headers) or None, "timeout": cfg.timeout_s}
    gzip = cfg.compression == "gzip"
    if cfg.protocol == "grpc":
        import grpc

        kwargs["insecure"] = cfg.insecure
        kwargs["compression"] = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression

        kwargs["compression"] = Compression.Gzip if gzip else Compression.NoCompression
    return exporter_class(**kwargs)


def span_exporter(cfg: OtlpSettings) -> SpanExporter:
    """An OTLP span exporter for ``cfg`` (protocol ``grpc`` or ``http/protobuf``)."""
    exporter: SpanExporter = _build(cfg)  # the class is imported by name: say what it is
    return exporter


def metric_exporter(cfg: OtlpSettings) -> MetricExporter:
    """An OTLP metric exporter for ``cfg``; cumulative temporality, like the Prometheus reader."""
    exporter: MetricExporter = _build(cfg)  # the class is imported by name: say what it is
    return exporter
