"""Smoke test of the recording benchmark: every case runs and the report is complete and self-consistent.

No timing assertions: how fast lukhas-obs is gets measured by ``python -m benchmarks.bench_recording`` and recorded
in ``benchmarks/RESULTS.md``, never asserted in tests (a loaded CI machine would make such a test flaky, and a
threshold loose enough not to flake asserts nothing). Here the suite runs in ``--quick`` mode (tiny batches) in a
subprocess, exactly as a user runs it, so its global state (OTel providers, environment variables) stays out of
this test process.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Every case the suite must report, and whether prometheus_client has an equivalent (no span-less no-op exists).
EXPECTED_ROWS: dict[str, bool] = {
    "1": True,
    "2": True,
    "3": True,
    "4": True,
    "5a": True,
    "5b": True,
    "6a": False,
    "6b": False,
    "6c": False,
    "7": True,
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """The JSON report and the markdown output of one ``--quick`` run."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_recording", "--quick", "--scrape-series", "10", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_every_case_is_reported_with_positive_numbers(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    rows = {row["id"]: row for row in report["rows"]}
    assert list(rows) == list(EXPECTED_ROWS)
    for row_id, has_prometheus in EXPECTED_ROWS.items():
        row = rows[row_id]
        assert _positive(row["lukhas_ns"]), row
        assert _positive(row["otel_ns"]), row
        if has_prometheus:
            assert _positive(row["prometheus_client_ns"]), row
        else:
            assert row["prometheus_client_ns"] is None and row["lukhas_over_prometheus_client"] is None, row
        for name, samples in row["samples_ns"].items():
            assert len(samples) >= 5, (row_id, name)  # a median of at least five batches
            assert all(_positive(v) for v in samples), (row_id, name)
            assert row["ops_per_batch"][name] >= 1


def test_ratios_are_computed_from_the_reported_medians(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    for row in report["rows"]:
        assert row["lukhas_over_otel"] == pytest.approx(row["lukhas_ns"] / row["otel_ns"])
        if row["prometheus_client_ns"] is not None:
            expected = row["lukhas_ns"] / row["prometheus_client_ns"]
            assert row["lukhas_over_prometheus_client"] == pytest.approx(expected)
        # the medians themselves come from the samples (stored rounded to 0.01 ns)
        for key, name in (("lukhas_ns", "lukhas"), ("otel_ns", "otel"), ("prometheus_client_ns", "prometheus_client")):
            if row[key] is not None:
                assert row[key] == pytest.approx(statistics.median(row["samples_ns"][name]), abs=0.01)


def test_report_records_environment_and_reproducing_command(quick_run: tuple[dict, str]) -> None:
    report, markdown = quick_run
    meta = report["meta"]
    assert meta["command"].startswith("python -m benchmarks.bench_recording --quick")
    for key in ("python", "cpu_model", "opentelemetry_sdk", "prometheus_client", "exemplar_filter"):
        assert meta[key], key
    assert meta["exemplar_filter"] == "trace_based"
    assert f"Command: `{meta['command']}`" in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(EXPECTED_ROWS)  # header + one line per case
    for row_id, line in zip(EXPECTED_ROWS, table[1:], strict=True):
        assert line.startswith(f"| {row_id} |")
        assert "×" in line  # the lukhas/OTel ratio is rendered
