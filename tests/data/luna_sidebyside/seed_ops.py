"""The seed's side of Luna's side-by-side test: seed 000's own prometheus_client module, under the names
``lukhas_obs.systems.luna.metrics`` offers, so the example core and workload run unchanged on it.

- the metrics, ``update_*_metrics`` and ``track_*`` are the seed's, from tests/data/promclient/
  luna_consciousness_metrics.py (the module extracted exactly), executed on prometheus_client's default registry;
- ``collect_all_metrics`` is the body of the seed's ``prometheus_exporter.collect_all_metrics`` (lines 640-690 of
  the seed) with its module globals ``phi_calc``, ``fractal_consciousness`` and ``memory_core`` taken from the
  attached sources;
- ``record_*`` are the one-line prometheus_client calls the seed leaves to its call sites.

Used by tests/data/luna_sidebyside/run.py only (it puts this module in ``sys.modules`` under the port's name).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED_MODULE = Path(__file__).resolve().parents[1] / "promclient" / "luna_consciousness_metrics.py"

_spec = importlib.util.spec_from_file_location("luna_consciousness_metrics", SEED_MODULE)
assert _spec is not None and _spec.loader is not None
seed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed)

update_phi_metrics = seed.update_phi_metrics
update_consciousness_metrics = seed.update_consciousness_metrics
update_fractal_memory_metrics = seed.update_fractal_memory_metrics
update_emotional_metrics = seed.update_emotional_metrics
update_co_evolution_metrics = seed.update_co_evolution_metrics
update_system_metrics = seed.update_system_metrics
calculate_phi_ratios = seed.calculate_phi_ratios
track_phi_calculation = seed.track_phi_calculation
track_insight_generation = seed.track_insight_generation
track_memory_operation = seed.track_memory_operation
track_tool_call = seed.track_tool_call

logger = logging.getLogger(__name__)


def record_emotional_analysis() -> None:
    seed.emotional_analyses_total.inc()


def record_semantic_validation(result: str) -> None:
    seed.semantic_validations_total.labels(result=result).inc()


def record_pattern_recognition(pattern_type: str, duration_s: float | None = None) -> None:
    seed.pattern_recognitions_total.labels(pattern_type=pattern_type).inc()
    if duration_s is not None:
        seed.pattern_recognition_duration.observe(duration_s)


def record_co_evolution_event() -> None:
    seed.co_evolution_events_total.inc()


@dataclass(frozen=True)
class LunaSources:
    phi_calculator: Any = None
    fractal_consciousness: Any = None
    memory_core: Any = None


_sources: LunaSources | None = None


def attach_sources(sources: LunaSources) -> None:
    global _sources
    _sources = sources


def collect_all_metrics() -> None:
    """The seed's collect_all_metrics (prometheus_exporter.py), verbatim but for where its modules come from."""
    assert _sources is not None
    phi_calc = _sources.phi_calculator
    fractal_consciousness = _sources.fractal_consciousness
    memory_core = _sources.memory_core
    try:
        # 1. Métriques φ
        phi_state = phi_calc.get_current_state()
        update_phi_metrics({
            'state': phi_state['level'],
            'current_value': phi_state['phi_value'],
            'convergence_ratio': phi_state['convergence_ratio'],
            'distance_to_optimal': 1.618 - phi_state['phi_value'],
            'progression_percent': phi_state.get('progression', 0),
            'metamorphosis_readiness': phi_state.get('metamorphosis_ready', 0),
        })  # fmt: skip

        # 2. Métriques de conscience
        consciousness_state = fractal_consciousness.get_state()
        update_consciousness_metrics({
            'level': consciousness_state.get('level_numeric', 1),
            'auto_awareness': consciousness_state.get('auto_awareness', 0.0),
            'introspection': consciousness_state.get('introspection', 0.0),
            'meta_cognition': consciousness_state.get('meta_cognition', 0.0),
            'phi_alignment': consciousness_state.get('phi_alignment', 0.0),
            'emergence_potential': consciousness_state.get('emergence_potential', 0.0),
        })  # fmt: skip

        # 3. Métriques mémoire fractale
        memory_stats = memory_core.get_statistics()
        update_fractal_memory_metrics(memory_stats)

        # 6. Métriques système (Redis, etc.)
        system_status = {
            'redis_connected': memory_core.redis_client.ping() if memory_core.redis_client else False,
            'redis_keys': {},  # À compter
            'cache_hit_rate': 0.0,  # À calculer
        }
        update_system_metrics(system_status)

        logger.info("Metrics collected successfully")

    except Exception as e:
        logger.error(f"Error collecting metrics: {e}")
