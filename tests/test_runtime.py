"""configure(): idempotence, refusal to half-apply, re-configuration, disabled mode, fail-safe start-up and bounded
shutdown against collectors that are down or hung."""

from __future__ import annotations

import logging
import socket
import time

import pytest

import lukhas_obs
from lukhas_obs import AlreadyConfiguredError
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.scrape import scrape


def _closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_same_settings_return_the_same_handle(tmp_path):
    first = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl")
    second = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl")
    assert second is first
    assert lukhas_obs.active() is first


def test_different_settings_raise_and_leave_the_active_configuration_intact(tmp_path):
    first = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl", lane="candidate")
    with pytest.raises(AlreadyConfiguredError) as err:
        lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl", lane="prod", service="other")
    assert err.value.differing == ("service", "lane")
    assert "shutdown()" in str(err.value)
    assert lukhas_obs.active() is first
    lukhas_obs.metric("lukhas_memory_docs_total").add(1)
    (sample,) = scrape(first.metrics_url).samples("lukhas_memory_docs_total")
    assert sample.labels["lane"] == "candidate"


def test_reconfigure_rebuilds_everything_and_handles_follow(tmp_path):
    docs = lukhas_obs.metric("lukhas_memory_docs_total")  # obtained once, before any configuration
    first = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl")
    docs.add(2)
    second = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl", lane="prod", reconfigure=True)
    assert second is not first
    assert first.metrics_url is None or first.metrics_server is not None
    docs.add(5)
    (sample,) = scrape(second.metrics_url).samples("lukhas_memory_docs_total")
    assert (sample.labels["lane"], sample.value) == ("prod", 5.0)  # a fresh provider: nothing half-carried over


def test_configure_again_after_shutdown(tmp_path):
    first = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    assert first.shutdown() is True
    assert lukhas_obs.active() is None
    second = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", lane="prod")
    lukhas_obs.metric("lukhas_dream_backpressure").set(0.9)
    (sample,) = scrape(second.metrics_url).samples("lukhas_dream_backpressure")
    assert (sample.labels["lane"], sample.value) == ("prod", 0.9)


def test_handles_are_no_ops_before_configure_and_after_shutdown(tmp_path):
    hist = lukhas_obs.metric("lukhas_memory_search_seconds")
    hist.record(0.1)  # not configured: nothing happens, nothing raises
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    hist.record(0.2)
    (count,) = scrape(telemetry.metrics_url).samples("lukhas_memory_search_seconds_count")
    assert count.value == 1.0
    telemetry.shutdown()
    hist.record(0.3)
    assert hist._target is None


def test_sdk_disabled_builds_nothing_and_records_nothing(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = lukhas_obs.configure(prometheus_port=0)
    assert telemetry.disabled
    assert telemetry.metrics_url is None
    assert telemetry.meter_provider is None and telemetry.tracer_provider is None
    lukhas_obs.metric("lukhas_memory_docs_total").add(1)
    with lukhas_obs.get_tracer().start_as_current_span("memory.query") as span:
        assert not span.is_recording()
    assert telemetry.shutdown() is True


def test_port_in_use_warns_once_and_the_application_goes_on(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
            telemetry = lukhas_obs.configure(prometheus_port=port, traces_exporter="none")
        assert telemetry.metrics_url is None
        warnings = [r for r in caplog.records if "cannot serve /metrics" in r.getMessage()]
        assert len(warnings) == 1
        assert str(port) in warnings[0].getMessage()
        lukhas_obs.metric("lukhas_memory_docs_total").add(1)  # recording still works, into the registry
        body = "".join(
            chunk.decode()
            for chunk in lukhas_obs.metrics_wsgi_app()(
                {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": ""}, lambda *a, **k: None
            )
        )
        assert "lukhas_memory_docs_total" in body


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_shutdown_is_bounded_when_the_collector_is_unreachable(protocol):
    telemetry = lukhas_obs.configure(
        prometheus_port=0,
        otlp_endpoint=f"http://127.0.0.1:{_closed_port()}",
        otlp_protocol=protocol,
        otlp_timeout=30,
        shutdown_timeout=2,
    )
    tracer = lukhas_obs.get_tracer()
    for _ in range(50):
        with tracer.start_as_current_span("memory.query"):
            lukhas_obs.metric("lukhas_memory_search_seconds").record(0.01)
    started = time.monotonic()
    telemetry.shutdown()
    elapsed = time.monotonic() - started
    print(f"shutdown against an unreachable {protocol} collector took {elapsed:.2f}s (bound 2s)")
    assert elapsed < 3.5


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_shutdown_is_bounded_when_the_collector_hangs(protocol):
    with OtlpReceiver(protocol) as hung:
        hung.delay_s = 60
        telemetry = lukhas_obs.configure(
            prometheus_port=0, otlp_endpoint=hung.endpoint, otlp_protocol=protocol, otlp_timeout=30, shutdown_timeout=2
        )
        with lukhas_obs.get_tracer().start_as_current_span("memory.add_event"):
            pass
        lukhas_obs.metric("lukhas_memory_docs_total").add(1)
        started = time.monotonic()
        finished = telemetry.shutdown()
        elapsed = time.monotonic() - started
        print(f"shutdown against a hung {protocol} collector took {elapsed:.2f}s, finished={finished}")
        assert elapsed < 3.5
        assert hung.attempts["traces"] + hung.attempts["metrics"] >= 1  # it really was talking to the hung peer


def test_force_flush_without_configuration_is_true():
    assert lukhas_obs.force_flush(timeout=1) is True
    assert lukhas_obs.shutdown(timeout=1) is True
