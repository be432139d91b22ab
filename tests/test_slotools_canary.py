"""Online evaluation queries and the canary ladder's decisions, on fake query results (no server).

The end-to-end behaviour against a real Prometheus is in test_slotools_e2e.py; here every branch of the decision
function, the state file and the sampling callback are checked with results we choose.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from lukhas_obs.errors import ConfigurationError
from lukhas_obs.slotools import register_cli
from lukhas_obs.slotools.canary import (
    CanaryLadder,
    CanaryOptions,
    CanaryStateError,
    LadderPolicy,
    LadderState,
    decide,
    run_canary,
    sampling_file_writer,
)
from lukhas_obs.slotools.evaluate import Evaluation, TargetResult, evaluate, samples_query, value_query
from lukhas_obs.slotools.promapi import Alert, PrometheusError, QueryResult, Sample
from lukhas_obs.slotools.targets import SloTarget, load_targets
from tests.test_slotools_targets import AURIS

NOW = 1_730_800_000.0


def _target(**kw: object) -> SloTarget:
    doc = {"targets": [{"metric": "self_coherence", "comparison": ">=", "threshold": 0.8, **kw}]}
    return load_targets(doc).targets[0]


# ------------------------------------------------------------------------------------------------------ queries


@pytest.mark.parametrize(
    ("kw", "value", "samples"),
    [
        ({}, "avg_over_time(self_coherence[10m])", "count_over_time(self_coherence[10m])"),
        ({"aggregate": "min", "window": "5m"}, "min_over_time(self_coherence[5m])", None),
        ({"aggregate": "max"}, "max_over_time(self_coherence[10m])", None),
        ({"aggregate": "p95"}, "quantile_over_time(0.95, self_coherence[10m])", None),
        ({"aggregate": "p50", "labels": {"token_id": "t1"}},
         'quantile_over_time(0.5, self_coherence{token_id="t1"}[10m])',
         'count_over_time(self_coherence{token_id="t1"}[10m])'),
        ({"metric": "lat_seconds", "kind": "histogram", "aggregate": "p99", "window": "1m"},
         "histogram_quantile(0.99, sum by (le) (rate(lat_seconds_bucket[1m])))",
         "sum(increase(lat_seconds_count[1m]))"),
        ({"metric": "lat_seconds", "kind": "histogram", "labels": {"lane": "canary"}},
         'sum(rate(lat_seconds_sum{lane="canary"}[10m])) / sum(rate(lat_seconds_count{lane="canary"}[10m]))',
         'sum(increase(lat_seconds_count{lane="canary"}[10m]))'),
    ],
)  # fmt: skip
def test_queries(kw: dict[str, object], value: str, samples: str | None) -> None:
    target = _target(**kw)
    assert value_query(target) == value
    if samples is not None:
        assert samples_query(target) == samples


def test_label_values_are_quoted_never_pasted() -> None:
    target = _target(labels={"token_id": 't1"} or vector(1) or x{a="', "b": "back\\slash\nnewline"})
    query = value_query(target)
    assert query == (
        'avg_over_time(self_coherence{b="back\\\\slash\\nnewline",token_id="t1\\"} or vector(1) or x{a=\\""}[10m])'
    )


class FakeClient:
    """Answers ``query(expr, at=)`` from a table and ``alerts()`` from a list; records the queries."""

    def __init__(self, values: dict[str, list[tuple[dict[str, str], float]]] | None = None) -> None:
        self.values = values or {}
        self.alert_list: list[Alert] | PrometheusError = []
        self.queries: list[tuple[str, float | None]] = []
        self.fail: PrometheusError | None = None

    def query(self, expr: str, at: float | None = None) -> QueryResult:
        self.queries.append((expr, at))
        if self.fail is not None:
            raise self.fail
        rows = self.values.get(expr, [])
        return QueryResult("vector", samples=tuple(Sample(labels, v, at or 0.0) for labels, v in rows))

    def alerts(self) -> tuple[Alert, ...]:
        if isinstance(self.alert_list, PrometheusError):
            raise self.alert_list
        return tuple(self.alert_list)


def _healthy(client: FakeClient, targets_doc: dict[str, object], samples: float = 60) -> None:
    """Every target of ``targets_doc`` passes, with ``samples`` samples."""
    for t in load_targets(targets_doc).targets:
        good = t.threshold + (0.05 if t.higher_is_better else -0.05)
        client.values[value_query(t)] = [({"token_id": "a"}, good), ({"token_id": "b"}, good + 0.01)]
        client.values[samples_query(t)] = [({"token_id": "a"}, samples), ({"token_id": "b"}, samples)]


def test_evaluate_worst_series_nan_empty_min_samples_and_errors() -> None:
    coherence = _target(min_samples=10)
    client = FakeClient(
        {
            value_query(coherence): [({"token_id": "a"}, 0.95), ({"token_id": "b"}, 0.79), ({"token_id": "c"}, 0.9)],
            samples_query(coherence): [({"token_id": "a"}, 60), ({"token_id": "b"}, 60), ({"token_id": "c"}, 60)],
        }
    )
    (result,) = evaluate(client, [coherence], at=NOW).results  # type: ignore[arg-type]
    assert (result.status, result.value, result.series, result.samples) == ("fail", 0.79, 3, 60)
    assert "worst of 3 series" in result.reason and "token_id='b'" in result.reason
    assert all(at == NOW for _, at in client.queries)  # one instant for every query

    stress = load_targets({"targets": [{"metric": "self_stress", "comparison": "<=", "threshold": 0.3}]}).targets[0]
    client.values[value_query(stress)] = [({"t": "a"}, 0.1), ({"t": "b"}, 0.25)]
    client.values[samples_query(stress)] = [({"t": "a"}, 5), ({"t": "b"}, 5)]
    (result,) = evaluate(client, [stress], at=NOW).results  # type: ignore[arg-type]
    assert (result.status, result.value) == ("pass", 0.25)  # the highest is the worst for <=

    client.values[samples_query(coherence)] = [({"token_id": "a"}, 60), ({"token_id": "b"}, 3)]
    client.values[value_query(coherence)] = [({"token_id": "a"}, 0.95)]
    (result,) = evaluate(client, [coherence], at=NOW).results  # type: ignore[arg-type]
    assert result.status == "no_data" and "3 samples in 10m, fewer than the 10 needed" in result.reason
    for odd in (math.nan, math.inf, -math.inf):  # +Inf would pass ">=" and -Inf "<=" if compared
        client.values[value_query(coherence)] = [({"token_id": "a"}, 0.9), ({"token_id": "b"}, odd)]
        result = evaluate(client, [coherence], at=NOW).results[0]  # type: ignore[arg-type]
        assert result.status == "no_data" and result.value is None and json.dumps(result.to_dict(), allow_nan=False)
    client.values[samples_query(coherence)] = [({"token_id": "a"}, math.nan)]
    client.values[value_query(coherence)] = [({"token_id": "a"}, 0.9)]
    result = evaluate(client, [coherence], at=NOW).results[0]  # type: ignore[arg-type]
    assert result.status == "no_data" and result.samples is None
    client.values[value_query(coherence)] = []
    assert "no data for" in evaluate(client, [coherence], at=NOW).results[0].reason  # type: ignore[arg-type]
    client.fail = PrometheusError("Prometheus http://x/api/v1/query answered HTTP 503", kind="http", status=503)
    result = evaluate(client, [coherence], at=NOW).results[0]  # type: ignore[arg-type]
    assert result.status == "error" and "HTTP 503" in result.reason and not result.held


# ----------------------------------------------------------------------------------------------------- decide


def _eval(*statuses: str) -> Evaluation:
    results = tuple(
        TargetResult(_target(name=f"t{i}"), s, 0.9 if s in ("pass", "fail") else None, 60, 1, "q", f"t{i}: {s} why")
        for i, s in enumerate(statuses)
    )
    return Evaluation(results, NOW)


_NO_ALERTS: list[Alert] = []


def _decide(percent: float, evaluation: Evaluation | None, alerts: list[Alert] | None = _NO_ALERTS, **kw: object):
    policy = kw.pop("policy", LadderPolicy())
    state = LadderState(percent, kw.pop("changed_at", NOW - 3600))
    return decide(state, policy, evaluation=evaluation, alerts=alerts, now=NOW,
                  dwell=kw.pop("dwell", 600.0), **kw)  # type: ignore[arg-type]  # fmt: skip


def test_advances_one_step_at_a_time_through_the_whole_ladder() -> None:
    seen = []
    percent = 5.0
    while True:
        d = _decide(percent, _eval("pass", "pass"))
        if d.action != "advance":
            break
        assert "every SLO target held" in d.reason and d.next > percent
        seen.append(d.next)
        percent = d.next
    assert seen == [10.0, 25.0, 50.0, 100.0]
    assert d.action == "hold" and "at the last step (100%)" in d.reason
    assert _decide(0.0, _eval("pass")).next == 5.0  # from 0 (after a rollback to zero) to the first step
    assert _decide(7.0, _eval("pass")).next == 10.0  # off the ladder: the next step above


@pytest.mark.parametrize(
    ("statuses", "words"),
    [
        (("pass", "fail"), ["failed: t1: fail why"]),
        (("no_data", "pass"), ["insufficient data: t0: no_data why"]),
        (("pass", "error"), ["cannot evaluate: t1: error why"]),
        (("fail", "no_data"), ["failed: t0", "insufficient data: t1"]),
        ((), ["no targets to evaluate"]),
    ],
)
def test_holds_unless_every_target_passed(statuses: tuple[str, ...], words: list[str]) -> None:
    d = _decide(25.0, _eval(*statuses))
    assert d.action == "hold" and d.next == 25.0 and not d.changes
    for word in words:
        assert word in d.reason


def test_holds_until_the_step_has_been_held_for_the_dwell() -> None:
    d = _decide(10.0, _eval("pass"), changed_at=NOW - 120)
    assert d.action == "hold" and "10% held for 120s of the 600s required" in d.reason
    assert _decide(10.0, _eval("pass"), changed_at=NOW - 600).action == "advance"
    assert _decide(10.0, None, problem="boom").reason.endswith("cannot evaluate the targets: boom")


def test_rolls_back_on_any_firing_alert() -> None:
    firing = Alert("AURIS_SELF_Stress_High", "firing")
    d = _decide(50.0, _eval("pass"), [firing, Alert("Other", "pending")])
    assert (d.action, d.next, d.firing) == ("rollback", 5.0, ("AURIS_SELF_Stress_High",))
    assert "rolling back to the first step, 5%" in d.reason
    d = _decide(50.0, _eval("pass"), [firing], policy=LadderPolicy(rollback_to="zero"))
    assert (d.action, d.next) == ("rollback", 0.0) and "0 (canary off)" in d.reason
    d = _decide(5.0, _eval("pass"), [firing])
    assert (d.action, d.next) == ("hold", 5.0) and "already at 5%" in d.reason
    d = _decide(0.0, _eval("pass"), [firing])
    assert d.action == "hold" and d.next == 0.0  # never advances while an alert fires
    # pending alerts and alerts outside the pattern do not count
    assert _decide(50.0, _eval("pass"), [Alert("X", "pending")]).action == "advance"
    only_self = LadderPolicy(alert_pattern=r"AURIS_SELF_.*")
    assert _decide(50.0, _eval("pass"), [Alert("DiskFull", "firing")], policy=only_self).action == "advance"
    assert _decide(50.0, _eval("pass"), [firing], policy=only_self).action == "rollback"
    # a firing alert wins over failing targets and the dwell
    assert _decide(50.0, _eval("fail"), [firing], changed_at=NOW).action == "rollback"


def test_holds_when_alerts_cannot_be_read() -> None:
    d = _decide(25.0, None, None, problem="Prometheus http://x: request failed (Connection refused)")
    assert d.action == "hold" and "cannot read alerts" in d.reason and "Connection refused" in d.reason


def test_decision_dict_has_the_seed_shape() -> None:
    doc = _decide(10.0, _eval("pass")).to_dict()
    assert doc["action"] == "advance" and doc["next_canary"] == 0.25 and doc["current_canary"] == 0.1
    assert doc["targets"][0]["status"] == "pass" and json.dumps(doc)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"steps": ()}, "steps"),
        ({"steps": (10.0, 5.0)}, "steps"),
        ({"steps": (5.0, 150.0)}, "steps"),
        ({"steps": (0.0, 5.0)}, "steps"),
        ({"rollback_to": "previous"}, "rollback_to"),
        ({"min_dwell": -1}, "min_dwell"),
        ({"min_dwell": math.inf}, "min_dwell"),
        ({"alert_pattern": "("}, "alert_pattern"),
    ],
)
def test_policy_validation(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        LadderPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# ------------------------------------------------------------------------------------------------------ ladder


def _ladder(tmp_path: Path, client: FakeClient, calls: list[float], **kw: object) -> CanaryLadder:
    clock: Callable[[], float] = kw.pop("clock", lambda: NOW)  # type: ignore[assignment]
    return CanaryLadder(
        client,  # type: ignore[arg-type]
        load_targets(AURIS),
        state_path=tmp_path / "state.json",
        set_sampling=kw.pop("set_sampling", calls.append),  # type: ignore[arg-type]
        policy=kw.pop("policy", LadderPolicy(min_dwell=0)),  # type: ignore[arg-type]
        clock=clock,
    )


def test_ladder_applies_persists_and_rolls_back(tmp_path: Path) -> None:
    client = FakeClient()
    _healthy(client, AURIS)
    calls: list[float] = []
    ladder = _ladder(tmp_path, client, calls)
    assert ladder.load_state().percent == 5.0  # no state file: the first step
    for expected in (10.0, 25.0, 50.0):
        d = ladder.check()
        assert d.action == "advance" and d.next == expected and d.applied and d.persisted
    assert calls == [0.1, 0.25, 0.5]
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["percent"] == 50.0 and state["sampling"] == 0.5 and state["last_decision"]["action"] == "advance"
    assert os.listdir(tmp_path) == ["state.json"]  # the atomic write left no temporary file

    client.values[value_query(load_targets(AURIS).targets[2])] = [({}, 0.9)]  # stress too high
    d = ladder.check()
    assert d.action == "hold" and "failed: stress: 0.9 not <= 0.3" in d.reason and calls == [0.1, 0.25, 0.5]
    assert ladder.load_state().percent == 50.0

    client.alert_list = [Alert("AURIS_SELF_Stress_High", "firing")]
    d = ladder.check()
    assert d.action == "rollback" and d.next == 5.0 and calls[-1] == 0.05
    assert ladder.load_state().percent == 5.0 and ladder.load_state().changed_at == NOW

    client.alert_list = PrometheusError("Prometheus http://x/api/v1/alerts: request failed", kind="connection")
    d = ladder.check()
    assert d.action == "hold" and "cannot read alerts" in d.reason and calls[-1] == 0.05


def test_default_dwell_is_the_longest_window(tmp_path: Path) -> None:
    client = FakeClient()
    _healthy(client, AURIS)
    now = [NOW]
    ladder = _ladder(tmp_path, client, [], policy=LadderPolicy(), clock=lambda: now[0])
    assert ladder.dwell == 600
    assert ladder.check().action == "hold"  # a fresh ladder waits one window at the first step
    now[0] += 600
    assert ladder.check().action == "advance"
    now[0] += 10
    assert "held for 10s of the 600s" in ladder.check().reason


def test_a_failing_set_sampling_keeps_the_step(tmp_path: Path) -> None:
    client = FakeClient()
    _healthy(client, AURIS)

    def broken(fraction: float) -> None:
        raise RuntimeError("configmap API down")

    ladder = _ladder(tmp_path, client, [], set_sampling=broken)
    d = ladder.check()
    assert d.action == "advance" and not d.applied and d.persisted
    assert "set_sampling failed (RuntimeError: configmap API down), staying at 5%" in d.reason
    assert ladder.load_state().percent == 5.0


def test_state_file_problems(tmp_path: Path) -> None:
    client = FakeClient()
    _healthy(client, AURIS)
    ladder = _ladder(tmp_path, client, [])
    path = tmp_path / "state.json"
    for content, words in (
        (b"{not json", "is not JSON"),
        (b"[]", "is not a version 1 canary state"),
        (b'{"version": 1, "percent": 500, "changed_at": 1}', "percent must be a finite number in [0, 100]"),
        (b'{"version": 1, "percent": NaN, "changed_at": 1}', "percent must be a finite number"),
        (b'{"version": 1, "percent": true, "changed_at": 1}', "percent must be a finite number"),
        (b'{"version": 1, "percent": 5, "changed_at": "yesterday"}', "changed_at must be a finite number"),
        (b" " * 70_000, "larger than"),
    ):
        path.write_bytes(content)
        with pytest.raises(CanaryStateError) as info:
            ladder.check()
        assert words in str(info.value) and "delete it" in str(info.value)
    path.unlink()
    calls: list[float] = []
    unwritable = _ladder(tmp_path / "missing-dir", client, calls)
    d = unwritable.check()  # applied (set_sampling takes an absolute value: repeating it next time is harmless)
    assert d.action == "advance" and d.applied and not d.persisted and "not written" in d.reason and calls == [0.1]


def test_every_target_needs_a_metric(tmp_path: Path) -> None:
    targets = load_targets({"targets": [{"field": "coherence", "comparison": ">=", "threshold": 0.8}]})
    with pytest.raises(ConfigurationError, match="targets that all name a metric"):
        CanaryLadder(FakeClient(), targets, state_path=tmp_path / "s.json")  # type: ignore[arg-type]


def test_sampling_file_writer(tmp_path: Path) -> None:
    path = tmp_path / "canary.env"
    sampling_file_writer(str(path), "AURIS_SELF_CANARY")(0.25)
    assert path.read_text() == "AURIS_SELF_CANARY=0.25\n"
    sampling_file_writer(str(path))(0.05)
    assert path.read_text() == "0.05\n"
    with pytest.raises(ConfigurationError):
        sampling_file_writer(str(path), "BAD NAME")


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser(prog="lukhas-obs")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["canary", "--prometheus", "http://127.0.0.1:9090", "--targets", "t.yaml", "--once", "--min-dwell", "10m",
         "--steps", "1,5,100", "--rollback-to", "zero", "--interval", "30s"]
    )  # fmt: skip
    assert args.min_dwell == 600 and args.steps == (1.0, 5.0, 100.0) and args.interval == 30 and args.once
    for bad in (["--steps", "a,b"], ["--min-dwell", "soon"], ["--rollback-to", "previous"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["canary", "--prometheus", "http://x", "--targets", "t", *bad])


def test_cli_loop_until_stopped_and_credentials_from_files(tmp_path: Path) -> None:
    from tests.test_slotools_promapi import TOKEN, _ok, _Server

    server = _Server()
    try:
        server.routes["/api/v1/alerts"] = _ok({"alerts": []})
        server.routes["/api/v1/query"] = _ok({"resultType": "vector", "result": []})
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")
        options = CanaryOptions(
            prometheus=server.url, state=str(tmp_path / "s.json"), interval=0.1, bearer_token_file=str(token_file),
            policy=LadderPolicy(min_dwell=0),
        )  # fmt: skip
        stop = threading.Event()
        timer = threading.Timer(0.45, stop.set)
        timer.start()
        out = io.StringIO()
        try:
            started = time.monotonic()
            assert run_canary(options, load_targets(AURIS), out=out, stop=stop) == 0
            assert time.monotonic() - started < 3
        finally:
            timer.cancel()
        lines = out.getvalue().splitlines()
        assert len(lines) >= 2
        assert all(line.startswith("canary: HOLD 5%: holding at 5%: insufficient") for line in lines)
        assert {r["headers"].get("Authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
        basic = tmp_path / "basic"
        basic.write_text("no-colon-here", encoding="utf-8")
        with pytest.raises(ConfigurationError) as info:
            run_canary(replace(options, bearer_token_file=None, basic_auth_file=str(basic), once=True),
                       load_targets(AURIS), out=out)  # fmt: skip
        assert "no-colon-here" not in str(info.value) and info.value.field == "basic_auth_file"
        with pytest.raises(ConfigurationError, match="readable"):
            run_canary(replace(options, bearer_token_file=str(tmp_path / "missing"), once=True), load_targets(AURIS))
    finally:
        server.close()
