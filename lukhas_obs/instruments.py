"""Instrument handles: the one seam through which every measurement passes.

Application code never creates OTel instruments. It asks for a handle by the metric's Prometheus name::

    search = lukhas_obs.metric("lukhas_memory_search_seconds")
    search.record(0.012)                       # lane/service labels are added from the configuration
    failures = lukhas_obs.metric("lukhas_auth_failures_total")
    failures.add(1, tier="T2", reason="invalid_credentials")

Handles exist before :func:`lukhas_obs.configure` runs and survive re-configuration: each one resolves its OTel
instrument lazily from the active runtime snapshot and re-resolves when that snapshot changes (configure, shutdown,
fork). Before configure, after shutdown, and with ``OTEL_SDK_DISABLED=true`` a handle does nothing.

Every method validates cheaply and never raises: bad values are dropped and reported through
:mod:`lukhas_obs.drops`; enumerated attributes fold unknown values to ``other``; free-form string values pass the
scrubber. Each handle admits at most ``cardinality_limit`` distinct attribute sets: past it, measurements with a new
set are dropped, warned about once and counted (``reason="cardinality_limit"``) instead of the SDK's silent overflow.
Validated attribute sets are memoised, so a repeated call skips validation and scrubbing entirely.
"""

from __future__ import annotations

import functools
import keyword
import math
import numbers
import operator
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from lukhas_obs import _state, drops
from lukhas_obs import catalog as _catalog_module
from lukhas_obs._state import DEFAULT_CARDINALITY_LIMIT
from lukhas_obs.aggregation import _UNSET
from lukhas_obs.catalog import MetricSpec, find_metric
from lukhas_obs.catalog.kinds import KINDS, MetricKind
from lukhas_obs.catalog.spec import AttributeSpec
from lukhas_obs.drops import safe_text
from lukhas_obs.scrubbing import Scrubber

__all__ = [
    "BoundCounter",
    "BoundGauge",
    "BoundHandle",
    "BoundHistogram",
    "BoundUpDownCounter",
    "CounterHandle",
    "GaugeHandle",
    "HistogramHandle",
    "InfoHandle",
    "MetricHandle",
    "ObservableCounterHandle",
    "ObservableGaugeHandle",
    "ObservableUpDownCounterHandle",
    "RateOfChangeHandle",
    "UpDownCounterHandle",
    "counter",
    "gauge",
    "histogram",
    "info",
    "metric",
    "observable_counter",
    "observable_gauge",
    "observable_updown_counter",
    "updown_counter",
]

#: Longest string attribute value kept; longer values are truncated (label values are not documents).
MAX_ATTRIBUTE_LENGTH = 256
#: The memo of raw call attributes holds at most this many entries per distinct admitted set.
_MEMO_FACTOR = 4
#: Integers OTLP can carry (``as_int`` is a signed 64-bit field); outside it one value would fail every export.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Longest attribute key shown in a drop warning.
_KEY_SHOWN = 64

_AttrValue = str | bool | int | float

#: A keyword attribute not given in a call, and the "no default" of a recording method's value.
_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>", "__slots__": ()})()


_handles: dict[str, MetricHandle] = {}
_handles_lock = threading.Lock()


#: Measurements made before the first configure() (Luna sets its Info at import), replayed by it; at most this many.
EARLY_LIMIT = 10_000
_early: list[Callable[[], object]] | None = []
#: Whether measurements were left out because the early buffer was full (reported once by the first configure).
_early_overflowed = False
_early_lock = threading.Lock()


def _keep_early(call: Callable[..., object], *args: object) -> None:
    """Keep a measurement made before the first configure() for it to replay (bounded; the rest are not kept).

    When the buffer is full, handles stop keeping (``_state.collecting_early`` goes False, so they take their
    cheapest no-op path): memory stays bounded in a process that never configures, and the loss is reported once.
    """
    global _early_overflowed
    if _early is None:
        return
    with _early_lock:
        if _early is not None:
            if len(_early) < EARLY_LIMIT:
                _early.append(functools.partial(call, *args))
            else:
                _early_overflowed = True
                _state.collecting_early = False


def resolve_all() -> None:
    """Bind every handle of every registered catalog to the active state now (the runtime calls it after a swap), so
    instruments exist and the first measurement pays nothing extra; the first call also replays what was measured
    before it (:data:`EARLY_LIMIT`)."""
    global _early, _early_overflowed
    from lukhas_obs.catalog import catalogs

    state = _state.current
    for cat in catalogs():
        for spec in cat.metrics:
            handle = metric(spec.name)
            if handle._seen is not state:  # a gauge may already have bound the rates derived from it
                handle._resolve()
    with _early_lock:
        early, _early, overflowed, _early_overflowed = _early, None, _early_overflowed, False
        _state.collecting_early = False
    for call in early or ():
        call()
    if overflowed:
        drops.report("lukhas_obs", "before_configure", f"measurements past the first {EARLY_LIMIT} were not kept")


def metric(metric_name: str) -> MetricHandle:
    """The handle of a registered catalog metric, by its Prometheus name (KeyError lists known names)."""
    handle = _handles.get(metric_name)
    if handle is None:
        spec = find_metric(metric_name)
        with _handles_lock:
            handle = _handles.get(metric_name)
            if handle is None:
                handle = _handles[metric_name] = _handle_class(spec)(spec)
    return handle


class _SDKRecorder:
    """Records one admitted attribute set into an OTel SDK instrument (the fallback sink, e.g. DELTA readers)."""

    __slots__ = ("attributes", "instrument", "last", "method")

    def __init__(self, instrument: Any, method: str, attributes: Mapping[str, _AttrValue]) -> None:
        self.instrument = instrument
        self.method = method
        self.attributes = attributes
        #: The last value given (a gauge's current value, for inc/dec).
        self.last: float | int = 0

    def __call__(self, value: float | int) -> None:
        getattr(self.instrument, self.method)(value, self.attributes)
        self.last = value


class _Fanout:
    """A gauge series' recorder that also feeds the rates of change derived from it (``rate_of_change``)."""

    __slots__ = ("base", "rates")

    def __init__(self, base: Recorder, rates: list[Any]) -> None:
        self.base = base
        self.rates = rates

    def __call__(self, value: float | int) -> None:
        self.base(value)
        for rate in self.rates:
            rate.update(value)  # never raises; bad values were refused before


def _level(recorder: Recorder) -> float | int:
    """The current value of a gauge series behind ``recorder`` (0 when never set)."""
    if isinstance(recorder, _Fanout):
        recorder = recorder.base
    if isinstance(recorder, _SDKRecorder):
        return recorder.last
    value = recorder.__self__.v  # type: ignore[attr-defined]  # the own aggregation's GaugeSeries
    return 0 if value is _UNSET else value


#: Serialises gauge inc/dec (read, then set) across threads.
_shift_lock = threading.Lock()


Recorder = Callable[[float | int], None]


class MetricHandle:
    """Common machinery: lazy binding to the active state, then admission, then the sink — one body for every kind.

    The sink of an admitted attribute set is a *recorder* (a callable taking the value): the series of the own
    aggregation (:mod:`lukhas_obs.aggregation`, the default) or, when the configuration cannot be served by it, the
    OTel SDK instrument. Recorders are memoised per raw call attributes, so a repeated call is a value check, one
    dict lookup and the recorder.
    """

    #: The kind (key of KINDS) this handle class records, the default value of its method (counters: 1) and, on a
    #: generated subclass, the keyword attributes its method takes.
    _KIND: str = ""
    _DEFAULT: object = _MISSING
    _KEYWORDS: tuple[str, ...] = ()

    __slots__ = (
        "_attr_specs",
        "_base",
        "_base_rec",
        "_kind",
        "_kmemo",
        "_limit",
        "_memo",
        "_rec",
        "_retired",
        "_seen",
        "_sets",
        "_target",
        "spec",
    )

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self._kind: MetricKind = KINDS[spec.kind]
        self._seen: _state.State | None = None
        self._rec: _state.Recording = _state.INACTIVE.recording
        #: What admitted values go into: the aggregation's MetricState, the SDK instrument, or None (not recording).
        self._target: Any = None
        self._base: dict[str, _AttrValue] = {}
        self._base_rec: Recorder | None = None
        #: Admitted attribute sets (typed key → the set and its recorder); bounded by the cardinality limit.
        self._sets: dict[_Key, tuple[dict[str, _AttrValue], Recorder | None]] = {}
        #: Raw call attributes (typed key) → recorder; bounded by ``_MEMO_FACTOR`` × the limit.
        self._memo: dict[_Key, Recorder | None] = {}
        #: Generated keyword methods: flat ``(value, type, ...)`` tuples of keyword attributes → recorder.
        self._kmemo: dict[tuple[Any, ...], Recorder] = {}
        self._limit = DEFAULT_CARDINALITY_LIMIT
        #: Its catalog was unregistered: it records nothing any more (users holding it get a no-op).
        self._retired = False
        specs: dict[str, AttributeSpec | None] = {key: None for key in spec.common_attributes}  # free-form overrides
        specs.update({a.key: a for a in spec.attributes})
        self._attr_specs = specs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name}>"

    def _resolve(self) -> Any:
        """Bind to the active state: find or create this metric in its aggregation (or SDK instrument)."""
        state = _state.current
        rec = state.recording
        target = None
        try:
            if self._retired or _switched_off(self.spec):
                pass  # unregistered, or its catalog switched off (AURIS_METRICS_EXP=off): a no-op, nothing is made
            elif rec.store is not None and self._kind.aggregated:  # multiprocess mode: this process's file
                s = self.spec
                mode = s.gauge_mode or "last"
                target = rec.store.metric(
                    s.otel_name, s.description, s.unit, s.kind, buckets=self._buckets(), gauge_mode=mode
                )
            elif rec.aggregator is not None and self._kind.aggregated:
                s = self.spec
                target = rec.aggregator.metric(s.otel_name, s.description, s.unit, s.kind, buckets=self._buckets())
            elif rec.meter is not None:
                target = self._create(rec.meter)
        except Exception as exc:  # a broken SDK must not break the caller
            drops.report(self.spec.name, "internal_error", type(exc).__name__)
        self._base = {key: rec.common.get(key, "") for key in self.spec.common_attributes}
        self._base_rec = None
        self._sets = {}
        self._memo = {}
        self._kmemo = {}
        self._limit = rec.limit_for(self.spec.name)
        self._rec = rec
        self._target = target
        self._seen = state
        if self.spec.start_at_zero and target is not None and not self.spec.attributes:
            self._start_at_zero()
        return target

    def _start_at_zero(self) -> None:
        """prometheus_client's behaviour: the series is there, at 0, before anything is recorded."""
        try:
            recorder = self._base_recorder()
            if recorder is not None and self._kind.name != "histogram":
                recorder(0)  # a histogram's series exists with zero counts on the own aggregation; the SDK has none
        except Exception as exc:
            self._internal_error(exc)

    def _buckets(self) -> list[float] | None:
        return None

    def _create(self, meter: Meter) -> Any:
        """The OTel instrument of this metric, made by the kind's factory.

        An observable instrument registers with the SDK under the lock a collection holds while it runs the
        callbacks (not re-entrant): made from inside a collection — a hook or callback looking up a catalog that was
        registered late — it would hang every scrape. Then it is made by a helper thread once that collection is
        over, and this collection simply does not have it yet.
        """
        if self._kind.observable and _collection_running(meter):
            threading.Thread(target=self._create_later, args=(_state.current,), daemon=True).start()
            return None
        s = self.spec
        factory = getattr(meter, self._kind.otel_factory)
        return factory(s.otel_name, unit=s.unit, description=s.description, **self._create_options())

    def _create_options(self) -> dict[str, Any]:
        """Extra keyword arguments of the kind's OTel factory (bucket advice, callbacks)."""
        return {}

    def _create_later(self, state: _state.State) -> None:
        lock = _consumer_lock(state.recording.meter)
        if lock is None or not lock.acquire(timeout=30):
            return
        lock.release()
        if _state.current is state and self._seen is state and self._target is None:
            self._resolve()

    def _recorder(self, attributes: dict[str, _AttrValue]) -> Recorder | None:
        """The sink of one admitted attribute set: its aggregation series' method, or the SDK instrument (and the
        rates of change derived from this gauge, when the catalog declares any)."""
        target, method = self._target, self._kind.method
        if target is None or not method:
            return None
        if (self._rec.store is not None or self._rec.aggregator is not None) and self._kind.aggregated:
            recorder: Recorder = getattr(target.series(attributes), method)
        else:
            recorder = _SDKRecorder(target, method, attributes)
        if self.spec.kind == "gauge":
            rates = [r for d in _derivatives(self.spec) if (r := d._rate_for(attributes)) is not None]
            if rates:
                return _Fanout(recorder, rates)
        return recorder

    def _emit(self, value: object, attributes: Mapping[str, object], remember: bool = True) -> Recorder | None:
        """Admission, then the sink: the one recording body every kind's method delegates to. Never raises.

        Returns the recorder the value went to (None when nothing was recorded); ``remember=False`` skips the
        memo of raw call attributes (a generated keyword method keeps its own).
        """
        try:
            if self._seen is not _state.current:
                self._resolve()
            if self._target is None:
                if _early is not None:
                    _keep_early(self._emit, value, dict(attributes))
                return None
            checked = self._value(value)
            if checked is None:
                return None
            if checked < 0 and self._kind.negative_reason is not None:
                drops.report(self.spec.name, self._kind.negative_reason)
                return None
            if not attributes:
                recorder = self._base_rec or self._base_recorder()
            elif remember:
                recorder = self._recorder_for(attributes)
            else:
                entry = self._admitted(attributes)
                recorder = entry[1] if entry is not None else None
            if recorder is not None:
                recorder(checked)
            return recorder
        except Exception as exc:
            self._internal_error(exc)
        return None

    def _base_recorder(self) -> Recorder | None:
        """The recorder of the common attributes alone (calls without call-time attributes)."""
        self._base_rec = self._recorder(self._base)
        return self._base_rec

    def _remembered(self, attributes: Mapping[str, object]) -> Recorder | None:
        """The memoised recorder of call-time ``attributes`` (None: not admitted, or not memoised)."""
        return self._memo.get(_typed_key(attributes)) if attributes else self._base_rec

    def _internal_error(self, exc: BaseException) -> None:
        """A failure inside lukhas-obs or the SDK while recording: counted, warned once, never raised."""
        drops.report(self.spec.name, "internal_error", type(exc).__name__)

    def _keyword_call(self, value: object, values: tuple[object, ...], rest: dict[str, object]) -> None:
        """The general path of a generated keyword method; then remembers the recorder for the flat key."""
        try:
            attrs = {k: v for k, v in zip(self._KEYWORDS, values, strict=True) if v is not _MISSING}
            if rest:
                attrs.update(rest)
        except Exception as exc:
            self._internal_error(exc)
            return
        if rest:
            self._emit(value, attrs)
            return
        recorder = self._emit(value, attrs, remember=False)  # the flat key below is this call's memo
        try:
            room = len(self._kmemo) < self._limit * _MEMO_FACTOR
            if recorder is not None and room and self._seen is _state.current:
                self._kmemo[tuple(x for v in values for x in (v, v.__class__))] = recorder
        except Exception:  # a value with a hostile __hash__/__class__: the general path already dropped it
            pass

    def _value(self, value: object) -> float | int | None:
        """A finite float or an int64, or None after reporting why it was dropped."""
        cls = value.__class__
        if cls is float:
            if math.isfinite(value):  # type: ignore[arg-type]
                return value  # type: ignore[return-value]
            drops.report(self.spec.name, "nan" if value != value else "infinite")
            return None
        if cls is int:
            if INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
                return value  # type: ignore[return-value]
            drops.report(self.spec.name, "out_of_range", "an integer outside int64")
            return None
        return self._coerced(value)

    def _coerced(self, value: object) -> float | int | None:
        """Numbers of other classes: int/float subclasses, numpy scalars, Fraction; never bool, str or Decimal."""
        try:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError
            converted: int | float = (
                operator.index(value) if isinstance(value, numbers.Integral) else float(value)
            )
        except Exception:  # a hostile __index__/__float__ is a value we cannot read
            drops.report(self.spec.name, "not_a_number", _class_name(value))
            return None
        return self._value(int(converted) if isinstance(converted, int) else float(converted))

    def _recorder_for(self, given: Mapping[str, object]) -> Recorder | None:
        """The recorder of call-time attributes (memoised); None when admission refuses them."""
        try:
            raw_key: _Key | None = _typed_key(given)
            found = self._memo.get(raw_key)  # type: ignore[arg-type]
            if found is not None:
                return found
        except Exception:  # an unhashable value (dict, list) or a hostile __hash__: validation below drops it
            raw_key = None
        entry = self._admitted(given)
        if entry is None:
            return None
        recorder = entry[1]
        if raw_key is not None and recorder is not None and len(self._memo) < self._limit * _MEMO_FACTOR:
            self._memo[raw_key] = recorder
        return recorder

    def _admitted(self, given: Mapping[str, object]) -> tuple[dict[str, _AttrValue], Recorder | None] | None:
        """Common attributes merged with validated call-time ones, and their recorder; None past the limit."""
        attrs = self._validated(given)
        set_key = _typed_key(attrs)
        entry = self._sets.get(set_key)
        if entry is None:
            if len(self._sets) >= self._limit:
                drops.report(self.spec.name, "cardinality_limit", f"limit {self._limit} attribute sets")
                return None
            entry = self._sets[set_key] = (attrs, self._recorder(attrs))
        return entry

    def _validated(self, given: Mapping[str, object]) -> dict[str, _AttrValue]:
        out = dict(self._base)
        scrubber = self._rec.scrubber or _DEFAULT_SCRUBBER
        for key, raw in given.items():
            if key not in self._attr_specs:
                drops.report(self.spec.name, "unknown_attribute", f"key {_shown(key)}", attribute=True)
                continue
            value = _attribute_value(raw)
            if value is None or value is _OUT_OF_RANGE:
                reason = "invalid_attribute_value" if value is None else "out_of_range"
                drops.report(self.spec.name, reason, f"key {_shown(key)}", attribute=True)
                continue
            spec = self._attr_specs[key]
            if spec is not None and spec.values is not None:
                value = str(value)
                if value not in spec.values:
                    if not spec.keep_unknown:
                        value = spec.fold_to
                    elif spec.secret is not False:
                        value = scrubber.scrub_value(key, value)
            elif isinstance(value, str) and (spec is None or spec.secret is not False):
                value = scrubber.scrub_value(key, value)
            out[key] = value
        return out


_DEFAULT_SCRUBBER = Scrubber()


#: A memo key: each ``(key, value)`` pair with the value's type (``True == 1 == 1.0`` in Python, but they are three
#: attribute sets to OTel).
_Key = frozenset[tuple[tuple[str, object], type]]


def _typed_key(attributes: Mapping[str, object]) -> _Key:
    """The type-aware key of ``attributes`` (built in C: ``zip``/``map``, no Python-level loop on the hot path)."""
    return frozenset(zip(attributes.items(), map(type, attributes.values()), strict=True))


#: What :func:`_attribute_value` returns for an int OTLP cannot carry (dropped with reason ``out_of_range``).
_OUT_OF_RANGE: Any = object()


def _attribute_value(raw: object) -> _AttrValue | None:
    """A label value every exporter can encode: bounded valid text, a bool, an int64 or a finite float."""
    cls = raw.__class__
    if cls is str:
        return safe_text(raw, MAX_ATTRIBUTE_LENGTH)  # type: ignore[arg-type]
    if cls is bool:
        return raw  # type: ignore[return-value]
    if cls is int:
        return raw if INT64_MIN <= raw <= INT64_MAX else _OUT_OF_RANGE  # type: ignore[operator,return-value]
    if cls is float:
        return raw if math.isfinite(raw) else None  # type: ignore[arg-type,return-value]
    if isinstance(raw, str):  # a str subclass: its own __str__/__len__ may raise, so copy through str's
        return safe_text(str.__str__(raw), MAX_ATTRIBUTE_LENGTH)
    return None


def _shown(key: object) -> str:
    """A key as shown in a warning: its repr, bounded."""
    text = repr(str.__str__(key)) if isinstance(key, str) else "<non-str>"
    return text if len(text) <= _KEY_SHOWN else text[:_KEY_SHOWN] + "…"


def _class_name(value: object) -> str:
    try:
        return str(type(value).__name__)
    except Exception:  # pragma: no cover - a metaclass that breaks __name__
        return "object"


class CounterHandle(MetricHandle):
    """A monotonic counter (``*_total``). Negative increments are dropped."""

    _KIND = "counter"
    _DEFAULT = 1
    __slots__ = ()

    def add(self, amount: float = 1, /, **attributes: object) -> None:
        """Add ``amount`` (>= 0) to the series selected by ``attributes``."""
        self._emit(amount, attributes)

    def bind(self, **attributes: object) -> BoundCounter:
        """This counter with ``attributes`` fixed (validated once): ``.add(n)`` takes only the amount."""
        return BoundCounter(self, attributes)


class UpDownCounterHandle(MetricHandle):
    """A counter that may go down (exposed as a Prometheus gauge)."""

    _KIND = "updown_counter"
    __slots__ = ()

    def add(self, amount: float, /, **attributes: object) -> None:
        """Add ``amount`` (any sign) to the series selected by ``attributes``."""
        self._emit(amount, attributes)

    def bind(self, **attributes: object) -> BoundUpDownCounter:
        """This up-down counter with ``attributes`` fixed (validated once): ``.add(n)`` takes only the amount."""
        return BoundUpDownCounter(self, attributes)


class HistogramHandle(MetricHandle):
    """A histogram with the catalog's explicit bucket boundaries. Negative values are dropped."""

    _KIND = "histogram"
    __slots__ = ()

    def _create_options(self) -> dict[str, Any]:
        return {"explicit_bucket_boundaries_advisory": self._buckets()}

    def _buckets(self) -> list[float]:
        return list(self.spec.buckets or ())

    def record(self, value: float, /, **attributes: object) -> None:
        """Record one observation (e.g. a latency in the spec's unit)."""
        self._emit(value, attributes)

    def bind(self, **attributes: object) -> BoundHistogram:
        """This histogram with ``attributes`` fixed (validated once): ``.record(x)`` takes only the value."""
        return BoundHistogram(self, attributes)


class GaugeHandle(MetricHandle):
    """A synchronous gauge: the last value set wins."""

    _KIND = "gauge"
    __slots__ = ()

    def set(self, value: float, /, **attributes: object) -> None:
        """Set the current value of the series selected by ``attributes``."""
        self._emit(value, attributes)

    def inc(self, amount: float = 1, /, **attributes: object) -> None:
        """Raise the series' current value by ``amount`` (prometheus_client's ``Gauge.inc``)."""
        self._shift(amount, attributes, 1)

    def dec(self, amount: float = 1, /, **attributes: object) -> None:
        """Lower the series' current value by ``amount`` (prometheus_client's ``Gauge.dec``)."""
        self._shift(amount, attributes, -1)

    def _shift(self, amount: object, attributes: Mapping[str, object], sign: int) -> None:
        try:
            if self._seen is not _state.current:
                self._resolve()
            if self._target is None:
                if _early is not None:
                    _keep_early(self._shift, amount, dict(attributes), sign)
                return
            checked = self._value(amount)
            if checked is None:
                return
            recorder = self._recorder_for(attributes) if attributes else (self._base_rec or self._base_recorder())
            if recorder is not None:
                with _shift_lock:
                    recorder(_level(recorder) + sign * checked)
        except Exception as exc:
            self._internal_error(exc)

    def bind(self, **attributes: object) -> BoundGauge:
        """This gauge with ``attributes`` fixed (validated once): ``.set(x)`` takes only the value."""
        return BoundGauge(self, attributes)


ObservationSource = Callable[[], "float | Iterable[tuple[float, Mapping[str, object]]]"]


class ObservableGaugeHandle(MetricHandle):
    """A gauge read at collection time from callbacks registered with :meth:`observe`."""

    __slots__ = ("_callbacks",)

    def __init__(self, spec: MetricSpec) -> None:
        super().__init__(spec)
        self._callbacks: list[ObservationSource] = []

    def _create_options(self) -> dict[str, Any]:
        return {"callbacks": [self._collect]}

    def observe(self, source: ObservationSource) -> ObservationSource:
        """Register ``source``: it returns a number, or ``(value, attributes)`` pairs. Usable as a decorator."""
        self._callbacks.append(source)
        if self._seen is not _state.current:
            self._resolve()
        return source

    def _collect(self, options: CallbackOptions) -> Iterable[Observation]:
        out: list[Observation] = []
        for source in list(self._callbacks):
            try:
                result = source()
                pairs = [(result, {})] if isinstance(result, (int, float)) else result
                for value, attributes in pairs:
                    checked = self._value(value)
                    if checked is not None and checked < 0 and self._kind.negative_reason is not None:
                        drops.report(self.spec.name, self._kind.negative_reason)
                        continue
                    entry = self._admitted(attributes) if attributes else (self._base, None)
                    if checked is not None and entry is not None:
                        out.append(Observation(checked, entry[0]))
            except Exception as exc:
                drops.report(self.spec.name, "callback_error", type(exc).__name__)
        return out


# ------------------------------------------------------------------------------------------ generated recorders
#
# A call with keyword attributes (``hist.record(0.01, tier="T2")``) would otherwise build a dict of the keywords and
# a type-aware frozenset key on every call. For a metric whose attribute keys are all Python identifiers, the
# handle's recording method is generated once per attribute-key tuple with those keys as keyword parameters: a
# repeated call builds one flat tuple ``(v1, type(v1), v2, type(v2), ...)``, finds the recorder in ``_kmemo`` and
# records. Anything else — another key, a stale configuration, a value that is not a plain finite float/int64 of
# the right sign, an unhashable or hostile value — takes the general path (:meth:`MetricHandle._emit`), so drops,
# folding, scrubbing and cardinality behave exactly as there; the general path then fills ``_kmemo``.

#: Most declared attribute keys a generated method takes as keyword parameters.
_MAX_KEYWORDS = 16
_keyword_classes: dict[tuple[type, tuple[str, ...]], type[MetricHandle]] = {}


def _keyword_source(method: str, names: tuple[str, ...], default: object, signed: bool) -> str:
    params = "".join(f"{n}=_M, " for n in names)
    star = "*, " if names else ""
    key = "".join(f"{n}, {n}.__class__, " for n in names)
    values = "".join(f"{n}, " for n in names)
    head = "value=_D, /" if default is not _MISSING else "value, /"
    low = "_MIN" if signed else "0"
    float_ok = "value - value == 0.0" if signed else "value - value == 0.0 and value >= 0.0"
    return f"""
def {method}(self, {head}, {star}{params}**_rest):
    if self._target is None and self._seen is _st.current and not _st.collecting_early:
        return  # not recording (disabled, shut down, switched off): the cheapest no-op (one load when recording)
    try:
        r = self._kmemo.get(({key})) if not _rest and self._seen is _st.current else None
        if r is not None:
            c = value.__class__
            if not ((c is float and {float_ok}) or (c is int and {low} <= value <= _MAX)):
                r = None
    except Exception:
        r = None
    if r is None:
        self._keyword_call(value, ({values}), _rest)
        return
    try:
        r(value)
    except Exception as exc:
        self._internal_error(exc)
"""


def _keyword_class(base: type[MetricHandle], names: tuple[str, ...]) -> type[MetricHandle]:
    """``base`` with its recording method generated for the keyword attributes ``names`` (cached per key tuple)."""
    found = _keyword_classes.get((base, names))
    if found is not None:
        return found
    kind = KINDS[base._KIND]
    method = kind.method
    assert method is not None
    namespace: dict[str, Any] = {"_M": _MISSING, "_D": base._DEFAULT, "_st": _state}
    namespace.update(_MIN=INT64_MIN, _MAX=INT64_MAX)
    source = _keyword_source(method, names, base._DEFAULT, kind.negative_reason is None)
    exec(compile(source, f"<lukhas_obs {base.__name__}.{method}({', '.join(names)})>", "exec"), namespace)
    generated = namespace[method]
    generated.__doc__ = getattr(base, method).__doc__
    generated.__qualname__ = f"{base.__name__}.{method}"
    attrs = {"__slots__": (), method: generated, "__module__": base.__module__, "_KEYWORDS": names}
    cls = type(base.__name__, (base,), attrs)
    _keyword_classes[(base, names)] = cls
    return cls


def _bound_source(method: str, default: object, signed: bool) -> str:
    head = "value=_D, /" if default is not _MISSING else "value, /"
    low = "_MIN" if signed else "0"
    float_ok = "value - value == 0.0" if signed else "value - value == 0.0 and value >= 0.0"
    return f"""
def {method}(self, {head}):
    if self._handle._target is None and self._handle._seen is _st.current and not _st.collecting_early:
        return  # not recording (disabled, shut down, switched off): the cheapest no-op
    try:
        r = self._put if self._seen is _st.current else None
        if r is not None:
            c = value.__class__
            if not ((c is float and {float_ok}) or (c is int and {low} <= value <= _MAX)):
                r = None
    except Exception:
        r = None
    if r is None:
        self._general(value)
        return
    try:
        r(value)
    except Exception as exc:
        self._handle._internal_error(exc)
"""


class BoundHandle:
    """A handle with its attributes fixed: ``hist.bind(tier="T2").record(0.01)``.

    The attributes are validated (folded, scrubbed, counted against the cardinality limit) once, with the first
    valid measurement, and again only when the configuration changes; each call then checks the value and records —
    the cheapest way to record, meant for hot loops and for attribute sets known up front. A bound handle follows
    configure, shutdown and fork like its handle (it is a no-op while nothing is configured) and never raises.
    """

    __slots__ = ("_attributes", "_handle", "_put", "_seen")

    def __init__(self, handle: MetricHandle, attributes: dict[str, object]) -> None:
        self._handle = handle
        self._attributes = attributes
        self._seen: _state.State | None = None
        self._put: Recorder | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._handle.spec.name} {len(self._attributes)} attribute(s)>"

    @property
    def handle(self) -> MetricHandle:
        """The unbound handle this was bound from."""
        return self._handle

    def _general(self, value: object) -> None:
        """The general path (first call, stale configuration, unusual value, refused attributes); then remembers
        the recorder the handle admitted the attributes to, so the next calls take the short path.

        Nothing is admitted before a valid value arrives: a series appears when the SDK's would (first measurement).
        """
        handle = self._handle
        handle._emit(value, self._attributes)
        try:
            put = handle._remembered(self._attributes) if handle._seen is _state.current else None
        except Exception:  # a hostile attribute: the general path dropped it, and keeps doing so
            put = None
        self._put = put
        self._seen = handle._seen if put is not None else None


def _install_bound_method(bound: type[BoundHandle], base: type[MetricHandle]) -> None:
    """Give ``bound`` the generated recording method of ``base``'s kind (one template for every kind)."""
    kind = KINDS[base._KIND]
    method = kind.method
    assert method is not None
    namespace: dict[str, Any] = {"_D": base._DEFAULT, "_st": _state, "_MIN": INT64_MIN, "_MAX": INT64_MAX}
    source = _bound_source(method, base._DEFAULT, kind.negative_reason is None)
    exec(compile(source, f"<lukhas_obs {bound.__name__}.{method}>", "exec"), namespace)
    generated = namespace[method]
    generated.__doc__ = f"{method}(value): the bound form of {base.__name__}.{method}, attributes fixed at bind."
    generated.__qualname__ = f"{bound.__name__}.{method}"
    generated.__module__ = __name__
    setattr(bound, method, generated)


class BoundCounter(BoundHandle):
    """A counter with fixed attributes (:meth:`CounterHandle.bind`)."""

    __slots__ = ()
    if TYPE_CHECKING:

        def add(self, amount: float = 1, /) -> None: ...


class BoundUpDownCounter(BoundHandle):
    """An up-down counter with fixed attributes (:meth:`UpDownCounterHandle.bind`)."""

    __slots__ = ()
    if TYPE_CHECKING:

        def add(self, amount: float, /) -> None: ...


class BoundHistogram(BoundHandle):
    """A histogram with fixed attributes (:meth:`HistogramHandle.bind`)."""

    __slots__ = ()
    if TYPE_CHECKING:

        def record(self, value: float, /) -> None: ...


class BoundGauge(BoundHandle):
    """A gauge with fixed attributes (:meth:`GaugeHandle.bind`)."""

    __slots__ = ()
    if TYPE_CHECKING:

        def set(self, value: float, /) -> None: ...

    def inc(self, amount: float = 1, /) -> None:
        """Raise the current value by ``amount``."""
        self._handle._shift(amount, self._attributes, 1)  # type: ignore[attr-defined]

    def dec(self, amount: float = 1, /) -> None:
        """Lower the current value by ``amount``."""
        self._handle._shift(amount, self._attributes, -1)  # type: ignore[attr-defined]


for _bound, _unbound in (
    (BoundCounter, CounterHandle),
    (BoundUpDownCounter, UpDownCounterHandle),
    (BoundHistogram, HistogramHandle),
    (BoundGauge, GaugeHandle),
):
    _install_bound_method(_bound, _unbound)


class ObservableCounterHandle(ObservableGaugeHandle):
    """A monotonic total read at collection time (``observe(fn)``): totals the application already keeps.

    Negative totals are dropped; a total lower than the previous one is published as it is, which Prometheus'
    ``rate()``/``increase()`` read as a counter reset (a restarted source).
    """

    _KIND = "observable_counter"
    __slots__ = ()


class ObservableUpDownCounterHandle(ObservableGaugeHandle):
    """A total that may go down, read at collection time (``observe(fn)``)."""

    _KIND = "observable_updown_counter"
    __slots__ = ()


class RateOfChangeHandle(MetricHandle):
    """The rate of change per second of a catalog gauge over sliding windows (:mod:`lukhas_obs.rates`).

    Nothing to call: every ``set``/``inc``/``dec`` of the source gauge feeds it, and each collection publishes one
    series per window that has a value (``window="30s"``), with the source's attributes. One
    :class:`~lukhas_obs.rates.RateOfChange` per source series, bounded by the cardinality limit.
    """

    _KIND = "rate_of_change"
    __slots__ = ("_rates",)
    #: The clock samples are timed with (a monotonic clock; tests may replace it).
    clock: Callable[[], float] = time.monotonic

    def __init__(self, spec: MetricSpec) -> None:
        super().__init__(spec)
        self._rates: dict[_Key, tuple[dict[str, _AttrValue], Any]] = {}

    def _create_options(self) -> dict[str, Any]:
        return {"callbacks": [self._collect]}

    def _resolve(self) -> Any:
        self._rates = {}
        return super()._resolve()

    def _rate_for(self, attributes: dict[str, _AttrValue]) -> Any:
        """The RateOfChange of one source series (None when not recording or past the cardinality limit)."""
        if self._seen is not _state.current:
            self._resolve()
        if self._target is None:
            return None
        key = _typed_key(attributes)
        found = self._rates.get(key)
        if found is None:
            if len(self._rates) >= self._limit:
                drops.report(self.spec.name, "cardinality_limit", f"limit {self._limit} attribute sets")
                return None
            from lukhas_obs.rates import RateOfChange

            found = self._rates[key] = (
                dict(attributes),
                RateOfChange(self.spec.windows, where=self.spec.name, clock=type(self).clock),
            )
        return found[1]

    def _collect(self, options: CallbackOptions) -> Iterable[Observation]:
        out: list[Observation] = []
        for attributes, rate in list(self._rates.values()):
            try:
                for window, value in rate.rates().items():
                    out.append(Observation(value, {**attributes, "window": window}))
            except Exception as exc:
                drops.report(self.spec.name, "callback_error", type(exc).__name__)
        return out


def _consumer_lock(meter: Any) -> Any:
    """The SDK lock a collection holds while it runs callbacks (None when this SDK's shape is unknown)."""
    lock = getattr(getattr(meter, "_measurement_consumer", None), "_lock", None)
    return lock if hasattr(lock, "acquire") and hasattr(lock, "release") else None


def _collection_running(meter: Any) -> bool:
    """True when a collection holds the SDK's lock now (this thread's own, or another's: both are deferred)."""
    lock = _consumer_lock(meter)
    if lock is None:
        return False
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True


def _bind_registered(catalog: Any) -> None:
    """A catalog registered after configure(): bind its handles now, outside any collection (a lookup made inside
    one would otherwise create its observable instruments there)."""
    state = _state.current
    if state.recording.meter is None:
        return
    for spec in catalog.metrics:
        try:
            handle = metric(spec.name)
            if handle._seen is not state:
                handle._resolve()
        except Exception as exc:  # never break a registration
            drops.report(spec.name, "internal_error", type(exc).__name__)


def _derivatives(spec: MetricSpec) -> list[RateOfChangeHandle]:
    """The rate_of_change handles whose source is the gauge ``spec``."""
    from lukhas_obs.catalog import catalogs

    out: list[RateOfChangeHandle] = []
    for cat in catalogs():
        if cat.name == spec.catalog:
            out += [metric(m.name) for m in cat.metrics if m.source == spec.name]  # type: ignore[misc]
    return out


_OFF = frozenset({"off", "false", "0", "no", "disabled"})


def _switched_off(spec: MetricSpec) -> bool:
    """True when the catalog's own switch variable (``switch:``) says off."""
    if not spec.switch:
        return False
    return os.environ.get(spec.switch, "").strip().lower() in _OFF


class InfoHandle(MetricHandle):
    """Constant facts as the labels of one series at 1 (``luna_system_info``), like prometheus_client's ``Info``.

    :meth:`info` replaces the facts (the previous label set disappears from the next collection). Keys must be
    attributes the catalog declares; values are text. Set before :func:`lukhas_obs.configure` (at import), they are
    published once it runs.
    """

    _KIND = "info"
    __slots__ = ("_given",)

    def __init__(self, spec: MetricSpec) -> None:
        super().__init__(spec)
        self._given: dict[str, object] | None = None

    def _create_options(self) -> dict[str, Any]:
        return {"callbacks": [self._collect]}

    def info(self, values: Mapping[str, object] | None = None, /, **labels: object) -> None:
        """Replace the facts: ``info({"version": "0.2"})`` or ``info(version="0.2")``."""
        try:
            given = dict(values) if values is not None else {}
            given.update(labels)
            self._given = given
            if self._seen is not _state.current:
                self._resolve()
            elif self._rec.store is not None:
                self._store_facts()
        except Exception as exc:
            self._internal_error(exc)

    def _resolve(self) -> Any:
        target = super()._resolve()
        if self._rec.store is not None and self._given is not None:
            self._store_facts()
        return target

    def _store_facts(self) -> None:
        """Multiprocess mode: the facts go to this process's file (the merge shows every live worker's), not to the
        SDK callback (which would show only the serving process's)."""
        given = self._given
        if given is None or self._target is None:
            return
        entry = self._admitted(given) if given else (self._base, None)
        if entry is None:
            return
        s = self.spec
        metric = self._rec.store.metric(s.otel_name, s.description, s.unit, "info")
        metric.series(entry[0]).set()

    def _collect(self, options: CallbackOptions) -> Iterable[Observation]:
        given = self._given
        if given is None or self._rec.store is not None:
            return []
        try:
            entry = self._admitted(given) if given else (self._base, None)
        except Exception as exc:
            drops.report(self.spec.name, "callback_error", type(exc).__name__)
            return []
        return [Observation(1, entry[0])] if entry is not None else []


#: The handle class of each kind of :data:`lukhas_obs.catalog.kinds.KINDS`.
_HANDLE_TYPES: dict[str, type[MetricHandle]] = {
    "counter": CounterHandle,
    "updown_counter": UpDownCounterHandle,
    "histogram": HistogramHandle,
    "gauge": GaugeHandle,
    "observable_gauge": ObservableGaugeHandle,
    "observable_counter": ObservableCounterHandle,
    "observable_updown_counter": ObservableUpDownCounterHandle,
    "rate_of_change": RateOfChangeHandle,
    "info": InfoHandle,
}
if set(_HANDLE_TYPES) != set(KINDS):  # pragma: no cover - a kind added to the table without its handle
    raise ImportError(f"metric kinds without a handle class: {sorted(set(KINDS) ^ set(_HANDLE_TYPES))}")

drops.use_handles(metric)


#: Handles of unregistered catalogs, by catalog name: registering the same catalog again brings them back (the
#: objects callers hold record again), a different catalog of that name gets new ones.
_parked: dict[str, tuple[Any, list[MetricHandle]]] = {}


def _on_register(catalog: Any) -> None:
    parked = _parked.pop(catalog.name, None)
    if parked is not None and parked[0] == catalog:
        with _handles_lock:
            for handle in parked[1]:
                if handle.spec.name not in _handles:
                    handle._retired = False
                    handle._seen = None  # re-resolved on next use
                    _handles[handle.spec.name] = handle
    _bind_registered(catalog)


def _on_unregister(catalog: Any) -> None:
    """An unregistered catalog's handles are forgotten and record nothing (until the same catalog comes back)."""
    with _handles_lock:
        removed = [_handles.pop(spec.name) for spec in catalog.metrics if spec.name in _handles]
    mine = [handle for handle in removed if handle.spec.catalog == catalog.name]
    for handle in mine:
        handle._target = None
        handle._seen = _state.current
        handle._base_rec = None
        handle._sets, handle._memo, handle._kmemo = {}, {}, {}
        handle._retired = True
    _parked[catalog.name] = (catalog, mine)


_catalog_module.on_register(_on_register)
_catalog_module.on_unregister(_on_unregister)


def _handle_class(spec: MetricSpec) -> type[MetricHandle]:
    """The handle class of ``spec``: its kind's, with a generated keyword method when its attribute keys allow."""
    base = _HANDLE_TYPES[spec.kind]
    if not KINDS[spec.kind].method or KINDS[spec.kind].observable:
        return base
    names = (*spec.common_attributes, *(a.key for a in spec.attributes))
    if len(names) > _MAX_KEYWORDS or len(set(names)) != len(names):
        return base
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name in ("self", "value"):
            return base
    return _keyword_class(base, names)

H = TypeVar("H", bound=MetricHandle)


def _typed(metric_name: str, cls: type[H]) -> H:
    handle = metric(metric_name)
    if not isinstance(handle, cls):
        wanted = next(k for k, c in _HANDLE_TYPES.items() if c is cls)
        raise TypeError(f"{metric_name!r} is a {handle.spec.kind}, not a {wanted}; use lukhas_obs.{handle.spec.kind}()")
    return handle


def counter(metric_name: str) -> CounterHandle:
    """The handle of a catalog counter (TypeError if ``name`` names another kind, KeyError if unknown)."""
    return _typed(metric_name, CounterHandle)


def updown_counter(metric_name: str) -> UpDownCounterHandle:
    """The handle of a catalog up-down counter."""
    return _typed(metric_name, UpDownCounterHandle)


def histogram(metric_name: str) -> HistogramHandle:
    """The handle of a catalog histogram."""
    return _typed(metric_name, HistogramHandle)


def gauge(metric_name: str) -> GaugeHandle:
    """The handle of a catalog gauge."""
    return _typed(metric_name, GaugeHandle)


def info(metric_name: str) -> InfoHandle:
    """The handle of a catalog info metric (``*_info``)."""
    return _typed(metric_name, InfoHandle)


def observable_counter(metric_name: str) -> ObservableCounterHandle:
    """The handle of a catalog observable counter."""
    return _typed(metric_name, ObservableCounterHandle)


def observable_updown_counter(metric_name: str) -> ObservableUpDownCounterHandle:
    """The handle of a catalog observable up-down counter."""
    return _typed(metric_name, ObservableUpDownCounterHandle)


def observable_gauge(metric_name: str) -> ObservableGaugeHandle:
    """The handle of a catalog observable gauge."""
    return _typed(metric_name, ObservableGaugeHandle)
