"""Tracers that follow the active configuration.

The OTel API lets a process set its global TracerProvider only once. lukhas-obs sets it (on the first configure) to a
small switching provider whose tracers delegate to whatever SDK TracerProvider is active now — so ``shutdown()`` then
``configure()``, or re-initialisation after ``fork()``, never leaves third-party instrumentation writing into a dead
provider. Without an active configuration the tracers are OTel no-ops.

These tracers are also what third-party instrumentation gets from the global provider, so they keep the
never-raise promise for it: ``start_span`` never raises (when the SDK rejects an argument — an attribute key whose
``__hash__`` raises, a value whose ``__len__``/``__str__`` raises — the span is started again with its attributes
sanitised, and a non-recording span is returned when even that fails, counted as ``invalid_span``), and
``start_as_current_span`` records an escaping exception without ever replacing it (an exception whose ``__str__``
raises is recorded as unprintable; the caller gets its own exception object, with its own traceback). Methods the
caller then calls on the SDK span itself (``set_attribute``, ...) are the SDK's: their values are made safe at export
(:mod:`lukhas_obs.exporters.sanitize`).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import Status, StatusCode

from lukhas_obs import _state
from lukhas_obs.exporters.sanitize import MAX_NAME_LENGTH, clean_text

try:  # the decorator the SDK's own start_as_current_span uses (sync and async functions); private, so guarded
    from opentelemetry.util._decorator import _agnosticcontextmanager as _context_manager
except ImportError:  # pragma: no cover - another API version
    _context_manager = contextlib.contextmanager  # type: ignore[assignment]

_log = logging.getLogger("lukhas_obs")

#: Instrumentation scope of spans lukhas-obs itself creates.
SCOPE = "lukhas_obs"

_noop = trace.NoOpTracer()


def active_provider() -> SdkTracerProvider | None:
    """The SDK TracerProvider of the active configuration (:data:`lukhas_obs._state.current`), if any."""
    return _state.current.tracer_provider


#: Longest ``exception.message`` / ``exception.stacktrace`` recorded (the stack keeps its innermost end).
EXCEPTION_TEXT_LENGTH = 4096


def _report(reason: str, detail: str) -> None:
    try:
        from lukhas_obs import drops

        drops.report("tracer", reason, detail)
    except Exception:  # pragma: no cover - drops never raises
        pass


def exception_type_name(exc: BaseException) -> str:
    """``module.QualName`` of ``exc``'s class (just ``QualName`` for builtins), as the OTel SDK writes it."""
    try:
        kind = type(exc)
        module, qualname = kind.__module__, kind.__qualname__
        name = qualname if not module or module == "builtins" else f"{module}.{qualname}"
        return clean_text(name, MAX_NAME_LENGTH) or "Exception"
    except Exception:
        return "Exception"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, valid and bounded; ``<unprintable ...>`` when its ``__str__`` raises or returns no text."""
    try:
        text = clean_text(str(exc), EXCEPTION_TEXT_LENGTH)
    except Exception:
        text = None
    return text if text is not None else f"<unprintable {exception_type_name(exc)}>"


def exception_stacktrace(exc: BaseException) -> str:
    """The formatted traceback of ``exc``, bounded to its innermost :data:`EXCEPTION_TEXT_LENGTH` characters."""
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        return exception_type_name(exc) + ": " + exception_message(exc)
    if len(text) > EXCEPTION_TEXT_LENGTH:
        text = "..." + text[-(EXCEPTION_TEXT_LENGTH - 3) :]
    return clean_text(text, None) or ""


def record_exception(
    span: trace.Span,
    exc: BaseException,
    *,
    escaped: bool = True,
    redact: bool = False,
    record: bool = True,
    set_status: bool = True,
) -> None:
    """Add the OTel ``exception`` event and/or status ERROR to ``span``; never raises, never calls into ``exc``
    unguarded (its ``__str__`` may raise). ``redact`` keeps only the type (no message, no stack text)."""
    try:
        if not span.is_recording():
            return
        type_name = exception_type_name(exc)
        message = None if redact else exception_message(exc)
        if record:
            attributes = {"exception.type": type_name, "exception.escaped": str(escaped)}
            if message is not None:
                attributes["exception.message"] = message
                attributes["exception.stacktrace"] = exception_stacktrace(exc)
            span.add_event("exception", attributes)
        if set_status:
            short = type(exc).__name__ if message is not None else type_name
            span.set_status(Status(StatusCode.ERROR, type_name if message is None else f"{short}: {message}"))
    except Exception as internal:
        _report("internal_error", type(internal).__name__)


def _clean_attributes(attributes: Any) -> dict[str, Any]:
    """A plain dict of the attributes the SDK can take without raising (hostile keys/values left out, counted)."""
    from lukhas_obs.exporters.sanitize import clean_attributes

    dropped: list[tuple[str, str]] = []
    try:
        clean = clean_attributes(attributes if isinstance(attributes, Mapping) else None, None, dropped)
    except Exception:
        clean = {}
    for key, reason in dropped:
        _report(reason, f"span attribute {key!r}")
    if clean is None:  # nothing needed cleaning: the SDK raised for another reason; keep a plain copy
        try:
            return dict(attributes.items())
        except Exception:
            return {}
    return clean


def _span_name(name: object) -> Any:
    """A str subclass becomes a plain str (the SDK and exporters may hash/len it); anything else is left to the
    exporters' sanitiser, which drops a span whose name is not text."""
    if type(name) is str:
        return name
    try:
        return clean_text(name, None) if isinstance(name, str) else name
    except Exception:
        return "span"


class _SwitchingTracer(trace.Tracer):
    """Delegates to a tracer of the active SDK provider, re-fetched when the configuration changes; never raises."""

    def __init__(self, name: str, version: str | None, schema_url: str | None, attributes: Any) -> None:
        self._args = (
            clean_text(name, MAX_NAME_LENGTH) or "unknown",
            clean_text(version, MAX_NAME_LENGTH) if version is not None else None,
            clean_text(schema_url, None) if schema_url is not None else None,
            attributes,
        )
        self._seen: object = None  # the runtime state the delegate was made for
        self._delegate: trace.Tracer = _noop

    def _tracer(self) -> trace.Tracer:
        state = _state.current
        if self._seen is not state:
            provider = state.tracer_provider
            name, version, schema_url, attributes = self._args
            try:
                delegate = provider.get_tracer(name, version, schema_url, attributes) if provider is not None else _noop
            except Exception as exc:  # hostile scope attributes
                _report("invalid_attribute_value", f"tracer scope attributes: {type(exc).__name__}")
                delegate = provider.get_tracer(name, version, schema_url) if provider is not None else _noop
            self._delegate = delegate
            self._seen = state
        return self._delegate

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """The SDK's ``start_span``; on a rejected argument, retried with sanitised attributes and no links; a
        non-recording span (counted) when it still fails. Never raises."""
        try:
            tracer = self._tracer()
            name = _span_name(name)
            return tracer.start_span(
                name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
            )
        except Exception as first:
            try:
                return self._tracer().start_span(
                    name if type(name) is str else "span",
                    context if isinstance(context, otel_context.Context) else None,
                    kind if isinstance(kind, trace.SpanKind) else trace.SpanKind.INTERNAL,
                    _clean_attributes(attributes),
                    (),
                    start_time if type(start_time) is int else None,
                    bool(record_exception),
                    bool(set_status_on_exception),
                )
            except Exception:
                _report("invalid_span", type(first).__name__)
                return trace.INVALID_SPAN

    def start_as_current_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Any:
        """Like the SDK's (a context manager and decorator), but it never raises and never replaces the caller's
        exception: it propagates as the same object with its own traceback."""
        return _as_current_span(
            self,
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        )


@_context_manager
def _as_current_span(
    tracer: _SwitchingTracer,
    name: str,
    context: otel_context.Context | None,
    kind: trace.SpanKind,
    attributes: Any,
    links: Any,
    start_time: int | None,
    record: bool,
    set_status: bool,
    end_on_exit: bool,
) -> Iterator[trace.Span]:
    span = tracer.start_span(name, context, kind, attributes, links, start_time, record, set_status)
    try:
        token = otel_context.attach(trace.set_span_in_context(span))
    except Exception:  # pragma: no cover - attach only fails on a broken context implementation
        token = None
    try:
        yield span
    except Exception as exc:  # like the API's use_span: Exception only (GeneratorExit etc. are not errors)
        if record or set_status:
            record_exception(span, exc, escaped=False, record=record, set_status=set_status)
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
        if end_on_exit:
            try:
                span.end()
            except Exception as internal:  # pragma: no cover - processors never raise
                _report("internal_error", type(internal).__name__)


class SwitchingTracerProvider(trace.TracerProvider):
    """The process-global provider lukhas-obs installs once; see the module docstring."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return _SwitchingTracer(instrumenting_module_name, instrumenting_library_version, schema_url, attributes)


_global_provider = SwitchingTracerProvider()
_installed = False


def install_global() -> None:
    """Make the switching provider the OTel global, unless the application already set its own."""
    global _installed
    if _installed:
        return
    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider):
        trace.set_tracer_provider(_global_provider)
        _installed = True
    elif current is not _global_provider:
        _log.info(
            "lukhas_obs: a global TracerProvider is already set (%s); lukhas-obs spans use its own provider, "
            "third-party instrumentation keeps the existing one",
            type(current).__name__,
        )
        _installed = True


def get_tracer(name: str = SCOPE, version: str | None = None) -> trace.Tracer:
    """A tracer that always writes to the active configuration (no-op when none)."""
    return _global_provider.get_tracer(name, version)
