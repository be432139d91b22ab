"""The gate for lukhas-obs's own aggregation: its output is bit-identical to the OTel SDK's.

Two MeterProviders are built the same way (same resource; a Prometheus reader on a private registry, a periodic
reader with the real OTLP exporter's temporality and aggregation tables, an in-memory reader). One records through
plain SDK instruments, the other through :class:`lukhas_obs.aggregation.Aggregator` published by
:mod:`lukhas_obs._compat.metric_producer`. Both replay the same seeded random sequence (ints and floats, values
equal to bucket bounds, 0 and -0.0, huge int64 values, both signs for up-down counters and gauges, reordered
attribute keys, ``True``/``1``/``1.0`` attribute values, several metrics of each kind with 1..50 series each,
values the SDK drops) with collections at random points, readers collecting at different times. After every
collection the outputs must be equal: the in-memory ``MetricsData`` (numbers compared with their type and sign,
timestamps zeroed), ``/metrics`` text 0.0.4 and OpenMetrics from ``prometheus_client``, and the OTLP protobuf
request bytes (timestamps zeroed).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
)
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from lukhas_obs._compat.metric_producer import ANCHOR_SCOPE, UnsupportedConfiguration, install
from lukhas_obs.aggregation import Aggregator

SCOPE = ("lukhas_obs", "9.9.9")
RESOURCE = Resource({"service.name": "differential", "lane": "test", "service.instance.id": "i-1"})
READERS = ("prometheus", "otlp", "memory")

# (kind, OTel name, unit, description, buckets)
METRICS: tuple[tuple[str, str, str, str, Sequence[float] | None], ...] = (
    ("histogram", "diff.search", "s", "search latency", (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)),
    ("histogram", "diff.Size", "By", "integer bounds (le=\"1\")", (0, 1, 10, 100, 1000)),
    ("histogram", "diff.default_buckets", "ms", "the SDK's default boundaries", None),
    ("histogram", "diff.one_bucket", "1", "no boundaries at all", ()),
    ("counter", "diff.docs", "{doc}", "documents", None),
    ("counter", "diff.bytes", "By", "bytes", None),
    ("counter", "diff.events", "", "", None),
    ("updown_counter", "diff.inflight", "{request}", "in flight", None),
    ("updown_counter", "diff.balance", "1", "both signs", None),
    ("gauge", "diff.temperature", "Cel", "last value", None),
    ("gauge", "diff.queue", "{item}", "queue length", None),
    ("gauge", "diff.ratio", "1", "", None),
)

_ATTR_KEYS = ("route", "code", "flag", "tier")
_ATTR_VALUES: tuple[object, ...] = ("a", "b", "", "x y", 1, True, 1.0, 0, False, 0.0, -0.0, 2, 2.5, -7)


# -- canonical forms -------------------------------------------------------------------------------------------


def canon(value: Any) -> Any:
    """A comparable form that tells 1 / 1.0 / True and 0.0 / -0.0 apart, keeps dict order, zeroes timestamps."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value.hex())
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return ("enum", type(value).__name__, value.name)
    if isinstance(value, dict) or type(value).__name__ == "BoundedAttributes":
        return ("dict", tuple((k, canon(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(canon(v) for v in value))
    if isinstance(value, Resource):
        return ("Resource", canon(dict(value.attributes)), value.schema_url)
    if isinstance(value, InstrumentationScope):
        return ("Scope", value.name, value.version, value.schema_url, canon(value.attributes))
    if dataclasses.is_dataclass(value):
        fields = []
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.name in ("time_unix_nano", "start_time_unix_nano") and isinstance(v, int):
                v = 0
            fields.append((f.name, canon(v)))
        return (type(value).__name__, tuple(fields))
    raise TypeError(f"no canonical form for {type(value).__name__}")


def otlp_bytes(data: MetricsData) -> bytes:
    """The OTLP request body for ``data`` with every timestamp zeroed (serialised deterministically)."""
    request = encode_metrics(data)
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points:
                    point.start_time_unix_nano = 0
                    point.time_unix_nano = 0
                    for exemplar in point.exemplars:
                        exemplar.time_unix_nano = 0
    return request.SerializeToString(deterministic=True)


# -- the two pipelines -----------------------------------------------------------------------------------------


class CapturingExporter(MetricExporter):
    """Keeps what the periodic reader exports, with the real OTLP exporter's temporality and aggregation tables."""

    def __init__(self) -> None:
        real = OTLPMetricExporter()
        super().__init__(
            preferred_temporality=real._preferred_temporality, preferred_aggregation=real._preferred_aggregation
        )
        self.batches: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class Pipeline:
    """One MeterProvider with the three readers, recording through the SDK (``own=False``) or the aggregator."""

    def __init__(
        self, own: bool, *, scope_labels: bool = False, exemplar_filter: Any = None, locked: bool | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.prometheus = PrometheusMetricReader(
            disable_target_info=False, scope_info_enabled=scope_labels, registry=self.registry
        )
        self.exporter = CapturingExporter()
        self.otlp = PeriodicExportingMetricReader(self.exporter, export_interval_millis=math.inf)
        self.memory = InMemoryMetricReader()
        self.provider = MeterProvider(
            metric_readers=[self.prometheus, self.otlp, self.memory],
            resource=RESOURCE,
            shutdown_on_exit=False,
            exemplar_filter=exemplar_filter,
        )
        self.own = own
        self.outputs: list[tuple[str, Any]] = []
        self.meter = self.provider.get_meter(*SCOPE)
        self.recorders: list[Callable[[object, dict[str, object]], None]] = []
        if own:
            self.aggregator = Aggregator(locked=locked)
            self.publisher = install(self.provider, self.aggregator, scope_name=SCOPE[0], scope_version=SCOPE[1])
            for kind, name, unit, description, buckets in METRICS:
                state = self.aggregator.metric(name, description, unit, kind, buckets=buckets)
                method = {"histogram": "record", "gauge": "set"}.get(kind, "add")
                self.recorders.append(self._own_recorder(state, method))
        else:
            for kind, name, unit, description, buckets in METRICS:
                if kind == "histogram":
                    options: dict[str, Any] = {}
                    if buckets is not None:
                        options["explicit_bucket_boundaries_advisory"] = list(buckets)
                    instrument = self.meter.create_histogram(name, unit=unit, description=description, **options)
                    self.recorders.append(instrument.record)
                elif kind == "counter":
                    self.recorders.append(self.meter.create_counter(name, unit=unit, description=description).add)
                elif kind == "updown_counter":
                    instrument = self.meter.create_up_down_counter(name, unit=unit, description=description)
                    self.recorders.append(instrument.add)
                else:
                    self.recorders.append(self.meter.create_gauge(name, unit=unit, description=description).set)

    @staticmethod
    def _own_recorder(state: Any, method: str) -> Callable[[object, dict[str, object]], None]:
        memo: dict[Any, Any] = {}

        def record(value: object, attributes: dict[str, object]) -> None:
            if not admitted(state.kind, value):  # what the handle's admission drops never reaches the sink
                return
            key = frozenset((k, v.__class__, v) for k, v in attributes.items())
            series = memo.get(key)
            if series is None:
                series = memo[key] = getattr(state.series(attributes), method)
            series(value)

        return record

    def collect(self, reader: str) -> None:
        if reader == "memory":
            data = self.memory.get_metrics_data()
            self.outputs.append(("memory", None if data is None else canon(data)))
        elif reader == "prometheus":
            # each generate_latest is one collection of the reader: alternate the two formats
            if len(self.outputs) % 2:
                self.outputs.append(("text", generate_latest(self.registry)))
            else:
                self.outputs.append(("openmetrics", generate_openmetrics(self.registry)))
        else:
            before = len(self.exporter.batches)
            self.otlp.collect()
            if len(self.exporter.batches) == before:
                self.outputs.append(("otlp", None))
            else:
                data = self.exporter.batches[-1]
                self.outputs.append(("otlp", (canon(data), otlp_bytes(data))))

    def shutdown(self) -> None:
        self.provider.shutdown(timeout_millis=1000)


def admitted(kind: str, value: object) -> bool:
    """The values lukhas's admission lets through (the SDK drops the others itself, with a warning)."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return not (kind in ("counter", "histogram") and value < 0)  # type: ignore[operator]


# -- the random sequence ---------------------------------------------------------------------------------------


def _value(rng: random.Random, kind: str, buckets: Sequence[float] | None) -> object:
    roll = rng.random()
    if roll < 0.002:
        return rng.choice((math.nan, math.inf, -math.inf, -1, -0.5))  # dropped by the SDK and by admission
    if roll < 0.05:
        return rng.choice((0, 0.0, -0.0))
    if kind == "histogram":
        bounds = list(buckets) if buckets is not None else [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0]
        if roll < 0.3 and bounds:
            return rng.choice(bounds)  # exactly on a bucket bound
        if roll < 0.302:
            return rng.choice((2**62, 2**63 - 1))  # huge but int64
        if roll < 0.5:
            return rng.randrange(0, 3000)
        top = bounds[-1] if bounds else 10.0
        return rng.random() * top * 1.3
    if kind == "counter":
        if roll < 0.052:
            return 2**40 + rng.randrange(1000)  # huge; the sum stays inside int64 (OTLP as_int)
        if roll < 0.5:
            return rng.randrange(0, 100)
        return rng.random() * rng.choice((1e-9, 1.0, 1e3, 1e12))
    if kind == "updown_counter":
        if roll < 0.052:
            return rng.choice((1, -1)) * (2**40 + rng.randrange(1000))
        if roll < 0.5:
            return rng.randrange(-100, 100)
        return (rng.random() - 0.5) * rng.choice((1e-9, 1.0, 1e6))
    # gauge
    if roll < 0.06:
        return rng.choice((2**63 - 1, -(2**63), 2**53 + 1))
    if roll < 0.5:
        return rng.randrange(-1000, 1000)
    return (rng.random() - 0.5) * rng.choice((1e-300, 1.0, 1e300))


def _attribute_pool(rng: random.Random) -> list[dict[str, object]]:
    size = rng.randint(1, 50)
    pool: list[dict[str, object]] = []
    seen: set[frozenset[tuple[str, type, object]]] = set()
    while len(pool) < size:
        keys = rng.sample(_ATTR_KEYS, rng.randint(0, len(_ATTR_KEYS)))
        attrs = {k: rng.choice(_ATTR_VALUES) for k in keys}
        key = frozenset((k, v.__class__, v) for k, v in attrs.items())
        if key in seen:
            if len(seen) > 2000:
                break
            continue
        seen.add(key)
        pool.append(attrs)
    return pool


def scenario(seed: int, measurements: int, collections: int) -> list[tuple[Any, ...]]:
    """``("rec", metric_index, attributes, value)`` and ``("collect", reader)`` operations, seeded."""
    rng = random.Random(seed)
    pools = [_attribute_pool(rng) for _ in METRICS]
    weights = [rng.random() + 0.2 for _ in METRICS]
    points = set(rng.sample(range(1, measurements), collections - 1))
    ops: list[tuple[Any, ...]] = []
    for i in range(measurements):
        if i in points:
            chosen = [r for r in READERS if rng.random() < 0.5] or [rng.choice(READERS)]
            rng.shuffle(chosen)
            ops += [("collect", r) for r in chosen]
        m = rng.choices(range(len(METRICS)), weights)[0]
        attrs = rng.choice(pools[m])
        if len(attrs) > 1 and rng.random() < 0.3:  # the same set with its keys in another order
            items = list(attrs.items())
            rng.shuffle(items)
            attrs = dict(items)
        kind, _, _, _, buckets = METRICS[m]
        ops.append(("rec", m, attrs, _value(rng, kind, buckets)))
    ops += [("collect", r) for r in READERS]
    return ops


def replay(pipeline: Pipeline, ops: list[tuple[Any, ...]], wrap: Callable[[int], Any] | None = None) -> list[Any]:
    try:
        for index, op in enumerate(ops):
            if op[0] == "collect":
                pipeline.collect(op[1])
            elif wrap is None:
                pipeline.recorders[op[1]](op[3], op[2])
            else:
                with wrap(index):
                    pipeline.recorders[op[1]](op[3], op[2])
        return pipeline.outputs
    finally:
        pipeline.shutdown()


def assert_identical(expected: list[Any], actual: list[Any]) -> None:
    assert len(expected) == len(actual)
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        assert want[0] == got[0]
        if want != got:  # a readable first difference
            if isinstance(want[1], bytes):
                w, g = want[1].decode().splitlines(), got[1].decode().splitlines()
                diff = next(((a, b) for a, b in zip(w, g, strict=False) if a != b), (len(w), len(g)))
                pytest.fail(f"output {i} ({want[0]}) differs: SDK {diff[0]!r} vs own {diff[1]!r}")
            pytest.fail(f"output {i} ({want[0]}) differs")


# -- the tests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "scope_labels"), [(11, False), (29, True)])
def test_random_sequences_are_bit_identical(seed: int, scope_labels: bool) -> None:
    ops = scenario(seed, measurements=40_000, collections=10)
    expected = replay(Pipeline(own=False, scope_labels=scope_labels), ops)
    actual = replay(Pipeline(own=True, scope_labels=scope_labels), ops)
    assert sum(1 for kind, out in expected if out is not None) >= 10
    assert_identical(expected, actual)


def test_readers_collecting_at_different_times_get_different_float_sums() -> None:
    """The property that forces per-reader partial sums: a single running sum would not match every reader."""
    ops = [("rec", 4, {}, v) for v in (0.1, 0.2, 0.3)] + [("collect", "memory")]
    ops += [("rec", 4, {}, v) for v in (0.7, 1e-3)] + [("collect", "memory"), ("collect", "otlp")]
    sdk = replay(Pipeline(own=False), ops)
    own = replay(Pipeline(own=True), ops)
    assert_identical(sdk, own)

    def total(output: Any) -> str:
        text = repr(output)
        return text[text.index("('value', ('float', ") :][:60]

    memory_total, otlp_total = total(sdk[1][1]), total(sdk[2][1][0])
    assert memory_total != otlp_total, "the scenario no longer shows reader-dependent float totals"
    assert ((0.1 + 0.2 + 0.3) + (0.7 + 1e-3)) != 0.1 + 0.2 + 0.3 + 0.7 + 1e-3


def test_series_created_before_any_collection_and_empty_windows_keep_cumulative_points() -> None:
    ops = [("rec", 0, {"route": "a"}, 0.3), ("rec", 9, {"route": "a"}, -0.0), ("rec", 7, {}, -3)]
    ops += [("collect", r) for r in READERS] * 3  # nothing new between collections
    ops += [("rec", 0, {"route": "a"}, 0.3), ("rec", 7, {}, 3)] + [("collect", r) for r in READERS]
    assert_identical(replay(Pipeline(own=False), ops), replay(Pipeline(own=True), ops))


def test_nothing_recorded_means_no_data_for_any_reader() -> None:
    ops = [("collect", r) for r in READERS]
    sdk = replay(Pipeline(own=False), ops)
    own = replay(Pipeline(own=True), ops)
    assert sdk == own
    assert dict(own)["memory"] is None and dict(own)["otlp"] is None


def _span_context(rng: random.Random, sampled: bool) -> SpanContext:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return SpanContext(rng.getrandbits(128) | 1, rng.getrandbits(64) | 1, is_remote=False, trace_flags=flags)


class LargeValues(ExemplarFilter):
    """A custom filter: the engine calls it like the SDK does (value, time, attributes, context)."""

    def should_sample(self, value: float, time_unix_nano: int, attributes: Any, context: Any) -> bool:
        return value > 1 and bool(trace.get_current_span(context).get_span_context().is_valid)


@pytest.mark.parametrize("exemplar_filter", ["trace_based", "always_on", "always_off", "custom"])
def test_exemplars_inside_sampled_spans_are_identical(exemplar_filter: str) -> None:
    """Histogram buckets keep the last sampled measurement; sums and gauges the SDK's size-1 random reservoir."""
    filters = {
        "trace_based": None,
        "always_on": AlwaysOnExemplarFilter(),
        "always_off": AlwaysOffExemplarFilter(),
        "custom": LargeValues(),
    }
    ops = scenario(5, measurements=5_000, collections=10)
    rng = random.Random(99)
    spans = [_span_context(rng, sampled=rng.random() < 0.7) if rng.random() < 0.6 else None for _ in ops]

    @contextmanager
    def in_span(index: int) -> Iterator[None]:
        context = spans[index]
        if context is None:
            yield
            return
        with trace.use_span(NonRecordingSpan(context), end_on_exit=False):
            yield

    random.seed(1234)  # SimpleFixedSizeExemplarReservoir draws from the global random, reader by reader
    expected = replay(Pipeline(own=False, exemplar_filter=filters[exemplar_filter]), ops, in_span)
    random.seed(1234)
    actual = replay(Pipeline(own=True, exemplar_filter=filters[exemplar_filter]), ops, in_span)
    exemplars = sum(repr(out).count("'Exemplar'") for _, out in expected)
    if exemplar_filter == "always_off":
        assert exemplars == 0
    else:
        assert exemplars > 100
    assert_identical(expected, actual)


def test_sdk_instruments_of_the_same_and_other_scopes_interleave_as_the_sdk_orders_them() -> None:
    """Observable gauges in the catalog's scope and instruments of another meter keep the SDK's order."""

    def run(own: bool) -> list[Any]:
        pipe = Pipeline(own=own)
        other = pipe.provider.get_meter("someone.else", "1.0")
        foreign = other.create_counter("foreign.requests")
        observed = []

        def callback(options: CallbackOptions) -> list[Observation]:
            return [Observation(v, {"q": "x"}) for v in observed]

        pipe.meter.create_observable_gauge("diff.observed", callbacks=[callback], unit="1")
        late = other.create_histogram("foreign.latency", unit="s")
        ops: list[Callable[[], None]] = [
            lambda: foreign.add(1, {"a": 1}),
            lambda: pipe.recorders[4](5, {"route": "a"}),
            lambda: pipe.collect("memory"),
            lambda: observed.append(3.5),
            lambda: pipe.recorders[0](0.2, {}),
            lambda: pipe.collect("otlp"),
            lambda: pipe.collect("memory"),
            lambda: late.record(0.4),
            lambda: pipe.recorders[9](1.5, {}),
            lambda: pipe.collect("prometheus"),
            lambda: pipe.collect("memory"),
            lambda: pipe.collect("otlp"),
            lambda: pipe.collect("prometheus"),
        ]
        try:
            for op in ops:
                op()
            return pipe.outputs
        finally:
            pipe.shutdown()

    expected, actual = run(False), run(True)
    assert_identical(expected, actual)
    assert "someone.else" in repr(expected[-2]) and ANCHOR_SCOPE not in repr(actual)


def test_delta_and_non_default_aggregations_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    delta = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=math.inf)
    reason = Aggregator.unsupported_reason(delta)
    assert reason is not None and "DELTA" in reason and "counter" in reason
    provider = MeterProvider(metric_readers=[delta], shutdown_on_exit=False)
    with pytest.raises(UnsupportedConfiguration, match="DELTA"):
        install(provider, Aggregator(), scope_name="x")
    provider.shutdown()

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")
    exponential = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=math.inf)
    assert "ExponentialBucketHistogramAggregation" in (Aggregator.unsupported_reason(exponential) or "")
    assert Aggregator.supports(InMemoryMetricReader())
    assert not Aggregator.supports(InMemoryMetricReader(), cardinality_limit=5000)

    with_views = MeterProvider(metric_readers=[InMemoryMetricReader()], views=[View(instrument_name="x")])
    with pytest.raises(UnsupportedConfiguration, match="view"):
        install(with_views, Aggregator(), scope_name="x")
    with_views.shutdown()


def test_bind_after_recording_is_refused_and_uninstall_restores_the_readers() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    aggregator = Aggregator()
    publisher = install(provider, aggregator, scope_name="x")
    aggregator.metric("a.b", "", "1", "counter").series({}).add(2)
    with pytest.raises(RuntimeError):
        aggregator.bind(2)
    assert reader.get_metrics_data() is not None
    publisher.uninstall()
    assert "_receive_metrics" not in vars(reader)
    assert reader.get_metrics_data() is None  # the anchor is silent and our metrics are gone
    provider.shutdown()


def test_the_locked_path_is_identical_too() -> None:
    """The path free-threaded builds use (a lock per series) publishes the same data."""
    ops = scenario(17, measurements=8_000, collections=10)
    assert_identical(replay(Pipeline(own=False), ops), replay(Pipeline(own=True, locked=True), ops))


class HostileKey(str):
    def __hash__(self) -> int:
        raise RuntimeError("no hash for you")


def test_unadmitted_attributes_raise_to_the_caller_and_leave_no_half_series() -> None:
    """``series()`` trusts admission: given what admission refuses it raises (the handle catches), creating nothing."""
    aggregator = Aggregator()
    state = aggregator.metric("a.b", "", "1", "counter")
    with pytest.raises(TypeError):
        state.series({"k": []})  # type: ignore[dict-item]
    with pytest.raises(RuntimeError):
        state.series({HostileKey("k"): 1})
    assert len(state) == 0 and aggregator.active == []
    state.series({"k": 1}).add(1)
    assert len(state) == 1


def test_a_failing_exemplar_filter_never_breaks_recording() -> None:
    class Raising(ExemplarFilter):
        def should_sample(self, value: float, *args: Any) -> bool:
            if value == 0:  # the anchor's observation: the SDK itself would raise out of collect() on it
                return False
            raise RuntimeError("filter bug")

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False, exemplar_filter=Raising())
    aggregator = Aggregator()
    install(provider, aggregator, scope_name="x")
    series = aggregator.metric("a.b", "", "1", "histogram", buckets=[1]).series({})
    series.record(0.5)
    series.record(2)
    data = reader.get_metrics_data()
    assert data is not None
    point = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points[0]
    assert (point.count, point.sum, point.exemplars) == (2, 2.5, [])
    provider.shutdown()


def test_a_failing_merge_still_delivers_the_sdk_data_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from lukhas_obs import drops

    reported: list[tuple[str, str]] = []
    monkeypatch.setattr(drops, "report", lambda where, reason, detail="", **kw: reported.append((where, reason)))
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    aggregator = Aggregator()
    install(provider, aggregator, scope_name="x")
    provider.get_meter("sdk").create_counter("sdk.total").add(4)
    aggregator.metric("a.b", "", "1", "counter").series({}).add(1)

    def broken(slot: int, time_unix_nano: int) -> list[Any]:
        raise RuntimeError("aggregation bug")

    monkeypatch.setattr(aggregator, "collect", broken)
    data = reader.get_metrics_data()  # must not raise
    assert data is not None
    names = [m.name for sm in data.resource_metrics[0].scope_metrics for m in sm.metrics]
    assert names == ["sdk.total"]  # the SDK's own metric, the anchor stripped
    assert reported == [("lukhas_obs.aggregation", "internal_error")]
    provider.shutdown()
