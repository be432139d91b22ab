"""Luna (seed 000) as a lukhas-obs system: catalog, helpers, decorators, harmony, scrape-time collection, the Flask
example, the side-by-side comparison with the seed's own prometheus_client module, promtool, a real Prometheus and
``lukhas-obs demo --system luna``.

Until pyproject.toml publishes the ``luna`` entry point, the system is registered in-process here
(for this module only); subprocesses register it with :func:`lukhas_obs.systems.register_system` while the entry point
is absent.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import systems as systems_registry
from lukhas_obs.catalog import load_catalog
from lukhas_obs.systems import ENTRY_POINT_GROUP, system
from lukhas_obs.systems.luna import SYSTEM
from lukhas_obs.systems.luna import metrics as luna  # registers the catalog
from tests.support.hostile import Hostile, RaisingStr
from tests.support.prometheus import (
    PrometheusApi,
    free_port,
    require_binary,
    run_tool,
    start_process,
    stop_process,
    tail,
    wait_for,
)
from tests.support.scrape import scrape

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SEED_MODULE = DATA / "promclient" / "luna_consciousness_metrics.py"
RULES_FIXTURE = DATA / "luna_rules.yaml"
SIDE_BY_SIDE = DATA / "luna_sidebyside" / "run.py"
CATALOG = load_catalog(SYSTEM.catalogs[0])
MIGRATION = ROOT / "docs" / "MIGRATION.md"

#: Families whose values the side-by-side comparison does not compare (kind and label names still are), and why.
#: docs/MIGRATION.md ("Luna and pForge") lists each; test_every_documented_difference_is_in_the_migration_guide.
DOCUMENTED_DIFFERENCES: dict[str, str] = {
    "luna_phi_ratio_tool_success": "the seed's calculate_phi_ratios() is a stub (pass); the port computes it",
    "luna_phi_ratio_memory_depth": "the seed's calculate_phi_ratios() is a stub (pass); the port computes it",
    "luna_phi_harmony_index": "the seed's calculate_phi_ratios() is a stub (pass); the port computes it",
    "luna_redis_keys_count": "the seed's collect_all_metrics() leaves redis_keys 'À compter' ({}); the port reads "
    "memory_core.redis_key_counts()",
    "luna_cache_hit_rate": "the seed's collect_all_metrics() sets 0.0 at every scrape ('À calculer'); the port reads "
    "memory_core.cache_hit_rate()",
}


@pytest.fixture(autouse=True, scope="module")
def _system_registered() -> Iterator[None]:
    """``luna`` known to :mod:`lukhas_obs.systems` while this module runs (until pyproject.toml publishes its entry
    point), and forgotten after it: other modules generating from every known system (the committed files of
    collector/ and docs/) see what they saw before."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(systems_registry._local, SYSTEM.name, SYSTEM)
        assert system(SYSTEM.name) is SYSTEM
        yield


# ================================================================================================ helpers


def families_of(text: str) -> dict[str, dict[str, Any]]:
    """Exposition text → {family: {type, help, samples: {(sample name, sorted labels): value}}}, without
    ``target_info`` and ``_created`` series (neither is part of what is compared)."""
    out: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "target_info" or family.name.endswith("_created"):
            continue
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for s in family.samples
            if not s.name.endswith("_created")
        }
        out[family.name] = {"type": family.type, "help": family.documentation, "samples": samples}
    return out


def compare_expositions(seed: str, port: str, documented: dict[str, str]) -> list[str]:
    """Every difference between two expositions beyond ``documented`` families' values: families, kinds, HELP,
    label sets (bucket boundaries included) and values (``_sum`` to 1e-12 relative: lukhas-obs adds per-collection
    partial sums, like the OTel SDK)."""
    a, b = families_of(seed), families_of(port)
    problems = [f"family only in the seed's exposition: {n}" for n in sorted(set(a) - set(b))]
    problems += [f"family only in the port's exposition: {n}" for n in sorted(set(b) - set(a))]
    for name in sorted(set(a) & set(b)):
        fa, fb = a[name], b[name]
        if fa["type"] != fb["type"]:
            problems.append(f"{name}: type {fa['type']} vs {fb['type']}")
        if fa["help"] != fb["help"]:
            problems.append(f"{name}: HELP {fa['help']!r} vs {fb['help']!r}")
        if name in documented:
            names_a = {frozenset(k for k, _ in labels) for _, labels in fa["samples"]}
            names_b = {frozenset(k for k, _ in labels) for _, labels in fb["samples"]}
            if names_a and names_b and names_a != names_b:
                problems.append(f"{name}: label names {names_a} vs {names_b}")
            continue
        if set(fa["samples"]) != set(fb["samples"]):
            problems.append(f"{name}: series {sorted(set(fa['samples']) ^ set(fb['samples']))}")
        for key in sorted(set(fa["samples"]) & set(fb["samples"])):
            va, vb = fa["samples"][key], fb["samples"][key]
            same = math.isclose(va, vb, rel_tol=1e-12) if key[0].endswith("_sum") else va == vb
            if not same:
                problems.append(f"{name}: {key} = {va!r} vs {vb!r}")
    return problems


def run_side(script: Path, side: str, steps: int, scrape_every: int) -> str:
    """Run one side of a side-by-side script in its own process and return the exposition it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_", "PROMETHEUS_"))}
    done = subprocess.run(
        [sys.executable, str(script), side, str(steps), str(scrape_every)],
        cwd=script.parent, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def seed_namespace() -> dict[str, Any]:
    """Seed 000's module executed on a fresh CollectorRegistry (its import line replaced by classes bound to it)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

    registry = CollectorRegistry()
    source = SEED_MODULE.read_text(encoding="utf-8")
    line = "from prometheus_client import Gauge, Counter, Histogram, Info"
    assert line in source
    namespace: dict[str, Any] = {
        cls.__name__: functools.partial(cls, registry=registry) for cls in (Counter, Gauge, Histogram, Info)
    }
    exec(compile(source.replace(line, "pass"), str(SEED_MODULE), "exec"), namespace)
    namespace["__registry__"] = registry
    return namespace


def seed_definitions() -> dict[str, dict[str, Any]]:
    """(name → kind, labels, buckets, help) of every metric the seed module defines, read from its source (AST)."""
    kinds = {"Gauge": "gauge", "Counter": "counter", "Histogram": "histogram", "Info": "info"}
    out: dict[str, dict[str, Any]] = {}
    info_keys: list[str] = []
    for node in ast.walk(ast.parse(SEED_MODULE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in kinds:
            name, doc = (ast.literal_eval(a) for a in node.args[:2])
            labels = ast.literal_eval(node.args[2]) if len(node.args) > 2 else []
            buckets = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "buckets"), None)
            kind = kinds[node.func.id]
            exposed = {"counter": name if name.endswith("_total") else f"{name}_total", "info": f"{name}_info"}
            out[exposed.get(kind, name)] = {"kind": kind, "labels": labels, "buckets": buckets, "help": doc}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "info":
            info_keys = list(ast.literal_eval(node.args[0]))  # luna_info.info({...}): the Info's label names
    out["luna_system_info"]["labels"] = info_keys
    return out


def lines(prefix: str = "luna_", accept: str | None = None) -> list[str]:
    body, _ = lukhas_obs.render_exposition(accept)
    return [line for line in body.decode().splitlines() if line.startswith(prefix)]


def dropped(where: str) -> float:
    body, _ = lukhas_obs.render_exposition()
    return sum(
        s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == "lukhas_obs_dropped_measurements_total" and s.labels.get("metric") == where
    )


@pytest.fixture
def telemetry() -> Iterator[lukhas_obs.Telemetry]:
    configured = lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    yield configured
    lukhas_obs.shutdown()


@pytest.fixture
def fresh_tally(monkeypatch: pytest.MonkeyPatch) -> luna._Tally:
    """A tally of its own (tools decorated after this fixture feed it), no memory statistics yet."""
    tally = luna._Tally(luna.HARMONY_WINDOW_S)
    monkeypatch.setattr(luna, "_tally", tally)
    monkeypatch.setattr(luna, "_layers", None)
    monkeypatch.setattr(luna, "_sources", None)
    return tally


def _entry_point_installed(name: str) -> bool:
    return any(ep.name == name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


def cli_argv(system_name: str, module: str, *args: str) -> list[str]:
    """``python -m lukhas_obs.cli ARGS``; while the system's entry point is not installed, the same CLI with the
    system registered in-process first."""
    if _entry_point_installed(system_name):
        return [sys.executable, "-m", "lukhas_obs.cli", *args]
    code = (
        "import sys; from lukhas_obs.systems import register_system; "
        f"from {module} import SYSTEM; register_system(SYSTEM); "
        "from lukhas_obs.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *args]


# ================================================================================================ the catalog


def test_the_catalog_holds_the_seeds_44_metrics_exactly() -> None:
    seed = seed_definitions()
    assert len(seed) == 44
    shipped = {m.name: m for m in CATALOG.metrics}
    assert list(shipped) == list(seed)  # same names, in the seed's order
    for name, want in seed.items():
        spec = shipped[name]
        assert spec.kind == want["kind"], name
        assert [a.key for a in spec.attributes] == want["labels"], name
        assert spec.description == want["help"], name
        if want["kind"] == "histogram":
            assert list(spec.buckets) == [float(b) for b in want["buckets"]], name
    assert CATALOG.common_attributes == ()
    assert [m.name for m in CATALOG.metrics if m.kind == "histogram"] == [
        "luna_phi_calculation_duration_seconds",
        "luna_insight_generation_duration_seconds",
        "luna_memory_retrieval_duration_seconds",
        "luna_pattern_recognition_duration_seconds",
    ]


def test_the_catalog_agrees_with_what_catalog_import_writes(tmp_path: Path) -> None:
    """The catalog was generated with ``lukhas-obs catalog import``: every field the importer writes is unchanged."""
    out = tmp_path / "imported.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "lukhas_obs.cli", "catalog", "import", str(SEED_MODULE), "--catalog-name", "luna",
         "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = yaml.safe_load(out.read_text(encoding="utf-8"))
    shipped = yaml.safe_load(SYSTEM.catalogs[0].read_text(encoding="utf-8"))
    for key in ("catalog", "common_attributes", "start_at_zero"):
        assert shipped[key] == imported[key], key
    assert set(shipped["attributes"]) == set(imported["attributes"])
    assert shipped["attributes"]["signature_fractale"]["secret"] is False
    for mine, theirs in zip(shipped["metrics"], imported["metrics"], strict=True):
        for key, value in theirs.items():
            assert mine.get(key, mine["name"] if key == "otel_name" else None) == value, (mine["name"], key)


def test_the_alerts_and_dashboards_are_the_fixtures() -> None:
    shipped = yaml.safe_load(SYSTEM.catalogs[0].read_text(encoding="utf-8"))
    fixture = yaml.safe_load(RULES_FIXTURE.read_text(encoding="utf-8"))
    assert shipped["slos"] == fixture["slos"]
    assert shipped["dashboards"] == fixture["dashboards"]
    (group,) = CATALOG.slos.groups
    assert group.name == "luna_consciousness_alerts" and len(group.alerts) == 11
    assert [d.uid for d in CATALOG.dashboards] == [
        "luna-phi-consciousness", "luna-fractal-memory", "luna-coevolution-health"
    ]  # fmt: skip


def test_the_system_is_registered_and_points_at_the_example() -> None:
    found = system("luna")
    assert found.workload == "lukhas_obs_examples.luna.workload:LunaWorkload"
    assert found.helpers == ("lukhas_obs.systems.luna.metrics",)
    assert "luna" in {c.name for c in lukhas_obs.catalogs()}


# ============================================================================================= update functions


def test_update_functions_set_every_gauge_from_the_seeds_keys(telemetry) -> None:
    luna.update_phi_metrics(
        {"state": "awakened", "current_value": 1.55, "convergence_ratio": 0.95, "distance_to_optimal": 0.068,
         "progression_percent": 87.5, "metamorphosis_readiness": 0.7}
    )  # fmt: skip
    luna.update_consciousness_metrics(
        {"level": 3, "auto_awareness": 0.8, "introspection": 0.7, "meta_cognition": 0.6, "phi_alignment": 0.5,
         "emergence_potential": 0.4}
    )  # fmt: skip
    luna.update_fractal_memory_metrics(
        {"roots": 1, "branches": 3, "leaves": 0, "seeds": 5, "phi_resonance": 0.662, "complexity_index": 2.5,
         "integration_ratio": 0.3}
    )  # fmt: skip
    luna.update_emotional_metrics({"empathy": 0.9, "stability": 0.8, "complexity": 3})
    luna.update_co_evolution_metrics({"depth": 12, "quality": 0.75, "phi_alignment": 0.66})
    luna.update_system_metrics({"redis_connected": True, "redis_keys": {"memory:*": 7}, "cache_hit_rate": 0.25})
    got = set(lines())
    expected = """\
luna_phi_current_value{state="awakened"} 1.55
luna_phi_convergence_ratio 0.95
luna_phi_distance_to_optimal 0.068
luna_phi_progression_percent 87.5
luna_metamorphosis_readiness 0.7
luna_consciousness_level 3.0
luna_auto_awareness_score 0.8
luna_introspection_depth 0.7
luna_meta_cognition_level 0.6
luna_phi_alignment_score 0.5
luna_emergence_potential 0.4
luna_fractal_memory_roots_count 1.0
luna_fractal_memory_branches_count 3.0
luna_fractal_memory_leaves_count 0.0
luna_fractal_memory_seeds_count 5.0
luna_fractal_memory_total_nodes 9.0
luna_fractal_phi_resonance 0.662
luna_fractal_complexity_index 2.5
luna_fractal_integration_ratio 0.3
luna_emotional_empathy_score 0.9
luna_emotional_stability_index 0.8
luna_emotional_complexity_level 3.0
luna_co_evolution_depth 12.0
luna_co_evolution_quality_score 0.75
luna_interaction_phi_alignment 0.66
luna_redis_connection_status 1.0
luna_redis_keys_count{pattern="memory:*"} 7.0
luna_cache_hit_rate 0.25""".splitlines()
    assert set(expected) <= got, sorted(set(expected) - got)


def test_update_functions_use_the_seeds_defaults(telemetry) -> None:
    luna.update_phi_metrics({"convergence_ratio": 0.5})
    luna.update_consciousness_metrics({})
    luna.update_system_metrics({"redis_connected": 0})
    got = set(lines())
    assert {
        'luna_phi_current_value{state="dormant"} 1.0',
        "luna_phi_distance_to_optimal 0.618",
        "luna_consciousness_level 1.0",
        "luna_redis_connection_status 0.0",
    } <= got


def test_the_seeds_own_functions_give_the_same_lines_on_the_same_input(telemetry) -> None:
    """Same dicts into the seed's functions (on a fresh registry) and the port's: the same series."""
    from prometheus_client import generate_latest

    seed = seed_namespace()
    inputs = [
        ("update_phi_metrics", {"state": "pre_awakened", "current_value": 1.3, "progression_percent": 42.0}),
        ("update_fractal_memory_metrics", {"roots": 2, "branches": 3, "leaves": 5, "seeds": 8}),
        ("update_system_metrics", {"redis_connected": "yes", "redis_keys": {"phi:*": 3, "memory:*": 1}}),
        ("update_co_evolution_metrics", {"quality": 0.5}),
    ]
    for function, data in inputs:
        seed[function](dict(data))
        getattr(luna, function)(dict(data))
    theirs = {line for line in generate_latest(seed["__registry__"]).decode().splitlines() if line.startswith("luna_")}
    mine = set(lines())
    touched = {"phi_current", "phi_progression", "fractal_memory", "redis_", "co_evolution_quality"}
    theirs = {line for line in theirs if any(t in line for t in touched) and "_created" not in line}
    assert theirs and theirs <= mine, sorted(theirs - mine)


class _Pairs:
    """A mapping-like whose items() yields pairs a dict could not hold (unhashable keys)."""

    def __init__(self, *pairs: tuple[Any, Any]) -> None:
        self.pairs = pairs

    def items(self) -> tuple[tuple[Any, Any], ...]:
        return self.pairs


class _RaisingMapping(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        raise RuntimeError("a getter that raises")


HOSTILE_INPUTS = [
    pytest.param(None, id="none"),
    pytest.param(["not", "a", "mapping"], id="list"),
    pytest.param(_RaisingMapping(), id="raising-get"),
    pytest.param(Hostile(), id="hostile-object"),
    pytest.param(
        {"state": RaisingStr("x"), "current_value": float("nan"), "roots": 10**400, "seeds": "many",
         "redis_keys": _Pairs(("\ud800lone", 1), (RaisingStr("p"), 2), ("memory:*", Hostile())),
         "redis_connected": Hostile(), "empathy": object(), "level": 2**70},
        id="hostile-values",
    ),
    pytest.param({"redis_keys": ["not", "a", "mapping"], "cache_hit_rate": -1e308 * 10}, id="bad-shapes"),
]
UPDATES = [
    "update_phi_metrics",
    "update_consciousness_metrics",
    "update_fractal_memory_metrics",
    "update_emotional_metrics",
    "update_co_evolution_metrics",
    "update_system_metrics",
]


@pytest.mark.parametrize("data", HOSTILE_INPUTS)
def test_update_functions_never_raise_and_count_what_they_drop(telemetry, data: Any) -> None:
    seed = seed_namespace()
    seed_raised = 0
    for function in UPDATES:
        try:
            seed[function](data)
        except Exception:
            seed_raised += 1
        getattr(luna, function)(data)  # the port: never raises
    assert seed_raised, "the seed's functions raise on this input: the port's must not"
    body, _ = lukhas_obs.render_exposition()
    assert body.startswith(b"# HELP") and b"luna_system_info" in body  # the scrape still works
    assert sum(dropped(f"luna.{f}") for f in UPDATES) + dropped("luna_phi_current_value") > 0 or data is None


def test_a_bad_field_skips_only_itself(telemetry) -> None:
    luna.update_fractal_memory_metrics({"roots": "many", "branches": 2, "leaves": 3, "seeds": 4, "phi_resonance": 0.7})
    got = set(lines())
    assert {"luna_fractal_memory_branches_count 2.0", "luna_fractal_memory_seeds_count 4.0",
            "luna_fractal_phi_resonance 0.7"} <= got  # fmt: skip
    assert not any(line.startswith("luna_fractal_memory_total_nodes 9") for line in got)  # no sum of a non-number
    assert dropped("luna.update_fractal_memory_metrics") >= 1


def test_label_values_outside_the_seeds_vocabulary_fold_to_unknown(telemetry) -> None:
    luna.update_phi_metrics({"state": "enlightened", "current_value": 1.2})
    luna.record_semantic_validation("ambiguous")
    luna.record_pattern_recognition("mandelbrot", 0.02)
    got = set(lines())
    assert 'luna_phi_current_value{state="unknown"} 1.2' in got
    assert 'luna_semantic_validations_total{result="unknown"} 1.0' in got
    assert 'luna_pattern_recognitions_total{pattern_type="other"} 1.0' in got  # its own list ends in "other"


def test_the_info_is_set_at_import_and_published_at_configure(telemetry) -> None:
    assert lines("luna_system_info") == [
        'luna_system_info{architecture="MCP-based",phi_target="1.618033988749895",'
        'signature_fractale="R10-F11-V6-d7-l2",state="dormant",version="0.2"} 1.0'
    ]
    openmetrics = lines("# TYPE luna_system", "application/openmetrics-text; version=1.0.0")
    assert openmetrics == ["# TYPE luna_system info"]
    assert not any("lane=" in line or "service=" in line for line in lines())  # no common labels


def test_a_labelled_metric_without_series_is_absent_where_prometheus_client_writes_help_and_type(telemetry) -> None:
    from prometheus_client import generate_latest

    theirs = generate_latest(seed_namespace()["__registry__"]).decode()
    assert "# TYPE luna_memory_stores_total counter" in theirs
    assert "luna_memory_stores_total{" not in theirs
    assert not lines("# TYPE luna_memory_stores_total") and not lines("luna_memory_stores_total")


def test_every_unlabelled_metric_is_present_at_zero_from_configure(telemetry) -> None:
    families = families_of("\n".join(lines("")) + "\n")
    unlabelled = [m for m in CATALOG.metrics if not m.attributes]
    for spec in unlabelled:
        family = spec.name.removesuffix("_total")
        assert family in families and families[family]["samples"], spec.name


# =================================================================================================== decorators


def test_track_phi_calculation_times_every_call_sync_and_async(telemetry) -> None:
    @luna.track_phi_calculation
    def calculate() -> float:
        time.sleep(0.002)
        return 1.2

    @luna.track_phi_calculation
    async def calculate_async() -> float:
        await asyncio.sleep(0.002)
        raise ValueError("boom")

    assert calculate() == 1.2
    with pytest.raises(ValueError):
        asyncio.run(calculate_async())
    got = set(lines("luna_phi_calculation_duration_seconds"))
    assert "luna_phi_calculation_duration_seconds_count 2.0" in got
    assert 'luna_phi_calculation_duration_seconds_bucket{le="0.001"} 0.0' in got  # both took 2 ms or more
    assert 'luna_phi_calculation_duration_seconds_bucket{le="5.0"} 2.0' in got


def test_track_tool_call_counts_outcomes_and_reraises_the_same_exception(telemetry, fresh_tally) -> None:
    error = KeyError("no such memory")

    @luna.track_tool_call("fractal_memory_retrieve")
    def tool(fail: bool) -> str:
        if fail:
            raise error
        return "ok"

    @luna.track_tool_call("fractal_memory_retrieve")
    async def async_tool() -> str:
        return "ok"

    assert tool(False) == "ok" and asyncio.run(async_tool()) == "ok"
    with pytest.raises(KeyError) as raised:
        tool(True)
    assert raised.value is error
    got = set(lines("luna_mcp_tool_calls_total"))
    assert 'luna_mcp_tool_calls_total{status="success",tool_name="fractal_memory_retrieve"} 2.0' in got
    assert 'luna_mcp_tool_calls_total{status="error",tool_name="fractal_memory_retrieve"} 1.0' in got
    assert (fresh_tally.success, fresh_tally.error) == (2, 1)


def test_track_insight_generation_counts_truthy_results_by_type(telemetry) -> None:
    results = [{"type": "phi_insight"}, {"confidence": 0.2}, None, {}, {"type": "semantic"}, {"type": "zzz"},
               {"type": None}]  # fmt: skip

    @luna.track_insight_generation
    def generate(result: dict[str, Any] | None) -> dict[str, Any] | None:
        return result

    for result in results:
        generate(result)
    got = set(lines("luna_insight"))
    assert 'luna_insights_generated_total{type="phi_insight"} 1.0' in got
    assert 'luna_insights_generated_total{type="semantic"} 1.0' in got
    # no type, a type outside the seed's four, and None: "unknown"
    assert 'luna_insights_generated_total{type="unknown"} 3.0' in got
    assert "luna_insight_generation_duration_seconds_count 7.0" in got  # every call timed, falsy ones too
    # the seed's decorator on the same results: the same counts, but None becomes "None" and "zzz" stays
    from prometheus_client import generate_latest

    seed = seed_namespace()
    seeded = seed["track_insight_generation"](lambda result: result)
    for result in results:
        seeded(result)
    theirs = generate_latest(seed["__registry__"]).decode()
    for line in ('{type="None"} 1.0', '{type="zzz"} 1.0', '{type="unknown"} 1.0', '{type="semantic"} 1.0'):
        assert f"luna_insights_generated_total{line}" in theirs


def test_track_memory_operation_counts_stores_and_retrievals_by_layer(telemetry) -> None:
    @luna.track_memory_operation("store")
    def store(content: str, layer: str = "leaf") -> bool:
        return True

    @luna.track_memory_operation("store")
    def store_without_layer(content: str) -> bool:  # the seed records "unknown" for these; so does the port
        return True

    @luna.track_memory_operation("retrieve")
    def retrieve(key: str, **kwargs: Any) -> str | None:
        return "memory" if key == "known" else None

    @luna.track_memory_operation("consolidate")
    def consolidate() -> None:  # another operation: timed only
        return None

    store("a", layer="root")
    store("b", "seed")  # positional (the seed reads kwargs only: a documented difference)
    store("d")  # not given: the parameter's default, the value the function sees (the seed: "unknown")
    store_without_layer("c")
    retrieve("known", layer="branch")
    retrieve("unknown-key", layer="branch")
    retrieve("known")
    consolidate()
    got = set(lines("luna_memory"))
    assert {
        'luna_memory_stores_total{layer="root"} 1.0',
        'luna_memory_stores_total{layer="seed"} 1.0',
        'luna_memory_stores_total{layer="unknown"} 1.0',
        'luna_memory_stores_total{layer="leaf"} 1.0',
        'luna_memory_retrievals_total{layer="branch",status="found"} 1.0',
        'luna_memory_retrievals_total{layer="branch",status="not_found"} 1.0',
        'luna_memory_retrievals_total{layer="unknown",status="found"} 1.0',
        "luna_memory_retrieval_duration_seconds_count 8.0",
    } <= got, sorted(got)


# ==================================================================================================== φ ratios


@pytest.mark.parametrize(
    ("success", "error", "expected"),
    [
        (luna.PHI_TARGET, 1.0, 1.0),  # the ratio is φ: perfect harmony
        (1.0, 1.0, 1.0 - (luna.PHI_TARGET - 1.0) / luna.PHI_TARGET),  # 0.618...
        (5.0, 0.0, 0.0),  # no error: the seed's ratio is 0
        (100.0, 1.0, 0.0),  # far above 2φ: bounded at 0, never negative
        (0.0, 0.0, 0.0),
    ],
)
def test_harmony_index_is_the_seeds_formula_bounded_to_0_1(success: float, error: float, expected: float) -> None:
    assert math.isclose(luna.harmony_index(success, error), expected, abs_tol=1e-12)


def test_memory_depth_ratio() -> None:
    phi = luna.PHI_TARGET
    assert math.isclose(luna.memory_depth_ratio(1, phi, phi**2, phi**3), phi)  # each layer φ times the previous
    assert luna.memory_depth_ratio(1, 3, 0, 5) == 1.5  # (3/1 + 0/3) / 2; seeds/leaves undefined
    assert luna.memory_depth_ratio(0, 0, 0, 0) is None


def test_the_tally_window_forgets_calls_older_than_the_window() -> None:
    tally = luna._Tally(window_s=10.0)
    start = tally.snapshots[0][0]
    for _ in range(3):
        tally.add(True)
    assert tally.deltas(start + 1) == (3, 0)
    tally.add(False)
    assert tally.deltas(start + 5) == (3, 1)
    tally.add(True)
    # the base is the last snapshot at or before the window's start: at t+12 that is t+1 (the error came after it)
    assert tally.deltas(start + 12) == (1, 1)
    assert tally.deltas(start + 16) == (1, 0)  # at t+16 it is t+5: the calls before it left the window
    assert tally.deltas(start + 40) == (0, 0)
    for second in range(1000):  # bounded: at most one snapshot a second over the window
        tally.deltas(start + 41 + second)
    assert len(tally.snapshots) <= 12


def test_harmony_and_ratios_are_computed_at_every_scrape(telemetry, fresh_tally) -> None:
    @luna.track_tool_call("phi_consciousness_calculate")
    def tool(fail: bool) -> None:
        if fail:
            raise ValueError("bad quality")

    for fail in [False] * 8 + [True] * 5:
        with pytest.raises(ValueError) if fail else _nothing():
            tool(fail)
    luna.update_fractal_memory_metrics({"roots": 1, "branches": 2, "leaves": 3, "seeds": 5})
    got = {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines("luna_phi_")}
    assert math.isclose(got["luna_phi_ratio_tool_success"], 8 / 13)
    assert math.isclose(got["luna_phi_harmony_index"], 1 - abs(luna.PHI_TARGET - 8 / 5) / luna.PHI_TARGET)
    assert math.isclose(got["luna_phi_ratio_memory_depth"], (2 + 1.5 + 5 / 3) / 3)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


# ======================================================================================== scrape-time collection


class _StubCore:
    """Sources whose values the test changes between scrapes."""

    def __init__(self) -> None:
        self.phi = 1.071
        self.redis_up = True
        self.fail_memory = False

    def get_current_state(self) -> dict[str, Any]:
        return {"level": "dormant", "phi_value": self.phi, "convergence_ratio": 0.66}

    def get_state(self) -> dict[str, Any]:
        return {"level_numeric": 1, "auto_awareness": 0.52, "introspection": 0.41}

    def get_statistics(self) -> dict[str, Any]:
        if self.fail_memory:
            raise ConnectionError("redis://:hunter2@redis:6379 refused")
        return {"roots": 1, "branches": 3, "leaves": 0, "seeds": 5, "phi_resonance": 0.662}

    @property
    def redis_client(self) -> _StubCore:
        return self

    def ping(self) -> bool:
        if not self.redis_up:
            raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")
        return True


@pytest.fixture
def served(fresh_tally) -> Iterator[tuple[str, _StubCore]]:
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    core = _StubCore()
    luna.attach_sources(luna.LunaSources(phi_calculator=core, fractal_consciousness=core, memory_core=core))
    yield telemetry.metrics_url, core
    luna.detach_sources()
    lukhas_obs.shutdown()


def _values(url: str) -> dict[str, float]:
    fams = scrape(url).families()
    return {s.name: s.value for f in fams.values() for s in f.samples if s.name.startswith("luna_") and not s.labels}


def test_collect_all_metrics_runs_at_every_scrape(served) -> None:
    url, core = served
    first = _values(url)
    assert first["luna_phi_distance_to_optimal"] == pytest.approx(1.618 - 1.071)
    assert first["luna_auto_awareness_score"] == 0.52 and first["luna_fractal_memory_total_nodes"] == 9
    assert first["luna_redis_connection_status"] == 1
    core.phi = 1.5
    core.redis_up = False  # redis-py raises on ping when the server is gone: disconnected, not a broken scrape
    second = _values(url)
    assert second["luna_phi_distance_to_optimal"] == pytest.approx(0.118)
    assert second["luna_phi_convergence_ratio"] == 0.66
    assert second["luna_redis_connection_status"] == 0
    core.phi = 1.7  # past φ: the HELP's absolute value (the seed's 1.618 - φ would be negative)
    assert _values(url)["luna_phi_distance_to_optimal"] == pytest.approx(0.082)


def test_a_failing_source_is_isolated_counted_and_its_text_never_logged(served, caplog) -> None:
    url, core = served
    core.fail_memory = True
    core.phi = 1.4
    result = scrape(url)
    assert result.status == 200
    values = _values(url)
    assert values["luna_phi_distance_to_optimal"] == pytest.approx(0.218)  # the other sources still ran
    assert values["luna_redis_connection_status"] == 1
    failures = [
        s
        for s in result.samples("lukhas_obs_dropped_measurements_total")
        if s.labels["metric"] == "luna.collect_all_metrics" and s.labels["reason"] == "callback_error"
    ]
    assert failures and failures[0].value >= 1
    assert "hunter2" not in caplog.text and "hunter2" not in result.body


# ===================================================================================================== the example


@pytest.fixture
def flask_app(fresh_tally) -> Iterator[Any]:
    pytest.importorskip("flask", reason="Flask is the `luna` extra")
    from lukhas_obs_examples.luna.app import create_app

    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    yield create_app()
    luna.detach_sources()
    lukhas_obs.shutdown()


def test_the_flask_app_serves_metrics_and_the_seeds_health_body(flask_app) -> None:
    from lukhas_obs_examples.luna import LunaWorkload

    workload = LunaWorkload(seed=1)
    for iteration in range(12):
        workload.step(iteration)
    client = flask_app.test_client()
    health = client.get("/health")
    assert health.status_code == 200 and health.get_json() == {"status": "healthy", "service": "Luna Consciousness MCP"}
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = families_of(response.get_data(as_text=True))
    for spec in CATALOG.metrics:
        family = fams[spec.name.removesuffix("_total")]
        assert family["samples"], f"{spec.name} has no series after 12 steps"
    assert client.get("/metrics", headers={"Accept": "application/openmetrics-text"}).headers[
        "Content-Type"
    ].startswith("application/openmetrics-text")


def test_the_example_core_fails_tools_and_redis_as_documented(flask_app) -> None:
    from lukhas_obs_examples.luna import LunaWorkload

    workload = LunaWorkload(seed=0)
    for iteration in range(50):
        workload.step(iteration)
    assert workload.counts["tool_errors"] == 7 + 4  # iterations 6, 13, ..., 48 and 10, 21, 32, 43
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines()}
    assert values["luna_redis_connection_status"] == 0  # steps 45-49: Redis is down
    errors = sum(v for k, v in values.items() if k.startswith("luna_mcp_tool_calls_total") and 'status="error"' in k)
    assert errors == 11


# ============================================================================================= side by side


def test_side_by_side_with_the_seeds_own_prometheus_client_module() -> None:
    seed = run_side(SIDE_BY_SIDE, "seed", 30, 10)
    port = run_side(SIDE_BY_SIDE, "port", 30, 10)
    seed_families = families_of(seed)
    assert len(seed_families) == 44 and "luna_system_info" in seed_families
    assert compare_expositions(seed, port, DOCUMENTED_DIFFERENCES) == []
    # not vacuous: the workload moved every compared family, and the comparison sees a changed value
    for name, family in seed_families.items():
        if name not in DOCUMENTED_DIFFERENCES and family["type"] in ("counter", "histogram"):
            assert any(v > 0 for v in family["samples"].values()), name
    tampered = port.replace('luna_memory_stores_total{layer="seed"}', 'luna_memory_stores_total{layer="leaf"}', 1)
    assert compare_expositions(seed, tampered, DOCUMENTED_DIFFERENCES)
    assert compare_expositions(seed, port.replace('le="0.005"', 'le="0.006"'), DOCUMENTED_DIFFERENCES)
    assert "_created" in seed and "_created" not in port  # ignored: lukhas-obs writes no _created series


def test_every_documented_difference_is_in_the_migration_guide() -> None:
    section = migration_section()
    for family, why in DOCUMENTED_DIFFERENCES.items():
        assert f"`{family}`" in section, (family, why)


def migration_section() -> str:
    text = MIGRATION.read_text(encoding="utf-8")
    match = re.search(r"<!-- luna-pforge: begin -->(.*)<!-- luna-pforge: end -->", text, re.S)
    assert match, "docs/MIGRATION.md has no delimited 'Luna and pForge' section"
    return match.group(1)


def test_the_seed_module_with_only_its_import_line_changed_serves_every_name(tmp_path: Path) -> None:
    pytest.importorskip("lukhas_obs.prometheus_compat", reason="lukhas_obs.prometheus_compat has not landed yet")
    source = SEED_MODULE.read_text(encoding="utf-8").replace(
        "from prometheus_client import Gauge, Counter, Histogram, Info",
        "from lukhas_obs.prometheus_compat import Gauge, Counter, Histogram, Info",
    )
    module = tmp_path / "consciousness_metrics.py"
    module.write_text(source, encoding="utf-8")
    code = (
        "import sys, lukhas_obs; from lukhas_obs.systems.luna import SYSTEM; SYSTEM.register(); "
        "import consciousness_metrics as m; lukhas_obs.configure(serve_metrics=False, traces_exporter='none'); "
        "m.update_phi_metrics({'state': 'dormant', 'current_value': 1.071}); "
        "m.update_system_metrics({'redis_connected': True, 'redis_keys': {'phi:*': 3}}); "
        "m.track_tool_call('t')(lambda: 1)(); "
        "m.track_insight_generation(lambda: {'type': 'semantic'})(); "
        "m.track_memory_operation('store')(lambda **kw: True)(layer='seed'); "
        "m.track_memory_operation('retrieve')(lambda **kw: None)(layer='leaf'); "
        "m.semantic_validations_total.labels(result='coherent').inc(); "
        "m.pattern_recognitions_total.labels(pattern_type='spiral').inc(); "
        "sys.stdout.write(lukhas_obs.render_exposition()[0].decode())"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    fams = families_of(done.stdout)  # the shipped catalog accepted every definition (kind, labels, buckets)
    for spec in CATALOG.metrics:
        assert fams[spec.name.removesuffix("_total")]["samples"], spec.name
    assert 'luna_phi_current_value{state="dormant"} 1.071' in done.stdout


# ================================================================================================ rules and promtool


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lukhas-obs generate all --system luna --out DIR`` (the CLI's body, the system registered in-process)."""
    from lukhas_obs.generate import run

    out = tmp_path_factory.mktemp("luna-generated")
    assert run(["all"], str(out), systems=["luna"], stream=open(os.devnull, "w")) == 0  # noqa: SIM115
    return out


def test_generate_all_for_the_system_writes_rules_tests_dashboards_and_docs(generated: Path) -> None:
    files = sorted(p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file())
    assert files == [
        "collector/grafana/dashboards/luna-coevolution-health.json",
        "collector/grafana/dashboards/luna-fractal-memory.json",
        "collector/grafana/dashboards/luna-phi-consciousness.json",
        "collector/prometheus/rules/luna_alerts.yml",
        "collector/prometheus/tests/luna_alerts_rules_test.yml",
        "docs/metrics.md",
    ]
    reference = (generated / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert all(m.name in reference for m in CATALOG.metrics)


@pytest.mark.e2e
def test_promtool_checks_and_tests_the_generated_rules(generated: Path) -> None:
    promtool = require_binary("promtool")
    rules = generated / "collector" / "prometheus" / "rules" / "luna_alerts.yml"
    checked = run_tool([promtool, "check", "rules", str(rules)])
    assert checked.returncode == 0 and "SUCCESS: 11 rules found" in checked.stdout, checked.stdout + checked.stderr
    tests = generated / "collector" / "prometheus" / "tests"
    tested = run_tool([promtool, "test", "rules", "luna_alerts_rules_test.yml"], cwd=tests)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((tests / "luna_alerts_rules_test.yml").read_text(encoding="utf-8"))["tests"]
    fired = {c["alertname"] for case in cases for c in case["alert_rule_test"] if c["exp_alerts"]}
    silent = {c["alertname"] for case in cases for c in case["alert_rule_test"] if not c["exp_alerts"]}
    assert len(fired) == len(silent) == 11


# ============================================================================================== a real Prometheus


@pytest.mark.e2e
def test_a_real_prometheus_scrapes_the_flask_example_and_evaluates_every_rule(
    flask_app, generated: Path, tmp_path: Path
) -> None:
    from lukhas_obs_examples.luna import LunaWorkload
    from werkzeug.serving import make_server

    binary = require_binary("prometheus")
    workload = LunaWorkload(seed=2)
    workload.step(0)
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    stop = threading.Event()

    def drive() -> None:
        iteration = 1
        while not stop.wait(0.1):
            workload.step(iteration)
            iteration += 1

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    # The seed's group evaluates every 10 s; 1 s here, so every rule is evaluated within the test's bounds.
    rules = tmp_path / "luna_alerts.yml"
    rules.write_text(
        (generated / "collector/prometheus/rules/luna_alerts.yml").read_text(encoding="utf-8").replace(
            "interval: 10s", "interval: 1s"
        ),
        encoding="utf-8",
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{
                "job_name": "luna-consciousness",
                "static_configs": [{"targets": [f"127.0.0.1:{server.server_port}"],
                                    "labels": {"service": "luna-consciousness", "component": "mcp-server"}}],
            }],
        }),
        encoding="utf-8",
    )  # fmt: skip
    port = free_port()
    log = tmp_path / "prometheus.log"
    proc = start_process(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        log,
    )  # fmt: skip
    try:
        api = PrometheusApi(f"http://127.0.0.1:{port}")
        wait_for(f"prometheus ready ({tail(log, 500)})", api.ready, timeout=30)
        wait_for("a successful scrape", lambda: any(t["health"] == "up" for t in api.targets()), timeout=20)

        def all_evaluated() -> list[dict[str, Any]] | None:
            groups = api.rule_groups()
            evaluated = [r for g in groups for r in g["rules"] if r.get("lastEvaluation", "").startswith("20")]
            return groups if len(evaluated) == 11 and api.query("luna_phi_harmony_index") else None

        groups = wait_for("every rule evaluated", all_evaluated, timeout=30)
        (group,) = groups
        assert group["name"] == "luna_consciousness_alerts"
        assert [(r["name"], r["health"], r.get("lastError", "")) for r in group["rules"] if r["health"] != "ok"] == []
        # The scrape config's `service` target label stays `service`: the series carry no label of that name.
        assert api.query('luna_phi_current_value{service="luna-consciousness"}')
        assert not api.query('{__name__=~"luna_.*", exported_service!=""}')

        url = f"http://127.0.0.1:{port}"
        result = asyncio.run(luna.introspection_query_metrics("luna_fractal_memory_total_nodes", prometheus_url=url))
        (sample,) = result["samples"]
        assert result["result_type"] == "vector" and sample["labels"]["job"] == "luna-consciousness"
        stats = workload.core.memory_core.get_statistics()
        assert 1 <= sample["value"] <= stats["roots"] + stats["branches"] + stats["leaves"] + stats["seeds"]
        calls = luna.query_metrics('sum(luna_mcp_tool_calls_total{tool_name="introspection_query_metrics"})',
                                   prometheus_url=url)  # fmt: skip
        assert calls["result_type"] == "vector"
        info = luna.query_metrics("luna_system_info", prometheus_url=url)["samples"]
        assert info and info[0]["labels"]["signature_fractale"] == "R10-F11-V6-d7-l2"
        from lukhas_obs.slotools.promapi import PrometheusError

        with pytest.raises(PrometheusError):
            asyncio.run(luna.introspection_query_metrics("sum(", prometheus_url=url))
        assert 'luna_mcp_tool_calls_total{status="error",tool_name="introspection_query_metrics"} 1.0' in lines()
    finally:
        stop_process(proc)
        stop.set()
        driver.join(5)
        server.shutdown()
        serving.join(5)


# ============================================================================================ lukhas-obs demo


def _demo(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    argv = cli_argv("luna", "lukhas_obs.systems.luna", "demo", "--system", "luna", *args)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.e2e
def test_demo_runs_n_iterations_and_exits_zero(tmp_path: Path) -> None:
    proc = _demo("--iterations", "12", "--port", "0", "--traces-file", str(tmp_path / "t.jsonl"))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "system=luna" in out and "done: 12 iterations" in out and "telemetry flushed=True" in out


@pytest.mark.e2e
def test_demo_serves_every_seed_name_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = _demo("--iterations", "3000", "--port", "0", "--traces-file", str(tmp_path / "t.jsonl"))
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if "metrics: http" in line:
                url = line.split("metrics:", 1)[1].strip()
        assert url, "the demo never printed its /metrics URL"
        wanted = {m.name.removesuffix("_total") for m in CATALOG.metrics}

        def every_name() -> dict[str, Any] | None:
            fams = families_of(scrape(url).body)
            return fams if all(fams.get(n, {}).get("samples") for n in wanted) else None

        fams = wait_for("every Luna name with series on the demo's /metrics", every_name, timeout=30)
        assert fams["luna_system_info"]["type"] == "gauge"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "telemetry flushed=True" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
