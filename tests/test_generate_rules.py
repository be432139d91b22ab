"""Generated Prometheus rules: seed 003 fidelity, burn-rate math, target alerts, and the PromQL reference check."""

from __future__ import annotations

from typing import Any

import pytest

from lukhas_obs.catalog import builtin
from lukhas_obs.generate import promql, rules


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    return rules.rule_documents(builtin("lukhas_core"))


def _group(docs: dict[str, dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return next(g["rules"] for d in docs.values() for g in d["groups"] if g["name"] == name)


def _rule(docs: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return next(
        r for d in docs.values() for g in d["groups"] for r in g["rules"] if name in (r.get("record"), r.get("alert"))
    )


def test_files_and_groups_follow_the_seed(docs: dict[str, dict[str, Any]]) -> None:
    assert list(docs) == ["memory", "reflection", "identity", "target"]
    assert [g["name"] for g in docs["memory"]["groups"]] == ["memory-slos", "memory-slos-burn-rates"]
    assert [g["name"] for g in docs["reflection"]["groups"]] == ["reflection-slos", "reflection-slos-burn-rates"]
    assert [g["name"] for g in docs["identity"]["groups"]] == ["identity-slos", "identity-slos-burn-rates"]


def test_seed_groups_hold_exactly_the_seed_rules(docs: dict[str, dict[str, Any]]) -> None:
    """Seed 003 section 5: names, order, `for`, severities, thresholds and summaries."""
    expected = {
        "memory-slos": [
            {
                "record": "job:lukhas_memory_search_p95:rate5m",
                "expr": "histogram_quantile(0.95, sum by (le) (rate(lukhas_memory_search_seconds_bucket[5m])))",
            },
            {
                "alert": "MemorySearchLatencyHigh",
                "expr": "job:lukhas_memory_search_p95:rate5m > 0.1",
                "for": "10m",
                "labels": {"severity": "page"},
                "annotations": {"summary": "Memory search p95 > 100ms for 10m"},
            },
        ],
        "reflection-slos": [
            {
                "record": "job:lukhas_reflection_p95:rate5m",
                "expr": "histogram_quantile(0.95, sum by (le) (rate(lukhas_reflection_latency_seconds_bucket[5m])))",
            },
            {
                "alert": "ReflectionLatencyHigh",
                "expr": "job:lukhas_reflection_p95:rate5m > 0.01",
                "for": "5m",
                "labels": {"severity": "page"},
                "annotations": {"summary": "Reflection p95 > 10ms"},
            },
            {
                "alert": "ReflectionAnomalyBurst",
                "expr": "rate(lukhas_reflection_anomalies_total[5m]) > 0.1",
                "for": "5m",
                "labels": {"severity": "warn"},
                "annotations": {"summary": "Reflection anomalies elevated"},
            },
        ],
        "identity-slos": [
            {
                "record": "job:lukhas_auth_p95:rate5m",
                "expr": "histogram_quantile(0.95, sum by (le, tier) (rate(lukhas_auth_latency_seconds_bucket[5m])))",
            },
            {
                "alert": "IdentityAuthFailures",
                "expr": "sum by (tier) (rate(lukhas_auth_failures_total[5m])) > 0.2",
                "for": "10m",
                "labels": {"severity": "warn"},
                "annotations": {"summary": "Auth failures elevated"},
            },
        ],
    }
    for group, rules_ in expected.items():
        assert _group(docs, group) == rules_, group


def test_burn_rate_records_read_the_threshold_bucket(docs: dict[str, dict[str, Any]]) -> None:
    records = [r for r in _group(docs, "memory-slos-burn-rates") if "record" in r]
    assert [r["record"] for r in records] == [
        f"job_lane_service:memory_search_slow:ratio_rate{w}" for w in ("5m", "30m", "1h", "6h")
    ]
    assert records[2]["expr"] == (
        '1 - sum by (job, lane, service) (rate(lukhas_memory_search_seconds_bucket{le="0.1"}[1h]))'
        " / sum by (job, lane, service) (rate(lukhas_memory_search_seconds_count[1h]))"
    )
    reflection = _rule(docs, "job_lane_service:reflection_slow:ratio_rate5m")
    assert 'lukhas_reflection_latency_seconds_bucket{le="0.01"}' in reflection["expr"]


def test_multiwindow_burn_rate_alerts(docs: dict[str, dict[str, Any]]) -> None:
    fast = _rule(docs, "MemorySearchLatencyBudgetBurnFast")
    slow = _rule(docs, "MemorySearchLatencyBudgetBurnSlow")
    # objective 95 % -> budget 5 %; 14.4x -> 72 % slow, 6x -> 30 % slow
    assert fast["expr"] == (
        "job_lane_service:memory_search_slow:ratio_rate1h > 0.72"
        " and job_lane_service:memory_search_slow:ratio_rate5m > 0.72"
    )
    assert slow["expr"] == (
        "job_lane_service:memory_search_slow:ratio_rate6h > 0.3"
        " and job_lane_service:memory_search_slow:ratio_rate30m > 0.3"
    )
    assert (fast["for"], fast["labels"]) == ("2m", {"severity": "page"})
    assert (slow["for"], slow["labels"]) == ("15m", {"severity": "ticket"})
    for name in ("ReflectionLatencyBudgetBurnFast", "IdentityAuthLatencyBudgetBurnFast"):
        assert _rule(docs, name)["labels"] == {"severity": "page"}


def test_target_alerts(docs: dict[str, dict[str, Any]]) -> None:
    absent, down = _group(docs, "lukhas-target")
    assert (absent["alert"], absent["expr"]) == ("LukhasTargetAbsent", 'absent(up{job="lukhas"})')
    assert (down["alert"], down["expr"]) == ("LukhasTargetDown", 'up{job="lukhas"} == 0')
    assert absent["labels"] == down["labels"] == {"severity": "page"}


def test_rule_files_carry_a_do_not_edit_banner() -> None:
    for item in rules.rule_files(builtin("lukhas_core")):
        assert item.content.startswith("# Generated by `lukhas-obs generate rules` from catalog lukhas_core.")


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m])))", {"a_bucket"}),
        ('sum(rate(b_total{lane="x",le="0.1"}[5m])) by (tier) > 0.2', {"b_total"}),
        ("job:rec:rate5m > 0.1 and other:rec:rate1h > 0.1", {"job:rec:rate5m", "other:rec:rate1h"}),
        ('absent(up{job="lukhas"})', {"up"}),
        ("a / on (job) group_left (tier) b", {"a", "b"}),
        ('{__name__="c_seconds_count"}', {"c_seconds_count"}),
        ("avg_over_time(g[5m] offset 1h)", {"g"}),
        ('count without (instance) (d{x="by (e)"})', {"d"}),
        ("1 - x / y", {"x", "y"}),
    ],
)
def test_metric_references(expr: str, names: set[str]) -> None:
    assert promql.metric_references(expr) == names


def test_check_references_rejects_names_outside_the_catalog() -> None:
    promql.check_references("rate(a_total[5m])", {"a_total"}, "here")
    with pytest.raises(promql.UnknownMetricError, match="references lukhas_typo_total"):
        promql.check_references("rate(lukhas_typo_total[5m])", {"a_total"}, "here")


@pytest.mark.parametrize(
    ("value", "text"), [(0.1, "0.1"), (14.4, "14.4"), (6.0, "6"), (0.5, "0.5"), (0.72, "0.72"), (1e-05, "0.00001")]
)
def test_numbers_are_rendered_shortest(value: float, text: str) -> None:
    assert promql.number(value) == text
