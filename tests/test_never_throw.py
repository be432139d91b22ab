"""The OTel rule: instrumentation must not throw into the caller. Property-based, over every catalog handle."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lukhas_obs
from lukhas_obs.catalog import builtin

METHOD = {"counter": "add", "updown_counter": "add", "histogram": "record", "gauge": "set"}
METRICS = [
    m.name for m in builtin("lukhas_core").metrics + builtin("lukhas_obs_self").metrics if m.kind in METHOD
]

bad_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([math.nan, math.inf, -math.inf, -1, -0.0, None, True, "1.0", b"1", [1], {"v": 1}, object()]),
    st.text(max_size=20),
)
attribute_values = st.one_of(
    st.text(max_size=50),
    st.just("x" * 1_000_000),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["T1", "T9", "other", "invalid_credentials", "Bearer abcdefghijklmnop"]),
)
attribute_keys = st.one_of(st.sampled_from(["tier", "reason", "lane", "service", "metric"]), st.text(max_size=10))
attributes = st.dictionaries(attribute_keys.filter(str.isidentifier), attribute_values, max_size=4)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _drive(name: str, value: object, attrs: dict):
    """Call the handle's recording method with arbitrary input; return the handle for invariant checks."""
    handle = lukhas_obs.metric(name)
    getattr(handle, METHOD[handle.spec.kind])(value, **attrs)  # raising here fails the property
    return handle


@SETTINGS
@given(name=st.sampled_from(METRICS), value=bad_numbers, attrs=attributes)
def test_handles_never_raise_before_configure(name, value, attrs):
    assert _drive(name, value, attrs)._target is None  # and nothing was created behind the caller's back


@SETTINGS
@given(name=st.sampled_from(METRICS), value=bad_numbers, attrs=attributes)
def test_handles_never_raise_while_configured(tmp_path, name, value, attrs):
    if lukhas_obs.active() is None:
        lukhas_obs.configure(prometheus_port=0, traces_exporter="none", cardinality_limit=50)
    handle = _drive(name, value, attrs)
    assert len(handle._sets) <= 50 and len(handle._memo) <= 50 * 4  # memory stays bounded whatever comes in


@SETTINGS
@given(name=st.sampled_from(METRICS), value=bad_numbers, attrs=attributes)
def test_handles_never_raise_after_shutdown(name, value, attrs):
    telemetry = lukhas_obs.active() or lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    telemetry.shutdown()
    assert _drive(name, value, attrs)._target is None


@SETTINGS
@given(name=st.text(max_size=30), attrs=st.dictionaries(st.text(max_size=10), attribute_values, max_size=4))
def test_spans_with_any_name_and_attributes_never_raise(name, attrs):
    if lukhas_obs.active() is None:
        lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    tracer = lukhas_obs.get_tracer()
    with tracer.start_as_current_span(name) as span:
        for key, value in attrs.items():
            span.set_attribute(key, value)  # the OTel SDK drops invalid attribute values with a warning
    assert span.end_time is not None


def test_a_failing_sink_is_reported_not_raised(monkeypatch, configured):
    from lukhas_obs.aggregation import MetricState

    counter = lukhas_obs.counter("lukhas_auth_failures_total")
    counter.add(1, tier="T1", reason="locked")
    assert isinstance(counter._target, MetricState)  # the own aggregation is the default sink

    original = MetricState.series

    def broken(state, *args, **kwargs):
        if state is counter._target:
            raise RuntimeError("aggregation bug")
        return original(state, *args, **kwargs)

    monkeypatch.setattr(MetricState, "series", broken)
    counter.add(1, tier="T2", reason="locked")  # a new series: the sink fails, the caller must not see it
    from tests.support.scrape import scrape

    dropped = scrape(configured.metrics_url).samples("lukhas_obs_dropped_measurements_total")
    assert any(s.labels["reason"] == "internal_error" and s.value == 1.0 for s in dropped)


def test_a_failing_sdk_instrument_is_reported_not_raised(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")  # the SDK-instrument sink
    telemetry = lukhas_obs.configure(
        prometheus_port=0, traces_exporter="none", otlp_endpoint="http://127.0.0.1:9", otlp_protocol="http"
    )
    try:
        assert telemetry.aggregator is None
        hist = lukhas_obs.metric("lukhas_memory_search_seconds")
        hist.record(0.1)

        def broken(*_args, **_kwargs):
            raise RuntimeError("SDK bug")

        monkeypatch.setattr(hist._target, "record", broken)
        hist.record(0.2)  # must not raise
        from tests.support.scrape import scrape

        dropped = scrape(telemetry.metrics_url).samples("lukhas_obs_dropped_measurements_total")
        assert any(s.labels["reason"] == "internal_error" and s.value == 1.0 for s in dropped)
    finally:
        telemetry.shutdown(timeout=1)
