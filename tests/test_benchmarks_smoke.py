"""Smoke test of the benchmark entry point: every target row is reported, with a number, in one ``--quick`` run.

Speed is never asserted: how fast lukhas-obs is gets measured by ``python -m benchmarks`` and recorded in
docs/PERFORMANCE.md (a loaded CI machine would make a timing assertion flaky, and a threshold loose enough not to
flake asserts nothing). Here the entry point runs in ``--quick`` mode in a subprocess, exactly as a user runs it, so
its global state (configurations, OTel providers, environment variables) stays out of this test process. What is
checked: every target and every case is there, each figure is a finite positive number, every ratio is the one its
medians give, and the environment needed to judge a run is recorded.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import extract_targets

ROOT = Path(__file__).resolve().parent.parent

KINDS = ("histogram", "counter", "updown_counter", "gauge")
#: Every target of the recording issue, by id (bench_recording's own; sub-benchmarks may add more).
EXPECTED_TARGETS: tuple[str, ...] = (
    "bound.histogram",
    "bound.counter",
    "bound.gauge",
    *(f"unbound.{kind}.{n}" for kind in KINDS for n in (1, 2)),
    "spans.timed",
    "spans.identity",
    *(
        f"disabled.{helper}.{how}"
        for how in ("unconfigured", "sdk_disabled")
        for helper in ("record", "bound", "timed", "identity")
    ),
    "scrape.10000",
    "collect.10000",
    "memory",
)
#: Every case (row) of the suite.
EXPECTED_ROWS: tuple[str, ...] = (
    *(f"bound.{kind}" for kind in KINDS),
    *(f"unbound.{kind}.{n}" for kind in KINDS for n in (0, 1, 2, 5)),
    "spans.timed",
    "spans.identity",
    "spans.span",
    *(
        f"disabled.{helper}.{how}"
        for how in ("unconfigured", "sdk_disabled")
        for helper in ("record", "bound", "timed", "identity")
    ),
    *(f"scrape.{n}" for n in (10, 100, 1000, 10000)),
    *(f"collect.{n}" for n in (10, 100, 1000, 10000)),
    "memory",
)
#: Columns every row of a group must have (own vs sdk aggregation where the SDK can hold the series).
GROUP_COLUMNS: dict[str, set[str]] = {
    "bound": {"lukhas", "lukhas_sdk", "otel", "prom"},
    "unbound": {"lukhas", "lukhas_sdk", "otel", "prom"},
    "spans": {"lukhas", "lukhas_sdk", "lukhas_chain", "otel"},
    "disabled": {"lukhas", "otel_noop"},
    "scrape": {"lukhas", "otel", "prom"},
    "collect": {"lukhas", "otel"},
    "memory": {"lukhas", "otel", "prom"},
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The JSON report and the markdown output of one ``python -m benchmarks --quick`` run (bounded)."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--sub-timeout", "15", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_every_target_is_reported_with_a_measured_ratio(quick_run: tuple[dict[str, Any], str]) -> None:
    report, markdown = quick_run
    ours = [t for t in report["targets"] if t["source"] == "bench_recording"]
    assert [t["id"] for t in ours] == list(EXPECTED_TARGETS)
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "bench_recording" in line]
    assert len(table) == len(EXPECTED_TARGETS)
    for target, line in zip(ours, table, strict=True):
        assert _positive(target["ratio"]), target
        assert _positive(target["limit"]), target
        assert target["status"] in ("PASS", "MISS"), target  # which one is the run's verdict, never asserted
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[0] == target["text"]
        assert cells[2] == f"{target['ratio']:.3f}×"  # the measured number is in the table
        assert cells[4] == target["status"]


def test_every_case_has_every_column(quick_run: tuple[dict[str, Any], str]) -> None:
    report, _ = quick_run
    rows = {row["id"]: row for row in report["rows"]}
    assert list(rows) == list(EXPECTED_ROWS)
    for row in rows.values():
        expected = set(GROUP_COLUMNS[row["group"]])
        if row["group"] in ("scrape", "collect") and int(row["id"].split(".")[1]) <= 2000:
            expected.add("lukhas_sdk")  # the SDK reader's 2,000-series limit: aggregation=sdk only below it
        assert expected <= set(row["medians"]), (row["id"], sorted(row["medians"]))
        for name, samples in row["samples"].items():
            assert samples and all(_positive(v) for v in samples), (row["id"], name)
            assert row["ops_per_batch"][name] >= 1


def test_ratios_are_computed_from_the_reported_medians(quick_run: tuple[dict[str, Any], str]) -> None:
    report, _ = quick_run
    rows = {row["id"]: row for row in report["rows"]}
    for row in rows.values():
        for name, samples in row["samples"].items():
            assert row["medians"][name] == pytest.approx(statistics.median(samples), abs=0.01)
        for name, ratio in row["ratios"].items():
            num, den = name.split("/")
            assert ratio == pytest.approx(row["medians"][num] / row["medians"][den])
    for target in report["targets"]:
        if target["source"] == "bench_recording":
            row = rows[target["row"]]
            assert target["ratio"] == pytest.approx(
                row["medians"][target["numerator"]] / row["medians"][target["denominator"]]
            )


def test_report_records_the_machine_and_the_command(quick_run: tuple[dict[str, Any], str]) -> None:
    report, markdown = quick_run
    meta = report["meta"]
    assert meta["command"].startswith("python -m benchmarks --quick")
    for key in ("python", "cpu_model", "cpu_count", "opentelemetry_sdk", "prometheus_client", "load_before", "clock"):
        assert meta[key], key
    assert meta["exemplar_filter"] == "trace_based"
    assert f"Command: `{meta['command']}`" in markdown
    assert f"CPU: {meta['cpu_model']}, {meta['cpu_count']} cores" in markdown
    for sub in report["sub_benchmarks"]:  # present or not, ok or not: each says how it went
        assert sub["name"] in ("bench_spans", "bench_scrape") and sub["status"], sub


def test_sub_benchmark_targets_are_read_from_either_form() -> None:
    document = {
        "ratios": {"timed: lukhas / raw OTel (target <= 0.4)": 0.31, "span: lukhas / raw OTel": 0.5},
        "cases": [{"name": "render", "ratio": 0.2, "limit": 0.1}, {"name": "no limit", "ratio": 0.2}],
        "nested": [{"disabled (target ≤ 0.5)": 0.7}],
    }
    found = {t.text: (t.ratio, t.limit, t.status) for t in extract_targets(document, "bench_x")}
    assert found == {
        "timed: lukhas / raw OTel (target <= 0.4)": (0.31, 0.4, "PASS"),
        "render": (0.2, 0.1, "MISS"),
        "disabled (target ≤ 0.5)": (0.7, 0.5, "MISS"),
    }
    assert extract_targets({"ratios": {"x (target <= 1)": float("nan"), "y (target <= 1)": True}}, "b") == []


def test_scrape_benchmark_report_without_declared_targets_gives_its_10k_target() -> None:
    document = {"repeats": 2, "results": {"1000": {"agg_direct": 3.0, "exporter": 60.0},
                                          "10000": {"agg_direct": 40.0, "exporter": 1000.0}}}  # fmt: skip
    (target,) = extract_targets(document, "bench_scrape")
    assert target.ratio == pytest.approx(0.04) and target.limit == 0.1 and target.status == "PASS"
    assert "10,000" in target.text
    assert extract_targets(document, "bench_other") == []  # the adapter is for that report's shape only
