"""The ``lukhas-obs demo`` workload for ``--system luna``: one human–Luna interaction per step.

Each step calls Luna's MCP tools like a client would — a φ calculation, memory stores and a retrieval, an insight,
an emotional analysis, a semantic validation, a pattern recognition and, every third step, a co-evolution event —
with deterministic failures (an out-of-range quality every 7th step, an empty text every 11th) and a Redis outage
for five steps out of every fifty. Twelve steps put data into every metric of the ``luna`` catalog; the scrape-time
``collect_all_metrics`` fills the φ, consciousness, memory and system gauges from the core.

The workload attaches the core to ``collect_all_metrics`` when it is made (:func:`~lukhas_obs.systems.luna.metrics.
attach_sources`): the demo's ``/metrics`` reads the same state the seed's exporter does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from lukhas_obs_examples.luna.core import LAYERS, LunaCore, no_time

from lukhas_obs.systems.luna.metrics import attach_sources

TOPICS = ("golden ratio", "memory spirals", "empathy", "self-observation", "co-evolution", "fractal seeds")
#: The layer of each stored memory, in rotation: roots rare, seeds common (a φ-shaped tree grows at its tips).
STORE_LAYERS = ("seed", "leaf", "branch", "seed", "leaf", "seed", "root", "seed", "leaf", "branch", "seed", "leaf")


class LunaWorkload:
    """One iteration = one interaction with Luna (see the module docstring)."""

    def __init__(self, seed: int | None = 0, spend: Callable[[float], None] = no_time) -> None:
        self.core = LunaCore(seed=seed, spend=spend)
        self.rng = self.core.rng
        self.counts: Counter[str] = Counter()
        attach_sources(self.core.sources())

    def step(self, iteration: int) -> None:
        """Run one interaction; tool errors are expected (counted by the tools' decorator) and swallowed here."""
        core, rng = self.core, self.rng
        core.memory_core.redis_client.up = iteration % 50 < 45
        quality = 1.5 if iteration % 7 == 6 else round(rng.uniform(0.3, 1.0), 3)
        self._call(core.phi_consciousness_calculate, quality)
        for n in range(1 + iteration % 2):
            layer = STORE_LAYERS[(2 * iteration + n) % len(STORE_LAYERS)]
            self._call(core.fractal_memory_store, f"interaction {iteration}.{n}", layer)
        wanted = LAYERS[iteration % len(LAYERS)]
        self._call(core.fractal_memory_retrieve, rng.randint(0, 4), wanted)
        self._call(core.insight_generate, TOPICS[iteration % len(TOPICS)])
        self._call(core.emotional_analyze, f"message {iteration}")
        self._call(core.semantic_validate, "" if iteration % 11 == 10 else f"statement {iteration}")
        self._call(core.pattern_recognize, [rng.random() for _ in range(5)])
        if iteration % 3 == 0:
            self._call(core.co_evolution_track, f"exchange {iteration}")

    def _call(self, tool: Callable[..., Any], *args: Any) -> Any:
        try:
            result = tool(*args)
        except ValueError:
            self.counts["tool_errors"] += 1
            return None
        self.counts["tool_calls"] += 1
        return result

    def summary(self) -> dict[str, Any]:
        state = self.core.phi_calc.get_current_state()
        return {"phi": state["phi_value"], "state": state["level"], **dict(sorted(self.counts.items()))}
