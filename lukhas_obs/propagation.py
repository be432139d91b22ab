"""W3C Trace Context across process boundaries: ``inject`` on the way out, ``extract``/``continue_trace`` on the way in.

The caller side puts ``traceparent`` (and ``tracestate``) of the current span into a plain dict — HTTP headers, a
queue message's metadata, environment of a child process::

    headers = lukhas_obs.propagation.inject({})
    send(payload, headers)

The receiving side continues the same trace, so its spans become children of the caller's span::

    with lukhas_obs.propagation.continue_trace(headers):
        with span("memory.query", k=8): ...

This always uses the standard W3C TraceContext propagator, independent of ``OTEL_PROPAGATORS``, so two lukhas-obs
processes agree on the format whatever the environment says. Header lookup is case-insensitive (HTTP frameworks
capitalise header names) and a missing or malformed header simply yields a fresh trace.

Nothing here raises into the caller: a carrier that is not a mapping (``extract(["traceparent"])``,
``inject(42)``), one whose ``get``/``keys``/``items``/``__setitem__`` raise, or header values that are hostile ``str``
subclasses give a fresh trace on the way in and write nothing on the way out, counted in
``lukhas_obs_dropped_measurements_total{metric="lukhas_obs.propagation",reason="invalid_carrier"}``. Header values
are read as plain, bounded text (:data:`MAX_HEADER_LENGTH`); the caller's own exceptions inside ``continue_trace``
propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from lukhas_obs import drops
from lukhas_obs.exporters.sanitize import clean_text

__all__ = ["continue_trace", "extract", "inject"]

_propagator = TraceContextTextMapPropagator()
#: Where carrier problems are counted (``metric`` label of the drop counter).
WHERE = "lukhas_obs.propagation"
#: Longest header value read (a W3C ``tracestate`` is at most 32 members of ~256 characters).
MAX_HEADER_LENGTH = 8192
#: Carrier keys scanned for a case-insensitive match.
MAX_SCANNED_KEYS = 256


def _text(value: object) -> str | None:
    try:
        return clean_text(value, MAX_HEADER_LENGTH)
    except Exception:
        return None


class _CaseInsensitiveGetter(Getter[Mapping[str, Any]]):
    """Reads ``traceparent``/``tracestate`` from a mapping whatever the key's case; values may be str or a list.

    Values come back as plain ``str`` (subclasses copied without calling their dunders), bounded.
    """

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            for index, (candidate, found) in enumerate(carrier.items()):
                if index >= MAX_SCANNED_KEYS:
                    break
                name = _text(candidate) if isinstance(candidate, str) else None
                if name is not None and name.lower() == lowered:
                    value = found
                    break
        if value is None:
            return None
        if isinstance(value, str):
            text = _text(value)
            return [text] if text is not None else None
        if isinstance(value, (list, tuple)):
            texts = [_text(v) for v in list(value)[:8] if isinstance(v, str)]
            return [t for t in texts if t is not None] or None
        return None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        out = []
        for index, k in enumerate(carrier):
            if index >= MAX_SCANNED_KEYS:
                break
            text = _text(k) if isinstance(k, str) else None
            if text is not None:
                out.append(text)
        return out


_getter = _CaseInsensitiveGetter()


def _invalid(what: str, exc: BaseException | None = None) -> None:
    drops.report(WHERE, "invalid_carrier", what if exc is None else f"{what}: {type(exc).__name__}")


def inject(carrier: MutableMapping[str, str] | None = None, context: Context | None = None) -> MutableMapping[str, str]:
    """Write the W3C ``traceparent``/``tracestate`` of the current (or given) context into ``carrier``; return it.

    With no recording span (lukhas-obs off, or outside any span) nothing is written: the receiver starts a new trace.
    A carrier that cannot be written (not a mutable mapping, or its ``__setitem__`` raises) is returned as it was
    given, unwritten, and counted; never raises.
    """
    out: MutableMapping[str, str] = {} if carrier is None else carrier
    if context is not None and not isinstance(context, Context):
        _invalid("context")
        context = None
    if not isinstance(out, MutableMapping) and not hasattr(type(out), "__setitem__"):
        _invalid(f"carrier of type {type(out).__name__}")
        return out
    try:
        _propagator.inject(out, context=context)
    except Exception as exc:
        _invalid("carrier", exc)
    return out


def extract(carrier: Mapping[str, Any] | None) -> Context:
    """The context a caller sent in ``carrier`` (a fresh root context when it holds no valid ``traceparent``).

    Never raises: a carrier that is not a mapping, or whose methods raise, gives a fresh root context (counted).
    """
    if carrier is None:
        return Context()
    if not isinstance(carrier, Mapping) and not (hasattr(type(carrier), "get") and hasattr(type(carrier), "items")):
        _invalid(f"carrier of type {type(carrier).__name__}")
        return Context()
    try:
        if not carrier:
            return Context()
        return _propagator.extract(carrier, context=Context(), getter=_getter)
    except Exception as exc:
        _invalid("carrier", exc)
        return Context()


@contextmanager
def continue_trace(carrier: Mapping[str, Any] | None) -> Iterator[Context]:
    """Make the caller's trace current for the block, so spans opened inside are children of the remote span.

    The previous context is restored on exit, also when the block raises (the exception propagates unchanged: the
    same object, with its traceback).
    """
    ctx = extract(carrier)
    token = otel_context.attach(ctx)
    try:
        yield ctx
    finally:
        otel_context.detach(token)
