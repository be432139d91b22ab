"""WiltonOS (seed 001) as a system: the coherence ratio Φ, its rate of change, loop pressure, collapses and doses.

Its catalog is seed 001's metrics (exposed names unchanged), its Soft-Steer alerts and its two dashboards; its helper
is :mod:`.statefiles`, the exporter that reads WiltonOS's JSON state files at every collection (the seed's
``quantum_ratio_exporter.py``). Its demo workload drives the simulated WiltonOS in ``examples/wiltonos``, which
also holds the runnable exporter (``python -m lukhas_obs_examples.wiltonos``) and the seed's ``wt-metrics-bootstrap``
(``python -m lukhas_obs_examples.wiltonos.bootstrap``: Prometheus config and rules, a local Prometheus, the URLs).
Published through the ``lukhas_obs.systems`` entry point like any other system.
"""

from __future__ import annotations

from pathlib import Path

from lukhas_obs.systems import System

__all__ = ["PHI_STAR", "SYSTEM"]

#: The coherence target Φ★ (seed 001: "manutenção do equilíbrio de 0.75 ± 0.02").
PHI_STAR = 0.75

SYSTEM = System(
    name="wiltonos",
    title="WiltonOS",
    catalogs=(Path(__file__).with_name("catalog.yaml"),),
    workload="lukhas_obs_examples.wiltonos.workload:WiltonosWorkload",
    helpers=("lukhas_obs.systems.wiltonos.statefiles",),
    description="The quantum coherence ratio Φ (0.75 ± 0.02) and its derivatives dΦ/dt over 30 s, 60 s and 300 s, "
    "per-loop coherence and pressure, collapse operations and longevity doses, read from JSON state files.",
)
