"""The SLO toolkit against a real Prometheus: online evaluation values, and the canary ladder advancing, holding and
rolling back.

One module-scoped stack: a plain ``http.server`` on 127.0.0.1 serves ``/metrics`` with values the test controls
(AURIS SELF gauges per ``token_id``, a histogram whose counts grow with every scrape, and a trigger gauge), scraped
every second by a real ``prometheus`` (loopback, temporary TSDB, stopped by PID) that evaluates one alert rule on the
trigger every second. Windows are a few seconds so the whole module runs in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lukhas_obs.slotools import register_cli
from lukhas_obs.slotools.canary import CanaryLadder, LadderPolicy
from lukhas_obs.slotools.evaluate import evaluate, value_query
from lukhas_obs.slotools.promapi import PrometheusClient
from lukhas_obs.slotools.targets import load_targets
from tests.support.prometheus import (
    PrometheusApi,
    free_port,
    require_binary,
    start_process,
    stop_process,
    tail,
    wait_for,
    write_prometheus_config,
)

pytestmark = pytest.mark.e2e

WINDOW = "5s"
RULES = """\
groups:
  - name: canary-e2e
    rules:
      - alert: CanaryE2ETrigger
        expr: canary_test_trigger > 0
        for: 0s
        labels: {severity: warning}
        annotations: {summary: the test pulled the trigger}
"""
#: coherence >= 0.80 and stress <= 0.30 per token (seed 004), request latency p95 <= 0.25 s from a histogram.
TARGETS = {
    "window": WINDOW,
    "targets": [
        {"field": "coherence", "metric": "self_coherence", "comparison": ">=", "threshold": 0.80, "min_samples": 3},
        {"field": "stress", "metric": "self_stress", "comparison": "<=", "threshold": 0.30, "min_samples": 3},
        {"name": "latency_p95", "metric": "req_latency_seconds", "kind": "histogram", "aggregate": "p95",
         "comparison": "<=", "threshold": 0.25, "min_samples": 100},
    ],
}  # fmt: skip


class Metrics:
    """The values ``/metrics`` serves; coherence alternates per scrape, the histogram grows 100 per scrape."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scrapes = 0
        self.stress = 0.10
        self.trigger = 0.0

    def render(self) -> bytes:
        with self.lock:
            self.scrapes += 1
            n = self.scrapes
            odd = n % 2
            c1, c2 = (0.90, 0.82) if odd else (1.0, 0.86)
            lines = [
                "# TYPE self_coherence gauge",
                f'self_coherence{{token_id="t1"}} {c1}',
                f'self_coherence{{token_id="t2"}} {c2}',
                "# TYPE self_stress gauge",
                f'self_stress{{token_id="t1"}} {self.stress}',
                f'self_stress{{token_id="t2"}} {self.stress / 2}',
                "# TYPE canary_test_trigger gauge",
                f"canary_test_trigger {self.trigger}",
                "# TYPE req_latency_seconds histogram",  # 90 % under 0.1 s, 10 % in (0.1, 0.25]: p95 = 0.175
                f'req_latency_seconds_bucket{{le="0.1"}} {90 * n}',
                f'req_latency_seconds_bucket{{le="0.25"}} {100 * n}',
                f'req_latency_seconds_bucket{{le="0.5"}} {100 * n}',
                f'req_latency_seconds_bucket{{le="+Inf"}} {100 * n}',
                f"req_latency_seconds_sum {10 * n}",
                f"req_latency_seconds_count {100 * n}",
            ]
        return ("\n".join(lines) + "\n").encode()


@dataclass
class Stack:
    metrics: Metrics
    client: PrometheusClient
    api: PrometheusApi


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("slo-e2e")
    metrics = Metrics()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.render()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    server.start()
    rules = tmp / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    config = write_prometheus_config(tmp / "prometheus.yml", "auris", f"127.0.0.1:{httpd.server_address[1]}", [rules])
    port = free_port()
    log = tmp / "prometheus.log"
    proc = start_process(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        log,
    )  # fmt: skip
    try:
        api = PrometheusApi(f"http://127.0.0.1:{port}")
        wait_for(f"prometheus ready ({tail(log, 500)})", api.ready, timeout=30)
        client = PrometheusClient(api.base_url, timeout=5)
        # enough data: 4+ samples per coherence series and 3+ scrapes of the histogram in the window
        wait_for(
            "4 samples per series in the window",
            lambda: len(r := client.query(f"count_over_time(self_coherence[{WINDOW}]) >= 4").samples) == 2 and r,
            timeout=30,
        )
        yield Stack(metrics, client, api)
    finally:
        stop_process(proc)
        httpd.shutdown()
        httpd.server_close()
        server.join(timeout=5)


def _raw_points(client: PrometheusClient, expr: str, at: float) -> dict[str, list[float]]:
    """The raw samples of ``expr[WINDOW]`` at ``at``, by token_id (the independent side of the comparison)."""
    result = client.query(f"{expr}[{WINDOW}]", at=at)
    assert result.result_type == "matrix"
    return {s.labels.get("token_id", ""): [v for _, v in s.points] for s in result.series}


def test_online_evaluation_returns_the_right_values(stack: Stack) -> None:
    targets = load_targets(TARGETS)
    at = time.time()
    evaluation = evaluate(stack.client, targets, at=at)
    coherence, stress, latency = evaluation.results
    assert evaluation.held, [r.reason for r in evaluation.results]

    points = _raw_points(stack.client, "self_coherence", at)
    means = {token: statistics.fmean(values) for token, values in points.items()}
    assert set(means) == {"t1", "t2"} and all(len(v) >= 4 for v in points.values())
    assert math.isclose(coherence.value, min(means.values()), rel_tol=1e-12)  # the worst series
    assert coherence.series == 2 and coherence.samples == min(len(v) for v in points.values())
    assert "token_id='t2'" in coherence.reason  # t2 (0.82/0.86) is below t1 (0.90/1.0)

    assert math.isclose(stress.value, 0.10, rel_tol=1e-12)  # max of t1 0.10 and t2 0.05
    assert math.isclose(latency.value, 0.175, rel_tol=1e-9), latency  # 0.1 + 0.15 * (95 - 90) / (100 - 90)
    assert latency.samples >= 100 and latency.series == 1

    # the other aggregates, each against the raw points
    doc = {"window": WINDOW, "targets": [
        {"name": "p95", "metric": "self_coherence", "aggregate": "p95", "comparison": ">=", "threshold": 0},
        {"name": "min", "metric": "self_coherence", "aggregate": "min", "comparison": ">=", "threshold": 0},
        {"name": "max", "metric": "self_coherence", "aggregate": "max", "comparison": "<=", "threshold": 2},
        {"name": "avg_t1", "metric": "self_coherence", "labels": {"token_id": "t1"}, "comparison": ">=",
         "threshold": 0},
        {"name": "lat_avg", "metric": "req_latency_seconds", "kind": "histogram", "comparison": "<=",
         "threshold": 1},
    ]}  # fmt: skip
    p95, low, high, t1, lat_avg = evaluate(stack.client, load_targets(doc), at=at).results
    quantiles = {t: statistics.quantiles(v, n=100, method="inclusive")[94] for t, v in points.items()}
    assert math.isclose(p95.value, min(quantiles.values()), rel_tol=1e-12)  # same definition as replay
    assert low.value == min(min(v) for v in points.values()) == 0.82
    assert high.value == max(max(v) for v in points.values()) == 1.0
    assert math.isclose(t1.value, means["t1"], rel_tol=1e-12) and t1.series == 1
    assert math.isclose(lat_avg.value, 0.1, rel_tol=1e-9)


def test_label_values_cannot_inject_promql(stack: Stack) -> None:
    hostile = {"window": WINDOW, "targets": [{"metric": "self_coherence", "labels": {"token_id": 't1"} or vector(1) #'},
                                             "comparison": ">=", "threshold": 0.5}]}  # fmt: skip
    (target,) = load_targets(hostile).targets
    stack.api.format_query(value_query(target))  # Prometheus parses it: one quoted label value
    (result,) = evaluate(stack.client, [target]).results
    assert result.status == "no_data" and result.value is None  # no series has that token_id; vector(1) never ran


def _wait_status(stack: Stack, name: str, status: str) -> None:
    targets = load_targets(TARGETS)

    def probe() -> bool:
        results = {r.target.name: r.status for r in evaluate(stack.client, targets).results}
        return results[name] == status

    wait_for(f"{name} to become {status}", probe, timeout=20, interval=0.5)


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lukhas-obs")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_ladder_advances_holds_and_rolls_back(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[float] = []
    state = tmp_path / "state.json"
    ladder = CanaryLadder(
        stack.client, load_targets(TARGETS), state_path=state, set_sampling=calls.append,
        policy=LadderPolicy(min_dwell=0),
    )  # fmt: skip

    # every target held: one step per check
    first = ladder.check()
    assert (first.action, first.current, first.next) == ("advance", 5.0, 10.0), first.reason
    assert "every SLO target held" in first.reason and "latency_p95: 0.175 <= 0.25" in first.reason
    second = ladder.check()
    assert (second.action, second.next) == ("advance", 25.0) and calls == [0.1, 0.25]
    assert json.loads(state.read_text(encoding="utf-8"))["percent"] == 25.0

    # missing and insufficient data hold, never advance
    missing = load_targets({"window": WINDOW, "targets": [
        {"metric": "self_missing", "comparison": ">=", "threshold": 0.8},
        {"metric": "self_coherence", "comparison": ">=", "threshold": 0.8, "min_samples": 1000},
    ]})  # fmt: skip
    other = CanaryLadder(stack.client, missing, state_path=state, set_sampling=calls.append,
                         policy=LadderPolicy(min_dwell=0))  # fmt: skip
    held = other.check()
    assert held.action == "hold" and held.next == 25.0, held.reason
    assert "insufficient data: self_missing: no data for avg_over_time(self_missing[5s])" in held.reason
    assert "fewer than the 1000 needed" in held.reason

    # a failing target holds
    with stack.metrics.lock:
        stack.metrics.stress = 0.9
    _wait_status(stack, "stress", "fail")
    held = ladder.check()
    assert held.action == "hold" and held.next == 25.0 and "failed: stress: " in held.reason, held.reason
    assert calls == [0.1, 0.25]

    # the CLI, once, against the same Prometheus and state: still holding
    args = _cli(["canary", "--prometheus", stack.api.base_url, "--targets", str(_targets_file(tmp_path)),
                 "--state", str(state), "--once", "--min-dwell", "0", "--json"])  # fmt: skip
    assert args.handler(args) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["action"] == "hold" and decision["current_canary"] == 0.25

    # a firing alert rolls back to the first step, although the targets hold again
    with stack.metrics.lock:
        stack.metrics.stress = 0.1
        stack.metrics.trigger = 1.0
    wait_for("the alert to fire", lambda: any(a.firing for a in stack.client.alerts()), timeout=20, interval=0.5)
    rolled = ladder.check()
    assert (rolled.action, rolled.current, rolled.next) == ("rollback", 25.0, 5.0), rolled.reason
    assert rolled.firing == ("CanaryE2ETrigger",) and "rolling back to the first step, 5%" in rolled.reason
    assert calls[-1] == 0.05 and json.loads(state.read_text(encoding="utf-8"))["percent"] == 5.0

    # the CLI with --rollback-to zero goes to 0 and writes the sampling file
    env = tmp_path / "canary.env"
    args = _cli(["canary", "--prometheus", stack.api.base_url, "--targets", str(_targets_file(tmp_path)),
                 "--state", str(state), "--once", "--rollback-to", "zero", "--sampling-file", str(env),
                 "--sampling-var", "AURIS_SELF_CANARY"])  # fmt: skip
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("canary: ROLLBACK 5% -> 0%: alert firing: CanaryE2ETrigger"), out
    assert env.read_text(encoding="utf-8") == "AURIS_SELF_CANARY=0.0\n"
    with stack.metrics.lock:
        stack.metrics.trigger = 0.0


def _targets_file(tmp_path: Path) -> Path:
    path = tmp_path / "targets.yaml"
    if not path.exists():
        path.write_text(json.dumps({"slo_targets": TARGETS}), encoding="utf-8")  # JSON is YAML
    return path


def test_unreachable_prometheus_holds(tmp_path: Path) -> None:
    ladder = CanaryLadder(
        PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout=2), load_targets(TARGETS),
        state_path=tmp_path / "s.json", policy=LadderPolicy(min_dwell=0),
    )  # fmt: skip
    decision = ladder.check()
    assert decision.action == "hold" and "cannot read alerts" in decision.reason and "request failed" in decision.reason
