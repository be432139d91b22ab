"""Bounded cardinality: a per-metric limit that warns once and counts, instead of the SDK's silent overflow."""

from __future__ import annotations

import gc
import logging
import resource
import time
import tracemalloc

import lukhas_obs
from tests.support.scrape import scrape


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def test_limit_reached_warns_once_counts_and_keeps_admitted_series(caplog):
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", cardinality_limits={
        "lukhas_memory_docs_total": 10})  # fmt: skip
    docs = lukhas_obs.metric("lukhas_memory_docs_total")
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        for i in range(50):
            docs.add(1, lane=f"lane-{i}")
        docs.add(1, lane="lane-3")  # an admitted set still records past the limit
    result = scrape(telemetry.metrics_url)
    series = {s.labels["lane"]: s.value for s in result.samples("lukhas_memory_docs_total")}
    assert len(series) == 10 and series["lane-3"] == 2.0
    (dropped,) = [
        s for s in result.samples("lukhas_obs_dropped_measurements_total") if s.labels["reason"] == "cardinality_limit"
    ]
    assert dropped.value == 40.0
    assert sum("cardinality_limit" in r.getMessage() for r in caplog.records) == 1
    assert "otel_metric_overflow" not in result.body  # the SDK's silent overflow never triggers


def test_enumerated_labels_never_use_up_the_limit():
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", cardinality_limit=6)
    failures = lukhas_obs.metric("lukhas_auth_failures_total")
    for i in range(1000):
        failures.add(1, tier=f"T{i}", reason=f"r{i}")
    series = scrape(telemetry.metrics_url).samples("lukhas_auth_failures_total")
    expected = {("other", "other"), *((f"T{i}", "other") for i in range(1, 6))}  # 1000 inputs fold to 6 sets
    assert {(s.labels["tier"], s.labels["reason"]) for s in series} == expected
    assert sum(s.value for s in series) == 1000.0


def test_a_million_distinct_values_keep_memory_bounded():
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    docs = lukhas_obs.metric("lukhas_memory_docs_total")
    for i in range(2000):  # warm up: reach the limit, allocate the SDK's aggregations
        docs.add(1, lane=f"warm-{i}")
    gc.collect()
    rss_before = _rss_mb()
    started = time.perf_counter()
    for i in range(1_000_000):
        docs.add(1, lane=f"lane-{i}")
    elapsed = time.perf_counter() - started
    gc.collect()
    rss_after = _rss_mb()
    tracemalloc.start()  # retained Python allocations over 100,000 more distinct values (tracemalloc is slow)
    for i in range(100_000):
        docs.add(1, lane=f"more-{i}")
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\n1,000,000 distinct label values: RSS {rss_before:.1f} MB -> {rss_after:.1f} MB "
        f"(+{rss_after - rss_before:.1f} MB), {elapsed:.1f} s ({elapsed:.2f} µs per call); "
        f"100,000 more: {retained / 2**10:.0f} KiB retained, {peak / 2**10:.0f} KiB peak"
    )
    series = scrape(telemetry.metrics_url).samples("lukhas_memory_docs_total")
    assert len(series) == 1000  # the default limit
    assert retained < 4 * 2**20  # nothing is kept per distinct value
    assert rss_after - rss_before < 64


def test_the_sdk_path_never_overflows_silently_below_the_configured_limit():
    """The SDK's readers merge attribute sets past 2,000 into one overflow series without a word; lukhas-obs' own
    limit (which warns and counts) must be the one that applies on aggregation="sdk" too."""
    telemetry = lukhas_obs.configure(
        prometheus_port=0, traces_exporter="none", aggregation="sdk", cardinality_limit=5000
    )
    dropped = lukhas_obs.counter("lukhas_obs_dropped_measurements_total")  # its `metric` label is free-form
    for i in range(3000):
        dropped.add(1, metric=f"m{i}", reason="nan")
    body = lukhas_obs.render_exposition()[0].decode()
    lines = [line for line in body.splitlines() if line.startswith("lukhas_obs_dropped_measurements_total{")]
    assert len(lines) == 3000 and "otel_metric_overflow" not in body
    telemetry.shutdown()
