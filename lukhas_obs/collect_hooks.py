"""Functions run before every collection: each ``/metrics`` scrape, each periodic OTLP export.

prometheus_client users refresh values at scrape time with custom collectors or a function called from the
``/metrics`` route (Luna's ``collect_all_metrics`` reads Redis and sets a dozen gauges). Here such a function is
registered once::

    @lukhas_obs.before_collect
    def refresh() -> None:
        keys.set(redis.dbsize())

and lukhas-obs runs it at the start of every collection of every reader, before the values are read, so what it
records is in that very scrape. Hooks run in registration order; a hook that raises is isolated (the others still
run, the scrape still answers), warned about once and counted in ``lukhas_obs_dropped_measurements_total{metric=
"before_collect", reason="callback_error"}``. A hook runs on the collecting thread: keep it short (a slow hook
delays the scrape; it cannot be interrupted) and never render metrics from inside it.

Mechanism: one observable instrument in a private scope, registered right after the MeterProvider is built, so the
SDK calls it before every other callback; it returns no observation, so it never appears in any output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from opentelemetry.metrics import CallbackOptions, Observation

from lukhas_obs import drops

__all__ = ["HOOK_SCOPE", "before_collect", "hooks", "install", "remove"]

#: The private scope of the instrument that runs the hooks (it never has data points).
HOOK_SCOPE = "lukhas_obs.collect_hooks"
#: The ``metric`` label under which a failing hook is counted.
WHERE = "before_collect"

F = TypeVar("F", bound=Callable[[], Any])

_hooks: list[Callable[[], Any]] = []
_lock = threading.Lock()


def before_collect(hook: F) -> F:
    """Run ``hook()`` before every collection (usable as a decorator); registering it twice keeps one entry."""
    if not callable(hook):
        raise TypeError(f"before_collect() needs a callable taking no arguments, got {type(hook).__name__}")
    with _lock:
        if not any(h is hook for h in _hooks):
            _hooks.append(hook)
    return hook


def remove(hook: Callable[[], Any]) -> bool:
    """Stop running ``hook``; False when it was not registered."""
    with _lock:
        for index, registered in enumerate(_hooks):
            if registered is hook:
                del _hooks[index]
                return True
    return False


def hooks() -> tuple[Callable[[], Any], ...]:
    """The registered hooks, in the order they run."""
    return tuple(_hooks)


def _run(_options: CallbackOptions) -> Iterable[Observation]:
    for hook in tuple(_hooks):
        try:
            hook()
        except Exception as exc:  # one broken hook never breaks the scrape or the other hooks
            drops.report(WHERE, "callback_error", type(exc).__name__)
    return ()


def install(meter_provider: Any) -> None:
    """Make ``meter_provider`` run the hooks at each collection (the runtime calls it right after building it)."""
    meter = meter_provider.get_meter(HOOK_SCOPE)
    meter.create_observable_gauge(HOOK_SCOPE, callbacks=[_run], description="runs lukhas_obs.before_collect hooks")
