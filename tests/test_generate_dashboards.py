"""The generated Grafana dashboard against seed 003's JSON: identity, variables, rows, panels, queries.

Expressions are compared with seed 003's text by the real Prometheus formatter in tests/test_prometheus_e2e.py;
here they are checked to reference only catalog series and to carry the variable filters.
"""

from __future__ import annotations

from typing import Any

import pytest

from lukhas_obs.catalog import builtin
from lukhas_obs.generate import dashboards, promql, rules

# Seed 003 "monitoring/grafana-dashboard-lukhas.json": (type, title, gridPos h/w/x/y, unit, legends, red threshold).
SEED_PANELS: list[tuple[str, str, tuple[int, int, int, int], str | None, list[str], float | None]] = [
    ("row", "Overview", (1, 24, 0, 0), None, [], None),
    ("stat", "SLO • Reflection p95 (<10ms)", (4, 6, 0, 1), "s", ["p95"], 0.01),
    ("stat", "SLO • Memory search p95 (<100ms)", (4, 6, 6, 1), "s", ["p95"], 0.1),
    ("stat", "SLO • Identity auth p95 (<250ms)", (4, 6, 12, 1), "s", ["p95"], 0.25),
    ("stat", "Guardian anomalies (5m rate)", (4, 6, 18, 1), "ops", ["anomalies/s"], None),
    ("row", "Memory", (1, 24, 0, 5), None, [], None),
    ("timeseries", "Memory • Search latency (p50/p95/p99)", (7, 12, 0, 6), "s", ["p50", "p95", "p99"], None),
    ("timeseries", "Memory • Upsert latency (p50/p95)", (7, 12, 12, 6), "s", ["p50", "p95"], None),
    ("stat", "Memory • Docs indexed (total)", (4, 6, 0, 13), "ops", ["docs/h"], None),
    ("stat", "Memory • Dedupe drops (1h)", (4, 6, 6, 13), "ops", ["drops/h"], None),
    ("row", "Consciousness", (1, 24, 0, 17), None, [], None),
    ("timeseries", "Reflection • latency (p50/p95/p99)", (7, 12, 0, 18), "s", ["p50", "p95", "p99"], None),
    ("timeseries", "Dream • step latency & backpressure", (7, 12, 12, 18), "s", ["step p95", "backpressure avg"], None),
    ("row", "Identity", (1, 24, 0, 25), None, [], None),
    ("timeseries", "Identity • auth latency (p95 by tier)", (7, 12, 0, 26), "s", ["tier {{tier}}"], None),
    (
        "timeseries",
        "Identity • auth failures (rate by tier)",
        (7, 12, 12, 26),
        "ops",
        ["tier {{tier}} ({{reason}})"],
        None,
    ),
]


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    catalog = builtin("lukhas_core")
    return dashboards.dashboard_json(catalog, catalog.dashboards[0])


def test_dashboard_identity_matches_the_seed(board: dict[str, Any]) -> None:
    assert board["uid"] == "lukhas-t4-core"
    assert board["title"] == "LUKHΛS • Core (Memory • Consciousness • Identity) — T4/0.01%"
    assert board["schemaVersion"] == 39
    assert board["version"] == 1
    assert board["tags"] == ["lukhas", "t4", "observability"]
    assert (board["timezone"], board["editable"], board["refresh"]) == ("browser", True, "10s")
    assert board["time"] == {"from": "now-6h", "to": "now"}


def test_template_variables_match_the_seed(board: dict[str, Any]) -> None:
    ds, lane, service = board["templating"]["list"]
    assert (ds["type"], ds["name"], ds["label"], ds["query"]) == ("datasource", "DS_PROM", "Prometheus", "prometheus")
    for var, name, label, default in ((lane, "lane", "Lane", "candidate"), (service, "service", "Service", "lukhas")):
        assert (var["type"], var["name"], var["label"]) == ("query", name, label)
        assert var["query"] == f"label_values(lukhas_memory_search_seconds_bucket, {name})"
        assert var["datasource"] == {"type": "prometheus", "uid": "${DS_PROM}"}
        assert (var["current"]["text"], var["current"]["value"]) == (default, default)
        assert (var["refresh"], var["hide"], var["includeAll"], var["multi"]) == (2, 0, False, False)


def test_rows_and_panels_match_the_seed(board: dict[str, Any]) -> None:
    panels = board["panels"]
    assert [(p["type"], p["title"]) for p in panels] == [(t, title) for t, title, *_ in SEED_PANELS]
    for panel, (kind, title, (h, w, x, y), unit, legends, red) in zip(panels, SEED_PANELS, strict=True):
        assert panel["gridPos"] == {"h": h, "w": w, "x": x, "y": y}, title
        if kind == "row":
            assert panel["collapsed"] is False and panel["panels"] == []
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROM}"}, title
        assert panel["fieldConfig"]["defaults"].get("unit") == unit, title
        assert [t["legendFormat"] for t in panel["targets"]] == legends, title
        assert [t["refId"] for t in panel["targets"]] == list("ABC"[: len(legends)]), title
        steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps")
        if red is None:
            assert steps is None, title
        else:
            assert steps == [{"color": "green", "value": None}, {"color": "red", "value": red}], title
        if kind == "stat":
            assert panel["options"]["reduceOptions"]["calcs"] == ["lastNotNull"], title
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))


def test_every_expression_references_only_catalog_series_and_is_filtered(board: dict[str, Any]) -> None:
    catalog = builtin("lukhas_core")
    samples = set(catalog.sample_owners())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) == 18
    for expr in exprs:
        assert promql.metric_references(expr) <= samples, expr
        assert '{lane="$lane",service="$service"}' in expr, expr


def test_query_shapes_render_as_in_the_seed(board: dict[str, Any]) -> None:
    by_title = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in board["panels"]}
    f = '{lane="$lane",service="$service"}'
    assert by_title["Memory • Docs indexed (total)"] == [f"sum(increase(lukhas_memory_docs_total{f}[1h]))"]
    assert by_title["Guardian anomalies (5m rate)"] == [f"rate(lukhas_reflection_anomalies_total{f}[5m])"]
    assert by_title["Dream • step latency & backpressure"][1] == f"avg_over_time(lukhas_dream_backpressure{f}[5m])"
    assert by_title["Identity • auth failures (rate by tier)"] == [
        f"sum by (tier, reason) (rate(lukhas_auth_failures_total{f}[5m]))"
    ]
    assert by_title["Identity • auth latency (p95 by tier)"] == [
        f"histogram_quantile(0.95, sum by (le, tier) (rate(lukhas_auth_latency_seconds_bucket{f}[5m])))"
    ]


def test_a_panel_query_on_an_unknown_series_is_refused() -> None:
    """Defence in depth behind catalog validation: rendered PromQL is re-checked before any JSON is built."""
    catalog = builtin("lukhas_core")
    known = rules.known_names(catalog, rules.rule_documents(catalog))
    with pytest.raises(promql.UnknownMetricError):
        promql.check_references("rate(lukhas_memory_search_total[5m])", known, "panel")


def test_dashboard_json_is_deterministic() -> None:
    catalog = builtin("lukhas_core")
    first = dashboards.dashboard_files(catalog)
    assert first == dashboards.dashboard_files(catalog)
    assert first[0].path == "collector/grafana/dashboards/lukhas-t4-core.json"
