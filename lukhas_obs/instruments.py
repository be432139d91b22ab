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

import math
import numbers
import operator
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from lukhas_obs import drops
from lukhas_obs.catalog import FOLD_VALUE, MetricSpec, find_metric
from lukhas_obs.catalog.kinds import KINDS, MetricKind
from lukhas_obs.catalog.spec import AttributeSpec
from lukhas_obs.drops import safe_text
from lukhas_obs.scrubbing import Scrubber

__all__ = [
    "CounterHandle",
    "GaugeHandle",
    "HistogramHandle",
    "MetricHandle",
    "ObservableGaugeHandle",
    "UpDownCounterHandle",
    "counter",
    "gauge",
    "histogram",
    "metric",
    "observable_gauge",
    "updown_counter",
]

#: Longest string attribute value kept; longer values are truncated (label values are not documents).
MAX_ATTRIBUTE_LENGTH = 256
#: Distinct attribute sets per metric when the configuration does not say otherwise.
DEFAULT_CARDINALITY_LIMIT = 1000
#: The memo of raw call attributes holds at most this many entries per distinct admitted set.
_MEMO_FACTOR = 4
#: Integers OTLP can carry (``as_int`` is a signed 64-bit field); outside it one value would fail every export.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Longest attribute key shown in a drop warning.
_KEY_SHOWN = 64

_AttrValue = str | bool | int | float


class _Snapshot:
    """What handles bind to: the active meter, common label values, scrubber and limits. Replaced whole."""

    __slots__ = ("cardinality_limit", "cardinality_limits", "common", "meter", "scrubber")

    def __init__(
        self,
        meter: Meter | None,
        common: Mapping[str, str],
        scrubber: Scrubber | None = None,
        cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT,
        cardinality_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.meter = meter
        self.common = dict(common)
        self.scrubber = scrubber or Scrubber()
        self.cardinality_limit = cardinality_limit
        self.cardinality_limits = dict(cardinality_limits or {})

    def limit_for(self, metric_name: str) -> int:
        return self.cardinality_limits.get(metric_name, self.cardinality_limit)


_INACTIVE = _Snapshot(None, {})
_snapshot: _Snapshot = _INACTIVE
_handles: dict[str, MetricHandle] = {}
_handles_lock = threading.Lock()


def activate(
    meter: Meter,
    common: Mapping[str, str],
    *,
    scrubber: Scrubber | None = None,
    cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT,
    cardinality_limits: Mapping[str, int] | None = None,
) -> None:
    """Bind every handle to ``meter`` (called by the runtime on configure) and create all known instruments now."""
    global _snapshot
    _snapshot = _Snapshot(meter, common, scrubber, cardinality_limit, cardinality_limits)
    from lukhas_obs.catalog import catalogs

    for cat in catalogs():
        for spec in cat.metrics:
            metric(spec.name)._resolve()


def deactivate() -> None:
    """Unbind every handle (shutdown): recording becomes a no-op until the next configure."""
    global _snapshot
    _snapshot = _INACTIVE


def metric(metric_name: str) -> MetricHandle:
    """The handle of a registered catalog metric, by its Prometheus name (KeyError lists known names)."""
    handle = _handles.get(metric_name)
    if handle is None:
        spec = find_metric(metric_name)
        with _handles_lock:
            handle = _handles.get(metric_name)
            if handle is None:
                handle = _handles[metric_name] = _HANDLE_TYPES[spec.kind](spec)
    return handle


class OTelInstrumentSink:
    """Where admitted measurements go today: one OTel SDK instrument, through its kind's recording method.

    The handle's admission step (value check, attribute validation, folding, scrubbing, cardinality, memo) runs
    first and hands only valid ``(value, attributes)`` pairs here. A second sink (an own aggregation) plugs in at
    the same seam without another copy of admission.
    """

    __slots__ = ("instrument", "method")

    def __init__(self, instrument: Any, method: str) -> None:
        self.instrument = instrument
        self.method = method

    def put(self, value: float | int, attributes: Mapping[str, _AttrValue]) -> None:
        getattr(self.instrument, self.method)(value, attributes)


class MetricHandle:
    """Common machinery: lazy instrument resolution, then admission, then the sink — one body for every kind.

    Subclasses only name their recording method (``add``/``record``/``set``) and, where the OTel instrument needs
    more than name, unit and description, the extra creation options.
    """

    __slots__ = (
        "_attr_specs",
        "_base",
        "_instrument",
        "_kind",
        "_limit",
        "_memo",
        "_sets",
        "_sink",
        "_snap",
        "spec",
    )

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self._kind: MetricKind = KINDS[spec.kind]
        self._snap: _Snapshot | None = None
        self._instrument: Any = None
        self._sink: OTelInstrumentSink | None = None
        self._base: dict[str, _AttrValue] = {}
        self._sets: dict[_Key, dict[str, _AttrValue]] = {}
        self._memo: dict[_Key, dict[str, _AttrValue]] = {}
        self._limit = DEFAULT_CARDINALITY_LIMIT
        specs: dict[str, AttributeSpec | None] = {key: None for key in spec.common_attributes}  # free-form overrides
        specs.update({a.key: a for a in spec.attributes})
        self._attr_specs = specs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name}>"

    def _resolve(self) -> Any:
        snap = _snapshot
        instrument = None
        if snap.meter is not None:
            try:
                instrument = self._create(snap.meter)
            except Exception as exc:  # a broken SDK must not break the caller
                drops.report(self.spec.name, "internal_error", type(exc).__name__)
        self._base = {key: snap.common.get(key, "") for key in self.spec.common_attributes}
        self._sets = {}
        self._memo = {}
        self._limit = snap.limit_for(self.spec.name)
        self._instrument = instrument
        method = self._kind.method
        self._sink = OTelInstrumentSink(instrument, method) if instrument is not None and method else None
        self._snap = snap
        return instrument

    def _create(self, meter: Meter) -> Any:
        """The OTel instrument of this metric, made by the kind's factory."""
        s = self.spec
        factory = getattr(meter, self._kind.otel_factory)
        return factory(s.otel_name, unit=s.unit, description=s.description, **self._create_options())

    def _create_options(self) -> dict[str, Any]:
        """Extra keyword arguments of the kind's OTel factory (bucket advice, callbacks)."""
        return {}

    def _emit(self, value: object, attributes: Mapping[str, object]) -> None:
        """Admission, then the sink: the one recording body every kind's method delegates to. Never raises."""
        try:
            if self._snap is not _snapshot:
                self._resolve()
            sink = self._sink
            if sink is None:
                return
            checked = self._value(value)
            if checked is None:
                return
            if checked < 0 and self._kind.negative_reason is not None:
                drops.report(self.spec.name, self._kind.negative_reason)
                return
            attrs = self._attributes(attributes) if attributes else self._base
            if attrs is not None:
                sink.put(checked, attrs)
        except Exception as exc:
            drops.report(self.spec.name, "internal_error", type(exc).__name__)

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

    def _attributes(self, given: Mapping[str, object]) -> dict[str, _AttrValue] | None:
        """Common attributes merged with validated call-time ones; None when the cardinality limit refuses them."""
        try:
            raw_key: _Key | None = _typed_key(given)
            memo = self._memo.get(raw_key)  # type: ignore[arg-type]
            if memo is not None:
                return memo
        except Exception:  # an unhashable value (dict, list) or a hostile __hash__: validation below drops it
            raw_key = None
        attrs = self._validated(given)
        set_key = _typed_key(attrs)
        admitted = self._sets.get(set_key)
        if admitted is None:
            if len(self._sets) >= self._limit:
                drops.report(self.spec.name, "cardinality_limit", f"limit {self._limit} attribute sets")
                return None
            admitted = self._sets[set_key] = attrs
        if raw_key is not None and len(self._memo) < self._limit * _MEMO_FACTOR:
            self._memo[raw_key] = admitted
        return admitted

    def _validated(self, given: Mapping[str, object]) -> dict[str, _AttrValue]:
        out = dict(self._base)
        scrubber = self._snap.scrubber if self._snap is not None else _INACTIVE.scrubber
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
                    value = FOLD_VALUE
            elif isinstance(value, str):
                value = scrubber.scrub_value(key, value)
            out[key] = value
        return out


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

    __slots__ = ()

    def add(self, amount: float = 1, /, **attributes: object) -> None:
        """Add ``amount`` (>= 0) to the series selected by ``attributes``."""
        self._emit(amount, attributes)


class UpDownCounterHandle(MetricHandle):
    """A counter that may go down (exposed as a Prometheus gauge)."""

    __slots__ = ()

    def add(self, amount: float, /, **attributes: object) -> None:
        """Add ``amount`` (any sign) to the series selected by ``attributes``."""
        self._emit(amount, attributes)


class HistogramHandle(MetricHandle):
    """A histogram with the catalog's explicit bucket boundaries. Negative values are dropped."""

    __slots__ = ()

    def _create_options(self) -> dict[str, Any]:
        return {"explicit_bucket_boundaries_advisory": list(self.spec.buckets or ())}

    def record(self, value: float, /, **attributes: object) -> None:
        """Record one observation (e.g. a latency in the spec's unit)."""
        self._emit(value, attributes)


class GaugeHandle(MetricHandle):
    """A synchronous gauge: the last value set wins."""

    __slots__ = ()

    def set(self, value: float, /, **attributes: object) -> None:
        """Set the current value of the series selected by ``attributes``."""
        self._emit(value, attributes)


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
        if self._snap is not _snapshot:
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
                    attrs = self._attributes(attributes) if attributes else self._base
                    if checked is not None and attrs is not None:
                        out.append(Observation(checked, attrs))
            except Exception as exc:
                drops.report(self.spec.name, "callback_error", type(exc).__name__)
        return out


#: The handle class of each kind of :data:`lukhas_obs.catalog.kinds.KINDS`.
_HANDLE_TYPES: dict[str, type[MetricHandle]] = {
    "counter": CounterHandle,
    "updown_counter": UpDownCounterHandle,
    "histogram": HistogramHandle,
    "gauge": GaugeHandle,
    "observable_gauge": ObservableGaugeHandle,
}
if set(_HANDLE_TYPES) != set(KINDS):  # pragma: no cover - a kind added to the table without its handle
    raise ImportError(f"metric kinds without a handle class: {sorted(set(KINDS) ^ set(_HANDLE_TYPES))}")

drops.use_handles(metric)

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


def observable_gauge(metric_name: str) -> ObservableGaugeHandle:
    """The handle of a catalog observable gauge."""
    return _typed(metric_name, ObservableGaugeHandle)
