"""The ``slos:`` and ``dashboards:`` catalog sections: typed parsing and load-time validation."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from lukhas_obs.catalog import builtin, load_catalog
from lukhas_obs.catalog.dashboard import DashboardSpec, GridPos, QuerySpec
from lukhas_obs.catalog.slo import AlertSpec, LatencySLO, RateAlertSpec, duration_seconds, is_duration, le_label
from lukhas_obs.errors import CatalogError
from lukhas_obs.systems import system


def _core_doc() -> dict[str, Any]:
    text = system("lukhas_core").catalogs[0].read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    doc["catalog"] = "lukhas_core_copy"  # load_catalog does not register, but keep it distinct anyway
    return doc


def _problems(mutate: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(_core_doc())
    mutate(doc)
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(doc)
    return "\n".join(excinfo.value.problems)


def _latency(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for g in doc["slos"]["groups"] for s in g.get("latency", ()) if s["name"] == name)


def _panel(doc: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for r in doc["dashboards"][0]["rows"] for p in r["panels"] if p["title"] == title)


def test_shipped_catalog_parses_slos_into_typed_specs() -> None:
    slos = builtin("lukhas_core").slos
    assert slos is not None and slos.job == "lukhas"
    assert [g.name for g in slos.groups] == ["memory-slos", "reflection-slos", "identity-slos"]
    memory = slos.latency[0]
    assert memory == LatencySLO(
        name="memory_search",
        metric="lukhas_memory_search_seconds",
        threshold=0.1,
        objective=0.95,
        window="30d",
        quantile=0.95,
        record="job:lukhas_memory_search_p95:rate5m",
        range="5m",
        by=(),
        alert=AlertSpec("MemorySearchLatencyHigh", "10m", "page", "Memory search p95 > 100ms for 10m"),
        description=memory.description,
    )
    anomalies = slos.rates[0]
    assert isinstance(anomalies, RateAlertSpec) and anomalies.by is None  # no aggregation, as in the seed
    assert slos.rates[1].by == ("tier",)
    assert [(b.name, b.factor, b.long_window, b.short_window) for b in slos.burn_rates] == [
        ("fast", 14.4, "1h", "5m"),
        ("slow", 6.0, "6h", "30m"),
    ]
    assert slos.burn_windows() == ("5m", "30m", "1h", "6h")


def test_shipped_catalog_parses_the_seed_dashboard() -> None:
    (dash,) = builtin("lukhas_core").dashboards
    assert isinstance(dash, DashboardSpec)
    assert dash.uid == "lukhas-t4-core" and [v.name for v in dash.variables] == ["lane", "service"]
    assert [r.title for r in dash.rows] == ["Overview", "Memory", "Consciousness", "Identity"]
    first = dash.rows[0].panels[0]
    assert first.grid == GridPos(h=4, w=6, x=0, y=1)
    assert first.queries == (
        QuerySpec(shape="quantile", legend="p95", metric="lukhas_reflection_latency_seconds", quantile=0.95),
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["slos"].update(typo=1), "slos: unknown key 'typo'"),
        (lambda d: _latency(d, "memory_search").update(treshold=0.1), "unknown key 'treshold'"),
        (lambda d: _latency(d, "memory_search")["alert"].update(fore="5m"), "unknown key 'fore'"),
        (lambda d: d["slos"]["burn_rates"][0].update(windw="1h"), "unknown key 'windw'"),
        (lambda d: d["dashboards"][0].update(colour="red"), "unknown key 'colour'"),
        (lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"][0].update(promql="up"), "unknown key 'promql'"),
    ],
)
def test_unknown_keys_are_errors(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in _problems(mutate)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: _latency(d, "memory_search").update(metric="lukhas_memory_find_seconds"),
            "metric 'lukhas_memory_find_seconds' is not in the catalog",
        ),
        (
            lambda d: _latency(d, "memory_search").update(metric="lukhas_memory_docs_total"),
            "is a counter; latency objectives need a histogram",
        ),
        (
            lambda d: d["slos"]["groups"][1]["rates"][0].update(metric="lukhas_reflection_latency_seconds"),
            "is a histogram; rate alerts need a counter",
        ),
        (lambda d: _latency(d, "memory_search").update(threshold=0.2), "threshold 0.2 is not a bucket boundary"),
        (lambda d: _latency(d, "memory_search").update(threshold=1.0), "renders as le='1.0' from Python"),
        (lambda d: _latency(d, "memory_search").update(window="30 days"), "window '30 days' is not a Prometheus"),
        (lambda d: _latency(d, "memory_search")["alert"].update({"for": "10"}), "for '10' is not a Prometheus"),
        (lambda d: d["slos"]["burn_rates"][0].update(short_window="2h"), "short_window must be shorter"),
        (lambda d: _latency(d, "memory_search").update(objective=1.5), "objective must be a fraction"),
        (lambda d: _latency(d, "memory_search").update(quantile=95), "quantile must be strictly between 0 and 1"),
        (lambda d: _latency(d, "memory_search").update(objective=0.9), "burn rate 'fast' (14.4x) can never fire"),
        (lambda d: _latency(d, "memory_search").update(by=["tier"]), "by label 'tier' is not a label of the metric"),
        (lambda d: _latency(d, "memory_search")["alert"].update(severity="critical"), "severity 'critical'"),
        (
            lambda d: _latency(d, "reflection")["alert"].update(name="MemorySearchLatencyHigh"),
            "alert name 'MemorySearchLatencyHigh' is already used",
        ),
        (lambda d: _latency(d, "reflection").update(record="job:lukhas_memory_search_p95:rate5m"), "record 'job:"),
        (lambda d: d["slos"]["groups"][1].update(file="memory"), "file 'memory' is already used"),
        (lambda d: _latency(d, "memory_search").update(threshold="0.1"), "threshold must be a number"),
        (lambda d: d["slos"].update(burn_rates=[]), "latency objectives need burn_rates"),
    ],
)
def test_slo_problems_are_reported_at_load(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in _problems(mutate)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"][0].update(metric="lukhas_guardian_total"),
            "metric 'lukhas_guardian_total' is not in the catalog",
        ),
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"][0].update(shape="quantile", quantile=0.9),
            "shape 'quantile' does not apply to lukhas_reflection_anomalies_total (a counter)",
        ),
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"][0].update(shape="p95"),
            "query shape 'p95' is not one of",
        ),
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"][0].update(by=["reason"]),
            "has no label 'reason' to group by",
        ),
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["grid"].update(x=12),
            "overlaps panel 'SLO • Identity auth p95 (<250ms)'",
        ),
        (lambda d: _panel(d, "Guardian anomalies (5m rate)")["grid"].update(w=8), "exceeds the 24-column grid"),
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"].append(
                {"shape": "record", "record": "job:nothing:rate5m", "legend": "x"}
            ),
            "record 'job:nothing:rate5m' is not a recording rule",
        ),
        (
            lambda d: d["dashboards"][0]["variables"].append(
                {"name": "tier", "label": "Tier", "metric": "lukhas_auth_latency_seconds", "default": "T1"}
            ),
            "has no label 'tier', so the $tier filter would match nothing",
        ),
        (
            lambda d: d["dashboards"][0]["variables"][0].update(metric="lukhas_nothing_seconds"),
            "metric 'lukhas_nothing_seconds' is not in catalog",
        ),
        (
            lambda d: _panel(d, "Guardian anomalies (5m rate)")["queries"][0].update(expr="up"),
            "expr is only for shape 'expr'",
        ),
        (
            lambda d: _panel(d, "SLO • Memory search p95 (<100ms)").update(
                thresholds=[{"color": "green"}, {"color": "red", "value": 0.2}, {"color": "orange", "value": 0.1}]
            ),
            "threshold values must be numbers in increasing order",
        ),
        (lambda d: d["dashboards"][0].update(uid="has spaces"), "uid must be 1-40 letters"),
    ],
)
def test_dashboard_problems_are_reported_at_load(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in _problems(mutate)


def test_every_problem_is_listed_not_just_the_first() -> None:
    def mutate(d: dict[str, Any]) -> None:
        _latency(d, "memory_search").update(threshold=0.2)
        _latency(d, "reflection").update(window="month")

    problems = _problems(mutate)
    assert "threshold 0.2" in problems and "window 'month'" in problems


def test_catalog_without_slos_or_dashboards_still_loads() -> None:
    doc = _core_doc()
    del doc["slos"], doc["dashboards"]
    catalog = load_catalog(doc)
    assert catalog.slos is None and catalog.dashboards == ()


def test_dashboards_may_not_reference_records_when_there_are_no_slos() -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["slos"]
        _panel(d, "Guardian anomalies (5m rate)")["queries"] = [
            {"shape": "record", "record": "job:lukhas_memory_search_p95:rate5m", "legend": "p95"}
        ]

    assert "is not a recording rule of the catalog's slos" in _problems(mutate)


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("30d", 2592000), ("1w", 604800), ("250ms", 0.25)]
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert is_duration(text)
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1.5h", "0h", "5min"])
def test_illegal_durations(text: str) -> None:
    assert not is_duration(text)
    with pytest.raises(ValueError):
        duration_seconds(text)


@pytest.mark.parametrize(("boundary", "label"), [(0.1, "0.1"), (1.0, "1.0"), (0.0005, "0.0005"), (2.5, "2.5")])
def test_le_label_matches_prometheus_client_rendering(boundary: float, label: str) -> None:
    assert le_label(boundary) == label
