"""AURIS SELF (seed 004) as a lukhas-obs system: SELF gauges, off switch, fail-safe hook, replay, operator API, ladder.

The four seed gauges are scraped with their kind and their one label; hostile token ids and scores are dropped and
counted without ever raising or leaking a credential; ``AURIS_METRICS_EXP=off`` turns off these metrics only; an
export that fails inside the SDK never breaks the SELF tick; ``lukhas-obs replay FILE --system auris_self`` is
compared with an independent computation (``statistics``, numpy); ``/self/health`` and ``/self/canary`` keep the
seed's JSON shapes and validate, audit and refuse as documented; the rules pass promtool; and the canary ladder
advances, holds and rolls back against a real Prometheus scraping the example service's ``/metrics/exp``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy
import pytest
import yaml

import lukhas_obs
from lukhas_obs import aggregation, drops
from lukhas_obs.catalog import load_catalog
from lukhas_obs.catalog.yamlfile import read_yaml
from lukhas_obs.generate import generate
from lukhas_obs.generate.output import write_files
from lukhas_obs.instruments import GaugeHandle
from lukhas_obs.slotools import register_cli as slotools_cli
from lukhas_obs.slotools.evaluate import evaluate
from lukhas_obs.slotools.promapi import PrometheusClient
from lukhas_obs.slotools.targets import load_targets
from lukhas_obs.systems import ENTRY_POINT_GROUP, register_system
from lukhas_obs.systems import _local as _registered_systems
from lukhas_obs.systems.auris_self import SWITCH, SYSTEM
from lukhas_obs.systems.auris_self import metrics as m
from lukhas_obs.systems.wiltonos import SYSTEM as WILTONOS
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

ROOT = Path(__file__).resolve().parent.parent
IDENTITY = Path(__file__).resolve().parent / "data" / "auris_identity.jsonl"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def auris_system():
    """The system known in-process (as its entry point will make it), and only during the test."""
    register_system(SYSTEM)
    yield SYSTEM
    _registered_systems.pop(SYSTEM.name, None)
    _registered_systems.pop(WILTONOS.name, None)


def _configure(**kwargs):
    return lukhas_obs.configure(prometheus_port=0, traces_exporter="none", **kwargs)


def _self_lines(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("self_")]


def _dropped(telemetry, metric: str) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value
        for s in scrape(telemetry.metrics_url).samples("lukhas_obs_dropped_measurements_total")
        if s.labels["metric"] == metric
    }


# ------------------------------------------------------------------------------------------ the seed's gauges


@pytest.mark.parametrize("aggregation_name", ["own", "sdk"])
def test_every_seed_name_is_a_gauge_with_only_token_id(aggregation_name):
    from prometheus_client.parser import text_string_to_metric_families

    telemetry = _configure(aggregation=aggregation_name)
    assert m.update_self_metrics("tok-1", coherence=0.95, continuity=0.98, presence=1.0, stress=0.12)
    assert m.update_self_metrics("tok-2", 0.0, 1.0, 0.5, 1.0)  # the edge values are scores (seed: 0.0 and 1.0)
    families = {f.name: f for f in text_string_to_metric_families(scrape(telemetry.metrics_url).body)}
    values = {}
    for name in m.SELF_METRICS:
        family = families[name]
        assert family.type == "gauge", name
        assert {frozenset(s.labels) for s in family.samples} == {frozenset({"token_id"})}, name
        values[name] = {s.labels["token_id"]: s.value for s in family.samples}
    assert values == {
        "self_coherence": {"tok-1": 0.95, "tok-2": 0.0},
        "self_continuity": {"tok-1": 0.98, "tok-2": 1.0},
        "self_presence": {"tok-1": 1.0, "tok-2": 0.5},
        "self_stress": {"tok-1": 0.12, "tok-2": 1.0},
    }  # multiple tokens: isolated labels


def test_the_catalog_declares_token_id_non_secret_and_the_switch():
    catalog = load_catalog(SYSTEM.catalogs[0])
    assert [spec.name for spec in catalog.metrics] == list(m.SELF_METRICS)
    for spec in catalog.metrics:
        assert spec.switch == SWITCH == "AURIS_METRICS_EXP"
        assert spec.attribute("token_id").secret is False
        assert spec.label_names == ("token_id",)


@pytest.mark.parametrize(
    ("scores", "reason"),
    [
        ((float("nan"), 0.9, 0.9, 0.1), "nan"),
        ((float("inf"), 0.9, 0.9, 0.1), "infinite"),
        ((1.0000001, 0.9, 0.9, 0.1), "out_of_range"),
        ((-0.0001, 0.9, 0.9, 0.1), "out_of_range"),
        (("0.9", 0.9, 0.9, 0.1), "not_a_number"),
        ((True, 0.9, 0.9, 0.1), "not_a_number"),
        ((None, 0.9, 0.9, 0.1), "not_a_number"),
        ((10**400, 0.9, 0.9, 0.1), "not_a_number"),
    ],
    ids=["nan", "inf", "above", "below", "string", "bool", "none", "huge-int"],
)
def test_a_bad_score_is_dropped_alone(scores, reason):
    telemetry = _configure()
    assert m.update_self_metrics("tok-1", *scores) is True
    lines = _self_lines(scrape(telemetry.metrics_url).body)
    assert not any(line.startswith("self_coherence") for line in lines)
    assert 'self_continuity{token_id="tok-1"} 0.9' in lines and 'self_stress{token_id="tok-1"} 0.1' in lines
    assert _dropped(telemetry, "self_coherence") == {reason: 1.0}


class HostileFloat(float):
    def __float__(self) -> float:
        raise RuntimeError("no")


class HostileStr(str):
    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __len__(self) -> int:
        raise RuntimeError("len")


def test_hostile_values_never_raise_and_are_counted(caplog):
    telemetry = _configure()
    drops.reset_warnings()
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        assert m.update_self_metrics(HostileStr("tok-h"), 0.5, 0.5, 0.5, 0.5) is True  # exported as plain text
        assert m.update_self_metrics("tok-2", HostileFloat(0.5), 0.5, 0.5, 0.5) is True
        for bad in ("", "x" * (m.MAX_TOKEN_ID_LENGTH + 1), "tok\n1", "tok\udcff", 42, None, b"tok", object()):
            assert m.update_self_metrics(bad, 0.5, 0.5, 0.5, 0.5) is False  # type: ignore[arg-type]
        for secret in (JWT, "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "AKIAIOSFODNN7EXAMPLE"):
            assert m.update_self_metrics(secret, 0.5, 0.5, 0.5, 0.5) is False
    body = scrape(telemetry.metrics_url).body
    assert 'self_coherence{token_id="tok-h"} 0.5' in body
    assert 'self_coherence{token_id="tok-2"}' not in body and 'self_continuity{token_id="tok-2"} 0.5' in body
    assert len(_self_lines(body)) == 4 + 3
    assert _dropped(telemetry, m.WHERE) == {"invalid_attribute_value": 8.0}
    assert _dropped(telemetry, m.CREDENTIAL_WHERE) == {"invalid_attribute_value": 3.0}
    for secret in (JWT, "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in body and secret not in caplog.text  # never in any signal or log
    assert "shaped like a credential" in caplog.text


def test_cardinality_is_bounded_with_one_warning(caplog):
    telemetry = _configure(cardinality_limits={"self_stress": 3})  # the smallest limit of the four bounds them all
    drops.reset_warnings()
    assert m.token_limit() == 3
    with caplog.at_level(logging.WARNING, logger="lukhas_obs"):
        admitted = [m.update_self_metrics(f"tok-{i}", 0.9, 0.9, 0.9, 0.1) for i in range(10)]
        assert m.update_self_metrics("tok-1", 0.8, 0.9, 0.9, 0.2)  # an exported token keeps updating
    assert admitted == [True] * 3 + [False] * 7
    lines = _self_lines(scrape(telemetry.metrics_url).body)
    assert len(lines) == 4 * 3 and 'self_coherence{token_id="tok-1"} 0.8' in lines
    warnings = [r for r in caplog.records if "cardinality_limit" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert _dropped(telemetry, m.WHERE) == {"cardinality_limit": 7.0}
    assert all(_dropped(telemetry, name) == {} for name in m.SELF_METRICS)  # the handles never hit theirs
    lukhas_obs.shutdown()
    telemetry = _configure()  # a new configuration starts a new set of tokens
    assert m.update_self_metrics("tok-9", 0.9, 0.9, 0.9, 0.1)


# ------------------------------------------------------------------------------------------------ the off switch


@pytest.mark.parametrize("off", ["off", "false", "0", "no", "OFF "])
def test_the_off_switch_turns_off_these_metrics_only(monkeypatch, off):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setenv(SWITCH, off)
    telemetry = _configure()
    spans = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    assert m.update_self_metrics("tok-1", 0.9, 0.9, 0.9, 0.1) is True  # a no-op, never an error
    lukhas_obs.counter("lukhas_memory_docs_total").add(3)
    lukhas_obs.counter("lukhas_memory_docs_total").add(float("nan"))  # self-telemetry still counts this drop
    with lukhas_obs.span("self.tick"):
        pass
    body = scrape(telemetry.metrics_url).body
    assert _self_lines(body) == []
    assert "lukhas_memory_docs_total" in body  # another system
    assert 'lukhas_obs_dropped_measurements_total{lane="candidate",metric="lukhas_memory_docs_total"' in body
    assert [s.name for s in spans.get_finished_spans()] == ["self.tick"]  # traces
    assert "lukhas_obs_dropped" not in body or "self_" not in body  # off is not an error
    exp, _ = lukhas_obs.render_exposition(names=m.SELF_METRICS)
    assert b"self_" not in exp
    lukhas_obs.shutdown()
    monkeypatch.setenv(SWITCH, "on")
    telemetry = _configure()
    m.update_self_metrics("tok-1", 0.9, 0.9, 0.9, 0.1)
    assert len(_self_lines(scrape(telemetry.metrics_url).body)) == 4


# --------------------------------------------------------------------------------------------- the fail-safe hook


def _manager(tmp_path: Path):
    from lukhas_obs_examples.auris_self.manager import SelfManager

    return SelfManager(tokens=("tok-1",), identity_path=tmp_path / "identity.jsonl", noise=0.0)


def test_the_sdk_failing_never_breaks_the_tick(tmp_path, monkeypatch):
    from opentelemetry.sdk.metrics._internal.instrument import _Gauge

    telemetry = _configure(aggregation="sdk")

    def down(self, *args, **kwargs):
        raise RuntimeError("prometheus unavailable")

    monkeypatch.setattr(_Gauge, "set", down)
    manager = _manager(tmp_path)
    states = [manager.update("tok-1") for _ in range(3)]
    assert [s.token_id for s in states] == ["tok-1"] * 3 and manager.ticks == 3  # the tick went on
    assert len((tmp_path / "identity.jsonl").read_text().splitlines()) == 3  # and wrote its heartbeats
    assert _dropped(telemetry, "self_coherence") == {"internal_error": 3.0}


def test_the_own_aggregation_failing_never_breaks_the_tick(tmp_path, monkeypatch):
    telemetry = _configure(aggregation="own")

    real_series = aggregation.MetricState.series

    def broken(self, *args, **kwargs):
        if self.name.startswith("self_"):  # the SELF metrics' aggregation fails; self-telemetry still counts
            raise MemoryError("no series")
        return real_series(self, *args, **kwargs)

    monkeypatch.setattr(aggregation.MetricState, "series", broken)
    manager = _manager(tmp_path)
    assert manager.update("tok-1").token_id == "tok-1"
    assert _dropped(telemetry, "self_stress").get("internal_error", 0) >= 1


def test_a_handle_that_raises_never_reaches_the_caller(tmp_path, monkeypatch):
    telemetry = _configure()

    def escapes(self, *args, **kwargs):
        raise RuntimeError("a bug in the export path")

    monkeypatch.setattr(type(m._gauges[0]), "set", escapes)  # the handle class of the SELF gauges
    assert isinstance(m._gauges[0], GaugeHandle)
    assert m.update_self_metrics("tok-1", 0.9, 0.9, 0.9, 0.1) is False
    assert _manager(tmp_path).update("tok-1").token_id == "tok-1"
    assert _dropped(telemetry, m.WHERE) == {"internal_error": 2.0}


def test_the_hook_swallows_bad_states_and_keeps_the_ticks_own_outcome():
    telemetry = _configure()

    class Broken:
        token_id = "tok-1"

        @property
        def coherence(self) -> float:
            raise RuntimeError("no state")

    assert m.export_self_state(Broken()) is False
    assert m.export_self_state({"token_id": "tok-1"}) is False  # missing scores
    assert m.export_self_state(42) is False
    assert m.export_self_state({"token_id": "tok-1", "coherence": 0.9, "continuity": 0.9, "presence": 0.9,
                                "stress": 0.1}) is True  # fmt: skip
    assert _dropped(telemetry, m.HOOK_WHERE) == {"callback_error": 3.0}

    @m.exported
    def tick(fail: bool) -> dict[str, Any] | None:
        if fail:
            raise ValueError("the tick's own error")
        return None

    with pytest.raises(ValueError, match="the tick's own error"):
        tick(True)
    assert tick(False) is None


def test_updates_before_configure_are_harmless():
    assert lukhas_obs.active() is None
    assert m.update_self_metrics("tok-1", 0.9, 0.9, 0.9, 0.1) is True


# ----------------------------------------------------------------------------------------------------- replay


def _independent(path: Path, count: int = 0) -> dict[str, Any]:
    """Averages and percentiles computed here, from the raw lines, with statistics and numpy."""
    beats = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("kind") == "heartbeat":
            beats.append(obj)
    window = beats[-count:] if count else beats
    out: dict[str, Any] = {"total": len(beats), "analyzed": len(window)}
    for field in ("coherence", "continuity", "presence", "stress"):
        values = [b[field] for b in window if type(b.get(field)) in (int, float)]
        out[field] = {
            "n": len(values),
            "avg": statistics.fmean(values),
            **{f"p{q}": float(numpy.percentile(values, q)) for q in (50, 95, 99)},
        }
    return out


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lukhas-obs")
    slotools_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("count", [0, 50, 10])
def test_replay_with_the_systems_targets_matches_an_independent_computation(capsys, count):
    args = _cli(["replay", str(IDENTITY), "--system", "auris_self", "--json", "--count", str(count)])
    code = args.handler(args)
    document = json.loads(capsys.readouterr().out)
    expected = _independent(IDENTITY, count)
    assert document["heartbeats"]["total"] == expected["total"] == 60
    assert document["heartbeats"]["analyzed"] == expected["analyzed"]
    assert document["skipped_lines"] == {"corrupt": 1, "other": 2, "too_long": 0}
    for field in ("coherence", "continuity", "presence", "stress"):
        got, want = document["fields"][field], expected[field]
        assert got["n"] == want["n"], field
        for key in ("avg", "p50", "p95", "p99"):
            assert math.isclose(got[key], want[key], rel_tol=1e-12), (field, key)
    targets = {t["name"]: t for t in document["targets"]}
    assert [(n, t["comparison"], t["threshold"]) for n, t in targets.items()] == [
        ("coherence", ">=", 0.8), ("continuity", ">=", 0.9), ("stress", "<=", 0.3),
    ]  # fmt: skip
    for name, target in targets.items():
        holds = {">=": target["actual"] >= target["threshold"], "<=": target["actual"] <= target["threshold"]}
        assert target["status"] == ("pass" if holds[target["comparison"]] else "fail"), name
        assert math.isclose(target["actual"], expected[name]["avg"], rel_tol=1e-12)
    assert code == document["exit_code"] == (0 if all(t["status"] == "pass" for t in targets.values()) else 1)


def test_replay_prints_the_seeds_report_and_fails_a_failed_target(capsys, tmp_path):
    args = _cli(["replay", str(IDENTITY), "--system", "auris_self"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    expected = _independent(IDENTITY, 50)
    assert "📊 Analyzing last 50 heartbeats (of 60 total)" in out
    assert "🎯 SLO Status (Phase C):" in out and "🟢 ALL SLO TARGETS PASSED" in out
    assert f"[✅ PASS] stress <= 0.30       (actual: {expected['stress']['avg']:.3f})" in out
    stressed = tmp_path / "identity.jsonl"
    stressed.write_text("".join(json.dumps({"kind": "heartbeat", "coherence": 0.9, "continuity": 0.95,
                                            "presence": 1.0, "stress": 0.5}) + "\n" for _ in range(5)))  # fmt: skip
    args = _cli(["replay", str(stressed), "--system", "auris_self"])
    assert args.handler(args) == 1
    assert "[❌ FAIL] stress <= 0.30       (actual: 0.500)" in capsys.readouterr().out


def test_replay_and_canary_name_bad_systems(capsys):
    args = _cli(["replay", str(IDENTITY), "--system", "nope"])
    assert args.handler(args) == 2
    assert "unknown system 'nope'" in capsys.readouterr().err
    register_system(WILTONOS)
    args = _cli(["replay", str(IDENTITY), "--system", "wiltonos"])
    assert args.handler(args) == 2
    assert "no catalog of system wiltonos has a slo_targets: section" in capsys.readouterr().err
    args = _cli(["canary", "--prometheus", "http://127.0.0.1:1", "--system", "nope", "--once"])
    assert args.handler(args) == 2
    with pytest.raises(SystemExit):
        _cli(["replay", str(IDENTITY), "--system", "auris_self", "--targets", "t.yaml"])
    with pytest.raises(SystemExit):
        _cli(["canary", "--prometheus", "http://127.0.0.1:1", "--once"])  # --targets or --system is required
    assert m.phase_c_targets().title == "Phase C"


# --------------------------------------------------------------------------------------------- the operator API


@pytest.fixture
def context(tmp_path):
    from lukhas_obs_examples.auris_self.canary import CanaryStore
    from lukhas_obs_examples.auris_self.service import AurisSelf

    store = CanaryStore(tmp_path / "canary.env", tmp_path / "canary-audit.jsonl", environ={})
    return AurisSelf(tmp_path / "identity.jsonl", store, environ={})


@pytest.fixture
def client(context):
    pytest.importorskip("fastapi")
    from lukhas_obs_examples.auris_self.api import create_app
    from starlette.testclient import TestClient

    _configure()
    with TestClient(create_app(context), follow_redirects=False) as test_client:
        yield test_client


def test_health_has_the_seeds_shape_and_replays_numbers(client, context):
    context.identity_path.write_bytes(IDENTITY.read_bytes())
    document = client.get("/self/health").json()
    assert list(document) == ["enabled", "canary_sampling", "heartbeat_count", "last_heartbeat", "averages",
                              "slo_status"]  # fmt: skip
    expected = _independent(IDENTITY, 50)
    assert document["enabled"] is True and document["canary_sampling"] == 0.05
    assert document["heartbeat_count"] == 60
    last = [json.loads(line) for line in IDENTITY.read_text().splitlines() if line.endswith("}")][-1]
    assert last["kind"] == "heartbeat" and last["ts"] == 1730800295
    assert document["last_heartbeat"] == {"kind": "heartbeat", **{k: last[k] for k in m.FIELDS}}
    assert list(document["averages"]) == list(m.FIELDS)
    for field in m.FIELDS:
        assert math.isclose(document["averages"][field], expected[field]["avg"], rel_tol=1e-12)
    assert document["slo_status"] == {
        "coherence_slo": expected["coherence"]["avg"] >= 0.80,
        "continuity_slo": expected["continuity"]["avg"] >= 0.90,
        "stress_slo": expected["stress"]["avg"] <= 0.30,
    }
    context.environ["AURIS_SELF"] = "off"
    assert client.get("/self/health").json()["enabled"] is False


def test_health_without_heartbeats_and_on_a_huge_file(client, context, monkeypatch):
    from lukhas_obs_examples.auris_self import service

    document = client.get("/self/health").json()
    assert document["heartbeat_count"] == 0 and document["last_heartbeat"] is None
    assert document["averages"] == dict.fromkeys(m.FIELDS) and not any(document["slo_status"].values())
    context.identity_path.write_bytes(IDENTITY.read_bytes())
    monkeypatch.setattr(service, "HEALTH_MAX_BYTES", 3000)  # only the end is read
    document = client.get("/self/health").json()
    assert document["heartbeat_count_is_lower_bound"] is True
    assert 0 < document["heartbeat_count"] < 60


def test_a_canary_change_answers_the_seeds_shape_and_is_audited(client, context):
    body = {"new_sampling": 0.25, "reason": "Advancing to 25% after 24h green metrics"}
    response = client.post("/self/canary", json=body)
    assert response.status_code == 200
    assert response.json() == {
        "success": True, "old_sampling": 0.05, "new_sampling": 0.25,
        "reason": "Advancing to 25% after 24h green metrics",
        "note": "⚠️  Restart required: systemctl restart atlas-api",
    }  # fmt: skip
    assert context.store.sampling_file.read_text() == "AURIS_SELF_CANARY=0.25\n"
    assert client.get("/self/health").json()["canary_sampling"] == 0.25
    assert client.post("/self/canary", json={"new_sampling": 1, "reason": "  full rollout  "}).status_code == 200
    (first, second) = context.store.audit_records()
    assert (first["old_sampling"], first["new_sampling"], first["reason"], first["source"]) == (
        0.05, 0.25, "Advancing to 25% after 24h green metrics", "api",
    )  # fmt: skip
    assert (second["old_sampling"], second["new_sampling"], second["reason"]) == (0.25, 1.0, "full rollout")
    assert first["variable"] == "AURIS_SELF_CANARY" and first["at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"new_sampling": 0, "reason": "off"}, 422, "new_sampling"),
        ({"new_sampling": 1.0000001, "reason": "x"}, 422, "new_sampling"),
        ({"new_sampling": -0.5, "reason": "x"}, 422, "new_sampling"),
        ({"new_sampling": "0.25", "reason": "x"}, 422, "new_sampling"),
        ({"new_sampling": True, "reason": "x"}, 422, "new_sampling"),
        ({"new_sampling": None, "reason": "x"}, 422, "new_sampling"),
        ({"reason": "x"}, 422, "new_sampling"),
        ({"new_sampling": 0.25}, 422, "reason"),
        ({"new_sampling": 0.25, "reason": ""}, 422, "reason"),
        ({"new_sampling": 0.25, "reason": " \t "}, 422, "reason"),
        ({"new_sampling": 0.25, "reason": 42}, 422, "reason"),
        ({"new_sampling": 0.25, "reason": "x" * 1001}, 422, "reason"),
        ({"new_sampling": 0.25, "reason": "a\x00b"}, 422, "reason"),
        ({"new_sampling": 0.25, "reason": "why", "force": True}, 422, None),
        ([0.25, "why"], 400, None),
    ],
)
def test_invalid_canary_requests_change_nothing(client, context, body, status, field):
    response = client.post("/self/canary", json=body)
    assert response.status_code == status, response.json()
    document = response.json()
    assert document["success"] is False and document.get("field") == field
    assert not context.store.sampling_file.exists() and context.store.audit_records() == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"new_sampling": 1' + b"0" * 500 + b', "reason": "x"}',  # a huge integer: float() would overflow
        b'{"new_sampling": NaN, "reason": "x"}',
        b'{"new_sampling": 0.25, "reason": "\\ud800"}',  # a lone surrogate
        b'{"new_sampling": 0.25, "reason": "x"',
        b"\xff\xfe",
        b"[" * 50_000 + b"]" * 50_000,
    ],
    ids=["huge-int", "nan", "surrogate", "torn", "not-utf8", "deep"],
)
def test_hostile_canary_bodies_are_refused_without_a_500(client, context, raw):
    response = client.post("/self/canary", content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 413, 422), response.text
    assert response.json()["success"] is False
    assert not context.store.sampling_file.exists() and context.store.audit_records() == []


def test_a_huge_body_is_refused_before_it_is_read(client, context):
    response = client.post("/self/canary", content=b"x" * (1 << 20))
    assert response.status_code == 413 and not context.store.sampling_file.exists()


def test_the_operator_token_guards_changes(context):
    pytest.importorskip("fastapi")
    from lukhas_obs_examples.auris_self.api import create_app
    from starlette.testclient import TestClient

    with TestClient(create_app(context, operator_token="s3cret-operator")) as guarded:
        body = {"new_sampling": 0.1, "reason": "x"}
        assert guarded.post("/self/canary", json=body).status_code == 401
        wrong = guarded.post("/self/canary", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "s3cret" not in wrong.text
        ok = guarded.post("/self/canary", json=body, headers={"Authorization": "Bearer s3cret-operator"})
        assert ok.status_code == 200
        assert guarded.get("/self/health").status_code == 200  # reading is not guarded


def test_a_change_whose_audit_line_fails_is_undone(client, context, monkeypatch):
    from lukhas_obs_examples.auris_self import canary

    assert client.post("/self/canary", json={"new_sampling": 0.1, "reason": "first"}).status_code == 200
    before_file = context.store.sampling_file.read_text()
    before_audit = context.store.audit_log.read_text()
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the sampling file is synced, the audit line is not
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(canary.os, "fsync", failing_fsync)
    response = client.post("/self/canary", json={"new_sampling": 0.5, "reason": "second"})
    assert response.status_code == 500 and response.json()["success"] is False
    assert context.store.sampling_file.read_text() == before_file  # the change is undone
    assert context.store.audit_log.read_text() == before_audit  # and no half record stays behind


def test_the_store_reads_the_variable_and_ignores_bad_values(tmp_path):
    from lukhas_obs_examples.auris_self.canary import CanaryStore

    store = CanaryStore(tmp_path / "c.env", tmp_path / "a.jsonl", environ={"AURIS_SELF_CANARY": "0.10"})
    assert store.current() == 0.10
    for bad in ("nan", "2", "-1", "abc", "1_0", "inf", "x" * 100):
        assert CanaryStore(tmp_path / "c.env", tmp_path / "a.jsonl", environ={"AURIS_SELF_CANARY": bad}).current() == (
            0.05
        ), bad
    (tmp_path / "c.env").write_text("OTHER=1\nAURIS_SELF_CANARY=0.5\n")
    assert store.current() == 0.5


def test_metrics_exp_serves_only_the_self_metrics_without_redirect(client):
    m.update_self_metrics("tok-1", 0.9, 0.95, 1.0, 0.2)
    lukhas_obs.counter("lukhas_memory_docs_total").add(1)
    response = client.get("/metrics/exp")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {line.split()[2] for line in response.text.splitlines() if line.startswith("# TYPE")}
    assert families == set(m.SELF_METRICS)
    assert [line for line in response.text.splitlines() if "self_" in line and not line.startswith("#")] == [
        'self_coherence{token_id="tok-1"} 0.9', 'self_continuity{token_id="tok-1"} 0.95',
        'self_presence{token_id="tok-1"} 1.0', 'self_stress{token_id="tok-1"} 0.2',
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------- promtool


@pytest.mark.e2e
def test_the_phase_c_rules_pass_promtool_exactly_as_in_the_seed(tmp_path):
    files = write_files(tmp_path, generate(["rules", "tests"], [load_catalog(SYSTEM.catalogs[0])]))
    (rules_file,) = [p for p in files if "/rules/" in p.as_posix()]
    (test_file,) = [p for p in files if "/tests/" in p.as_posix()]
    (group,) = yaml.safe_load(rules_file.read_text())["groups"]
    assert group["name"] == "auris-self-phase-c"
    assert [(r["alert"], r["expr"], r["for"], r["labels"]["severity"]) for r in group["rules"]] == [
        ("AURIS_SELF_Coherence_Drop", "avg_over_time(self_coherence[5m]) < 0.80", "5m", "warning"),
        ("AURIS_SELF_Continuity_Drop", "avg_over_time(self_continuity[5m]) < 0.90", "5m", "warning"),
        ("AURIS_SELF_Stress_High", "avg_over_time(self_stress[5m]) > 0.30", "5m", "warning"),
    ]
    promtool = require_binary("promtool")
    assert run_tool([promtool, "check", "rules", str(rules_file)]).returncode == 0
    result = run_tool([promtool, "test", "rules", test_file.name], cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = yaml.safe_load(test_file.read_text())["tests"]
    fires = {c["alertname"] for case in cases for c in case["alert_rule_test"] if c["exp_alerts"]}
    silent = {c["alertname"] for case in cases for c in case["alert_rule_test"] if not c["exp_alerts"]}
    assert fires == silent == {r["alert"] for r in group["rules"]}
    text = rules_file.read_text()
    rules_file.write_text(text.replace("        for: 5m\n", ""))  # every `for` is proven by a silent case
    result = run_tool([promtool, "test", "rules", test_file.name], cwd=test_file.parent)
    failed = set(re.findall(r"alertname: (\w+)", result.stdout + result.stderr))
    assert result.returncode != 0 and failed == fires


# ------------------------------------------------- the canary ladder against a real Prometheus and the example


E2E_RULES = """\
groups:
  - name: auris-e2e
    rules:
      - alert: AURIS_SELF_E2E_Stress_Spike
        expr: max(self_stress) > 0.6
        for: 0s
        labels: {severity: warning}
        annotations: {summary: a stress spike (the test's fast alert; the seed's own alerts need 5 minutes)}
"""


class _Server:
    """The example service on uvicorn in a thread (real HTTP on 127.0.0.1), stopped in ``close``."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for("uvicorn", lambda: self.server.started, timeout=10, interval=0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.mark.e2e
def test_the_canary_ladder_advances_holds_and_rolls_back_against_a_real_prometheus(tmp_path, context, capsys):
    pytest.importorskip("uvicorn")
    from lukhas_obs_examples.auris_self.api import create_app
    from lukhas_obs_examples.auris_self.canary import autotune
    from lukhas_obs_examples.auris_self.manager import SelfManager

    from lukhas_obs.slotools.canary import LadderPolicy

    binary = require_binary("prometheus")
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    manager = SelfManager(tokens=("tok-1", "tok-2"), identity_path=context.identity_path, noise=0.0)
    stop = threading.Event()

    def ticks() -> None:
        while not stop.wait(0.2):
            manager.tick_all()

    ticker = threading.Thread(target=ticks, daemon=True)
    ticker.start()
    server = _Server(create_app(context))
    files = write_files(tmp_path, generate(["rules"], [load_catalog(SYSTEM.catalogs[0])]))
    e2e_rules = tmp_path / "e2e_rules.yml"
    e2e_rules.write_text(E2E_RULES)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in [*files, e2e_rules]],
        "scrape_configs": [{"job_name": "auris", "metrics_path": "/metrics/exp",
                            "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}]}],
    }))  # fmt: skip
    port = free_port()
    log = tmp_path / "prometheus.log"
    proc = start_process([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{port}"], log)  # fmt: skip
    try:
        api = PrometheusApi(f"http://127.0.0.1:{port}")
        wait_for(f"prometheus ready ({tail(log, 500)})", api.ready, timeout=30)
        client = PrometheusClient(api.base_url, timeout=5)
        wait_for("4 samples per SELF series in 5s", lambda: len(client.query(
            "count_over_time(self_stress[5s]) >= 4").samples) == 2, timeout=30)  # fmt: skip

        def evaluated() -> dict[str, str] | None:
            rules = {r["name"]: r["health"] for g in api.rule_groups() for r in g["rules"]}
            return rules if "unknown" not in rules.values() else None

        assert wait_for("the rules evaluated", evaluated, timeout=20) == dict.fromkeys(
            ["AURIS_SELF_Coherence_Drop", "AURIS_SELF_Continuity_Drop", "AURIS_SELF_Stress_High",
             "AURIS_SELF_E2E_Stress_Spike"], "ok")  # fmt: skip
        (target,) = api.targets()
        assert target["health"] == "up" and target["scrapeUrl"].endswith("/metrics/exp")

        section = read_yaml(SYSTEM.catalogs[0]).data["slo_targets"]  # the catalog's targets, over 5 s windows
        targets = load_targets({**section, "window": "5s",
                                "targets": [{**t, "min_samples": 3} for t in section["targets"]]})  # fmt: skip
        state = tmp_path / "ladder.json"
        policy = LadderPolicy(min_dwell=0)

        first = autotune(client, context.store, state, targets=targets, policy=policy)
        assert (first.action, first.current, first.next) == ("advance", 5.0, 10.0), first.reason
        second = autotune(client, context.store, state, targets=targets, policy=policy)
        assert (second.action, second.next) == ("advance", 25.0), second.reason
        assert context.store.current() == 0.25

        manager.set_profile("tok-2", (0.95, 0.97, 0.99, 0.45))  # stress above 0.30, below the spike alert

        def stress_fails() -> bool:
            return {r.target.name: r.status for r in evaluate(client, targets).results}["stress"] == "fail"

        wait_for("stress to fail its target", stress_fails, timeout=20, interval=0.5)
        held = autotune(client, context.store, state, targets=targets, policy=policy)
        assert (held.action, held.next) == ("hold", 25.0) and "failed: stress" in held.reason, held.reason
        assert "token_id='tok-2'" in held.reason

        manager.set_profile("tok-2", (0.95, 0.97, 0.99, 0.95))
        wait_for("the spike alert to fire", lambda: any(a.firing for a in client.alerts()), timeout=20,
                 interval=0.5)  # fmt: skip
        rolled = autotune(client, context.store, state, targets=targets, policy=policy)
        assert (rolled.action, rolled.current, rolled.next) == ("rollback", 25.0, 5.0), rolled.reason
        assert rolled.firing == ("AURIS_SELF_E2E_Stress_Spike",)

        records = context.store.audit_records()
        assert [(r["source"], r["old_sampling"], r["new_sampling"]) for r in records] == [
            ("canary-ladder", 0.05, 0.1), ("canary-ladder", 0.1, 0.25), ("canary-ladder", 0.25, 0.05),
        ]  # fmt: skip
        assert records[0]["reason"] == "canary ladder advance 5% -> 10%: every SLO target held over its window"
        assert records[2]["reason"] == "canary ladder rollback 25% -> 5%: an alert was firing"
        assert context.store.sampling_file.read_text() == "AURIS_SELF_CANARY=0.05\n"

        # the CLI with the system's own (10m) targets: at the first step with an alert firing, it holds
        args = _cli(["canary", "--prometheus", api.base_url, "--system", "auris_self", "--once", "--json",
                     "--state", str(tmp_path / "cli-state.json"), "--min-dwell", "0"])  # fmt: skip
        assert args.handler(args) == 0
        decision = json.loads(capsys.readouterr().out)
        assert decision["action"] == "hold" and "AURIS_SELF_E2E_Stress_Spike" in decision["firing_alerts"]

        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics/exp", timeout=5) as response:
            body = response.read().decode()  # the seed's `curl …/metrics/exp | grep self_`
        assert {line.split("{")[0] for line in body.splitlines() if line.startswith("self_")} == set(m.SELF_METRICS)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/self/health", timeout=5) as response:
            health = json.loads(response.read())
        assert health["canary_sampling"] == 0.05 and health["heartbeat_count"] > 0
    finally:
        stop_process(proc)
        server.close()
        stop.set()
        ticker.join(timeout=5)


# -------------------------------------------------------------------------------------- demo and example service


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


@pytest.mark.e2e
def test_the_demo_runs_and_serves_every_seed_name(tmp_path):
    code = "import sys; from lukhas_obs.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--system", "auris_self", "--duration", "60", "--port", "0",
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
        tokens: dict[str, set[str]] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = scrape(url).body
            tokens = {name: {s.labels["token_id"] for s in scrape(url).samples(name)} for name in m.SELF_METRICS}
            if all(t == {"tok-1", "tok-2", "tok-3"} for t in tokens.values()):
                break
            time.sleep(0.2)
        assert all(t == {"tok-1", "tok-2", "tok-3"} for t in tokens.values()), tokens
        assert "# TYPE self_stress gauge" in body
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0 and "telemetry flushed=True" in rest, rest
        heartbeats = Path(re.search(r"heartbeats=(\S+);", rest).group(1))
        assert heartbeats.name == "identity.jsonl" and heartbeats.stat().st_size > 0
        done = subprocess.run([sys.executable, "-c", code, "replay", str(heartbeats), "--system", "auris_self",
                               "--json"], capture_output=True, text=True, timeout=60,
                              env=_installed_env(tmp_path / "again"))  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        counts = json.loads(done.stdout)["heartbeats"]
        assert counts["total"] >= 3 and counts["analyzed"] == min(50, counts["total"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
def test_the_example_service_runs_as_a_module(tmp_path):
    pytest.importorskip("uvicorn")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_", "AURIS_"))}
    proc = start_process([sys.executable, "-m", "lukhas_obs_examples.auris_self", "--port", str(port),
                          "--data-dir", str(tmp_path / "data"), "--tick", "0.1"], tmp_path / "service.log",
                         env=env)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def exported() -> str | None:
            with urllib.request.urlopen(f"{base}/metrics/exp", timeout=2) as response:
                body = response.read().decode()
            return body if "self_coherence{" in body else None

        body = wait_for(f"/metrics/exp ({tail(tmp_path / 'service.log', 500)})", exported, timeout=30)
        assert {line.split("{")[0] for line in body.splitlines() if line.startswith("self_")} == set(m.SELF_METRICS)
        with urllib.request.urlopen(f"{base}/self/health", timeout=5) as response:
            assert json.loads(response.read())["heartbeat_count"] > 0
    finally:
        assert stop_process(proc) == 0, tail(tmp_path / "service.log")


def test_docs_show_how_to_run_the_demo_and_the_service():
    text = (ROOT / "docs" / "SYSTEMS.md").read_text(encoding="utf-8")
    assert "lukhas-obs demo --system auris_self" in text
    assert "python -m lukhas_obs_examples.auris_self" in text
    assert "lukhas-obs replay data/identity.jsonl --system auris_self" in text
