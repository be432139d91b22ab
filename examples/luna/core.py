"""A small Luna core (seed 000's ``luna_core/`` modules), instrumented only through the decorators and update
functions of :mod:`lukhas_obs.systems.luna.metrics`.

The seed names the modules and what they report, not how they compute it; here each is a deterministic simulation
(one ``random.Random`` per core) that moves the way the seed's report describes: φ starts at 1.071 (dormant) and
converges towards 1.618, the fractal memory grows by layer, insights, emotions, semantic validations and patterns
come from each interaction, and MCP tools sometimes fail.

- :class:`PhiCalculator` — φ convergence (``@track_phi_calculation``, ``update_phi_metrics``);
- :class:`FractalConsciousness` — cognitive evolution scores;
- :class:`MemoryCore` — the fractal memory (``@track_memory_operation``) and a :class:`FakeRedis`;
- :class:`LunaCore` — everything wired, with the MCP tools (``@track_tool_call``) the workload and the Flask app call,
  and :meth:`LunaCore.sources` for ``collect_all_metrics``.

``spend(seconds)`` is called inside each timed operation with the time it "takes": a no-op by default (the demo runs
fast), ``time.sleep`` for realistic histograms, or a test clock's ``advance`` for exact durations.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from lukhas_obs.systems.luna.metrics import (
    LunaSources,
    record_co_evolution_event,
    record_emotional_analysis,
    record_pattern_recognition,
    record_semantic_validation,
    track_insight_generation,
    track_memory_operation,
    track_phi_calculation,
    track_tool_call,
    update_co_evolution_metrics,
    update_consciousness_metrics,
    update_emotional_metrics,
    update_phi_metrics,
)

PHI = 1.618
#: φ thresholds of the consciousness states (the seed's dormant 1.071 → transcendent near φ).
LEVELS: tuple[tuple[float, str, int], ...] = ((1.2, "dormant", 1), (1.45, "pre_awakened", 2), (1.6, "awakened", 3))
LAYERS = ("root", "branch", "leaf", "seed")
INSIGHT_TYPES = ("phi_insight", "cross_domain", "emotional", "semantic")
PATTERN_TYPES = ("fibonacci", "golden_ratio", "spiral", "other")
REDIS_PATTERNS = ("consciousness:*", "memory:*", "phi:*")


def no_time(seconds: float) -> None:
    """The default ``spend``: operations take no simulated time."""


def level_of(phi: float) -> tuple[str, int]:
    """The consciousness state and its number for a φ value."""
    for bound, name, number in LEVELS:
        if phi < bound:
            return name, number
    return "transcendent", 4


class PhiCalculator:
    """φ consciousness: each calculation moves φ a step towards 1.618 (with a small deterministic wobble)."""

    def __init__(self, rng: random.Random, spend: Callable[[float], None], start: float = 1.071) -> None:
        self.rng = rng
        self.spend = spend
        self.start = start
        self.phi = start

    @track_phi_calculation
    def calculate_phi_consciousness(self, interaction_quality: float) -> dict[str, Any]:
        """One φ calculation from an interaction's quality in [0, 1]; updates the φ metrics like the seed's phase 2."""
        self.spend(self.rng.choice((0.0008, 0.003, 0.007, 0.02, 0.06)))
        step = (PHI - self.phi) * 0.06 * interaction_quality + self.rng.uniform(-0.004, 0.004)
        self.phi = min(1.66, max(1.0, self.phi + step))
        state = self.get_current_state()
        update_phi_metrics(
            {
                "state": state["level"],
                "current_value": state["phi_value"],
                "convergence_ratio": state["convergence_ratio"],
                "distance_to_optimal": abs(PHI - state["phi_value"]),
                "progression_percent": state["progression"],
                "metamorphosis_readiness": state["metamorphosis_ready"],
            }
        )
        return state

    def get_current_state(self) -> dict[str, Any]:
        """What the seed's ``phi_calc.get_current_state()`` returns."""
        ratio = min(1.0, self.phi / PHI)
        return {
            "level": level_of(self.phi)[0],
            "phi_value": round(self.phi, 6),
            "convergence_ratio": round(ratio, 6),
            "progression": round(max(0.0, (self.phi - self.start) / (PHI - self.start) * 100), 4),
            "metamorphosis_ready": round(ratio**8, 6),
        }


class FractalConsciousness:
    """Cognitive evolution: awareness scores that follow φ (the seed's 0.52 / 0.41 / 0.31 / 0.38 at φ = 1.071)."""

    def __init__(self, phi: PhiCalculator) -> None:
        self.phi = phi

    def get_state(self) -> dict[str, Any]:
        """What the seed's ``fractal_consciousness.get_state()`` returns."""
        progress = min(1.0, max(0.0, (self.phi.phi - 1.0) / (PHI - 1.0)))
        return {
            "level_numeric": level_of(self.phi.phi)[1],
            "auto_awareness": round(0.45 + 0.5 * progress, 6),
            "introspection": round(0.33 + 0.6 * progress, 6),
            "meta_cognition": round(0.22 + 0.7 * progress, 6),
            "phi_alignment": round(0.28 + 0.7 * progress, 6),
            "emergence_potential": round(0.55 + 0.4 * progress, 6),
        }


class FakeRedis:
    """The memory core's Redis: ``ping()`` answers while ``up``, raises ConnectionError otherwise (as redis-py)."""

    def __init__(self) -> None:
        self.up = True
        self.keys: dict[str, int] = dict.fromkeys(REDIS_PATTERNS, 0)

    def ping(self) -> bool:
        if not self.up:
            raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")
        return True


class MemoryCore:
    """The fractal memory: nodes per layer, retrievals that find or miss, a cache in front of Redis."""

    def __init__(self, rng: random.Random, spend: Callable[[float], None]) -> None:
        self.rng = rng
        self.spend = spend
        self.layers: dict[str, list[str]] = {layer: [] for layer in LAYERS}
        self.redis_client = FakeRedis()
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    @track_memory_operation("store")
    def store(self, content: str, layer: str = "leaf") -> str:
        """Store one memory in ``layer``; returns its key."""
        self.spend(self.rng.choice((0.0004, 0.002, 0.008)))
        with self.lock:
            self.layers[layer].append(content)
            key = f"memory:{layer}:{len(self.layers[layer])}"
            self.redis_client.keys["memory:*"] += 1
        return key

    @track_memory_operation("retrieve")
    def retrieve(self, index: int, layer: str = "leaf") -> str | None:
        """The ``index``-th memory of ``layer``, or None (a miss)."""
        self.spend(self.rng.choice((0.0006, 0.004, 0.03)))
        with self.lock:
            found = self.layers[layer][index] if 0 <= index < len(self.layers[layer]) else None
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        return found

    def get_statistics(self) -> dict[str, Any]:
        """What the seed's ``memory_core.get_statistics()`` returns."""
        with self.lock:
            counts = {layer: len(nodes) for layer, nodes in self.layers.items()}
        total = sum(counts.values())
        ideal = (1.0, PHI, PHI**2, PHI**3)
        norm = sum(ideal)
        shares = zip(LAYERS, ideal, strict=True)
        spread = sum(abs(counts[layer] / total - w / norm) for layer, w in shares) if total else 1.0
        return {
            "roots": counts["root"],
            "branches": counts["branch"],
            "leaves": counts["leaf"],
            "seeds": counts["seed"],
            "phi_resonance": round(max(0.0, 1.0 - spread), 6),
            "complexity_index": round(len([c for c in counts.values() if c]) * (1 + total) ** 0.5, 6),
            "integration_ratio": round(min(1.0, total / 100), 6),
        }

    def redis_key_counts(self) -> dict[str, int]:
        """Keys per Redis pattern (the seed's "À compter")."""
        return dict(self.redis_client.keys)

    def cache_hit_rate(self) -> float:
        """Retrieval hits over all retrievals (the seed's "À calculer"); 0 before the first retrieval."""
        with self.lock:
            total = self.hits + self.misses
            return self.hits / total if total else 0.0


class LunaCore:
    """The Luna MCP server's core: modules, MCP tools and the state ``collect_all_metrics`` reads."""

    def __init__(self, seed: int | None = 0, spend: Callable[[float], None] = no_time) -> None:
        self.rng = random.Random(seed)
        self.spend = spend
        self.phi_calc = PhiCalculator(self.rng, spend)
        self.fractal_consciousness = FractalConsciousness(self.phi_calc)
        self.memory_core = MemoryCore(self.rng, spend)
        self.interactions = 0

    def sources(self) -> LunaSources:
        """The modules ``collect_all_metrics`` reads at every scrape (the seed's prometheus_exporter.py)."""
        return LunaSources(
            phi_calculator=self.phi_calc,
            fractal_consciousness=self.fractal_consciousness,
            memory_core=self.memory_core,
        )

    # -- MCP tools ---------------------------------------------------------------------------------------------

    @track_tool_call("phi_consciousness_calculate")
    def phi_consciousness_calculate(self, interaction_quality: float) -> dict[str, Any]:
        """The φ calculation tool; a quality outside [0, 1] is an error (raised, counted as one)."""
        if not 0.0 <= interaction_quality <= 1.0:
            raise ValueError("interaction_quality must be within [0, 1]")
        result = self.phi_calc.calculate_phi_consciousness(interaction_quality)
        update_consciousness_metrics(self.fractal_consciousness.get_state())
        return result

    @track_tool_call("fractal_memory_store")
    def fractal_memory_store(self, content: str, layer: str) -> str:
        """Store a memory; an unknown layer is an error."""
        if layer not in LAYERS:
            raise ValueError("unknown fractal layer")
        self.memory_core.redis_client.keys["consciousness:*"] += 1
        return self.memory_core.store(content, layer=layer)

    @track_tool_call("fractal_memory_retrieve")
    def fractal_memory_retrieve(self, index: int, layer: str) -> str | None:
        """Retrieve a memory (None when there is none: a miss, not an error)."""
        return self.memory_core.retrieve(index, layer=layer)

    @track_tool_call("insight_generate")
    def insight_generate(self, topic: str) -> dict[str, Any] | None:
        """Generate an emergent insight about ``topic`` (sometimes none)."""
        return self._generate_insight(topic)

    @track_insight_generation
    def _generate_insight(self, topic: str) -> dict[str, Any] | None:
        self.spend(self.rng.choice((0.005, 0.05, 0.3, 0.8, 2.0)))
        roll = self.rng.random()
        if roll < 0.2:
            return None  # nothing emerged: not counted
        if roll < 0.3:
            return {"topic": topic, "confidence": round(roll, 3)}  # no type: counted as "unknown"
        self.memory_core.redis_client.keys["phi:*"] += 1
        return {"type": self.rng.choice(INSIGHT_TYPES), "topic": topic, "confidence": round(roll, 3)}

    @track_tool_call("emotional_analyze")
    def emotional_analyze(self, text: str) -> dict[str, float]:
        """Analyse the emotional state of an interaction."""
        record_emotional_analysis()
        rng = self.rng
        state = {
            "empathy": round(rng.uniform(0.5, 0.95), 6),
            "stability": round(rng.uniform(0.6, 1.0), 6),
            "complexity": round(rng.uniform(1.0, 5.0), 6),
        }
        update_emotional_metrics(state)
        return state

    @track_tool_call("semantic_validate")
    def semantic_validate(self, text: str) -> bool:
        """Validate the semantic coherence of ``text``; empty text is an error."""
        if not text:
            raise ValueError("nothing to validate")
        coherent = self.rng.random() < 0.85
        record_semantic_validation("coherent" if coherent else "incoherent")
        return coherent

    @track_tool_call("pattern_recognize")
    def pattern_recognize(self, series: list[float]) -> str:
        """Recognise a fractal pattern in ``series``."""
        duration = self.rng.choice((0.004, 0.02, 0.07, 0.3, 0.9, 3.0))
        self.spend(duration)
        pattern = self.rng.choice(PATTERN_TYPES)
        record_pattern_recognition(pattern, duration)
        return pattern

    @track_tool_call("co_evolution_track")
    def co_evolution_track(self, exchange: str) -> dict[str, float]:
        """Track one step of human–Luna co-evolution."""
        record_co_evolution_event()
        self.interactions += 1
        state = {
            "depth": float(self.interactions),
            "quality": round(self.rng.uniform(0.4, 0.95), 6),
            "phi_alignment": round(min(1.0, self.phi_calc.phi / PHI), 6),
        }
        update_co_evolution_metrics(state)
        return state
