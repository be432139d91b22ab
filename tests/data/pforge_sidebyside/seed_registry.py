"""The seed's side of pForge's side-by-side test: seed 002's own prometheus_client definitions, under the names
``lukhas_obs.systems.pforge.metrics_collector`` offers, so the example orchestrator runs unchanged on them.

- ``PFORGE_EFFICIENCY``, ``PFORGE_ENTROPY``, ``PFORGE_AGENTS_ACTIVE`` and ``PFORGE_TOKENS_USED_TOTAL`` are the
  seed's code, from tests/data/promclient/pforge_metrics_collector.py (extracted exactly), on the default registry;
- the four metrics the seed names only in prose are written here the way its code writes the others
  (``Gauge("pforge_gaps", ...)``, ``Counter("pforge_patches_applied", ...)``, ``Histogram(...)`` with
  prometheus_client's default buckets), with the port's HELP texts;
- ``update_state_gauges`` and ``track_tick`` are the plain prometheus_client code the seed describes (§2.2).

The orchestrator calls the port's handle methods (``set(value, **labels)``, ``add(amount, **labels)``); the
:class:`_Calls` wrapper turns each into the prometheus_client call it stands for (``labels(**labels).set(value)``,
``labels(**labels).inc(amount)``), nothing else. Used by tests/data/pforge_sidebyside/run.py only.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

SEED_MODULE = Path(__file__).resolve().parents[1] / "promclient" / "pforge_metrics_collector.py"

_spec = importlib.util.spec_from_file_location("pforge_metrics_collector", SEED_MODULE)
assert _spec is not None and _spec.loader is not None
seed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed)

GAPS = Gauge("pforge_gaps", "Empty spaces in the puzzle state E(t)")
MISFITS = Gauge("pforge_misfits", "Wrongly placed pieces in the puzzle state M(t)")
PATCHES = Counter("pforge_patches_applied", "Patches applied by the FixerAgent")
TICKS = Histogram("pforge_tick_duration_seconds", "Duration of one orchestrator tick")


class _Calls:
    """The port's call shapes on a prometheus_client metric."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def _child(self, labels: dict[str, Any]) -> Any:
        return self.metric.labels(**labels) if labels else self.metric

    def set(self, value: float, /, **labels: Any) -> None:
        self._child(labels).set(value)

    def add(self, amount: float = 1, /, **labels: Any) -> None:
        self._child(labels).inc(amount)


PFORGE_EFFICIENCY = _Calls(seed.PFORGE_EFFICIENCY)
PFORGE_ENTROPY = _Calls(seed.PFORGE_ENTROPY)
PFORGE_AGENTS_ACTIVE = _Calls(seed.PFORGE_AGENTS_ACTIVE)
PFORGE_TOKENS_USED_TOTAL = _Calls(seed.PFORGE_TOKENS_USED_TOTAL)
PFORGE_GAPS = _Calls(GAPS)
PFORGE_MISFITS = _Calls(MISFITS)
PATCHES_APPLIED = _Calls(PATCHES)


def track_tick(func: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with TICKS.time():
            return func(*args, **kwargs)

    return wrapper


def update_state_gauges(state: Any) -> None:
    seed.PFORGE_EFFICIENCY.set(state.efficiency)
    seed.PFORGE_ENTROPY.set(state.entropy)
    GAPS.set(state.gaps)
    MISFITS.set(state.misfits)
    for agent_type, active in state.agents_active.items():
        seed.PFORGE_AGENTS_ACTIVE.labels(agent_type=agent_type).set(active)
