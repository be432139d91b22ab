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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["continue_trace", "extract", "inject"]

_propagator = TraceContextTextMapPropagator()


class _CaseInsensitiveGetter(Getter[Mapping[str, Any]]):
    """Reads ``traceparent``/``tracestate`` from a mapping whatever the key's case; values may be str or a list."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            for candidate, found in carrier.items():
                if isinstance(candidate, str) and candidate.lower() == lowered:
                    value = found
                    break
        if value is None:
            return None
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return [v for v in value if isinstance(v, str)] or None
        return None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k for k in carrier if isinstance(k, str)]


_getter = _CaseInsensitiveGetter()


def inject(carrier: MutableMapping[str, str] | None = None, context: Context | None = None) -> MutableMapping[str, str]:
    """Write the W3C ``traceparent``/``tracestate`` of the current (or given) context into ``carrier``; return it.

    With no recording span (lukhas-obs off, or outside any span) nothing is written: the receiver starts a new trace.
    """
    out: MutableMapping[str, str] = {} if carrier is None else carrier
    _propagator.inject(out, context=context)
    return out


def extract(carrier: Mapping[str, Any] | None) -> Context:
    """The context a caller sent in ``carrier`` (a fresh root context when it holds no valid ``traceparent``)."""
    if not carrier:
        return Context()
    return _propagator.extract(carrier, context=Context(), getter=_getter)


@contextmanager
def continue_trace(carrier: Mapping[str, Any] | None) -> Iterator[Context]:
    """Make the caller's trace current for the block, so spans opened inside are children of the remote span.

    The previous context is restored on exit, also when the block raises (the exception propagates unchanged).
    """
    ctx = extract(carrier)
    token = otel_context.attach(ctx)
    try:
        yield ctx
    finally:
        otel_context.detach(token)
