"""pForge (seed 002) as a system: the central metric registry of a multi-agent puzzle solver.

Its catalog holds the seed's registry (``pforge_efficiency``, ``pforge_entropy``, ``pforge_agents_active``,
``pforge_tokens_used_total``, ``pforge_gaps``, ``pforge_misfits``, patches applied, tick duration) with two alerts
and a scoreboard dashboard; its helpers are :mod:`.metrics_collector` (the registry's objects, named as in the seed,
and ``update_state_gauges(state)``) and :mod:`.prometheus_exporter` (a FastAPI ``APIRouter`` with ``GET /metrics``
to include behind the app's auth; needs FastAPI). Its demo workload drives the example orchestrator in
``examples/pforge``. Published through the ``lukhas_obs.systems`` entry point like any other.
"""

from __future__ import annotations

from pathlib import Path

from lukhas_obs.systems import System

__all__ = ["SYSTEM"]

SYSTEM = System(
    name="pforge",
    title="pForge",
    catalogs=(Path(__file__).with_name("catalog.yaml"),),
    workload="lukhas_obs_examples.pforge.workload:PForgeWorkload",
    helpers=("lukhas_obs.systems.pforge.metrics_collector", "lukhas_obs.systems.pforge.prometheus_exporter"),
    description="Efficiency E and entropy H of the puzzle state, gaps and misfits, active agents, tokens per "
    "vendor, patches applied and tick duration of pForge (seed 002).",
)
