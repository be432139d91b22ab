"""The viewer's small PromQL evaluator against Prometheus itself, and its refusals.

The differential test builds synthetic data for every metric every shipped dashboard reads (counters with resets,
gauges, histograms with their buckets, a series that goes stale), evaluates every dashboard query (and a few more
covering each supported function) with the viewer's evaluator, writes the answers as the expectations of a
``promtool test rules`` file over the same input series, and lets Prometheus 2.42's own engine check them.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lukhas_obs.catalog.load import load_catalog
from lukhas_obs.generate.dashboards import panel_queries
from lukhas_obs.viewer import promql
from lukhas_obs.viewer.history import History, Scrape
from tests.conftest import require_tool

SYSTEMS = Path(__file__).resolve().parent.parent / "lukhas_obs" / "systems"
STEP_S = 15
STEPS = 61  # 15 minutes
EVAL_TIMES = (60, 240, 450, 600, 885, 900)
VARIABLES = {"lane": "candidate", "service": "lukhas"}


def _dashboard_exprs() -> list[str]:
    exprs: list[str] = []
    for path in sorted(SYSTEMS.glob("*/catalog.yaml")):
        catalog = load_catalog(path)
        for dash in catalog.dashboards:
            for _panel, _query, expr in panel_queries(catalog, dash):
                text = promql.substitute_variables(expr, VARIABLES)
                if text not in exprs:
                    exprs.append(text)
    return exprs


EXTRA_EXPRS = [
    "increase(lukhas_memory_docs_total[2m])",
    "delta(lukhas_dream_backpressure[5m])",
    "deriv(lukhas_dream_backpressure[5m])",
    "irate(lukhas_memory_docs_total[1m])",
    "max_over_time(lukhas_dream_backpressure[3m])",
    "min_over_time(lukhas_dream_backpressure[3m])",
    "sum_over_time(lukhas_dream_backpressure[2m])",
    "count_over_time(lukhas_dream_backpressure[2m])",
    "sum without (tier) (rate(lukhas_auth_failures_total[5m]))",
    "max by (tier) (rate(lukhas_auth_failures_total[5m]))",
    "min by (reason) (rate(lukhas_auth_failures_total[5m]))",
    "count by (lane) (lukhas_dream_backpressure)",
    "avg(lukhas_dream_backpressure) by (lane)",
    "lukhas_dream_backpressure{lane=~\"cand.*\"} * 2 - 1",
    "lukhas_dream_backpressure{lane!=\"candidate\"} / 0",
    "-lukhas_dream_backpressure ^ 2",
    "2 ^ 3 ^ 2",
    "(1 + 2) * 3 % 4",
    "histogram_quantile(0.5, sum by (le, tier) (rate(lukhas_auth_latency_seconds_bucket[5m])))",
    "histogram_quantile(1.5, sum by (le) (rate(lukhas_auth_latency_seconds_bucket[5m])))",
    "sum(rate(lukhas_auth_latency_seconds_sum[5m])) / sum(rate(lukhas_auth_latency_seconds_count[5m]))",
    "rate(lukhas_memory_docs_total{lane!~\"prod\"}[5m]) * 60",
]


def _label_values(attr) -> list[str]:
    if attr.values:
        return list(attr.values)[:3] + (["300s"] if "300s" in attr.values else [])
    return ["v1", "v2"]


def _series_for(metric, rng: random.Random) -> list[tuple[str, dict[str, str], list[float | None]]]:
    """(sample name, labels, values per step; None = stale) for one catalog metric."""
    keys = [a for a in metric.attributes if a.key not in ("lane", "service")][:2]
    combos = list(itertools.product(*[_label_values(a) for a in keys]))[:6]
    out = []
    for lane in ("candidate", "prod"):
        for combo in combos:
            labels = {"lane": lane, "service": "lukhas", **{a.key: v for a, v in zip(keys, combo, strict=True)}}
            stale_from = rng.choice([None, None, 20])  # some series leave the scrapes for 5 steps
            def gone(i: int, stale_from: int | None = stale_from) -> bool:
                return stale_from is not None and stale_from <= i < stale_from + 5
            if metric.kind == "histogram":
                bounds = [*list(metric.buckets or (0.005, 0.05, 0.5)), float("inf")]
                cumulative = [0.0] * len(bounds)
                total = 0.0
                columns = [[] for _ in bounds]
                sums: list[float | None] = []
                for i in range(STEPS):
                    for _ in range(rng.randrange(0, 6)):
                        value = rng.choice(bounds[:-1]) * rng.random() * 1.5
                        total += value
                        for b, bound in enumerate(bounds):
                            if value <= bound:
                                cumulative[b] += 1
                    for b in range(len(bounds)):
                        columns[b].append(None if gone(i) else cumulative[b])
                    sums.append(None if gone(i) else round(total, 6))
                for bound, column in zip(bounds, columns, strict=True):
                    le = "+Inf" if bound == float("inf") else repr(float(bound))
                    out.append((f"{metric.name}_bucket", {**labels, "le": le}, column))
                out.append((f"{metric.name}_count", labels, columns[-1]))
                out.append((f"{metric.name}_sum", labels, sums))
            elif metric.kind in ("counter",) or metric.name.endswith("_total"):
                value, values = 0.0, []
                for i in range(STEPS):
                    value = 0.0 if i == 33 and lane == "prod" else value + rng.randrange(0, 9)  # a reset
                    values.append(None if gone(i) else value)
                out.append((metric.name, labels, values))
            else:
                out.append((metric.name, labels, [None if gone(i) else round(rng.uniform(-2, 5), 3)
                                                  for i in range(STEPS)]))  # fmt: skip
    return out


def _all_series() -> list[tuple[str, dict[str, str], list[float | None]]]:
    rng = random.Random(16)
    seen: set[str] = set()
    series = []
    for path in sorted(SYSTEMS.glob("*/catalog.yaml")):
        for metric in load_catalog(path).metrics:
            if metric.name not in seen:
                seen.add(metric.name)
                series.extend(_series_for(metric, rng))
    return series


def _history(series) -> History:
    history = History(capacity=STEPS + 1, max_series=100_000)
    for i in range(STEPS):
        samples = [(name, labels, values[i]) for name, labels, values in series if values[i] is not None]
        history.add(Scrape(samples, []), at=float(i * STEP_S))
    return history


def _labels_text(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{body}}}"


def test_every_shipped_dashboard_query_evaluates_like_prometheus(tmp_path: Path) -> None:
    _differential(tmp_path, require_tool("promtool"))


def test_the_differential_check_catches_a_wrong_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Prometheus' extrapolation (a naive increase / range), the same check fails."""
    promtool = require_tool("promtool")

    def naive(times, vals, lo, hi, start, end, counter, rate, resets):  # type: ignore[no-untyped-def]
        if hi - lo < 2:
            return None
        change = vals[hi - 1] - vals[lo]
        return change / (end - start) if rate else change

    monkeypatch.setattr(promql, "_extrapolated", naive)
    with pytest.raises(AssertionError, match="Prometheus"):
        _differential(tmp_path, promtool)


def _differential(tmp_path: Path, promtool: str) -> None:
    series = _all_series()
    history = _history(series)
    exprs = _dashboard_exprs()
    assert len(exprs) >= 40, exprs  # the shipped dashboards' queries, all systems
    input_series = [
        {"series": _labels_text({**labels, "__name__": name}),
         "values": " ".join("stale" if v is None else repr(float(v)) for v in values)}
        for name, labels, values in series
    ]  # fmt: skip
    tests = []
    checked = 0
    nonempty = 0
    started = time.monotonic()
    for expr in [*exprs, *EXTRA_EXPRS]:
        result = promql.evaluate(expr, history.snapshot(), [float(t) for t in EVAL_TIMES])
        for t in EVAL_TIMES:
            samples = []
            for labels, points in result.series:
                for at, value in points:
                    if at == t:
                        samples.append({"labels": _labels_text(labels) if labels else "{}", "value": value})
            nonempty += bool(samples)
            checked += 1
            tests.append({"expr": expr, "eval_time": f"{t}s", "exp_samples": samples})
    elapsed = time.monotonic() - started
    assert nonempty >= checked * 0.9, "the synthetic data leaves too many queries empty to prove anything"
    doc = {"rule_files": [], "evaluation_interval": f"{STEP_S}s",
           "tests": [{"interval": f"{STEP_S}s", "input_series": input_series, "promql_expr_test": tests}]}  # fmt: skip
    path = tmp_path / "viewer_promql_test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    run = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    if run.returncode != 0:  # only rounding may differ: sums in series order, which promtool's loader shuffles
        _assert_only_rounding(run.stdout + run.stderr)
    assert elapsed < 10, f"{checked} evaluations took {elapsed:.1f}s"


_SAMPLE_RE = re.compile(r"(\{[^{}]*\}) (\S+?)(?:, |$)")


def _samples(text: str) -> dict[str, float] | None:
    found = {labels: float(value) for labels, value in _SAMPLE_RE.findall(text.strip())}
    return found if found or not text.strip() else None


def _assert_only_rounding(output: str) -> None:
    """Every mismatch promtool reports has the same series and values equal to 12 significant digits."""
    lines = output.splitlines()
    mismatches = 0
    for i, line in enumerate(lines):
        if not line.strip().startswith("exp:"):
            continue
        mismatches += 1
        assert i + 1 < len(lines) and lines[i + 1].strip().startswith("got:"), output[-4000:]
        expected = _samples(line.strip()[4:])
        got = _samples(lines[i + 1].strip()[4:])
        where = lines[i - 1].strip() if i else ""
        assert expected is not None and got is not None, f"{where}\n{line}\n{lines[i + 1]}"
        assert expected.keys() == got.keys(), f"{where}: different series\n{line}\n{lines[i + 1]}"
        for key, value in expected.items():
            other = got[key]
            same = (math.isnan(value) and math.isnan(other)) or other == pytest.approx(value, rel=1e-12, abs=1e-15)
            assert same, f"{where} {key}: Prometheus {value!r}, the viewer {other!r}"
    assert mismatches, output[-4000:]  # promtool failed for another reason than values


def test_the_promtool_check_can_fail(tmp_path: Path) -> None:
    """The differential test above is not vacuous: a wrong expectation makes promtool fail."""
    promtool = require_tool("promtool")
    doc = {"rule_files": [], "evaluation_interval": "15s", "tests": [{"interval": "15s",
           "input_series": [{"series": 'c_total{a="1"}', "values": "0+10x20"}],
           "promql_expr_test": [{"expr": "rate(c_total[5m])", "eval_time": "5m",
                                 "exp_samples": [{"labels": '{a="1"}', "value": 0.6}]}]}]}  # fmt: skip
    path = tmp_path / "wrong.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    history = History(capacity=30)
    for i in range(21):
        history.add(Scrape([("c_total", {"a": "1"}, 10.0 * i)], []), at=15.0 * i)
    ((labels, points),) = promql.evaluate("rate(c_total[5m])", history.snapshot(), [300.0]).series
    assert labels == {"a": "1"} and points[0][1] == pytest.approx(2 / 3)  # what Prometheus answers


@pytest.mark.parametrize(
    ("expr", "needs"),
    [
        ('label_replace(x, "a", "$1", "b", "(.*)")', "function label_replace() needs Prometheus"),
        ("x > 1", "comparison '>' needs Prometheus"),
        ("x and y", "set operator 'and' needs Prometheus"),
        ("x offset 5m", "the offset modifier needs Prometheus"),
        ("x @ 100", "the @ modifier needs Prometheus"),
        ("topk(3, x)", "aggregation 'topk' needs Prometheus"),
        ("a / on(l) b", "vector matching modifier 'on' needs Prometheus"),
        ("a * ignoring(l) b", "vector matching modifier 'ignoring' needs Prometheus"),
        ("rate(x[5m:1m])", "subqueries ([range:step]) need Prometheus"),
        ("x[5m]", "a bare range vector needs Prometheus (wrap it in a function)"),
        ("quantile(0.9, x)", "aggregation 'quantile' needs Prometheus"),
        ("absent(x)", "function absent() needs Prometheus"),
    ],
)
def test_outside_the_evaluator_says_what_needs_prometheus(expr: str, needs: str) -> None:
    assert promql.support_problem(expr) == needs
    with pytest.raises(promql.Unsupported, match="Prometheus"):
        promql.evaluate(expr, History(capacity=4).snapshot(), [0.0])


def test_every_shipped_dashboard_query_is_supported() -> None:
    problems = {expr: promql.support_problem(expr) for expr in _dashboard_exprs()}
    assert {e: p for e, p in problems.items() if p} == {}


@pytest.mark.parametrize(
    "expr",
    ["", "(" * 5000 + "x" + ")" * 5000, "x{", "rate(x)", "sum(", "x{a=}", 'x{a=~"("}', "1 +", "x" * 5000,
     "{}", '{a=~".*"}', "histogram_quantile(x[5m])", "\ud800", "x # comment", "sum by (le (x)"],
)
def test_malformed_expressions_are_parse_errors_quickly(expr: str) -> None:
    started = time.monotonic()
    with pytest.raises(promql.ParseError):
        promql.parse(expr)
    assert time.monotonic() - started < 0.5


def test_variables_cannot_change_the_query() -> None:
    expr = 'sum(rate(x{lane="$lane",service="${service}"}[5m])) + y{tier=~"$tier"}'
    hostile = {"lane": 'a"} or vector(1) or x{b="', "service": "\\", "tier": ".*"}
    text = promql.substitute_variables(expr, hostile)
    node = promql.parse(text)
    matchers = {m.name: m for s in promql.referenced_selectors(node) for m in s.matchers}
    assert matchers["lane"].value == hostile["lane"]  # the whole value is one label value
    assert matchers["service"].value == "\\"
    assert matchers["tier"].regex is not None and matchers["tier"].regex.fullmatch("anything") is None
    assert matchers["tier"].regex.fullmatch(".*")
    with pytest.raises(promql.ParseError, match=r"unknown dashboard variable \$nope"):
        promql.substitute_variables('x{a="$nope"}', {})


def test_staleness_and_lookback() -> None:
    history = History(capacity=100)
    for i in range(40):
        samples = [("g", {"a": "1"}, float(i))] if i < 10 or i >= 20 else []
        samples.append(("h", {}, 1.0)) if i < 5 else None
        history.add(Scrape(samples, []), at=10.0 * i)
    result = promql.evaluate("g", history.snapshot(), [95.0, 150.0, 200.0, 390.0])
    ((_, points),) = result.series
    assert points == ((95.0, 9.0), (200.0, 20.0), (390.0, 39.0))  # stale from 100 s to 200 s
    assert promql.evaluate("h", history.snapshot(), [45.0, 50.0]).series[0][1] == ((45.0, 1.0),)
