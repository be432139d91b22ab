"""Run seed 000's metrics module twice on one workload, on prometheus_client and ported; print both expositions.

Usage: ``python side_by_side.py ORIGINAL.py PORT.py CATALOG.yaml`` (tests/test_prometheus_compat.py writes PORT.py:
ORIGINAL.py with only its import line changed to ``lukhas_obs.prometheus_compat``). Run in a fresh interpreter so
that prometheus_client's default ``REGISTRY`` holds only the original module's metrics and lukhas-obs' catalog
registry only the Luna catalog.

Order, as a service would do it: register the catalog, import the port (its ``luna_info.info({...})`` runs at import,
before ``configure()``), import the original, configure lukhas-obs with ``/metrics`` on a free loopback port, run the
same workload on both modules, then print one JSON object: the original's ``generate_latest`` (text and
OpenMetrics), the port's ``/metrics`` scraped over HTTP (text and OpenMetrics), the port's
``prometheus_compat.generate_latest()``, and the catalog's metric names.

Durations are deterministic: prometheus_client's timer clock and prometheus_compat's are replaced by two instances
of one fake clock (each timed block reads it twice, on entry and on exit), so both sides see the same durations.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import urllib.request
from types import ModuleType

import prometheus_client
import prometheus_client.context_managers
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

import lukhas_obs
from lukhas_obs import prometheus_compat

#: Durations of the timed blocks, in order (cycled): one in each of Luna's bucket ranges, and beyond the last bucket.
DURATIONS = (0.0004, 0.003, 0.02, 0.2, 0.7, 3.0, 12.0, 45.0)


class FakeClock:
    """Reads 0.0 on a block's entry and the next duration on its exit (a clock may go back: both sides allow it)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        if self.calls % 2:
            return 0.0
        return DURATIONS[(self.calls // 2 - 1) % len(DURATIONS)]


def load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def workload(mod: ModuleType) -> None:
    """Every update_* function, every decorator, every labelled metric, and the metric methods directly."""
    mod.update_phi_metrics(
        {
            "state": "awakened",
            "current_value": 1.25,
            "convergence_ratio": 0.75,
            "distance_to_optimal": 0.368,
            "progression_percent": 42.5,
            "metamorphosis_readiness": 0.5,
        }
    )
    mod.update_phi_metrics({})  # the seed's defaults: state dormant, value 1.0, distance 0.618
    mod.update_consciousness_metrics(
        {
            "level": 3,
            "auto_awareness": 0.8,
            "introspection": 0.6,
            "meta_cognition": 0.4,
            "phi_alignment": 0.9,
            "emergence_potential": 0.3,
        }
    )
    mod.update_fractal_memory_metrics(
        {
            "roots": 3,
            "branches": 5,
            "leaves": 8,
            "seeds": 13,
            "phi_resonance": 0.618,
            "complexity_index": 2.5,
            "integration_ratio": 0.7,
        }
    )
    mod.update_emotional_metrics({"empathy": 0.9, "stability": 0.8, "complexity": 4})
    mod.update_co_evolution_metrics({"depth": 7, "quality": 0.85, "phi_alignment": 0.95})
    mod.update_system_metrics(
        {
            "redis_connected": True,
            "redis_keys": {"consciousness:*": 12, "memory:*": 40, "phi:*": 3},
            "cache_hit_rate": 0.93,
        }
    )
    mod.update_system_metrics({"redis_connected": False, "redis_keys": {"memory:*": 41}})
    mod.calculate_phi_ratios()

    calc = mod.track_phi_calculation(lambda x: x * 1.618)
    for i in range(6):
        calc(i)
    generate = mod.track_insight_generation(lambda kind: {"type": kind} if kind else None)
    for kind in ("phi_insight", "cross_domain", "phi_insight", None, "emotional", "semantic"):
        generate(kind)
    mod.track_insight_generation(lambda: {"no_type": 1})()  # counted as type="unknown"
    store = mod.track_memory_operation("store")(lambda content, layer="root": True)
    store("a", layer="root")
    store("b", layer="leaf")
    store("c")  # the seed reads the layer from keyword arguments only: "unknown"
    retrieve = mod.track_memory_operation("retrieve")(lambda key, layer="root": {"k": key} if key != "gone" else None)
    retrieve("x", layer="branch")
    retrieve("gone", layer="branch")
    retrieve("y")
    tool = mod.track_tool_call("phi_calculator")(lambda ok: ok or 1 / 0)
    tool(True)
    tool(True)
    with contextlib.suppress(ZeroDivisionError):
        tool(False)

    mod.emotional_analyses_total.inc()
    mod.emotional_analyses_total.inc(2)
    mod.co_evolution_events_total.inc(0.5)
    mod.semantic_validations_total.labels(result="coherent").inc()
    mod.semantic_validations_total.labels("incoherent").inc(3)
    mod.pattern_recognitions_total.labels(pattern_type="fibonacci").inc()
    mod.pattern_recognitions_total.labels("spiral").inc(0)
    mod.memory_retrievals_total.labels(status="found", layer="seed").inc()
    mod.insights_generated_total.labels(True).inc()  # str(True): type="True" on both sides
    mod.redis_keys_count.labels(5).set(1)  # str(5): pattern="5"
    mod.pattern_recognition_duration.observe(0.07)
    mod.pattern_recognition_duration.observe(0.3)
    mod.pattern_recognition_duration.observe(7)
    with mod.pattern_recognition_duration.time():
        pass
    mod.memory_retrieval_duration.observe(0.0005)
    with mod.emotional_complexity_level.time():  # a gauge set to the duration
        pass
    mod.phi_ratio_tool_success.set(1.618)
    mod.phi_ratio_memory_depth.set("1.5")  # float() of a string, as prometheus_client converts it
    mod.phi_harmony_index.set(0.5)
    mod.phi_harmony_index.inc(0.25)
    mod.phi_harmony_index.dec(0.125)
    mod.phi_harmony_index.inc()
    with mod.co_evolution_depth.track_inprogress():
        pass
    try:
        with mod.co_evolution_events_total.count_exceptions(ValueError):
            raise ValueError("counted")
    except ValueError:
        pass

    @mod.emotional_analyses_total.count_exceptions()
    def fails() -> None:
        raise KeyError("counted")

    with contextlib.suppress(KeyError):
        fails()
    mod.luna_info.info(
        {
            "version": "0.2",
            "phi_target": "1.618033988749895",
            "architecture": "MCP-based",
            "state": "awakened",
            "signature_fractale": "R10-F11-V6-d7-l2",
        }
    )


def scrape(url: str, accept: str | None = None) -> str:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode("utf-8")


def main(original_path: str, port_path: str, catalog_path: str) -> None:
    for collector in (prometheus_client.PROCESS_COLLECTOR, prometheus_client.PLATFORM_COLLECTOR):
        prometheus_client.REGISTRY.unregister(collector)
    prometheus_client.REGISTRY.unregister(prometheus_client.GC_COLLECTOR)
    prometheus_client.context_managers.default_timer = FakeClock()  # type: ignore[attr-defined]
    prometheus_compat._clock = FakeClock()

    catalog = lukhas_obs.register_yaml(catalog_path)
    port = load(port_path, "luna_metrics_port")  # defines its metrics and sets its Info before configure()
    original = load(original_path, "luna_metrics_original")
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", metrics_exporter="prometheus")
    try:
        assert telemetry.metrics_url is not None, "the /metrics server did not start"
        workload(original)
        workload(port)
        result = {
            "original_text": prometheus_client.generate_latest(prometheus_client.REGISTRY).decode("utf-8"),
            "original_openmetrics": openmetrics_latest(prometheus_client.REGISTRY).decode("utf-8"),
            "port_text": scrape(telemetry.metrics_url),
            "port_openmetrics": scrape(telemetry.metrics_url, "application/openmetrics-text; version=1.0.0"),
            "port_generate_latest": prometheus_compat.generate_latest().decode("utf-8"),
            "catalog_names": [m.name for m in catalog.metrics],
            "port_module_names": sorted(n for n in vars(port) if not n.startswith("_")),
        }
    finally:
        telemetry.shutdown(timeout=5)
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
