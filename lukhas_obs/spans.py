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
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from contextvars import Token
from time import perf_counter
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from lukhas_obs import catalog, drops, tracer_provider
from lukhas_obs.exporters.sanitize import MAX_NAME_LENGTH, clean_text
from lukhas_obs.instruments import CounterHandle, HistogramHandle, metric

__all__ = ["SpanScope", "enabled", "sanitize_attributes", "span", "timed"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
P = ParamSpec("P")

#: Instrumentation scope of spans opened through these helpers.
SCOPE = "lukhas_obs.spans"

_tracer = tracer_provider.get_tracer(SCOPE)
_components: dict[str, str | None] = {}
#: Undeclared span names remembered as such (declared ones, bounded by the catalogs, are always cached).
MAX_UNDECLARED_NAMES = 4096
_undeclared = 0
_PRIMITIVES: tuple[type, ...] = (str, bool, int, float)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Where drops of span names are reported (the name itself is not a usable label when it is not text).
WHERE = "lukhas_obs.span"


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


class _Open:
    """State of one entered scope: the span, the context token (None when detached) and the start time."""

    __slots__ = ("span", "start", "token")

    def __init__(self, span: Span, token: Token[Context] | None, start: float) -> None:
        self.span = span
        self.token = token
        self.start = start


class SpanScope:
    """What :func:`span` and :func:`timed` return: a context manager and a decorator around one span (+ timing).

    Attribute processing happens once, on first use while telemetry is on, and is cached: decorating a hot
    function costs the span and one histogram record per call, nothing more. One instance may decorate any number of
    functions and be used concurrently as a decorator; as a context manager, use one instance per ``with``
    (``with span(...)``), which is what the call syntax gives you.
    """

    __slots__ = (
        "_failure_attrs",
        "_failures",
        "_histogram",
        "_metric_attrs",
        "_name",
        "_prepared",
        "_raw",
        "_redact",
        "_span_attrs",
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
        self._prepared = False  # _span_attrs/_metric_attrs/_failure_attrs are set by _prepare, on first live use
        self._stack: list[_Open | None] | None = None

    def __repr__(self) -> str:
        timed_by = f" timed by {self._histogram.spec.name}" if self._histogram is not None else ""
        return f"<SpanScope {self._name!r}{timed_by}>"

    @property
    def name(self) -> str:
        """The span name (as recorded: plain, valid, bounded text; empty when the given name was not text)."""
        return self._name if self._name is not None else ""

    # -- the one open/close path every form goes through ------------------------------------------------------

    def _prepare(self) -> None:
        """Split the call-time attributes: all legal ones to the span, declared ones to each metric. Never raises."""
        raw = self._raw
        name = self._name or ""
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
        self._span_attrs: dict[str, Any] = span_attrs
        self._metric_attrs: dict[str, object] = metric_attrs
        self._failure_attrs: dict[str, object] = failure_attrs
        self._prepared = True

    def _open(self, attach: bool = True) -> _Open | None:
        """Start the span (and the clock when a histogram is timed), or None when nothing records. Never raises."""
        if tracer_provider.active_provider() is None or self._name is None:
            return None
        try:
            if not self._prepared:
                self._prepare()
            span = _tracer.start_span(self._name, attributes=self._span_attrs)
        except Exception as internal:  # pragma: no cover - the switching tracer never raises; belt and braces
            drops.report(self._name, "internal_error", type(internal).__name__)
            return None
        token = None
        if attach:
            try:
                token = otel_context.attach(trace.set_span_in_context(span))
            except Exception:  # pragma: no cover - attach fails only on a broken context implementation
                token = None
        return _Open(span, token, perf_counter() if self._histogram is not None else 0.0)

    def _close(self, state: _Open, exc: BaseException | None) -> None:
        """Record the elapsed time and any failure, detach the context, end the span. Never raises."""
        try:
            if self._histogram is not None:
                self._histogram.record(perf_counter() - state.start, **self._metric_attrs)
            if isinstance(exc, Exception):
                if self._failures is not None:
                    attrs = self._failure_attrs
                    if "reason" not in attrs and self._failures.spec.attribute("reason") is not None:
                        attrs = {**attrs, "reason": type(exc).__name__}
                    self._failures.add(1, **attrs)
                _record_exception(state.span, exc, redact=self._redact)
        except Exception as internal:  # pragma: no cover - handles never raise; belt and braces
            drops.report(self._name or WHERE, "internal_error", type(internal).__name__)
        finally:
            try:
                if state.token is not None:
                    otel_context.detach(state.token)
                state.span.end()
            except Exception as internal:  # pragma: no cover - processors never raise
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
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.run(fn, *args, **kwargs)

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
