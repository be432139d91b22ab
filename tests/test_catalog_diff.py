"""lukhas-obs catalog diff: what a catalog change breaks, with the core catalog and changed copies of it."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from lukhas_obs import catalogdiff
from lukhas_obs.migrate.importer import register_cli
from lukhas_obs.systems import catalog_paths

CORE = next(p for p in catalog_paths(["lukhas_core"]) if p.name == "catalog.yaml")
RENAMED = "lukhas_memory_lookup_seconds"

#: The rename of lukhas_memory_search_seconds breaks exactly these artefacts of the generated core catalog.
MEMORY_SEARCH_ALERTS = [
    "MemorySearchLatencyHigh",
    "MemorySearchLatencyBudgetBurnFast",
    "MemorySearchLatencyBudgetBurnSlow",
]
MEMORY_SEARCH_RECORDS = [
    "job:lukhas_memory_search_p95:rate5m",
    "job_lane_service:memory_search_slow:ratio_rate5m",
    "job_lane_service:memory_search_slow:ratio_rate30m",
    "job_lane_service:memory_search_slow:ratio_rate1h",
    "job_lane_service:memory_search_slow:ratio_rate6h",
]
MEMORY_SEARCH_PANELS = ["'SLO • Memory search p95 (<100ms)'", "'Memory • Search latency (p50/p95/p99)'"]


def core_text() -> str:
    return CORE.read_text(encoding="utf-8")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def renamed_everywhere() -> str:
    """The metric renamed in the metrics and in every SLO and panel that reads it (a valid NEW catalog)."""
    text = core_text().replace("lukhas_memory_search_seconds", RENAMED)
    return text.replace("otel_name: lukhas.memory.search\n", "otel_name: lukhas.memory.lookup\n")


def run(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["catalog", "diff", *argv])
    out = io.StringIO()
    return args.handler(args, out), out.getvalue()


def test_identical_catalogs_break_nothing(tmp_path: Path) -> None:
    code, out = run(str(CORE), str(write(tmp_path, "same.yaml", core_text())))
    assert code == 0 and "OK: 0 breaking change(s), 0 artefact(s)" in out


def test_a_rename_names_the_alerts_recording_rules_and_panels_it_breaks(tmp_path: Path) -> None:
    """Done-when: the diff names the alerts and panels a rename breaks (and nothing else)."""
    new = write(tmp_path, "renamed.yaml", renamed_everywhere())
    code, out = run(str(CORE), str(new))
    assert code == 1
    assert f"breaking  metric_renamed           lukhas_memory_search_seconds → {RENAMED}: renamed" in out
    old, _ = catalogdiff.load_side(str(CORE), "OLD")
    catalog, problems = catalogdiff.load_side(str(new), "NEW")
    assert problems == []
    result = catalogdiff.diff_catalogs(old, catalog)
    assert sorted(result.names("alert")) == sorted(MEMORY_SEARCH_ALERTS)
    assert sorted(result.names("recording rule")) == sorted(MEMORY_SEARCH_RECORDS)
    assert result.names("dashboard panel") == MEMORY_SEARCH_PANELS
    assert [n.split()[0] for n in result.names("dashboard variable")] == ["$lane", "$service"]
    high = next(a for a in result.affected if a.name == "MemorySearchLatencyHigh")
    assert high.via == ("job:lukhas_memory_search_p95:rate5m",)  # the alert reads a record that reads the metric
    assert high.missing == ("lukhas_memory_search_seconds_bucket",)
    assert result.renames["lukhas_memory_search_seconds_bucket"] == f"{RENAMED}_bucket"
    assert f"reads lukhas_memory_search_seconds_bucket (now {RENAMED}_bucket)" in out
    unaffected = {"ReflectionLatencyHigh", "IdentityAuthFailures", "LukhasTargetDown", "'Memory • Upsert latency'"}
    assert not unaffected & {a.name for a in result.affected}


def test_a_new_catalog_whose_panels_still_name_the_old_metric_is_named_too(tmp_path: Path) -> None:
    """The NEW side: the rename made only in the metrics list; NEW's own SLOs and panels still read the old name."""
    text = core_text().replace(
        "  - name: lukhas_memory_search_seconds\n    otel_name: lukhas.memory.search\n",
        f"  - name: {RENAMED}\n    otel_name: lukhas.memory.lookup\n",
    )
    assert RENAMED in text
    code, out = run(str(CORE), str(write(tmp_path, "half.yaml", text)), "--json")
    report = json.loads(out)
    assert code == 1 and report["breaks"] is True
    invalid = [c["message"] for c in report["changes"] if c["kind"] == "new_sections_invalid"]
    assert any("panel 'SLO • Memory search p95 (<100ms)'" in m and "lukhas_memory_search_seconds" in m for m in invalid)
    assert any("variable 'lane'" in m for m in invalid)
    assert {a["name"] for a in report["affected"] if a["artefact"] == "alert"} == set(MEMORY_SEARCH_ALERTS)


def test_removed_labels_values_buckets_kind_and_spans_are_changes(tmp_path: Path) -> None:
    """A valid NEW catalog (its own panel updated) still breaks the OLD panel grouped by the removed label."""
    edits = [
        ("    description: Auth failures by tier\n    attributes: [tier, reason]",
         "    description: Auth failures by tier\n    attributes: [tier]"),
        ("                by: [tier, reason]\n                legend: \"tier {{tier}} ({{reason}})\"",
         "                by: [tier]\n                legend: \"tier {{tier}}\""),
        ("std: [0.005, 0.01, 0.025, 0.05,", "std: [0.005, 0.01, 0.05,"),
        ("values: [T1, T2, T3, T4, T5]", "values: [T1, T2, T3, T4]"),
        ("otel_name: lukhas.dream.backpressure\n    kind: gauge",
         "otel_name: lukhas.dream.backpressure\n    kind: updown_counter"),
        ("  - name: memory.query\n", "  - name: memory.find\n"),
        ("attributes: [phase, max_time_ms]", "attributes: [phase]"),
    ]  # fmt: skip
    text = core_text()
    for before, after in edits:
        assert before in text, before
        text = text.replace(before, after)
    new = write(tmp_path, "changed.yaml", text)
    old, _ = catalogdiff.load_side(str(CORE), "OLD")
    catalog, problems = catalogdiff.load_side(str(new), "NEW")
    assert problems == [], problems
    result = catalogdiff.diff_catalogs(old, catalog)
    kinds = {(c.kind, c.subject) for c in result.changes}
    assert ("label_removed", "lukhas_auth_failures_total") in kinds
    assert ("kind_changed", "lukhas_dream_backpressure") in kinds
    assert ("label_values_removed", "lukhas_auth_latency_seconds") in kinds
    assert ("buckets_changed", "lukhas_memory_search_seconds") in kinds
    assert ("span_renamed", "memory.query → memory.find") in kinds
    assert ("span_attribute_removed", "consciousness.dream.step") in kinds
    assert [(a.artefact, a.name, a.missing) for a in result.affected] == [
        ("dashboard panel", "'Identity • auth failures (rate by tier)'", ("lukhas_auth_failures_total label reason",))
    ]
    assert result.exit_code == 1

    rules = write(
        tmp_path, "le.yml",
        "groups:\n  - name: team\n    rules:\n      - record: fast_share\n"
        '        expr: rate(lukhas_memory_search_seconds_bucket{le="0.025"}[5m])'
        " / rate(lukhas_memory_search_seconds_count[5m])\n"
        "      - record: fast_share_smooth\n        expr: avg_over_time(fast_share[1h])\n"
        "      - alert: FastShareLow\n        expr: fast_share_smooth < 0.5\n"
        '      - alert: Fine\n        expr: rate(lukhas_memory_search_seconds_bucket{le="0.05"}[5m]) > 1\n',
    )  # fmt: skip
    scanned = catalogdiff.diff_catalogs(old, catalog, scan=[rules])
    found = {a.name: a for a in scanned.affected if a.artefact.endswith("(file)")}
    assert set(found) == {"fast_share", "fast_share_smooth", "FastShareLow"}  # a chain of records, followed
    assert found["FastShareLow"].missing == ('lukhas_memory_search_seconds_bucket{le="0.025"}',)
    assert found["FastShareLow"].via == ("fast_share_smooth",)


def test_additions_alone_do_not_break(tmp_path: Path) -> None:
    text = core_text().replace(
        "metrics:\n",
        "metrics:\n  - name: lukhas_memory_evictions_total\n    otel_name: lukhas.memory.evictions\n    kind: counter\n"
        '    unit: "{doc}"\n    component: memory\n    description: Evicted docs\n',
        1,
    )
    code, out = run(str(CORE), str(write(tmp_path, "added.yaml", text)))
    assert code == 0 and "info      metric_added             lukhas_memory_evictions_total" in out


def test_scanned_hand_written_rules_and_dashboards_are_checked_against_new(tmp_path: Path) -> None:
    rules = write(
        tmp_path, "team-rules.yml",
        "groups:\n  - name: team\n    rules:\n      - alert: SearchSlow\n"
        "        expr: histogram_quantile(0.9, sum by (le) (rate(lukhas_memory_search_seconds_bucket[5m]))) > 1\n"
        "      - alert: DocsStalled\n        expr: rate(lukhas_memory_docs_total[10m]) == 0\n",
    )  # fmt: skip
    board = {
        "title": "team",
        "panels": [
            {"title": "Search", "targets": [{"expr": "rate(lukhas_memory_search_seconds_count[5m])"}]},
            {"title": "Docs", "targets": [{"expr": "rate(lukhas_memory_docs_total[5m])"}]},
        ],
        "templating": {"list": [{"name": "lane", "query": "label_values(lukhas_memory_search_seconds_bucket, lane)"}]},
    }
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "team.json").write_text(json.dumps(board), encoding="utf-8")
    new = write(tmp_path, "renamed.yaml", renamed_everywhere())
    code, out = run(str(CORE), str(new), "--scan", str(rules), "--scan", str(tmp_path / "boards"))
    assert code == 1
    assert "alert (file)" in out and "team-rules.yml team SearchSlow" in out
    assert "dashboard panel (file) team.json 'Search'" in out
    assert "dashboard variable (file) team.json $lane" in out
    assert "DocsStalled" not in out and "'Docs'" not in out


def test_bad_arguments_are_errors_not_tracebacks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        run(str(tmp_path / "missing.yaml"), str(CORE))
    broken = write(tmp_path, "broken.yaml", "catalog: x\nmetrics: 5\n")
    from lukhas_obs.errors import CatalogError

    with pytest.raises(CatalogError):
        run(str(broken), str(CORE))
    with pytest.raises(ValueError, match="no such file or directory"):
        run(str(CORE), str(CORE), "--scan", str(tmp_path / "nowhere"))


def test_labels_used_reads_by_lists_and_matchers_not_strings() -> None:
    expr = 'sum by (tier, lane) (rate(x_total{reason="a,b}c",service=~"s"}[5m])) / on (job) y'
    assert catalogdiff.labels_used(expr) == {"tier", "lane", "reason", "service", "job"}
