"""WiltonOS (seed 001) as a lukhas-obs system: the state-file exporter, its alerts, dashboards, bootstrap and demo.

Every seed name is scraped over real HTTP with its Prometheus type and labels; dΦ/dt is compared with an independent
least-squares fit (:func:`statistics.linear_regression`) on a known sequence fed through the state file with an
injected clock; state files that are missing, corrupt, too large, not regular files or hostile never break a scrape
and are counted; the Soft-Steer rules pass promtool (firing and silent per alert, and the cases catch a changed
rule); the bootstrap writes a config that a real Prometheus loads (every rule healthy) while it scrapes the exporter;
the demo runs in a subprocess with the system installed through its entry point.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs.catalog import load_catalog
from lukhas_obs.generate import generate
from lukhas_obs.generate.output import write_files
from lukhas_obs.instruments import RateOfChangeHandle
from lukhas_obs.systems import ENTRY_POINT_GROUP, register_system, systems
from lukhas_obs.systems import _local as _registered_systems
from lukhas_obs.systems.wiltonos import PHI_STAR, SYSTEM
from lukhas_obs.systems.wiltonos import statefiles as sf
from tests.support.prometheus import PrometheusApi, free_port, require_binary, run_tool, wait_for
from tests.support.scrape import scrape

ROOT = Path(__file__).resolve().parent.parent
STATE_FIXTURE = Path(__file__).resolve().parent / "data" / "wiltonos_state"

#: Seed 001's names: Prometheus type, label names of every sample (histogram: besides ``le``).
SEED_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "wiltonos_quantum_coherence_ratio": ("gauge", frozenset()),
    "wiltonos_quantum_coherence_derivative": ("gauge", frozenset({"window"})),
    "wiltonos_loop_quantum_coherence": ("gauge", frozenset({"loop"})),
    "wiltonos_loop_pressure": ("gauge", frozenset({"loop"})),
    "wiltonos_collapse_operations_total": ("counter", frozenset()),
    "wiltonos_longevity_doses_total": ("counter", frozenset({"compound"})),
    "wiltonos_longevity_dose_amount": ("histogram", frozenset()),
}


@pytest.fixture(autouse=True)
def wiltonos_system():
    """The system known in-process (as its entry point will make it), and only during the test."""
    register_system(SYSTEM)
    yield SYSTEM
    _registered_systems.pop(SYSTEM.name, None)  # other tests' view of the known systems stays unchanged


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir()
    return directory


@pytest.fixture
def collector(state_dir: Path):
    found = sf.StateFileCollector(state_dir).install()
    yield found
    found.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The rate-of-change clock, injected (samples are timed by it; set before configure)."""
    fake = Clock()
    monkeypatch.setattr(RateOfChangeHandle, "clock", fake)
    return fake


def _configure(**kwargs):
    return lukhas_obs.configure(prometheus_port=0, traces_exporter="none", **kwargs)


def _write(path: Path, document: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document), encoding="utf-8")
    os.replace(tmp, path)


def _values(telemetry, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in scrape(telemetry.metrics_url).samples(name)}


def _errors(telemetry) -> dict[tuple[str, str], float]:
    return {(s.labels["file"], s.labels["reason"]): s.value for s in scrape(telemetry.metrics_url).samples(
        sf.STATE_FILE_ERRORS_TOTAL)}  # fmt: skip


def _sample_labels(body: str, name: str) -> tuple[str, set[frozenset[str]]]:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(body):
        names = {s.name for s in family.samples}
        if name in names or f"{name}_bucket" in names:
            labels = {frozenset(k for k in s.labels if k != "le") for s in family.samples}
            return family.type, labels
    return "", set()


# ------------------------------------------------------------------------------------------ every seed name


@pytest.mark.parametrize("aggregation", ["own", "sdk"])
def test_every_seed_name_is_served_with_its_kind_and_labels(state_dir, clock, aggregation):
    for name in ("quantum_state.json", "longevity_state.json"):
        (state_dir / name).write_bytes((STATE_FIXTURE / name).read_bytes())
    telemetry = _configure(aggregation=aggregation)
    with sf.StateFileCollector(state_dir):
        scrape(telemetry.metrics_url)
        clock.now += 5  # a second read: the rate of change has two samples
        body = scrape(telemetry.metrics_url).body
        for name, (kind, labels) in SEED_METRICS.items():
            found_kind, found_labels = _sample_labels(body, name)
            assert found_kind == kind, name
            assert found_labels == {labels}, (name, found_labels)  # exactly these labels: no lane, service, scope
        windows = {s.labels["window"] for s in scrape(telemetry.metrics_url).samples(sf.COHERENCE_DERIVATIVE)}
        assert windows == {"30s", "60s", "300s"}
        assert _values(telemetry, sf.COHERENCE_RATIO) == {(): 0.7512}
        assert _values(telemetry, sf.LOOP_COHERENCE) == {
            (("loop", "alpha"),): 0.7484, (("loop", "beta"),): 0.7731, (("loop", "gamma"),): 0.75,
            (("loop", "delta"),): 0.73,
        }  # fmt: skip
        assert _values(telemetry, sf.COLLAPSE_OPERATIONS_TOTAL) == {(): 17.0}
        assert _values(telemetry, sf.DOSES_TOTAL) == {
            (("compound", "nmn"),): 12.0, (("compound", "resveratrol"),): 3.0, (("compound", "rapamycin"),): 1.0,
        }  # fmt: skip
        assert _values(telemetry, f"{sf.DOSE_AMOUNT}_count") == {(): 4.0}  # each logged dose once, over 3 reads
        assert _values(telemetry, f"{sf.DOSE_AMOUNT}_sum") == {(): 881.5}
        assert _errors(telemetry) == {}
    assert sf.active_collector() is None


def test_the_catalog_keeps_the_seed_names_and_is_the_systems():
    catalog = load_catalog(SYSTEM.catalogs[0])
    assert {m.name for m in catalog.metrics} == {*SEED_METRICS, sf.STATE_FILE_ERRORS_TOTAL}
    derivative = catalog.metric(sf.COHERENCE_DERIVATIVE)
    assert (derivative.kind, derivative.source, derivative.windows) == (
        "rate_of_change", sf.COHERENCE_RATIO, ("30s", "60s", "300s"),
    )  # fmt: skip
    assert "wiltonos" in systems() and PHI_STAR == 0.75


# ---------------------------------------------------------------------------------- dΦ/dt on a known sequence


def _slope(points: list[tuple[float, float]]) -> float:
    return statistics.linear_regression([t for t, _ in points], [v for _, v in points]).slope


@pytest.mark.parametrize("aggregation", ["own", "sdk"])
def test_derivative_is_exact_for_a_known_sequence(state_dir, collector, clock, aggregation):
    telemetry = _configure(aggregation=aggregation)
    quantum = state_dir / sf.QUANTUM_FILE
    _write(quantum, {"phi": 0.75})
    assert _values(telemetry, sf.COHERENCE_DERIVATIVE) == {}  # one sample: no rate (absent, never 0)
    points = [(1000.0, 0.75)]
    for step, phi in enumerate([0.76, 0.74, 0.78, 0.77, 0.79], start=1):
        clock.now = 1000.0 + 10 * step
        _write(quantum, {"phi": phi})
        scrape(telemetry.metrics_url)  # the read at this scrape feeds (now, Φ)
        points.append((clock.now, phi))
    rates = _values(telemetry, sf.COHERENCE_DERIVATIVE)  # same instant, same Φ: no extra sample
    in_30s = [(t, v) for t, v in points if t > clock.now - 30]  # left-open: t = 1020 is out
    assert [t for t, _ in in_30s] == [1030.0, 1040.0, 1050.0]
    assert rates[(("window", "30s"),)] == pytest.approx(_slope(in_30s), rel=1e-12)
    assert rates[(("window", "60s"),)] == pytest.approx(_slope(points), rel=1e-12)
    assert rates[(("window", "300s"),)] == pytest.approx(_slope(points), rel=1e-12)

    clock.now = 1150.0  # a gap of 100 s: only the 300 s window still holds earlier samples
    _write(quantum, {"phi": 0.80})
    points.append((clock.now, 0.80))
    rates = _values(telemetry, sf.COHERENCE_DERIVATIVE)
    assert set(rates) == {(("window", "300s"),)}
    assert rates[(("window", "300s"),)] == pytest.approx(_slope(points), rel=1e-12)

    clock.now = 1160.0  # the file did not change: Φ is still 0.80 now, a flat 30 s window
    rates = _values(telemetry, sf.COHERENCE_DERIVATIVE)
    assert rates[(("window", "30s"),)] == 0.0 and rates[(("window", "60s"),)] == 0.0
    assert rates[(("window", "300s"),)] == pytest.approx(_slope([*points, (1160.0, 0.80)]), rel=1e-12)


def test_a_scrape_and_a_refresh_at_the_same_instant_add_one_sample(state_dir, collector, clock):
    telemetry = _configure()
    quantum = state_dir / sf.QUANTUM_FILE
    _write(quantum, {"phi": 0.70})
    collector.refresh()
    clock.now = 1010.0
    _write(quantum, {"phi": 0.80})
    collector.refresh()
    collector.refresh()  # concurrent reads at one instant: no extra weight
    clock.now = 1025.0
    _write(quantum, {"phi": 0.78})
    rates = _values(telemetry, sf.COHERENCE_DERIVATIVE)
    expected = _slope([(1000.0, 0.70), (1010.0, 0.80), (1025.0, 0.78)])
    assert rates[(("window", "30s"),)] == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx(_slope([(1000.0, 0.70), (1010.0, 0.80), (1010.0, 0.80), (1025.0, 0.78)]))


# ------------------------------------------------------------------------------------------- loops, totals, doses


def test_loop_pressure_is_the_distance_to_phi_star_and_exact_at_the_band_edges(state_dir, collector):
    telemetry = _configure()
    _write(state_dir / sf.QUANTUM_FILE, {"phi": 0.75, "loops": {"a": 0.77, "b": 0.73, "c": 0.75, "d": 0.8}})
    pressures = {dict(k)["loop"]: v for k, v in _values(telemetry, sf.LOOP_PRESSURE).items()}
    assert pressures == {"a": 0.02, "b": 0.02, "c": 0.0, "d": 0.05}
    assert abs(0.77 - PHI_STAR) > 0.02  # why it is rounded: unrounded, the band's edge would fire `> 0.02`
    assert sf.loop_pressure(0.7700000001) > 0.02


def test_totals_pass_through_and_doses_enter_the_histogram_once(state_dir, collector):
    telemetry = _configure()
    longevity = state_dir / sf.LONGEVITY_FILE
    _write(longevity, {"doses_total": {"nmn": 2}, "doses": [{"seq": 1, "amount": 10}, {"seq": 2, "amount": 20}]})
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_count") == {(): 2.0}
    _write(longevity, {"doses_total": {"nmn": 3}, "doses": [{"seq": 3, "amount": 30}, {"seq": 2, "amount": 20}]})
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_sum") == {(): 60.0}  # seq 2 already counted; unsorted is fine
    _write(longevity, {"doses_total": {"nmn": 1}, "doses": [{"seq": 1, "amount": 5}]})  # rewritten from scratch
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_sum") == {(): 65.0}
    assert _values(telemetry, sf.DOSES_TOTAL) == {(("compound", "nmn"),): 1.0}  # a lower total: a reset, as is


def test_doses_per_read_are_bounded(state_dir, collector, monkeypatch):
    monkeypatch.setattr(sf, "MAX_NEW_DOSES", 3)
    telemetry = _configure()
    _write(state_dir / sf.LONGEVITY_FILE, {"doses": [{"seq": i, "amount": 1} for i in range(8)]})
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_count") == {(): 3.0}
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_count") == {(): 6.0}  # the rest on the next reads
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_count") == {(): 8.0}
    assert _values(telemetry, f"{sf.DOSE_AMOUNT}_count") == {(): 8.0}


# --------------------------------------------------------------------------- files that cannot be used, attacks


def test_missing_files_answer_200_and_count(collector):
    telemetry = _configure()
    result = scrape(telemetry.metrics_url)
    assert result.status == 200
    assert _errors(telemetry) == {("quantum", "missing"): 2.0, ("longevity", "missing"): 2.0}  # one per read
    assert scrape(telemetry.metrics_url).samples(sf.LOOP_COHERENCE) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "corrupt"),
        (b'{"phi": 0.75', "corrupt"),  # a torn write by a non-atomic writer
        (b"\xff\xfe{}", "corrupt"),
        (b"[" * 100_000 + b"]" * 100_000, "corrupt"),  # RecursionError inside json
        (b"[1, 2]", "invalid"),
        (b'{"phi": "0.75"}', "invalid"),
        (b'{"phi": true}', "invalid"),
        (b'{"phi": NaN}', "invalid"),
        (b'{"phi": 1e999}', "invalid"),
        (b'{"phi": 1' + b"0" * 5000 + b"}", "invalid"),  # json.loads alone raises on > 4300 digits
        (b'{"phi": 0.75, "loops": [0.7]}', "invalid"),
        (b'{"phi": 0.75, "collapse_operations": -1}', "invalid"),
        (b" " * (sf.MAX_STATE_BYTES + 1), "too_large"),
    ],
    ids=["empty", "torn", "not-utf8", "deep", "list", "string", "bool", "nan", "inf", "huge-int", "loops-list",
         "negative-total", "too-large"],
)  # fmt: skip
def test_bad_quantum_files_answer_200_and_count_their_reason(state_dir, collector, content, reason):
    telemetry = _configure()
    _write(state_dir / sf.QUANTUM_FILE, {"phi": 0.75, "loops": {"alpha": 0.76}, "collapse_operations": 5})
    scrape(telemetry.metrics_url)
    (state_dir / sf.QUANTUM_FILE).write_bytes(content)
    started = time.monotonic()
    result = scrape(telemetry.metrics_url)
    assert result.status == 200 and time.monotonic() - started < 5
    assert _errors(telemetry).get(("quantum", reason), 0) >= 1
    assert _values(telemetry, sf.COHERENCE_RATIO) == {(): 0.75}  # the last good Φ
    assert _values(telemetry, sf.COLLAPSE_OPERATIONS_TOTAL) == {(): 5.0}  # the last good total
    if reason != "invalid":
        assert _values(telemetry, sf.LOOP_COHERENCE) == {}  # unreadable: the loops are not known any more


def test_valid_parts_of_a_partly_invalid_file_are_used(state_dir, collector):
    telemetry = _configure()
    _write(state_dir / sf.QUANTUM_FILE, {"phi": 0.74, "loops": {"good": 0.75, "bad": "x", "": 0.7, "nan": None}})
    assert _values(telemetry, sf.COHERENCE_RATIO) == {(): 0.74}
    assert _values(telemetry, sf.LOOP_COHERENCE) == {(("loop", "good"),): 0.75}
    assert _errors(telemetry)[("quantum", "invalid")] >= 1


def test_a_fifo_a_directory_and_a_device_are_never_read(state_dir, collector):
    telemetry = _configure()
    os.mkfifo(state_dir / sf.QUANTUM_FILE)  # a blocking open/read would hang the scrape forever
    (state_dir / sf.LONGEVITY_FILE).mkdir()
    started = time.monotonic()
    assert scrape(telemetry.metrics_url, timeout=5).status == 200
    assert time.monotonic() - started < 3
    errors = _errors(telemetry)
    assert errors[("quantum", "unreadable")] >= 1 and errors[("longevity", "unreadable")] >= 1
    os.unlink(state_dir / sf.QUANTUM_FILE)
    os.symlink("/dev/zero", state_dir / sf.QUANTUM_FILE)  # endless bytes: refused as not a regular file
    assert scrape(telemetry.metrics_url, timeout=5).status == 200
    assert _errors(telemetry)[("quantum", "unreadable")] >= 3


def test_unreadable_permissions_are_counted(state_dir, collector, monkeypatch):
    telemetry = _configure()
    _write(state_dir / sf.QUANTUM_FILE, {"phi": 0.75})
    real_open = os.open

    def denied(path, *args, **kwargs):  # what open(2) answers for a mode-000 file to anyone but root
        if str(path).endswith(sf.QUANTUM_FILE):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(sf.os, "open", denied)
    assert scrape(telemetry.metrics_url).status == 200
    assert _errors(telemetry)[("quantum", "unreadable")] >= 1
    assert sf.read_json_file("bad\0path") == (None, "unreadable")  # a NUL in the path: ValueError, not a crash


def test_hostile_loop_names_and_many_loops_stay_bounded(state_dir, collector, caplog):
    drops.reset_warnings()
    telemetry = _configure(cardinality_limits={sf.LOOP_COHERENCE: 5, sf.LOOP_PRESSURE: 5})
    loops = {f"loop-{i}": 0.75 for i in range(2 * sf.MAX_ENTRIES)}
    loops["\udcff lone"] = 0.74  # a lone surrogate, as json.loads gives it for "\udcff"
    path = state_dir / sf.QUANTUM_FILE
    path.write_text(json.dumps({"phi": 0.75, "loops": loops}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        for _ in range(3):
            result = scrape(telemetry.metrics_url)
    assert result.status == 200
    assert len(result.samples(sf.LOOP_COHERENCE)) == 5 and len(result.samples(sf.LOOP_PRESSURE)) == 5
    warnings = [r.getMessage() for r in caplog.records if "cardinality_limit" in r.getMessage()]
    assert len(warnings) == 2  # once per metric, not once per scrape or per loop
    dropped = [s for s in result.samples("lukhas_obs_dropped_measurements_total")
               if s.labels["reason"] == "cardinality_limit"]  # fmt: skip
    assert {s.labels["metric"] for s in dropped} == {sf.LOOP_COHERENCE, sf.LOOP_PRESSURE}
    assert _errors(telemetry)[("quantum", "invalid")] >= 1  # more than MAX_ENTRIES loops: the rest ignored
    result.body.encode("utf-8")  # the exposition stays valid UTF-8


def test_a_bug_while_reading_is_isolated(state_dir, collector, monkeypatch):
    telemetry = _configure()

    def broken(document: object) -> sf.QuantumState:
        raise RuntimeError("boom")

    monkeypatch.setattr(sf, "parse_quantum", broken)
    _write(state_dir / sf.QUANTUM_FILE, {"phi": 0.75})
    assert scrape(telemetry.metrics_url).status == 200
    dropped = scrape(telemetry.metrics_url).samples("lukhas_obs_dropped_measurements_total")
    assert any(s.labels["metric"] == sf.STATE_FILE_ERRORS_TOTAL and s.labels["reason"] == "internal_error"
               for s in dropped)  # fmt: skip


def test_one_collector_per_process_and_close_removes_it(state_dir, tmp_path):
    first = sf.StateFileCollector(state_dir).install()
    try:
        with pytest.raises(RuntimeError, match="already installed"):
            sf.StateFileCollector(tmp_path).install()
        _write(state_dir / sf.QUANTUM_FILE, {"phi": 0.75, "loops": {"a": 0.75}})
        telemetry = _configure()
        assert _values(telemetry, sf.LOOP_COHERENCE)
    finally:
        first.close()
    assert _values(telemetry, sf.LOOP_COHERENCE) == {}
    from lukhas_obs import collect_hooks

    assert first._hook not in collect_hooks.hooks()
    with pytest.raises(ValueError, match="phi_star"):
        sf.StateFileCollector(state_dir, phi_star=float("nan"))


def test_the_longevity_route_serves_only_the_dose_metrics(state_dir, collector):
    _configure()
    for name in ("quantum_state.json", "longevity_state.json"):
        (state_dir / name).write_bytes((STATE_FIXTURE / name).read_bytes())
    body, content_type = sf.longevity_exposition()
    text = body.decode()
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert families == {"wiltonos_longevity_doses_total", "wiltonos_longevity_dose_amount"}, families
    assert 'wiltonos_longevity_doses_total{compound="nmn"} 12.0' in text
    assert content_type.startswith("text/plain")


# --------------------------------------------------------------------------------------- rules and promtool


def _generated(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    files = write_files(tmp_path, generate(["rules", "tests"], [load_catalog(SYSTEM.catalogs[0])]))
    return sorted(p for p in files if "/rules/" in p.as_posix()), sorted(p for p in files if "/tests/" in p.as_posix())


def _promtool_test(test_file: Path) -> tuple[int, str]:
    result = run_tool([require_binary("promtool"), "test", "rules", test_file.name], cwd=test_file.parent)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.e2e
def test_soft_steer_rules_pass_promtool_firing_and_silent_per_alert(tmp_path):
    rule_files, test_files = _generated(tmp_path)
    result = run_tool([require_binary("promtool"), "check", "rules", *map(str, rule_files)])
    assert result.returncode == 0, result.stdout + result.stderr
    code, out = _promtool_test(test_files[0])
    assert code == 0 and "SUCCESS" in out, out
    (group,) = yaml.safe_load(rule_files[0].read_text())["groups"]
    assert (group["name"], group["interval"]) == ("wiltonos-soft-steer", "10s")
    rules = {r["alert"]: r for r in group["rules"]}
    assert rules["WiltonosCoherenceDerivativeHigh"]["expr"] == (
        'abs(wiltonos_quantum_coherence_derivative{window="30s"}) > 0.04'
    )
    assert rules["WiltonosCoherenceDerivativeHigh"]["for"] == "30s"
    assert rules["WiltonosCoherenceOutOfBand"]["expr"] == (
        "wiltonos_quantum_coherence_ratio < 0.73 or wiltonos_quantum_coherence_ratio > 0.77"
    )
    assert rules["WiltonosCoherenceOutOfBand"]["for"] == "1m"
    assert rules["WiltonosLoopPressureHigh"]["expr"] == "wiltonos_loop_pressure > 0.02"
    fires: dict[str, int] = {}
    silent: dict[str, int] = {}
    for case in yaml.safe_load(test_files[0].read_text())["tests"]:
        for check in case["alert_rule_test"]:
            side = fires if check["exp_alerts"] else silent
            side[check["alertname"]] = side.get(check["alertname"], 0) + 1
    assert set(fires) == set(silent) == set(rules)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("> 0.04", "> 0.05"),
        ("< 0.73 or", "< 0.72 or"),
        ("> 0.77", "> 0.78"),
        ("wiltonos_loop_pressure > 0.02", "wiltonos_loop_pressure >= 0.02"),
        ("for: 30s", None),
        ("for: 1m", None),
        ("for: 2m", None),
    ],
)
def test_the_cases_catch_a_changed_rule(tmp_path, old, new):
    rule_files, test_files = _generated(tmp_path)
    text = rule_files[0].read_text()
    assert old in text
    # new None: drop the `for` (the silent case that holds for less than it must then fire)
    text = re.sub(rf"\n\s*{re.escape(old)}", "", text, count=1) if new is None else text.replace(old, new)
    rule_files[0].write_text(text)
    code, out = _promtool_test(test_files[0])
    assert code != 0, out


# ------------------------------------------------------------------- bootstrap and a real Prometheus scraping


def test_bootstrap_cli_writes_the_stack_without_starting(tmp_path):
    import argparse

    from lukhas_obs_examples.wiltonos.bootstrap import register_cli

    parser = argparse.ArgumentParser(prog="lukhas-obs")
    register_cli(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "stack"
    args = parser.parse_args(["wiltonos", "bootstrap", "--no-start", "--out", str(out), "--exporter", "10.0.0.5:9200"])
    assert args.handler(args) == 0
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["10.0.0.5:9200"]
    assert config["global"]["scrape_interval"] == "5s"
    assert [Path(p).name for p in config["rule_files"]] == ["wiltonos_soft_steer.yml"]
    boards = sorted(p.name for p in (out / "collector/grafana/dashboards").glob("*.json"))
    assert boards == ["wiltonos-longevity.json", "wiltonos-quantum-coherence.json"]
    bad = parser.parse_args(["wiltonos", "bootstrap", "--no-start", "--out", str(out), "--exporter", "nohost"])
    assert bad.handler(bad) == 2


def test_bootstrap_without_prometheus_says_how_to_run_it(tmp_path, monkeypatch):
    from lukhas_obs_examples.wiltonos.bootstrap import BootstrapOptions, run_bootstrap

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    stream = io.StringIO()
    assert run_bootstrap(BootstrapOptions(out=str(tmp_path / "o")), stream) == 0
    text = stream.getvalue()
    assert "prometheus: not installed" in text and "--config.file=" in text
    assert "Prometheus: http://127.0.0.1:9090" in text and "Metrics:    http://127.0.0.1:9109/metrics" in text


def test_the_two_seed_dashboards():
    from lukhas_obs.generate import dashboards

    catalog = load_catalog(SYSTEM.catalogs[0])
    boards = {d.uid: dashboards.dashboard_json(catalog, d) for d in catalog.dashboards}
    assert [b["title"] for b in boards.values()] == [
        "WiltonOS Quantum Coherence Dashboard", "WiltonOS Longevity Metrics Dashboard",
    ]  # fmt: skip
    panels = {p["title"]: p for b in boards.values() for p in b["panels"] if p["type"] != "row"}
    assert panels["Proporção quântica atual (Φ)"]["type"] == "gauge"
    assert panels["Derivadas dΦ/dt"]["targets"][0]["expr"] == "wiltonos_quantum_coherence_derivative"
    assert panels["Pressão por loop |Φ − Φ★|"]["targets"][0]["expr"] == "wiltonos_loop_pressure"
    assert panels["Distribuição de compostos administrados (24h)"]["type"] == "piechart"
    heat = panels["Histograma de dosagem"]
    assert heat["type"] == "heatmap" and heat["options"]["calculate"] is False
    assert len(panels["Doses e impacto na proporção quântica"]["targets"]) == 3


@pytest.mark.e2e
def test_bootstrap_starts_a_prometheus_that_loads_the_rules_and_scrapes_the_exporter(tmp_path, state_dir):
    from lukhas_obs_examples.wiltonos.bootstrap import BootstrapOptions, run_bootstrap, stop_stack
    from lukhas_obs_examples.wiltonos.simulator import WiltonosSimulator

    binary = require_binary("prometheus")
    telemetry = _configure()
    simulator = WiltonosSimulator(state_dir, seed=1, dose_every=1)
    simulator.step()
    out = tmp_path / "stack"
    exporter = telemetry.metrics_url.split("//")[1].split("/")[0]
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.2):
            simulator.step()

    ticker = threading.Thread(target=tick, daemon=True)
    with sf.StateFileCollector(state_dir):
        ticker.start()
        try:
            stream = io.StringIO()
            options = BootstrapOptions(out=str(out), exporter=exporter, prometheus_port=free_port(),
                                       scrape_interval="1s", prometheus_binary=binary)  # fmt: skip
            assert run_bootstrap(options, stream) == 0, stream.getvalue()
            base = re.search(r"Prometheus: (http://\S+)", stream.getvalue()).group(1)
            api = PrometheusApi(base)
            expected = dict.fromkeys(
                ["WiltonosCoherenceDerivativeHigh", "WiltonosCoherenceOutOfBand", "WiltonosLoopPressureHigh",
                 "WiltonosStateFileErrors"], "ok")  # fmt: skip

            def evaluated() -> dict[str, str] | None:
                rules = {r["name"]: r["health"] for g in api.rule_groups() for r in g["rules"]}
                return rules if "unknown" not in rules.values() else None  # health is known after an evaluation

            assert wait_for("the rules evaluated", evaluated, timeout=30) == expected
            wanted = [*SEED_METRICS]
            wanted[wanted.index("wiltonos_longevity_dose_amount")] = "wiltonos_longevity_dose_amount_count"

            def all_present() -> bool:
                return all(api.query(name) for name in wanted)

            wait_for("every seed name in Prometheus", all_present, timeout=30, interval=0.5)
            (target,) = api.targets()
            assert target["health"] == "up" and target["labels"]["job"] == "wiltonos"
            windows = {r["metric"]["window"] for r in api.query("wiltonos_quantum_coherence_derivative")}
            assert windows == {"30s", "60s", "300s"}
            again = io.StringIO()  # a second bootstrap of the same directory reloads, does not start another
            assert run_bootstrap(options, again) == 0 and "already running" in again.getvalue()
        finally:
            stop.set()
            ticker.join(timeout=5)
            pid_file = out / "prometheus.pid"
            pid = int(pid_file.read_text()) if pid_file.exists() else None
            stop_stack(out, io.StringIO())
    if pid is not None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}/cmdline").exists() and Path(
                f"/proc/{pid}/cmdline").read_bytes():  # fmt: skip
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()


# ----------------------------------------------------------------------------------------- the demo


def _installed_env(tmp_path: Path) -> dict[str, str]:
    """A dist-info declaring both systems' entry points (what pip leaves once pyproject lists them)."""
    root = tmp_path / "site"
    info = root / "lukhas_obs_seed_systems-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lukhas-obs-seed-systems\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nwiltonos = lukhas_obs.systems.wiltonos:SYSTEM\n"
        "auris_self = lukhas_obs.systems.auris_self:SYSTEM\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_", "AURIS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(ROOT)])
    return env


def _families(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


@pytest.mark.e2e
def test_the_demo_runs_and_serves_every_seed_name(tmp_path):
    code = "import sys; from lukhas_obs.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--system", "wiltonos", "--duration", "60", "--port", "0",
         "--traces-file", str(tmp_path / "t.jsonl")],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_installed_env(tmp_path),
    )  # fmt: skip
    try:
        url = None
        for line in proc.stderr:
            match = re.search(r"metrics: (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "the demo did not print its metrics URL"
        deadline = time.monotonic() + 30
        missing = list(SEED_METRICS)
        while missing and time.monotonic() < deadline:
            body = _families(url)
            missing = [name for name in SEED_METRICS if not _sample_labels(body, name)[0]]
            time.sleep(0.2)
        assert missing == []
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0 and "telemetry flushed=True" in rest, rest
        assert re.search(r"done: \d+ iterations .*collapses=\d+ doses=\d+ reads_failed=0", rest), rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_first_scrape_after_a_late_registration_answers(tmp_path):
    """The system imported after configure() (as the demo does): the first Φ is set inside a scrape, where binding
    its rate of change used to wait for ever for the lock the SDK's collection holds."""
    code = textwrap.dedent(
        f"""
        import json, sys, urllib.request
        import lukhas_obs
        telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
        from lukhas_obs.systems.wiltonos.statefiles import StateFileCollector
        open({str(tmp_path / "quantum_state.json")!r}, "w").write(json.dumps({{"phi": 0.75}}))
        StateFileCollector({str(tmp_path)!r}).install()
        body = urllib.request.urlopen(telemetry.metrics_url, timeout=5).read().decode()
        sys.exit(0 if "wiltonos_quantum_coherence_ratio 0.75" in body else 3)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_docs_show_how_to_run_the_demo_and_the_exporter():
    text = (ROOT / "docs" / "SYSTEMS.md").read_text(encoding="utf-8")
    assert "lukhas-obs demo --system wiltonos" in text
    assert "python -m lukhas_obs_examples.wiltonos" in text
    assert "python -m lukhas_obs_examples.wiltonos.bootstrap" in text
