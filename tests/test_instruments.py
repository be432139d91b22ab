"""The recording seam never raises: bad values are dropped, logged once per (metric, reason) and counted."""

from __future__ import annotations

import logging
import math

import pytest

import lukhas_obs
from tests.support.scrape import scrape


def _dropped(url: str, family: str = "lukhas_obs_dropped_measurements_total") -> dict[tuple[str, str], float]:
    return {(s.labels["metric"], s.labels["reason"]): s.value for s in scrape(url).samples(family)}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "nan"),
        (math.inf, "infinite"),
        (-math.inf, "infinite"),
        (None, "not_a_number"),
        ("0.1", "not_a_number"),
        (True, "not_a_number"),
        ([0.1], "not_a_number"),
    ],
)
def test_bad_histogram_values_are_dropped_and_counted(configured, value, reason):
    hist = lukhas_obs.metric("lukhas_memory_search_seconds")
    hist.record(value)
    hist.record(value)
    hist.record(0.01)
    assert _dropped(configured.metrics_url)[("lukhas_memory_search_seconds", reason)] == 2.0
    (count,) = scrape(configured.metrics_url).samples("lukhas_memory_search_seconds_count")
    assert count.value == 1.0


def test_negative_counter_increment_is_dropped(configured):
    docs = lukhas_obs.metric("lukhas_memory_docs_total")
    docs.add(-3)
    docs.add(2)
    (sample,) = scrape(configured.metrics_url).samples("lukhas_memory_docs_total")
    assert sample.value == 2.0
    assert _dropped(configured.metrics_url)[("lukhas_memory_docs_total", "negative_increment")] == 1.0


def test_warning_is_logged_once_per_metric_and_reason(configured, caplog):
    hist = lukhas_obs.metric("lukhas_dream_step_seconds")
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        for _ in range(100):
            hist.record(math.nan)
        hist.record(math.inf)
        lukhas_obs.metric("lukhas_memory_upsert_seconds").record(math.nan)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lukhas_dream_step_seconds: nan" in m for m in messages) == 1
    assert sum("lukhas_dream_step_seconds: infinite" in m for m in messages) == 1
    assert sum("lukhas_memory_upsert_seconds: nan" in m for m in messages) == 1
    assert _dropped(configured.metrics_url)[("lukhas_dream_step_seconds", "nan")] == 100.0


def test_enumerated_labels_fold_unknown_values_to_other(configured):
    failures = lukhas_obs.metric("lukhas_auth_failures_total")
    failures.add(1, tier="T9", reason="cosmic_rays")
    failures.add(1, tier="T2", reason="invalid_credentials")
    series = {(s.labels["tier"], s.labels["reason"]): s.value for s in scrape(configured.metrics_url).samples(
        "lukhas_auth_failures_total")}  # fmt: skip
    assert series == {("other", "other"): 1.0, ("T2", "invalid_credentials"): 1.0}


def test_unknown_and_invalid_attributes_are_removed_not_fatal(configured):
    latency = lukhas_obs.metric("lukhas_auth_latency_seconds")
    latency.record(0.1, tier="T1", user_id="u-123")
    latency.record(0.1, tier={"nested": 1})
    series = scrape(configured.metrics_url).samples("lukhas_auth_latency_seconds_count")
    assert sorted(s.labels["tier"] for s in series) == ["", "T1"]  # the exporter back-fills a missing label with ""
    assert "u-123" not in scrape(configured.metrics_url).body
    dropped = _dropped(configured.metrics_url, "lukhas_obs_dropped_attributes_total")
    assert dropped[("lukhas_auth_latency_seconds", "unknown_attribute")] == 1.0
    assert dropped[("lukhas_auth_latency_seconds", "invalid_attribute_value")] == 1.0


def test_long_string_attributes_are_truncated(configured):
    lukhas_obs.metric("lukhas_memory_docs_total").add(1, lane="x" * 10_000)
    (sample,) = [s for s in scrape(configured.metrics_url).samples("lukhas_memory_docs_total")]
    assert len(sample.labels["lane"]) == 256


def test_call_time_common_attributes_override_the_configured_ones(configured):
    lukhas_obs.metric("lukhas_memory_docs_total").add(1, lane="experimental")
    (sample,) = scrape(configured.metrics_url).samples("lukhas_memory_docs_total")
    assert (sample.labels["lane"], sample.labels["service"]) == ("experimental", "lukhas")


def test_observable_gauge_callbacks_are_isolated(tmp_path):
    from lukhas_obs.catalog import Catalog, MetricSpec, register

    register(
        Catalog(
            name="obs_callback_test",
            common_attributes=("service",),
            metrics=(
                MetricSpec(
                    name="obs_callback_test_fill",
                    otel_name="obs_callback_test.fill",
                    kind="observable_gauge",
                    unit="1",
                    description="queue fill",
                    common_attributes=("service",),
                ),
            ),
        )
    )
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    gauge = lukhas_obs.metric("obs_callback_test_fill")

    @gauge.observe
    def broken() -> float:
        raise RuntimeError("boom")

    gauge.observe(lambda: 0.5)
    (sample,) = scrape(telemetry.metrics_url).samples("obs_callback_test_fill")
    assert (sample.value, sample.labels["service"]) == (0.5, "lukhas")
    assert _dropped(telemetry.metrics_url)[("obs_callback_test_fill", "callback_error")] >= 1.0


def test_unknown_metric_names_fail_loudly_at_lookup():
    with pytest.raises(KeyError) as err:
        lukhas_obs.metric("lukhas_memory_serch_seconds")
    assert "lukhas_memory_search_seconds" in str(err.value)
