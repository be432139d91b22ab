"""OpenMetrics exemplars on ``/metrics``: the trace of a measurement on the bucket (or counter line) it went to.

The OTel exporter renders none (opentelemetry-python #4228). The direct renderer adds, in OpenMetrics only,
``# {span_id="…",trace_id="…"} value timestamp`` to a histogram's ``_bucket`` line for the latest sampled measurement
that fell into that bucket, and to a counter's ``_total`` line for the latest sampled increment; exactly as
prometheus_client renders an ``Exemplar`` (checked by a round trip through its OpenMetrics parser and renderer).
Exemplars are remembered per reader across collections (the SDK hands each collection only what was sampled since
the previous one), bounded; invalid ones are dropped, never breaking the exposition.
"""

from __future__ import annotations

import math
import random
import time
import urllib.request
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs._compat.metric_producer import install
from lukhas_obs.aggregation import Aggregator
from lukhas_obs.exporters import render as render_module
from lukhas_obs.exporters.render import DirectPrometheusReader, DirectRegistry, render
from tests.support.hostile import Hostile

BOUNDS = [0.1, 0.5, 1.0]


class Setup:
    """A MeterProvider with the direct reader only, and a real tracer whose spans are sampled."""

    def __init__(self, *, max_exemplars: int = 20_000) -> None:
        self.reader = DirectPrometheusReader(scope_labels=False, registry=DirectRegistry(), max_exemplars=max_exemplars)
        self.provider = MeterProvider(metric_readers=[self.reader], resource=Resource({}), shutdown_on_exit=False)
        self.meter = self.provider.get_meter("exemplars")
        self.tracer = TracerProvider().get_tracer("exemplars")

    def openmetrics(self) -> str:
        return self.reader.render(openmetrics=True).decode()

    def text(self) -> str:
        return self.reader.render(openmetrics=False).decode()

    def in_span(self, record: Any) -> tuple[str, str]:
        """Run ``record()`` inside a sampled span; its (trace_id, span_id) as OpenMetrics shows them."""
        with self.tracer.start_as_current_span("work") as span:
            record()
            context = span.get_span_context()
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def close(self) -> None:
        self.provider.shutdown(timeout_millis=1000)


@pytest.fixture
def setup():
    s = Setup()
    yield s
    s.close()


def _samples(text: str, name: str) -> list[Any]:
    return [s for f in parse_openmetrics(text) for s in f.samples if s.name == name]


def _exemplars(text: str, name: str) -> dict[str, Any]:
    """``le`` (or the label set) → exemplar of each sample named ``name`` that has one."""
    found = {}
    for sample in _samples(text, name):
        if sample.exemplar is not None:
            found[sample.labels.get("le", repr(sorted(sample.labels.items())))] = sample.exemplar
    return found


def _count_exemplars(text: str) -> int:
    return sum(1 for f in parse_openmetrics(text) for s in f.samples if s.exemplar is not None)


def test_histogram_buckets_carry_the_exemplar_of_the_measurement_that_fell_into_them(setup: Setup) -> None:
    histogram = setup.meter.create_histogram("lat", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
    before = time.time()
    low = setup.in_span(lambda: histogram.record(0.05, {"k": "v"}))
    edge = setup.in_span(lambda: histogram.record(0.5, {"k": "v"}))  # a bound belongs to its own bucket (le)
    high = setup.in_span(lambda: histogram.record(7.0, {"k": "v"}))
    histogram.record(0.7, {"k": "v"})  # outside any span: nothing to link, no exemplar
    text = setup.openmetrics()
    found = _exemplars(text, "lat_seconds_bucket")
    assert set(found) == {"0.1", "0.5", "+Inf"}
    for le, (trace_id, span_id), value in (("0.1", low, 0.05), ("0.5", edge, 0.5), ("+Inf", high, 7.0)):
        exemplar = found[le]
        assert exemplar.labels == {"trace_id": trace_id, "span_id": span_id}
        assert exemplar.value == value
        assert before - 1 <= float(exemplar.timestamp) <= time.time() + 1
    assert not _exemplars(text, "lat_seconds_count") and not _exemplars(text, "lat_seconds_sum")


def test_counter_total_lines_carry_an_exemplar_gauges_never(setup: Setup) -> None:
    counter = setup.meter.create_counter("events")
    updown = setup.meter.create_up_down_counter("queue")
    gauge = setup.meter.create_gauge("level")
    ids = setup.in_span(lambda: (counter.add(3, {"k": "a"}), updown.add(-2), gauge.set(0.5)))
    text = setup.openmetrics()
    (exemplar,) = _exemplars(text, "events_total").values()
    assert exemplar.labels == {"trace_id": ids[0], "span_id": ids[1]} and exemplar.value == 3
    assert " # {" not in "".join(line for line in text.splitlines() if line.startswith(("queue", "level")))


def test_text_format_never_carries_exemplars_and_a_text_scrape_does_not_take_them_away(setup: Setup) -> None:
    """The SDK gives each collection only the exemplars sampled since the reader's previous one: without the
    reader's memory, a text scrape (or a second scraper) in between would make them disappear."""
    histogram = setup.meter.create_histogram("lat", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
    ids = setup.in_span(lambda: histogram.record(0.3, {"k": "v"}))
    text = setup.text()
    assert "lat_seconds_bucket" in text and " # {" not in text
    data = setup.reader.collect_data()
    assert data is not None
    assert all(not p.exemplars for p in data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points)
    assert " # {" not in render(data, openmetrics=True).decode()  # the collection itself has none left
    for _ in range(3):  # every OpenMetrics scrape, not only the first
        found = _exemplars(setup.openmetrics(), "lat_seconds_bucket")
        assert {le: e.labels["trace_id"] for le, e in found.items()} == {"0.5": ids[0]}


def test_a_collection_nobody_renders_keeps_no_data_but_its_exemplars(setup: Setup) -> None:
    """``MeterProvider.force_flush`` (or anything else) collecting the Prometheus reader outside a scrape: the
    reader holds on to no ``MetricsData`` afterwards, and the exemplars that collection took are not lost."""
    histogram = setup.meter.create_histogram("lat", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
    ids = setup.in_span(lambda: histogram.record(0.3, {"k": "v"}))
    setup.reader.collect()
    assert getattr(setup.reader._handoff, "data", None) is None
    found = _exemplars(setup.openmetrics(), "lat_seconds_bucket")
    assert {le: e.labels["trace_id"] for le, e in found.items()} == {"0.5": ids[0]}


def test_a_newer_measurement_replaces_the_exemplar_of_its_bucket_only(setup: Setup) -> None:
    histogram = setup.meter.create_histogram("lat", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
    first = setup.in_span(lambda: histogram.record(0.3, {"k": "v"}))
    other = setup.in_span(lambda: histogram.record(0.05, {"k": "v"}))
    assert set(_exemplars(setup.openmetrics(), "lat_seconds_bucket")) == {"0.5", "0.1"}
    second = setup.in_span(lambda: histogram.record(0.4, {"k": "v"}))
    found = _exemplars(setup.openmetrics(), "lat_seconds_bucket")
    assert found["0.5"].labels["trace_id"] == second[0] != first[0]
    assert found["0.5"].value == 0.4
    assert found["0.1"].labels["trace_id"] == other[0]


def test_openmetrics_with_exemplars_is_exactly_what_prometheus_client_renders(setup: Setup) -> None:
    """Round trip: prometheus_client's OpenMetrics parser accepts the output (exemplar syntax, 128-character label
    limit, exemplars only on buckets and counters) and its renderer gives back the same bytes; each exemplar sits in
    the bucket its value belongs to."""
    rng = random.Random(5)
    histogram = setup.meter.create_histogram(
        "lat", unit="s", description='q"uote\\ \n', explicit_bucket_boundaries_advisory=[0, 0.01, 0.1, 1, 10, 1e21]
    )
    counter = setup.meter.create_counter("events", unit="{event}")
    for i in range(300):
        attributes = {"service": f'svc"{i % 7}\\', "tier": rng.choice(("T1", "T2", "é\n"))}
        value = rng.choice((0, 0.01, 1e21, 5e-324, rng.expovariate(1.0) * 10 ** rng.randint(-3, 22)))
        if rng.random() < 0.5:
            setup.in_span(lambda a=attributes, v=value: (histogram.record(v, a), counter.add(v, a)))
        else:
            histogram.record(value, attributes)
    text = setup.openmetrics()
    families = list(parse_openmetrics(text))

    class Families:
        def collect(self) -> list[Any]:
            return families

    assert generate_openmetrics(Families()).decode() == text
    exemplars = 0
    for family in families:
        previous = -math.inf
        for sample in family.samples:
            if sample.name == "lat_seconds_bucket":
                le = float(sample.labels["le"])
                if sample.exemplar is not None:
                    exemplars += 1
                    assert previous < sample.exemplar.value <= le or (previous == -math.inf and le == 0)
                previous = -math.inf if le == math.inf else le
    assert exemplars > 50 and text.count("events_total{") == text.count("events_total{") > 0


def test_exemplar_memory_is_bounded_and_reports_what_it_forgets(caplog: pytest.LogCaptureFixture) -> None:
    drops.reset_warnings()
    setup = Setup(max_exemplars=3)
    try:
        histogram = setup.meter.create_histogram("lat", unit="s", explicit_bucket_boundaries_advisory=BOUNDS)
        for i in range(10):
            setup.in_span(lambda i=i: histogram.record(0.3, {"i": i}))
        first = setup.openmetrics()
        assert _count_exemplars(first) == 10  # this collection's own are all shown
        assert len(setup.reader.exemplars) == 3
        later = setup.openmetrics()
        assert _count_exemplars(later) == 3  # only the remembered ones stay
        assert any("exemplar_memory_full" in r.getMessage() for r in caplog.records)
        ids = setup.in_span(lambda: histogram.record(0.05, {"i": 0}))  # a new bucket of a remembered series
        found = [s for s in _samples(setup.openmetrics(), "lat_seconds_bucket") if s.exemplar is not None]
        assert len(found) == 4 and ids[0] in {s.exemplar.labels["trace_id"] for s in found}  # shown once
        assert _count_exemplars(setup.openmetrics()) == 3 and len(setup.reader.exemplars) == 3
    finally:
        setup.close()


# -- invalid exemplars ----------------------------------------------------------------------------------------------

_CUMULATIVE = AggregationTemporality.CUMULATIVE
TRACE = 0x1DF098638C9A376A97DE1319B556CF72
SPAN = 0x17C0296428D1191A
NOW = 1_700_000_000_123_456_789


def _data(points: list[Any], histogram: bool) -> MetricsData:
    data: Any = Histogram(points, _CUMULATIVE) if histogram else Sum(points, _CUMULATIVE, True)
    scope = ScopeMetrics(InstrumentationScope("s"), [Metric("m", "", "", data)], "")
    return MetricsData([ResourceMetrics(Resource({}), [scope], "")])


@pytest.mark.parametrize(
    ("trace_id", "span_id", "value", "when", "kept"),
    [
        (TRACE, SPAN, 0.5, NOW, True),
        (TRACE, SPAN, 0.5, None, True),  # no timestamp: rendered without one
        (None, None, 0.5, NOW, False),  # no trace context (always_on filter outside a span)
        (0, SPAN, 0.5, NOW, False),
        (TRACE, 0, 0.5, NOW, False),
        (2**128, SPAN, 0.5, NOW, False),
        (TRACE, 2**64, 0.5, NOW, False),
        (-1, SPAN, 0.5, NOW, False),
        (True, True, 0.5, NOW, False),
        ("abc", SPAN, 0.5, NOW, False),
        (TRACE, SPAN, math.nan, NOW, False),
        (TRACE, SPAN, Hostile(), NOW, False),
        (TRACE, SPAN, 0.5, Hostile(), True),  # not a time: rendered without a timestamp
    ],
    ids=[
        "valid",
        "no_timestamp",
        "no_trace",
        "zero_trace",
        "zero_span",
        "trace_too_big",
        "span_too_big",
        "negative",
        "bool_ids",
        "str_id",
        "nan_value",
        "hostile_value",
        "hostile_time",
    ],
)
@pytest.mark.parametrize("histogram", [True, False])
def test_invalid_exemplars_are_dropped_never_breaking_the_exposition(
    trace_id: Any, span_id: Any, value: Any, when: Any, kept: bool, histogram: bool
) -> None:
    exemplar = Exemplar({}, value, when, span_id, trace_id)
    if histogram:
        point: Any = HistogramDataPoint({"k": "v"}, 0, 0, 1, 0.5, [0, 1, 0], [0.1, 1.0], 0.5, 0.5, [exemplar])
    else:
        point = NumberDataPoint({"k": "v"}, 0, 0, 1, [exemplar])
    text = render(_data([point], histogram), openmetrics=True, scope_labels=False).decode()
    found = [s.exemplar for f in parse_openmetrics(text) for s in f.samples if s.exemplar is not None]
    assert len(found) == (1 if kept else 0)
    if kept:
        assert found[0].labels == {"trace_id": f"{TRACE:032x}", "span_id": f"{SPAN:016x}"}
        assert (found[0].timestamp is None) == (when is None or isinstance(when, Hostile))
        if histogram:
            assert 'le="1.0"} 1.0 # {' in text  # 0.5 belongs to the (0.1, 1.0] bucket


def test_exemplars_carry_only_trace_and_span_ids_never_measurement_attributes(setup: Setup) -> None:
    """An exemplar's filtered attributes (measurement attributes a view dropped from the series) may hold anything
    the caller passed, secrets included: only the trace context leaves the process."""
    exemplar = Exemplar({"password": "hunter2", "user.email": "a@b.c"}, 0.5, NOW, SPAN, TRACE)
    point = HistogramDataPoint({"k": "v"}, 0, 0, 1, 0.5, [0, 1, 0], [0.1, 1.0], 0.5, 0.5, [exemplar])
    text = render(_data([point], True), openmetrics=True).decode()
    assert " # {" in text and "hunter2" not in text and "password" not in text and "a@b.c" not in text


def test_exemplar_label_sets_over_the_openmetrics_limit_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenMetrics caps an exemplar's label names + values at 128 characters (prometheus_client's parser rejects
    more). Trace and span ids take 63; with a lower cap the exemplar is dropped, the line kept."""
    point = NumberDataPoint({}, 0, 0, 1, [Exemplar({}, 1, NOW, SPAN, TRACE)])
    assert " # {" in render(_data([point], False), openmetrics=True, scope_labels=False).decode()
    monkeypatch.setattr(render_module, "MAX_EXEMPLAR_LABEL_CHARS", 62)
    text = render(_data([point], False), openmetrics=True, scope_labels=False).decode()
    assert " # {" not in text and "m_total 1.0\n" in text


# -- through the aggregation and the configured endpoint ------------------------------------------------------------


def test_the_aggregations_exemplars_reach_the_direct_reader() -> None:
    """lukhas' own aggregation replicates the SDK's reservoirs and is merged in by the publisher's wrapper of the
    reader's ``_receive_metrics``: its exemplars are remembered and rendered like the SDK's."""
    setup = Setup()
    try:
        aggregator = Aggregator()
        install(setup.provider, aggregator, scope_name="lukhas_obs", scope_version="0.1.0")
        series = aggregator.metric("agg.latency", "", "s", "histogram", buckets=tuple(BOUNDS)).series({"k": "v"})
        ids = setup.in_span(lambda: series.record(0.7))
        for _ in range(2):
            found = _exemplars(setup.openmetrics(), "agg_latency_seconds_bucket")
            assert {le: e.labels for le, e in found.items()} == {"1.0": {"trace_id": ids[0], "span_id": ids[1]}}
    finally:
        setup.close()


@pytest.mark.e2e
def test_configured_endpoint_serves_exemplars_of_lukhas_spans_over_http() -> None:
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    try:
        assert telemetry.metrics_url is not None
        with lukhas_obs.span("memory.query"):
            context = trace.get_current_span().get_span_context()
            lukhas_obs.metric("lukhas_memory_search_seconds").record(0.3)
        assert context.is_valid and context.trace_flags.sampled
        request = urllib.request.Request(
            telemetry.metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read().decode()
        found = _exemplars(body, "lukhas_memory_search_seconds_bucket")
        assert {le: e.labels["trace_id"] for le, e in found.items()} == {"0.5": f"{context.trace_id:032x}"}
        with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
            assert b" # {" not in response.read()
    finally:
        telemetry.shutdown(timeout=5)
