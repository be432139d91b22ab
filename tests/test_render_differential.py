"""The gate for the direct ``/metrics`` renderer: byte-identical to the OTel exporter + prometheus_client.

One real ``MeterProvider`` carries both readers: the OTel ``PrometheusMetricReader`` on a private registry (rendered
by prometheus_client's ``generate_latest``, text 0.0.4 and OpenMetrics 1.0.0) and lukhas-obs'
``DirectPrometheusReader`` (rendered by :func:`lukhas_obs.exporters.render.render`). Both see the same
measurements; every render is one collection of its reader, and nothing records between the two renders of a
comparison, so their outputs must be equal byte for byte. Random workloads (seeded; counters, up-down counters,
histograms with random integer/float/negative bucket sets, gauges, observable counters/up-down counters/gauges; ints
and floats at the edges of Go's float formatting, 0 and -0.0, huge and tiny; attribute keys that sanitise alike,
``le``; label values with quotes, backslashes, newlines, braces and non-ASCII text; sequences, bools; several scopes,
also sharing a metric name; hostile resource attributes) run at 1, 100, 1k and 10k series, with scope labels on and
off, target_info on and off, a prefix and a resource attribute filter. Measurements made inside sampled spans give
the direct OpenMetrics output exemplars, which the exporter never renders: a line may differ only by one valid
exemplar suffix on a ``_bucket`` or ``_total`` line.

Also here: ``?name[]=`` selection against the exporter filtered the way lukhas-obs filters it, the aggregation's
publishing seam (both readers wrapped), metrics the exporter cannot convert (its whole scrape fails; here only that
metric is left out), and the end-to-end check over real HTTP against ``lukhas_obs.configure(...)``.
"""

from __future__ import annotations

import difflib
import math
import random
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics import _Gauge as SyncGauge
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.utils import floatToGoString

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs._compat.metric_producer import install
from lukhas_obs.aggregation import Aggregator
from lukhas_obs.exporters import render as render_module
from lukhas_obs.exporters.prometheus import _Only, build_reader, respond
from lukhas_obs.exporters.render import DirectPrometheusReader, DirectRegistry
from tests.support.hostile import Hostile

EXEMPLAR = re.compile(r' # \{span_id="[0-9a-f]{16}",trace_id="[0-9a-f]{32}"\} \S+ \d+\.\d{9}')
ALL_KINDS = (Counter, UpDownCounter, Histogram, SyncGauge, ObservableCounter, ObservableUpDownCounter, ObservableGauge)

HOSTILE_TEXT = (
    'quote"d',
    "back\\slash",
    "new\nline",
    "\\n not a newline",
    '\\"',
    "{0}",
    "}{",
    "{{}}",
    "# {x=\"y\"} 1",
    "é",
    "日本語",
    "😀",
    "\u2028",
    "\t tab",
    "",
    " ",
    "a,b=c",
)
OTHER_VALUES = (0, 1, -7, 2**63 - 1, 1.5, -0.0, 1e21, True, False, ("a", "b"), (1, 2), (True,), ("q\"", "\\"))
KEYS = ("service", "lane", "tier", "a.b", "a_b", "le", "9lives", "ключ", "x-y", "otel_scope_name", "__x", "Z", "id")
FLOATS = (
    0.0,
    -0.0,
    1.0,
    0.1,
    1 / 3,
    5e-324,
    2.2250738585072014e-308,
    1e-7,
    123456.7,
    999999.9999,
    1000000.0,
    1000000.5,
    1234567.8,
    1e15,
    1e16,
    1e17,
    1e21,
    1e22,
    1.7976931348623157e308,
    -1e21,
    -1234567.0,
    -5e-324,
)
INTS = (0, 1, 2, 999_999, 1_000_000, 1_234_567, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 10**21)
UNITS = ("", "s", "ms", "By", "1", "{doc}", "m/s", "%", "bytes", "req/{x}")
NAMES = ("lukhas.memory.search", "diff.requests_total", "diff.queue", "diff.size_seconds", "Mixed.Case-9", "a-b.c", "x")
SCOPES: tuple[tuple[str, str | None, str | None, dict[str, Any] | None], ...] = (
    ("lukhas_obs", "0.1.0", None, None),
    ("third.party", "2.3", "https://opentelemetry.io/schemas/1.21.0", {"lib.attr": 'x"y\n', "n": 3, "on": True}),
    ("lukhas_obs", "0.2.0", None, None),
    ("other", None, None, None),
)
RESOURCE = Resource(
    {
        "service.name": 'diff "render" \\ {0}',
        "lane": "test",
        "team.note": "multi\nline é",
        "n": 42,
        "ratio": 0.5,
        "flags": ("a", "b"),
        "on": True,
    }
)


def _limits(limit: int | None) -> dict[type, int] | None:
    return None if limit is None else dict.fromkeys(ALL_KINDS, limit)


class Pair:
    """One MeterProvider with the OTel exporter's reader and the direct reader, configured alike."""

    def __init__(
        self,
        *,
        scope_labels: bool,
        target_info: bool = True,
        prefix: str = "",
        resource_filter: Callable[[str], bool] | None = None,
        limit: int | None = None,
        views: Sequence[View] = (),
        aggregator: Aggregator | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.exporter = PrometheusMetricReader(
            disable_target_info=not target_info,
            prefix=prefix,
            scope_info_enabled=scope_labels,
            resource_attribute_filter=resource_filter,
            registry=self.registry,
            cardinality_limits=_limits(limit),
        )
        self.direct_registry = DirectRegistry()
        self.direct = DirectPrometheusReader(
            scope_labels=scope_labels,
            registry=self.direct_registry,
            target_info=target_info,
            prefix=prefix,
            resource_attribute_filter=resource_filter,
            cardinality_limits=_limits(limit),
        )
        self.provider = MeterProvider(
            metric_readers=[self.exporter, self.direct],
            resource=RESOURCE,
            shutdown_on_exit=False,
            views=list(views),
        )
        if aggregator is not None:
            install(self.provider, aggregator, scope_name="lukhas_obs", scope_version="0.1.0")
        self.tracer = TracerProvider().get_tracer("diff")

    def expected(self, openmetrics: bool, names: Iterable[str] | None = None) -> bytes:
        target: Any = self.registry if names is None else _Only(self.registry, names)
        return generate_openmetrics(target) if openmetrics else generate_latest(target)

    def actual(self, openmetrics: bool, names: Iterable[str] | None = None) -> bytes:
        return self.direct.render(openmetrics=openmetrics, names=names)

    def close(self) -> None:
        self.provider.shutdown(timeout_millis=1000)


def assert_identical(expected: bytes, actual: bytes, openmetrics: bool) -> int:
    """Equal bytes; for OpenMetrics a line may carry one exemplar more. Returns the number of exemplars seen."""
    if not openmetrics:
        if actual != expected:
            pytest.fail("text differs:\n" + _diff(expected, actual))
        return 0
    want = expected.decode().split("\n")
    got = actual.decode().split("\n")
    if len(want) != len(got):
        pytest.fail("OpenMetrics line count differs:\n" + _diff(expected, actual))
    exemplars = 0
    for line_want, line_got in zip(want, got, strict=True):
        if line_got == line_want:
            continue
        extra = line_got[len(line_want) :]
        sample = line_want.split("{", 1)[0].split(" ", 1)[0]
        if (
            not line_got.startswith(line_want)
            or not EXEMPLAR.fullmatch(extra)
            or not sample.endswith(("_bucket", "_total"))
        ):
            pytest.fail(f"OpenMetrics line differs:\n- {line_want!r}\n+ {line_got!r}")
        exemplars += 1
    return exemplars


def as_info_families(expected: bytes, info_names: Iterable[str]) -> bytes:
    """The exporter's OpenMetrics with each info gauge ``x_info`` named in ``info_names`` (OTel names; the families
    whose Prometheus name is the same) rewritten as prometheus_client's info family ``x``: the only place where the
    direct renderer departs from the exporter's bytes (docs/SERVING.md, "Info families")."""
    lines = expected.decode().split("\n")
    wanted = {name.replace(".", "_") for name in info_names}
    for index, line in enumerate(lines):
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("HELP", "TYPE") and parts[2] in wanted:
            family = parts[2][: -len("_info")]
            if parts[1] == "TYPE" and line == f"# TYPE {parts[2]} gauge":
                lines[index] = f"# TYPE {family} info"
            elif parts[1] == "HELP":
                lines[index] = " ".join(["#", "HELP", family, *parts[3:]])
    return "\n".join(lines).encode()


def _diff(expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(
        expected.decode(errors="replace").splitlines(), actual.decode(errors="replace").splitlines(), lineterm=""
    )
    return "\n".join(list(lines)[:40])


# -- random workloads -----------------------------------------------------------------------------------------------


def _label_value(rng: random.Random) -> Any:
    return rng.choice(HOSTILE_TEXT) if rng.random() < 0.7 else rng.choice(OTHER_VALUES)


def _attributes(rng: random.Random, index: int) -> dict[str, Any]:
    attributes = {key: _label_value(rng) for key in rng.sample(KEYS[:-1], rng.randint(0, 3))}
    if rng.random() < 0.5:  # distinct series, and a distinct key order now and then
        attributes["id"] = rng.choice((f"{index}", index, f'{rng.choice(HOSTILE_TEXT)}#{index}'))
    else:
        attributes = {"id": f"s{index}", **attributes}
    return attributes


def _number(rng: random.Random, signed: bool) -> float | int:
    pick = rng.random()
    if pick < 0.35:
        value: float | int = rng.choice(FLOATS)
    elif pick < 0.6:
        value = rng.choice(INTS)
    elif pick < 0.8:
        value = rng.uniform(0, 10) if rng.random() < 0.5 else rng.randint(0, 1000)
    else:
        value = rng.expovariate(1.0) * 10 ** rng.randint(-10, 25)
    if signed and rng.random() < 0.4:
        value = -value
    return value


def _bounds(rng: random.Random) -> list[float | int]:
    pick = rng.random()
    if pick < 0.2:
        return sorted(rng.sample(range(-5, 100), rng.randint(1, 8)))  # integer bounds: le="1"
    if pick < 0.3:
        return []
    if pick < 0.4:
        return [-1.5, 0, 0.5]  # a negative first bound: no _count/_sum
    if pick < 0.55:
        return [1e-05, 0.001, 1, 1000000.0, 1234567.0, 1e16, 1e21, 1e22]
    return sorted({round(rng.uniform(0, 5), rng.randint(0, 4)) for _ in range(rng.randint(1, 12))})


def populate(pair: Pair, rng: random.Random, series: int, *, spans: bool = True) -> Callable[[], None]:
    """Create metrics with ``series`` series in total; returns a function that records one more round into them."""
    meters = [
        pair.provider.get_meter(name, version, schema_url=schema, attributes=attrs)
        for name, version, schema, attrs in SCOPES
    ]
    count = max(1, min(14, series // 6 + 1))
    sizes = [series // count + (1 if i < series % count else 0) for i in range(count)]
    recorders: list[Callable[[], None]] = []
    index = 0
    for size in sizes:
        kind = rng.choice(("counter", "updown", "histogram", "gauge", "obs_gauge", "obs_counter", "obs_updown"))
        meter = rng.choice(meters)
        name = f"{rng.choice(NAMES)}.{kind}" if rng.random() < 0.7 else rng.choice(NAMES)
        unit = rng.choice(UNITS)
        description = rng.choice(("", "plain", 'with "quotes" and \\ and\nnewline', "é {0} }{"))
        attribute_sets = [_attributes(rng, index + i) for i in range(size)]
        index += size
        if kind.startswith("obs_"):
            signed = kind != "obs_counter"
            observations = [Observation(abs(_number(rng, signed)) if not signed else _number(rng, signed), a)
                            for a in attribute_sets]

            def callback(options: CallbackOptions, observations: list[Observation] = observations) -> list:
                return observations

            factory = {
                "obs_gauge": meter.create_observable_gauge,
                "obs_counter": meter.create_observable_counter,
                "obs_updown": meter.create_observable_up_down_counter,
            }[kind]
            factory(name, callbacks=[callback], unit=unit, description=description)
            continue
        if kind == "histogram":
            instrument: Any = meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=_bounds(rng)
            )
            method, signed = instrument.record, False
        elif kind == "counter":
            instrument = meter.create_counter(name, unit=unit, description=description)
            method, signed = instrument.add, False
        elif kind == "updown":
            instrument = meter.create_up_down_counter(name, unit=unit, description=description)
            method, signed = instrument.add, True
        else:
            instrument = meter.create_gauge(name, unit=unit, description=description)
            method, signed = instrument.set, True

        def record(method: Any = method, sets: list = attribute_sets, signed: bool = signed) -> None:
            for attributes in sets:
                value = _number(rng, signed)
                if spans and rng.random() < 0.3:
                    with pair.tracer.start_as_current_span("measure"):
                        method(value, attributes)
                else:
                    method(value, attributes)

        recorders.append(record)

    def one_round() -> None:
        for record in recorders:
            record()

    one_round()
    return one_round


def compare_all(pair: Pair, rng: random.Random | None = None) -> int:
    """Both formats, unfiltered and (with ``rng``) under random ``?name[]=`` selections; exemplars counted."""
    exemplars = 0
    for openmetrics in (False, True):
        exemplars += assert_identical(pair.expected(openmetrics), pair.actual(openmetrics), openmetrics)
    if rng is not None:
        text = pair.expected(False).decode()
        families = {f.name for f in parse_text(text)}
        samples = {line.split("{", 1)[0].split(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}
        pool = sorted(families | samples | {"target", "target_info", "nothing_here", ""})
        for _ in range(3):
            names = rng.sample(pool, min(len(pool), rng.randint(1, 4)))
            for openmetrics in (False, True):
                exemplars += assert_identical(
                    pair.expected(openmetrics, names), pair.actual(openmetrics, names), openmetrics
                )
    return exemplars


# -- the gate -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "seed"),
    [(1, s) for s in range(6)] + [(100, s) for s in range(6)] + [(1000, 0), (1000, 1)],
)
def test_random_workloads_render_byte_identical(series: int, seed: int) -> None:
    rng = random.Random(f"render-{series}-{seed}")
    scope_labels = seed % 2 == 0
    pair = Pair(scope_labels=scope_labels, target_info=seed % 3 != 2, limit=max(2000, series + 10))
    try:
        one_round = populate(pair, rng, series)
        seen = compare_all(pair, rng)
        one_round()  # a second collection: cumulative values, new exemplars
        seen += compare_all(pair)
        if series >= 100:
            assert seen > 0, "no exemplar was rendered: the exemplar part of the gate checked nothing"
    finally:
        pair.close()


def test_ten_thousand_histogram_series_render_byte_identical() -> None:
    pair = Pair(scope_labels=False, limit=10_010)
    try:
        histogram = pair.provider.get_meter("lukhas_obs", "0.1.0").create_histogram(
            "lukhas.memory.search", unit="s", description="Latency", explicit_bucket_boundaries_advisory=[0.01, 0.1, 1]
        )
        for i in range(10_000):
            histogram.record(i % 7 * 0.05, {"lane": "candidate", "service": f'svc-{i:05d}"\\'})
        for openmetrics in (False, True):
            expected = pair.expected(openmetrics)
            assert expected.count(b"lukhas_memory_search_seconds_count{") == 10_000
            assert_identical(expected, pair.actual(openmetrics), openmetrics)
    finally:
        pair.close()


@pytest.mark.parametrize("variant", ["prefix", "resource_filter", "no_target_info", "scope_labels"])
def test_reader_options_render_byte_identical(variant: str) -> None:
    options: dict[str, Any] = {"scope_labels": variant == "scope_labels"}
    if variant == "prefix":
        options["prefix"] = "my:app.v2"
    elif variant == "resource_filter":
        options["resource_filter"] = lambda key: key in ("service.name", "team.note", "n", "flags")
    elif variant == "no_target_info":
        options["target_info"] = False
    pair = Pair(**options)
    try:
        populate(pair, random.Random(variant), 60)
        compare_all(pair, random.Random(variant))
    finally:
        pair.close()


def test_float_formatting_matches_prometheus_client_at_every_edge() -> None:
    rng = random.Random(7)
    values: list[Any] = [*FLOATS, *INTS, *(-i for i in INTS), math.inf, -math.inf, math.nan, True, False]
    values += [rng.uniform(-1e25, 1e25) for _ in range(2000)]
    values += [rng.expovariate(1.0) * 10 ** rng.randint(-320, 300) for _ in range(2000)]
    values += [rng.randint(-(2**64), 2**64) for _ in range(2000)]
    values += [float(10**e) for e in range(-10, 30)] + [10**e for e in range(0, 30)]
    for value in values:
        assert render_module._num(value) == floatToGoString(value), value


def test_same_name_in_several_scopes_and_descriptions_reproduces_the_exporter_families() -> None:
    """The exporter merges a name across scopes into one family (values zipped against the first metric's label
    names) and keeps a different description apart (two TYPE lines): reproduced, not repaired."""
    pair = Pair(scope_labels=False)
    try:
        a = pair.provider.get_meter("a").create_counter("dup", description="one")
        b = pair.provider.get_meter("b").create_counter("dup", description="one")
        c = pair.provider.get_meter("c").create_counter("dup", description="two")
        a.add(1, {"x": "1", "y": "2"})
        b.add(2, {"z": "3"})
        c.add(3, {"x": "4"})
        text = pair.expected(False)
        assert text.count(b"# TYPE dup_total counter") == 2
        assert b'dup_total{x="3"} 2.0' in text  # b's z value zipped against a's label names (x, y)
        compare_all(pair)
    finally:
        pair.close()


def test_aggregation_publishing_seam_feeds_both_readers_identically() -> None:
    """The aggregation's publisher wraps ``_receive_metrics`` of every reader on the instance: the direct reader's
    collection path goes through it (its own metrics merge into what the direct reader renders)."""
    aggregator = Aggregator()
    pair = Pair(scope_labels=True, aggregator=aggregator)
    try:
        assert "_receive_metrics" in vars(pair.direct)  # the publisher's instance attribute is in place
        histogram = aggregator.metric("agg.latency", "from the aggregation", "s", "histogram", buckets=(0.1, 1.0))
        counter = aggregator.metric("agg.events", 'events "quoted"', "1", "counter")
        sdk = pair.provider.get_meter("third.party").create_counter("sdk.events")
        for i in range(50):
            attributes = {"service": f'svc"{i % 5}', "lane": "x\ny"}
            with pair.tracer.start_as_current_span("work"):
                histogram.series(attributes).record(i * 0.03)
                counter.series(attributes).add(i)
            sdk.add(1, {"i": i % 3})
        text = pair.actual(False)
        assert b"agg_latency_seconds_bucket{" in text and b"sdk_events_total{" in text
        assert compare_all(pair, random.Random(3)) > 0
    finally:
        pair.close()


def test_nothing_collected_renders_like_the_exporter() -> None:
    pair = Pair(scope_labels=False)
    try:
        assert pair.actual(False) == pair.expected(False) == b""
        assert pair.actual(True) == pair.expected(True) == b"# EOF\n"
    finally:
        pair.close()


def test_registry_path_still_renders_through_prometheus_client() -> None:
    """``generate_latest`` on lukhas-obs' registry (code that renders ``active().registry`` itself) still works and
    is the exporter's own rendering of a fresh collection."""
    pair = Pair(scope_labels=False)
    try:
        populate(pair, random.Random(11), 30, spans=False)
        assert generate_latest(pair.direct_registry) == pair.expected(False) == pair.actual(False)
        assert generate_openmetrics(pair.direct_registry) == pair.expected(True) == pair.actual(True)
    finally:
        pair.close()


def test_concurrent_scrapes_each_render_a_whole_collection_of_their_own() -> None:
    """Scrapes on several threads while a thread records: each gets its own complete, cumulative collection (the
    reader hands each collection to the thread that asked for it)."""
    pair = Pair(scope_labels=False)
    try:
        meter = pair.provider.get_meter("m")
        counter = meter.create_counter("hits")
        histogram = meter.create_histogram("lat", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1])

        def slow(options: CallbackOptions) -> list[Observation]:
            time.sleep(0.002)  # collections overlap: each thread must still get its own
            return [Observation(1)]

        meter.create_observable_gauge("slow", callbacks=[slow])
        for i in range(200):
            counter.add(1, {"i": i})
            histogram.record(0.5, {"i": i})
        stop = threading.Event()
        failures: list[str] = []

        def writer() -> None:
            k = 0
            while not stop.is_set():
                counter.add(1, {"i": k % 200})
                histogram.record(0.05, {"i": k % 200})
                k += 1
                if k % 50 == 0:
                    time.sleep(0.001)  # let the scrapers run too

        def scraper(openmetrics: bool) -> None:
            previous = 0.0
            try:
                for _ in range(8):
                    text = pair.actual(openmetrics).decode()
                    parse = parse_openmetrics if openmetrics else parse_text
                    families = {f.name: f for f in parse(text)}
                    hits = [s.value for s in families["hits"].samples]
                    counts = [s.value for s in families["lat_seconds"].samples if s.name == "lat_seconds_count"]
                    if len(hits) != 200 or len(counts) != 200:
                        failures.append(f"incomplete collection: {len(hits)} / {len(counts)} series")
                    if sum(hits) < previous:
                        failures.append("a later scrape went backwards")
                    previous = sum(hits)
            except Exception as exc:  # reported below, with the thread's own message
                failures.append(repr(exc))

        threads = [threading.Thread(target=writer)]
        threads += [threading.Thread(target=scraper, args=(i % 2 == 1,)) for i in range(4)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # threads switch often: a shared hand-over would be caught
        try:
            for thread in threads:
                thread.start()
            for thread in threads[1:]:
                thread.join(timeout=30)
        finally:
            sys.setswitchinterval(interval)
            stop.set()
        threads[0].join(timeout=5)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
    finally:
        pair.close()


def test_a_collection_finishing_on_another_thread_in_between_does_not_steal_this_ones() -> None:
    """Deterministic version of the race above: right after this thread's collection is delivered, another thread
    runs a whole collection of its own (through an instance wrapper of ``_receive_metrics``, the seam the
    aggregation's publisher uses). Each thread still renders its own collection."""
    pair = Pair(scope_labels=False)
    try:
        pair.provider.get_meter("m").create_counter("hits").add(5, {"k": "v"})
        original = pair.direct._receive_metrics
        other: list[Any] = []

        def receive(metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> None:
            original(metrics_data, timeout_millis=timeout_millis, **kwargs)
            if not other:  # once: another scrape, start to finish, before this one reads its collection
                other.append(None)
                thread = threading.Thread(target=lambda: other.append(pair.direct.collect_data()))
                thread.start()
                thread.join(timeout=5)

        pair.direct._receive_metrics = receive  # type: ignore[method-assign]
        mine = pair.direct.collect_data()
        assert mine is not None and other[1] is not None and mine is not other[1]
        del pair.direct._receive_metrics
        assert pair.actual(False) == pair.expected(False)
    finally:
        pair.close()


# -- what the exporter cannot render --------------------------------------------------------------------------------


def _respond_body(registry: CollectorRegistry, accept: str | None = None) -> tuple[int, bytes]:
    status, _headers, body = respond(lambda: registry, "GET", "", accept, None)
    return status, body


@pytest.mark.parametrize("breaker", ["exponential_histogram", "lone_surrogate"])
def test_a_metric_the_exporter_cannot_convert_leaves_the_rest_of_the_scrape(
    breaker: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The exporter's scrape fails as a whole (HTTP 500) on one unconvertible metric; the direct path drops that
    metric (or replaces the invalid text), reports it, and serves everything else."""
    drops.reset_warnings()  # each reason is logged once per process
    reader, registry = build_reader(scope_labels=False)
    plain_registry = CollectorRegistry(auto_describe=True)
    exporter = PrometheusMetricReader(scope_info_enabled=False, registry=plain_registry)
    views = [View(instrument_name="expo", aggregation=ExponentialBucketHistogramAggregation())]
    provider = MeterProvider(metric_readers=[exporter, reader], resource=RESOURCE, views=views, shutdown_on_exit=False)
    try:
        meter = provider.get_meter("m")
        meter.create_counter("fine").add(1, {"k": "v"})
        if breaker == "exponential_histogram":
            meter.create_histogram("expo").record(1.5)
        else:
            meter.create_counter("surrogate").add(1, {"k": "bad\udc80text"})
        assert _respond_body(plain_registry)[0] == 500  # the exporter's rendering fails
        for accept in (None, "application/openmetrics-text; version=1.0.0"):
            status, body = _respond_body(registry, accept)
            assert status == 200
            text = body.decode("utf-8")
            families = {f.name for f in (parse_openmetrics(text) if accept else parse_text(text))}
            assert "fine" in families
            assert "expo" not in families
            if breaker == "lone_surrogate":
                assert 'k="bad?text"' in text
        assert any("prometheus_exposition" in r.getMessage() for r in caplog.records)
    finally:
        provider.shutdown(timeout_millis=1000)


def _exporter_render(data: MetricsData, openmetrics: bool) -> bytes:
    """The exporter's rendering of hand-made data (its collector fed directly, as its reader would)."""
    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    reader._receive_metrics(data)
    return generate_openmetrics(registry) if openmetrics else generate_latest(registry)


@pytest.mark.parametrize("bad", ["huge_int", "raising_value", "raising_key", "no_buckets"])
def test_unconvertible_points_leave_out_their_metric_only(bad: str, caplog: pytest.LogCaptureFixture) -> None:
    """Data no SDK path makes today but another producer could: the exporter raises on it; the direct renderer
    renders the other metrics exactly as the exporter renders them without the bad one."""
    drops.reset_warnings()  # each reason is logged once per process
    good = Metric("fine", "ok", "1", Sum([_point({"k": "v"}, 3)], _CUMULATIVE, True))
    if bad == "huge_int":
        broken = Metric("huge", "", "", Gauge([_point({}, 2**1100)]))
    elif bad == "raising_value":
        broken = Metric("hostile", "", "", Gauge([_point({"k": Hostile()}, 1)]))
    elif bad == "raising_key":
        broken = Metric("hostile", "", "", Gauge([_point({7: "v"}, 1)]))  # type: ignore[dict-item]
    else:
        point = HistogramDataPoint({}, 0, 0, 0, 0.0, [], [], 0.0, 0.0)
        broken = Metric("empty", "", "", HistogramData([point], _CUMULATIVE))
    with_bad = _data([good, broken])
    without = _data([good])
    for openmetrics in (False, True):
        with pytest.raises(Exception):  # noqa: B017 - whatever the exporter raises, it raises
            _exporter_render(with_bad, openmetrics)
        rendered = render_module.render(with_bad, openmetrics=openmetrics, scope_labels=False)
        assert rendered == _exporter_render(without, openmetrics)
    assert any("unrenderable_metric" in r.getMessage() for r in caplog.records)


_CUMULATIVE = AggregationTemporality.CUMULATIVE


def _point(attributes: dict[Any, Any], value: Any) -> NumberDataPoint:
    return NumberDataPoint(attributes, 0, 0, value)


def _data(metrics: list[Metric]) -> MetricsData:
    scope = ScopeMetrics(InstrumentationScope("s"), metrics, "")
    return MetricsData([ResourceMetrics(RESOURCE, [scope], "")])


# -- end to end -----------------------------------------------------------------------------------------------------


def _get(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return response.read()


@pytest.mark.e2e
def test_configured_metrics_endpoint_serves_the_exporters_bytes_over_http(tmp_path: Any) -> None:
    telemetry = lukhas_obs.configure(
        prometheus_port=0,
        traces_exporter="none",
        service='svc "q" \\ back {0} é😀',
        resource_attributes={"team": 'a"b\\\nc{1}'},
    )
    try:
        assert telemetry.metrics_url is not None and telemetry.registry is not None
        lukhas_obs.metric("lukhas_memory_search_seconds").record(0.3)
        lukhas_obs.metric("lukhas_memory_search_seconds").record(0.004)
        lukhas_obs.metric("lukhas_memory_docs_total").add(3)
        lukhas_obs.metric("lukhas_dream_backpressure").set(-0.0)
        lukhas_obs.metric("lukhas_auth_failures_total").add(1, tier="T2", reason='weird "reason"\n')
        text = _get(telemetry.metrics_url)
        assert text == generate_latest(telemetry.registry)  # the exporter's conversion of a fresh collection
        assert b'service="svc \\"q\\" \\\\ back {0} \xc3\xa9\xf0\x9f\x98\x80"' in text
        assert b'lukhas_memory_search_seconds_bucket{lane="candidate",le="0.005",service=' in text
        assert b"lukhas_memory_search_seconds_count{" in text and b"} 2.0\n" in text
        openmetrics = _get(telemetry.metrics_url, "application/openmetrics-text; version=1.0.0")
        # info metrics of registered catalogs (published once any test set them) are info families here
        expected = as_info_families(generate_openmetrics(telemetry.registry), render_module.catalog_info_names())
        assert_identical(expected, openmetrics, True)
        assert openmetrics.endswith(b"# EOF\n")
        selected = _get(telemetry.metrics_url + "?name[]=lukhas_memory_docs_total")
        assert selected == generate_latest(_Only(telemetry.registry, ["lukhas_memory_docs_total"]))
        assert selected.startswith(b"# HELP lukhas_memory_docs_total ") and b"search" not in selected
    finally:
        telemetry.shutdown(timeout=5)
