"""prometheus_client's metric classes on lukhas-obs: migrate a metrics module by changing its import line.

A module written against prometheus_client keeps its definitions and its calls::

    # from prometheus_client import Counter, Gauge, Histogram, Info
    from lukhas_obs.prometheus_compat import Counter, Gauge, Histogram, Info

    calls = Counter("luna_mcp_tool_calls_total", "Total number of MCP tool calls", ["tool_name", "status"])
    calls.labels(tool_name="phi", status="success").inc()

Each definition is bound to its catalog entry, found through lukhas-obs' public API (``lukhas_obs.metric(name)``,
``lukhas_obs.counter(...)``, ...): register the catalog (``lukhas_obs.register_yaml(path)``; write it with
``lukhas-obs catalog import MODULE``) *before* the module is imported. Recording goes through lukhas-obs handles
(children are bound handles, ``handle.bind(**labels)``), so the values reach ``/metrics`` *and* OTLP, OTel-first.

Definitions are checked against the catalog and a disagreement raises :class:`DefinitionError` (a ``ValueError``,
like prometheus_client's own definition errors, at import time) naming the metric, the field, the catalog's value and
the given one: the kind, the label names, the bucket boundaries, and the name as prometheus_client composes it from
``namespace``/``subsystem``/``name``/``unit`` (a Counter's ``_total`` may be given or not, as prometheus_client
accepts). A name no registered catalog has raises with how to generate the catalog.

Recording never raises (lukhas-obs handles never do): where prometheus_client raises at run time — a negative
increment, ``labels()`` with wrong names or a label value whose ``str()`` raises, ``inc()`` on a parent that needs
label values — the measurement is dropped, warned about once and counted in
``lukhas_obs_dropped_measurements_total`` (:mod:`lukhas_obs.drops`).

What exists, and how it maps:

* ``Counter`` → catalog ``kind: counter``: ``inc``, ``count_exceptions``, ``labels``.
* ``Gauge`` → ``kind: gauge`` (``set``/``inc``/``dec``, ``time``, ``track_inprogress``, ``set_to_current_time``);
  ``set_function`` needs ``kind: observable_gauge`` (read at collection time; the other methods are then no-ops,
  as in prometheus_client after ``set_function``).
* ``Histogram`` → ``kind: histogram`` with the same boundaries: ``observe``, ``time``.
* ``Summary`` → a catalog ``histogram`` (``catalog import --summary-buckets``): the family's ``# TYPE`` becomes
  histogram, ``_bucket`` series are new, ``_sum``/``_count`` keep their names.
* ``Info`` → ``kind: info`` named ``<name>_info``: ``info(dict)``; no labelnames.
* ``Enum`` → refused at construction (declare a gauge per state, or an info).
* ``remove``/``remove_by_labels``/``clear``: the OTel model cannot delete a series; the child is forgotten, the
  series stays with its last value (warned once, counted). ``Counter.reset``: likewise.
* ``describe()``/``collect()``: prometheus_client ``Metric`` families read from lukhas-obs' exposition.
* ``registry=``, ``CollectorRegistry``, ``REGISTRY``: accepted and ignored (lukhas-obs serves every metric);
  ``register()`` of a custom collector is refused; ``collect()`` and ``get_sample_value()`` read the exposition.
* ``generate_latest(registry=None)``: lukhas-obs' exposition (:func:`lukhas_obs.render_exposition`), text 0.0.4;
  ``CONTENT_TYPE_LATEST`` says so (prometheus_client 0.26 says ``version=1.0.0``).
* ``start_http_server(port, addr)``/``start_wsgi_server``: ``lukhas_obs.configure(prometheus_port=port,
  prometheus_host=addr)``; ``addr`` defaults to lukhas-obs' host (127.0.0.1), not ``0.0.0.0``.
* ``make_wsgi_app``/``make_asgi_app``: :func:`lukhas_obs.metrics_wsgi_app` / :func:`lukhas_obs.metrics_asgi_app`.
* ``disable_created_metrics``/``enable_created_metrics``: no-ops (no ``_created`` series are written).
* ``PROCESS_COLLECTOR``/``PLATFORM_COLLECTOR``/``GC_COLLECTOR``: inert placeholders
  (``REGISTRY.unregister(PROCESS_COLLECTOR)`` works); no ``process_*``/``python_*`` families are exported.

Refused at import (``from lukhas_obs.prometheus_compat import X`` raises ImportError saying what to use instead):
:data:`REFUSED_NAMES` (``push_to_gateway``, ``write_to_textfile``, ``Metric``, ``ProcessCollector``, ...).

Label values are ``str()``-ed like prometheus_client does (``labels(5)`` and ``labels("5")`` are one child,
``True`` is ``"True"``), then admitted by lukhas-obs: at most 256 characters, lone surrogates replaced by U+FFFD
(prometheus_client keeps them and every later scrape fails to encode), secret-shaped text scrubbed unless the
catalog declares the label ``secret: false``. A value whose ``str()`` raises (or an int too large for ``str()``)
gives a child whose measurements are dropped and counted, where prometheus_client raises from ``labels()``.
Amounts are converted with ``float()`` as prometheus_client does; NaN and infinities are dropped (prometheus_client
exports them), negative counter increments and histogram observations are dropped.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs.errors import ConfigurationError
from lukhas_obs.exporters.prometheus import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from lukhas_obs.instruments import MAX_ATTRIBUTE_LENGTH

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CONTENT_TYPE_PLAIN_0_0_4",
    "GC_COLLECTOR",
    "MAX_CHILDREN",
    "MAX_LABEL_LENGTH",
    "PLATFORM_COLLECTOR",
    "PROCESS_COLLECTOR",
    "REFUSED_NAMES",
    "REGISTRY",
    "CollectorRegistry",
    "Counter",
    "DefinitionError",
    "Enum",
    "Gauge",
    "Histogram",
    "Info",
    "Summary",
    "disable_created_metrics",
    "enable_created_metrics",
    "generate_latest",
    "make_asgi_app",
    "make_wsgi_app",
    "start_http_server",
    "start_wsgi_server",
]

_log = logging.getLogger("lukhas_obs")

F = TypeVar("F", bound=Callable[..., Any])

INF = float("inf")
#: Longest label value kept (lukhas-obs records at most this many characters of an attribute value).
MAX_LABEL_LENGTH = MAX_ATTRIBUTE_LENGTH
#: Children (label value tuples) remembered per labelled metric; further ones are built on each ``labels()`` call
#: (lukhas-obs' cardinality limit bounds the series anyway).
MAX_CHILDREN = 10_000
#: The body ``generate_latest`` returns is Prometheus text 0.0.4.
CONTENT_TYPE_PLAIN_0_0_4 = TEXT_CONTENT_TYPE
#: The content type of :func:`generate_latest`'s body (prometheus_client 0.26 says ``version=1.0.0``; the bytes are
#: the same for the legacy names a catalog holds, but 0.0.4 is what lukhas-obs writes).
CONTENT_TYPE_LATEST = TEXT_CONTENT_TYPE

#: The clock of ``time()`` (prometheus_client's ``default_timer``); tests replace it for deterministic durations.
_clock: Callable[[], float] = time.perf_counter

#: Longest text of a definition quoted in an error message.
_SHOWN = 120
#: Names (metric names whose documentation differs from the catalog's) warned about, bounded.
_doc_warned: set[str] = set()
_MAX_DOC_WARNED = 1000


class DefinitionError(ValueError):
    """A prometheus_client definition lukhas-obs cannot serve as written (raised at definition, like the ValueErrors
    prometheus_client raises there).

    ``metric`` is the catalog name the definition composes (``luna_mcp_tool_calls_total``), ``field`` what disagrees
    (``kind``, ``labelnames``, ``buckets``, ``name``, ...), ``catalog_value`` and ``given`` the two sides as shown.
    """

    def __init__(
        self,
        message: str,
        *,
        metric: str = "",
        field: str = "",
        catalog_value: str | None = None,
        given: str | None = None,
    ) -> None:
        self.metric = metric
        self.field = field
        self.catalog_value = catalog_value
        self.given = given
        super().__init__(f"prometheus_compat: {message}")


def _shown(value: object) -> str:
    """A bounded, safe rendering of part of a definition for an error message (never calls a user's dunders)."""
    if isinstance(value, str):
        text = str.__str__(value)
        return repr(text[:_SHOWN]) + ("…" if len(text) > _SHOWN else "")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value)) if int.bit_length(value) <= 64 else f"<int of {int.bit_length(value)} bits>"
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, (list, tuple)):
        items = [_shown(item) for item in list(value)[:20]]
        return "[" + ", ".join(items) + (", …" if len(value) > 20 else "") + "]"
    return f"<{type(value).__name__}>"


# ------------------------------------------------------------------------------------------------ definitions


def _full_name(metric_type: str, name: str, namespace: str, subsystem: str, unit: str) -> str:
    """The metric name exactly as prometheus_client's ``_build_full_name`` composes it."""
    if not name:
        raise DefinitionError("metric name should not be empty", field="name")
    full = ""
    if namespace:
        full += namespace + "_"
    if subsystem:
        full += subsystem + "_"
    full += name
    if metric_type == "counter" and full.endswith("_total"):
        full = full[: -len("_total")]
    if unit and not full.endswith("_" + unit):
        full += "_" + unit
    if unit and metric_type in ("info", "stateset"):
        raise DefinitionError(
            f"{_shown(full)}: an {metric_type} cannot have a unit (prometheus_client refuses it too)",
            metric=full,
            field="unit",
            given=_shown(unit),
        )
    return full


def _text_argument(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DefinitionError(f"{what} must be a string, got {_shown(value)}", field=what, given=_shown(value))
    return str.__str__(value)


def _caller_module() -> str:
    """The file (relative to the working directory when inside it) or module defining the metric, for the
    ``catalog import`` hint; never raises."""
    try:
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") == __name__:
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return "MODULE"
        path = frame.f_globals.get("__file__")
        if isinstance(path, str) and path.endswith(".py"):
            with contextlib.suppress(ValueError):
                return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
            return path
        name = frame.f_globals.get("__name__")
        return name if isinstance(name, str) and name != "__main__" else "MODULE"
    except Exception:
        return "MODULE"


def _lookup(cls_name: str, catalog_name: str, kinds: tuple[str, ...], given_name: str) -> Any:
    """The lukhas-obs handle of ``catalog_name``; DefinitionError when unknown or of another kind."""
    try:
        handle = lukhas_obs.metric(catalog_name)
    except KeyError:
        module = _caller_module()
        known = [m.name for c in lukhas_obs.catalogs() for m in c.metrics]
        close = difflib.get_close_matches(catalog_name, known, n=3, cutoff=0.75)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise DefinitionError(
            f"{cls_name}({_shown(given_name)}) is served as {catalog_name!r}, which no registered catalog declares"
            f"{hint}. Generate the catalog with `lukhas-obs catalog import {module} --out catalog.yaml` and register "
            "it with lukhas_obs.register_yaml('catalog.yaml') before this module is imported",
            metric=catalog_name,
            field="name",
            given=_shown(given_name),
        ) from None
    spec = handle.spec
    if spec.kind not in kinds:
        wanted = " or ".join(kinds)
        raise DefinitionError(
            f"{cls_name} {catalog_name!r} disagrees with catalog {spec.catalog!r}: kind: the catalog declares "
            f"{spec.kind!r}, a {cls_name} needs {wanted}",
            metric=catalog_name,
            field="kind",
            catalog_value=spec.kind,
            given=cls_name,
        )
    return handle


def _labels_of(cls_name: str, spec: Any, labelnames: tuple[str, ...]) -> tuple[str, ...]:
    """The attribute key of each label name (the catalog's label → key); DefinitionError when the sets differ."""
    by_label = {a.label: a.key for a in spec.attributes}
    if len(set(labelnames)) != len(labelnames) or set(labelnames) != set(by_label):
        catalog_side = sorted(by_label)
        raise DefinitionError(
            f"{cls_name} {spec.name!r} disagrees with catalog {spec.catalog!r}: labelnames: the catalog has "
            f"{_shown(catalog_side)}, the definition gives {_shown(list(labelnames))}",
            metric=spec.name,
            field="labelnames",
            catalog_value=_shown(catalog_side),
            given=_shown(list(labelnames)),
        )
    return tuple(by_label[label] for label in labelnames)


def _warn_documentation(spec: Any, documentation: object) -> None:
    """The catalog's description is what is exported; say so once when the definition's HELP differs."""
    if documentation == spec.description or spec.name in _doc_warned or len(_doc_warned) >= _MAX_DOC_WARNED:
        return
    _doc_warned.add(spec.name)
    _log.warning(
        "lukhas_obs.prometheus_compat: %s: the definition's documentation differs from catalog %r's description; "
        "the catalog's is exported (HELP)",
        spec.name,
        spec.catalog,
    )


# ------------------------------------------------------------------------------------------- value conversion


def _label_text(value: object) -> str | None:
    """A label value as prometheus_client makes it (``str(value)``), cut to the length lukhas-obs records
    (:data:`MAX_LABEL_LENGTH`: a child's key never holds more), or None when ``str()`` fails. Never raises.

    A ``str`` subclass contributes its characters (its own ``__str__`` is not called).
    """
    if type(value) is str:
        return value if len(value) <= MAX_LABEL_LENGTH else value[:MAX_LABEL_LENGTH]
    try:
        if isinstance(value, str):
            text = str.__str__(value)
        else:
            text = str(value)
            if type(text) is not str:
                text = str.__str__(text)
        return text if len(text) <= MAX_LABEL_LENGTH else text[:MAX_LABEL_LENGTH]
    except Exception:
        return None


def _number(value: object) -> object:
    """``float(value)`` as prometheus_client converts amounts; the value itself when that fails (the handle then
    drops and counts it). Never raises."""
    if type(value) is float:
        return value
    try:
        return float(value)  # type: ignore[arg-type]
    except Exception:
        return value


#: The drop reasons of this module, and the reason of ``lukhas_obs_dropped_measurements_total`` each is counted
#: under while the self-telemetry catalog does not enumerate it (its ``reason`` label folds unknown values).
_FALLBACK_REASONS = {
    "missing_label_values": "unknown_attribute",
    "incorrect_labels": "unknown_attribute",
    "labels_on_child": "unknown_attribute",
    "labels_without_labelnames": "unknown_attribute",
    "invalid_label_value": "invalid_attribute_value",
    "invalid_info_value": "invalid_attribute_value",
    "set_on_observable_gauge": "wrong_kind",
    "set_function_error": "callback_error",
    "remove_unsupported": "wrong_kind",
    "reset_unsupported": "wrong_kind",
}
_counted_reasons: frozenset[str] | None = None


def _reason(reason: str) -> str:
    """The reason ``reason`` is counted under: itself once the self-telemetry catalog lists it, else its fallback."""
    global _counted_reasons
    if _counted_reasons is None:
        try:
            spec = lukhas_obs.metric(drops.DROPPED_MEASUREMENTS).spec.attribute("reason")
            _counted_reasons = frozenset(spec.values or ()) if spec is not None else frozenset()
        except Exception:
            _counted_reasons = frozenset()
    if reason in _counted_reasons or reason not in _FALLBACK_REASONS:
        return reason
    return _FALLBACK_REASONS[reason]


def _report(metric: str, reason: str, detail: str = "") -> None:
    """Drop one measurement (warned once per metric and reason, counted); ``detail`` names what, never a value."""
    counted = _reason(reason)
    drops.report(metric, counted, detail if counted == reason else f"{reason}: {detail}" if detail else reason)


class _Refused:
    """A stand-in for a bound handle whose measurements are all dropped for one reason (warned once, counted)."""

    __slots__ = ("_detail", "_metric", "_reason")

    def __init__(self, metric: str, reason: str, detail: str = "") -> None:
        self._metric = metric
        self._reason = reason
        self._detail = detail

    def _drop(self, *args: object, **kwargs: object) -> None:
        _report(self._metric, self._reason, self._detail)

    add = record = set = inc = dec = info = _drop


# --------------------------------------------------------------------------------------- context managers


def _decorate(f: F, make: Callable[[], Any]) -> F:
    """``f`` wrapped in a fresh context manager from ``make()`` per call; coroutine functions stay coroutine
    functions (the manager spans the awaited execution, where prometheus_client times only the coroutine's
    creation)."""
    if not callable(f):
        raise TypeError(f"prometheus_compat: a decorator needs a function, got {_shown(f)}")
    if inspect.iscoroutinefunction(f):

        @functools.wraps(f)
        async def awaiting(*args: Any, **kwargs: Any) -> Any:
            with make():
                return await f(*args, **kwargs)

        return awaiting  # type: ignore[return-value]

    @functools.wraps(f)
    def calling(*args: Any, **kwargs: Any) -> Any:
        with make():
            return f(*args, **kwargs)

    return calling  # type: ignore[return-value]


class Timer:
    """``metric.time()``: a context manager (sync and ``async with``) and a decorator (sync and async functions)
    recording the elapsed seconds into the metric (``observe`` of a histogram/summary, ``set`` of a gauge).

    ``duration`` holds the last duration; ``labels(...)`` inside the block picks the child, as in prometheus_client.
    Never raises: a failure to record is counted, the block's own exception propagates unchanged.
    """

    __slots__ = ("_method", "_metric", "_start", "duration")

    def __init__(self, metric: Any, method: str) -> None:
        self._metric = metric
        self._method = method
        self._start = 0.0
        self.duration: float | None = None

    def _new_timer(self) -> Timer:
        return Timer(self._metric, self._method)

    def __enter__(self) -> Timer:
        self._start = _clock()
        return self

    def __exit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self.duration = max(_clock() - self._start, 0)
            getattr(self._metric, self._method)(self.duration)
        except Exception as exc:  # a clock or metric that misbehaves must not replace the block's outcome
            drops.report("prometheus_compat", "internal_error", type(exc).__name__)

    async def __aenter__(self) -> Timer:
        return self.__enter__()

    async def __aexit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(typ, value, traceback)

    def labels(self, *args: Any, **kw: Any) -> None:
        """Record into the child ``metric.labels(*args, **kw)`` (call it inside the block)."""
        self._metric = self._metric.labels(*args, **kw)

    def __call__(self, f: F) -> F:
        return _decorate(f, self._new_timer)


class ExceptionCounter:
    """``counter.count_exceptions(exception)``: counts exceptions of that type leaving the block, and lets them go."""

    __slots__ = ("_counter", "_exception")

    def __init__(self, counter: Counter, exception: type[BaseException] | tuple[type[BaseException], ...]) -> None:
        self._counter = counter
        self._exception = exception

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if value is not None and isinstance(value, self._exception):
            self._counter.inc()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(typ, value, traceback)

    def __call__(self, f: F) -> F:
        return _decorate(f, lambda: self)


class InprogressTracker:
    """``gauge.track_inprogress()``: +1 on entry, -1 on exit (decorator and context manager, sync and async)."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._gauge.dec()

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self, typ: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(typ, value, traceback)

    def __call__(self, f: F) -> F:
        return _decorate(f, lambda: self)


def _exception_types(exception: object) -> type[BaseException] | tuple[type[BaseException], ...]:
    def ok(item: object) -> bool:
        return isinstance(item, type) and issubclass(item, BaseException)

    if ok(exception) or (isinstance(exception, tuple) and exception and all(ok(e) for e in exception)):
        return exception  # type: ignore[return-value]
    raise TypeError(
        f"prometheus_compat: count_exceptions() takes an exception class or a tuple of them, got {_shown(exception)}"
    )


# -------------------------------------------------------------------------------------------------- metrics


class _MetricBase:
    """What every compat metric shares: the definition check, ``labels()``, children, ``describe``/``collect``.

    A parent with label names holds no series itself (its recording methods drop, as prometheus_client raises);
    ``labels(...)`` returns a child of the same class bound to the handle with those labels. An unlabelled metric is
    its own child.
    """

    #: prometheus_client's type word, and the catalog kinds a definition of this class may be bound to.
    _type = ""
    _kinds: tuple[str, ...] = ()
    _reserved_labelnames: tuple[str, ...] = ()

    __slots__ = (
        "_bound",
        "_children",
        "_documentation",
        "_handle",
        "_keys",
        "_labelnames",
        "_labelvalues",
        "_name",
        "_spec",
        "_unit",
    )

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[object] | None = None,
    ) -> None:
        cls_name = type(self).__name__
        name = _text_argument(name, "name")
        namespace = _text_argument(namespace, "namespace")
        subsystem = _text_argument(subsystem, "subsystem")
        unit = _text_argument(unit, "unit")
        if isinstance(labelnames, str):
            raise DefinitionError(
                f"{cls_name}({_shown(name)}): labelnames must be a list of label names, not one string",
                field="labelnames",
                given=_shown(labelnames),
            )
        names = tuple(labelnames)
        for label in names:
            if not isinstance(label, str):
                raise DefinitionError(
                    f"{cls_name}({_shown(name)}): label names must be strings, got {_shown(label)}",
                    field="labelnames",
                    given=_shown(label),
                )
            if label in self._reserved_labelnames:
                raise DefinitionError(
                    f"{cls_name}({_shown(name)}): label name {label!r} is reserved for a {self._type}",
                    field="labelnames",
                    given=_shown(label),
                )
        names = tuple(str.__str__(label) for label in names)
        self._name = _full_name(self._type, name, namespace, subsystem, unit)
        self._unit = unit
        self._documentation = documentation
        self._labelnames = names
        self._labelvalues: tuple[str, ...] = ()
        self._handle = _lookup(cls_name, self._catalog_name(), self._kinds, name)
        self._spec = self._handle.spec
        self._keys = self._label_keys(cls_name, self._spec, names)
        self._check(self._spec)
        _warn_documentation(self._spec, documentation)
        self._children: dict[tuple[str, ...], Any] | None = {} if names else None
        if names:
            self._bound: Any = _Refused(
                self._spec.name, "missing_label_values", f"call .labels({', '.join(names)}) first"
            )
        else:
            self._bound = self._bind({})
            self._initialise()
        if _labelvalues:
            self._become_child(tuple(_labelvalues))

    # -- hooks of the kinds

    def _catalog_name(self) -> str:
        """The catalog (Prometheus) name of this definition."""
        return self._name

    def _label_keys(self, cls_name: str, spec: Any, names: tuple[str, ...]) -> tuple[str, ...]:
        """The catalog attribute key of each label name; DefinitionError when the label sets differ."""
        return _labels_of(cls_name, spec, names)

    def _check(self, spec: Any) -> None:
        """Kind-specific agreement with the catalog (buckets); raises DefinitionError."""

    def _bind(self, attributes: dict[str, str]) -> Any:
        return self._handle.bind(**attributes)

    def _initialise(self) -> None:
        """prometheus_client shows a series at 0 as soon as it exists; emulate it where a handle can."""

    # -- children

    def _copy(self) -> Any:
        child = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(self, slot):
                    object.__setattr__(child, slot, getattr(self, slot))
        child._children = None
        return child

    def _become_child(self, raw: tuple[object, ...]) -> None:
        """Turn this object into the child of ``raw`` label values (the ``_labelvalues`` constructor argument)."""
        values = tuple(_label_text(v) for v in raw)
        self._children = None
        if len(values) != len(self._labelnames) or any(v is None for v in values):
            self._labelvalues = ("",) * len(self._labelnames)
            self._bound = _Refused(self._spec.name, "invalid_label_value", "a label value str() could not convert")
            return
        self._labelvalues = values  # type: ignore[assignment]
        self._bound = self._bind(dict(zip(self._keys, values, strict=True)))  # type: ignore[arg-type]
        self._initialise()

    def _refused_child(self, reason: str, detail: str = "") -> Any:
        child = self._copy()
        child._labelvalues = ("",) * max(1, len(self._labelnames))
        child._bound = _Refused(self._spec.name, reason, detail)
        return child

    def labels(self, *labelvalues: object, **labelkwargs: object) -> Any:
        """The child of these label values (positional in ``labelnames`` order, or by name). Never raises: a wrong
        call returns a child whose measurements are dropped, warned about once and counted."""
        try:
            names = self._labelnames
            if not names:
                return self._refused_child("labels_without_labelnames", "the metric has no label names")
            if self._labelvalues:
                return self._refused_child("labels_on_child", "labels() was called on a child")
            if labelvalues and labelkwargs:
                return self._refused_child("incorrect_labels", "both positional and keyword label values")
            if labelkwargs:
                if len(labelkwargs) != len(names) or any(n not in labelkwargs for n in names):
                    return self._refused_child("incorrect_labels", f"expected the labels {', '.join(names)}")
                raw: Sequence[object] = [labelkwargs[n] for n in names]
            else:
                if len(labelvalues) != len(names):
                    return self._refused_child("incorrect_labels", f"expected {len(names)} label value(s)")
                raw = labelvalues
            values = tuple(map(_label_text, raw))
            if None in values:
                return self._refused_child("invalid_label_value", "a label value str() could not convert")
            children = self._children
            assert children is not None
            child = children.get(values)  # type: ignore[arg-type]
            if child is None:
                child = self._copy()
                child._labelvalues = values
                child._bound = child._bind(dict(zip(self._keys, values, strict=True)))
                child._initialise()
                if len(children) < MAX_CHILDREN:
                    child = children.setdefault(values, child)  # type: ignore[arg-type]
            return child
        except Exception as exc:
            return self._refused_child("internal_error", type(exc).__name__)

    def remove(self, *labelvalues: object) -> None:
        """Forget the child of these label values. The OTel model cannot delete a series: it stays exported with its
        last value (warned once, counted as ``remove_unsupported``)."""
        try:
            if self._children is not None:
                key = tuple(_label_text(v) for v in labelvalues)
                self._children.pop(key, None)  # type: ignore[arg-type]  # a key holding None matches no child
        except Exception:
            pass
        _report(self._spec.name, "remove_unsupported", "the OTel model cannot delete a series; it stays")

    def remove_by_labels(self, labels: Mapping[str, object]) -> None:
        """Forget the children matching ``labels``; their series stay (see :meth:`remove`)."""
        try:
            wanted = {self._labelnames.index(k): _label_text(v) for k, v in dict(labels).items()}
            if self._children is not None:
                for values in list(self._children):
                    if all(values[i] == v for i, v in wanted.items()):
                        self._children.pop(values, None)
        except Exception:
            pass
        _report(self._spec.name, "remove_unsupported", "the OTel model cannot delete a series; it stays")

    def clear(self) -> None:
        """Forget every child; their series stay (see :meth:`remove`)."""
        if self._children:
            self._children.clear()
            _report(self._spec.name, "remove_unsupported", "the OTel model cannot delete a series; it stays")

    # -- introspection

    def describe(self) -> list[Any]:
        """prometheus_client's ``describe()``: one empty family of this metric's name, type, catalog HELP and unit."""
        from prometheus_client.metrics_core import Metric

        return [Metric(self._name, self._spec.description, self._type, self._unit)]

    def collect(self) -> list[Any]:
        """The family as lukhas-obs serves it now (a child: its own series), as prometheus_client ``Metric``s."""
        wanted = dict(zip(self._labelnames, self._labelvalues, strict=False))
        out = []
        for family in _families([self._spec.name]):
            if wanted:
                family.samples = [
                    s for s in family.samples if all(s.labels.get(k) == v for k, v in wanted.items())
                ]
            out.append(family)
        return out

    def _is_parent(self) -> bool:
        return bool(self._labelnames) and not self._labelvalues

    def _require_series(self, what: str) -> None:
        if self._is_parent():
            raise DefinitionError(
                f"{self._spec.name!r}: {what} needs label values: call .labels(...) first (prometheus_client "
                "refuses it too)",
                metric=self._spec.name,
                field="labelnames",
            )

    def __str__(self) -> str:
        return f"{self._type}:{self._name}"

    def __repr__(self) -> str:
        return f"{type(self).__module__}.{type(self).__name__}({self._name})"


class Counter(_MetricBase):
    """prometheus_client's ``Counter`` on a catalog ``counter`` (name given with or without ``_total``).

    ``inc(amount)`` (negative amounts are dropped and counted, where prometheus_client raises), ``labels()``,
    ``count_exceptions()``. ``reset()`` is not possible on a cumulative OTel counter (warned once, counted).
    """

    _type = "counter"
    _kinds = ("counter",)
    __slots__ = ()

    def _catalog_name(self) -> str:
        return self._name + "_total"

    def _initialise(self) -> None:
        self._bound.add(0.0)  # the series exists at 0, as prometheus_client's does

    def inc(self, amount: float = 1, exemplar: Mapping[str, str] | None = None) -> None:
        """Add ``amount`` (``exemplar`` is ignored: lukhas-obs attaches the active span as exemplar itself)."""
        self._bound.add(amount if type(amount) is float else _number(amount))

    def reset(self) -> None:
        """Not possible: a cumulative OTel counter never goes back to 0 (warned once, counted)."""
        _report(self._spec.name, "reset_unsupported", "a cumulative OTel counter cannot be reset")

    def count_exceptions(
        self, exception: type[BaseException] | tuple[type[BaseException], ...] = Exception
    ) -> ExceptionCounter:
        """Count exceptions of type ``exception`` leaving a block or function (decorator or context manager)."""
        self._require_series("count_exceptions()")
        return ExceptionCounter(self, _exception_types(exception))


#: prometheus_client's multiprocess modes (accepted and ignored: each process exports its own series over OTLP).
_MULTIPROCESS_MODES = frozenset(
    ("all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent")
)


class _Functions:
    """The ``set_function`` callables of one observable gauge: label values → (attribute keys, function), read by
    one callback the handle calls at each collection."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.entries: dict[tuple[str, ...], tuple[tuple[str, ...], Callable[[], float]]] = {}
        self.lock = threading.Lock()

    def __call__(self) -> list[tuple[float, dict[str, str]]]:
        with self.lock:
            entries = list(self.entries.items())
        out: list[tuple[float, dict[str, str]]] = []
        for values, (keys, function) in entries:
            try:
                value = float(function())
            except Exception as exc:  # prometheus_client fails the whole scrape here; lukhas-obs drops one series
                _report(self.metric, "set_function_error", type(exc).__name__)
                continue
            out.append((value, dict(zip(keys, values, strict=True))))
        return out


_functions: dict[str, _Functions] = {}
_functions_lock = threading.Lock()


class Gauge(_MetricBase):
    """prometheus_client's ``Gauge`` on a catalog ``gauge`` (``set``/``inc``/``dec``, ``time``,
    ``track_inprogress``, ``set_to_current_time``), or on an ``observable_gauge`` (``set_function``: read at
    collection time; the other methods are then no-ops, dropped and counted)."""

    _type = "gauge"
    _kinds = ("gauge", "observable_gauge")
    __slots__ = ()

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[object] | None = None,
        multiprocess_mode: str = "all",
    ) -> None:
        if multiprocess_mode not in _MULTIPROCESS_MODES:
            raise DefinitionError(
                f"Gauge({_shown(name)}): invalid multiprocess mode {_shown(multiprocess_mode)}",
                field="multiprocess_mode",
                given=_shown(multiprocess_mode),
            )
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)

    def _observable(self) -> bool:
        return bool(self._spec.kind == "observable_gauge")

    def _bind(self, attributes: dict[str, str]) -> Any:
        if self._observable():
            return _Refused(
                self._spec.name, "set_on_observable_gauge", "the catalog declares an observable_gauge: use set_function"
            )
        return self._handle.bind(**attributes)

    def _initialise(self) -> None:
        if not self._observable():
            self._bound.inc(0.0)  # present at 0 (or at its current value), as prometheus_client shows a new gauge

    def inc(self, amount: float = 1) -> None:
        """Raise the value by ``amount``."""
        self._bound.inc(amount if type(amount) is float else _number(amount))

    def dec(self, amount: float = 1) -> None:
        """Lower the value by ``amount``."""
        self._bound.dec(amount if type(amount) is float else _number(amount))

    def set(self, value: float) -> None:
        """Set the value (``float(value)``, as prometheus_client converts it)."""
        self._bound.set(value if type(value) is float else _number(value))

    def set_to_current_time(self) -> None:
        """Set the value to the current Unix time."""
        self.set(time.time())

    def track_inprogress(self) -> InprogressTracker:
        """+1 while a block or function runs (decorator or context manager, sync and async)."""
        self._require_series("track_inprogress()")
        return InprogressTracker(self)

    def time(self) -> Timer:
        """Set the gauge to the duration of a block or function, in seconds."""
        return Timer(self, "set")

    def set_function(self, f: Callable[[], float]) -> None:
        """Read the value from ``f()`` at each collection. The catalog must declare the metric
        ``kind: observable_gauge`` (a ``gauge`` cannot be read at collection time: DefinitionError)."""
        if not callable(f):
            raise TypeError(f"prometheus_compat: set_function() takes a function, got {_shown(f)}")
        if not self._observable():
            raise DefinitionError(
                f"Gauge {self._spec.name!r}: set_function reads the value at collection time, so catalog "
                f"{self._spec.catalog!r} must declare it kind 'observable_gauge' (it declares {self._spec.kind!r})",
                metric=self._spec.name,
                field="kind",
                catalog_value=self._spec.kind,
                given="observable_gauge",
            )
        self._require_series("set_function()")
        name = self._spec.name
        with _functions_lock:
            table = _functions.get(name)
            if table is None:
                table = _functions[name] = _Functions(name)
                lukhas_obs.observable_gauge(name).observe(table)
        with table.lock:
            if self._labelvalues in table.entries or len(table.entries) < MAX_CHILDREN:
                table.entries[self._labelvalues] = (self._keys, f)
                return
        drops.report(name, "cardinality_limit", f"more than {MAX_CHILDREN} set_function series")


class Histogram(_MetricBase):
    """prometheus_client's ``Histogram`` on a catalog ``histogram`` with the same bucket boundaries."""

    _type = "histogram"
    _kinds = ("histogram",)
    _reserved_labelnames = ("le",)
    DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, INF)
    __slots__ = ("_upper_bounds",)

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[object] | None = None,
        buckets: Sequence[float | str] = DEFAULT_BUCKETS,
    ) -> None:
        self._upper_bounds = _buckets(name, buckets)
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues)

    def _check(self, spec: Any) -> None:
        given = self._upper_bounds[:-1]
        catalog_side = [float(b) for b in spec.buckets or ()]
        if given != catalog_side:
            raise DefinitionError(
                f"Histogram {spec.name!r} disagrees with catalog {spec.catalog!r}: buckets: the catalog has "
                f"{_shown(catalog_side)}, the definition gives {_shown(given)} (+Inf is implied on both sides)",
                metric=spec.name,
                field="buckets",
                catalog_value=_shown(catalog_side),
                given=_shown(given),
            )

    def observe(self, amount: float, exemplar: Mapping[str, str] | None = None) -> None:
        """Record one observation (negative ones are dropped and counted; ``exemplar`` is ignored)."""
        self._bound.record(amount if type(amount) is float else _number(amount))

    def time(self) -> Timer:
        """Observe the duration of a block or function, in seconds (decorator or context manager)."""
        return Timer(self, "observe")


def _buckets(name: object, source: object) -> list[float]:
    """prometheus_client's bucket preparation: floats, sorted, ``+Inf`` appended; DefinitionError otherwise."""
    try:
        bounds = [float(b) for b in source]  # type: ignore[attr-defined]
    except Exception:
        raise DefinitionError(
            f"Histogram({_shown(name)}): buckets must be numbers", field="buckets", given=_shown(source)
        ) from None
    if any(math.isnan(b) for b in bounds) or bounds != sorted(bounds):
        raise DefinitionError(
            f"Histogram({_shown(name)}): buckets not in sorted order", field="buckets", given=_shown(bounds)
        )
    if bounds and bounds[-1] != INF:
        bounds.append(INF)
    if len(bounds) < 2:
        raise DefinitionError(f"Histogram({_shown(name)}): must have at least two buckets", field="buckets")
    return bounds


class Summary(_MetricBase):
    """prometheus_client's ``Summary`` on a catalog *histogram* (``catalog import --summary-buckets``).

    OTel has no summary: ``observe`` records into the histogram; ``_sum`` and ``_count`` keep their names, the
    family's ``# TYPE`` is histogram and ``_bucket`` series are added (documented in docs/MIGRATION.md).
    """

    _type = "summary"
    _kinds = ("histogram",)
    _reserved_labelnames = ("quantile",)
    __slots__ = ()

    def observe(self, amount: float) -> None:
        """Record one observation."""
        self._bound.record(amount if type(amount) is float else _number(amount))

    def time(self) -> Timer:
        """Observe the duration of a block or function, in seconds."""
        return Timer(self, "observe")

    def describe(self) -> list[Any]:
        from prometheus_client.metrics_core import Metric

        return [Metric(self._name, self._spec.description, "histogram", self._unit)]


class Info(_MetricBase):
    """prometheus_client's ``Info`` on a catalog ``info`` named ``<name>_info``: ``info(dict)`` replaces the facts.

    Values are ``str()``-ed (prometheus_client stores them as given, and a non-string value breaks every scrape);
    a call with a ``None`` value, or a value ``str()`` cannot convert, is dropped and counted (prometheus_client
    raises). Keys the catalog does not declare are dropped and counted. A labelled Info is refused at definition.
    """

    _type = "info"
    _kinds = ("info",)
    __slots__ = ()

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[object] | None = None,
    ) -> None:
        names = () if isinstance(labelnames, str) else tuple(labelnames)
        if labelnames and (isinstance(labelnames, str) or names):
            raise DefinitionError(
                f"Info({_shown(name)}): an Info with labelnames is not supported (lukhas-obs keeps one set of facts "
                "per info metric); declare the labels as info keys, or use a gauge",
                field="labelnames",
                given=_shown(labelnames),
            )
        super().__init__(name, documentation, (), namespace, subsystem, unit, registry, None)

    def _catalog_name(self) -> str:
        return self._name + "_info"

    def _label_keys(self, cls_name: str, spec: Any, names: tuple[str, ...]) -> tuple[str, ...]:
        return ()  # the catalog's attributes of an info are the keys info() sets, not label names

    def _bind(self, attributes: dict[str, str]) -> Any:
        return self._handle

    def _initialise(self) -> None:
        self._handle.info({})  # a new Info has no facts: ``<name>_info 1.0`` without labels, as prometheus_client

    def info(self, val: Mapping[str, object]) -> None:
        """Replace the facts with ``val`` (keys are the catalog's attributes, values are made text)."""
        try:
            given: dict[str, str] = {}
            for key, value in dict(val).items():
                text = None if value is None else _label_text(value)
                if not isinstance(key, str) or text is None:
                    _report(self._spec.name, "invalid_info_value", "None or a value str() could not convert")
                    return
                given[str.__str__(key)] = text
        except Exception as exc:
            _report(self._spec.name, "invalid_info_value", type(exc).__name__)
            return
        self._handle.info(given)


class Enum:
    """Refused: prometheus_client's ``Enum`` (a stateset) has no OTel counterpart.

    Declare a gauge with a ``state`` label (1 for the current state, 0 for the others) or an ``info`` metric in the
    catalog, and record it with :func:`lukhas_obs.gauge` / :func:`lukhas_obs.info`.
    """

    def __init__(self, name: str, documentation: str, *args: object, **kwargs: object) -> None:
        raise DefinitionError(
            f"Enum({_shown(name)}) is not supported: OTel has no stateset. Declare a gauge with a state label "
            "(1 for the current state, 0 for the others) or an info metric in the catalog, and record it with "
            "lukhas_obs.gauge(...) / lukhas_obs.info(...)",
            field="kind",
            given="Enum",
        )


# ------------------------------------------------------------------------------------------- registry, serving


def _families(names: Iterable[str] | None) -> list[Any]:
    """lukhas-obs' exposition (OpenMetrics) as prometheus_client ``Metric`` families; [] when nothing is served."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    body, _ = lukhas_obs.render_exposition(OPENMETRICS_CONTENT_TYPE, names=names)
    try:
        return list(text_string_to_metric_families(body.decode("utf-8")))
    except Exception as exc:
        drops.report("prometheus_compat", "internal_error", type(exc).__name__)
        return []


class _DefaultCollector:
    """A placeholder for prometheus_client's process/platform/GC collectors (lukhas-obs exports none of them)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<prometheus_compat {self.name} collector placeholder>"

    def collect(self) -> list[Any]:
        return []


PROCESS_COLLECTOR = _DefaultCollector("process")
PLATFORM_COLLECTOR = _DefaultCollector("platform")
GC_COLLECTOR = _DefaultCollector("gc")


class CollectorRegistry:
    """Accepted where prometheus_client takes a registry, and ignored: lukhas-obs serves every metric itself.

    ``register`` accepts compat metrics (a no-op: they are registered in the catalog) and refuses custom collectors
    (their values come from code run at scrape time: declare an ``observable_gauge`` instead). ``collect()`` and
    ``get_sample_value()`` read lukhas-obs' current exposition, whatever registry they are called on.
    """

    def __init__(self, auto_describe: bool = False, target_info: Mapping[str, str] | None = None) -> None:
        if target_info:
            raise DefinitionError(
                "CollectorRegistry(target_info=...) is not supported: target_info carries lukhas-obs' resource; "
                "pass lukhas_obs.configure(resource_attributes={...})",
                field="target_info",
            )

    def register(self, collector: object) -> None:
        if isinstance(collector, (_MetricBase, _DefaultCollector)):
            return
        raise DefinitionError(
            f"registering the custom collector {_shown(collector)} is not supported: lukhas-obs serves catalog "
            "metrics only. Declare its metrics in the catalog (kind observable_gauge for values read at collection "
            "time) and record them with lukhas_obs handles",
            field="collector",
            given=_shown(collector),
        )

    def unregister(self, collector: object) -> None:
        return None

    def collect(self) -> Iterator[Any]:
        yield from _families(None)

    def get_sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of sample ``name`` with exactly ``labels`` in lukhas-obs' exposition, or None."""
        wanted = dict(labels or {})
        for family in self.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == wanted:
                    return float(sample.value)
        return None


#: The default registry (accepted and ignored like any other).
REGISTRY = CollectorRegistry()


def generate_latest(registry: object = None) -> bytes:
    """lukhas-obs' exposition (Prometheus text 0.0.4, :data:`CONTENT_TYPE_LATEST`); ``registry`` is ignored."""
    return lukhas_obs.render_exposition()[0]


def start_http_server(
    port: int,
    addr: str | None = None,
    registry: object = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_cafile: str | None = None,
    client_capath: str | None = None,
    protocol: object = None,
    client_auth_required: bool = False,
) -> lukhas_obs.Telemetry:
    """Serve ``/metrics`` on ``addr:port``: ``lukhas_obs.configure(prometheus_port=port, prometheus_host=addr)``.

    ``addr`` defaults to lukhas-obs' host (``LUKHAS_PROMETHEUS_HOST``, else 127.0.0.1), where prometheus_client
    listens on ``0.0.0.0``: pass ``addr="0.0.0.0"`` to listen on every interface. ``certfile``/``keyfile`` serve
    TLS (``metrics_tls_cert``/``metrics_tls_key``); client certificates are not supported. Returns the
    :class:`lukhas_obs.Telemetry` (prometheus_client returns its server and thread). Already configured: returns it
    when it serves that port, else raises :class:`~lukhas_obs.errors.ConfigurationError`.
    """
    if client_cafile or client_capath or client_auth_required:
        raise ConfigurationError(
            "start_http_server(client_cafile/client_capath/client_auth_required)",
            "a client CA",
            "none: client certificates are not supported; protect /metrics with metrics_bearer_token or "
            "metrics_basic_auth",
        )
    options: dict[str, Any] = {"prometheus_port": port}
    if addr is not None:
        options["prometheus_host"] = addr
    if certfile is not None or keyfile is not None:
        options.update(metrics_tls_cert=certfile, metrics_tls_key=keyfile)
    current = lukhas_obs.active()
    if current is not None:
        settings = current.settings
        same_host = addr is None or settings.prometheus_host == addr
        if current.metrics_url is not None and settings.prometheus_port == port and same_host:
            return current
        raise ConfigurationError(
            "start_http_server(port)",
            port,
            f"no second server: lukhas-obs is already configured (serving /metrics at {current.metrics_url or 'no '}"
            "address); pass prometheus_port/prometheus_host to lukhas_obs.configure() instead, or call "
            "start_http_server() before anything configures lukhas-obs",
        )
    return lukhas_obs.configure(**options)


#: prometheus_client's ``start_wsgi_server`` takes the same arguments.
start_wsgi_server = start_http_server


def make_wsgi_app(registry: object = None, disable_compression: bool = False) -> Callable[..., Any]:
    """A WSGI app serving lukhas-obs' metrics (:func:`lukhas_obs.metrics_wsgi_app`); ``registry`` is ignored."""
    return lukhas_obs.metrics_wsgi_app()


def make_asgi_app(registry: object = None, disable_compression: bool = False) -> Callable[..., Any]:
    """An ASGI app serving lukhas-obs' metrics (:func:`lukhas_obs.metrics_asgi_app`); ``registry`` is ignored."""
    return lukhas_obs.metrics_asgi_app()


def disable_created_metrics() -> None:
    """A no-op: lukhas-obs (the OTel Prometheus exporter) writes no ``_created`` series."""


def enable_created_metrics() -> None:
    """A no-op: lukhas-obs writes no ``_created`` series (documented difference, docs/MIGRATION.md)."""


#: prometheus_client names this module does not offer, with what to use instead (``from ... import X`` raises).
REFUSED_NAMES: dict[str, str] = {
    "Metric": "custom collectors are not supported: declare the metrics in the catalog (observable_gauge for values "
    "read at collection time)",
    "push_to_gateway": "lukhas-obs pushes over OTLP: lukhas_obs.configure(otlp_endpoint=...)",
    "pushadd_to_gateway": "lukhas-obs pushes over OTLP: lukhas_obs.configure(otlp_endpoint=...)",
    "delete_from_gateway": "lukhas-obs pushes over OTLP: lukhas_obs.configure(otlp_endpoint=...)",
    "instance_ip_grouping_key": "lukhas-obs pushes over OTLP: lukhas_obs.configure(otlp_endpoint=...)",
    "write_to_textfile": "write lukhas_obs.render_exposition()[0] to the file yourself",
    "MetricsHandler": "serve lukhas_obs.metrics_wsgi_app() or lukhas_obs.render_exposition() from a route",
    "ProcessCollector": "lukhas-obs exports no process_* families (process.* resource attributes are in target_info)",
    "PlatformCollector": "lukhas-obs exports no python_info family (process.runtime.* attributes are in target_info)",
    "GCCollector": "lukhas-obs exports no python_gc_* families",
    "CONTENT_TYPE_PLAIN_1_0_0": "lukhas-obs renders Prometheus text 0.0.4 (CONTENT_TYPE_LATEST) or OpenMetrics",
    "multiprocess": "each process exports its own series over OTLP (see lukhas_obs.runtime on pre-fork servers)",
}


def __getattr__(name: str) -> Any:
    reason = REFUSED_NAMES.get(name)
    if reason is not None:
        raise ImportError(f"lukhas_obs.prometheus_compat does not offer {name}: {reason}", name=__name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
