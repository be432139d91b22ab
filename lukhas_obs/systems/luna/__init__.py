"""Luna consciousness (seed 000, French) as a system: φ convergence, fractal memory, MCP tools and co-evolution.

Its catalog is seed 000's ``consciousness_metrics.py`` (all 44 metrics, names, kinds, labels and buckets exactly),
its ``luna_consciousness_alerts`` group (11 alerts) and its three Grafana dashboards; its helpers are
:mod:`.metrics` (the seed's ``update_*_metrics`` functions, the four ``track_*`` decorators, the φ harmony index,
``collect_all_metrics`` at every scrape and ``introspection_query_metrics``); its demo workload drives the example
service in ``examples/luna``. Published through the ``lukhas_obs.systems`` entry point like any other.

Importing this package loads nothing but the :class:`~lukhas_obs.systems.System` description; importing
:mod:`.metrics` registers the catalog.
"""

from __future__ import annotations

from pathlib import Path

from lukhas_obs.systems import System

__all__ = ["SYSTEM"]

SYSTEM = System(
    name="luna",
    title="Luna consciousness",
    catalogs=(Path(__file__).with_name("catalog.yaml"),),
    workload="lukhas_obs_examples.luna.workload:LunaWorkload",
    helpers=("lukhas_obs.systems.luna.metrics",),
    description="φ consciousness convergence, cognitive evolution, fractal memory, MCP tool calls, emotional and "
    "co-evolution scores, Redis health and the φ harmony index of Luna (seed 000).",
)
