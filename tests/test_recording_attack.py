"""Attacks on the metric recording path and the flow helpers (issue 9, breaks 1, 5, 9, 10 and the memo findings).

Each test is written as the attack: it fed the landed code a hostile value and saw a broken promise (a poisoned
/metrics, a dead OTLP export, an exception in the caller, a flooded log). Now the value is dropped or made valid text,
warned about once and counted.
"""

from __future__ import annotations

import logging
import urllib.request

import pytest

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs.flows import consciousness, identity, memory
from tests.support.hostile import Hostile, RaisingStr
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.scrape import scrape

PATHS = "lukhas_memory_search_seconds"  # histogram with declared labels only
FAILURES = "lukhas_auth_failures_total"


def _body(telemetry) -> str:
    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def _dropped(telemetry, reason: str, *, attribute: bool = False) -> float:
    family = drops.DROPPED_ATTRIBUTES if attribute else drops.DROPPED_MEASUREMENTS
    return sum(s.value for s in scrape(telemetry.metrics_url).samples(family) if s.labels.get("reason") == reason)


# -- break 1: one string poisons /metrics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "poison",
    ["\ud800", "GET /\udcff", "a\udfffb" * 10, "\ud83d"],  # lone surrogates, high and low
)
def test_a_lone_surrogate_in_a_free_form_label_never_poisons_metrics(configured, poison):
    counter = lukhas_obs.metric("lukhas_obs_dropped_measurements_total")  # free-form `metric`, `reason` labels
    counter.add(1, metric=poison, reason="x")
    body = _body(configured)
    assert _body(configured) == body or "lukhas_obs" in _body(configured)  # still 200, twice
    assert "\ufffd" in body  # the surrogate became U+FFFD, the rest of the value kept


def test_a_span_name_with_a_surrogate_used_as_a_drop_label_never_poisons_metrics(configured):
    with lukhas_obs.span("GET /\udcff", body={"a": 1}):  # a dict attribute is dropped, keyed by the span name
        pass
    assert "lukhas_obs_dropped_attributes_total" in _body(configured)
    assert "lukhas_obs_dropped_attributes_total" in _body(configured)


def test_an_int_too_long_to_print_is_not_a_label_value(configured):
    counter = lukhas_obs.metric("lukhas_obs_dropped_measurements_total")
    counter.add(1, metric=10**5000, reason="x")  # str() of it raises ValueError (int max str digits)
    counter.add(1, metric=2**64, reason="y")  # outside int64: OTLP cannot carry it either
    body = _body(configured)
    assert 'reason="y"' not in body and 'reason="x"' not in body
    assert _dropped(configured, "out_of_range", attribute=True) == 2


def test_label_values_are_bounded_text(configured):
    counter = lukhas_obs.metric("lukhas_obs_dropped_measurements_total")
    counter.add(1, metric="m" * 100_000, reason=RaisingStr("boom"))
    body = _body(configured)
    line = next(line for line in body.splitlines() if "m" * 200 in line)
    assert len(line) < 1000


# -- break 5: an int outside int64 stops all OTLP metric export --------------------------------------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**400, 2**64])
def test_an_int_outside_int64_is_dropped_and_never_poisons_an_export(configured, value):
    counter = lukhas_obs.metric("lukhas_memory_docs_total")
    gauge = lukhas_obs.metric("lukhas_dream_backpressure")
    counter.add(value)
    gauge.set(value)
    counter.add(3)
    assert [s.value for s in scrape(configured.metrics_url).samples("lukhas_memory_docs_total")] == [3]
    assert _dropped(configured, "out_of_range") == 2


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_metric_export_survives_a_huge_counter_increment(protocol):
    with OtlpReceiver(protocol) as receiver:
        lukhas_obs.configure(
            prometheus_port=0, traces_exporter="none", otlp_endpoint=receiver.endpoint, otlp_protocol=protocol
        )
        lukhas_obs.metric("lukhas_memory_docs_total").add(2**63)
        lukhas_obs.metric("lukhas_memory_docs_total").add(2**62)
        lukhas_obs.metric("lukhas_memory_docs_total").add(2**62)  # the running total passes int64 too
        lukhas_obs.metric("lukhas_memory_dedup_dropped_total").add(1)
        assert lukhas_obs.force_flush(timeout=5)
        assert receiver.wait_for(
            lambda r: any(m.name == "lukhas.memory.dedup_dropped" for _, m in r.metrics()), timeout=10
        )


# -- break 10: negative histogram values flood the log ------------------------------------------------------------


def test_negative_histogram_values_are_dropped_warned_once_and_counted(configured, caplog):
    caplog.set_level(logging.WARNING)
    search = lukhas_obs.metric(PATHS)
    for _ in range(10_000):
        search.record(-0.001)
    search.record(0.01)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings[:3]]
    assert "negative_value" in warnings[0].getMessage()
    assert _dropped(configured, "negative_value") == 10_000
    assert [s.value for s in scrape(configured.metrics_url).samples(PATHS + "_count")] == [1]


# -- the memo: True, 1 and 1.0 are three attribute sets; numpy scalars are numbers ---------------------------------


def test_true_one_and_one_point_zero_stay_three_series(configured):
    counter = lukhas_obs.metric("lukhas_obs_dropped_measurements_total")
    counter.add(1, metric=True, reason="nan")
    counter.add(1, metric=1, reason="nan")
    counter.add(1, metric=1.0, reason="nan")
    values = {
        s.labels["metric"]: s.value
        for s in scrape(configured.metrics_url).samples("lukhas_obs_dropped_measurements_total")
        if s.labels.get("reason") == "nan"
    }
    assert values == {"true": 1, "1": 1, "1.0": 1}


def test_numpy_scalars_are_numbers():
    np = pytest.importorskip("numpy")
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    search = lukhas_obs.metric(PATHS)
    for value in (np.int64(1), np.float32(0.5), np.float64(0.25), np.int8(2), np.uint64(3)):
        search.record(value)
    docs = lukhas_obs.metric("lukhas_memory_docs_total")
    docs.add(np.int64(4))
    docs.add(np.uint64(2**64 - 1))  # outside int64: dropped, counted
    assert _dropped(telemetry, "not_a_number") == 0
    assert _dropped(telemetry, "out_of_range") == 1
    body = scrape(telemetry.metrics_url)
    assert [s.value for s in body.samples(PATHS + "_count")] == [5]
    assert [s.value for s in body.samples(PATHS + "_sum")] == [pytest.approx(1 + 0.5 + 0.25 + 2 + 3)]
    (total,) = scrape(telemetry.metrics_url).samples("lukhas_memory_docs_total")
    assert total.value == 4


@pytest.mark.parametrize(
    "value",
    [Hostile(), RaisingStr("1"), float("nan"), 10**400, [1], b"1", None],
    ids=["hostile", "raising-str", "nan", "huge-int", "list", "bytes", "none"],
)
def test_hostile_values_never_raise_and_are_counted(configured, value):
    lukhas_obs.metric(PATHS).record(value)
    lukhas_obs.metric("lukhas_memory_docs_total").add(value)
    lukhas_obs.metric("lukhas_dream_backpressure").set(value)
    ours = {PATHS, "lukhas_memory_docs_total", "lukhas_dream_backpressure"}
    samples = scrape(configured.metrics_url).samples(drops.DROPPED_MEASUREMENTS)
    assert sum(s.value for s in samples if s.labels["metric"] in ours) == 3


def test_hostile_attribute_keys_and_values_never_raise(configured):
    failures = lukhas_obs.metric(FAILURES)
    failures.add(1, tier=RaisingStr("T1"), reason=Hostile())
    failures.add(1, **{"\ud800": 1, "tier": "T1", "reason": "invalid_credentials"})
    failures.add(1, tier="T1", reason="invalid_credentials")
    samples = scrape(configured.metrics_url).samples(FAILURES)
    assert {(s.labels["tier"], s.labels["reason"]): s.value for s in samples}[("T1", "invalid_credentials")] == 2


# -- break 9: helpers raise into the caller ------------------------------------------------------------------------


def test_backpressure_with_a_huge_int_is_refused_not_raised(configured):
    assert consciousness.set_backpressure(10**400) is False
    assert consciousness.set_backpressure(Hostile()) is False
    assert consciousness.set_backpressure(RaisingStr("0.5")) is False
    assert consciousness.set_backpressure(0.5) is True


def test_record_anomalies_with_a_collection_whose_len_raises(configured):
    assert consciousness.record_anomalies(Hostile()) == 0
    assert consciousness.record_anomalies(10**400) == 0
    assert consciousness.record_anomalies([1, 2]) == 2
    (total,) = scrape(configured.metrics_url).samples("lukhas_reflection_anomalies_total")
    assert total.value == 2


class OkRaises:
    @property
    def ok(self) -> bool:
        raise RuntimeError("ok")

    reason = "invalid_credentials"


class ReasonRaises:
    ok = False

    @property
    def reason(self) -> str:
        raise RuntimeError("reason")


@pytest.mark.parametrize(
    "result",
    [OkRaises(), ReasonRaises(), Hostile(), (RaisingStr("x"), "y"), (False, Hostile())],
    ids=["ok-raises", "reason-raises", "hostile", "raising-str-pair", "hostile-reason"],
)
def test_authenticate_with_a_result_whose_properties_raise(configured, result):
    assert identity.authenticate("T2", lambda: result) is result  # returned unchanged, never raised
    samples = scrape(configured.metrics_url).samples(FAILURES)
    assert sum(s.value for s in samples if s.labels["tier"] == "T2") == 1  # a result that cannot say yes is a no


def test_authenticate_keeps_the_callers_own_exception(configured):
    error = ValueError("bad")

    def verify():
        raise error

    with pytest.raises(ValueError) as caught:
        identity.authenticate(RaisingStr("T2"), verify)
    assert caught.value is error


def test_memory_helpers_with_hostile_counts(configured):
    memory.docs_indexed(Hostile())
    memory.docs_indexed(10**400)
    memory.duplicates_dropped(RaisingStr("1"))
    memory.docs_indexed(2)
    (total,) = scrape(configured.metrics_url).samples("lukhas_memory_docs_total")
    assert total.value == 2


# -- drop reporting itself stays bounded ---------------------------------------------------------------------------


def test_drop_warnings_and_labels_are_bounded_by_key(configured, caplog):
    caplog.set_level(logging.WARNING)
    for i in range(5_000):
        drops.report(f"span.{i}", "invalid_attribute_value", attribute=True)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= drops.MAX_WHERE + 2
    samples = scrape(configured.metrics_url).samples(drops.DROPPED_ATTRIBUTES)
    assert len(samples) <= drops.MAX_WHERE + 1
    assert sum(s.value for s in samples) == 5_000  # every drop counted, the excess under metric="other"
