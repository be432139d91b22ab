"""The ``lukhas-obs demo`` workload for ``--system pforge``: one orchestrator tick per step.

A 64-position puzzle solved by placer agents and a fixer; when it is solved a new one starts, so E climbs, drops and
climbs again. One step puts data into every metric of the ``pforge`` catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lukhas_obs_examples.pforge.orchestrator import Orchestrator, no_time


class PForgeWorkload:
    """One iteration = one orchestrator tick (a new puzzle once the board is solved)."""

    def __init__(self, seed: int | None = 0, spend: Callable[[float], None] = no_time) -> None:
        self.orchestrator = Orchestrator(seed=seed, spend=spend)
        self.solved = 0

    def step(self, iteration: int) -> None:
        state = self.orchestrator.tick()
        if state.gaps == 0 and state.misfits == 0:
            self.solved += 1
            self.orchestrator.reset()

    def summary(self) -> dict[str, Any]:
        state = self.orchestrator.state
        return {"efficiency": state.efficiency, "ticks": self.orchestrator.ticks, "solved": self.solved}
