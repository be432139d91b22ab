"""Span and timing helpers: one call opens a span, times a block into a catalog histogram and records failures.

Two helpers, both usable as a context manager and as a decorator (sync functions, coroutines, generators and async
generators)::

    with lukhas_obs.spans.span("memory.query", k=8) as s:
        ...                                    # s is the OTel span (a non-recording one when telemetry is off)

    @timed("lukhas_memory_search_seconds", span_name="memory.query", k=8)
    def search(text): ...

Why not the OTel tracer directly: these helpers add the catalog's ``component`` to declared spans, drop attribute
values OTel cannot carry (None, dicts, objects) instead of raising, keep one exception path (status ERROR, an
``exception`` event, the same exception object re-raised with its traceback), and cost next to nothing when
lukhas-obs is not configured or disabled: no span object, no clock read, no attribute processing.

Hostile input never reaches the caller: a name that is not text makes the scope record nothing (the block still runs;
counted as ``invalid_span_name``); a ``str`` subclass (name, key or value) is copied to a plain ``str`` without calling
its dunders; lone surrogates become U+FFFD; ints outside int64 are dropped (``out_of_range``), never converted; an
exception whose ``__str__`` raises is recorded as unprintable. An exception raised inside the block always comes out
as the same object with the same traceback.

Generators: the span covers the whole iteration (first ``next`` to exhaustion or ``close``), and it is the current
span only while the generator body runs, so the consumer's code between items is not attributed to it.

Cost: the spans are real OTel SDK spans (``_Span`` objects; processors get ``on_start``/``_on_ending``/``on_end``,
exporters get ``ReadableSpan``), but they are built by a fast path from the active tracer's own pieces (sampler, id
generator, processor, limits, resource, scope) instead of through ``Tracer.start_span``: about half the cost of a
raw ``start_as_current_span``. It is used only while the SDK is the shape it was verified against (see
:func:`sdk_fingerprint`, :func:`fast_path_active`); otherwise spans take the public ``start_span`` path. Attribute
processing is memoised per scope and across equal ``span(...)`` calls (bounded, see :data:`MAX_PREPARED`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from contextvars import ContextVar, Token
from threading import Lock as _Lock
from time import perf_counter, time_ns
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, _Span
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace import sampling as _sampling
from opentelemetry.sdk.trace._tracer_metrics import NoOpTracerMetrics
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, StaticSampler, TraceIdRatioBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, TraceFlags
from opentelemetry.trace.propagation import _SPAN_KEY as _otel_span_key
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from lukhas_obs import catalog, drops, tracer_provider
from lukhas_obs.exporters.sanitize import MAX_NAME_LENGTH, clean_text
from lukhas_obs.instruments import CounterHandle, HistogramHandle, metric

__all__ = [
    "KNOWN_SDK_FINGERPRINTS",
    "SpanScope",
    "enabled",
    "fast_path_active",
    "sanitize_attributes",
    "sdk_fingerprint",
    "span",
    "timed",
    "use_fast_path",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
P = ParamSpec("P")

#: Instrumentation scope of spans opened through these helpers.
SCOPE = "lukhas_obs.spans"

_tracer = tracer_provider.get_tracer(SCOPE)
#: The helpers' tracer's instance dict: a ``start_span`` set there (a wrapper, a test's probe) sees every span, so
#: the fast path steps aside for it.
_tracer_fields: dict[str, Any] = vars(_tracer)
_components: dict[str, str | None] = {}
#: Undeclared span names remembered as such (declared ones, bounded by the catalogs, are always cached).
MAX_UNDECLARED_NAMES = 4096
_undeclared = 0
_PRIMITIVES: tuple[type, ...] = (str, bool, int, float)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Where drops of span names are reported (the name itself is not a usable label when it is not text).
WHERE = "lukhas_obs.span"
_log = logging.getLogger("lukhas_obs")


def enabled() -> bool:
    """True when spans and measurements are recorded (lukhas-obs configured and not disabled)."""
    return tracer_provider.active_provider() is not None


def _component(span_name: str) -> str | None:
    """The catalog component of a declared span name (cached; the cache is cleared when a catalog registers).

    The cache is bounded: every declared name is kept (the catalogs bound them), undeclared ones only up to
    :data:`MAX_UNDECLARED_NAMES` — a process opening spans with a million distinct names keeps a few thousand entries.
    """
    global _undeclared
    try:
        return _components[span_name]
    except KeyError:
        pass
    try:
        component: str | None = catalog.find_span(span_name).component
    except KeyError:
        component = None
    if component is not None:
        _components[span_name] = component
    elif _undeclared < MAX_UNDECLARED_NAMES:
        _undeclared += 1
        _components[span_name] = None
    return component


def _forget_components(_catalog: object = None) -> None:
    global _undeclared
    _components.clear()
    _undeclared = 0
    _prepared_memo.clear()  # its span attributes hold components


catalog.on_register(_forget_components)


def _span_name(name: object) -> str | None:
    """``name`` as a plain, valid, bounded ``str``; None (reported, counted) when it is not text."""
    if type(name) is str and name.isascii() and len(name) <= MAX_NAME_LENGTH:
        return name
    try:
        text = clean_text(name, MAX_NAME_LENGTH)
    except Exception:
        text = None
    if text is None:
        drops.report(WHERE, "invalid_span_name", _type_name(name))
    return text


def _type_name(value: object) -> str:
    try:
        return clean_text(type(value).__name__, 64) or "object"
    except Exception:  # pragma: no cover - a metaclass whose __name__ raises
        return "object"


def sanitize_attributes(where: str, attributes: Mapping[str, object]) -> dict[str, Any]:
    """The OTel-legal subset of ``attributes``: str/bool/int/float and homogeneous sequences of one of them.

    None is dropped silently (``meta.get("fold")`` is a normal argument); other values (dicts, bytes, objects, mixed
    sequences) are dropped and reported through :mod:`lukhas_obs.drops` under ``where``, by key only (never the
    value, which could be a secret). Values are made safe to carry: ``str`` subclasses become plain ``str`` (their
    dunders are never called), lone surrogates become U+FFFD, ``int`` subclasses become ``int``; an int outside int64
    is dropped as ``out_of_range`` (not converted: a float would change an identifier, a string the attribute's type).
    Never raises.
    """
    out: dict[str, Any] = {}
    try:
        items = list(dict.items(attributes) if type(attributes) is dict else attributes.items())
    except Exception:
        drops.report(where, "invalid_attribute_value", "span attributes", attribute=True)
        return out
    reason: str | None
    for key, value in items:
        if value is None:
            continue
        try:
            clean_key: str | None = key if type(key) is str else clean_text(key, MAX_NAME_LENGTH)
            if not clean_key:
                reason = "invalid_attribute_value"  # a key that is not text
            else:
                legal, reason = _legal(value)
                if reason is None:
                    out[clean_key] = legal
                    continue
        except Exception:
            reason = "invalid_attribute_value"
        drops.report(where, reason, f"span attribute {_key_text(key)!r}", attribute=True)
    return out


def _key_text(key: object) -> str:
    try:
        return clean_text(key, 64) or _type_name(key)
    except Exception:
        return "?"


def _legal(value: object) -> tuple[Any, str | None]:
    """(the OTel-legal form of ``value``, None) or (None, the drop reason)."""
    kind = type(value)
    if type(value) is str:
        return (value if value.isascii() else clean_text(value, None)), None
    if kind is bool or kind is float:
        return value, None
    if type(value) is int:
        return (value, None) if _INT64_MIN <= value <= _INT64_MAX else (None, "out_of_range")
    # Below, the casts restate what ``_kind``/``issubclass`` established from ``type(value)`` (never
    # ``isinstance``, which a spoofed ``__class__`` fools): a type checker cannot narrow ``value`` through them.
    primitive = _kind(value)
    if primitive is str:
        return clean_text(value, None), None
    if primitive is int:
        number = int.__int__(cast(int, value))
        return (number, None) if _INT64_MIN <= number <= _INT64_MAX else (None, "out_of_range")
    if primitive is float:
        return float.__float__(cast(float, value)), None
    if primitive is bool:
        return value, None
    if issubclass(kind, (list, tuple)):
        items: list[object] = list(
            tuple.__iter__(cast("tuple[object, ...]", value))
            if issubclass(kind, tuple)
            else list.__iter__(cast("list[object]", value))
        )
        if not _homogeneous(items):
            return None, "invalid_attribute_value"
        clean = []
        for item in items:
            legal, reason = _legal(item)
            if reason is not None:
                return None, reason
            clean.append(legal)
        return tuple(clean), None
    return None, "invalid_attribute_value"


def _kind(value: object) -> type | None:
    """Which OTel primitive ``value`` is (bool before int: True is an int to Python, not to OTel), else None.

    Decided on ``type(value)`` (never ``value.__class__``, which an object may fake or make raise).
    """
    kind = type(value)
    for primitive in _PRIMITIVES:
        if issubclass(kind, primitive):
            return primitive
    return None


def _homogeneous(values: list[Any]) -> bool:
    if not values:
        return True
    first = _kind(values[0])
    return first is not None and all(_kind(v) is first for v in values)


# -- the fast path: real SDK spans without the SDK's per-span overhead ------------------------------------------------
#
# ``Tracer.start_span`` + ``Span.end`` cost ~15 µs, most of it generic work that is the same for every span a scope
# opens: keyword-argument plumbing, ``BoundedAttributes`` validating the same attributes again, the sampler's
# ``SamplingResult``/``MappingProxyType``, ``SpanContext.__new__``, ``ReadableSpan.__init__``. The fast path builds
# the *same* objects (a ``_Span`` whose instance dict holds what the SDK's constructor would put there, a real
# ``BoundedAttributes``, a real ``ReadableSpan`` for ``on_end``) from pieces of the active SDK tracer, calls the very
# same span processor (``on_start``, ``_on_ending``, ``on_end``), and attaches the context through the runtime
# context's own ContextVar. Everything private it relies on is checked once per TracerProvider by
# :func:`_fast_pieces`, against the SDK itself: the source shape (:func:`sdk_fingerprint`) of every SDK function it
# stands in for, and a reference span built by the SDK's constructor compared field by field with one built here.
# Anything unexpected — another SDK version, a tracer that is not the SDK's, another runtime context, a span
# context or sampler it does not know — and spans take the public ``start_span`` path: an SDK upgrade costs speed,
# never correctness. ``tests/test_span_fastpath_differential.py`` checks that both paths export the same spans and
# call processors the same way.

_new_object = object.__new__
_tuple_new = tuple.__new__
_dict_setitem = dict.__setitem__
_SPAN_KEY: str = _otel_span_key
_TRACE_ID_MAX = 2**128 - 1
_SPAN_ID_MAX = 2**64 - 1
#: Trace flags by (sampled + 2 * random trace id), built once (the SDK builds equal ones per span).
_FLAGS = tuple(trace.TraceFlags(bits) for bits in range(4))
_RECORD_AND_SAMPLE = Decision.RECORD_AND_SAMPLE
_DROP = Decision.DROP
_RATIO_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT
#: Span classes whose instances are Spans without an ``isinstance`` check against the API's ABC.
_SDK_SPAN_TYPES = frozenset({_Span, NonRecordingSpan})

#: The SDK functions whose work the fast path does itself, as (owner, name): looked up when fingerprinted, so a
#: function replaced at run time (a patch, an instrumentation wrapper) counts as changed.
_MIRRORED: tuple[tuple[object, str], ...] = (
    (SdkTracer, "start_span"),
    (SdkSpan, "__init__"),
    (SdkSpan, "_new_events"),
    (SdkSpan, "_new_links"),
    (SdkSpan, "start"),
    (SdkSpan, "end"),
    (SdkSpan, "_readable_span"),
    (ReadableSpan, "__init__"),
    (BoundedAttributes, "__init__"),
    (BoundedList, "__init__"),
    (SpanContext, "__new__"),
    (trace, "get_current_span"),
    (trace, "set_span_in_context"),
    (ParentBased, "should_sample"),
    (StaticSampler, "should_sample"),
    (TraceIdRatioBased, "should_sample"),
    (_sampling, "_get_parent_trace_state"),
    (otel_context, "get_value"),
    (otel_context, "set_value"),
    (otel_context, "attach"),
    (otel_context, "detach"),
    (ContextVarsRuntimeContext, "attach"),
    (ContextVarsRuntimeContext, "detach"),
    (ContextVarsRuntimeContext, "get_current"),
)
#: Fingerprints of SDK versions the fast path was verified against (opentelemetry-sdk 1.45.x). To admit another
#: version: read the SDK's changes to the functions in ``_MIRRORED``, mirror them here, run the differential test,
#: then add its ``sdk_fingerprint()``.
KNOWN_SDK_FINGERPRINTS = frozenset({"088433f0363d118f"})


def sdk_fingerprint() -> str:
    """A digest of the names, arguments and defaults of the SDK functions the fast path stands in for.

    Any change to what those functions reference (a new field, a new hook, another helper) changes it, and the fast
    path then stays off: it mirrors the SDK's behaviour, so it may only run against code it was verified with.
    """
    parts = []
    for owner, attribute in _MIRRORED:
        function = getattr(owner, attribute)
        code = function.__code__
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        defaults = [*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()]
        parts.append(
            f"{function.__qualname__}:{','.join(names)}:{','.join(code.co_names)}:"
            + ",".join(_default_text(value) for value in defaults)
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _default_text(value: object) -> str:
    """A default value as stable text: primitives by value, anything else by type (its repr may hold an address)."""
    if value is None or type(value) in (bool, int, float, str):
        return repr(value)
    return type(value).__qualname__


class _Pieces:
    """What the fast path takes from one SDK tracer (checked by :func:`_fast_pieces`), plus per-span templates.

    Checked per span against ``tracer``'s attributes (``tracer_fields``, one dict comparison: identical values
    compare equal without calling their ``__eq__``): a replaced sampler, resource, config, id generator, ...
    re-derives the pieces (the SDK itself replaces a live tracer's resource after a fork and its config when the
    configurator changes).
    """

    __slots__ = (
        "context_var",
        "end_metrics",
        "events_maxlen",
        "flags_random",
        "id_generator",
        "limits",
        "links_maxlen",
        "metrics",
        "plan",
        "processor",
        "provider",
        "resource",
        "sampler",
        "span_template",
        "tracer",
        "tracer_config",
        "tracer_fields",
    )

    provider: SdkTracerProvider
    tracer: SdkTracer
    sampler: Any
    resource: Any
    tracer_config: Any
    processor: Any
    id_generator: Any
    limits: SpanLimits
    metrics: Any
    end_metrics: Any
    plan: tuple[Any, ...] | None
    context_var: ContextVar[Context]
    events_maxlen: int | None
    links_maxlen: int | None
    flags_random: bool | None
    span_template: dict[str, Any]
    tracer_fields: dict[str, Any]



def _fast_pieces(provider: object) -> _Pieces | None:
    """The fast path's pieces of ``provider``'s tracer for :data:`SCOPE`, or None: use the public path.

    The one place that decides whether the SDK is the shape the fast path was written against. Never raises.
    """
    try:
        return _derive_pieces(provider)
    except Exception as exc:
        _log.debug("lukhas_obs: span fast path off for this provider (%s)", type(exc).__name__)
        return None


class _Unexpected(Exception):
    """The SDK is not the shape the fast path was verified against (the message says what differs)."""


def _expect(condition: object, what: str) -> None:
    if not condition:
        raise _Unexpected(what)


#: The instance fields of an SDK ``_Span``, in the order its constructor sets them; those of ``_PER_SPAN`` differ
#: from span to span, the others are the tracer's (taken from a reference span the SDK's constructor built).
_SPAN_FIELDS = [
    "_name",
    "_context",
    "_kind",
    "_instrumentation_info",
    "_instrumentation_scope",
    "_parent",
    "_start_time",
    "_end_time",
    "_attributes",
    "_events",
    "_links",
    "_resource",
    "_status",
    "_sampler",
    "_trace_config",
    "_record_exception",
    "_set_status_on_exception",
    "_span_processor",
    "_limits",
    "_lock",
    "_record_end_metrics",
]
_PER_SPAN = ("_name", "_context", "_parent", "_start_time", "_attributes", "_events", "_links", "_lock")
_READABLE_FIELDS = [
    "_name",
    "_context",
    "_kind",
    "_instrumentation_info",
    "_instrumentation_scope",
    "_parent",
    "_start_time",
    "_end_time",
    "_attributes",
    "_events",
    "_links",
    "_resource",
    "_status",
]
_BOUNDED_FIELDS = ["_dict", "maxlen", "dropped", "max_value_len", "_lock", "_immutable"]
_LIST_FIELDS = ["dropped", "_dq", "_lock"]


def _derive_pieces(provider: object) -> _Pieces:
    _expect(type(otel_context._RUNTIME_CONTEXT) is ContextVarsRuntimeContext, "runtime context")
    context_var = otel_context._RUNTIME_CONTEXT._current_context  # type: ignore[attr-defined]
    _expect(type(context_var) is ContextVar, "context variable")
    _expect(sdk_fingerprint() in KNOWN_SDK_FINGERPRINTS, "SDK version")
    _expect(isinstance(provider, SdkTracerProvider), "provider")
    tracer = provider.get_tracer(SCOPE)  # type: ignore[attr-defined]
    _expect(type(tracer) is SdkTracer, "tracer")
    limits = tracer._span_limits
    _expect(type(limits) is SpanLimits, "span limits")
    processor = tracer.span_processor
    for method in ("on_start", "_on_ending", "on_end"):
        _expect(callable(getattr(processor, method, None)), "span processor")
    id_generator = tracer.id_generator
    for method in ("generate_trace_id", "generate_span_id", "is_trace_id_random"):
        _expect(callable(getattr(id_generator, method, None)), "id generator")
    pieces = _Pieces()
    pieces.provider = provider  # type: ignore[assignment]
    pieces.tracer = tracer
    pieces.tracer_fields = dict(vars(tracer))
    pieces.sampler = tracer.sampler
    pieces.resource = tracer.resource
    pieces.tracer_config = tracer._tracer_config
    _expect(type(tracer._tracer_config.is_enabled) is bool, "tracer config")
    pieces.processor = processor
    pieces.id_generator = id_generator
    pieces.limits = limits
    pieces.metrics = tracer._tracer_metrics
    _expect(callable(getattr(pieces.metrics, "start_span", None)), "tracer metrics")
    # The SDK's internal span metrics are off unless OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED: then start_span
    # returns one shared no-op, taken once here (None: ask per span).
    pieces.end_metrics = (
        tracer._tracer_metrics.start_span(None, _DROP) if type(tracer._tracer_metrics) is NoOpTracerMetrics else None
    )
    pieces.plan = _sampler_plan(tracer.sampler)
    pieces.context_var = context_var
    pieces.events_maxlen = limits.max_events
    pieces.links_maxlen = limits.max_links
    # RandomIdGenerator.is_trace_id_random() is a constant True; another generator is asked per span.
    pieces.flags_random = True if type(id_generator) is RandomIdGenerator else None

    # A reference span from the SDK's own constructor, with this tracer's pieces: its tracer-wide fields become the
    # template, and a span built here from the same inputs must equal it field by field.
    context = trace.SpanContext(0x1F, 0x2F, False, _FLAGS[3])
    attributes: dict[str, Any] = {"a": "b", "n": 1, "t": ("x", "y")}
    reference = _Span(
        name="lukhas.check",
        context=context,
        parent=None,
        sampler=tracer.sampler,
        resource=tracer.resource,
        attributes=MappingProxyType(attributes),
        span_processor=processor,
        kind=trace.SpanKind.INTERNAL,
        links=(),
        instrumentation_info=tracer.instrumentation_info,
        record_exception=True,
        set_status_on_exception=True,
        limits=limits,
        instrumentation_scope=tracer._instrumentation_scope,
        record_end_metrics=_noop_metrics,
    )
    theirs = vars(reference)
    _expect(list(theirs) == _SPAN_FIELDS, "span fields")
    template = dict(theirs)
    for key in _PER_SPAN:
        template[key] = None
    template["_record_end_metrics"] = None
    pieces.span_template = template
    built = _build_span(pieces, "lukhas.check", context, None, _attributes_template(limits, attributes), _noop_metrics)
    mine = vars(built)
    _expect(list(mine) == _SPAN_FIELDS, "built span fields")
    for key in ("_name", "_context", "_parent", "_start_time", "_record_end_metrics"):
        _expect(mine[key] is theirs[key] or mine[key] == theirs[key], key)
    _expect(type(mine["_lock"]) is type(theirs["_lock"]), "span lock")
    bounded, expected = mine["_attributes"], theirs["_attributes"]
    _expect(type(bounded) is type(expected) is BoundedAttributes, "attributes type")
    _expect(list(vars(expected)) == _BOUNDED_FIELDS == list(vars(bounded)), "attributes fields")
    for key in _BOUNDED_FIELDS:
        if key == "_lock":
            _expect(type(vars(bounded)[key]) is type(vars(expected)[key]), "attributes lock")
        else:
            _expect(vars(bounded)[key] == vars(expected)[key], f"attributes {key}")
    _expect(list(bounded.items()) == list(expected.items()), "attribute order")
    for key in ("_events", "_links"):
        ours, sdks = mine[key], theirs[key]
        _expect(type(ours) is type(sdks) is BoundedList, key)
        _expect(list(vars(sdks)) == _LIST_FIELDS == list(vars(ours)), f"{key} fields")
        _expect(ours._dq.maxlen == sdks._dq.maxlen and ours.dropped == sdks.dropped == 0 and not sdks._dq, key)
        _expect(type(ours._lock) is type(sdks._lock), f"{key} lock")
    reference._start_time = mine["_start_time"] = 1
    reference._end_time = mine["_end_time"] = 2
    readable, wanted = _readable(mine), reference._readable_span()
    _expect(type(readable) is type(wanted) is ReadableSpan, "readable span type")
    _expect(list(vars(wanted)) == _READABLE_FIELDS == list(vars(readable)), "readable span fields")
    for key in _READABLE_FIELDS:
        _expect(vars(readable)[key] is mine[key] and vars(wanted)[key] is theirs[key], f"readable {key}")
    return pieces


def _noop_metrics() -> None:
    pass


def _sampler_plan(sampler: object) -> tuple[Any, ...] | None:
    """The decisions of one of the SDK's own samplers, as data: five leaves (root, remote parent sampled / not,
    local parent sampled / not), each a ``Decision`` (a static sampler) or an ``int`` bound (a trace-id ratio).
    None for any other sampler: it is called as the SDK calls it."""
    kind = type(sampler)
    if getattr(kind, "should_sample", None) is ParentBased.should_sample and "should_sample" not in vars(sampler):
        leaves = tuple(
            _leaf_plan(getattr(sampler, name, None))
            for name in (
                "_root",
                "_remote_parent_sampled",
                "_remote_parent_not_sampled",
                "_local_parent_sampled",
                "_local_parent_not_sampled",
            )
        )
        return None if any(leaf is None for leaf in leaves) else leaves
    leaf = _leaf_plan(sampler)
    return None if leaf is None else (leaf,) * 5


def _leaf_plan(sampler: object) -> Any:
    kind = type(sampler)
    if sampler is None or "should_sample" in vars(sampler):
        return None
    if getattr(kind, "should_sample", None) is StaticSampler.should_sample:
        decision = getattr(sampler, "_decision", None)
        return decision if type(decision) is Decision else None
    if (
        getattr(kind, "should_sample", None) is TraceIdRatioBased.should_sample
        and getattr(kind, "bound", None) is TraceIdRatioBased.bound
        and getattr(kind, "TRACE_ID_LIMIT", None) == _RATIO_LIMIT
    ):
        bound = sampler.bound  # type: ignore[attr-defined]
        return bound if type(bound) is int else None
    return None


def _attributes_template(limits: SpanLimits, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The instance dict of the ``BoundedAttributes`` the SDK builds for these span attributes under ``limits``
    (through its own constructor: limits, truncation and drops applied once), for :func:`_build_span` to copy."""
    bounded = BoundedAttributes(
        limits.max_span_attributes,
        MappingProxyType(attributes),
        immutable=False,
        max_value_len=limits.max_span_attribute_length,
    )
    return dict(vars(bounded))


def _build_span(
    pieces: _Pieces,
    name: str,
    context: trace.SpanContext,
    parent: trace.SpanContext | None,
    attributes: dict[str, Any],
    end_metrics: Any,
) -> SdkSpan:
    """A ``_Span`` as the SDK's constructor leaves it (not started): ``attributes`` is an attributes template."""
    span = _new_object(_Span)
    fields = pieces.span_template.copy()
    fields["_name"] = name
    fields["_context"] = context
    fields["_parent"] = parent
    bounded = _new_object(BoundedAttributes)
    values = attributes.copy()
    values["_dict"] = values["_dict"].copy()
    values["_lock"] = _Lock()
    bounded.__dict__ = values
    fields["_attributes"] = bounded
    # deque((), n): a positional maxlen is parsed twice as fast as the keyword
    events = _new_object(BoundedList)
    events.__dict__ = {"dropped": 0, "_dq": deque((), pieces.events_maxlen), "_lock": _Lock()}  # noqa: RUF037
    fields["_events"] = events
    links = _new_object(BoundedList)
    links.__dict__ = {"dropped": 0, "_dq": deque((), pieces.links_maxlen), "_lock": _Lock()}  # noqa: RUF037
    fields["_links"] = links
    fields["_lock"] = _Lock()
    fields["_record_end_metrics"] = end_metrics
    span.__dict__ = fields
    return span


def _readable(fields: dict[str, Any]) -> ReadableSpan:
    """The ``ReadableSpan`` ``Span._readable_span`` makes of a span with instance dict ``fields``."""
    readable = _new_object(ReadableSpan)
    readable.__dict__ = {
        "_name": fields["_name"],
        "_context": fields["_context"],
        "_kind": fields["_kind"],
        "_instrumentation_info": fields["_instrumentation_info"],
        "_instrumentation_scope": fields["_instrumentation_scope"],
        "_parent": fields["_parent"],
        "_start_time": fields["_start_time"],
        "_end_time": fields["_end_time"],
        "_attributes": fields["_attributes"],
        "_events": fields["_events"],
        "_links": fields["_links"],
        "_resource": fields["_resource"],
        "_status": fields["_status"],
    }
    return readable


def _end_fast(span: Any) -> None:
    """``Span.end()`` for a span the fast path built (what the SDK does, without its keyword plumbing)."""
    fields = span.__dict__
    with fields["_lock"]:
        ended = fields["_end_time"] is not None
        if not ended:
            fields["_end_time"] = time_ns()
            fields["_attributes"]._immutable = True
    if ended:  # the block ended it itself: the SDK's own end() logs its warning
        span.end()
        return
    end_metrics = fields["_record_end_metrics"]
    if end_metrics:
        end_metrics()
    processor = fields["_span_processor"]
    processor._on_ending(span)
    processor.on_end(_readable(fields))


#: (provider, its pieces or None): one tuple, replaced whole, so a thread never pairs one provider with another's
#: pieces while a configuration changes.
_fast_cache: tuple[object, _Pieces | None] = (None, None)
#: False forces every span through the public ``start_span`` path (the differential test's reference).
_fast_enabled = True


def _pieces_for(provider: SdkTracerProvider) -> _Pieces | None:
    """The pieces for ``provider`` (derived on the first span after a configuration change, then cached)."""
    global _fast_cache
    pieces = _fast_pieces(provider) if _fast_enabled else None
    _fast_cache = (provider, pieces)
    return pieces


def use_fast_path(enabled: bool) -> None:
    """Turn the span fast path on (default) or off for this process; off, every span takes the public SDK path.

    For tests and for ruling the fast path out when investigating a problem; spans are the same either way.
    """
    global _fast_enabled, _fast_cache
    _fast_enabled = bool(enabled)
    _fast_cache = (None, None)


def fast_path_active() -> bool:
    """True when spans of the active configuration take the fast path (False: the public SDK path, or none)."""
    provider = tracer_provider.active_provider()
    if provider is None:
        return False
    cached = _fast_cache
    pieces = cached[1] if cached[0] is provider else _pieces_for(provider)
    return pieces is not None


def _start_again(first: Exception, name: str, attributes: Mapping[str, Any]) -> Span:
    """What the switching tracer's ``start_span`` does once the SDK raised ``first`` (for the fast path: a span
    processor's ``on_start`` raised): start the span again, sanitised and without links, through the public path, or
    a non-recording span counted as ``invalid_span``. Never raises. Mirrors ``_SwitchingTracer.start_span``; the
    differential test checks both paths call a raising processor alike."""
    try:
        delegate = _tracer._tracer()  # type: ignore[attr-defined]
        return delegate.start_span(
            name,
            None,
            trace.SpanKind.INTERNAL,
            tracer_provider._clean_attributes(attributes),
            (),
            None,
            True,
            True,
        )
    except Exception:
        tracer_provider._report("invalid_span", type(first).__name__)
        return trace.INVALID_SPAN


class _Prepared:
    """A scope's attributes, split once: the span's (sanitised), each metric's (declared keys), and the fast path's
    ``BoundedAttributes`` template of the span's (per span limits). Shared by equal scopes (:func:`_memo_key`)."""

    __slots__ = ("failure_attrs", "fast_attrs", "handles", "metric_attrs", "record", "span_attrs")

    def __init__(
        self,
        span_attrs: dict[str, Any],
        metric_attrs: dict[str, object],
        failure_attrs: dict[str, object],
        handles: tuple[object, ...],
        record: Callable[[float], None] | None = None,
    ) -> None:
        self.span_attrs = span_attrs
        self.metric_attrs = metric_attrs
        self.failure_attrs = failure_attrs
        self.handles = handles  # keeps the handles whose id() is in the memo key alive as long as the entry
        #: The timed histogram bound to ``metric_attrs`` (``bind(...).record``; None: record through the handle)
        self.record = record
        #: (span limits, attribute items, BoundedAttributes template), made on first fast-path use per limits
        self.fast_attrs: tuple[SpanLimits, tuple[tuple[str, Any], ...], dict[str, Any]] | None = None

    def attributes_for(self, limits: SpanLimits, sampler_attrs: Any) -> dict[str, Any]:
        """The ``BoundedAttributes`` template of the span attributes under ``limits`` (cached per limits object).

        ``sampler_attrs``: what a sampler the fast path does not know returned (None: one of the SDK's samplers,
        which give the span its own attributes); when those are not exactly the span's own, they are used instead.
        """
        cached = self.fast_attrs
        if cached is None or cached[0] is not limits:
            attrs = self.span_attrs
            cached = self.fast_attrs = (limits, tuple(attrs.items()), _attributes_template(limits, attrs))
        if sampler_attrs is not None and tuple(sampler_attrs.items()) != cached[1]:
            return _attributes_template(limits, sampler_attrs)
        return cached[2]


#: Most entries of the scope memo (cleared whole when full), most attributes and longest text value of a memoised
#: scope: bounds what the memo holds (~1024 x 16 x 128 characters) whatever values callers pass.
MAX_PREPARED = 1024
MEMO_MAX_ATTRIBUTES = 16
MEMO_MAX_TEXT = 128
_prepared_memo: dict[tuple[object, ...], _Prepared] = {}


def _memo_key(
    name: str, histogram: object, failures: object, attributes: object
) -> tuple[object, ...] | None:
    """The memo key of a scope, or None when it must not be shared: any key that is not a plain ``str`` or any value
    that is not None, a plain ``str``/``bool``, an int64 or a nonzero, non-NaN float (those are the values whose
    sanitising is a pure function reporting no drop; a drop must be counted on every use), text of at most
    :data:`MEMO_MAX_TEXT` characters, at most :data:`MEMO_MAX_ATTRIBUTES` attributes. Values are keyed with their
    type (``True == 1 == 1.0`` to Python); ``0.0`` is left out (it equals ``-0.0``)."""
    if type(attributes) is not dict or len(attributes) > MEMO_MAX_ATTRIBUTES:
        return None
    parts: list[object] = [name, id(histogram), id(failures)]
    for key, value in attributes.items():
        kind = type(value)
        if type(key) is not str or len(key) > MEMO_MAX_TEXT:
            return None
        if kind is str:
            if len(value) > MEMO_MAX_TEXT:
                return None
        elif kind is bool or value is None:
            pass
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                return None
        elif kind is float:
            if not value or value != value:
                return None
        else:
            return None
        parts += (key, kind, value)
    return tuple(parts)


class _Open:
    """State of one entered scope: the span, the context token (None when detached), the start time, and the
    fast-path pieces the span was built from (None: the span came from the public SDK path)."""

    __slots__ = ("fast", "span", "start", "token")

    def __init__(self, span: Span, token: Token[Context] | None, start: float, fast: _Pieces | None = None) -> None:
        self.span = span
        self.token = token
        self.start = start
        self.fast = fast


class SpanScope:
    """What :func:`span` and :func:`timed` return: a context manager and a decorator around one span (+ timing).

    Attribute processing happens once, on first use while telemetry is on, and is cached: decorating a hot
    function costs the span and one histogram record per call, nothing more. One instance may decorate any number of
    functions and be used concurrently as a decorator; as a context manager, use one instance per ``with``
    (``with span(...)``), which is what the call syntax gives you.
    """

    __slots__ = (
        "_failures",
        "_histogram",
        "_name",
        "_prep",
        "_raw",
        "_redact",
        "_stack",
    )

    def __init__(
        self,
        name: str,
        attributes: dict[str, object],
        histogram: HistogramHandle | None = None,
        failures: CounterHandle | None = None,
        *,
        redact_exceptions: bool = False,
    ) -> None:
        self._name: str | None = _span_name(name)  # None: not text; the scope records nothing (counted)
        self._raw = attributes
        self._histogram = histogram
        self._failures = failures
        self._redact = redact_exceptions
        self._prep: _Prepared | None = None  # set by _prepare, on first live use
        self._stack: list[_Open | None] | None = None

    def __repr__(self) -> str:
        timed_by = f" timed by {self._histogram.spec.name}" if self._histogram is not None else ""
        return f"<SpanScope {self._name!r}{timed_by}>"

    @property
    def name(self) -> str:
        """The span name (as recorded: plain, valid, bounded text; empty when the given name was not text)."""
        return self._name if self._name is not None else ""

    # -- the one open/close path every form goes through ------------------------------------------------------

    def _prepare(self) -> _Prepared:
        """Split the call-time attributes: all legal ones to the span, declared ones to each metric. Never raises.

        Memoised across scopes (``with span("q", k=8)`` makes a new scope per call): scopes with the same name,
        metrics and plain attribute values share one :class:`_Prepared` (see :func:`_memo_key`).
        """
        raw = self._raw
        name = self._name or ""
        key = _memo_key(name, self._histogram, self._failures, raw)
        if key is not None:
            found = _prepared_memo.get(key)
            if found is not None:
                self._prep = found
                return found
        span_attrs = sanitize_attributes(name, raw)
        try:
            component = _component(name)
            if component is None and self._histogram is not None:
                component = self._histogram.spec.component
            if component is not None:
                span_attrs.setdefault("component", component)
            metric_attrs = _declared(self._histogram, raw) if self._histogram is not None else {}
            failure_attrs = _declared(self._failures, raw) if self._failures is not None else {}
        except Exception as internal:  # a hostile attribute key (its __hash__/__eq__ raises)
            drops.report(name, "internal_error", type(internal).__name__)
            metric_attrs, failure_attrs = {}, {}
        record = None
        if self._histogram is not None:
            try:  # bound once: validated once per configuration instead of per measurement
                record = self._histogram.bind(**metric_attrs).record
            except Exception:  # pragma: no cover - handles never raise; then record through the handle
                record = None
        prep = self._prep = _Prepared(
            span_attrs, metric_attrs, failure_attrs, (self._histogram, self._failures), record
        )
        if key is not None:
            if len(_prepared_memo) >= MAX_PREPARED:
                _prepared_memo.clear()  # bounded: a process with endless distinct values keeps only recent ones
            _prepared_memo[key] = prep
        return prep

    def _open(self, attach: bool = True) -> _Open | None:
        """Start the span (and the clock when a histogram is timed), or None when nothing records. Never raises."""
        provider = tracer_provider.active_provider()
        if provider is None or self._name is None:
            return None
        try:
            prep = self._prep or self._prepare()
            cached = _fast_cache
            pieces = cached[1] if cached[0] is provider else _pieces_for(provider)
            if pieces is not None and "start_span" not in _tracer_fields:
                state = self._open_fast(pieces, prep, attach)
                if state is not None:
                    return state
            span = _tracer.start_span(self._name, attributes=prep.span_attrs)
        except Exception as internal:  # pragma: no cover - the switching tracer never raises; belt and braces
            drops.report(self._name, "internal_error", type(internal).__name__)
            return None
        return self._entered(span, attach)

    def _entered(self, span: Span, attach: bool) -> _Open:
        """The state of a span started through the public path: made current (``attach``) and timed."""
        token = None
        if attach:
            try:
                token = otel_context.attach(trace.set_span_in_context(span))
            except Exception:  # pragma: no cover - attach fails only on a broken context implementation
                token = None
        return _Open(span, token, perf_counter() if self._histogram is not None else 0.0)

    def _open_fast(self, pieces: _Pieces, prep: _Prepared, attach: bool) -> _Open | None:
        """``Tracer.start_span`` + attach, done with the SDK's pieces (see :func:`_fast_pieces`); None when this
        span must take the public path (nothing was started then). Each step is the SDK's, in the SDK's order."""
        try:
            if pieces.tracer.__dict__ != pieces.tracer_fields:  # a tracer attribute was replaced: derive again
                fresh = _pieces_for(pieces.provider)
                if fresh is None:
                    return None
                pieces = fresh
            context_var = pieces.context_var
            parent = context_var.get().get(_SPAN_KEY)
            parent_context: SpanContext | None = None
            if parent is not None and (type(parent) in _SDK_SPAN_TYPES or isinstance(parent, Span)):
                parent_context = cast(Span, parent).get_span_context()
                if type(parent_context) is not SpanContext or type(parent_context[3]) is not TraceFlags:
                    return None  # the SDK's own checks (and their errors) decide
                if not parent_context[5]:  # is_valid
                    parent_context = None
            if not pieces.tracer_config.is_enabled:
                return None
            trace_id = pieces.id_generator.generate_trace_id() if parent_context is None else parent_context[0]
            name = cast(str, self._name)
            span_attrs = prep.span_attrs
            plan = pieces.plan
            if plan is not None:  # one of the SDK's samplers: its decision, without its SamplingResult
                if parent_context is None:
                    leaf = plan[0]
                    trace_state = None
                else:
                    if parent_context[2]:  # remote parent
                        leaf = plan[1] if parent_context[3] & 1 else plan[2]
                    else:
                        leaf = plan[3] if parent_context[3] & 1 else plan[4]
                    trace_state = parent_context[4]
                if type(leaf) is int:
                    decision = _RECORD_AND_SAMPLE if trace_id & _RATIO_LIMIT < leaf else _DROP
                else:
                    decision = leaf
                sampled = decision is _RECORD_AND_SAMPLE
                recording = decision is not _DROP
                sampler_attrs: Any = None
            else:
                result = pieces.sampler.should_sample(
                    None, trace_id, name, trace.SpanKind.INTERNAL, span_attrs, ()
                )
                decision = result.decision
                sampled = decision.is_sampled()
                recording = decision.is_recording()
                trace_state = result.trace_state
                sampler_attrs = result.attributes
            random: Any
            if parent_context is None:
                random = pieces.flags_random
                if random is None:
                    random = pieces.id_generator.is_trace_id_random()
            else:
                random = parent_context[3] & 2
            flags = _FLAGS[(1 if sampled else 0) + (2 if random else 0)]
            attrs_template = prep.attributes_for(pieces.limits, sampler_attrs) if recording else {}
            span_id = pieces.id_generator.generate_span_id()
            context = _tuple_new(
                SpanContext,
                (
                    trace_id,
                    span_id,
                    False,
                    flags,
                    DEFAULT_TRACE_STATE if trace_state is None else trace_state,
                    0 < trace_id <= _TRACE_ID_MAX and 0 < span_id <= _SPAN_ID_MAX,
                ),
            )
            end_metrics = pieces.end_metrics
            if end_metrics is None:  # the SDK's internal span metrics are on
                end_metrics = pieces.metrics.start_span(parent_context, decision)
            if recording:
                span: Any = _build_span(pieces, name, context, parent_context, attrs_template, end_metrics)
                span.__dict__["_start_time"] = time_ns()
            else:
                span = NonRecordingSpan(context)
        except Exception:  # nothing started: the public path decides (and reports)
            return None
        if recording:
            try:
                pieces.processor.on_start(span, parent_context=None)
            except Exception as first:  # a span processor raised: recover as the switching tracer does
                return self._entered(_start_again(first, name, span_attrs), attach)
        token = None
        if attach:
            try:
                current = Context(context_var.get())  # read again: on_start may have attached a context
                _dict_setitem(current, _SPAN_KEY, span)
                token = context_var.set(current)
            except Exception:  # pragma: no cover - a Context copy and a ContextVar.set do not fail
                token = None
        return _Open(span, token, perf_counter() if self._histogram is not None else 0.0, pieces)

    def _close(self, state: _Open, exc: BaseException | None) -> None:
        """Record the elapsed time and any failure, detach the context, end the span. Never raises."""
        try:
            prep = cast(_Prepared, self._prep)  # set by _open
            if self._histogram is not None:
                elapsed = perf_counter() - state.start
                if prep.record is not None:
                    prep.record(elapsed)
                else:
                    self._histogram.record(elapsed, **prep.metric_attrs)
            if isinstance(exc, Exception):
                if self._failures is not None:
                    attrs = prep.failure_attrs
                    if "reason" not in attrs and self._failures.spec.attribute("reason") is not None:
                        attrs = {**attrs, "reason": type(exc).__name__}
                    self._failures.add(1, **attrs)
                _record_exception(state.span, exc, redact=self._redact)
        except Exception as internal:  # pragma: no cover - handles never raise; belt and braces
            drops.report(self._name or WHERE, "internal_error", type(internal).__name__)
        finally:
            try:
                token = state.token
                fast = state.fast
                if fast is None:
                    if token is not None:
                        otel_context.detach(token)
                    state.span.end()
                else:
                    if token is not None:
                        try:
                            fast.context_var.reset(token)
                        except Exception:  # e.g. closed in another context: the SDK's detach logs it
                            otel_context.detach(token)
                    span = state.span
                    if type(span) is _Span:
                        _end_fast(span)
            except Exception as internal:  # a span processor raised in on_end
                drops.report(self._name or WHERE, "internal_error", type(internal).__name__)

    # -- context manager ------------------------------------------------------------------------------------------

    def __enter__(self) -> Span:
        state = self._open()
        stack = self._stack
        if state is None:
            if stack:  # re-entered while an outer entry of this object is open: keep entries paired
                stack.append(None)
            return trace.INVALID_SPAN
        if stack is None:
            stack = self._stack = []
        stack.append(state)
        return state.span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        state = self._stack.pop() if self._stack else None
        if state is not None:
            self._close(state, exc)
        # returning None: the exception (if any) propagates unchanged, same object, same traceback

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator --------------------------------------------------------------------------------------------------

    def __call__(self, fn: F) -> F:
        """Wrap ``fn`` (sync, coroutine, generator or async generator function) so each call runs in the scope."""
        if inspect.isasyncgenfunction(fn):
            return functools.wraps(fn)(self._wrap_async_generator(fn))  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return functools.wraps(fn)(self._wrap_generator(fn))  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):
            return functools.wraps(fn)(self._wrap_coroutine(fn))  # type: ignore[return-value]
        return functools.wraps(fn)(self._wrap_function(fn))  # type: ignore[return-value]

    def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` inside the scope and return its result (one decorated call, inline).

        Safe to use from many threads on one shared instance: the per-call state is local.
        """
        state = self._open()
        if state is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._close(state, exc)
            raise
        self._close(state, None)
        return result

    async def run_async(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` inside the scope and return its result (the coroutine form of :meth:`run`)."""
        state = self._open()
        if state is None:
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._close(state, exc)
            raise
        self._close(state, None)
        return result

    def _wrap_function(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        open_, close = self._open, self._close

        def wrapper(*args: Any, **kwargs: Any) -> Any:  # run(), inlined: one call less per decorated call
            state = open_()
            if state is None:
                return fn(*args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                close(state, exc)
                raise
            close(state, None)
            return result

        return wrapper

    def _wrap_coroutine(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await self.run_async(fn, *args, **kwargs)

        return wrapper

    def _wrap_generator(self, fn: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Generator[Any, Any, Any]]:
        def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            inner = fn(*args, **kwargs)
            state = self._open(attach=False)  # runs at the first next(): the span covers the iteration
            if state is None:
                return (yield from inner)
            ctx = trace.set_span_in_context(state.span)
            failure: BaseException | None = None
            try:
                sent: Any = None
                thrown: BaseException | None = None
                while True:
                    token = otel_context.attach(ctx)
                    try:
                        item = inner.throw(thrown) if thrown is not None else inner.send(sent)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        otel_context.detach(token)
                    sent, thrown = None, None
                    try:
                        sent = yield item
                    except GeneratorExit:
                        token = otel_context.attach(ctx)
                        try:
                            inner.close()
                        finally:
                            otel_context.detach(token)
                        raise
                    except BaseException as exc:
                        thrown = exc
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._close(state, failure)

        return wrapper

    def _wrap_async_generator(
        self, fn: Callable[..., AsyncGenerator[Any, Any]]
    ) -> Callable[..., AsyncGenerator[Any, Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            inner = fn(*args, **kwargs)
            state = self._open(attach=False)
            if state is None:
                async for item in _passthrough(inner):
                    yield item
                return
            ctx = trace.set_span_in_context(state.span)
            failure: BaseException | None = None
            try:
                sent: Any = None
                thrown: BaseException | None = None
                while True:
                    token = otel_context.attach(ctx)
                    try:
                        item = await (inner.athrow(thrown) if thrown is not None else inner.asend(sent))
                    except StopAsyncIteration:
                        return
                    finally:
                        otel_context.detach(token)
                    sent, thrown = None, None
                    try:
                        sent = yield item
                    except GeneratorExit:
                        token = otel_context.attach(ctx)
                        try:
                            await inner.aclose()
                        finally:
                            otel_context.detach(token)
                        raise
                    except BaseException as exc:
                        thrown = exc
            except BaseException as exc:
                failure = exc
                raise
            finally:
                self._close(state, failure)

        return wrapper


async def _passthrough(inner: AsyncGenerator[Any, Any]) -> AsyncGenerator[Any, Any]:
    """Forward ``asend``/``athrow``/``aclose`` to ``inner`` unchanged (the untraced path of async generators)."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            item = await (inner.athrow(thrown) if thrown is not None else inner.asend(sent))
        except StopAsyncIteration:
            return
        sent, thrown = None, None
        try:
            sent = yield item
        except GeneratorExit:
            await inner.aclose()
            raise
        except BaseException as exc:
            thrown = exc


_declared_keys: dict[str, frozenset[str]] = {}


def _declared(handle: HistogramHandle | CounterHandle, attributes: Mapping[str, object]) -> dict[str, object]:
    """The call-time attributes ``handle``'s metric declares (its catalog attributes); the rest are span-only."""
    keys = _declared_keys.get(handle.spec.name)
    if keys is None:
        keys = _declared_keys[handle.spec.name] = frozenset(a.key for a in handle.spec.attributes)
    return {k: v for k, v in attributes.items() if k in keys and v is not None}


def _record_exception(span: Span, exc: Exception, *, redact: bool) -> None:
    """Status ERROR plus an ``exception`` event; ``redact`` keeps only the type (no message, no stack text).

    Never raises: an exception whose ``__str__`` raises is recorded as ``<unprintable ...>``; the stack text keeps its
    innermost end within the attribute length limit.
    """
    tracer_provider.record_exception(span, exc, escaped=True, redact=redact)


def span(name: str, /, *, redact_exceptions: bool = False, **attributes: object) -> SpanScope:
    """A span named ``name`` with ``attributes``, as a context manager or decorator.

    The span is a child of the current span, gets ``component`` from the catalog when ``name`` is a declared span,
    and on an exception gets status ERROR and an ``exception`` event before the exception propagates unchanged.
    ``redact_exceptions=True`` records only the exception type (for flows whose errors could quote secrets).
    A no-op (no span object, no clock) when lukhas-obs is not configured or is disabled.
    """
    return SpanScope(name, attributes, redact_exceptions=redact_exceptions)


def timed(
    metric_name: str,
    /,
    span_name: str | None = None,
    failures: str | None = None,
    *,
    redact_exceptions: bool = False,
    **attributes: object,
) -> SpanScope:
    """Open a span, time the block into the catalog histogram ``metric_name``, count failures.

    - The elapsed seconds are recorded with the common attributes (lane, service) plus those call-time
      ``attributes`` the histogram declares in the catalog (e.g. ``tier``); every legal attribute goes on the span.
    - ``span_name`` defaults to the metric's OTel name; ``component`` comes from the catalog span family, else from
      the metric's component.
    - ``failures``: the Prometheus name of a catalog counter incremented once when the block raises, with the attributes
      it declares; a declared ``reason`` not given at call time becomes the exception's class name (enumerated
      reasons fold unknown values to ``other``).

    Raises KeyError for a metric name no registered catalog declares and TypeError for a wrong metric kind: both
    are programming errors caught on first run, never measurement-time failures.
    """
    histogram = metric(metric_name)
    if not isinstance(histogram, HistogramHandle):
        raise TypeError(f"timed() needs a histogram; {metric_name!r} is a {histogram.spec.kind}")
    counter: CounterHandle | None = None
    if failures is not None:
        handle = metric(failures)
        if not isinstance(handle, CounterHandle):
            raise TypeError(f"failures= needs a counter; {failures!r} is a {handle.spec.kind}")
        counter = handle
    if span_name is None or (span_name.__class__ is str and not span_name):  # never truth-test a caller's object
        span_name = histogram.spec.otel_name
    return SpanScope(
        span_name,
        attributes,
        histogram,
        counter,
        redact_exceptions=redact_exceptions,
    )
