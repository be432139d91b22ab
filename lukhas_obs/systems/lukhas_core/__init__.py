"""The LUKHΛS core (seed 003) as a system: memory, consciousness (reflection, dream) and identity (tiered auth).

Its catalog is seed 003's metrics, spans, SLOs and dashboard; its helpers are :mod:`.memory`,
:mod:`.consciousness` and :mod:`.identity` (also importable as ``lukhas_obs.flows.*``); its demo workload drives the
example service in ``examples/lukhas_core``. Published through the ``lukhas_obs.systems`` entry point like any other.
"""

from __future__ import annotations

from pathlib import Path

from lukhas_obs.systems import System

__all__ = ["SYSTEM"]

SYSTEM = System(
    name="lukhas_core",
    title="LUKHΛS core",
    catalogs=(Path(__file__).with_name("catalog.yaml"),),
    workload="lukhas_obs_examples.lukhas_core.workload:LukhasCoreWorkload",
    helpers=(
        "lukhas_obs.systems.lukhas_core.memory",
        "lukhas_obs.systems.lukhas_core.consciousness",
        "lukhas_obs.systems.lukhas_core.identity",
    ),
    description="Memory (dedupe, search), consciousness (reflection, dream FSM with backpressure) and identity "
    "(tiers T1–T5) of the LUKHΛS core.",
)
