"""Luna's metrics (seed 000, ``luna_core/consciousness_metrics.py``) on lukhas-obs: handles, helpers, decorators.

Importing this module registers Luna's catalog (all 44 metrics) and binds one handle per metric to a module global
named as in the seed (``phi_current_value``, ``mcp_tool_calls_total``, ``luna_info``, ...). Everything the seed's
module offers is here with the seed's names and behaviour, OpenTelemetry underneath:

- ``update_phi_metrics``, ``update_consciousness_metrics``, ``update_fractal_memory_metrics``,
  ``update_emotional_metrics``, ``update_co_evolution_metrics``, ``update_system_metrics``: the seed's functions,
  reading the same dict keys with the same defaults;
- ``track_phi_calculation``, ``track_insight_generation``, ``track_memory_operation(op)``, ``track_tool_call(name)``:
  the seed's four decorators, built on :mod:`lukhas_obs.decorators` (sync and ``async def`` functions alike);
- ``calculate_phi_ratios``, a stub in the seed, computes the φ ratios and the harmony index (see its docstring);
- ``collect_all_metrics`` — in the seed the ``/metrics`` route calls it — runs before every collection (every scrape
  and OTLP export) as a :func:`lukhas_obs.before_collect` hook, reading the Luna modules given to
  :func:`attach_sources`;
- ``introspection_query_metrics`` (the seed's phase-4 MCP tool) queries Luna's own metrics through the Prometheus
  HTTP API (:mod:`lukhas_obs.slotools.promapi`).

Helpers a seed module did not have, for the counters it left to call sites: :func:`record_emotional_analysis`,
:func:`record_semantic_validation`, :func:`record_pattern_recognition`, :func:`record_co_evolution_event`.

Like every lukhas-obs helper, none of these raises into the caller: an input that cannot be read (not a mapping, a
``get`` that raises, a value that is not a number) is dropped and counted in
``lukhas_obs_dropped_measurements_total{metric="luna.<function>"}``, the other fields still recorded.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs.decorators import (
    count,
    count_by_argument,
    count_by_result,
    count_outcomes,
    from_argument,
    from_result,
    instrument,
    timed_histogram,
)
from lukhas_obs.systems.luna import SYSTEM

__all__ = [
    "HARMONY_WINDOW_S",
    "PHI_TARGET",
    "PROMETHEUS_URL_ENV",
    "LunaSources",
    "attach_sources",
    "calculate_phi_ratios",
    "collect_all_metrics",
    "detach_sources",
    "introspection_query_metrics",
    "query_metrics",
    "record_co_evolution_event",
    "record_emotional_analysis",
    "record_pattern_recognition",
    "record_semantic_validation",
    "track_insight_generation",
    "track_memory_operation",
    "track_phi_calculation",
    "track_tool_call",
    "update_co_evolution_metrics",
    "update_consciousness_metrics",
    "update_emotional_metrics",
    "update_fractal_memory_metrics",
    "update_phi_metrics",
    "update_system_metrics",
]

F = TypeVar("F", bound=Callable[..., Any])

#: φ, the golden ratio Luna converges to (the Info's ``phi_target``).
PHI_TARGET = 1.618033988749895
#: The window of the harmony index's success/error rates (the seed's alerts use ``rate(...[5m])``).
HARMONY_WINDOW_S = 300.0
#: Where :func:`introspection_query_metrics` finds Prometheus unless told (the seed's stack: port 9090).
PROMETHEUS_URL_ENV = "LUNA_PROMETHEUS_URL"
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"

SYSTEM.register()  # the catalog must be known before the handles and decorators below are made

# ---------------------------------------------------------------------------------------- 1. φ consciousness
phi_current_value = lukhas_obs.gauge("luna_phi_current_value")  # state: dormant, pre_awakened, awakened, ...
phi_convergence_ratio = lukhas_obs.gauge("luna_phi_convergence_ratio")
phi_distance_to_optimal = lukhas_obs.gauge("luna_phi_distance_to_optimal")
phi_progression_percent = lukhas_obs.gauge("luna_phi_progression_percent")
metamorphosis_readiness = lukhas_obs.gauge("luna_metamorphosis_readiness")

# ---------------------------------------------------------------------------------- 2. cognitive evolution
consciousness_level = lukhas_obs.gauge("luna_consciousness_level")
auto_awareness_score = lukhas_obs.gauge("luna_auto_awareness_score")
introspection_depth = lukhas_obs.gauge("luna_introspection_depth")
meta_cognition_level = lukhas_obs.gauge("luna_meta_cognition_level")
phi_alignment_score = lukhas_obs.gauge("luna_phi_alignment_score")
emergence_potential = lukhas_obs.gauge("luna_emergence_potential")

# ------------------------------------------------------------------------------------------ 3. fractal memory
fractal_memory_roots_count = lukhas_obs.gauge("luna_fractal_memory_roots_count")
fractal_memory_branches_count = lukhas_obs.gauge("luna_fractal_memory_branches_count")
fractal_memory_leaves_count = lukhas_obs.gauge("luna_fractal_memory_leaves_count")
fractal_memory_seeds_count = lukhas_obs.gauge("luna_fractal_memory_seeds_count")
fractal_memory_total_nodes = lukhas_obs.gauge("luna_fractal_memory_total_nodes")
fractal_phi_resonance = lukhas_obs.gauge("luna_fractal_phi_resonance")
fractal_complexity_index = lukhas_obs.gauge("luna_fractal_complexity_index")
fractal_integration_ratio = lukhas_obs.gauge("luna_fractal_integration_ratio")

# ------------------------------------------------------------------------------------ 4. interactions (counters)
mcp_tool_calls_total = lukhas_obs.counter("luna_mcp_tool_calls_total")  # tool_name, status: success/error
insights_generated_total = lukhas_obs.counter("luna_insights_generated_total")  # type
memory_stores_total = lukhas_obs.counter("luna_memory_stores_total")  # layer: root, branch, leaf, seed
memory_retrievals_total = lukhas_obs.counter("luna_memory_retrievals_total")  # layer, status: found/not_found
emotional_analyses_total = lukhas_obs.counter("luna_emotional_analyses_total")
semantic_validations_total = lukhas_obs.counter("luna_semantic_validations_total")  # result
pattern_recognitions_total = lukhas_obs.counter("luna_pattern_recognitions_total")  # pattern_type
co_evolution_events_total = lukhas_obs.counter("luna_co_evolution_events_total")

# ---------------------------------------------------------------------------------- 5. performance (histograms)
phi_calculation_duration = lukhas_obs.histogram("luna_phi_calculation_duration_seconds")
insight_generation_duration = lukhas_obs.histogram("luna_insight_generation_duration_seconds")
memory_retrieval_duration = lukhas_obs.histogram("luna_memory_retrieval_duration_seconds")
pattern_recognition_duration = lukhas_obs.histogram("luna_pattern_recognition_duration_seconds")

# --------------------------------------------------------------------------------------------- 6. emotional
emotional_empathy_score = lukhas_obs.gauge("luna_emotional_empathy_score")
emotional_stability_index = lukhas_obs.gauge("luna_emotional_stability_index")
emotional_complexity_level = lukhas_obs.gauge("luna_emotional_complexity_level")

# ------------------------------------------------------------------------------------------ 7. co-evolution
co_evolution_depth = lukhas_obs.gauge("luna_co_evolution_depth")
co_evolution_quality_score = lukhas_obs.gauge("luna_co_evolution_quality_score")
interaction_phi_alignment = lukhas_obs.gauge("luna_interaction_phi_alignment")

# ------------------------------------------------------------------------------------ 8. system (Redis, cache)
redis_connection_status = lukhas_obs.gauge("luna_redis_connection_status")
redis_keys_count = lukhas_obs.gauge("luna_redis_keys_count")  # pattern: consciousness:*, memory:*, phi:*
cache_hit_rate = lukhas_obs.gauge("luna_cache_hit_rate")

# ------------------------------------------------------------------------------------------ 9. metadata & info
luna_info = lukhas_obs.info("luna_system_info")  # prometheus_client's Info('luna_system') exposes luna_system_info
# Set at import, as the seed does: kept until configure() runs, then published.
luna_info.info(
    {
        "version": "0.2",
        "phi_target": "1.618033988749895",
        "architecture": "MCP-based",
        "state": "dormant",
        "signature_fractale": "R10-F11-V6-d7-l2",
    }
)

# ------------------------------------------------------------------------------------------- 10. φ ratios
phi_ratio_tool_success = lukhas_obs.gauge("luna_phi_ratio_tool_success")
phi_ratio_memory_depth = lukhas_obs.gauge("luna_phi_ratio_memory_depth")
phi_harmony_index = lukhas_obs.gauge("luna_phi_harmony_index")


# ================================================================================================ update functions


def _unreadable(where: str, exc: BaseException) -> None:
    """An input the helper could not read: counted, never raised; only the exception's type is logged."""
    drops.report(f"luna.{where}", "unreadable_result", type(exc).__name__)


def _fields(where: str, data: object, setters: tuple[tuple[str, object, Callable[[Any], None]], ...]) -> None:
    """``setter(data.get(key, default))`` for each field, each on its own: one unreadable field skips only itself."""
    try:
        get = getattr(data, "get", None)  # an object whose __getattr__ raises is refused here too
    except Exception as exc:
        _unreadable(where, exc)
        return
    if not callable(get):
        drops.report(f"luna.{where}", "unreadable_result", f"not a mapping: {type(data).__name__}")
        return
    for key, default, setter in setters:
        try:
            setter(get(key, default))
        except Exception as exc:
            _unreadable(where, exc)


def update_phi_metrics(phi_data: Mapping[str, Any]) -> None:
    """Mise à jour des métriques φ consciousness (the seed's keys and defaults)."""
    try:
        state = phi_data.get("state", "dormant")
        phi_current_value.set(phi_data.get("current_value", 1.0), state=state)
    except Exception as exc:
        _unreadable("update_phi_metrics", exc)
    _fields(
        "update_phi_metrics",
        phi_data,
        (
            ("convergence_ratio", 0.0, phi_convergence_ratio.set),
            ("distance_to_optimal", 0.618, phi_distance_to_optimal.set),
            ("progression_percent", 0.0, phi_progression_percent.set),
            ("metamorphosis_readiness", 0.0, metamorphosis_readiness.set),
        ),
    )


def update_consciousness_metrics(consciousness_data: Mapping[str, Any]) -> None:
    """Mise à jour des métriques de conscience."""
    _fields(
        "update_consciousness_metrics",
        consciousness_data,
        (
            ("level", 1, consciousness_level.set),
            ("auto_awareness", 0.0, auto_awareness_score.set),
            ("introspection", 0.0, introspection_depth.set),
            ("meta_cognition", 0.0, meta_cognition_level.set),
            ("phi_alignment", 0.0, phi_alignment_score.set),
            ("emergence_potential", 0.0, emergence_potential.set),
        ),
    )


#: The latest layer counts seen by update_fractal_memory_metrics (roots, branches, leaves, seeds), for the φ ratios.
_layers: list[float] | None = None


def update_fractal_memory_metrics(memory_stats: Mapping[str, Any]) -> None:
    """Mise à jour des métriques de mémoire fractale; ``total_nodes`` is the sum of the four layers, as in the seed."""
    global _layers
    where = "update_fractal_memory_metrics"
    counts: list[object] = []
    layers = (
        ("roots", fractal_memory_roots_count),
        ("branches", fractal_memory_branches_count),
        ("leaves", fractal_memory_leaves_count),
        ("seeds", fractal_memory_seeds_count),
    )
    _fields(where, memory_stats, tuple((key, 0, _also(counts, gauge.set)) for key, gauge in layers))
    if len(counts) == len(layers):
        try:
            total = sum(counts)  # type: ignore[arg-type]  # the seed's sum(); a non-number is dropped below
            fractal_memory_total_nodes.set(total)
            if all(isinstance(c, (int, float)) and math.isfinite(c) for c in counts):
                _layers = [float(c) for c in counts]  # type: ignore[arg-type]
        except Exception as exc:
            _unreadable(where, exc)
    _fields(
        where,
        memory_stats,
        (
            ("phi_resonance", 0.0, fractal_phi_resonance.set),
            ("complexity_index", 0.0, fractal_complexity_index.set),
            ("integration_ratio", 0.0, fractal_integration_ratio.set),
        ),
    )


def _also(into: list[object], setter: Callable[[Any], None]) -> Callable[[Any], None]:
    def both(value: Any) -> None:
        setter(value)
        into.append(value)

    return both


def update_emotional_metrics(emotional_data: Mapping[str, Any]) -> None:
    """Mise à jour des métriques émotionnelles."""
    _fields(
        "update_emotional_metrics",
        emotional_data,
        (
            ("empathy", 0.0, emotional_empathy_score.set),
            ("stability", 0.0, emotional_stability_index.set),
            ("complexity", 0.0, emotional_complexity_level.set),
        ),
    )


def update_co_evolution_metrics(co_evo_data: Mapping[str, Any]) -> None:
    """Mise à jour des métriques de co-évolution."""
    _fields(
        "update_co_evolution_metrics",
        co_evo_data,
        (
            ("depth", 0.0, co_evolution_depth.set),
            ("quality", 0.0, co_evolution_quality_score.set),
            ("phi_alignment", 0.0, interaction_phi_alignment.set),
        ),
    )


def update_system_metrics(system_data: Mapping[str, Any]) -> None:
    """Mise à jour des métriques système: Redis status (1/0 by truthiness), keys per pattern, cache hit rate."""
    where = "update_system_metrics"
    _fields(where, system_data, (("redis_connected", None, lambda v: redis_connection_status.set(1 if v else 0)),))
    try:
        for pattern, keys in system_data.get("redis_keys", {}).items():
            redis_keys_count.set(keys, pattern=pattern)
    except Exception as exc:
        _unreadable(where, exc)
    _fields(where, system_data, (("cache_hit_rate", 0.0, cache_hit_rate.set),))


# ================================================================================ counters the seed left to callers


def record_emotional_analysis() -> None:
    """One emotional state analysis (``luna_emotional_analyses_total``)."""
    emotional_analyses_total.add()


def record_semantic_validation(result: str) -> None:
    """One semantic coherence validation: ``result`` is ``coherent`` or ``incoherent``."""
    semantic_validations_total.add(result=result)


def record_pattern_recognition(pattern_type: str, duration_s: float | None = None) -> None:
    """One fractal pattern recognised (``fibonacci``, ``golden_ratio``, ``spiral``, ``other``) and its duration."""
    pattern_recognitions_total.add(pattern_type=pattern_type)
    if duration_s is not None:
        pattern_recognition_duration.record(duration_s)


def record_co_evolution_event() -> None:
    """One co-evolution tracking event (``luna_co_evolution_events_total``)."""
    co_evolution_events_total.add()


# ========================================================================================================== φ ratios


class _Tally:
    """Tool calls by outcome since import, and snapshots of them (at most one a second, over the window) from which
    :func:`calculate_phi_ratios` takes the rates: the in-process equivalent of ``rate(...[5m])``."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.success = 0
        self.error = 0
        self.lock = threading.Lock()
        # (monotonic time, success, error); at most one snapshot a second: bounded by the window in seconds
        self.snapshots: deque[tuple[float, int, int]] = deque([(time.monotonic(), 0, 0)], maxlen=int(window_s) + 2)

    def add(self, ok: bool) -> None:
        with self.lock:
            if ok:
                self.success += 1
            else:
                self.error += 1

    def deltas(self, now: float) -> tuple[int, int]:
        """Calls that succeeded and failed within the window ending at ``now``."""
        with self.lock:
            success, error = self.success, self.error
            snaps = self.snapshots
            if now - snaps[-1][0] >= 1.0:
                snaps.append((now, success, error))
            while len(snaps) > 1 and snaps[1][0] <= now - self.window_s:
                snaps.popleft()
            _, base_success, base_error = snaps[0]
        return success - base_success, error - base_error


_tally = _Tally(HARMONY_WINDOW_S)


def harmony_index(success_rate: float, error_rate: float) -> float:
    """The seed's ``calculate_harmony_index``: how close the success/error ratio is to φ, in [0, 1].

    ``actual = success_rate / error_rate`` (0 when no call failed, as the seed writes it), then
    ``1 - |φ - actual| / φ``, bounded to the metric's documented range [0, 1] (a ratio above 2φ would go negative).
    """
    actual = success_rate / error_rate if error_rate > 0 else 0.0
    return min(1.0, max(0.0, 1.0 - abs(PHI_TARGET - actual) / PHI_TARGET))


def memory_depth_ratio(roots: float, branches: float, leaves: float, seeds: float) -> float | None:
    """The mean of the successive layer ratios branches/roots, leaves/branches, seeds/leaves (a layer of zero
    skipped): φ when each layer is φ times the one before it. None when no ratio is defined."""
    ratios = [b / a for a, b in ((roots, branches), (branches, leaves), (leaves, seeds)) if a > 0]
    return sum(ratios) / len(ratios) if ratios else None


def calculate_phi_ratios() -> None:
    """Calcule et met à jour les ratios φ du système (a stub in the seed, computed here; runs at every collection).

    - ``luna_phi_ratio_tool_success``: successful tool calls / all tool calls over the last
      :data:`HARMONY_WINDOW_S` seconds (as its HELP says: successful / total);
    - ``luna_phi_harmony_index``: :func:`harmony_index` of the success and error rates over that window (the seed's
      ``calculate_harmony_index``);
    - ``luna_phi_ratio_memory_depth``: :func:`memory_depth_ratio` of the last fractal memory statistics.

    A window without tool calls, or no memory statistics yet, leaves the gauges as they are (no evidence either way).
    """
    try:
        success, error = _tally.deltas(time.monotonic())
        if success + error > 0:
            phi_ratio_tool_success.set(success / (success + error))
            phi_harmony_index.set(harmony_index(success / HARMONY_WINDOW_S, error / HARMONY_WINDOW_S))
        layers = _layers
        if layers is not None:
            depth = memory_depth_ratio(*layers)
            if depth is not None:
                phi_ratio_memory_depth.set(depth)
    except Exception as exc:  # pragma: no cover - arithmetic on numbers checked above
        drops.report("luna.calculate_phi_ratios", "internal_error", type(exc).__name__)


# ======================================================================================================= decorators


def track_phi_calculation(func: F) -> F:
    """Decorator pour tracker les calculs φ: every call timed into ``luna_phi_calculation_duration_seconds``."""
    return timed_histogram("luna_phi_calculation_duration_seconds")(func)


def track_insight_generation(func: F) -> F:
    """Decorator pour tracker la génération d'insights: every call timed; a truthy result counted in
    ``luna_insights_generated_total{type=result.get('type', 'unknown')}``."""
    return instrument(
        timed_histogram("luna_insight_generation_duration_seconds"),
        count_by_result("luna_insights_generated_total", label="type", key="type", only_if=bool),
    )(func)


def _found(result: object) -> str:
    return "found" if result else "not_found"


def _takes(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func`` has a parameter ``name`` or takes ``**kwargs`` (where the seed looks for ``layer``)."""
    target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def track_memory_operation(operation_type: str) -> Callable[[F], F]:
    """Decorator pour tracker les opérations mémoire: every call timed into
    ``luna_memory_retrieval_duration_seconds``; a returned ``store`` counted in ``luna_memory_stores_total{layer}``,
    a returned ``retrieve`` in ``luna_memory_retrievals_total{layer, status=found|not_found}`` (by the result's
    truthiness). ``layer`` is the call's ``layer`` argument, ``unknown`` when not given (the seed reads
    ``kwargs.get('layer', 'unknown')``; here a positional ``layer`` counts too)."""

    def decorator(func: F) -> F:
        timing = timed_histogram("luna_memory_retrieval_duration_seconds")
        layer: object = from_argument("layer") if _takes(func, "layer") else "unknown"
        if operation_type == "store":
            if isinstance(layer, str):
                return instrument(timing, count("luna_memory_stores_total", layer=layer))(func)
            return instrument(timing, count_by_argument("luna_memory_stores_total", label="layer", argument="layer"))(
                func
            )
        if operation_type == "retrieve":
            counting = count("luna_memory_retrievals_total", layer=layer, status=from_result(getter=_found))
            return instrument(timing, counting)(func)
        return timing(func)  # any other operation: timed only, as in the seed

    return decorator


def track_tool_call(tool_name: str) -> Callable[[F], F]:
    """Decorator pour tracker les appels d'outils MCP: ``luna_mcp_tool_calls_total{tool_name, status}``,
    ``success`` when the call returns, ``error`` when it raises (re-raised unchanged). Sync and ``async def`` tools
    also feed the harmony index (:func:`calculate_phi_ratios`)."""

    def decorator(func: F) -> F:
        counted = count_outcomes("luna_mcp_tool_calls_total", tool_name=tool_name)(func)
        return _tallied(counted)

    return decorator


def _tallied(func: F) -> F:
    """Feed :data:`_tally` with each call's outcome (sync and coroutine functions; others are counted only)."""
    add = _tally.add
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def tallied_async(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await func(*args, **kwargs)
            except Exception:
                add(False)
                raise
            add(True)
            return result

        return tallied_async  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func) or not inspect.isfunction(func):
        return func

    @functools.wraps(func)
    def tallied(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except Exception:
            add(False)
            raise
        add(True)
        return result

    return tallied  # type: ignore[return-value]


# ============================================================================================= scrape-time collection


@dataclass(frozen=True)
class LunaSources:
    """The Luna modules :func:`collect_all_metrics` reads at every collection (the seed's prometheus_exporter.py).

    - ``phi_calculator.get_current_state()`` → ``level``, ``phi_value``, ``convergence_ratio``, ``progression``,
      ``metamorphosis_ready``;
    - ``fractal_consciousness.get_state()`` → ``level_numeric``, ``auto_awareness``, ``introspection``,
      ``meta_cognition``, ``phi_alignment``, ``emergence_potential``;
    - ``memory_core.get_statistics()`` → the fractal memory statistics; ``memory_core.redis_client.ping()`` → Redis
      up; and, where the seed writes "À compter" / "À calculer", ``memory_core.redis_key_counts()`` (pattern → keys)
      and ``memory_core.cache_hit_rate()`` when the memory core has them.

    Each source is read on the collecting thread: keep them quick (a Redis client with a socket timeout).
    """

    phi_calculator: Any = None
    fractal_consciousness: Any = None
    memory_core: Any = None


_sources: LunaSources | None = None


def attach_sources(sources: LunaSources) -> None:
    """Read ``sources`` at every collection from now on (replacing any attached before)."""
    global _sources
    if not isinstance(sources, LunaSources):
        raise TypeError(f"attach_sources() needs a LunaSources, not {type(sources).__name__}")
    _sources = sources


def detach_sources() -> None:
    """Stop reading Luna's modules at collection (the φ ratios are still computed)."""
    global _sources
    _sources = None


def _collect_phi(phi_calc: Any) -> None:
    phi_state = phi_calc.get_current_state()
    update_phi_metrics(
        {
            "state": phi_state["level"],
            "current_value": phi_state["phi_value"],
            "convergence_ratio": phi_state["convergence_ratio"],
            # the seed writes 1.618 - φ; its HELP says "absolute value" (they differ only once φ passes 1.618)
            "distance_to_optimal": abs(1.618 - phi_state["phi_value"]),
            "progression_percent": phi_state.get("progression", 0),
            "metamorphosis_readiness": phi_state.get("metamorphosis_ready", 0),
        }
    )


def _collect_consciousness(fractal_consciousness: Any) -> None:
    state = fractal_consciousness.get_state()
    update_consciousness_metrics(
        {
            "level": state.get("level_numeric", 1),
            "auto_awareness": state.get("auto_awareness", 0.0),
            "introspection": state.get("introspection", 0.0),
            "meta_cognition": state.get("meta_cognition", 0.0),
            "phi_alignment": state.get("phi_alignment", 0.0),
            "emergence_potential": state.get("emergence_potential", 0.0),
        }
    )


def _collect_memory(memory_core: Any) -> None:
    update_fractal_memory_metrics(memory_core.get_statistics())


def _redis_up(client: Any) -> bool:
    """The seed's ``redis_client.ping() if redis_client else False``; a ping that raises (redis-py raises
    ``ConnectionError`` when the server is gone) is a disconnection, so LunaRedisDown can fire."""
    if not client:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False


def _collect_system(memory_core: Any) -> None:
    redis_connection_status.set(1 if _redis_up(getattr(memory_core, "redis_client", None)) else 0)
    # The seed leaves these "À compter" ({}) and "À calculer" (0.0): read when the memory core offers them, else
    # left as they are (the seed would reset the cache hit rate to 0 at every scrape).
    keys = getattr(memory_core, "redis_key_counts", None)
    if callable(keys):
        for pattern, count_ in keys().items():
            redis_keys_count.set(count_, pattern=pattern)
    hit_rate = getattr(memory_core, "cache_hit_rate", None)
    if callable(hit_rate):
        cache_hit_rate.set(hit_rate())


def collect_all_metrics() -> None:
    """Collecte toutes les métriques actuelles de Luna: read the attached :class:`LunaSources` into the gauges, then
    :func:`calculate_phi_ratios`. Runs before every collection; each source is isolated (one that raises is counted
    in ``lukhas_obs_dropped_measurements_total{metric="luna.collect_all_metrics", reason="callback_error"}`` and the
    others are still read; the exception's text is never logged, it may hold a connection string)."""
    sources = _sources
    if sources is not None:
        steps: tuple[tuple[Callable[[Any], None], Any], ...] = (
            (_collect_phi, sources.phi_calculator),
            (_collect_consciousness, sources.fractal_consciousness),
            (_collect_memory, sources.memory_core),
            (_collect_system, sources.memory_core),
        )
        for step, source in steps:
            if source is None:
                continue
            try:
                step(source)
            except Exception as exc:
                drops.report("luna.collect_all_metrics", "callback_error", type(exc).__name__)
    calculate_phi_ratios()


lukhas_obs.before_collect(collect_all_metrics)


# ======================================================================================================= introspection


def query_metrics(query: str, *, prometheus_url: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """Run the PromQL ``query`` on Luna's Prometheus (``prometheus_url``, else ``$LUNA_PROMETHEUS_URL``, else
    ``http://127.0.0.1:9090``): ``{"query", "result_type", "samples": [{"labels", "value", "timestamp"}]}``.

    Bounded in time and size (:class:`~lukhas_obs.slotools.promapi.PrometheusClient`); failures raise its
    :class:`~lukhas_obs.slotools.promapi.PrometheusError`, whose message never holds a credential.
    """
    from lukhas_obs.slotools.promapi import PrometheusClient

    url = prometheus_url or os.environ.get(PROMETHEUS_URL_ENV) or DEFAULT_PROMETHEUS_URL
    result = PrometheusClient(url, timeout=timeout).query(query)
    samples = [{"labels": dict(s.labels), "value": s.value, "timestamp": s.timestamp} for s in result.samples]
    series = [{"labels": dict(s.labels), "points": [list(p) for p in s.points]} for s in result.series]
    out: dict[str, Any] = {"query": query, "result_type": result.result_type, "samples": samples}
    if series:
        out["series"] = series
    return out


@track_tool_call("introspection_query_metrics")
async def introspection_query_metrics(
    query: str, *, prometheus_url: str | None = None, timeout: float = 5.0
) -> dict[str, Any]:
    """Permet à Luna de querier ses propres métriques Prometheus pour auto-analyse (the seed's phase-4 MCP tool).

    :func:`query_metrics` in a worker thread, so the event loop is never blocked; counted as a tool call.
    """
    return await asyncio.to_thread(query_metrics, query, prometheus_url=prometheus_url, timeout=timeout)
