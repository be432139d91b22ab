"""Report problems on the recording path without ever raising into the application.

A bad value (NaN, a negative counter increment, an unknown attribute, ...) is dropped, logged once per
(metric, reason), and counted in ``lukhas_obs_dropped_measurements_total`` or ``lukhas_obs_dropped_attributes_total``
so operators can see it on ``/metrics``. Nothing here raises.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

_log = logging.getLogger("lukhas_obs")
_warned: set[tuple[str, str, bool]] = set()
_warned_lock = threading.Lock()
_guard = threading.local()
_counters: dict[bool, Any] = {}

DROPPED_MEASUREMENTS = "lukhas_obs_dropped_measurements_total"
DROPPED_ATTRIBUTES = "lukhas_obs_dropped_attributes_total"


def report(metric: str, reason: str, detail: str = "", *, attribute: bool = False) -> None:
    """Log once per (metric, reason) and count one dropped measurement (or, with ``attribute``, one attribute).

    ``detail`` must never contain the offending value when it could be a secret: callers pass a type name or a key.
    """
    try:
        key = (metric, reason, attribute)
        if key not in _warned:
            with _warned_lock:
                first = key not in _warned
                _warned.add(key)
            if first:
                what = "attribute" if attribute else "measurement"
                _log.warning(
                    "lukhas_obs: dropped %s for %s: %s%s (logged once per metric and reason; counted in %s)",
                    "an " + what if attribute else "a " + what,
                    metric,
                    reason,
                    f" ({detail})" if detail else "",
                    DROPPED_ATTRIBUTES if attribute else DROPPED_MEASUREMENTS,
                )
        if getattr(_guard, "active", False):  # a self-metric problem must not recurse
            return
        _guard.active = True
        try:
            counter = _counters.get(attribute)
            if counter is None:
                from lukhas_obs.instruments import metric as _metric

                counter = _counters[attribute] = _metric(DROPPED_ATTRIBUTES if attribute else DROPPED_MEASUREMENTS)
            counter.add(1, metric=metric, reason=reason)
        finally:
            _guard.active = False
    except Exception:  # pragma: no cover - the reporter itself must never fail the caller
        pass


def reset_warnings() -> None:
    """Forget which (metric, reason) pairs were already logged (tests, and a fresh configure())."""
    with _warned_lock:
        _warned.clear()
