"""Info families and ``_created`` series on ``/metrics``, byte for byte as prometheus_client 0.26 renders them.

**Info** (issue 12 item 2): a catalog ``kind: info`` metric is published by the SDK as the gauge ``x_info`` at 1. The
OTel exporter renders it as a gauge; prometheus_client's ``Info('x', ...)`` renders, in OpenMetrics,
``# HELP x ...`` / ``# TYPE x info`` / ``x_info{...} 1.0`` and, in text 0.0.4, the gauge ``x_info``. The direct
renderer does what prometheus_client does for the gauges it is told are info (the catalog's, by OTel name): the
text format stays the exporter's bytes, OpenMetrics differs from the exporter's only in the info family's two
header lines.

**_created** (issue 12 item 2, ``created_series``): prometheus_client adds ``x_created`` (the series' creation time,
seconds) to counters and histograms; the OTel exporter never does. With ``created=True`` the direct renderer writes
the points' start time the way prometheus_client writes a ``_created`` sample: text 0.0.4 as a gauge family
``x_created`` after the family, OpenMetrics as a sample after each series' own samples. Each test builds the
prometheus_client metric with the same labels, values and creation time, and compares the whole exposition.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from typing import Any

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

import lukhas_obs
from lukhas_obs import catalog, runtime
from lukhas_obs.exporters.render import DirectPrometheusReader, DirectRegistry, catalog_info_names, render
from tests.conftest import require_tool
from tests.test_render_differential import Pair, as_info_families, assert_identical

DOC = 'facts with "quotes", a \\ backslash and a\nnewline'
HOSTILE_VALUES = ('q"uote', "back\\slash", "new\nline", "é 日本", "", "{0}")


class Direct:
    """A MeterProvider with the direct reader only (no target_info, no scope labels), for comparisons with
    prometheus_client's own rendering."""

    def __init__(self) -> None:
        self.reader = DirectPrometheusReader(scope_labels=False, registry=DirectRegistry(), target_info=False)
        self.provider = MeterProvider(metric_readers=[self.reader], resource=Resource({}), shutdown_on_exit=False)
        self.meter = self.provider.get_meter("info-created")

    def collect(self) -> MetricsData:
        data = self.reader.collect_data()
        assert data is not None
        return data

    def close(self) -> None:
        self.provider.shutdown(timeout_millis=1000)


@pytest.fixture
def direct():
    d = Direct()
    yield d
    d.close()


def _render(data: MetricsData, openmetrics: bool, **options: Any) -> bytes:
    return render(data, openmetrics=openmetrics, scope_labels=False, target_info=False, **options)


def _observed(facts: list[dict[str, str]]) -> Any:
    def callback(options: CallbackOptions) -> list[Observation]:
        return [Observation(1, attributes) for attributes in facts]

    return callback


# ------------------------------------------------------------------------------------------------------------ info


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
@pytest.mark.parametrize(
    ("labelnames", "children"),
    [
        ((), [((), {"version": "1.2.3", "commit": "abc"})]),
        ((), [((), {})]),
        (("instance",), [(("a",), {"version": v, "note": "n"}) for v in HOSTILE_VALUES[:1]]
         + [(("b",), {"version": v, "note": "m"}) for v in HOSTILE_VALUES[1:2]]),
        ((), [((), {"k" + str(i): v for i, v in enumerate(HOSTILE_VALUES)})]),
    ],
    ids=["facts", "no-facts", "labelled-children", "hostile-values"],
)  # fmt: skip
def test_info_renders_as_prometheus_client_info(direct, openmetrics, labelnames, children):
    facts = [dict(zip(labelnames, values, strict=True)) | info for values, info in children]
    direct.meter.create_observable_gauge("luna_system_info", callbacks=[_observed(facts)], description=DOC)
    ours = _render(direct.collect(), openmetrics, info={"luna_system_info"})

    registry = CollectorRegistry()
    expected_info = Info("luna_system", DOC, labelnames, registry=registry)
    for values, info in children:
        (expected_info.labels(*values) if labelnames else expected_info).info(info)
    theirs = generate_openmetrics(registry) if openmetrics else generate_latest(registry)
    assert ours == theirs
    if openmetrics:
        assert b"# TYPE luna_system info\n" in ours and b"# HELP luna_system facts" in ours
        parsed = list(parse_openmetrics(ours.decode()))
        assert [(f.name, f.type) for f in parsed] == [("luna_system", "info")]
    else:  # the text format is also what the exporter renders for the gauge
        assert b"# TYPE luna_system_info gauge\n" in ours
        assert ours == _render(direct.collect(), openmetrics)


def test_only_gauges_named_info_with_an_info_name_become_info(direct):
    direct.meter.create_observable_gauge("named_info", callbacks=[_observed([{"v": "1"}])], description="d")
    direct.meter.create_observable_gauge("other_info", callbacks=[_observed([{"v": "1"}])], description="d")
    direct.meter.create_observable_gauge("not_an", callbacks=[_observed([{"v": "1"}])], description="d")
    direct.meter.create_observable_gauge("unit_info", callbacks=[_observed([{"v": "1"}])], unit="s")
    direct.meter.create_counter("counter_info", description="d").add(1)
    data = direct.collect()
    ours = _render(data, True, info={"named_info", "not_an", "unit_info", "counter_info"}).decode()
    assert "# TYPE named info\n" in ours
    assert "# TYPE other_info gauge\n" in ours  # not named: a gauge, as the exporter renders it
    assert "# TYPE not_an gauge\n" in ours  # named, but not an x_info name
    assert "# TYPE unit_info_seconds gauge\n" in ours  # the unit suffix makes it no x_info name
    assert "# TYPE counter_info counter\n" in ours
    assert ours.replace("# HELP named d\n# TYPE named info\n", "# HELP named_info d\n# TYPE named_info gauge\n") == (
        _render(data, True).decode()
    )


def test_exporter_differential_is_relaxed_only_in_the_info_family_headers():
    pair = Pair(scope_labels=True)
    try:
        meter = pair.provider.get_meter("lukhas_obs", "0.1.0")
        meter.create_observable_gauge("build_info", callbacks=[_observed([{"version": 'v"1'}])], description=DOC)
        meter.create_counter("requests", description="r").add(3, {"route": "/a"})
        meter.create_histogram("latency", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1.0]).record(0.5)
        for openmetrics in (False, True):
            expected = pair.expected(openmetrics)
            data = pair.direct.collect_data()
            actual = render(data, openmetrics=openmetrics, scope_labels=True, info={"build_info"})
            if openmetrics:
                escaped = DOC.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
                header = f"# HELP build_info {escaped}\n# TYPE build_info gauge\n".encode()
                assert expected.count(header) == 1
                relaxed = expected.replace(header, f"# HELP build {escaped}\n# TYPE build info\n".encode())
                assert as_info_families(expected, ["build_info"]) == relaxed
                expected = relaxed
            assert_identical(expected, actual, openmetrics)
    finally:
        pair.close()


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
@pytest.mark.parametrize("names", [["build_info"], ["build"], ["build_info", "nothing"], ["build_total"]])
def test_name_filter_selects_an_info_family_by_sample_or_family_name(direct, openmetrics, names):
    direct.meter.create_observable_gauge("build_info", callbacks=[_observed([{"version": "1"}])], description="b")
    ours = _render(direct.collect(), openmetrics, info={"build_info"}, names=names)
    registry = CollectorRegistry()
    Info("build", "b", registry=registry).info({"version": "1"})
    restricted = registry.restricted_registry([n for n in names if n != "build"] or ["build_info"])
    if names == ["build_total"]:
        assert ours == (b"# EOF\n" if openmetrics else b"")
        return
    theirs = generate_openmetrics(restricted) if openmetrics else generate_latest(restricted)
    assert ours == theirs


CATALOG = {
    "catalog": "info_created_test",
    "title": "info and _created tests",
    "common_attributes": [],
    "attributes": {"version": {"description": "A version."}, "route": {"description": "A route."}},
    "metrics": [
        {"name": "ict_build_info", "kind": "info", "description": "Build facts", "attributes": ["version"]},
        {"name": "ict_requests_total", "kind": "counter", "unit": "{request}", "description": "Requests",
         "attributes": ["route"]},
        {"name": "ict_latency_seconds", "kind": "histogram", "unit": "s", "description": "Latency",
         "buckets": [0.1, 1.0]},
    ],
}  # fmt: skip


@pytest.fixture
def info_catalog() -> None:
    catalog.register(catalog.load_catalog(CATALOG))


def _get(url: str, accept: str | None = None) -> str:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


@pytest.mark.e2e
def test_a_catalog_info_metric_is_an_info_family_on_the_configured_endpoint(info_catalog):
    assert "ict_build_info" in catalog_info_names()
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none")
    try:
        lukhas_obs.metric("ict_build_info").info(version='2.0 "rc"')
        openmetrics = _get(telemetry.metrics_url, "application/openmetrics-text; version=1.0.0")
        registry = CollectorRegistry()
        Info("ict_build", "Build facts", registry=registry).info({"version": '2.0 "rc"'})
        family = generate_openmetrics(registry).decode().removesuffix("# EOF\n")
        assert family in openmetrics
        assert {f.name: f.type for f in parse_openmetrics(openmetrics)}["ict_build"] == "info"
        text = _get(telemetry.metrics_url)
        assert generate_latest(registry).decode() in text  # the gauge ict_build_info, as prometheus_client writes it
    finally:
        telemetry.shutdown(timeout=5)


# -------------------------------------------------------------------------------------------------------- _created


def _start_times(data: MetricsData, name: str) -> list[int]:
    return [
        point.start_time_unix_nano
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_created_series_are_prometheus_clients_bytes(direct, openmetrics):
    counter = direct.meter.create_counter("jobs", description=DOC)
    histogram = direct.meter.create_histogram("work", description="w", explicit_bucket_boundaries_advisory=[0.1, 2.5])
    label_sets = [{"a": value, "b": str(i)} for i, value in enumerate(HOSTILE_VALUES)]
    for i, attributes in enumerate(label_sets):
        counter.add(i + 1, attributes)
        histogram.record(0.05 * i, attributes)
    data = direct.collect()
    ours = _render(data, openmetrics, created=True)

    registry = CollectorRegistry()
    expected_counter = Counter("jobs", DOC, ["a", "b"], registry=registry)
    expected_histogram = Histogram("work", "w", ["a", "b"], buckets=[0.1, 2.5], registry=registry)
    counter_starts, histogram_starts = _start_times(data, "jobs"), _start_times(data, "work")
    for i, attributes in enumerate(label_sets):
        child = expected_counter.labels(**attributes)
        child.inc(i + 1)
        child._created = counter_starts[i] / 1_000_000_000
        child_h = expected_histogram.labels(**attributes)
        child_h.observe(0.05 * i)
        child_h._created = histogram_starts[i] / 1_000_000_000
    theirs = generate_openmetrics(registry) if openmetrics else generate_latest(registry)
    assert ours == theirs
    if openmetrics:
        families = {f.name: f for f in parse_openmetrics(ours.decode())}
        assert {s.name for s in families["jobs"].samples} == {"jobs_total", "jobs_created"}
    else:
        assert b"# TYPE jobs_created gauge\n" in ours and b"# TYPE work_created gauge\n" in ours


def test_without_created_the_output_is_the_exporters_and_has_no_created_series():
    pair = Pair(scope_labels=False)
    try:
        meter = pair.provider.get_meter("lukhas_obs", "0.1.0")
        meter.create_counter("jobs").add(1, {"a": "b"})
        meter.create_histogram("work", explicit_bucket_boundaries_advisory=[1.0]).record(0.5)
        for openmetrics in (False, True):
            actual = pair.actual(openmetrics)
            assert b"_created" not in actual
            assert_identical(pair.expected(openmetrics), actual, openmetrics)
    finally:
        pair.close()


def test_created_only_for_counters_and_histograms(direct):
    direct.meter.create_counter("c").add(1)
    direct.meter.create_up_down_counter("u").add(-1)
    direct.meter.create_gauge("g").set(2)
    direct.meter.create_histogram("h", explicit_bucket_boundaries_advisory=[1.0]).record(0.5)
    direct.meter.create_observable_gauge("og", callbacks=[_observed([{}])])
    direct.meter.create_observable_counter("oc", callbacks=[_observed([{}])])
    direct.meter.create_observable_up_down_counter("ou", callbacks=[_observed([{}])])
    for openmetrics in (False, True):
        text = _render(direct.collect(), openmetrics, created=True).decode()
        created = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if "_created" in line}
        created = {name for name in created if not name.startswith("#")}
        assert created == {"c_created", "h_created", "oc_created"}, (openmetrics, created)


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
@pytest.mark.parametrize(
    "names",
    [["jobs_created"], ["jobs_total"], ["jobs_created", "work_created"], ["work_count", "work_created"], ["jobs"]],
)
def test_name_filter_on_created_series_is_prometheus_clients(direct, openmetrics, names):
    direct.meter.create_counter("jobs", description="j").add(2, {"a": "x"})
    direct.meter.create_histogram("work", description="w", explicit_bucket_boundaries_advisory=[1.0]).record(0.5)
    data = direct.collect()
    ours = _render(data, openmetrics, created=True, names=names)
    registry, jobs_only = CollectorRegistry(), CollectorRegistry()
    for target in (registry, jobs_only):
        jobs = Counter("jobs", "j", ["a"], registry=target).labels("x")
        jobs.inc(2)
        jobs._created = _start_times(data, "jobs")[0] / 1_000_000_000
    work = Histogram("work", "w", buckets=[1.0], registry=registry)
    work.observe(0.5)
    work._created = _start_times(data, "work")[0] / 1_000_000_000
    if names == ["jobs"]:  # lukhas-obs' family-name selection: the whole family, its _created included
        assert ours == (generate_openmetrics(jobs_only) if openmetrics else generate_latest(jobs_only))
        return
    restricted = registry.restricted_registry(names)  # its families come in set order: compare them as a set
    theirs = generate_openmetrics(restricted) if openmetrics else generate_latest(restricted)
    assert _blocks(ours) == _blocks(theirs)


def _blocks(exposition: bytes) -> list[bytes]:
    """The exposition's header-led blocks (a family, or a text-format ``_created`` gauge family), sorted."""
    blocks: list[bytes] = []
    for line in exposition.splitlines(keepends=True):
        if line.startswith((b"# HELP", b"# EOF")) or not blocks:
            blocks.append(line)
        else:
            blocks[-1] += line
    return sorted(blocks)


def _number_data(start: Any) -> MetricsData:
    point = NumberDataPoint({"k": "v"}, start, 1_700_000_000_000_000_000, 4, None)
    data = Sum([point], AggregationTemporality.CUMULATIVE, True)
    metric = Metric("made", None, "", data)
    scope = ScopeMetrics(InstrumentationScope("s"), [metric], "")
    return MetricsData([ResourceMetrics(Resource({}), [scope], "")])


@pytest.mark.parametrize("start", [0, None, -5, 1.5, True, "1", 1_700_000_000_123_456_789])
def test_a_point_without_a_valid_start_time_gets_no_created_line(start):
    for openmetrics in (False, True):
        text = _render(_number_data(start), openmetrics, created=True).decode()
        assert 'made_total{k="v"} 4.0\n' in text
        if start == 1_700_000_000_123_456_789:
            assert 'made_created{k="v"} 1.7000000001234567e+09\n' in text
        else:
            assert "made_created" not in text, start


@pytest.mark.e2e
def test_created_series_setting_over_http_with_the_own_aggregation(info_catalog):
    before = time.time()
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none", created_series=True)
    try:
        lukhas_obs.metric("ict_requests_total").add(2, route="/a")
        lukhas_obs.metric("ict_latency_seconds").record(0.3)
        after = time.time()
        text = _get(telemetry.metrics_url)
        lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        for sample in ('ict_requests_created{route="/a"}', "ict_latency_seconds_created"):
            assert before - 1 <= float(lines[sample]) <= after + 1, sample
        assert "# TYPE ict_requests_created gauge\n" in text
        assert "lukhas_memory_docs_created" not in text  # a series is created by its first measurement
        openmetrics = _get(telemetry.metrics_url, "application/openmetrics-text; version=1.0.0")
        families = {f.name: f for f in parse_openmetrics(openmetrics)}
        assert [s.name for s in families["ict_requests"].samples] == ["ict_requests_total", "ict_requests_created"]
        assert [s.name for s in families["ict_latency_seconds"].samples][-1] == "ict_latency_seconds_created"
        promtool = require_tool("promtool")
        own = "\n".join(line for line in text.splitlines() if "ict_" in line or "target_info" in line) + "\n"
        checked = subprocess.run([promtool, "check", "metrics"], input=own.encode(), capture_output=True, timeout=30)
        assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    finally:
        telemetry.shutdown(timeout=5)


def test_created_series_are_off_by_default_and_on_from_the_environment(info_catalog, monkeypatch):
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none")
    try:
        lukhas_obs.metric("ict_requests_total").add(1, route="/a")
        assert "_created" not in _get(telemetry.metrics_url)
    finally:
        telemetry.shutdown(timeout=5)
    monkeypatch.setenv("LUKHAS_CREATED_SERIES", "true")
    telemetry = runtime.configure(prometheus_port=0, traces_exporter="none")
    try:
        lukhas_obs.metric("ict_requests_total").add(1, route="/a")
        assert telemetry.settings.created_series is True
        assert 'ict_requests_created{route="/a"}' in _get(telemetry.metrics_url)
    finally:
        telemetry.shutdown(timeout=5)
