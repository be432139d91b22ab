"""Report problems on the recording path without ever raising into the application.

A bad value (NaN, a negative counter increment, an unknown attribute, ...) is dropped, logged once per
(metric, reason), and counted in ``lukhas_obs_dropped_measurements_total`` or ``lukhas_obs_dropped_attributes_total``
so operators can see it on ``/metrics``. Nothing here raises.

Everything here is bounded, whatever the callers pass: ``metric`` (a catalog name, or a span name for span
attributes) becomes valid text of at most :data:`MAX_WHERE_LENGTH` characters, and past :data:`MAX_WHERE` distinct
values further ones are reported under ``other`` — so a process opening spans with a million distinct names logs at
most a few hundred warnings and keeps a few hundred label values, never a million.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

_log = logging.getLogger("lukhas_obs")
_warned: set[tuple[str, str, bool]] = set()
_warned_lock = threading.Lock()
_guard = threading.local()
_counters: dict[bool, Any] = {}
#: How to find a self-metric's handle by name; set by :mod:`lukhas_obs.instruments` when it loads, so this module
#: (imported by the recording path itself) imports nothing of it.
_handle_for: Callable[[str], Any] | None = None
_wheres: set[str] = set()

#: Distinct ``metric`` label values (and warning keys) kept; later ones are reported as ``other``.
MAX_WHERE = 256
#: Longest ``metric`` label value kept.
MAX_WHERE_LENGTH = 128
OTHER = "other"

DROPPED_MEASUREMENTS = "lukhas_obs_dropped_measurements_total"
DROPPED_ATTRIBUTES = "lukhas_obs_dropped_attributes_total"


def report(metric: str, reason: str, detail: str = "", *, attribute: bool = False) -> None:
    """Log once per (metric, reason) and count one dropped measurement (or, with ``attribute``, one attribute).

    ``detail`` must never contain the offending value when it could be a secret: callers pass a type name or a key.
    """
    try:
        metric = _bounded_where(metric)
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
                if _handle_for is None:
                    return
                counter = _counters[attribute] = _handle_for(DROPPED_ATTRIBUTES if attribute else DROPPED_MEASUREMENTS)
            counter.add(1, metric=metric, reason=reason)
        finally:
            _guard.active = False
    except Exception:  # pragma: no cover - the reporter itself must never fail the caller
        pass


def _bounded_where(where: object) -> str:
    """``where`` as valid, bounded text; ``other`` once :data:`MAX_WHERE` distinct values have been seen."""
    if where.__class__ is not str:
        where = str.__str__(where) if isinstance(where, str) else OTHER  # never call a subclass's dunders
    if where in _wheres:
        return where
    text = safe_text(where, MAX_WHERE_LENGTH)
    with _warned_lock:
        if text in _wheres:
            return text
        if len(_wheres) >= MAX_WHERE:
            return OTHER
        _wheres.add(text)
    return text


def safe_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters and made encodable as UTF-8 (a lone surrogate becomes U+FFFD).

    Every exporter must be able to encode a label value or span name; one string that cannot be encoded would
    otherwise fail each later scrape (``UnicodeEncodeError``) or a whole export batch.
    """
    if len(text) > limit:
        text = text[:limit]
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def use_handles(handle_for: Callable[[str], Any]) -> None:
    """Count drops through ``handle_for(name)`` (the catalog's handle lookup)."""
    global _handle_for
    _handle_for = handle_for
    _counters.clear()


def reset_warnings() -> None:
    """Forget which (metric, reason) pairs were already logged and which labels were seen (a fresh configure())."""
    with _warned_lock:
        _warned.clear()
        _wheres.clear()
