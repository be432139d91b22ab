"""pForge's central metric registry (seed 002, ``metrics/metrics_collector.py``) on lukhas-obs.

The single place where pForge's metrics are defined: importing this module registers the ``pforge`` catalog and
binds one handle per metric to a module global named as in the seed, which every component imports and updates::

    from lukhas_obs.systems.pforge.metrics_collector import PATCHES_APPLIED, PFORGE_TOKENS_USED_TOTAL

    PATCHES_APPLIED.add()                                   # the seed's PATCHES_APPLIED.inc()
    PFORGE_TOKENS_USED_TOTAL.add(1532, vendor="openai")     # .labels(vendor="openai").inc(1532)
    PFORGE_AGENTS_ACTIVE.set(3, agent_type="FixerAgent")    # .labels(agent_type="FixerAgent").set(3)

| global | Prometheus name | kind | labels |
|---|---|---|---|
| ``PFORGE_EFFICIENCY`` | ``pforge_efficiency`` | gauge | — |
| ``PFORGE_ENTROPY`` | ``pforge_entropy`` | gauge | — |
| ``PFORGE_GAPS`` | ``pforge_gaps`` | gauge | — |
| ``PFORGE_MISFITS`` | ``pforge_misfits`` | gauge | — |
| ``PFORGE_AGENTS_ACTIVE`` | ``pforge_agents_active`` | gauge | ``agent_type`` |
| ``PFORGE_TOKENS_USED_TOTAL`` | ``pforge_tokens_used_total`` | counter | ``vendor`` |
| ``PATCHES_APPLIED`` | ``pforge_patches_applied_total`` | counter | — |
| ``TICK_DURATION`` | ``pforge_tick_duration_seconds`` | histogram | — |

:func:`update_state_gauges` sets the puzzle-state gauges from a state object at once; :data:`track_tick` times an
orchestrator tick into ``TICK_DURATION``. The ``/metrics`` router is :mod:`.prometheus_exporter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sized
from typing import Any, TypeVar

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs.decorators import timed_histogram
from lukhas_obs.systems.pforge import SYSTEM

__all__ = [
    "ALL_METRICS",
    "PATCHES_APPLIED",
    "PFORGE_AGENTS_ACTIVE",
    "PFORGE_EFFICIENCY",
    "PFORGE_ENTROPY",
    "PFORGE_GAPS",
    "PFORGE_MISFITS",
    "PFORGE_TOKENS_USED_TOTAL",
    "TICK_DURATION",
    "track_tick",
    "update_state_gauges",
]

F = TypeVar("F", bound=Callable[..., Any])

SYSTEM.register()

# -- efficiency metrics: the system's objective functions E and H, and the terms E(t), M(t)
PFORGE_EFFICIENCY = lukhas_obs.gauge("pforge_efficiency")
PFORGE_ENTROPY = lukhas_obs.gauge("pforge_entropy")
PFORGE_GAPS = lukhas_obs.gauge("pforge_gaps")
PFORGE_MISFITS = lukhas_obs.gauge("pforge_misfits")

# -- agent metrics
PFORGE_AGENTS_ACTIVE = lukhas_obs.gauge("pforge_agents_active")
PATCHES_APPLIED = lukhas_obs.counter("pforge_patches_applied_total")

# -- budget metrics (the authoritative source of token consumption, seed 002 §5)
PFORGE_TOKENS_USED_TOTAL = lukhas_obs.counter("pforge_tokens_used_total")

# -- orchestrator metrics
TICK_DURATION = lukhas_obs.histogram("pforge_tick_duration_seconds")

#: Every global above, by the name components import it under.
ALL_METRICS: dict[str, Any] = {
    "PFORGE_EFFICIENCY": PFORGE_EFFICIENCY,
    "PFORGE_ENTROPY": PFORGE_ENTROPY,
    "PFORGE_GAPS": PFORGE_GAPS,
    "PFORGE_MISFITS": PFORGE_MISFITS,
    "PFORGE_AGENTS_ACTIVE": PFORGE_AGENTS_ACTIVE,
    "PATCHES_APPLIED": PATCHES_APPLIED,
    "PFORGE_TOKENS_USED_TOTAL": PFORGE_TOKENS_USED_TOTAL,
    "TICK_DURATION": TICK_DURATION,
}

#: Time each call of the decorated function (an orchestrator tick) into ``pforge_tick_duration_seconds``.
track_tick: Callable[[F], F] = timed_histogram("pforge_tick_duration_seconds")

_MISSING = object()


def _read(state: object, name: str) -> object:
    """``state.name``, or ``state[name]`` for a mapping; :data:`_MISSING` when it has neither."""
    if isinstance(state, Mapping):
        return state.get(name, _MISSING)
    return getattr(state, name, _MISSING)


def _count(value: object) -> object:
    """A count: a number as given, a collection (the list of empty positions) by its length."""
    if isinstance(value, Sized) and not isinstance(value, (str, bytes)):
        return len(value)
    return value


def update_state_gauges(state: object) -> None:
    """Set efficiency, entropy, gaps and misfits (and, when the state has it, the active agents per type) from a
    puzzle state at once.

    ``state`` is a ``PuzzleState``-like object or a mapping with any of ``efficiency``, ``entropy``, ``gaps``,
    ``misfits`` (numbers; ``gaps``/``misfits`` may also be collections, counted by length) and ``agents_active``
    (agent type → count). A field the state does not have leaves its gauge as it is. Never raises: a field that
    cannot be read is counted in ``lukhas_obs_dropped_measurements_total{metric="pforge.update_state_gauges"}``
    and the others are still set; a value that is not a finite number is dropped by its gauge.
    """
    fields: tuple[tuple[str, Any, Callable[[object], object]], ...] = (
        ("efficiency", PFORGE_EFFICIENCY, lambda v: v),
        ("entropy", PFORGE_ENTROPY, lambda v: v),
        ("gaps", PFORGE_GAPS, _count),
        ("misfits", PFORGE_MISFITS, _count),
    )
    for name, gauge, convert in fields:
        try:
            value = _read(state, name)
            if value is not _MISSING:
                gauge.set(convert(value))
        except Exception as exc:
            drops.report("pforge.update_state_gauges", "unreadable_result", type(exc).__name__)
    try:
        agents = _read(state, "agents_active")
        if agents is not _MISSING and agents is not None:
            for agent_type, active in agents.items():  # type: ignore[attr-defined]
                PFORGE_AGENTS_ACTIVE.set(active, agent_type=agent_type)
    except Exception as exc:
        drops.report("pforge.update_state_gauges", "unreadable_result", type(exc).__name__)

