"""AURIS SELF (seed 004) as a system: per-token SELF scores, their Phase C alerts, SLO targets and canary ladder.

Its catalog is seed 004's four gauges (``self_coherence``, ``self_continuity``, ``self_presence``, ``self_stress``
per ``token_id``), the ``auris-self-phase-c`` alert group, the Phase C ``slo_targets`` (``lukhas-obs replay FILE
--system auris_self``, online evaluation, the canary ladder) and the "SELF Metrics" dashboard, with its own off
switch ``AURIS_METRICS_EXP=off``. Its helper :mod:`.metrics` holds ``update_self_metrics`` and the fail-safe hook run
after every SELF tick; ``examples/auris_self`` is the operator API (``/self/health``, ``/self/canary``,
``/metrics/exp``) and the demo workload. Published through the ``lukhas_obs.systems`` entry point like any other.
"""

from __future__ import annotations

from pathlib import Path

from lukhas_obs.systems import System

__all__ = ["SWITCH", "SYSTEM"]

#: The variable that turns the SELF metrics off (seed 004: "no-op при AURIS_METRICS_EXP=off"); read at configure.
SWITCH = "AURIS_METRICS_EXP"

SYSTEM = System(
    name="auris_self",
    title="AURIS SELF",
    catalogs=(Path(__file__).with_name("catalog.yaml"),),
    workload="lukhas_obs_examples.auris_self.workload:AurisSelfWorkload",
    helpers=("lukhas_obs.systems.auris_self.metrics",),
    description="Per-token SELF coherence, continuity, presence and stress with the Phase C alerts, SLO targets "
    "for heartbeat replay and the canary ladder, and an off switch of its own (AURIS_METRICS_EXP).",
)
