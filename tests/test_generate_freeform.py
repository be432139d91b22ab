"""Free-form alerts and dashboards from any catalog (issue 12 item 5, issue 13 items 5-6).

The Luna fixture (tests/data/luna_rules.yaml) holds seed 000's ``luna_consciousness_alerts`` group with all 11 alerts
and its three dashboards. Its rules are generated, checked by ``promtool check rules`` and proven by the generated
``promtool test rules`` file: every alert fires in each of its firing cases and stays silent in each silent case.
AURIS SELF's ``auris-self-phase-c`` group (seed 004) and WiltonOS's soft-steer alerts (seed 001) come from small
inline catalogs. Load-time validation of the free-form syntax, and the dashboard JSON of Luna's dashboards, are
checked without promtool.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lukhas_obs.catalog import load_catalog
from lukhas_obs.catalog.schema import catalog_json_schema
from lukhas_obs.catalog.slo import template_actions, template_parts
from lukhas_obs.catalog.spec import Catalog
from lukhas_obs.errors import CatalogError
from lukhas_obs.generate import dashboards, generate, promql, promtool_tests, rules
from lukhas_obs.generate.output import RULES_DIR, TESTS_DIR, write_files
from tests.support.prometheus import require_binary, run_tool

FIXTURE = Path(__file__).resolve().parent / "data" / "luna_rules.yaml"

#: Seed 000 alerts/luna_alerts.yml: (alert, for, severity, component, threshold text found in the expression).
SEED_ALERTS: list[tuple[str, str | None, str, str, str]] = [
    ("LunaPhiDivergence", "5m", "critical", "phi_consciousness", "luna_phi_distance_to_optimal > 0.6"),
    ("LunaPhiStagnation", "30m", "warning", "phi_consciousness", "(luna_phi_current_value[10m]) == 0"),
    ("LunaConsciousnessRegression", None, "warning", "consciousness", "delta(luna_auto_awareness_score[5m]) < -0.1"),
    ("LunaLowEmergencePotential", "15m", "info", "consciousness", "luna_emergence_potential < 0.3"),
    ("LunaMemoryImbalance", None, "warning", "fractal_memory", "luna_fractal_memory_total_nodes) < 0.1"),
    ("LunaLowPhiResonance", "10m", "warning", "fractal_memory", "luna_fractal_phi_resonance < 0.5"),
    ("LunaRedisDown", "1m", "critical", "infrastructure", "luna_redis_connection_status == 0"),
    ("LunaHighErrorRate", "5m", "warning", "mcp_tools", "> 0.1"),
    ("LunaPhiHarmonyViolation", "15m", "info", "phi_harmony", "luna_phi_harmony_index < 0.6"),
    ("LunaMetamorphosisReady", None, "info", "consciousness", "luna_metamorphosis_readiness > 0.8"),
    (
        "LunaPhiConvergenceAchieved",
        None,
        "info",
        "phi_consciousness",
        "luna_phi_current_value > 1.6 AND luna_phi_current_value < 1.65",
    ),
]


def _doc() -> dict[str, Any]:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def luna() -> Catalog:
    return load_catalog(FIXTURE)


def _write(tmp: Path, catalog: Catalog) -> tuple[list[Path], list[Path]]:
    write_files(tmp, generate(["rules", "tests"], [catalog]))
    return sorted((tmp / RULES_DIR).glob("*.yml")), sorted((tmp / TESTS_DIR).glob("*.yml"))


def _promtool_check(paths: list[Path]) -> None:
    promtool = require_binary("promtool")
    for path in paths:
        result = run_tool([promtool, "check", "rules", str(path)])
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}\n{result.stderr}"


def _promtool_test(path: Path) -> tuple[int, str]:
    promtool = require_binary("promtool")
    result = run_tool([promtool, "test", "rules", path.name], cwd=path.parent)
    return result.returncode, result.stdout + result.stderr


def _fires_and_silent(test_files: list[Path]) -> tuple[dict[str, int], dict[str, int]]:
    fires: dict[str, int] = {}
    silent: dict[str, int] = {}
    for path in test_files:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case["alert_rule_test"]:
                side = fires if check["exp_alerts"] else silent
                side[check["alertname"]] = side.get(check["alertname"], 0) + 1
    return fires, silent


# ------------------------------------------------------------------------------------------ Luna: seed 000 rules


def test_the_luna_group_holds_the_seeds_eleven_alerts(luna: Catalog) -> None:
    docs = rules.rule_documents(luna)
    assert list(docs) == ["luna_alerts"]
    (group,) = docs["luna_alerts"]["groups"]
    assert (group["name"], group["interval"]) == ("luna_consciousness_alerts", "10s")
    assert [r["alert"] for r in group["rules"]] == [name for name, *_ in SEED_ALERTS]
    for rule, (name, for_, severity, component, expr) in zip(group["rules"], SEED_ALERTS, strict=True):
        assert rule.get("for") == for_, name
        assert rule["labels"] == {"severity": severity, "component": component}, name
        assert expr in rule["expr"], name
        assert "\n" not in rule["expr"], name  # multi-line catalog expressions become one line
        assert set(rule["annotations"]) == {"summary", "description"}, name
    by_name = {r["alert"]: r for r in group["rules"]}
    assert by_name["LunaPhiDivergence"]["annotations"]["description"] == (
        "Distance à φ optimal > 0.6 pendant 5 minutes (valeur: {{ $value }})"
    )
    # the seed's rate() of a gauge became delta(); the per-series error ratio became a ratio of sums
    assert by_name["LunaPhiStagnation"]["expr"] == "delta(luna_phi_current_value[10m]) == 0"
    assert by_name["LunaHighErrorRate"]["expr"] == (
        'sum(rate(luna_mcp_tool_calls_total{status="error"}[5m])) / sum(rate(luna_mcp_tool_calls_total[5m])) > 0.1'
    )


@pytest.mark.e2e
def test_luna_rules_pass_promtool_and_every_alert_fires_and_stays_silent(luna: Catalog, tmp_path: Path) -> None:
    rule_files, test_files = _write(tmp_path, luna)
    assert [p.name for p in rule_files] == ["luna_alerts.yml"]
    assert [p.name for p in test_files] == ["luna_alerts_rules_test.yml"]
    _promtool_check(rule_files)
    code, out = _promtool_test(test_files[0])
    assert code == 0, out
    assert "SUCCESS" in out
    fires, silent = _fires_and_silent(test_files)
    names = {name for name, *_ in SEED_ALERTS}
    assert set(fires) == names and set(silent) == names
    assert sum(fires.values()) == 12 and sum(silent.values()) == 14  # every declared case became a promtool test


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("old", "new", "alert"),
    [
        ("luna_phi_distance_to_optimal > 0.6", "luna_phi_distance_to_optimal > 0.8", "LunaPhiDivergence"),
        ("    for: 5m\n    labels:\n      severity: critical\n      component: phi_consciousness\n", None, ""),
        ("luna_redis_connection_status == 0", "luna_redis_connection_status == 1", "LunaRedisDown"),
        ("delta(luna_auto_awareness_score[5m]) < -0.1", "delta(luna_auto_awareness_score[5m]) < -0.01", ""),
    ],
)
def test_the_generated_cases_catch_a_changed_rule(
    luna: Catalog, tmp_path: Path, old: str, new: str | None, alert: str
) -> None:
    """Not vacuous: a changed threshold, a lost ``for`` or an inverted condition fails the generated promtool tests."""
    rule_files, test_files = _write(tmp_path, luna)
    text = rule_files[0].read_text(encoding="utf-8")
    if new is None:  # drop LunaPhiDivergence's `for: 5m`: its "above for only 3 minutes" case must now fire
        old = old.replace("    for", "        for").replace("\n    ", "\n        ")
        assert old in text
        text = text.replace(old, old.replace("        for: 5m\n", ""))
        alert = "LunaPhiDivergence"
    else:
        assert old in text
        text = text.replace(old, new)
    rule_files[0].write_text(text, encoding="utf-8")
    code, out = _promtool_test(test_files[0])
    assert code != 0
    failed = re.findall(r"alertname: (\w+)", out)
    assert failed, out
    assert alert in failed if alert else "LunaConsciousnessRegression" in failed


@pytest.mark.e2e
def test_the_seeds_own_error_ratio_fires_on_five_percent_errors(tmp_path: Path) -> None:
    """Why LunaHighErrorRate sums first: the seed's per-series ratio is 1 as soon as one call fails."""
    doc = _doc()
    alert = next(a for a in doc["slos"]["groups"][0]["alerts"] if a["alert"] == "LunaHighErrorRate")
    alert["expr"] = 'rate(luna_mcp_tool_calls_total{status="error"}[5m]) /\nrate(luna_mcp_tool_calls_total[5m]) > 0.1'
    _, test_files = _write(tmp_path, load_catalog(doc))
    code, out = _promtool_test(test_files[0])
    assert code != 0
    assert "5 % of calls fail" in out and "LunaHighErrorRate" in out


@pytest.mark.e2e
def test_value_templates_render_as_prometheus_renders_them(tmp_path: Path) -> None:
    """``{{ $value }}`` is Go's %v of a float64: the generator's expectation must equal promtool's rendering."""
    values = [0.7, 1.62, 100.0, 123456.0, 1e6, 1234567.0, 1e-05, 0.0001, -0.25, 0.30000000000000004, 2.5e-07]
    doc: dict[str, Any] = {
        "catalog": "value_rendering",
        "metrics": [{"name": "probe_value", "kind": "gauge", "description": "a value", "attributes": ["case"]}],
        "attributes": {"case": {"description": "which value"}},
        "slos": {
            "groups": [
                {
                    "name": "rendering",
                    "file": "rendering",
                    "alerts": [
                        {
                            "alert": f"Render{i}",
                            "expr": f'probe_value{{case="{i}"}}',
                            "labels": {"severity": "info", "case_copy": "{{ $labels.case }}"},
                            "annotations": {"value": "v={{ $value }}", "label": "{{ .Labels.case }}/{{.Value}}"},
                            "tests": {
                                "firing": [
                                    {
                                        "eval_time": "2m",
                                        "input_series": [
                                            {"series": f'probe_value{{case="{i}"}}', "values": f"{v!r}x5"}
                                        ],
                                        "alerts": [{"labels": {"case": str(i)}, "value": v}],
                                    }
                                ],
                                "silent": [
                                    {"eval_time": "2m", "input_series": [{"series": "probe_value", "values": "1x5"}]}
                                ],
                            },
                        }
                        for i, v in enumerate(values)
                    ],
                }
            ]
        },
    }
    catalog = load_catalog(doc)
    rule_files, test_files = _write(tmp_path, catalog)
    _promtool_check(rule_files)
    code, out = _promtool_test(test_files[0])
    assert code == 0, out
    expected = yaml.safe_load(test_files[0].read_text(encoding="utf-8"))["tests"][0]["alert_rule_test"][0]
    assert expected["exp_alerts"][0]["exp_annotations"] == {"value": "v=0.7", "label": "0/0.7"}
    assert expected["exp_alerts"][0]["exp_labels"] == {"case": "0", "case_copy": "0", "severity": "info"}


# --------------------------------------------------------------------------------- AURIS SELF and WiltonOS alerts


def _auris_doc() -> dict[str, Any]:
    def alert(name: str, metric: str, op: str, threshold: str, bad: str, good: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": f"avg_over_time({metric}[5m]) {op} {threshold}",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": f"SELF {metric} {op} {threshold} (5m average) on {{{{ $labels.token_id }}}}"},
            "tests": {
                "firing": [
                    {
                        "eval_time": "15m",
                        "input_series": [{"series": f'{metric}{{token_id="tok-1"}}', "values": f"{bad}x20"}],
                        "alerts": [{"labels": {"token_id": "tok-1"}}],
                    }
                ],
                "silent": [
                    {
                        "eval_time": "15m",
                        "input_series": [{"series": f'{metric}{{token_id="tok-1"}}', "values": f"{good}x20"}],
                    }
                ],
            },
        }

    return {
        "catalog": "auris_self_rules",
        "attributes": {"token_id": {"description": "The SELF token."}},
        "metrics": [
            {"name": n, "kind": "gauge", "description": f"SELF {n}", "attributes": ["token_id"]}
            for n in ("self_coherence", "self_continuity", "self_presence", "self_stress")
        ],
        # no job: free-form alerts alone need none
        "slos": {
            "groups": [
                {
                    "name": "auris-self-phase-c",
                    "file": "phase_c_rules",
                    "alerts": [
                        alert("AURIS_SELF_Coherence_Drop", "self_coherence", "<", "0.80", "0.7", "0.9"),
                        alert("AURIS_SELF_Continuity_Drop", "self_continuity", "<", "0.90", "0.8", "0.95"),
                        alert("AURIS_SELF_Stress_High", "self_stress", ">", "0.30", "0.5", "0.1"),
                    ],
                }
            ]
        },
    }


@pytest.mark.e2e
def test_auris_self_phase_c_alerts_exactly_as_in_the_seed(tmp_path: Path) -> None:
    catalog = load_catalog(_auris_doc())
    (group,) = rules.rule_documents(catalog)["phase_c_rules"]["groups"]
    assert group["name"] == "auris-self-phase-c" and "interval" not in group
    assert [(r["alert"], r["expr"], r["for"], r["labels"]["severity"]) for r in group["rules"]] == [
        ("AURIS_SELF_Coherence_Drop", "avg_over_time(self_coherence[5m]) < 0.80", "5m", "warning"),
        ("AURIS_SELF_Continuity_Drop", "avg_over_time(self_continuity[5m]) < 0.90", "5m", "warning"),
        ("AURIS_SELF_Stress_High", "avg_over_time(self_stress[5m]) > 0.30", "5m", "warning"),
    ]
    rule_files, test_files = _write(tmp_path, catalog)
    _promtool_check(rule_files)
    code, out = _promtool_test(test_files[0])
    assert code == 0, out
    fires, silent = _fires_and_silent(test_files)
    assert set(fires) == set(silent) == {r["alert"] for r in group["rules"]}


@pytest.mark.e2e
def test_wiltonos_soft_steer_alerts_with_sub_minute_for(tmp_path: Path) -> None:
    """Seed 001: |dΦ/dt| > 0.04 for 30 s; Φ outside 0.73-0.77 for 1 m (series sampled every 10 s)."""
    derivative = 'wiltonos_quantum_coherence_derivative{window="30s"}'
    phi = "wiltonos_quantum_coherence_ratio"
    doc = {
        "catalog": "wiltonos_rules",
        "attributes": {"window": {"values": ["30s", "60s", "300s"]}},
        "metrics": [
            {"name": "wiltonos_quantum_coherence_ratio", "kind": "gauge", "description": "Φ"},
            {
                "name": "wiltonos_quantum_coherence_derivative",
                "kind": "gauge",
                "description": "dΦ/dt",
                "attributes": ["window"],
            },
        ],
        "slos": {
            "groups": [
                {
                    "name": "wiltonos-soft-steer",
                    "file": "soft_steer",
                    "interval": "10s",
                    "alerts": [
                        {
                            "alert": "WiltonosCoherenceDerivativeHigh",
                            "expr": f"abs({derivative}) > 0.04",
                            "for": "30s",
                            "labels": {"severity": "warning"},
                            "annotations": {"summary": "dΦ/dt = {{ $value }} over {{ $labels.window }}"},
                            "tests": {
                                "firing": [
                                    {
                                        "name": "falling fast",
                                        "interval": "10s",
                                        "eval_time": "2m",
                                        "input_series": [{"series": derivative, "values": "-0.05x20"}],
                                        "alerts": [{"labels": {"window": "30s"}, "value": 0.05}],
                                    }
                                ],
                                "silent": [
                                    {
                                        "name": "a 20 s spike",
                                        "interval": "10s",
                                        "eval_time": "2m",
                                        "input_series": [{"series": derivative, "values": "0x9 0.06 0.06 0x9"}],
                                    }
                                ],
                            },
                        },
                        {
                            "alert": "WiltonosCoherenceOutOfBand",
                            "expr": f"{phi} < 0.73 or {phi} > 0.77",
                            "for": "1m",
                            "labels": {"severity": "warning"},
                            "tests": {
                                "firing": [
                                    {
                                        "interval": "10s",
                                        "eval_time": "3m",
                                        "input_series": [
                                            {"series": "wiltonos_quantum_coherence_ratio", "values": "0.8x30"}
                                        ],
                                    },
                                    {
                                        "interval": "10s",
                                        "eval_time": "3m",
                                        "input_series": [
                                            {"series": "wiltonos_quantum_coherence_ratio", "values": "0.7x30"}
                                        ],
                                    },
                                ],
                                "silent": [
                                    {
                                        "interval": "10s",
                                        "eval_time": "3m",
                                        "input_series": [
                                            {"series": "wiltonos_quantum_coherence_ratio", "values": "0.75x30"}
                                        ],
                                    },
                                ],
                            },
                        },
                    ],
                }
            ]
        },
    }
    rule_files, test_files = _write(tmp_path, load_catalog(doc))
    _promtool_check(rule_files)
    code, out = _promtool_test(test_files[0])
    assert code == 0, out
    fires, silent = _fires_and_silent(test_files)
    assert fires == {"WiltonosCoherenceDerivativeHigh": 1, "WiltonosCoherenceOutOfBand": 2}
    assert silent == {"WiltonosCoherenceDerivativeHigh": 1, "WiltonosCoherenceOutOfBand": 1}


# ------------------------------------------------------------------------------------- load-time validation


def _alert(doc: dict[str, Any], name: str = "LunaPhiDivergence") -> dict[str, Any]:
    return next(a for a in doc["slos"]["groups"][0]["alerts"] if a["alert"] == name)


def _problems(mutate: Callable[[dict[str, Any]], None]) -> str:
    doc = _doc()
    mutate(doc)
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(doc)
    return "\n".join(excinfo.value.problems)


def _firing(doc: dict[str, Any], name: str = "LunaPhiDivergence") -> dict[str, Any]:
    return _alert(doc, name)["tests"]["firing"][0]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: _alert(d).update(expr="luna_phi_distance > 0.6"), "references luna_phi_distance, which is not"),
        (lambda d: _alert(d).update(expr="rate(luna_mcp_tool_call_total[5m]) > 1"), "luna_mcp_tool_call_total"),
        (lambda d: _alert(d).update(expr="   "), "expr is empty"),
        (lambda d: _alert(d).update(expr="up == 0 " + "or up == 0 " * 300), "at most 2000 are accepted"),
        (lambda d: _alert(d).update(expr="up\x00 == 0"), "control characters"),
        (lambda d: _alert(d).update(expr="x" * 5000), "expr must be at most 4096 characters long"),
        (lambda d: _alert(d).update(expr="up == 0 \udc80"), "lone surrogate"),
        (lambda d: _alert(d).update(alert="Luna-Phi"), "alert name must be letters, digits and '_'"),
        (lambda d: _alert(d).update({"for": "5 min"}), "for '5 min' is not a Prometheus duration"),
        (lambda d: _alert(d)["labels"].pop("severity"), "labels need a severity"),
        (lambda d: _alert(d)["labels"].update(severity="very bad"), "severity 'very bad' must be one word"),
        (lambda d: _alert(d)["labels"].update(__owner="x"), "starts with '__'"),
        (lambda d: _alert(d)["labels"].update(alertname="X"), "is set by Prometheus itself"),
        (lambda d: _alert(d)["labels"].update(team=""), "label 'team' is empty"),
        (lambda d: _alert(d)["labels"].update(team="{{ humanize $value }}"), "may use only the templates"),
        (lambda d: _alert(d)["annotations"].update(summary="{{ $value"), "never closed"),
        (lambda d: _alert(d).pop("tests"), "tests is required"),
        (lambda d: _alert(d)["tests"].update(silent=[]), "silent List should have at least 1 item"),
        (lambda d: _alert(d)["tests"].pop("firing"), "firing is required"),
        (lambda d: _alert(d, "LunaPhiStagnation").update(alert="LunaPhiDivergence"), "'LunaPhiDivergence' is already"),
        (lambda d: d["slos"]["groups"][0].update(interval="10 s"), "interval '10 s' is not a Prometheus duration"),
        (lambda d: d["slos"]["groups"][0].update(name="luna alerts"), "group name must start with a letter"),
        (lambda d: d["slos"].update(job="luna consciousness"), "job 'luna consciousness' must be a Prometheus job"),
        (lambda d: _firing(d).update(eval_time="4m"), "eval_time 4m is shorter than for 5m"),
        (lambda d: _firing(d).update(eval_time="ten"), "eval_time 'ten' is not a Prometheus duration"),
        (lambda d: _firing(d)["input_series"][0].update(series="luna_phi{x"), "is not 'name' or 'name{label"),
        (
            lambda d: _firing(d)["input_series"][0].update(series="luna_nothing"),
            "series 'luna_nothing' is not a sample",
        ),
        (lambda d: _firing(d)["input_series"][0].update(values="0.7x15;rm"), "is not promtool's expanding notation"),
        (lambda d: _firing(d).update(input_series=[]), "input_series List should have at least 1 item"),
        (lambda d: _firing(d).update(alerts=[{}]), "uses $value; give the alert's value"),
        (lambda d: _firing(d).update(alerts=[{"value": "0.7"}]), "value must be a number"),
        (lambda d: _firing(d)["alerts"][0].update(labels={"__name__": "x"}), "label '__name__' starts with '__'"),
        (
            lambda d: _alert(d)["annotations"].update(summary="φ on {{ $labels.state }}"),
            "uses $labels.state, but the expected alert has no label 'state'",
        ),
        (
            lambda d: _alert(d)["annotations"].update(summary="{{ $value | humanize }}"),
            "uses a template action the generator does not expand",
        ),
    ],
)
def test_free_form_alert_problems_are_reported_at_load(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in _problems(mutate)


def test_any_severity_word_and_extra_labels_are_accepted() -> None:
    doc = _doc()
    for word, alert in zip(("page", "ticket", "P1", "warn-only"), doc["slos"]["groups"][0]["alerts"], strict=False):
        alert["labels"].update(severity=word, team="luna", runbook_id="RB-7")
    catalog = load_catalog(doc)
    severities = [a.severity for a in catalog.slos.alerts[:4]]
    assert severities == ["page", "ticket", "P1", "warn-only"]
    rule = rules.rule_documents(catalog)["luna_alerts"]["groups"][0]["rules"][0]
    assert rule["labels"] == {
        "severity": "page",
        "component": "phi_consciousness",
        "team": "luna",
        "runbook_id": "RB-7",
    }


@pytest.mark.e2e
def test_verbatim_annotations_allow_any_template(tmp_path: Path) -> None:
    """A template the generator cannot expand is fine when the case states the annotations promtool must see."""
    doc = _doc()
    alert = _alert(doc)
    alert["annotations"]["description"] = "{{ $value | humanize }} from φ"
    expected = {"summary": "Luna φ divergence critique", "description": "700m from φ"}
    _firing(doc)["alerts"] = [{"annotations": expected}]
    catalog = load_catalog(doc)
    test = promtool_tests.free_alert_tests(catalog.slos.alerts[0])[0]
    assert test["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"] == expected
    _, test_files = _write(tmp_path, catalog)
    code, out = _promtool_test(test_files[0])
    assert code == 0, out


def test_template_scanning_is_linear_on_hostile_text() -> None:
    """Many unclosed ``{{`` (a lazy regex would be quadratic) are scanned in one pass."""
    hostile = "{{" * 200_000
    start = time.perf_counter()
    assert template_parts(hostile) is None
    assert template_actions("}}{{ $value }}" * 50_000) is not None
    assert time.perf_counter() - start < 1.0


def test_template_parts_and_expansion() -> None:
    assert template_parts('a {{ $value }} b {{$labels.x}} {{ .Labels.y }} {{ printf "%d" 1 }}') == (
        ("text", "a "),
        ("value", ""),
        ("text", " b "),
        ("label", "x"),
        ("text", " "),
        ("label", "y"),
        ("text", " "),
        ("other", ' printf "%d" 1 '),
    )
    assert promtool_tests.expand_template("v={{ $value }} {{ $labels.x }}", {"x": "1"}, 1e6) == "v=1e+06 1"
    assert promtool_tests.expand_template("{{ $labels.missing }}", {}, None) == "<no value>"
    with pytest.raises(ValueError):
        promtool_tests.expand_template("{{ $value }}", {}, None)


def test_one_line_keeps_strings_and_comments() -> None:
    assert promql.one_line('sum(rate(x{a="b  c"}[5m]))\n  /\n  sum(rate(x[5m]))\n') == (
        'sum(rate(x{a="b  c"}[5m])) / sum(rate(x[5m]))'
    )
    with_comment = "up == 0 # the target\n or up == 2\n"
    assert promql.one_line(with_comment) == with_comment.strip()  # joining lines would comment out the rest
    assert promql.one_line("a\n\n\tor\r\nb") == "a or b"


def test_go_value_formats_like_go() -> None:
    cases = {0.7: "0.7", 1e6: "1e+06", 123456.0: "123456", 1e-05: "1e-05", 0.0001: "0.0001", 100.0: "100"}
    assert {v: promql.go_value(v) for v in cases} == cases
    assert promql.go_value(float("nan")) == "NaN" and promql.go_value(float("-inf")) == "-Inf"


def test_the_core_catalog_output_is_unchanged_by_free_form_support() -> None:
    """The core has no free-form alerts and no group interval: its rules keep the seed-003 shape."""
    from lukhas_obs.catalog import builtin

    docs = rules.rule_documents(builtin("lukhas_core"))
    assert all("interval" not in g for d in docs.values() for g in d["groups"])
    assert all("for" in r for d in docs.values() for g in d["groups"] for r in g["rules"] if "alert" in r)


# ----------------------------------------------------------------------------------------- Luna's dashboards


@pytest.fixture(scope="module")
def boards(luna: Catalog) -> dict[str, dict[str, Any]]:
    return {d.uid: dashboards.dashboard_json(luna, d) for d in luna.dashboards}


def _panels(boards: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for b in boards.values() for p in b["panels"] if p["type"] != "row"}


def test_luna_has_the_seeds_three_dashboards(boards: dict[str, dict[str, Any]]) -> None:
    assert [(uid, b["title"]) for uid, b in boards.items()] == [
        ("luna-phi-consciousness", "Luna φ Consciousness"),
        ("luna-fractal-memory", "Luna Fractal Memory"),
        ("luna-coevolution-health", "Luna Co-Evolution & System Health"),
    ]
    types = {p["type"] for p in _panels(boards).values()}
    assert types == {"stat", "gauge", "bargauge", "piechart", "heatmap", "table", "text", "timeseries"}
    for board in boards.values():
        assert [p["id"] for p in board["panels"]] == list(range(1, len(board["panels"]) + 1))
        assert [v["name"] for v in board["templating"]["list"]] == ["DS_PROM"]  # Luna has no common labels
        for panel in board["panels"]:
            if panel["type"] not in ("row", "text"):
                assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROM}"}, panel["title"]
                assert panel["targets"], panel["title"]


def test_luna_panels_queries_and_options(boards: dict[str, dict[str, Any]]) -> None:
    p = _panels(boards)

    def exprs(title: str) -> list[str]:
        return [t["expr"] for t in p[title]["targets"]]

    phi = p["φ value"]
    assert phi["type"] == "gauge" and exprs("φ value") == ["luna_phi_current_value"]
    defaults = phi["fieldConfig"]["defaults"]
    assert (defaults["min"], defaults["max"], defaults["decimals"]) == (0, 2, 3)
    assert defaults["thresholds"]["steps"] == [
        {"color": "red", "value": None},
        {"color": "yellow", "value": 1.2},
        {"color": "green", "value": 1.5},
        {"color": "#D4AF37", "value": 1.618},
    ]
    assert phi["options"]["reduceOptions"]["calcs"] == ["lastNotNull"]
    over_time = p["φ convergence over time"]
    assert over_time["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}
    assert over_time["targets"][0]["legendFormat"] == "φ ({{state}})"
    ratio = p["Convergence ratio"]
    assert ratio["type"] == "bargauge" and exprs("Convergence ratio") == ["luna_phi_convergence_ratio * 100"]
    assert ratio["fieldConfig"]["defaults"]["unit"] == "percent"
    assert (ratio["options"]["displayMode"], ratio["options"]["orientation"]) == ("gradient", "horizontal")
    assert exprs("Consciousness metrics") == [
        "luna_auto_awareness_score",
        "luna_introspection_depth",
        "luna_meta_cognition_level",
        "luna_phi_alignment_score",
    ]
    heat = p["Insights over time"]
    assert heat["type"] == "heatmap" and heat["options"]["calculate"] is True
    assert exprs("Insights over time") == ["rate(luna_insights_generated_total[5m])"]
    text = p["Reading the φ gauge"]
    assert text["options"]["mode"] == "markdown" and "1.618" in text["options"]["content"]
    assert "targets" not in text or not text["targets"]
    pie = p["Layer distribution"]
    assert pie["options"]["pieType"] == "pie"
    assert (pie["options"]["legend"]["displayMode"], pie["options"]["legend"]["placement"]) == ("table", "right")
    assert [t["legendFormat"] for t in pie["targets"]] == ["Roots", "Branches", "Leaves", "Seeds"]
    table = p["Fractal statistics"]
    assert len(table["targets"]) == 8
    assert all(t["instant"] is True and t["format"] == "table" for t in table["targets"])
    assert table["options"]["showHeader"] is True
    redis = p["Redis connection"]
    assert redis["fieldConfig"]["defaults"]["mappings"] == [
        {
            "type": "value",
            "options": {
                "1": {"text": "connected", "color": "green", "index": 0},
                "0": {"text": "disconnected", "color": "red", "index": 1},
            },
        }
    ]
    assert exprs("MCP error share (5m)") == [
        'sum(rate(luna_mcp_tool_calls_total{status="error"}[5m])) / sum(rate(luna_mcp_tool_calls_total[5m]))'
    ]
    assert exprs("MCP tool calls (rate)") == ["sum by (tool_name, status) (rate(luna_mcp_tool_calls_total[1m]))"]
    assert exprs("Pattern recognitions") == ["rate(luna_pattern_recognitions_total[5m])"]


def test_every_luna_panel_expression_names_only_catalog_series(luna: Catalog, boards: dict[str, Any]) -> None:
    samples = set(luna.sample_owners())
    exprs = [t["expr"] for p in _panels(boards).values() for t in p.get("targets", [])]
    assert len(exprs) == 33
    for expr in exprs:
        assert promql.metric_references(expr) <= samples, expr


def _panel(doc: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for d in doc["dashboards"] for r in d["rows"] for p in r["panels"] if p["title"] == title)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: _panel(d, "Convergence ratio")["queries"][0].update(expr="luna_phi_ratio * 100"), "luna_phi_ratio"),
        (lambda d: _panel(d, "Convergence ratio")["queries"][0].update(expr=""), "expr is empty"),
        (
            lambda d: _panel(d, "Convergence ratio")["queries"][0].update(metric="luna_phi_convergence_ratio"),
            "an expr query takes only expr, legend, instant and format",
        ),
        (lambda d: _panel(d, "Convergence ratio")["queries"][0].update(format="graph"), "query format 'graph'"),
        (lambda d: _panel(d, "Reading the φ gauge").update(content=" "), "a text panel needs content"),
        (
            lambda d: _panel(d, "Reading the φ gauge").update(queries=[{"expr": "up", "legend": "x"}]),
            "a text panel takes no queries",
        ),
        (lambda d: _panel(d, "φ value").update(pie_type="donut"), "pie_type is for piechart panels, not gauge"),
        (lambda d: _panel(d, "φ value").update(reduce="average"), "reduce 'average' is not one of"),
        (lambda d: _panel(d, "φ value").update(min=3), "min must be below max"),
        (lambda d: _panel(d, "Convergence ratio").update(display_mode="3d"), "display_mode '3d' is not one of"),
        (lambda d: _panel(d, "Memory growth").update(legend={"display": "tiles"}), "legend display 'tiles'"),
        (lambda d: _panel(d, "Memory growth").update(calculate=True), "calculate is for heatmap panels"),
        (lambda d: _panel(d, "Redis connection")["mappings"][1].update(value="1"), "value '1' is mapped twice"),
        (lambda d: _panel(d, "Redis connection").update(type="graph"), "type 'graph' is not one of"),
        (lambda d: _panel(d, "φ value").update(decimals=99), "decimals must be at most 20"),
    ],
)
def test_dashboard_problems_are_reported_at_load(mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in _problems(mutate)


def test_the_fixture_validates_against_the_published_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(catalog_json_schema())
    errors = [e.message for e in validator.iter_errors(_doc())]
    assert errors == []
    bad = _doc()
    _alert(bad)["severity"] = "critical"  # severity belongs in labels: the schema refuses the unknown key
    assert list(validator.iter_errors(bad))


def test_generation_from_the_fixture_is_deterministic(luna: Catalog) -> None:
    first = [(f.path, f.content) for f in generate(["rules", "tests", "dashboards"], [luna])]
    again = [
        (f.path, f.content) for f in generate(["rules", "tests", "dashboards"], [load_catalog(copy.deepcopy(_doc()))])
    ]
    assert first == again
    assert [path for path, _ in first] == [
        "collector/prometheus/rules/luna_alerts.yml",
        "collector/prometheus/tests/luna_alerts_rules_test.yml",
        "collector/grafana/dashboards/luna-phi-consciousness.json",
        "collector/grafana/dashboards/luna-fractal-memory.json",
        "collector/grafana/dashboards/luna-coevolution-health.json",
    ]
    json.loads(first[2][1])


# ------------------------------------------------------------------------- attacks: cases that would hang promtool


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: _firing(d).update(eval_time="1000y"), "eval_time 1000y is longer than"),
        (lambda d: _firing(d)["input_series"][0].update(values="0x100000000"), "expands to more than"),
        (lambda d: _firing(d)["input_series"][0].update(values="1x5000 2x5000 3"), "expands to more than"),
        (lambda d: _firing(d)["input_series"][0].update(values="0+1x99999999999999999999999"), "expands to more than"),
    ],
    ids=["eval_time", "repeat", "many values", "huge repeat"],
)
def test_cases_that_would_make_promtool_run_for_hours_are_refused(
    mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    """promtool evaluates every step up to eval_time and expands every series in memory: both are bounded at load."""
    assert expected in _problems(mutate)


HOSTILE_EXPRS = {
    "unclosed string of escapes": '"' + "\\" * 1999,
    "unclosed ranges": "[" * 2000,
    "unclosed matchers": "{" * 2000,
    "unclosed single quotes": "'a" * 1000,
    "hex prefixes": "0x" * 1000,
    "exponents": "1e" * 1000,
    "names and braces": "a{" * 1000,
    "nested by": "sum by (" * 250,
    "comment": "# " + "up " * 660,
}


@pytest.mark.parametrize("hostile", list(HOSTILE_EXPRS.values()), ids=list(HOSTILE_EXPRS))
def test_expression_checks_are_fast_on_hostile_text(hostile: str) -> None:
    """The lexer behind the load-time reference check stays fast on the longest accepted expression."""
    assert len(hostile) <= 2000
    doc = _doc()
    _alert(doc)["expr"] = hostile
    start = time.perf_counter()
    try:
        load_catalog(doc)
    except CatalogError as exc:
        assert all("Traceback" not in p for p in exc.problems)
    promql.one_line(hostile)
    promql.metric_references(hostile)
    assert time.perf_counter() - start < 2.0


def test_series_prometheus_writes_itself_may_be_selected() -> None:
    """``up``, ``ALERTS`` and the ``scrape_*`` series are not in any catalog, yet rules select them."""
    doc = _doc()
    alert = _alert(doc)
    alert["expr"] = 'absent(up{job="luna-consciousness"}) or count(ALERTS{severity="critical"}) > 3'
    alert["annotations"].pop("description")
    _firing(doc)["input_series"] = [{"series": 'up{job="other"}', "values": "1x15"}]
    _firing(doc)["alerts"] = [{"labels": {"job": "luna-consciousness"}}]
    catalog = load_catalog(doc)
    assert rules.rule_documents(catalog)["luna_alerts"]["groups"][0]["rules"][0]["expr"] == alert["expr"]


def test_a_heatmap_of_histogram_buckets_is_not_recalculated() -> None:
    """WiltonOS's dose histogram: ``format: heatmap`` bucket queries make Grafana read the buckets as they are."""
    doc = {
        "catalog": "dose_heatmap",
        "metrics": [
            {
                "name": "wiltonos_longevity_dose_amount",
                "kind": "histogram",
                "unit": "",
                "buckets": [1.0, 5.0, 10.0],
                "description": "dose",
            }
        ],
        "dashboards": [
            {
                "uid": "doses",
                "title": "Doses",
                "rows": [
                    {
                        "title": "Doses",
                        "y": 0,
                        "panels": [
                            {
                                "title": "Dose distribution",
                                "type": "heatmap",
                                "grid": {"h": 8, "w": 24, "x": 0, "y": 1},
                                "queries": [
                                    {
                                        "expr": "sum by (le) (increase(wiltonos_longevity_dose_amount_bucket[5m]))",
                                        "format": "heatmap",
                                        "legend": "{{le}}",
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    catalog = load_catalog(doc)
    panel = dashboards.dashboard_json(catalog, catalog.dashboards[0])["panels"][1]
    assert panel["options"]["calculate"] is False
    assert panel["targets"][0]["format"] == "heatmap"
    assert panel["targets"][0]["expr"] == "sum by (le) (increase(wiltonos_longevity_dose_amount_bucket[5m]))"
