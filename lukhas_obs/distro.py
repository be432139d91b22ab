"""The zero-code path (``opentelemetry-instrument``) and third-party metrics through the OTel global MeterProvider.

**Zero-code.** ``opentelemetry-instrument python app.py`` (package ``opentelemetry-instrumentation``) runs, before
the application: the *distro* chosen among the ``opentelemetry_distro`` entry points (``OTEL_PYTHON_DISTRO=NAME``, or
the first one installed), then the *configurator* chosen among the ``opentelemetry_configurator`` entry points
(``OTEL_PYTHON_CONFIGURATOR=NAME``, or the first; the others are skipped with a warning), then every
``opentelemetry_instrumentor`` (contrib instrumentations such as ``requests``), through the distro's
``load_instrumentor``. lukhas-obs ships both, named ``lukhas_obs``:

- :class:`LukhasDistro` turns third-party metrics on by default (``LUKHAS_THIRD_PARTY_METRICS=on`` unless the
  variable is set: the point of zero-code is that contrib instrumentations' metrics arrive), and loads each
  instrumentor so that one that raises is skipped with a warning instead of aborting every later one;
- :class:`LukhasConfigurator` calls :func:`lukhas_obs.runtime.configure` with no argument, so every setting comes
  from the environment (``LUKHAS_*``, then ``OTEL_*``). A configuration that is refused is reported on stderr in one
  line naming the field and what is accepted (never the value of a secret) and the application runs without
  telemetry: nothing is raised into it. An application that calls ``lukhas_obs.configure()`` itself afterwards with
  no argument gets the same configuration back.

**Third-party metrics** (``third_party_metrics=on``): the OTel API's global MeterProvider can be set once per
process, and lukhas-obs never sets it unless asked. When asked, it sets :data:`global_meter_provider`, a switching
provider whose instruments follow the active configuration (as the switching TracerProvider does for tracers): a
measurement goes to an SDK instrument on the configuration's *own* MeterProvider — the one the catalog's metrics are
published through — so contrib metrics (``http.server.duration``, ``http.server.request.duration``,
``http.client.duration``, ...) reach ``/metrics`` and OTLP next to the catalog's, in the same collection.

Why a filtering wrapper and not an SDK ``View``: lukhas-obs' own aggregation reproduces the SDK's output only for
a provider without views (:func:`lukhas_obs._compat.metric_producer.install` refuses them), and a second
MeterProvider cannot share the first one's readers. So the filter sits in front of the SDK instead:

- an instrument whose name matches no glob of ``third_party_allow`` is a no-op (nothing is created in the SDK);
- an instrument whose Prometheus samples would collide with a catalog metric's, or with another third-party
  instrument's of another kind, unit or description (two ``# TYPE`` blocks for one name make ``/metrics`` invalid),
  is a no-op, warned about once and counted (``reason="wrong_kind"``); so is one from a ``lukhas_obs*`` scope, and
  every instrument past :data:`MAX_INSTRUMENTS`;
- each measurement's attributes are made valid (text, int64, no mappings), scrubbed with the configuration's
  scrubber (an ``http.target`` carrying ``?token=...`` is redacted) and given the ``lane`` and ``service`` labels
  the dashboards filter on (the instrument's own value wins); past ``third_party_cardinality_limit`` distinct sets
  per instrument, new sets are dropped, warned about once and counted (``reason="cardinality_limit"``) — the SDK's
  silent overflow series never appears;
- values that are not finite numbers, ints outside int64 and negative counter increments are dropped and counted;
- nothing raises into the instrumentation: a hostile attribute, amount or callback is dropped and counted.

Turning third-party metrics off again (``reconfigure``) makes the instruments no-ops; the global provider itself stays
(the API cannot unset it). If the application set its own global MeterProvider first, lukhas-obs leaves it alone and
says so once.
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._configuration import _BaseConfigurator

from lukhas_obs import _state, drops


class _StandInDistro:
    """Stand-in when opentelemetry-instrumentation is not installed (the entry point is then never loaded)."""

    def configure(self, **kwargs: Any) -> None:
        self._configure(**kwargs)

    def _configure(self, **kwargs: Any) -> None:
        raise NotImplementedError

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        entry_point.load()().instrument(**kwargs)


BaseDistro: Any = _StandInDistro
try:  # the zero-code machinery is optional: lukhas-obs imports without opentelemetry-instrumentation
    import importlib

    BaseDistro = importlib.import_module("opentelemetry.instrumentation.distro").BaseDistro
except ImportError:  # pragma: no cover - exercised only where the package is absent
    pass


__all__ = [
    "ENTRY_POINT_NAME",
    "MAX_INSTRUMENTS",
    "LukhasConfigurator",
    "LukhasDistro",
    "SwitchingMeterProvider",
    "ThirdPartyMetrics",
    "global_meter_provider",
    "install_global_meter_provider",
]

_log = logging.getLogger("lukhas_obs")

#: The name of lukhas-obs' ``opentelemetry_distro`` and ``opentelemetry_configurator`` entry points
#: (``OTEL_PYTHON_DISTRO=lukhas_obs``, ``OTEL_PYTHON_CONFIGURATOR=lukhas_obs``).
ENTRY_POINT_NAME = "lukhas_obs"
#: Third-party instruments (distinct scope, name, kind, unit, description) one configuration accepts.
MAX_INSTRUMENTS = 256
#: Longest attribute value a third-party measurement keeps (characters).
MAX_VALUE_LENGTH = 256
#: Distinct meters the switching provider keeps (a library asking for a meter per request gets fresh ones).
MAX_METERS = 256
#: Labels every third-party series gets from the configuration (the dashboards filter on them).
COMMON_LABELS = ("lane", "service")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_RESERVED_SCOPE = "lukhas_obs"


def _report(where: str, reason: str, detail: str = "", *, attribute: bool = False) -> None:
    with contextlib.suppress(Exception):  # drops never raises; this guards an import-time problem
        drops.report(where, reason, detail, attribute=attribute)


def _text(value: object, limit: int) -> str | None:
    """``value`` as plain valid text of at most ``limit`` characters, or None (never calls a subclass's methods)."""
    from lukhas_obs.exporters.sanitize import clean_text

    try:
        return clean_text(value, limit)
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------------- zero-code


class LukhasDistro(BaseDistro):
    """The ``opentelemetry_distro`` entry point: third-party metrics on by default; instrumentors that raise are
    skipped (with a warning) instead of aborting the ones after them."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("LUKHAS_THIRD_PARTY_METRICS", "on")

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        """Instrument one library; a missing library or a dependency conflict goes back to the loader (which skips
        it quietly), any other failure is logged here and skipped."""
        try:
            super().load_instrumentor(entry_point, **kwargs)
        except ImportError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "DependencyConflictError":
                raise
            name = _text(getattr(entry_point, "name", "?"), 128) or "?"
            _log.warning("lukhas_obs: instrumentation %s failed (%s); skipped", name, type(exc).__name__)


class LukhasConfigurator(_BaseConfigurator):
    """The ``opentelemetry_configurator`` entry point: ``lukhas_obs.runtime.configure()`` from the environment.

    Never raises: a refused configuration is one line on stderr (through the ``lukhas_obs`` logger) and the program
    runs without telemetry, as it would without ``opentelemetry-instrument``.
    """

    def _configure(self, **kwargs: Any) -> None:
        from lukhas_obs import runtime
        from lukhas_obs.errors import ConfigurationError

        try:
            runtime.configure()
        except ConfigurationError as exc:
            _log.error("lukhas_obs: zero-code configuration refused, telemetry is off: %s", exc)
        except Exception as exc:
            _log.error("lukhas_obs: zero-code configuration failed (%s), telemetry is off", type(exc).__name__)


# ---------------------------------------------------------------------------------------------------- admission


class _Target:
    """One third-party instrument in one configuration: admission (values, attributes, cardinality), then the SDK."""

    def __init__(self, third: ThirdPartyMetrics, name: str, kind: str, record: Callable[..., Any] | None) -> None:
        self.third = third
        self.name = name
        self.kind = kind
        self.record_sdk = record
        self.monotonic = kind in ("counter", "observable_counter")
        self._memo: dict[Any, dict[str, Any] | None] = {}
        self._series: set[frozenset[tuple[str, Any]]] = set()
        self._lock = threading.Lock()
        #: Observable kinds: the proxies whose callbacks feed this instrument (one SDK callback for all of them). Held
        #: strongly, as the SDK holds its observables: instrumentations often drop the object ``create_*`` returns.
        self.sources: list[_Observable] = []

    def collect(self, options: CallbackOptions) -> Iterable[Observation]:
        """The SDK callback of an observable instrument: every source's callbacks, guarded, points admitted."""
        if self.third is not _active_third_party():
            return []  # a configuration that is no longer active (its provider may still be collected once)
        out: list[Observation] = []
        for source in list(self.sources):
            for callback in source.callbacks:
                try:
                    result = callback.send(options) if hasattr(callback, "send") else callback(options)
                    out += self.observations(result)
                except Exception as exc:
                    _report(self.name, "callback_error", type(exc).__name__)
        return out

    def value(self, amount: object) -> int | float | None:
        """``amount`` as a plain finite int64/float, or None (dropped and counted)."""
        kind = type(amount)
        number: int | float
        if kind is float or kind is int:
            number = amount  # type: ignore[assignment]
        elif kind is bool or not isinstance(amount, (int, float)):
            _report(self.name, "not_a_number", kind.__name__)
            return None
        else:
            number = int.__int__(amount) if isinstance(amount, int) else float.__float__(amount)
        if type(number) is float and not math.isfinite(number):
            _report(self.name, "nan" if math.isnan(number) else "infinite")
            return None
        if type(number) is int and not _INT64_MIN <= number <= _INT64_MAX:
            _report(self.name, "out_of_range")
            return None
        if number < 0 and (self.monotonic or self.kind == "histogram"):  # the SDK would warn once per measurement
            _report(self.name, "negative_increment" if self.kind == "counter" else "negative_value")
            return None
        return number

    def attributes(self, attributes: object) -> dict[str, Any] | None:
        """The admitted attribute set for ``attributes`` (memoised), or None when it is refused."""
        key: Any
        try:
            if attributes is None:
                key = ()
            elif type(attributes) is dict:
                key = tuple((k, v.__class__, v) for k, v in attributes.items())
            else:
                key = None
            if key is not None:
                cached = self._memo.get(key, _MISSING)
                if cached is not _MISSING:
                    return cached  # type: ignore[return-value]
        except Exception:  # a key or value whose __hash__/__eq__ raises: judged without the memo
            key = None
        admitted = self._admit(attributes)
        if key is not None:
            try:
                if len(self._memo) >= 4 * self.third.limit + 16:
                    self._memo.clear()  # the series set stays: re-admission gives the same answer
                self._memo[key] = admitted
            except Exception:  # pragma: no cover - hashing succeeded above
                pass
        return admitted

    def _admit(self, attributes: object) -> dict[str, Any] | None:
        from lukhas_obs.exporters.sanitize import clean_attributes

        third = self.third
        dropped: list[tuple[str, str]] = []
        mapping = attributes if isinstance(attributes, Mapping) else None
        if attributes is not None and mapping is None:
            dropped.append(("?", "invalid_attribute_value"))
        clean = clean_attributes(mapping, MAX_VALUE_LENGTH, dropped) if mapping else {}
        if clean is None:  # every key and value already clean
            clean = dict(mapping.items())  # type: ignore[union-attr]
        for key in [k for k, v in clean.items() if isinstance(v, (dict, bytes))]:  # metrics take no maps or bytes
            del clean[key]
            dropped.append((key, "invalid_attribute_value"))
        for key, reason in dropped:
            _report(self.name, reason, f"attribute {key!r}", attribute=True)
        scrubbed = third.scrubber.scrub_attributes(clean) if third.scrubber is not None and clean else None
        if scrubbed is not None:
            clean = scrubbed
        for label, value in third.common.items():
            clean.setdefault(label, value)
        series = frozenset(clean.items())
        if series not in self._series:
            with self._lock:
                if series not in self._series:
                    if len(self._series) >= third.limit:
                        _report(self.name, "cardinality_limit", f"limit {third.limit}")
                        return None
                    self._series.add(series)
        return clean

    def record(self, amount: object, attributes: object, context: object) -> None:
        number = self.value(amount)
        if number is None or self.record_sdk is None:
            return
        admitted = self.attributes(attributes)
        if admitted is None:
            return
        self.record_sdk(number, admitted, context)

    def observations(self, observations: object) -> list[Observation]:
        """An observable callback's result, admitted point by point."""
        out: list[Observation] = []
        if observations is None:
            return out
        if not isinstance(observations, Iterable):
            _report(self.name, "unreadable_result", type(observations).__name__)
            return out
        for index, observation in enumerate(observations):
            if index >= self.third.limit:
                _report(self.name, "cardinality_limit", f"limit {self.third.limit}")
                break
            if not isinstance(observation, Observation):
                _report(self.name, "unreadable_result", type(observation).__name__)
                continue
            number = self.value(observation.value)
            if number is None:
                continue
            admitted = self.attributes(observation.attributes)
            if admitted is not None:
                out.append(Observation(number, admitted, observation.context))
        return out


_MISSING = object()


class ThirdPartyMetrics:
    """One configuration's door for third-party instruments: its SDK MeterProvider, the allow-list, the limit, the
    scrubber and the common labels. Built by the runtime when ``third_party_metrics`` is on; see the module
    docstring for what is admitted."""

    def __init__(
        self,
        meter_provider: Any,
        allow: Sequence[str],
        limit: int,
        scrubber: Any = None,
        common: Mapping[str, str] | None = None,
    ) -> None:
        self.meter_provider = meter_provider
        self.allow = tuple(allow)
        self.limit = limit
        self.scrubber = scrubber
        self.common = {k: v for k, v in (common or {}).items() if k in COMMON_LABELS}
        self._lock = threading.Lock()
        self._targets: dict[tuple[Any, ...], _Target | None] = {}
        #: Prometheus family name → (kind, unit, description) of the third-party instrument that owns it.
        self._families: dict[str, tuple[str, str, str]] = {}
        self._allowed: dict[str, bool] = {}

    def allowed(self, name: str) -> bool:
        """Whether instrument ``name`` matches a glob of the allow-list (cached, bounded)."""
        hit = self._allowed.get(name)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(name, glob) for glob in self.allow)
            if len(self._allowed) < 4 * MAX_INSTRUMENTS:
                self._allowed[name] = hit
        return hit

    def target(self, scope: tuple[Any, ...], kind: str, name: str, unit: str, description: str, extra: Any) -> Any:
        """The admission target of one instrument (shared by every proxy with the same identity), or None."""
        key = (scope, kind, name, unit, description)
        found = self._targets.get(key, _MISSING)
        if found is not _MISSING:
            return found
        with self._lock:
            found = self._targets.get(key, _MISSING)
            if found is not _MISSING:
                return found
            target = self._create(scope, kind, name, unit, description, extra)
            if target is not None or len(self._targets) < 4 * MAX_INSTRUMENTS:
                self._targets[key] = target
            return target

    def _create(self, scope: tuple[Any, ...], kind: str, name: str, unit: str, description: str, extra: Any) -> Any:
        if not self.allowed(name):
            return None  # not asked for: a no-op, nothing to count
        scope_name = scope[0]
        if scope_name == _RESERVED_SCOPE or scope_name.startswith(_RESERVED_SCOPE + "."):
            _report(name, "wrong_kind", f"third-party instrument in the reserved scope {scope_name!r}")
            return None
        if sum(1 for t in self._targets.values() if t is not None) >= MAX_INSTRUMENTS:
            _report(name, "cardinality_limit", f"more than {MAX_INSTRUMENTS} third-party instruments")
            return None
        problem = self._claim_names(kind, name, unit, description)
        if problem is not None:
            _report(name, "wrong_kind", problem)
            return None
        try:
            meter = self._sdk_meter(scope)
            if kind in ("observable_counter", "observable_gauge", "observable_updown_counter"):
                target = _Target(self, name, kind, None)
                factory = {
                    "observable_counter": meter.create_observable_counter,
                    "observable_gauge": meter.create_observable_gauge,
                    "observable_updown_counter": meter.create_observable_up_down_counter,
                }[kind]
                factory(name, callbacks=[target.collect], unit=unit, description=description)
                return target
            if kind == "histogram":
                advisory = extra if isinstance(extra, Sequence) and not isinstance(extra, (str, bytes)) else None
                instrument = meter.create_histogram(
                    name, unit=unit, description=description, explicit_bucket_boundaries_advisory=advisory
                )
                return _Target(self, name, kind, instrument.record)
            factory = {
                "counter": meter.create_counter,
                "updown_counter": meter.create_up_down_counter,
                "gauge": meter.create_gauge,
            }[kind]
            instrument = factory(name, unit=unit, description=description)
            return _Target(self, name, kind, instrument.add if kind != "gauge" else instrument.set)
        except Exception as exc:
            _report(name, "internal_error", f"third-party instrument: {type(exc).__name__}")
            return None

    def _sdk_meter(self, scope: tuple[Any, ...]) -> Any:
        name, version, schema_url, attributes = scope
        try:
            return self.meter_provider.get_meter(name, version, schema_url, attributes)
        except Exception:  # hostile scope attributes
            return self.meter_provider.get_meter(name, version, schema_url)

    def _claim_names(self, kind: str, name: str, unit: str, description: str) -> str | None:
        """Reserve the instrument's Prometheus names; what collides, or None."""
        from lukhas_obs.catalog import catalogs
        from lukhas_obs.catalog.kinds import KINDS
        from lukhas_obs.catalog.naming import family_name, prometheus_name

        family = family_name(name, unit, kind)
        identity = (kind, unit, description)
        owner = self._families.get(family)
        if owner is not None:
            return None if owner == identity else f"{family!r} is already used by another third-party instrument"
        samples = set(KINDS[kind].sample_names(prometheus_name(name, unit, kind))) | {family}
        for catalog in catalogs():
            taken = catalog.sample_owners()
            clash = sorted(samples & (set(taken) | {m.name for m in catalog.metrics}))
            if clash:
                return f"{clash[0]!r} is a metric of catalog {catalog.name!r}"
        if family == "target_info":
            return "target_info is reserved"
        self._families[family] = identity
        return None


# ---------------------------------------------------------------------------------------------------- switching


def _active_third_party() -> ThirdPartyMetrics | None:
    telemetry = _state.current.telemetry
    return getattr(telemetry, "third_party", None) if telemetry is not None else None


class _Proxy:
    """What a third-party ``create_*`` returns: resolves its target in the active configuration, never raises."""

    _kind = ""

    def __init__(self, meter: _SwitchingMeter, name: Any, unit: Any, description: Any, extra: Any = None) -> None:
        self._scope = meter._scope
        self._name = _text(name, 255) or ""
        self._unit = _text(unit, 63) or ""
        self._description = _text(description, 1024) or ""
        self._extra = extra
        self._seen: object = None
        self._target: _Target | None = None

    def _resolve(self) -> _Target | None:
        state = _state.current
        if self._seen is not state:
            third = _active_third_party()
            target = None
            if third is not None and self._name:
                target = third.target(self._scope, self._kind, self._name, self._unit, self._description, self._extra)
            self._target = target
            self._seen = state
            if target is not None:
                self._attach(target)
        return self._target

    def _attach(self, target: _Target) -> None:
        """A new target for this proxy (observables register as its source)."""

    def _measure(self, amount: object, attributes: object, context: object) -> None:
        try:
            target = self._resolve()
            if target is not None:
                target.record(amount, attributes, context)
        except Exception as exc:
            _report(self._name or "third_party", "internal_error", type(exc).__name__)


class _Counter(_Proxy, otel_metrics.Counter):
    _kind = "counter"

    def add(self, amount: Any, attributes: Any = None, context: Any = None, *args: Any, **kwargs: Any) -> None:
        self._measure(amount, attributes, context)


class _UpDownCounter(_Proxy, otel_metrics.UpDownCounter):
    _kind = "updown_counter"

    def add(self, amount: Any, attributes: Any = None, context: Any = None, *args: Any, **kwargs: Any) -> None:
        self._measure(amount, attributes, context)


class _Histogram(_Proxy, otel_metrics.Histogram):
    _kind = "histogram"

    def record(self, amount: Any, attributes: Any = None, context: Any = None, *args: Any, **kwargs: Any) -> None:
        self._measure(amount, attributes, context)


class _Gauge(_Proxy, otel_metrics._Gauge):
    _kind = "gauge"

    def set(self, amount: Any, attributes: Any = None, context: Any = None, *args: Any, **kwargs: Any) -> None:
        self._measure(amount, attributes, context)


#: Every third-party observable instrument, held strongly (see ``_Target.sources``) and bounded.
_observables: list[_Observable] = []
_observables_lock = threading.Lock()
#: Observable instruments kept per process, and callers feeding one instrument.
MAX_OBSERVABLES = 4 * MAX_INSTRUMENTS
MAX_SOURCES = 64


class _Observable(_Proxy):
    """An observable instrument: registered (with a guarded callback) in each configuration that admits it."""

    def __init__(self, meter: _SwitchingMeter, name: Any, callbacks: Any, unit: Any, description: Any) -> None:
        try:
            self.callbacks = [cb for cb in list(callbacks or ())[:64] if callable(cb) or hasattr(cb, "send")]
        except Exception:
            self.callbacks = []
        super().__init__(meter, name, unit, description)
        self._bound: ThirdPartyMetrics | None = None
        with _observables_lock:
            kept = len(_observables) < MAX_OBSERVABLES
            if kept:
                _observables.append(self)
        if not kept:
            _report(self._name or "third_party", "cardinality_limit", f"more than {MAX_OBSERVABLES} observables")
            self.callbacks = []
        self.bind()

    def bind(self) -> None:
        """Register in the active configuration (once per configuration); called on creation and by configure."""
        try:
            third = _active_third_party()
            if third is not None and third is not self._bound:
                self._bound = third
                self._seen = None
                self._resolve()
        except Exception as exc:  # pragma: no cover - _resolve never raises for valid scopes
            _report(self._name or "third_party", "internal_error", type(exc).__name__)

    def _attach(self, target: _Target) -> None:
        if self not in target.sources:
            if len(target.sources) >= MAX_SOURCES:
                _report(self._name, "cardinality_limit", f"more than {MAX_SOURCES} observables of one name")
                return
            target.sources.append(self)


class _ObservableCounter(_Observable, otel_metrics.ObservableCounter):
    _kind = "observable_counter"


class _ObservableGauge(_Observable, otel_metrics.ObservableGauge):
    _kind = "observable_gauge"


class _ObservableUpDownCounter(_Observable, otel_metrics.ObservableUpDownCounter):
    _kind = "observable_updown_counter"


class _SwitchingMeter(otel_metrics.Meter):
    """A meter of the switching provider; its instruments follow the active configuration."""

    def __init__(self, name: Any, version: Any = None, schema_url: Any = None, attributes: Any = None) -> None:
        scope_name = _text(name, 255) or "unknown"
        scope_version = _text(version, 255) if version is not None else None
        scope_schema = _text(schema_url, 1024) if schema_url is not None else None
        super().__init__(scope_name, scope_version, scope_schema)
        try:
            scope_attributes = dict(attributes) if isinstance(attributes, Mapping) else None
            if scope_attributes is not None:
                hash(frozenset(scope_attributes.items()))
        except Exception:
            scope_attributes = None
        self._scope = (scope_name, scope_version, scope_schema, scope_attributes)

    def create_counter(self, name: str, unit: str = "", description: str = "") -> otel_metrics.Counter:
        return _Counter(self, name, unit, description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> otel_metrics.UpDownCounter:
        return _UpDownCounter(self, name, unit, description)

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> otel_metrics.Histogram:
        advisory = _advisory(explicit_bucket_boundaries_advisory)
        return _Histogram(self, name, unit, description, extra=advisory)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        return _Gauge(self, name, unit, description)

    def create_observable_counter(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> otel_metrics.ObservableCounter:
        return _ObservableCounter(self, name, callbacks, unit, description)

    def create_observable_gauge(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> otel_metrics.ObservableGauge:
        return _ObservableGauge(self, name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> otel_metrics.ObservableUpDownCounter:
        return _ObservableUpDownCounter(self, name, callbacks, unit, description)


def _advisory(boundaries: object) -> tuple[float, ...] | None:
    """Explicit bucket boundaries advice as finite, strictly increasing floats, or None (the SDK's defaults)."""
    if boundaries is None:
        return None
    try:
        values = tuple(float(b) for b in list(boundaries)[:256])  # type: ignore[call-overload]
    except Exception:
        return None
    if not all(math.isfinite(v) for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        return None
    return values


class SwitchingMeterProvider(otel_metrics.MeterProvider):
    """The process-global MeterProvider lukhas-obs sets when ``third_party_metrics`` is on; see the module docstring.

    Meters are cached by scope (bounded by :data:`MAX_METERS`: past it, meters are made afresh each time).
    """

    def __init__(self) -> None:
        self._meters: dict[tuple[Any, ...], _SwitchingMeter] = {}
        self._lock = threading.Lock()

    def get_meter(
        self, name: str, version: str | None = None, schema_url: str | None = None, attributes: Any = None
    ) -> otel_metrics.Meter:
        try:
            key = (name, version, schema_url) if attributes is None else None
            if key is not None:
                hash(key)
                found = self._meters.get(key)
                if found is not None:
                    return found
            meter = _SwitchingMeter(name, version, schema_url, attributes)
            if key is not None:
                with self._lock:
                    if len(self._meters) < MAX_METERS:
                        self._meters.setdefault(key, meter)
            return meter
        except Exception as exc:
            _report("third_party", "internal_error", f"get_meter: {type(exc).__name__}")
            return otel_metrics.NoOpMeter("unknown")


#: The provider :func:`install_global_meter_provider` sets as the OTel global.
global_meter_provider = SwitchingMeterProvider()
_installed = False
_install_lock = threading.Lock()


def install_global_meter_provider() -> bool:
    """Make :data:`global_meter_provider` the OTel global MeterProvider (once per process); False when the
    application had already set another one (left in place, said once)."""
    global _installed
    with _install_lock:
        if _installed:
            return otel_metrics.get_meter_provider() is global_meter_provider
        _installed = True
        current = otel_metrics.get_meter_provider()
        if current is global_meter_provider:
            return True
        if type(current).__name__ == "_ProxyMeterProvider":
            otel_metrics.set_meter_provider(global_meter_provider)
            return True
    _log.info(
        "lukhas_obs: a global MeterProvider is already set (%s); third-party metrics keep going there, not to "
        "lukhas-obs' /metrics",
        type(current).__name__,
    )
    return False


def bind_observables() -> None:
    """Register every live third-party observable instrument in the active configuration (the runtime calls it on
    each configure, so callbacks registered before a reconfiguration keep reporting)."""
    with _observables_lock:
        live = list(_observables)
    for observable in live:
        observable.bind()
