"""Decorators in the shapes of the seeds' ``track_*`` helpers, over the catalog's handles.

Luna (seed 000) instruments its code with four hand-written decorators: time a call into a histogram
(``track_phi_calculation``), count calls by outcome and re-raise (``track_tool_call``), count by a field of the
returned value (``track_insight_generation``: ``result.get('type', 'unknown')``) and count by an argument
(``track_memory_operation``: ``kwargs.get('layer', 'unknown')``). The same shapes, generic and catalog-driven::

    from lukhas_obs.decorators import count_by_argument, count_by_result, count_outcomes, instrument, timed_histogram

    @timed_histogram("luna_phi_calculation_duration_seconds")
    def calculate_phi(...): ...

    @count_outcomes("luna_mcp_tool_calls_total", tool_name="search")          # status="success" / "error"
    async def search(...): ...

    @instrument(
        timed_histogram("luna_insight_generation_duration_seconds"),
        count_by_result("luna_insights_generated_total", label="type", key="type", only_if=bool),
    )
    def generate_insight(...): ...

    @count_by_argument("luna_memory_stores_total", label="layer", argument="layer")   # positional or keyword
    def store(self, content, layer): ...

Attribute values can also come from several places at once: every factory takes, next to constant attributes,
*sources* — :func:`from_argument`, :func:`from_result`, :func:`from_outcome` — e.g. Luna's retrieval counter
``count("luna_memory_retrievals_total", layer=from_argument("layer"), status=from_result(getter=found))``.

What each decorator does with the call (``when``):

- histograms time every call, whatever its end (like ``prometheus_client``'s ``Histogram.time()``): returned or
  raised, cancellation included; ``when="returned"`` times only calls that return.
- counters count calls that return (Luna counts a store after it happened); ``when="raised"`` counts calls that
  raise an :class:`Exception`, ``when="always"`` both. With :func:`from_outcome` (``count_outcomes``) both ends are
  counted under their outcome; exceptions that are not in its ``errors`` (by default cancellation,
  ``KeyboardInterrupt``, ``SystemExit``) are not counted, like Luna's ``except Exception``.
- a measure that reads the result (:func:`from_result`, ``only_if``) records only calls that return.

Functions of every shape are wrapped as what they are: sync, ``async def`` (``inspect.iscoroutinefunction`` of the
wrapper is true), generator and async generator functions (the wrapper is one too), methods, and ``classmethod`` /
``staticmethod`` objects whichever side of the decorator they are on. ``functools.wraps`` metadata is kept and
``inspect.signature`` of the wrapper is the function's. **Generators are measured to exhaustion**: the clock starts
at the first ``next()`` and stops when the generator returns, raises or is closed (``close()``, ``break`` out of a
``for`` loop, garbage collection); the time the consumer holds each item counts. A generator closed early counts as
returned (``success``) but has no result, so measures reading the result skip it. :func:`from_result` on a
generator function reads its *return value* (``StopIteration.value``), not the items it yields; async generators
return nothing, so reading their result is refused at decoration time.

Errors in the decorator's own configuration fail at decoration time, where they are programming errors found on the
first import: an unknown metric raises :class:`KeyError` naming close names; a metric of the wrong kind
:class:`TypeError`; an attribute the metric does not declare, or a constant value that its enumeration would fold
(``default="unknown"`` on a label without ``fold_to: unknown``), :class:`ValueError` naming what is declared;
``from_argument`` of a parameter the function does not have, :class:`ValueError` naming its parameters. The
function's signature is read once, at decoration.

At call time nothing here raises, blocks or changes what the function returns or raises (the same exception object,
its traceback intact). A value that cannot be read — a result whose ``.get``/``__getitem__``/attribute raises, a
value whose ``__str__`` raises, an int too long to print, a required argument not given — is recorded as the
source's ``default`` and counted in ``lukhas_obs_dropped_measurements_total{reason="unreadable_result"}`` (results)
or ``lukhas_obs_dropped_attributes_total{reason="invalid_attribute_value"}`` (arguments); the values themselves
are never logged. Label values are text: a ``str`` subclass is copied without calling its methods, an
:class:`enum.Enum` gives its ``value``, ``None`` gives the default, anything else ``str(value)``
(``prometheus_client``'s ``labels()`` does the same), cut to 256 characters; the handle then folds, scrubs and
bounds it like any attribute. Cost and the measured comparison with ``prometheus_client``: docs/DECORATORS.md and
``python -m benchmarks.bench_decorators``.
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from lukhas_obs import drops
from lukhas_obs.catalog import catalogs
from lukhas_obs.catalog.spec import AttributeSpec, MetricSpec
from lukhas_obs.instruments import MAX_ATTRIBUTE_LENGTH, CounterHandle, HistogramHandle, counter, histogram

__all__ = [
    "FromArgument",
    "FromOutcome",
    "FromResult",
    "Instrumentation",
    "count",
    "count_by_argument",
    "count_by_result",
    "count_outcomes",
    "from_argument",
    "from_outcome",
    "from_result",
    "instrument",
    "timed_histogram",
]

F = TypeVar("F", bound=Callable[..., Any])
When = Literal["returned", "raised", "always"]
_WHENS: tuple[str, ...] = ("returned", "raised", "always")

#: Elapsed time in the histogram's unit: perf_counter seconds times this.
_TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
#: Distinct attribute-value tuples a decorated function keeps a bound handle for; past it calls take the handle's
#: keyword path (which has its own memo and the cardinality limit), so memory stays bounded whatever the values.
MEMO_LIMIT = 256

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>", "__slots__": ()})()


# ----------------------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class FromArgument:
    """An attribute value taken from an argument of the call (by name, positional or keyword); see
    :func:`from_argument`."""

    name: str
    default: str = "unknown"


@dataclass(frozen=True)
class FromResult:
    """An attribute value read from the returned value; see :func:`from_result`."""

    field: str | None = None
    key: object = None
    getter: Callable[[Any], object] | None = None
    default: str = "unknown"


@dataclass(frozen=True)
class FromOutcome:
    """An attribute value saying how the call ended; see :func:`from_outcome`."""

    success: str = "success"
    error: str = "error"
    errors: type[BaseException] | tuple[type[BaseException], ...] = Exception


_Source = FromArgument | FromResult | FromOutcome


def from_argument(name: str, /, default: str = "unknown") -> FromArgument:
    """The value of the decorated function's argument ``name``, whether passed positionally or by keyword.

    Not given: the parameter's own default if it has one (the value the function sees), else ``default``. A name
    that is not a parameter is looked up in ``**kwargs`` when the function takes them (Luna's
    ``kwargs.get('layer', 'unknown')``), and is a :class:`ValueError` at decoration otherwise.
    """
    if name.__class__ is not str or not name.isidentifier():
        raise TypeError(f"from_argument(): the argument name must be an identifier str, not {_type_name(name)}")
    _check_text("from_argument()", "default", default)
    return FromArgument(name, default)


def from_result(
    *,
    field: str | None = None,
    key: object = None,
    getter: Callable[[Any], object] | None = None,
    default: str = "unknown",
) -> FromResult:
    """A value read from what the call returned: exactly one of

    - ``field="type"``: the attribute ``result.type``;
    - ``key="type"``: ``result.get("type")`` for a mapping (Luna's ``result.get('type', 'unknown')``),
      ``result["type"]`` for anything else subscriptable;
    - ``getter=callable``: ``getter(result)`` (e.g. ``lambda r: "found" if r else "not_found"``).

    Missing (no such field or key, a result that is None or not subscriptable, a value of None): ``default``.
    Only calls that return are measured by a measure reading the result.
    """
    given = [name for name, value in (("field", field), ("key", key), ("getter", getter)) if value is not None]
    if len(given) != 1:
        raise TypeError(f"from_result(): give exactly one of field=, key=, getter= (got {', '.join(given) or 'none'})")
    if field is not None and (field.__class__ is not str or not field.isidentifier()):
        raise TypeError(f"from_result(): field= must be an attribute name (an identifier str), not {field!r}")
    if getter is not None and not callable(getter):
        raise TypeError(f"from_result(): getter= must be callable, not {_type_name(getter)}")
    if key is not None:
        try:
            hash(key)
        except Exception:
            raise TypeError(f"from_result(): key= must be hashable, not {_type_name(key)}") from None
    _check_text("from_result()", "default", default)
    return FromResult(field, key, getter, default)


def from_outcome(
    *,
    success: str = "success",
    error: str = "error",
    errors: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> FromOutcome:
    """``success`` when the call returns, ``error`` when it raises one of ``errors`` (default: any
    :class:`Exception`); a call ending with another exception (cancellation, ``KeyboardInterrupt``) is not
    measured by this measure."""
    _check_text("from_outcome()", "success", success)
    _check_text("from_outcome()", "error", error)
    classes = errors if isinstance(errors, tuple) else (errors,)
    if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        raise TypeError("from_outcome(): errors= must be an exception class or a non-empty tuple of them")
    return FromOutcome(success, error, errors)


# ---------------------------------------------------------------------------------------------------------- measures


@dataclass(frozen=True)
class _Measure:
    """One metric a decorated call records into, validated against its catalog spec."""

    who: str
    handle: HistogramHandle | CounterHandle
    is_histogram: bool
    scale: float
    #: Attribute key → a constant value or a source (keys are the catalog's attribute keys).
    attributes: tuple[tuple[str, object], ...]
    when: str
    only_if: Callable[[Any], object] | None
    #: Exceptions a raised call is measured for.
    errors: type[BaseException] | tuple[type[BaseException], ...]

    @property
    def name(self) -> str:
        return self.handle.spec.name

    @property
    def reads_result(self) -> bool:
        return self.only_if is not None or any(isinstance(v, FromResult) for _, v in self.attributes)

    @property
    def reads_arguments(self) -> bool:
        return any(isinstance(v, FromArgument) for _, v in self.attributes)


class Instrumentation:
    """What the factories return: the measures of a decorated function. Call it on a function to decorate it;
    combine several with :func:`instrument` (one wrapper) or stack them (one wrapper each).

    Immutable and reusable: one instance may decorate many functions (each gets its own wrapper).
    """

    __slots__ = ("_measures",)

    def __init__(self, measures: tuple[_Measure, ...]) -> None:
        self._measures = measures

    def __repr__(self) -> str:
        return f"<Instrumentation {', '.join(m.who for m in self._measures)}>"

    @property
    def metrics(self) -> tuple[str, ...]:
        """The Prometheus names of the metrics a decorated call records into, in order."""
        return tuple(m.name for m in self._measures)

    def __call__(self, func: F) -> F:
        """Wrap ``func`` (sync, coroutine, generator or async generator function, method, classmethod or
        staticmethod object) so each call is measured; the wrapper keeps ``func``'s metadata and signature."""
        if isinstance(func, (classmethod, staticmethod)):
            return cast(F, type(func)(self(func.__func__)))
        if isinstance(func, type) or not callable(func):
            raise TypeError(f"{self._who()}: decorate a function or method, not {_type_name(func)}")
        if inspect.isasyncgenfunction(func):
            shape = "async generator"
        elif inspect.isgeneratorfunction(func):
            shape = "generator"
        elif inspect.iscoroutinefunction(func):
            shape = "coroutine"
        else:
            shape = "function"
        parameters = _parameters(func, self._who()) if any(m.reads_arguments for m in self._measures) else None
        ends: list[_Ends] = []
        for measure in self._measures:
            if shape == "async generator" and measure.reads_result:
                raise ValueError(
                    f"{measure.who}: an async generator returns no value; from_result()/only_if= cannot read one"
                )
            ends.append(_compile(measure, parameters, func))
        plan = _plan(tuple(ends), timing=any(m.is_histogram for m in self._measures))
        wrapper = _WRAPPERS[shape](func, plan)
        return cast(F, functools.wraps(func)(wrapper))

    def _who(self) -> str:
        return self._measures[0].who if len(self._measures) == 1 else "instrument()"


def instrument(*parts: Instrumentation) -> Instrumentation:
    """Several decorators' measures in one wrapper: ``@instrument(timed_histogram(...), count_outcomes(...))``.

    Equivalent to stacking the same decorators, with one function call and one clock read per call instead of one
    per decorator (docs/DECORATORS.md has the measured difference).
    """
    if not parts:
        raise TypeError("instrument(): give at least one decorator (timed_histogram(...), count_outcomes(...), ...)")
    measures: list[_Measure] = []
    for part in parts:
        if not isinstance(part, Instrumentation):
            raise TypeError(
                f"instrument(): {_type_name(part)} is not a decorator of lukhas_obs.decorators "
                "(call the factory: timed_histogram('name'), not timed_histogram)"
            )
        measures.extend(part._measures)
    return Instrumentation(tuple(measures))


def timed_histogram(
    metric: str,
    /,
    *,
    when: When | None = None,
    attributes: Mapping[str, object] | None = None,
    **attrs: object,
) -> Instrumentation:
    """Time each call into the catalog histogram ``metric`` (``time.perf_counter``; in the histogram's unit: ``s``,
    ``ms``, ``us`` or ``ns``).

    ``attrs`` (and ``attributes``, for keys that are not identifiers or collide with a parameter name) are constant
    attribute values or sources (:func:`from_argument`, :func:`from_outcome`, :func:`from_result`). Every call is
    timed, returned or raised (``when="returned"``: only returned ones). Luna's ``track_phi_calculation``.
    """
    who = f"timed_histogram({metric!r})"
    handle = _handle(histogram, metric, who)
    unit = handle.spec.unit
    if unit not in _TIME_UNITS:
        raise ValueError(
            f"{who}: the histogram's unit is {unit!r}, not a time; timed_histogram() needs one of "
            f"{', '.join(_TIME_UNITS)}"
        )
    merged = _merge(who, attributes, attrs)
    return Instrumentation((_measure(who, handle, merged, when=when, only_if=None, scale=_TIME_UNITS[unit]),))


def count(
    metric: str,
    /,
    *,
    when: When | None = None,
    only_if: Callable[[Any], object] | None = None,
    attributes: Mapping[str, object] | None = None,
    **attrs: object,
) -> Instrumentation:
    """Count calls into the catalog counter ``metric``, attributes from constants and sources.

    The general form of the three below: ``count("luna_memory_retrievals_total", layer=from_argument("layer"),
    status=from_result(getter=lambda r: "found" if r else "not_found"))``. ``when``: calls that ``returned``
    (the default), ``raised``, or ``always``; with :func:`from_outcome` the default is ``always``, with
    :func:`from_result` only ``returned`` is possible. ``only_if(result)``: count a returned call only when true.
    """
    who = f"count({metric!r})"
    handle = _handle(counter, metric, who)
    return Instrumentation((_measure(who, handle, _merge(who, attributes, attrs), when=when, only_if=only_if),))


def count_outcomes(
    metric: str,
    /,
    *,
    label: str = "status",
    success: str = "success",
    error: str = "error",
    errors: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    attributes: Mapping[str, object] | None = None,
    **attrs: object,
) -> Instrumentation:
    """Count each call in ``metric`` with ``label`` = ``success`` when it returns, ``error`` when it raises one of
    ``errors``; the exception is re-raised unchanged (same object, same traceback). Luna's ``track_tool_call``:
    ``count_outcomes("luna_mcp_tool_calls_total", tool_name="search")``."""
    who = f"count_outcomes({metric!r})"
    handle = _handle(counter, metric, who)
    merged = _merge(who, attributes, attrs)
    _add_label(who, merged, label, from_outcome(success=success, error=error, errors=errors))
    return Instrumentation((_measure(who, handle, merged, when=None, only_if=None),))


def count_by_result(
    metric: str,
    /,
    *,
    label: str,
    field: str | None = None,
    key: object = None,
    getter: Callable[[Any], object] | None = None,
    default: str = "unknown",
    only_if: Callable[[Any], object] | None = None,
    attributes: Mapping[str, object] | None = None,
    **attrs: object,
) -> Instrumentation:
    """Count each returned call in ``metric`` with ``label`` read from the result (one of ``field=``, ``key=``,
    ``getter=``; see :func:`from_result`), ``default`` when missing or unreadable. ``only_if(result)``: count only
    when true — Luna's ``track_insight_generation`` counts truthy results only (``only_if=bool``)."""
    who = f"count_by_result({metric!r})"
    handle = _handle(counter, metric, who)
    merged = _merge(who, attributes, attrs)
    source = _source(who, from_result, field=field, key=key, getter=getter, default=default)
    _add_label(who, merged, label, source)
    return Instrumentation((_measure(who, handle, merged, when="returned", only_if=only_if),))


def count_by_argument(
    metric: str,
    /,
    *,
    label: str,
    argument: str,
    default: str = "unknown",
    when: When | None = None,
    attributes: Mapping[str, object] | None = None,
    **attrs: object,
) -> Instrumentation:
    """Count each call in ``metric`` with ``label`` = the value of the function's argument ``argument`` (positional
    or keyword; see :func:`from_argument`). Counts calls that return unless ``when`` says otherwise. Luna's
    ``track_memory_operation('store')``: ``count_by_argument("luna_memory_stores_total", label="layer",
    argument="layer")``."""
    who = f"count_by_argument({metric!r})"
    handle = _handle(counter, metric, who)
    merged = _merge(who, attributes, attrs)
    _add_label(who, merged, label, _source(who, from_argument, argument, default=default))
    return Instrumentation((_measure(who, handle, merged, when=when, only_if=None),))


# ------------------------------------------------------------------------------------------- decoration-time checks


def _handle(lookup: Callable[[str], Any], metric: object, who: str) -> Any:
    """The typed handle of ``metric``; KeyError with close names, TypeError for a wrong kind."""
    if metric.__class__ is not str:
        raise TypeError(f"{who}: the metric name must be a str, not {_type_name(metric)}")
    try:
        return lookup(metric)
    except KeyError:
        known = sorted({m.name for c in catalogs() for m in c.metrics})
        close = difflib.get_close_matches(metric, known, n=5, cutoff=0.6)
        hint = (
            f"close names: {', '.join(close)}"
            if close
            else f"none of the {len(known)} registered metrics is close; is its catalog registered?"
        )
        raise KeyError(f"{who}: no registered catalog has a metric {metric!r}; {hint}") from None
    except TypeError as exc:
        raise TypeError(f"{who}: {exc}") from None


def _merge(who: str, attributes: Mapping[str, object] | None, attrs: Mapping[str, object]) -> dict[str, object]:
    merged: dict[str, object] = {}
    if attributes is not None:
        if not isinstance(attributes, Mapping):
            raise TypeError(f"{who}: attributes= must be a mapping, not {_type_name(attributes)}")
        merged.update(attributes)
    for key, value in attrs.items():
        if key in merged:
            raise ValueError(f"{who}: attribute {key!r} given twice")
        merged[key] = value
    return merged


def _add_label(who: str, merged: dict[str, object], label: object, source: _Source) -> None:
    if label.__class__ is not str:
        raise TypeError(f"{who}: label= must be a str, not {_type_name(label)}")
    if label in merged:
        raise ValueError(f"{who}: attribute {label!r} is both label= and a fixed attribute")
    merged[label] = source


def _source(who: str, factory: Callable[..., _Source], *args: Any, **kwargs: Any) -> _Source:
    try:
        return factory(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{who}: {exc}") from None


def _measure(
    who: str,
    handle: HistogramHandle | CounterHandle,
    attributes: dict[str, object],
    *,
    when: str | None,
    only_if: Callable[[Any], object] | None,
    scale: float = 1.0,
) -> _Measure:
    """Validate ``attributes`` and ``when`` against the metric's spec; the measure."""
    spec = handle.spec
    declared = _declared(spec)
    checked: list[tuple[str, object]] = []
    for given_key, value in attributes.items():
        key = _attribute_key(who, spec, declared, given_key)
        attr = declared[key]
        if isinstance(value, FromArgument | FromResult):
            _check_admitted(who, spec, attr, value.default, "default")
        elif isinstance(value, FromOutcome):
            _check_admitted(who, spec, attr, value.success, "success")
            _check_admitted(who, spec, attr, value.error, "error")
        elif value.__class__ in (str, int, float, bool):
            _check_admitted(who, spec, attr, value, "value")
        else:
            raise TypeError(
                f"{who}: attribute {key!r} must be a str, int, float or bool constant, or from_argument(), "
                f"from_result(), from_outcome(); not {_type_name(value)}"
            )
        if any(k == key for k, _ in checked):
            raise ValueError(f"{who}: attribute {key!r} given twice")
        checked.append((key, value))
    if only_if is not None and not callable(only_if):
        raise TypeError(f"{who}: only_if= must be callable, not {_type_name(only_if)}")
    outcome = next((v for _, v in checked if isinstance(v, FromOutcome)), None)
    reads_result = only_if is not None or any(isinstance(v, FromResult) for _, v in checked)
    if sum(isinstance(v, FromOutcome) for _, v in checked) > 1:
        raise ValueError(f"{who}: at most one from_outcome() per metric")
    if when is not None and when not in _WHENS:
        raise ValueError(f"{who}: when= must be one of {', '.join(_WHENS)}, not {when!r}")
    is_histogram = isinstance(handle, HistogramHandle)
    if when is None:
        when = "returned" if reads_result else "always" if (outcome is not None or is_histogram) else "returned"
    if reads_result and when != "returned":
        raise ValueError(f"{who}: from_result()/only_if= read the returned value, so when= can only be 'returned'")
    if outcome is not None and when != "always":
        raise ValueError(f"{who}: from_outcome() says how a call ended; it needs when='always', not {when!r}")
    errors = outcome.errors if outcome is not None else BaseException if is_histogram else Exception
    return _Measure(who, handle, is_histogram, scale, tuple(checked), when, only_if, errors)


def _declared(spec: MetricSpec) -> dict[str, AttributeSpec]:
    return {a.key: a for a in spec.attributes}


def _attribute_key(who: str, spec: MetricSpec, declared: Mapping[str, AttributeSpec], key: object) -> str:
    """``key`` as a declared attribute key (a Prometheus label name of a dotted key is accepted too)."""
    if key.__class__ is str:
        if key in declared:
            return key
        for attr in declared.values():
            if attr.label == key:
                return attr.key
    names = ", ".join(declared) or "none (it has no call-time attributes)"
    common = f"; {', '.join(spec.common_attributes)} come from the configuration" if spec.common_attributes else ""
    shown = repr(key) if key.__class__ is str else _type_name(key)
    raise ValueError(f"{who}: {spec.name!r} declares no attribute {shown}; declared: {names}{common}")


def _check_admitted(who: str, spec: MetricSpec, attr: AttributeSpec, value: object, what: str) -> None:
    """A constant an enumerated attribute would fold is a configuration error (it would be silently renamed)."""
    if attr.values is None or attr.keep_unknown:
        return
    text = str(value)
    if text in attr.values or text == attr.fold_to:
        return
    raise ValueError(
        f"{who}: {what} {value!r} is not a value of {spec.name}'s attribute {attr.key!r} and would be recorded "
        f"as {attr.fold_to!r}; declared values: {', '.join(attr.values)} (or fold_to {attr.fold_to!r})"
    )


def _check_text(who: str, what: str, value: object) -> None:
    if value.__class__ is not str:
        raise TypeError(f"{who}: {what}= must be a str, not {_type_name(value)}")


@dataclass(frozen=True)
class _Parameters:
    """The decorated function's parameters, read once at decoration."""

    names: Mapping[str, inspect.Parameter]
    positions: Mapping[str, int]
    var_keyword: bool
    text: str


def _parameters(func: Callable[..., Any], who: str) -> _Parameters:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{who}: cannot read the parameters of {_type_name(func)} for from_argument(): {exc}") from None
    params = dict(signature.parameters)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positions = {name: i for i, (name, p) in enumerate(params.items()) if p.kind in positional}
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return _Parameters(params, positions, var_keyword, ", ".join(params) or "none")


# ------------------------------------------------------------------------------------------------------ call time

#: ``finish(elapsed, args, kwargs, result_or_exception)``: records one measure's end; never raises.
_Finish = Callable[[float, tuple[Any, ...], dict[str, Any], Any], None]
#: Reads one attribute value at call time: ``read(args, kwargs, result) -> str``; never raises.
_Read = Callable[[tuple[Any, ...], dict[str, Any], Any], str]


@dataclass(frozen=True)
class _Static:
    """A measure's end whose attributes are all fixed: one bound handle's ``record``/``add``, called inline."""

    metric: str
    put: Callable[..., None]
    is_histogram: bool
    #: On the raised end: the exceptions measured.
    errors: type[BaseException] | tuple[type[BaseException], ...]


@dataclass(frozen=True)
class _Ends:
    """One measure compiled for one decorated function: what to do when the call returned, and when it raised."""

    returned: _Static | _Finish | None
    raised: _Static | _Finish | None
    reads_result: bool


def _type_name(value: object) -> str:
    try:
        return str(type(value).__name__)
    except Exception:  # pragma: no cover - a metaclass that breaks __name__
        return "object"


def _text(value: object) -> str | None:
    """A label value as plain, bounded text (None: use the default). May raise: the caller reports it."""
    cls = value.__class__
    if cls is str:
        text: str = value  # type: ignore[assignment]
    elif value is None:
        return None
    elif isinstance(value, str):
        text = str.__str__(value)  # a subclass's own dunders are never called
    elif isinstance(value, enum.Enum):
        inner = value.value
        return _text(inner) if not isinstance(inner, enum.Enum) else None
    elif cls is bool:
        text = "True" if value else "False"
    elif isinstance(value, int):
        text = int.__repr__(value)  # ValueError past sys.get_int_max_str_digits: reported, never raised
    elif isinstance(value, float):
        text = float.__repr__(value)
    else:
        text = str(value)
        if text.__class__ is not str:
            text = str.__str__(text)
    return text if len(text) <= MAX_ATTRIBUTE_LENGTH else text[:MAX_ATTRIBUTE_LENGTH]


def _internal(metric: str, exc: BaseException) -> None:
    drops.report(metric, "internal_error", _type_name(exc))


def _argument_reader(measure: _Measure, source: FromArgument, parameters: _Parameters | None, func: object) -> _Read:
    """Reads ``source``'s argument from a call: by keyword, else by position, else the parameter's default."""
    assert parameters is not None
    name, default, metric = source.name, source.default, measure.name
    param = parameters.names.get(name)
    if param is None and not parameters.var_keyword:
        raise ValueError(
            f"{measure.who}: from_argument({name!r}): {_qualname(func)}() has no parameter {name!r} and takes no "
            f"**kwargs; its parameters: {parameters.text}"
        )
    if param is not None and param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise ValueError(f"{measure.who}: from_argument({name!r}) names the *args/**kwargs parameter itself")
    by_keyword = param is None or param.kind is not inspect.Parameter.POSITIONAL_ONLY
    index = parameters.positions.get(name, -1)
    own_default = _MISSING if param is None or param.default is inspect.Parameter.empty else param.default
    required = param is not None and own_default is _MISSING  # not given = the call itself failed to bind
    detail = f"argument {name!r}"

    def read(args: tuple[Any, ...], kwargs: dict[str, Any], result: object) -> str:
        try:
            value = kwargs.get(name, _MISSING) if by_keyword else _MISSING
            if value is _MISSING:
                value = args[index] if 0 <= index < len(args) else own_default
                if value is _MISSING:
                    if required:
                        drops.report(metric, "invalid_attribute_value", f"{detail} not given", attribute=True)
                    return default
            if value.__class__ is str:
                return value if len(value) <= MAX_ATTRIBUTE_LENGTH else value[:MAX_ATTRIBUTE_LENGTH]
            text = _text(value)
        except Exception as exc:
            drops.report(metric, "invalid_attribute_value", f"{detail}: {_type_name(exc)}", attribute=True)
            return default
        return default if text is None else text

    return read


def _result_reader(measure: _Measure, source: FromResult) -> _Read:
    """Reads ``source``'s value from a returned value (field, key or getter); the default when missing."""
    default, metric = source.default, measure.name
    extract: Callable[[Any], object]
    if source.getter is not None:
        extract = source.getter
    elif source.field is not None:
        field = source.field

        def extract(result: Any) -> object:
            return getattr(result, field, _MISSING)

    else:
        key = source.key

        def extract(result: Any) -> object:
            if result.__class__ is dict or isinstance(result, Mapping):
                return result.get(key, _MISSING)  # never result[key]: a defaultdict would grow
            if result is None:
                return _MISSING
            try:
                return result[key]
            except (LookupError, TypeError):  # no such index, or not subscriptable: the default
                return _MISSING

    def read(args: tuple[Any, ...], kwargs: dict[str, Any], result: object) -> str:
        try:
            value = extract(result)
            if value.__class__ is str:
                return value if len(value) <= MAX_ATTRIBUTE_LENGTH else value[:MAX_ATTRIBUTE_LENGTH]
            text = None if value is _MISSING else _text(value)
        except Exception as exc:
            drops.report(metric, "unreadable_result", _type_name(exc))
            return default
        return default if text is None else text

    return read


def _compile(measure: _Measure, parameters: _Parameters | None, func: object) -> _Ends:
    """The measure's ends for ``func``: constants and the outcome fixed now, readers of arguments and results
    built now (the signature was read once), so a call only reads values and records."""
    returned = _end(measure, parameters, func, raised=False) if measure.when != "raised" else None
    raised = _end(measure, parameters, func, raised=True) if measure.when != "returned" else None
    return _Ends(returned, raised, measure.reads_result)


def _end(measure: _Measure, parameters: _Parameters | None, func: object, *, raised: bool) -> _Static | _Finish:
    handle, metric, scale = measure.handle, measure.name, measure.scale
    fixed: dict[str, object] = {}
    keys: list[str] = []
    readers: list[_Read] = []
    for key, value in measure.attributes:
        if isinstance(value, FromOutcome):
            fixed[key] = value.error if raised else value.success
        elif isinstance(value, FromArgument):
            keys.append(key)
            readers.append(_argument_reader(measure, value, parameters, func))
        elif isinstance(value, FromResult):
            keys.append(key)
            readers.append(_result_reader(measure, value))
        else:
            fixed[key] = value
    errors, only_if, is_histogram = measure.errors, measure.only_if, measure.is_histogram
    method = "record" if is_histogram else "add"

    if not readers:
        put = getattr(handle.bind(**fixed), method)
        if only_if is None and scale == 1.0:
            return _Static(metric, put, is_histogram, errors)
        return _static_finisher(_Static(metric, put, is_histogram, errors), raised, scale, only_if)

    names = tuple(keys)
    memo: dict[Any, Callable[..., None]] = {}
    general = getattr(handle, method)

    def bind(key: Any, values: tuple[str, ...]) -> Callable[..., None]:
        """The bound method of one attribute-value tuple, remembered up to MEMO_LIMIT (past it, not remembered: the
        handle's keyword path, which has its own bounded memo and the cardinality limit)."""
        attrs = dict(fixed)
        attrs.update(zip(names, values, strict=True))
        if len(memo) >= MEMO_LIMIT:
            return functools.partial(general, **attrs)
        put: Callable[..., None] = getattr(handle.bind(**attrs), method)
        memo[key] = put
        return put

    if len(readers) == 1:
        read = readers[0]

        def finish(elapsed: float, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
            try:
                if raised:
                    if not isinstance(outcome, errors):
                        return
                elif only_if is not None and not _passes(metric, only_if, outcome):
                    return
                value = read(args, kwargs, outcome)
                put = memo.get(value) or bind(value, (value,))
                if is_histogram:
                    put(elapsed * scale)
                else:
                    put(1)
            except Exception as exc:
                _internal(metric, exc)

        return finish

    reads = tuple(readers)

    def finish_many(elapsed: float, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
        try:
            if raised:
                if not isinstance(outcome, errors):
                    return
            elif only_if is not None and not _passes(metric, only_if, outcome):
                return
            values = tuple([read(args, kwargs, outcome) for read in reads])
            put = memo.get(values) or bind(values, values)
            if is_histogram:
                put(elapsed * scale)
            else:
                put(1)
        except Exception as exc:
            _internal(metric, exc)

    return finish_many


def _passes(metric: str, only_if: Callable[[Any], object], result: object) -> bool:
    """``only_if(result)`` as a bool; a predicate (or a result's ``__bool__``) that raises skips the count."""
    try:
        return bool(only_if(result))
    except Exception as exc:
        drops.report(metric, "unreadable_result", _type_name(exc))
        return False


def _static_finisher(
    static: _Static, raised: bool, scale: float = 1.0, only_if: Callable[[Any], object] | None = None
) -> _Finish:
    """A finisher around one bound method (the form the loops of the wrappers call)."""
    metric, put, is_histogram, errors = static.metric, static.put, static.is_histogram, static.errors

    def finish(elapsed: float, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: Any) -> None:
        try:
            if raised:
                if not isinstance(outcome, errors):
                    return
            elif only_if is not None and not _passes(metric, only_if, outcome):
                return
            if is_histogram:
                put(elapsed * scale)
            else:
                put()
        except Exception as error:
            _internal(metric, error)

    return finish


def _qualname(func: object) -> str:
    name = getattr(func, "__qualname__", None)
    return name if name.__class__ is str else _type_name(func)


# ------------------------------------------------------------------------------------------------------- wrappers
#
# One wrapper per function shape. Sync and coroutine wrappers are generated per decorated function with every
# recording unrolled: fixed-attribute histograms and counters call their bound handle inline, the others call their
# finisher. Generator wrappers loop (their per-call cost is the iteration's). The clock is read only when a
# histogram is among the measures. Every recording swallows its own failures, so the bare `raise` always re-raises
# the function's exception, unchanged (the same object, its traceback).

_clock = time.perf_counter
_Pairs = tuple[tuple[str, Callable[..., None]], ...]


@dataclass(frozen=True)
class _Plan:
    """Every measure's ends for one decorated function, grouped the way the wrappers call them."""

    timing: bool
    hists: _Pairs
    counts: _Pairs
    others: tuple[_Finish, ...]
    raised: tuple[_Finish, ...]
    #: What a generator closed before exhaustion records: the returned ends that do not read the result.
    closed: tuple[_Finish, ...]
    ends: tuple[_Ends, ...]


def _as_finisher(end: _Static | _Finish, raised: bool) -> _Finish:
    return _static_finisher(end, raised) if isinstance(end, _Static) else end


def _plan(ends: tuple[_Ends, ...], timing: bool) -> _Plan:
    hists: list[tuple[str, Callable[..., None]]] = []
    counts: list[tuple[str, Callable[..., None]]] = []
    others: list[_Finish] = []
    closed: list[_Finish] = []
    for end in ends:
        if end.returned is None:
            continue
        if isinstance(end.returned, _Static):
            (hists if end.returned.is_histogram else counts).append((end.returned.metric, end.returned.put))
        else:
            others.append(end.returned)
        if not end.reads_result:
            closed.append(_as_finisher(end.returned, False))
    raised = tuple(_as_finisher(end.raised, True) for end in ends if end.raised is not None)
    return _Plan(timing, tuple(hists), tuple(counts), tuple(others), raised, tuple(closed), ends)


def _returned(plan: _Plan, elapsed: float, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
    """Record the returned end of every measure (the generator wrappers' form; the others inline it)."""
    for metric, put in plan.hists:
        try:
            put(elapsed)
        except Exception as error:
            _internal(metric, error)
    for metric, put in plan.counts:
        try:
            put()
        except Exception as error:
            _internal(metric, error)
    for finish in plan.others:
        finish(elapsed, args, kwargs, result)


def _wrapper_source(plan: _Plan, is_async: bool) -> tuple[str, dict[str, Any]]:
    """The source of a sync or coroutine wrapper for ``plan``, every recording unrolled, and its namespace.

    Unrolled because a loop over the ends costs about what a second wrapper does (benchmarks/bench_decorators.py):
    one ``instrument(timed_histogram(...), count_outcomes(...))`` wrapper is then cheaper than two stacked ones.
    Only indices go into the source; functions, bound methods, metric names and exception classes are in the
    namespace.
    """
    ns: dict[str, Any] = {"_clock": _clock, "_internal": _internal}
    elapsed = "elapsed = _clock() - start" if plan.timing else "elapsed = 0.0"
    call = "await _func(*args, **kwargs)" if is_async else "_func(*args, **kwargs)"
    lines = [f"{'async ' if is_async else ''}def wrapper(*args, **kwargs):"]
    if plan.timing:
        lines.append("    start = _clock()")
    raised = [end.raised for end in plan.ends if end.raised is not None]
    if raised:
        lines += ["    try:", f"        result = {call}", "    except BaseException as exc:", f"        {elapsed}"]
        for i, end in enumerate(raised):
            if isinstance(end, _Static):
                ns[f"_rp{i}"], ns[f"_re{i}"], ns[f"_rm{i}"] = end.put, end.errors, end.metric
                lines += [
                    f"        if isinstance(exc, _re{i}):",
                    "            try:",
                    f"                _rp{i}({'elapsed' if end.is_histogram else ''})",
                    "            except Exception as error:",
                    f"                _internal(_rm{i}, error)",
                ]
            else:
                ns[f"_rf{i}"] = end
                lines.append(f"        _rf{i}(elapsed, args, kwargs, exc)")
        lines.append("        raise")
    else:
        lines.append(f"    result = {call}")
    if plan.hists or plan.others:
        lines.append(f"    {elapsed}")
    for prefix, pairs, argument in (("_h", plan.hists, "elapsed"), ("_c", plan.counts, "")):
        for i, (metric, put) in enumerate(pairs):
            ns[f"{prefix}p{i}"], ns[f"{prefix}m{i}"] = put, metric
            lines += [
                "    try:",
                f"        {prefix}p{i}({argument})",
                "    except Exception as error:",
                f"        _internal({prefix}m{i}, error)",
            ]
    for i, finish in enumerate(plan.others):
        ns[f"_of{i}"] = finish
        lines.append(f"    _of{i}(elapsed, args, kwargs, result)")
    lines.append("    return result")
    return "\n".join(lines) + "\n", ns


def _generated(func: Callable[..., Any], plan: _Plan, is_async: bool) -> Callable[..., Any]:
    source, ns = _wrapper_source(plan, is_async)
    ns["_func"] = func
    exec(compile(source, "<lukhas_obs.decorators wrapper>", "exec"), ns)
    return cast(Callable[..., Any], ns["wrapper"])


def _wrap_function(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    return _generated(func, plan, is_async=False)


def _wrap_coroutine(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    return _generated(func, plan, is_async=True)  # CancelledError is timed, never an outcome unless in errors=


def _wrap_generator(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    clock, timing, raised, closed = _clock, plan.timing, plan.raised, plan.closed

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock() if timing else 0.0  # runs at the first next(): the iteration is measured
        try:
            result = yield from func(*args, **kwargs)  # send/throw/close reach the inner generator
        except GeneratorExit:
            elapsed = clock() - start if timing else 0.0
            for finish in closed:
                finish(elapsed, args, kwargs, None)
            raise
        except BaseException as exc:
            elapsed = clock() - start if timing else 0.0
            for finish in raised:
                finish(elapsed, args, kwargs, exc)
            raise
        _returned(plan, clock() - start if timing else 0.0, args, kwargs, result)
        return result

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], plan: _Plan) -> Callable[..., Any]:
    clock, timing, raised, closed = _clock, plan.timing, plan.raised, plan.closed

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock() if timing else 0.0  # runs at the first __anext__(): the iteration is measured
        try:
            inner = func(*args, **kwargs)
            try:
                value = await inner.asend(None)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        await inner.aclose()
                        raise
                    except BaseException as thrown:  # athrow() into the wrapper reaches the inner generator
                        value = await inner.athrow(thrown)
                    else:
                        value = await inner.asend(sent)
            except StopAsyncIteration:
                pass
        except GeneratorExit:
            elapsed = clock() - start if timing else 0.0
            for finish in closed:
                finish(elapsed, args, kwargs, None)
            raise
        except BaseException as exc:
            elapsed = clock() - start if timing else 0.0
            for finish in raised:
                finish(elapsed, args, kwargs, exc)
            raise
        _returned(plan, clock() - start if timing else 0.0, args, kwargs, None)

    return wrapper


_WRAPPERS: dict[str, Callable[[Callable[..., Any], _Plan], Callable[..., Any]]] = {
    "function": _wrap_function,
    "coroutine": _wrap_coroutine,
    "generator": _wrap_generator,
    "async generator": _wrap_async_generator,
}
