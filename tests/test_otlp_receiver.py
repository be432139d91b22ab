"""Self-test of tests/support/otlp_receiver.py against the real OpenTelemetry OTLP exporters."""

from __future__ import annotations

import gzip
import http.client
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.otlp_receiver import OtlpReceiver, any_value_to_python, attributes_to_dict

PROTOCOLS = ["grpc", "http"]
EXPORT_TIMEOUT_S = 3


@pytest.fixture(params=PROTOCOLS)
def receiver(request: pytest.FixtureRequest) -> Iterator[OtlpReceiver]:
    with OtlpReceiver(request.param) as rx:
        yield rx


def _span_exporter(rx: OtlpReceiver, **kwargs: Any) -> Any:
    if rx.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(endpoint=rx.endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S, **kwargs)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=rx.endpoint + "/v1/traces", timeout=EXPORT_TIMEOUT_S, **kwargs)


def _metric_exporter(rx: OtlpReceiver) -> Any:
    if rx.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(endpoint=rx.endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(endpoint=rx.endpoint + "/v1/metrics", timeout=EXPORT_TIMEOUT_S)


def _log_exporter(rx: OtlpReceiver) -> Any:
    if rx.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        return GrpcLogExporter(endpoint=rx.endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    return HttpLogExporter(endpoint=rx.endpoint + "/v1/logs", timeout=EXPORT_TIMEOUT_S)


def _finished_spans() -> list[Any]:
    """Produce two real ReadableSpans via an InMemorySpanExporter (for calling exporter.export directly)."""
    mem = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "mem-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(mem))
    try:
        tracer = provider.get_tracer("mem.tracer")
        with tracer.start_as_current_span("a"), tracer.start_as_current_span("b"):
            pass
        return list(mem.get_finished_spans())
    finally:
        provider.shutdown()


# ---------------------------------------------------------------------------- helpers


def test_any_value_to_python_handles_all_kinds() -> None:
    nested = KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=7))])
    value = AnyValue(
        array_value=ArrayValue(
            values=[
                AnyValue(string_value="s"),
                AnyValue(bool_value=True),
                AnyValue(int_value=-3),
                AnyValue(double_value=1.5),
                AnyValue(bytes_value=b"\x00\x01"),
                AnyValue(kvlist_value=nested),
                AnyValue(),
            ]
        )
    )
    assert any_value_to_python(value) == ["s", True, -3, 1.5, b"\x00\x01", {"k": 7}, None]
    attrs = [KeyValue(key="a", value=AnyValue(string_value="x")), KeyValue(key="b", value=AnyValue(int_value=1))]
    assert attributes_to_dict(attrs) == {"a": "x", "b": 1}


def test_rejects_unknown_protocol() -> None:
    with pytest.raises(ValueError):
        OtlpReceiver("udp")


# ---------------------------------------------------------------------------- traces


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_traces_roundtrip_with_real_exporter(receiver: OtlpReceiver, use_gzip: bool) -> None:
    kwargs: dict[str, Any] = {"headers": {"x-test-token": "abc"}}  # gRPC metadata keys must be lower-case
    if use_gzip:
        if receiver.protocol == "grpc":
            import grpc

            kwargs["compression"] = grpc.Compression.Gzip
        else:
            from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

            kwargs["compression"] = HttpCompression.Gzip
    provider = TracerProvider(resource=Resource.create({"service.name": "rx-selftest", "deployment.environment": "t"}))
    provider.add_span_processor(SimpleSpanProcessor(_span_exporter(receiver, **kwargs)))
    try:
        tracer = provider.get_tracer("rx.tracer")
        with (
            tracer.start_as_current_span("parent", attributes={"p.str": "v", "p.int": 3, "p.list": ["a", "b"]}),
            tracer.start_as_current_span("child", attributes={"c.bool": True, "c.float": 2.5}),
        ):
            pass
        assert provider.force_flush(timeout_millis=EXPORT_TIMEOUT_S * 1000)
        assert receiver.wait_for(lambda r: len(r.spans()) >= 2, timeout=5)
    finally:
        provider.shutdown()

    spans = receiver.spans()
    assert len(spans) == 2
    by_name = {span.name: (res, scope, span) for res, scope, span in spans}
    assert set(by_name) == {"parent", "child"}
    p_res, p_scope, parent = by_name["parent"]
    _, c_scope, child = by_name["child"]
    assert p_res["service.name"] == "rx-selftest"
    assert p_res["deployment.environment"] == "t"
    assert p_scope == c_scope == "rx.tracer"
    assert child.parent_span_id == parent.span_id
    assert child.trace_id == parent.trace_id
    assert parent.parent_span_id == b""
    assert attributes_to_dict(parent.attributes) == {"p.str": "v", "p.int": 3, "p.list": ["a", "b"]}
    assert attributes_to_dict(child.attributes) == {"c.bool": True, "c.float": 2.5}

    assert len(receiver.trace_requests) == receiver.attempts["traces"] == 2  # SimpleSpanProcessor: one per span
    assert receiver.rejected["traces"] == 0
    assert receiver.bytes_by_signal["traces"] > 0
    assert receiver.bytes_received == receiver.bytes_by_signal["traces"]
    assert all(h.get("x-test-token") == "abc" for h in receiver.headers)
    if use_gzip and receiver.protocol == "http":
        assert all(h.get("content-encoding") == "gzip" for h in receiver.headers)


# ---------------------------------------------------------------------------- metrics


def test_metrics_roundtrip_with_real_exporter(receiver: OtlpReceiver) -> None:
    reader = PeriodicExportingMetricReader(_metric_exporter(receiver), export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "rx-metrics"}))
    try:
        meter = provider.get_meter("rx.meter")
        counter = meter.create_counter("rx_requests_total", unit="1")
        hist = meter.create_histogram("rx_latency_seconds", unit="s")
        counter.add(2, {"route": "/a"})
        counter.add(3, {"route": "/a"})
        for v in (0.1, 0.2, 0.7):
            hist.record(v, {"route": "/a"})
        assert provider.force_flush(timeout_millis=EXPORT_TIMEOUT_S * 1000)
        assert receiver.wait_for(lambda r: len(r.metrics()) >= 2, timeout=5)
    finally:
        provider.shutdown(timeout_millis=EXPORT_TIMEOUT_S * 1000)

    by_name = {m.name: (res, m) for res, m in receiver.metrics()}
    assert {"rx_requests_total", "rx_latency_seconds"} <= set(by_name)
    res, counter_metric = by_name["rx_requests_total"]
    assert res["service.name"] == "rx-metrics"
    assert counter_metric.WhichOneof("data") == "sum"
    assert counter_metric.sum.is_monotonic
    (cpoint,) = counter_metric.sum.data_points
    assert cpoint.as_int == 5
    assert attributes_to_dict(cpoint.attributes) == {"route": "/a"}

    _, hist_metric = by_name["rx_latency_seconds"]
    assert hist_metric.WhichOneof("data") == "histogram"
    (hpoint,) = hist_metric.histogram.data_points
    assert hpoint.count == 3
    assert hpoint.sum == pytest.approx(1.0)
    assert sum(hpoint.bucket_counts) == 3
    assert attributes_to_dict(hpoint.attributes) == {"route": "/a"}


# ---------------------------------------------------------------------------- logs


def test_logs_roundtrip_with_real_exporter(receiver: OtlpReceiver) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "rx-logs"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(_log_exporter(receiver)))
    try:
        provider.get_logger("rx.logger").emit(body="hello", severity_text="INFO", attributes={"k": "v"})
        assert provider.force_flush(timeout_millis=EXPORT_TIMEOUT_S * 1000)
        assert receiver.wait_for(lambda r: len(r.logs()) >= 1, timeout=5)
    finally:
        provider.shutdown()
    ((res, scope, record),) = receiver.logs()
    assert res["service.name"] == "rx-logs"
    assert scope == "rx.logger"
    assert any_value_to_python(record.body) == "hello"
    assert attributes_to_dict(record.attributes) == {"k": "v"}


# ---------------------------------------------------------------------------- fault injection


@pytest.mark.parametrize("protocol,status", [("http", 400), ("grpc", 500)])
def test_fail_with_makes_export_fail_fast(protocol: str, status: int) -> None:
    spans = _finished_spans()
    with OtlpReceiver(protocol) as rx:
        rx.fail_with = status
        exporter = _span_exporter(rx)
        try:
            t0 = time.monotonic()
            result = exporter.export(spans)
            elapsed = time.monotonic() - t0
            assert result is SpanExportResult.FAILURE
            assert elapsed < 2.0  # non-retryable → no backoff
            assert rx.attempts["traces"] == 1
            assert rx.rejected["traces"] == 1
            assert rx.trace_requests == []
            assert rx.spans() == []

            # Heal the receiver at runtime: the same exporter now succeeds and the data is recorded.
            rx.fail_with = None
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert {s.name for _, _, s in rx.spans()} == {"a", "b"}
            assert rx.attempts["traces"] == 2
        finally:
            exporter.shutdown()


def test_fail_with_503_grpc_maps_to_unavailable() -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    with OtlpReceiver("grpc") as rx:
        rx.fail_with = 503
        with grpc.insecure_channel(f"127.0.0.1:{rx.port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as excinfo:
                stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=EXPORT_TIMEOUT_S)
        assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
        assert rx.rejected["traces"] == 1


def test_delay_s_and_bounded_stop(receiver: OtlpReceiver) -> None:
    spans = _finished_spans()
    receiver.delay_s = 0.3
    exporter = _span_exporter(receiver)
    try:
        t0 = time.monotonic()
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert time.monotonic() - t0 >= 0.3

        # A request stuck in a long delay must not make stop() hang.
        receiver.delay_s = 30.0
        worker = threading.Thread(target=exporter.export, args=(spans,), daemon=True)
        worker.start()
        assert receiver.wait_for(lambda r: r.attempts["traces"] == 2, timeout=5)
        t0 = time.monotonic()
        receiver.stop()
        assert time.monotonic() - t0 < 5.0
        worker.join(timeout=EXPORT_TIMEOUT_S + 2)
        assert not worker.is_alive()
    finally:
        exporter.shutdown()


# ---------------------------------------------------------------------------- raw HTTP behaviour


def _post(rx: OtlpReceiver, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=EXPORT_TIMEOUT_S)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def test_http_raw_paths_and_encodings() -> None:
    with OtlpReceiver("http") as rx:
        assert rx.endpoint == f"http://127.0.0.1:{rx.port}"
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.resource_spans.add().scope_spans.add().spans.add(name="raw")
        payload = req.SerializeToString()
        proto = {"Content-Type": "application/x-protobuf"}

        status, ctype, body = _post(rx, "/v1/traces", gzip.compress(payload), {**proto, "Content-Encoding": "gzip"})
        assert (status, ctype) == (200, "application/x-protobuf")
        assert trace_service_pb2.ExportTraceServiceResponse.FromString(body) == (
            trace_service_pb2.ExportTraceServiceResponse()
        )
        assert [s.name for _, _, s in rx.spans()] == ["raw"]
        assert rx.bytes_by_signal["traces"] == len(gzip.compress(payload))

        assert _post(rx, "/v1/nope", payload, proto)[0] == 404
        assert _post(rx, "/v1/traces", b"\xff\xff\xff", proto)[0] == 400
        assert _post(rx, "/v1/traces", payload, {"Content-Type": "application/json"})[0] == 415
        assert rx.rejected["traces"] == 2
        assert len(rx.trace_requests) == 1

        rx.clear()
        assert rx.attempts == {"traces": 0, "metrics": 0, "logs": 0} and rx.headers == []
