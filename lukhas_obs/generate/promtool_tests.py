"""promtool unit tests (``promtool test rules``) for every generated alert: one firing case, one silent case.

Inputs are synthetic histograms and counters whose series *increase* (``0+10x40``): a flat counter has rate 0, a
quantile over rate 0 is NaN and every alert stays silent, which would make a "fires" test impossible to fail.

* latency objectives: a *slow* scenario (every observation lands in the bucket above the threshold) fires the
  quantile alert and both burn-rate tiers, and records a slow ratio of exactly 1; a *fast* scenario (every
  observation in the first bucket) fires nothing and records a slow ratio of 0;
* rate alerts: increments at 4x the threshold fire, at a quarter of it stay silent;
* target alerts: no ``up`` series for the job fires the absent alert; ``up == 0`` fires the down alert;
* free-form alerts: the catalog declares the cases (input series, eval time, the alerts a firing case expects); each
  becomes one promtool test. Expected labels are the firing series' labels plus the rule's, expected annotations the
  rule's with ``{{ $value }}`` and ``{{ $labels.x }}`` expanded as Prometheus does (or given verbatim in the case).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from lukhas_obs.catalog.slo import (
    AlertCase,
    ExpectedAlert,
    LatencySLO,
    RateAlertSpec,
    RuleAlertSpec,
    SloSet,
    duration_seconds,
    le_label,
    template_parts,
)
from lukhas_obs.catalog.spec import Catalog, MetricSpec
from lukhas_obs.generate import promql, rules
from lukhas_obs.generate.output import RULES_DIR, TESTS_DIR, GeneratedFile, dump_yaml, header

__all__ = ["INTERVAL", "expand_template", "free_alert_tests", "promtool_documents", "promtool_files", "series_labels"]

#: Sample and evaluation interval of the synthetic series.
INTERVAL = "1m"
_INTERVAL_S = 60
#: Values of the common attributes in test series (seed 003's COMMON_LABELS defaults).
COMMON_VALUES: dict[str, str] = {"lane": "candidate", "service": "lukhas", "environment": "dev", "version": "dev"}
INSTANCE = "127.0.0.1:9109"
#: Observations (or events) added per interval in "increasing" series.
STEP = 10


def series_labels(catalog: Catalog, metric: MetricSpec) -> dict[str, str]:
    """Scrape labels + common attributes + one allowed value per call-time attribute, sorted by name."""
    assert catalog.slos is not None
    labels = {"instance": INSTANCE, "job": catalog.slos.job}
    labels.update({c: COMMON_VALUES.get(c, c) for c in metric.common_attributes})
    labels.update({a.label: (a.values[0] if a.values else "x") for a in metric.attributes})
    return dict(sorted(labels.items()))


def _series(name: str, labels: Mapping[str, str], values: str) -> dict[str, str]:
    return {"series": promql.selector(name, sorted(labels.items())), "values": values}


def _minutes(duration: str) -> int:
    return math.ceil(duration_seconds(duration) / _INTERVAL_S)


def _histogram(name: str, labels: Mapping[str, str], buckets: Iterable[float], lowest: float, n: int) -> list[dict]:
    """Bucket and count series where every observation lands in the bucket whose upper bound is ``lowest``."""
    rising, flat = f"0+{STEP}x{n}", f"0x{n}"
    out = []
    for boundary in (*buckets, math.inf):
        le = "+Inf" if boundary == math.inf else le_label(boundary)
        out.append(_series(f"{name}_bucket", {**labels, "le": le}, rising if boundary >= lowest else flat))
    out.append(_series(f"{name}_count", labels, rising))
    return out


def _annotations(rule: Mapping[str, Any]) -> dict[str, str]:
    return dict(rule.get("annotations", {}))


def _exp_alert(rule: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": _annotations(rule)}


def _alert_test(rule: Mapping[str, Any], eval_minutes: int, fires: Mapping[str, str] | None) -> dict[str, Any]:
    return {
        "eval_time": f"{eval_minutes}m",
        "alertname": rule["alert"],
        "exp_alerts": [_exp_alert(rule, fires)] if fires is not None else [],
    }


def _latency_tests(catalog: Catalog, slo: LatencySLO, by_name: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    assert catalog.slos is not None
    metric = catalog.metric(slo.metric)
    labels = series_labels(catalog, metric)
    burns = rules.burn_alerts(catalog, slo)
    fors = [_minutes(b.burn.for_) + _minutes(b.burn.short_window) for b in burns]
    if slo.alert is not None:
        fors.append(_minutes(slo.alert.for_) + _minutes(slo.range))
    eval_minutes = max(fors) + 5
    n = eval_minutes + 5
    burn_keep = {k: labels[k] for k in rules.burn_labels(catalog)}
    buckets = metric.buckets or ()
    above = [b for b in buckets if b > slo.threshold]
    threshold = rules.human_seconds(slo.threshold)
    scenarios = [
        (above[0] if above else math.inf, True, f"above {threshold}"),
        (slo.threshold, False, f"in the bucket ending at {threshold} (counted as fast)"),
        (buckets[0], False, f"in the first bucket (<= {rules.human_seconds(buckets[0])})"),
    ]
    tests = []
    for lowest, slow, where in dict.fromkeys(scenarios):
        if not slow and lowest == slo.threshold and slo.threshold == buckets[0]:
            continue  # the boundary scenario is the first-bucket scenario
        alert_tests = []
        if slo.alert is not None:
            fired = {b: labels[b] for b in slo.by} if slow else None
            alert_tests.append(_alert_test(by_name[slo.alert.name], eval_minutes, fired))
        for burn in burns:
            alert_tests.append(_alert_test(by_name[burn.name], eval_minutes, burn_keep if slow else None))
        ratio_tests = [
            {
                "expr": rules.slow_ratio_record(catalog, slo, window),
                "eval_time": f"{eval_minutes}m",
                "exp_samples": [
                    {
                        "labels": promql.selector(rules.slow_ratio_record(catalog, slo, window), burn_keep),
                        "value": 1 if slow else 0,
                    }
                ],
            }
            for window in catalog.slos.burn_windows()
        ]
        tests.append(
            {
                "name": f"{slo.name}: every observation {where} -> "
                + ("quantile and burn-rate alerts fire" if slow else "silent"),
                "interval": INTERVAL,
                "input_series": _histogram(slo.metric, labels, buckets, lowest, n),
                "alert_rule_test": alert_tests,
                "promql_expr_test": ratio_tests,
            }
        )
    return tests


def _rate_tests(catalog: Catalog, rate: RateAlertSpec, rule: Mapping[str, Any]) -> list[dict]:
    metric = catalog.metric(rate.metric)
    labels = series_labels(catalog, metric)
    eval_minutes = _minutes(rate.alert.for_) + _minutes(rate.range) + 5
    n = eval_minutes + 5
    fired = dict(labels) if rate.by is None else {b: labels[b] for b in rate.by}
    tests = []
    for factor, fires in ((Decimal(4), True), (Decimal("0.25"), False)):
        per_interval = Decimal(repr(rate.threshold)) * _INTERVAL_S * factor
        tests.append(
            {
                "name": f"{rate.name}: {promql.number(factor)}x the {promql.number(rate.threshold)}/s threshold -> "
                + ("fires" if fires else "silent"),
                "interval": INTERVAL,
                "input_series": [_series(rate.metric, labels, f"0+{promql.number(per_interval)}x{n}")],
                "alert_rule_test": [_alert_test(rule, eval_minutes, fired if fires else None)],
            }
        )
    return tests


def _target_tests(slos: SloSet, by_name: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    assert slos.target is not None
    t = slos.target
    eval_minutes = _minutes(t.for_) + 5
    n = eval_minutes + 5
    own = {"instance": INSTANCE, "job": slos.job}
    other = {"instance": "127.0.0.1:9090", "job": "prometheus"}
    absent, down = by_name[t.absent_alert], by_name[t.down_alert]
    return [
        {
            "name": f"no up series for job {slos.job} -> {t.absent_alert} fires, {t.down_alert} silent",
            "interval": INTERVAL,
            "input_series": [_series("up", other, f"1x{n}")],
            "alert_rule_test": [
                _alert_test(absent, eval_minutes, {"job": slos.job}),
                _alert_test(down, eval_minutes, None),
            ],
        },
        {
            "name": f"job {slos.job} up == 0 -> {t.down_alert} fires, {t.absent_alert} silent",
            "interval": INTERVAL,
            "input_series": [_series("up", own, f"0x{n}"), _series("up", other, f"1x{n}")],
            "alert_rule_test": [
                _alert_test(down, eval_minutes, own),
                _alert_test(absent, eval_minutes, None),
            ],
        },
        {
            "name": f"job {slos.job} up == 1 -> silent",
            "interval": INTERVAL,
            "input_series": [_series("up", own, f"1x{n}")],
            "alert_rule_test": [_alert_test(down, eval_minutes, None), _alert_test(absent, eval_minutes, None)],
        },
    ]


def expand_template(text: str, labels: Mapping[str, str], value: float | None) -> str:
    """``text`` with ``{{ $value }}`` and ``{{ $labels.x }}`` expanded as Prometheus renders them for an alert.

    ``$value`` is Go's ``%v`` of the float (:func:`~lukhas_obs.generate.promql.go_value`); a missing label renders
    ``<no value>`` as in Go templates. Other actions are a ValueError (catalog validation refuses them unless the case
    gives the expected annotations verbatim).
    """
    parts = template_parts(text)
    if parts is None:
        raise ValueError("template has an unclosed '{{'")
    out: list[str] = []
    for kind, arg in parts:
        if kind == "text":
            out.append(arg)
        elif kind == "value":
            if value is None:
                raise ValueError("template uses $value and the expected alert gives no value")
            out.append(promql.go_value(value))
        elif kind == "label":
            out.append(labels.get(arg, "<no value>"))
        else:
            raise ValueError(f"template action {{{{{arg[:40]}}}}} is not expanded by the generator")
    return "".join(out)


def _free_exp_alert(rule: RuleAlertSpec, expected: ExpectedAlert) -> dict[str, Any]:
    series = dict(expected.labels)
    labels = {**series, **{k: expand_template(v, series, expected.value) for k, v in rule.labels}}
    if expected.annotations is not None:
        annotations = dict(expected.annotations)
    else:
        annotations = {k: expand_template(v, series, expected.value) for k, v in rule.annotations}
    return {"exp_labels": dict(sorted(labels.items())), "exp_annotations": annotations}


def _free_case(rule: RuleAlertSpec, case: AlertCase, number: int, fires: bool) -> dict[str, Any]:
    what = case.name or f"case {number}"
    return {
        "name": f"{rule.alert}: {what} -> {'fires' if fires else 'silent'}",
        "interval": case.interval,
        "input_series": [{"series": x.series.strip(), "values": x.values.strip()} for x in case.input_series],
        "alert_rule_test": [
            {
                "eval_time": case.eval_time,
                "alertname": rule.alert,
                "exp_alerts": [_free_exp_alert(rule, e) for e in case.alerts] if fires else [],
            }
        ],
    }


def free_alert_tests(rule: RuleAlertSpec) -> list[dict[str, Any]]:
    """One promtool test per declared case of a free-form alert: firing cases first, then silent ones."""
    return [_free_case(rule, c, i, True) for i, c in enumerate(rule.firing, 1)] + [
        _free_case(rule, c, i, False) for i, c in enumerate(rule.silent, 1)
    ]


def promtool_documents(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """``{rule file stem: promtool test document}``; every alert of every rule file gets a firing and a silent case."""
    slos = catalog.slos
    if slos is None:
        return {}
    docs = rules.rule_documents(catalog)
    by_name = {r["alert"]: r for d in docs.values() for g in d["groups"] for r in g["rules"] if "alert" in r}
    out: dict[str, dict[str, Any]] = {}
    for group in slos.groups:
        tests = [t for slo in group.latency for t in _latency_tests(catalog, slo, by_name)]
        tests += [t for rate in group.rates for t in _rate_tests(catalog, rate, by_name[rate.alert.name])]
        tests += [t for alert in group.alerts for t in free_alert_tests(alert)]
        out[group.file] = _document(group.file, tests)
    if slos.target is not None:
        out[slos.target.file] = _document(slos.target.file, _target_tests(slos, by_name))
    return out


def _document(stem: str, tests: list[dict]) -> dict[str, Any]:
    return {
        "rule_files": [f"{_relative_rules_dir()}/{stem}.yml"],
        "evaluation_interval": INTERVAL,
        "tests": tests,
    }


def _relative_rules_dir() -> str:
    """Path from the tests directory to the rules directory (promtool resolves rule_files against the test file)."""
    tests_parts, rules_parts = TESTS_DIR.split("/"), RULES_DIR.split("/")
    common = 0
    while common < min(len(tests_parts), len(rules_parts)) and tests_parts[common] == rules_parts[common]:
        common += 1
    return "/".join([".."] * (len(tests_parts) - common) + rules_parts[common:])


def promtool_files(catalog: Catalog) -> list[GeneratedFile]:
    """The catalog's promtool test files under ``collector/prometheus/tests``."""
    banner = header("tests", [catalog.name]) + "# Run: promtool test rules collector/prometheus/tests/*_test.yml\n"
    return [
        GeneratedFile(f"{TESTS_DIR}/{stem}_rules_test.yml", dump_yaml(doc, banner))
        for stem, doc in promtool_documents(catalog).items()
    ]
