"""The ``lukhas-obs demo`` workload for ``--system wiltonos``: a simulated WiltonOS and its state-file exporter.

Each step advances the simulator one tick (it rewrites ``quantum_state.json`` and ``longevity_state.json`` in a
temporary state directory) and reads the files once through the exporter, as a scrape would: between scrapes the
demo reads more often than Prometheus, so dΦ/dt over 30 s has many samples. Step 0 puts data into every metric of
the ``wiltonos`` catalog except the derivative, which needs two reads (step 1). The directory is removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from typing import Any

from lukhas_obs_examples.wiltonos.simulator import WiltonosSimulator

from lukhas_obs.spans import span
from lukhas_obs.systems.wiltonos.statefiles import StateFileCollector


class WiltonosWorkload:
    """One iteration = one WiltonOS tick plus one read of its state files (see the module docstring)."""

    def __init__(self, seed: int | None = 0, state_dir: str | None = None) -> None:
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="wiltonos-demo-")
            atexit.register(shutil.rmtree, state_dir, True)
        self.state_dir = state_dir
        self.simulator = WiltonosSimulator(state_dir, seed=seed)
        self.simulator.write()
        self.collector = StateFileCollector(state_dir).install()
        self.reads_failed = 0

    def step(self, iteration: int) -> None:
        """One tick inside a ``wiltonos.tick`` span, then one read of the state files."""
        with span("wiltonos.tick", iteration=iteration):
            self.simulator.step()
            outcome = self.collector.refresh()
        self.reads_failed += sum(1 for problem in outcome.values() if problem is not None)

    def summary(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "phi": round(sim.phi, 4),
            "collapses": sim.collapses,
            "doses": sum(sim.doses_total.values()),
            "reads_failed": self.reads_failed,
        }
