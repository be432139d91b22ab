"""``lukhas-obs replay``: numbers checked against an independent computation, the seed's report, hostile input."""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from lukhas_obs.slotools import register_cli
from lukhas_obs.slotools.replay import (
    MAX_DISCOVERED_FIELDS,
    MAX_LINE_BYTES,
    ReplayOptions,
    percentile,
    read_heartbeats,
    render_report,
    replay,
    run_replay,
)
from lukhas_obs.slotools.targets import load_targets
from tests.test_slotools_targets import AURIS, AURIS_YAML

DATA = Path(__file__).parent / "data"
KNOWN = DATA / "heartbeats_auris.jsonl"
SEED = DATA / "heartbeats_seed004.jsonl"
FIELDS = ("coherence", "continuity", "presence", "stress")

try:
    import numpy
except ImportError:  # pragma: no cover - numpy is optional; statistics is always there
    numpy = None


def _independent(path: Path, count: int) -> dict[str, list[float]]:
    """The valid values of each field over the last ``count`` heartbeats, read without lukhas_obs code."""
    heartbeats = []
    for line in path.read_bytes().split(b"\n"):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("kind") == "heartbeat":
            heartbeats.append(obj)
    window = heartbeats[-count:] if count else heartbeats
    out: dict[str, list[float]] = {f: [] for f in FIELDS}
    for hb in window:
        for f in FIELDS:
            v = hb.get(f)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                try:
                    x = float(v)
                except OverflowError:
                    continue
                if math.isfinite(x):
                    out[f].append(x)
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("count", [0, 50, 20, 7])
def test_known_file_matches_statistics_and_numpy(count: int) -> None:
    report = replay(str(KNOWN), load_targets(AURIS), count=count)
    expected = _independent(KNOWN, count)
    assert report.analyzed == (77 if count == 0 else count) and report.total == 77
    assert report.skipped == {"corrupt": 3, "other": 2, "too_long": 0}
    by_name = {s.name: s for s in report.fields}
    assert tuple(by_name) == FIELDS
    for name, values in expected.items():
        stats = by_name[name]
        assert stats.n == len(values) and stats.n + stats.invalid + stats.missing == report.analyzed
        assert _close(stats.avg, statistics.fmean(values))
        q = statistics.quantiles(values, n=100, method="inclusive")
        assert _close(stats.p50, q[49]) and _close(stats.p95, q[94]) and _close(stats.p99, q[98])
        assert _close(stats.p50, statistics.median(values))
        assert stats.min == min(values) and stats.max == max(values)
        if numpy is not None:
            p50, p95, p99 = numpy.percentile(values, [50, 95, 99])
            assert _close(stats.p50, p50) and _close(stats.p95, p95) and _close(stats.p99, p99)


def test_invalid_and_missing_values_are_counted_per_field() -> None:
    report = replay(str(KNOWN), load_targets(AURIS), count=0)
    counts = {s.name: (s.invalid, s.missing) for s in report.fields}
    # NaN and -Infinity coherence; "0.99" continuity and one absent; true, "\ud800" and null presence;
    # Infinity and a 501-digit integer stress
    assert counts == {"coherence": (2, 0), "continuity": (1, 1), "presence": (3, 0), "stress": (2, 0)}


def test_percentile_by_hand() -> None:
    values = sorted([0.9, 0.8, 1.0, 0.7, 0.6])
    assert _close(percentile(values, 0.5), 0.8)
    assert _close(percentile(values, 0.95), 0.98)  # rank 3.8: 0.9 + 0.8 * 0.1
    assert _close(percentile(values, 0.99), 0.996)  # rank 3.96
    assert percentile([0.42], 0.99) == 0.42 and math.isnan(percentile([], 0.5))
    assert percentile(values, 0.0) == 0.6 and percentile(values, 1.0) == 1.0


def test_seed_report_lines(tmp_path: Path) -> None:
    """Seed 004's example output: 20 heartbeats, all 1.000, stress 0.140, every target passed."""
    out = io.StringIO()
    code = run_replay(ReplayOptions(str(SEED), count=20), load_targets(AURIS), out=out)
    text = out.getvalue()
    assert code == 0
    for line in (
        "📊 Analyzing last 20 heartbeats (of 20 total)",
        "📈 Averages:",
        "   coherence    = 1.000",
        "   continuity   = 1.000",
        "   presence     = 1.000",
        "   stress       = 0.140",
        "   coherence    = 1.000 / 1.000 / 1.000",
        "🎯 SLO Status (Phase C):",
        "   [✅ PASS] coherence >= 0.80    (actual: 1.000)",
        "   [✅ PASS] continuity >= 0.90   (actual: 1.000)",
        "   [✅ PASS] stress <= 0.30       (actual: 0.140)",
        "🟢 ALL SLO TARGETS PASSED",
    ):
        assert line in text.splitlines(), text
    assert "linear interpolation" in text


def test_failing_target_exits_1_and_json_says_why(tmp_path: Path) -> None:
    strict = {**AURIS, "targets": [*AURIS["targets"], {"field": "presence", "comparison": ">=", "threshold": 0.99}]}
    out = io.StringIO()
    code = run_replay(ReplayOptions(str(KNOWN), count=0, json=True), load_targets(strict), out=out)
    doc = json.loads(out.getvalue())
    assert code == 1 and doc["exit_code"] == 1 and doc["passed"] is False
    statuses = {t["name"]: t["status"] for t in doc["targets"]}
    assert statuses == {"coherence": "pass", "continuity": "pass", "stress": "pass", "presence": "fail"}
    presence = next(t for t in doc["targets"] if t["name"] == "presence")
    assert presence["actual"] == doc["fields"]["presence"]["avg"] < 0.99
    assert doc["heartbeats"] == {"analyzed": 77, "total": 77, "count": 0}
    assert doc["skipped_lines"] == {"corrupt": 3, "other": 2, "too_long": 0}
    assert "linear" in doc["percentile_method"]
    text = io.StringIO()
    run_replay(ReplayOptions(str(KNOWN), count=0), load_targets(strict), out=text)
    assert "1 SLO TARGET FAILED" in text.getvalue() and "FAIL] presence >= 0.99" in text.getvalue()


def test_no_data_exits_3_and_replay_only_targets_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b'not json\n{"kind": "boot"}\n[1]\n')
    targets = load_targets(
        {"targets": [{"field": "coherence", "comparison": ">=", "threshold": 0.8},
                     {"metric": "self_stress", "comparison": "<=", "threshold": 0.3}]}
    )  # fmt: skip
    out = io.StringIO()
    code = run_replay(ReplayOptions(str(path), json=True), targets, out=out)
    doc = json.loads(out.getvalue())
    assert code == 3
    assert [t["status"] for t in doc["targets"]] == ["no_data", "skipped"]
    assert doc["fields"]["coherence"]["avg"] is None and doc["heartbeats"]["analyzed"] == 0


def test_hostile_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    good = b'{"kind":"heartbeat","coherence":0.5}\n'
    path = tmp_path / "hostile.jsonl"
    with open(path, "wb") as fh:
        fh.write(b"\xef\xbb\xbf" + good)  # a BOM on the first line
        fh.write(b'{"kind":"heartbeat","coherence":"' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')  # too long
        fh.write(b"[" * 200_000 + b"\n")  # nested too deep for the json module
        fh.write(b'{"kind":"heartbeat","coherence":0.9,"x":"\xed\xa0\x80"}\n')  # an encoded surrogate: not UTF-8
        fh.write(b'{"kind":"heartbeat","coherence":0.7}\r\n')  # CRLF
        fh.write(b'{"kind":"heartbeat","coherence":"\\udfff"}\n')  # a lone surrogate value
        fh.write(b'{"kind":"heartbeat","coherence":' + b"9" * 5000 + b"}\n")  # > 4300 digits
        fh.write(b"\x00\x00\x00\n")
        fh.write(b'{"kind":"heartbeat","coherence":1e999}\n')
        fh.write(b'{"kind":"heart\\ud800beat","coherence":0.1}\n')
        fh.write(b'{"kind":"heartbeat","coherence":0.3}')  # no final newline
    report = replay(str(path), load_targets(_coherence()), count=0)
    assert report.skipped == {"corrupt": 3, "other": 1, "too_long": 1}
    stats = report.fields[0]
    assert (stats.n, stats.invalid) == (3, 3)
    assert _close(stats.avg, 0.5) and report.last_heartbeat == {"coherence": 0.3}


def _coherence() -> dict[str, Any]:
    return {"targets": [{"field": "coherence", "comparison": ">=", "threshold": 0.4}]}


def test_without_targets_every_numeric_field_is_reported_bounded(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    row = {"kind": "heartbeat", **{f"f{i}": i for i in range(MAX_DISCOVERED_FIELDS + 20)}, "label": "x"}
    path.write_text(json.dumps(row) + "\n" + json.dumps({"kind": "heartbeat", "late": 1.5}) + "\n")
    report = replay(str(path), None, count=0)
    assert len(report.fields) == MAX_DISCOVERED_FIELDS and report.ignored_fields > 0
    assert report.fields[3].name == "f3" and report.fields[3].n == 1 and report.fields[3].missing == 1
    assert report.exit_code == 0 and not report.targets
    assert "not reported" in render_report(report, fancy=False)
    report = replay(str(KNOWN), None, count=10)
    assert [s.name for s in report.fields] == ["ts", "coherence", "continuity", "presence", "stress"]


def test_ring_keeps_the_last_count_heartbeats() -> None:
    lines = b"".join(b'{"kind":"heartbeat","v":%d}\n' % i for i in range(1000))
    report = read_heartbeats(io.BytesIO(lines), ["v"], count=10)
    stats = report.fields[0]
    assert (stats.n, stats.min, stats.max, report.total) == (10, 990, 999, 1000)
    assert report.last_heartbeat == {"v": 999.0}
    with pytest.raises(ValueError, match="count"):
        read_heartbeats(io.BytesIO(b""), ["v"], count=-1)


def test_ascii_output_has_no_emoji(tmp_path: Path) -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    code = run_replay(ReplayOptions(str(SEED)), load_targets(AURIS), out=out)
    out.flush()
    text = raw.getvalue().decode("ascii")
    assert code == 0 and "[PASS] coherence >= 0.80" in text and "ALL SLO TARGETS PASSED" in text


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lukhas-obs")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_snapshot_stdin_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(AURIS_YAML, encoding="utf-8")
    snapshot = tmp_path / "data" / "self_state.json"
    snapshot.parent.mkdir()
    snapshot.write_text("old", encoding="utf-8")
    args = _cli(["replay", str(KNOWN), "--targets", str(targets), "--count", "20", "--save-snapshot", str(snapshot)])
    assert args.handler(args) == 0
    saved = json.loads(snapshot.read_text(encoding="utf-8"))
    assert saved["heartbeats"]["analyzed"] == 20 and saved["passed"] is True and "saved_at" in saved
    assert set(saved["last_heartbeat"]) == set(FIELDS)
    assert sorted(p.name for p in snapshot.parent.iterdir()) == ["self_state.json"]  # no temporary file left
    assert "snapshot saved to" in capsys.readouterr().out

    monkeypatch.chdir(tmp_path)
    args = _cli(["replay", str(SEED), "--save-snapshot", "--json"])  # the seed's default path
    assert args.save_snapshot == "data/self_state.json" and args.handler(args) == 0
    assert json.loads(snapshot.read_text(encoding="utf-8"))["heartbeats"]["total"] == 20
    capsys.readouterr()

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(SEED.read_bytes())))
    args = _cli(["replay", "-", "--targets", str(targets), "--json"])
    assert args.handler(args) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "-"

    args = _cli(["replay", str(tmp_path / "missing.jsonl")])
    assert args.handler(args) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("slo_targets:\n  targets: [{field: c, comparison: '=', threshold: 1}]\n", encoding="utf-8")
    args = _cli(["replay", str(SEED), "--targets", str(bad)])
    assert args.handler(args) == 2
    assert "comparison must be one of >=, <=, >, <" in capsys.readouterr().err
    for count in ("-1", "2000000", "x"):
        with pytest.raises(SystemExit):
            _cli(["replay", str(SEED), "--count", count])
