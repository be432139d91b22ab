"""OTLP over gRPC and HTTP/protobuf reaches a real receiver that decodes opentelemetry-proto."""

from __future__ import annotations

import pytest

import lukhas_obs
from tests.support.otlp_receiver import OtlpReceiver, attributes_to_dict

STD = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]


@pytest.fixture(params=["grpc", "http"])
def receiver(request):
    with OtlpReceiver(request.param) as rx:
        yield rx


@pytest.mark.e2e
def test_traces_and_metrics_arrive_with_the_shared_resource(receiver):
    telemetry = lukhas_obs.configure(
        service="lukhas-memory",
        lane="canary",
        version="1.2.3",
        prometheus_port=0,
        otlp_endpoint=receiver.endpoint,
        otlp_protocol=receiver.protocol,
        otlp_headers={"x-lukhas-tenant": "core"},
        otlp_timeout=5,
    )
    assert telemetry.settings.traces_exporters == ("otlp",)
    tracer = lukhas_obs.get_tracer()
    with tracer.start_as_current_span("memory.add_event") as parent:
        parent.set_attribute("mem.meta.size", 11)
        with tracer.start_as_current_span("memory.query"):
            lukhas_obs.metric("lukhas_memory_search_seconds").record(0.03)
    lukhas_obs.metric("lukhas_auth_failures_total").add(2, tier="T3", reason="bad_totp")
    assert lukhas_obs.force_flush(timeout=10)

    assert receiver.wait_for(lambda r: len(r.spans()) >= 2 and r.metrics(), timeout=10)
    spans = {span.name: (resource, span) for resource, _, span in receiver.spans()}
    resource, parent_span = spans["memory.add_event"]
    _, child_span = spans["memory.query"]
    assert resource["service.name"] == "lukhas-memory"
    assert resource["lukhas.lane"] == "canary"
    assert resource["service.version"] == "1.2.3"
    assert child_span.parent_span_id == parent_span.span_id
    assert child_span.trace_id == parent_span.trace_id
    assert attributes_to_dict(parent_span.attributes)["mem.meta.size"] == 11

    metrics = {metric.name: (resource, metric) for resource, metric in receiver.metrics()}
    resource, search = metrics["lukhas.memory.search"]
    assert resource["service.name"] == "lukhas-memory" and resource["lukhas.lane"] == "canary"
    assert search.unit == "s"
    (point,) = search.histogram.data_points
    assert list(point.explicit_bounds) == STD
    assert point.count == 1
    assert attributes_to_dict(point.attributes) == {"lane": "canary", "service": "lukhas-memory"}
    _, failures = metrics["lukhas.auth.failures"]
    (point,) = failures.sum.data_points
    assert point.as_double == 2 or point.as_int == 2
    assert failures.sum.is_monotonic
    assert attributes_to_dict(point.attributes) == {
        "lane": "canary",
        "service": "lukhas-memory",
        "tier": "T3",
        "reason": "bad_totp",
    }
    assert all(h.get("x-lukhas-tenant") == "core" for h in receiver.headers)


@pytest.mark.e2e
def test_otlp_metrics_keep_prometheus_on(receiver):
    telemetry = lukhas_obs.configure(
        prometheus_port=0, otlp_endpoint=receiver.endpoint, otlp_protocol=receiver.protocol, otlp_timeout=5
    )
    assert telemetry.settings.metrics_exporters == ("prometheus", "otlp")
    assert telemetry.metrics_url is not None
    lukhas_obs.metric("lukhas_dream_backpressure").set(0.75)
    lukhas_obs.force_flush(timeout=10)
    assert receiver.wait_for(lambda r: any(m.name == "lukhas.dream.backpressure" for _, m in r.metrics()))
    (gauge,) = [m for _, m in receiver.metrics() if m.name == "lukhas.dream.backpressure"][-1:]
    assert gauge.gauge.data_points[0].as_double == 0.75
