"""Tracers that follow the active configuration.

The OTel API lets a process set its global TracerProvider only once. lukhas-obs sets it (on the first configure) to a
small switching provider whose tracers delegate to whatever SDK TracerProvider is active now — so ``shutdown()`` then
``configure()``, or re-initialisation after ``fork()``, never leaves third-party instrumentation writing into a dead
provider. Without an active configuration the tracers are OTel no-ops.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

_log = logging.getLogger("lukhas_obs")

#: Instrumentation scope of spans lukhas-obs itself creates.
SCOPE = "lukhas_obs"

_active: SdkTracerProvider | None = None
_generation = 0
_noop = trace.NoOpTracer()


def activate(provider: SdkTracerProvider | None) -> None:
    """Point every switching tracer at ``provider`` (None: no-op tracing)."""
    global _active, _generation
    _active = provider
    _generation += 1


def active_provider() -> SdkTracerProvider | None:
    """The SDK TracerProvider of the active configuration, if any."""
    return _active


class _SwitchingTracer(trace.Tracer):
    """Delegates to a tracer of the active SDK provider, re-fetched when the configuration changes."""

    def __init__(self, name: str, version: str | None, schema_url: str | None, attributes: Any) -> None:
        self._args = (name, version, schema_url, attributes)
        self._generation = -1
        self._delegate: trace.Tracer = _noop

    def _tracer(self) -> trace.Tracer:
        if self._generation != _generation:
            provider = _active
            name, version, schema_url, attributes = self._args
            self._delegate = (
                provider.get_tracer(name, version, schema_url, attributes) if provider is not None else _noop
            )
            self._generation = _generation
        return self._delegate

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._tracer().start_as_current_span(*args, **kwargs)


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
