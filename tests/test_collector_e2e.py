"""OTLP through a real collector: application → rotel → OTLP receiver, over gRPC and HTTP at both hops.

The demo runs as a subprocess (the way an operator runs it) and also writes its spans to a local file, so what
arrives behind the collector is compared span by span with what was sent. An in-process test covers what the demo
does not exercise on purpose: nesting, ERROR status, events and attribute types.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from opentelemetry.trace import Status, StatusCode

import lukhas_obs
from lukhas_obs.catalog import builtin
from lukhas_obs.tracefile.model import read_spans
from tests.support.otlp_receiver import OtlpReceiver, attributes_to_dict
from tests.support.rotel import Rotel, start_or_skip

pytestmark = pytest.mark.e2e

STD = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
#: (application → rotel, rotel → receiver): each protocol is used on each hop.
HOPS = [("grpc", "http"), ("http", "grpc")]


@pytest.fixture(params=HOPS, ids=[f"app-{a}-rotel-{b}" for a, b in HOPS])
def pipeline(request, tmp_path):
    """(app protocol, receiver, collector): a receiver started first, then rotel forwarding to it."""
    app_protocol, downstream = request.param
    receiver = OtlpReceiver(downstream).start()
    collector = Rotel(receiver.endpoint, downstream, workdir=tmp_path / "rotel")
    try:
        start_or_skip(collector)
        yield app_protocol, receiver, collector
    finally:
        collector.stop()
        receiver.stop()
        print(f"--- rotel log ({collector.log_path}) ---\n{collector.log_text()[-4000:]}")


def _point_value(point) -> float:
    return point.as_double if point.HasField("as_double") else float(point.as_int)


def test_demo_subprocess_telemetry_arrives_intact(pipeline, tmp_path):
    app_protocol, receiver, collector = pipeline
    sent_file = tmp_path / "sent.jsonl"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))},
        "LUKHAS_SERVICE": "lukhas-e2e",
        "LUKHAS_LANE": "canary",
        "OTEL_TRACES_EXPORTER": "otlp,file",  # the same spans also go to a local file: the reference copy
    }
    command = [
        sys.executable,
        "-m",
        "lukhas_obs.cli",
        "demo",
        "--iterations",
        "5",
        "--port",
        "0",
        "--traces-file",
        str(sent_file),
        "--otlp-endpoint",
        collector.endpoint(app_protocol),
        "--otlp-protocol",
        app_protocol,
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr

    sent = {(s.trace_id, s.span_id): s for s in read_spans([sent_file])}
    assert len(sent) >= 5, "the demo wrote fewer spans than iterations"
    arrived = receiver.wait_for(lambda r: len(r.spans()) >= len(sent), timeout=20)
    assert arrived, f"{len(receiver.spans())} of {len(sent)} spans arrived\n{collector.log_text()}"

    received = {(span.trace_id.hex(), span.span_id.hex()): (res, span) for res, _, span in receiver.spans()}
    assert set(received) == set(sent)
    for key, expected in sent.items():
        resource, span = received[key]
        assert resource["service.name"] == "lukhas-e2e" and resource["lukhas.lane"] == "canary"
        assert span.name == expected.name
        assert (span.parent_span_id.hex() or None) == expected.parent_span_id
        assert attributes_to_dict(span.attributes) == dict(expected.attributes)
        assert (span.status.code, span.status.message) == (expected.status_code, expected.status_message)
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == (expected.start_ns, expected.end_ns)

    catalog = {m.otel_name: m for m in builtin("lukhas_core").metrics}
    assert receiver.wait_for(lambda r: any(m.name in catalog for _, m in r.metrics()), timeout=20)
    kinds_seen = set()
    for resource, metric in receiver.metrics():
        spec = catalog.get(metric.name)
        if spec is None:
            continue
        assert resource["service.name"] == "lukhas-e2e" and resource["lukhas.lane"] == "canary"
        data = metric.WhichOneof("data")
        points = getattr(metric, data).data_points
        for point in points:
            labels = attributes_to_dict(point.attributes)
            assert labels["lane"] == "canary" and labels["service"] == "lukhas-e2e", metric.name
        if spec.kind == "histogram":
            assert data == "histogram", metric.name
            for point in points:
                assert list(point.explicit_bounds) == list(spec.buckets or ()), metric.name
                assert sum(point.bucket_counts) == point.count
        elif spec.kind == "counter":
            assert data == "sum" and metric.sum.is_monotonic, metric.name
        kinds_seen.add(spec.kind)
    assert {"histogram", "counter"} <= kinds_seen


def test_span_tree_status_events_and_metrics_survive_the_collector(pipeline):
    app_protocol, receiver, collector = pipeline
    lukhas_obs.configure(
        service="lukhas-memory",
        lane="canary",
        prometheus_port=0,
        otlp_endpoint=collector.endpoint(app_protocol),
        otlp_protocol=app_protocol,
        otlp_timeout=5,
    )
    tracer = lukhas_obs.get_tracer("tests.e2e")
    with tracer.start_as_current_span("memory.add_event", attributes={"mem.meta.size": 11, "fold": "f1"}) as root:
        with tracer.start_as_current_span("memory.query", attributes={"k": 8, "score": 0.5}) as query:
            query.add_event("cache.miss", {"shard": 3})
            lukhas_obs.metric("lukhas_memory_search_seconds").record(0.03)
        with tracer.start_as_current_span("identity.authenticate_T2", attributes={"auth.ok": False}) as auth:
            auth.set_status(Status(StatusCode.ERROR, "bad totp"))
    lukhas_obs.metric("lukhas_auth_failures_total").add(2, tier="T2", reason="bad_totp")
    assert lukhas_obs.force_flush(timeout=10)

    ok = receiver.wait_for(
        lambda r: (
            len(r.spans()) >= 3 and {"lukhas.memory.search", "lukhas.auth.failures"} <= {m.name for _, m in r.metrics()}
        ),
        timeout=15,
    )
    assert ok, (
        f"spans={len(receiver.spans())} metrics={[m.name for _, m in receiver.metrics()]}\n{collector.log_text()}"
    )

    spans = {span.name: (resource, scope, span) for resource, scope, span in receiver.spans()}
    resource, scope, parent = spans["memory.add_event"]
    _, _, child = spans["memory.query"]
    _, _, failed = spans["identity.authenticate_T2"]
    assert resource["service.name"] == "lukhas-memory" and resource["lukhas.lane"] == "canary"
    assert scope == "tests.e2e"
    assert parent.span_id.hex() == format(root.get_span_context().span_id, "016x")
    assert child.parent_span_id == parent.span_id and failed.parent_span_id == parent.span_id
    assert child.trace_id == parent.trace_id == failed.trace_id
    assert not parent.parent_span_id
    assert attributes_to_dict(parent.attributes) == {"mem.meta.size": 11, "fold": "f1"}
    assert attributes_to_dict(child.attributes) == {"k": 8, "score": 0.5}  # int stays int, float stays float
    assert [(e.name, attributes_to_dict(e.attributes)) for e in child.events] == [("cache.miss", {"shard": 3})]
    assert failed.status.code == StatusCode.ERROR.value and failed.status.message == "bad totp"
    assert parent.status.code == StatusCode.UNSET.value

    metrics = {metric.name: (res, metric) for res, metric in receiver.metrics()}
    resource, search = metrics["lukhas.memory.search"]
    assert resource["service.name"] == "lukhas-memory"
    (point,) = search.histogram.data_points
    assert list(point.explicit_bounds) == STD and point.count == 1 and abs(point.sum - 0.03) < 1e-9
    assert list(point.bucket_counts) == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # 0.03 falls in (0.025, 0.05]
    assert attributes_to_dict(point.attributes) == {"lane": "canary", "service": "lukhas-memory"}
    _, failures = metrics["lukhas.auth.failures"]
    (point,) = failures.sum.data_points
    assert _point_value(point) == 2 and failures.sum.is_monotonic
    assert attributes_to_dict(point.attributes) == {
        "lane": "canary",
        "service": "lukhas-memory",
        "tier": "T2",
        "reason": "bad_totp",
    }
