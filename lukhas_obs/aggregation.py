"""Own aggregation for catalog metrics: counters, up-down counters, explicit-bucket histograms and gauges.

Why: every measurement through the OTel SDK pays an attribute copy and validation, a recursive attribute hash, a
lock and an aggregation object per reader (5-7 µs). Here a series is found once (the handle's memo keeps it) and a
measurement is a handful of slot updates in one generated method (about a fifth of prometheus_client's bound
child on this machine; ``python -m benchmarks.bench_aggregation``).

What it publishes is bit-identical to what the OTel SDK (1.45) would produce for the same measurements with
CUMULATIVE temporality, per reader: the SDK keeps one aggregation per reader and, at each collection of that
reader, adds the partial sum since that reader's previous collection to its running total
(``previous = partial + previous``), so float totals differ between readers that collect at different times.
This module does the same: per reader slot, a series keeps a partial sum, a partial min and a partial max (reset
at that reader's collection) and the running cumulative values; bucket counts are integers and shared. Start time
is the series' creation (its first measurement), gauges have no start time, data points follow series creation
order and metrics the order of their first series. Exemplars replicate the SDK's reservoirs: the last
measurement per histogram bucket (``AlignedHistogramBucketExemplarReservoir``) and, for sums and gauges,
``SimpleFixedSizeExemplarReservoir(size=1)`` drawing from the SDK's own ``randrange`` in the same order (reader
by reader), both reset per reader per collection; offered only when the provider's exemplar filter says so
(``trace_based`` by default: a sampled span is current).

Delta temporality and non-default aggregations are not supported: :meth:`Aggregator.supports` says False for
such a reader (and :meth:`Aggregator.unsupported_reason` says why), and the caller uses the plain SDK path.

Publishing into the SDK's readers lives in :mod:`lukhas_obs._compat.metric_producer` (one small module, so the
move to the upstream ``MetricProducer`` when it ships is a one-file change).

Thread safety without locks (builds with the GIL): CPython switches threads only at function entry, backward
jumps and after calls (and a garbage collection, which runs finalizers, only when a GC-tracked object is
allocated). Each generated hot method does its updates in one straight-line block of attribute loads, number
arithmetic, comparisons and stores — no call, no loop, no container allocation — so the block is atomic with
respect to other threads, and so is each collection's read-and-reset block (loads first, the tuple of counts is
built after the last load). On a free-threaded build (``sys._is_gil_enabled()`` false) the same blocks run under
a per-series lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from time import time_ns
from typing import Any

from opentelemetry import trace as _trace
from opentelemetry.context import Context, get_current
from opentelemetry.metrics._internal.instrument import Instrument as _APIInstrument
from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics._internal.exemplar import exemplar_reservoir as _reservoir_module
from opentelemetry.sdk.metrics._internal.exemplar.exemplar_filter import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics._internal.instrument import _Counter as _SDKCounter
from opentelemetry.sdk.metrics._internal.instrument import _Gauge as _SDKGauge
from opentelemetry.sdk.metrics._internal.instrument import _Histogram as _SDKHistogram
from opentelemetry.sdk.metrics._internal.instrument import _UpDownCounter as _SDKUpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.metrics.view import (
    DefaultAggregation,
    ExplicitBucketHistogramAggregation,
    LastValueAggregation,
    SumAggregation,
)
from opentelemetry.trace.span import INVALID_SPAN

__all__ = [
    "KINDS",
    "Aggregator",
    "CounterSeries",
    "GaugeSeries",
    "HistogramSeries",
    "MetricState",
    "Series",
    "free_threaded",
]

#: The kinds this engine aggregates (catalog spelling); the hot method of each.
KINDS: dict[str, str] = {"counter": "add", "updown_counter": "add", "histogram": "record", "gauge": "set"}

#: The SDK's default explicit bucket boundaries (used when a histogram has ``buckets=None``, as the SDK does).
DEFAULT_BOUNDARIES: tuple[float, ...] = (
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
)  # fmt: skip

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_INF = math.inf
_NINF = -math.inf
#: The value of a gauge series that was created but never set (the SDK emits no point for it).
_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>", "__slots__": ()})()

# The SDK instrument class of each kind, as reader temporality/aggregation/cardinality tables key them.
_SDK_CLASSES: dict[str, Any] = {
    "counter": _SDKCounter,
    "updown_counter": _SDKUpDownCounter,
    "histogram": _SDKHistogram,
    "gauge": _SDKGauge,
}

# The explicit aggregation of each kind that is the same as DefaultAggregation (the OTLP exporter names
# ExplicitBucketHistogramAggregation() for histograms).
_EQUIVALENT: dict[str, type] = {
    "counter": SumAggregation,
    "updown_counter": SumAggregation,
    "histogram": ExplicitBucketHistogramAggregation,
    "gauge": LastValueAggregation,
}


def free_threaded() -> bool:
    """True on a CPython build running without the GIL (then every series update takes a lock)."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return probe is not None and not probe()


def _context_reader() -> Callable[[], Context]:
    """The cheapest way to read the current OTel context: the ContextVar's own ``get`` when the runtime context is
    the default contextvars one (about 25 ns, and an empty context is falsy), else the API's ``get_current``."""
    try:
        from opentelemetry import context as _context_module

        runtime = _context_module._RUNTIME_CONTEXT
        var = getattr(runtime, "_current_context", None)
        if var is not None and type(runtime).__name__ == "ContextVarsRuntimeContext":
            return var.get
    except Exception:  # pragma: no cover - an API without the contextvars runtime
        pass
    return get_current


class Series:
    """One attribute set of one metric. Created by :meth:`MetricState.series`; the caller keeps it (memo/bind).

    The hot method (``add``/``record``/``set``) takes an already validated value: a finite float or an int64,
    histograms >= 0, counters >= 0. It never validates, never raises for such values, and allocates nothing but
    the resulting numbers.
    """

    __slots__ = ()

    @property
    def attributes(self) -> dict[str, Any]:
        """The series' attributes (a copy of the first dict given for it; its key order is the output order)."""
        return self._a  # type: ignore[attr-defined]

    @property
    def start_time_unix_nano(self) -> int:
        """When the series was created (its first measurement)."""
        return self._t  # type: ignore[attr-defined]


class CounterSeries(Series):
    """A series of a counter or an up-down counter: ``add(amount)``."""

    __slots__ = ()

    def add(self, amount: float | int, /) -> None:  # pragma: no cover - replaced by the generated method
        raise NotImplementedError


class HistogramSeries(Series):
    """A series of an explicit-bucket histogram: ``record(value)``."""

    __slots__ = ()

    def record(self, value: float | int, /) -> None:  # pragma: no cover - replaced by the generated method
        raise NotImplementedError


class GaugeSeries(Series):
    """A series of a synchronous gauge: ``set(value)``; the last value wins."""

    __slots__ = ()

    def set(self, value: float | int, /) -> None:  # pragma: no cover - replaced by the generated method
        raise NotImplementedError


_BASES: dict[str, type[Series]] = {
    "counter": CounterSeries,
    "updown_counter": CounterSeries,
    "histogram": HistogramSeries,
    "gauge": GaugeSeries,
}

# Exemplar modes, from the provider's filter.
_EX_OFF, _EX_TRACE, _EX_ON, _EX_CUSTOM = "off", "trace", "on", "custom"


def _exemplar_mode(exemplar_filter: ExemplarFilter | str | None) -> str:
    if exemplar_filter is None or exemplar_filter == "always_off":
        return _EX_OFF
    if isinstance(exemplar_filter, AlwaysOffExemplarFilter):
        return _EX_OFF
    if type(exemplar_filter) is TraceBasedExemplarFilter or exemplar_filter == "trace_based":
        return _EX_TRACE
    if type(exemplar_filter) is AlwaysOnExemplarFilter or exemplar_filter == "always_on":
        return _EX_ON
    if isinstance(exemplar_filter, ExemplarFilter):
        return _EX_CUSTOM
    raise ValueError(
        f"exemplar_filter: expected an ExemplarFilter or one of 'trace_based', 'always_on', 'always_off', "
        f"got {type(exemplar_filter).__name__}"
    )


def _filter_object(exemplar_filter: ExemplarFilter | str | None) -> ExemplarFilter:
    if isinstance(exemplar_filter, ExemplarFilter):
        return exemplar_filter
    mode = _exemplar_mode(exemplar_filter)
    classes: dict[str, type[ExemplarFilter]] = {
        _EX_OFF: AlwaysOffExemplarFilter,
        _EX_TRACE: TraceBasedExemplarFilter,
        _EX_ON: AlwaysOnExemplarFilter,
    }
    return classes[mode]()


def _fast_point(cls: type) -> Callable[..., Any]:
    """A positional constructor for a frozen SDK point dataclass that fills its ``__dict__`` in one step.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (3 µs for a histogram point
    on this machine, the largest cost of a collection); this builds the same object (same fields in the same
    order, equal, same repr and JSON) in about a third of that. Used only if a self-check at import passes (a
    plain, non-slotted dataclass without ``__post_init__`` whose fields are all init fields); otherwise the class
    itself is the constructor.
    """
    try:
        fields = dataclasses.fields(cls)
        if (
            hasattr(cls, "__slots__")
            or hasattr(cls, "__post_init__")
            or not all(f.init for f in fields)
            or any(not f.name.isidentifier() for f in fields)
        ):
            return cls
        names = [f.name for f in fields]
        args = ", ".join(f"a{i}" for i in range(len(names)))
        items = ", ".join(f"{name!r}: a{i}" for i, name in enumerate(names))
        src = f"def point({args}, _new=_new, _set=_set, _cls=_cls):\n    o = _new(_cls)\n"
        src += f"    _set(o, '__dict__', {{{items}}})\n    return o"
        fast = _compile(src, {"_new": object.__new__, "_set": object.__setattr__, "_cls": cls}, "point")
        sample = [{"k": 1}, 1, 2, *range(3, len(names) - 1), []]
        a, b = fast(*sample), cls(*sample)
        if a == b and repr(a) == repr(b) and vars(a) == vars(b) and list(vars(a)) == list(vars(b)):
            return fast
    except Exception:  # pragma: no cover - a future SDK with other point classes
        pass
    return cls


def _bucket_tree(count: int, indent: str) -> list[str]:
    """Source of a binary decision tree that increments ``self.c<i>`` for ``i = bisect_left(bounds, v)``.

    ``bisect_left`` returns the first index whose bound is >= v; ``v <= _b<mid>`` is ``not (_b<mid> < v)`` for
    the finite values admitted here, so the tree picks the same bucket with a few float comparisons instead of a
    C call (a call is also a thread switch point).
    """

    def node(lo: int, hi: int, ind: str) -> list[str]:
        if lo == hi:
            return [f"{ind}self.c{lo} += 1"]
        mid = (lo + hi) // 2
        return [f"{ind}if v <= _b{mid}:", *node(lo, mid, ind + "    "), f"{ind}else:", *node(mid + 1, hi, ind + "    ")]

    return node(0, count - 1, indent)


def _compile(source: str, namespace: dict[str, Any], name: str) -> Any:
    """Compile generated source (built only from integers and fixed identifiers; values come in as defaults)."""
    exec(compile(source, f"<lukhas_obs.aggregation {name}>", "exec"), namespace)
    return namespace[name]


_HISTOGRAM_POINT = _fast_point(HistogramDataPoint)
_NUMBER_POINT = _fast_point(NumberDataPoint)


class MetricState:
    """One metric of an :class:`Aggregator`: its identity, its series and how they are collected.

    Create it with :meth:`Aggregator.metric`; get series with :meth:`series`.
    """

    __slots__ = (
        "_aggregator",
        "_buckets_given",
        "_cls",
        "_collectors",
        "_exlock",
        "_lock",
        "_offer",
        "_order",
        "_series",
        "bounds",
        "description",
        "kind",
        "name",
        "unit",
    )

    def __init__(
        self,
        aggregator: Aggregator,
        name: str,
        description: str,
        unit: str,
        kind: str,
        bounds: tuple[float, ...] | None,
        buckets_given: Sequence[float] | None,
    ) -> None:
        self._aggregator = aggregator
        #: The exported metric name (the SDK lowercases instrument names).
        self.name = name
        self.description = description
        self.unit = unit
        self.kind = kind
        #: Histogram bucket boundaries as published (``explicit_bounds``), or None for other kinds.
        self.bounds = bounds
        self._buckets_given = None if buckets_given is None else tuple(buckets_given)
        self._series: dict[frozenset[tuple[str, type, Any]], Series] = {}
        self._order: list[Series] = []
        self._lock = threading.Lock()
        self._exlock = threading.Lock()
        self._cls: type[Series] | None = None
        self._collectors: tuple[Callable[..., Any], ...] = ()
        self._offer: Callable[..., None] | None = None

    def __repr__(self) -> str:
        return f"<MetricState {self.kind} {self.name} series={len(self._order)}>"

    def __len__(self) -> int:
        return len(self._order)

    def series(
        self,
        attributes: Mapping[str, str | bool | int | float],
        key: frozenset[tuple[str, type, Any]] | None = None,
    ) -> Series:
        """The series of an admitted attribute set (created on first use; the caller memoises the result).

        Keyed by (key, value class, value): ``True``, ``1`` and ``1.0`` are three series, as in the SDK's
        ``_hash_attributes``. The first dict given for a set is copied and kept (its key order is the output's).
        Attribute values must be hashable (the handle's admission guarantees str/bool/int/float). A caller that
        already holds that key (``frozenset((k, v.__class__, v) for k, v in attributes.items())``) passes it as
        ``key``: the series dict then shares it instead of building another.
        """
        if key is None:
            key = frozenset([(k, v.__class__, v) for k, v in attributes.items()])
        found = self._series.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._series.get(key)
            if found is not None:
                return found
            cls = self._cls
            if cls is None:
                cls = self._build()
            found = cls(dict(attributes), time_ns())  # type: ignore[call-arg]
            self._series[key] = found
            first = not self._order
            self._order.append(found)
        if first:
            self._aggregator._first_series(self)
        return found

    # -- generated code ------------------------------------------------------------------------------------------

    def _build(self) -> type[Series]:
        """Generate this metric's series class: slots, ``__init__``, the hot method and one collector per reader."""
        agg = self._aggregator
        agg._freeze()
        slots = agg.slots
        locked = agg.locked
        mode = agg._mode
        kind = self.kind
        names: list[str] = ["_a", "_t", "ex"] + (["_lk"] if locked else [])
        init = ["def __init__(self, a, t, _lock=_lock):", "    self._a = a", "    self._t = t", "    self.ex = None"]
        if locked:
            init.append("    self._lk = _lock()")
        ns: dict[str, Any] = {"_lock": threading.Lock}
        body: list[str] = []
        if kind == "histogram":
            assert self.bounds is not None
            nb = len(self.bounds) + 1
            names += [f"c{i}" for i in range(nb)]
            init += [f"    self.c{i} = 0" for i in range(nb)]
            for r in range(slots):
                names += [f"s{r}", f"n{r}", f"x{r}", f"S{r}", f"N{r}", f"X{r}"]
                init += [f"    self.s{r} = 0", f"    self.n{r} = _inf", f"    self.x{r} = _ninf"]
                init += [f"    self.S{r} = 0", f"    self.N{r} = _inf", f"    self.X{r} = _ninf"]
            init[0] = "def __init__(self, a, t, _lock=_lock, _inf=_INF, _ninf=_NINF):"
            ns.update(_INF=_INF, _NINF=_NINF)
            body += _bucket_tree(nb, "")
            for r in range(slots):
                body += [f"self.s{r} += v", f"if v < self.n{r}:", f"    self.n{r} = v"]
                body += [f"if v > self.x{r}:", f"    self.x{r} = v"]
            params = "".join(f"_b{i}, " for i in range(nb - 1))
            args = "".join(f"_B[{i}], " for i in range(nb - 1))
            ns["_B"] = self.bounds
            method = "record"
        elif kind in ("counter", "updown_counter"):
            for r in range(slots):
                names += [f"s{r}", f"S{r}"]
                init += [f"    self.s{r} = 0", f"    self.S{r} = 0"]
                body.append(f"self.s{r} += v")
            params = args = ""
            method = "add"
        else:  # gauge
            names.append("v")
            init.append("    self.v = _unset")
            init[0] = "def __init__(self, a, t, _lock=_lock, _unset=_UNSET):"
            ns["_UNSET"] = _UNSET
            body.append("self.v = v")
            params = args = ""
            method = "set"
        if not body:
            body = ["pass"]
        # Bounds and helpers are closure cells (as fast as default arguments, and a stray second argument raises
        # instead of replacing a bound); the factory runs once per metric.
        src = [f"def make({params}_cv, _ex):", f"    def {method}(self, v):"]
        if locked:
            src.append("        with self._lk:")
            src += ["            " + line for line in body]
        else:
            src += ["        " + line for line in body]
        if mode == _EX_TRACE and slots:
            src += ["        c = _cv()", "        if c:", "            _ex(self, v, c)"]
        elif mode in (_EX_ON, _EX_CUSTOM) and slots:
            src.append("        _ex(self, v, None)")
        src.append(f"    return {method}")
        src.append(f"hot = make({args}_cv, _ex)")
        self._offer = self._make_offer(mode, slots)
        ns.update(_cv=agg._context, _ex=self._offer)
        hot = _compile("\n".join(src), ns, "hot")
        init_fn = _compile("\n".join(init), ns, "__init__")
        cls = type(
            f"{kind.title().replace('_', '')}Series",
            (_BASES[kind],),
            {"__slots__": tuple(names), "__init__": init_fn, method: hot, "__module__": __name__},
        )
        hot.__qualname__ = f"{cls.__name__}.{method}"
        self._collectors = tuple(self._make_collector(r, locked) for r in range(slots))
        self._cls = cls
        return cls

    def _make_collector(self, r: int, locked: bool) -> Callable[..., Any]:
        """``collect(series, time_unix_nano, exemplars)`` for reader slot ``r``: the SDK's cumulative point, or
        None (a gauge never set). The read-and-reset block is atomic (see the module docstring)."""
        ns: dict[str, Any] = {"_INF": _INF, "_NINF": _NINF, "_UNSET": _UNSET}
        if self.kind == "histogram":
            assert self.bounds is not None
            nb = len(self.bounds) + 1
            block = [
                f"p = s.s{r}", f"s.s{r} = 0", f"n = s.n{r}", f"s.n{r} = _inf", f"x = s.x{r}", f"s.x{r} = _ninf",
                "c = (" + "".join(f"s.c{i}, " for i in range(nb)) + ")",
            ]  # fmt: skip
            # the SDK: previous_sum = sum_ + previous_sum; previous_min = min(min_, previous_min) (the first argument
            # wins ties, which matters for 0 / -0.0 / 0.0 and 1 / 1.0); likewise max.
            tail = [
                f"    cs = p + s.S{r}",
                f"    s.S{r} = cs",
                f"    N = s.N{r}",
                "    cn = N if N < n else n",
                f"    s.N{r} = cn",
                f"    X = s.X{r}",
                "    cx = X if X > x else x",
                f"    s.X{r} = cx",
                "    return _P(s._a, s._t, t, _sum(c), cs, c, _bounds, cn, cx, ex)",
            ]
            head = "def collect(s, t, ex, _inf=_INF, _ninf=_NINF, _P=_HP, _sum=sum, _bounds=_B):"
            ns.update(_HP=_HISTOGRAM_POINT, _B=self.bounds)
        elif self.kind in ("counter", "updown_counter"):
            block = [f"p = s.s{r}", f"s.s{r} = 0"]
            tail = [f"    cv = p + s.S{r}", f"    s.S{r} = cv", "    return _P(s._a, s._t, t, cv, ex)"]
            head = "def collect(s, t, ex, _P=_NP):"
            ns["_NP"] = _NUMBER_POINT
        else:
            block = ["v = s.v"]
            tail = ["    if v is _unset:", "        return None", "    return _P(s._a, None, t, v, ex)"]
            head = "def collect(s, t, ex, _P=_NP, _unset=_UNSET):"
            ns["_NP"] = _NUMBER_POINT
        if locked:
            src = [head, "    with s._lk:", *("        " + line for line in block), *tail]
        else:
            src = [head, *("    " + line for line in block), *tail]
        return _compile("\n".join(src), ns, "collect")

    def _make_offer(self, mode: str, slots: int) -> Callable[..., None] | None:
        """The exemplar slow path: runs only when the filter may sample (a context is set, or always_on/custom)."""
        if mode == _EX_OFF or not slots:
            return None
        exemplar_filter = self._aggregator._filter
        exlock = self._exlock
        histogram = self.kind == "histogram"
        bounds = self.bounds
        get_span = _trace.get_current_span
        invalid = INVALID_SPAN
        reservoir = _reservoir_module

        trace_based = type(exemplar_filter) is TraceBasedExemplarFilter  # the default: its test inlined below

        def offer(series: Any, value: float | int, ctx: Context | None) -> None:
            try:
                if ctx is None:
                    ctx = get_current()
                span = get_span(ctx)
                ids = None
                if trace_based:  # TraceBasedExemplarFilter.should_sample, without looking the span up twice
                    sc = span.get_span_context()
                    if not sc.trace_flags.sampled:
                        return
                    now = time_ns()
                    ids = (sc.span_id, sc.trace_id)
                else:
                    now = time_ns()
                    if mode != _EX_ON and not exemplar_filter.should_sample(value, now, series._a, ctx):
                        return
                    if span != invalid:
                        sc = span.get_span_context()
                        ids = (sc.span_id, sc.trace_id)
                with exlock:
                    ex = series.ex
                    if ex is None:
                        ex = series.ex = [None] * slots
                    if histogram:
                        index = bisect_left(bounds, value)  # type: ignore[arg-type]
                        for r in range(slots):
                            buckets = ex[r]
                            if buckets is None:
                                buckets = ex[r] = {}
                            bucket = buckets.get(index)
                            if bucket is None:
                                bucket = buckets[index] = [0, 0, None, None]
                            bucket[0] = value
                            bucket[1] = now
                            if ids is not None:
                                bucket[2], bucket[3] = ids
                    else:  # SimpleFixedSizeExemplarReservoir(size=1), reader by reader like the SDK
                        for r in range(slots):
                            state = ex[r]
                            if state is None:
                                state = ex[r] = [0, None]
                            if state[0] < 1:
                                state[0] += 1
                            else:
                                state[0] += 1
                                if reservoir.randrange(0, state[0]) >= 1:
                                    continue
                            bucket = state[1]
                            if bucket is None:
                                bucket = state[1] = [0, 0, None, None]
                            bucket[0] = value
                            bucket[1] = now
                            if ids is not None:
                                bucket[2], bucket[3] = ids
            except Exception:  # exemplars are best effort: never break the recording call
                pass

        return offer

    def _exemplars(self, series: Any, r: int) -> list[Exemplar]:
        """Reader ``r``'s exemplars of ``series`` since its previous collection (and reset them)."""
        if series.ex is None:
            return []
        with self._exlock:
            ex = series.ex
            state = ex[r]
            ex[r] = None
        if state is None:
            return []
        filtered: dict[str, Any] | None = {} if series._a else None
        if self.kind == "histogram":
            return [
                Exemplar(None if filtered is None else {}, b[0], b[1], b[2], b[3]) for _, b in sorted(state.items())
            ]
        bucket = state[1]
        if bucket is None:
            return []
        return [Exemplar(filtered, bucket[0], bucket[1], bucket[2], bucket[3])]

    def _collect(self, r: int, time_unix_nano: int) -> Metric | None:
        collector = self._collectors[r]
        exemplars = self._exemplars
        points: list[Any] = []
        append = points.append
        series: Any
        for series in self._order[:]:
            point = collector(series, time_unix_nano, [] if series.ex is None else exemplars(series, r))
            if point is not None:
                append(point)
        if not points:
            return None
        if self.kind == "histogram":
            data: Any = Histogram(data_points=points, aggregation_temporality=_CUMULATIVE)
        elif self.kind == "gauge":
            data = Gauge(data_points=points)
        else:
            data = Sum(data_points=points, aggregation_temporality=_CUMULATIVE, is_monotonic=self.kind == "counter")
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)


def check_definition(
    name: str, description: str, unit: str, kind: str, buckets: Sequence[float] | None
) -> tuple[dict[str, Any], tuple[float, ...] | None]:
    """A metric definition checked as the SDK checks instruments: ``(checked name/unit/description, bounds)``.

    ``bounds`` is the histogram's published boundaries (the SDK's defaults when ``buckets`` is None) or None for
    other kinds. Raises ValueError naming the field. Shared by this engine and the multiprocess store.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    checked = _APIInstrument._check_name_unit_description(name, unit, description)
    if checked["name"] is None:
        raise ValueError(f"name: {name!r} is not a valid OTel instrument name")
    if checked["unit"] is None:
        raise ValueError(f"unit: {unit!r} is not a valid OTel unit (ASCII, at most 63 characters)")
    if kind != "histogram" and buckets is not None:
        raise ValueError(f"buckets: only histograms take buckets, not a {kind}")
    bounds: tuple[float, ...] | None = None
    if kind == "histogram":
        bounds = DEFAULT_BOUNDARIES if buckets is None else tuple(buckets)
        for index, bound in enumerate(bounds):
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
                raise ValueError(f"buckets: boundary {index} is not a finite number")
            if index and not bounds[index - 1] < bound:
                raise ValueError("buckets: boundaries must be strictly increasing")
    return checked, bounds


class Aggregator:
    """The aggregation of one configuration: its metrics, their series, and per-reader collection.

    Typical wiring (the publisher binds the reader slots and the exemplar filter)::

        aggregator = Aggregator()
        publisher = metric_producer.install(meter_provider, aggregator, scope_name="lukhas_obs", scope_version=v)
        search = aggregator.metric("lukhas.memory.search", "Search latency", "s", "histogram", buckets=[...])
        series = search.series({"lane": "candidate", "service": "x"})
        series.record(0.012)

    ``locked`` forces the locked update path (default: only on free-threaded builds).
    """

    def __init__(self, *, locked: bool | None = None) -> None:
        self.locked = free_threaded() if locked is None else bool(locked)
        #: Reader slots (set by :meth:`bind`; 0 until then).
        self.slots = 0
        self._filter: ExemplarFilter = AlwaysOffExemplarFilter()
        self._mode = _EX_OFF
        self._frozen = False
        self._lock = threading.Lock()
        self._metrics: dict[str, MetricState] = {}
        self._active: list[MetricState] = []
        self._listeners: list[Callable[[MetricState], None]] = []
        self._context = _context_reader()

    def __repr__(self) -> str:
        return f"<Aggregator slots={self.slots} metrics={len(self._metrics)} active={len(self._active)}>"

    # -- configuration -------------------------------------------------------------------------------------------

    def bind(self, slots: int, exemplar_filter: ExemplarFilter | str | None = None) -> None:
        """Set the number of reader slots and the exemplar filter; only before the first series exists.

        Called by the publisher (``metric_producer.install``) with the provider's readers and filter.
        """
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
            raise ValueError(f"slots: expected a whole number >= 0, got {slots!r}")
        mode = _exemplar_mode(exemplar_filter)
        with self._lock:
            if self._frozen:
                raise RuntimeError("Aggregator.bind() after the first series was created: bind before recording")
            self.slots = slots
            self._mode = mode
            self._filter = _filter_object(exemplar_filter)

    def _freeze(self) -> None:
        with self._lock:
            self._frozen = True

    def on_new_metric(self, listener: Callable[[MetricState], None]) -> None:
        """Call ``listener(state)`` when a metric gets its first series (the publisher records output order)."""
        self._listeners.append(listener)

    @staticmethod
    def unsupported_reason(reader: MetricReader) -> str | None:
        """Why ``reader`` cannot be served from this aggregation (None: it can).

        Refused: DELTA temporality for any of the four kinds (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=
        delta`` or ``lowmemory`` makes the OTLP exporter ask for it), an aggregation other than the default (e.g. the
        exponential histogram of ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``), or a reader whose
        internals this SDK version does not have.
        """
        try:
            temporality = reader._instrument_class_temporality
            aggregation = reader._instrument_class_aggregation
        except AttributeError:
            return f"{type(reader).__name__} has no per-instrument temporality/aggregation tables"
        for kind, cls in _SDK_CLASSES.items():
            asked = temporality.get(cls)
            if asked is not _CUMULATIVE:
                name = getattr(asked, "name", repr(asked))
                return f"{type(reader).__name__} asks for {name} temporality for {kind}s (only CUMULATIVE is served)"
            agg = aggregation.get(cls)
            if isinstance(agg, DefaultAggregation) or type(agg) is _EQUIVALENT[kind]:
                if not isinstance(agg, ExplicitBucketHistogramAggregation):
                    continue
                if agg._boundaries is None and agg._record_min_max:  # what DefaultAggregation does for histograms
                    continue
            return f"{type(reader).__name__} asks for {type(agg).__name__} for {kind}s"
        return None

    @classmethod
    def supports(cls, reader: MetricReader, cardinality_limit: int | None = None) -> bool:
        """True when ``reader`` gets identical data from this aggregation as from the SDK.

        With ``cardinality_limit`` (the most series a metric will ever be given), also require that the reader's
        SDK limit would not have sent any of them to the SDK's overflow series.
        """
        if cls.unsupported_reason(reader) is not None:
            return False
        if cardinality_limit is not None:
            limits = getattr(reader, "_instrument_class_cardinality_limit", {}) or {}
            for sdk_cls in _SDK_CLASSES.values():
                if limits.get(sdk_cls, 2000) < cardinality_limit:
                    return False
        return True

    # -- metrics -------------------------------------------------------------------------------------------------

    def metric(
        self,
        name: str,
        description: str,
        unit: str,
        kind: str,
        buckets: Sequence[float] | None = None,
    ) -> MetricState:
        """The state of one metric (created once; asking again with the same definition returns it).

        ``name``/``unit`` are OTel instrument names and units, checked like the SDK checks them; the published
        name is lowercased as the SDK does. ``buckets`` (histograms only): strictly increasing finite boundaries,
        kept as given (ints stay ints: ``le="1"``); None means the SDK's default boundaries.
        """
        checked, bounds = check_definition(name, description, unit, kind, buckets)
        published = str(checked["name"]).lower()
        with self._lock:
            existing = self._metrics.get(published)
            if existing is not None:
                same = (
                    existing.kind == kind
                    and existing.unit == checked["unit"]
                    and existing.description == checked["description"]
                    and existing._buckets_given == (None if buckets is None else tuple(buckets))
                )
                if not same:
                    raise ValueError(f"metric {published!r} is already defined differently")
                return existing
            state = MetricState(
                self, published, str(checked["description"]), str(checked["unit"]), kind, bounds, buckets
            )
            self._metrics[published] = state
            return state

    def _first_series(self, state: MetricState) -> None:
        with self._lock:
            self._active.append(state)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a publisher problem must not break recording
                listener(state)

    @property
    def active(self) -> list[MetricState]:
        """Metrics that have at least one series, in the order they got their first one (the output order)."""
        return list(self._active)

    # -- collection ----------------------------------------------------------------------------------------------

    def collect(self, slot: int, time_unix_nano: int) -> list[tuple[MetricState, Metric]]:
        """Reader ``slot``'s cumulative metrics as of now, stamped ``time_unix_nano`` (the reader's collection time).

        Resets that reader's partial sums, min/max and exemplars. One collector per slot at a time (the publisher
        serialises collections of one reader); different slots may collect concurrently with each other and with
        recording threads.
        """
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot: expected 0..{self.slots - 1}, got {slot!r}")
        out: list[tuple[MetricState, Metric]] = []
        for state in self._active[:]:
            metric = state._collect(slot, time_unix_nano)
            if metric is not None:
                out.append((state, metric))
        return out
