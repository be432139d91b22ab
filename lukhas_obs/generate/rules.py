"""Prometheus recording and alerting rules from a catalog's ``slos:`` section.

One file per SLO group (``collector/prometheus/rules/<file>.yml``) holding:

* the seed-style group (e.g. ``memory-slos``): the quantile recording rule, the alert on it, and rate alerts;
* a ``<group>-burn-rates`` group: one slow-request-ratio recording rule per burn window, computed from the histogram
  buckets (``1 - rate(bucket{le=threshold}) / rate(count)``), and one multi-window alert per burn-rate tier;

plus ``<target.file>.yml`` with the absent/down alerts of the scrape job. A group's free-form ``alerts`` follow its
generated rules as written (expression on one line, ``for`` only when given, labels and annotations verbatim), and
its ``interval`` is written when set. Every expression is checked to reference only catalog samples, this catalog's
recording rules and the series Prometheus writes itself (``up``, ``ALERTS``, ``scrape_*``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lukhas_obs.catalog.slo import (
    SYNTHETIC_SERIES,
    BurnRateSpec,
    LatencySLO,
    RateAlertSpec,
    RuleAlertSpec,
    RuleGroupSpec,
    SloSet,
    le_label,
)
from lukhas_obs.catalog.spec import Catalog
from lukhas_obs.generate import promql
from lukhas_obs.generate.output import RULES_DIR, GeneratedFile, dump_yaml, header

__all__ = [
    "BurnAlert",
    "burn_alerts",
    "burn_labels",
    "camel",
    "free_alert_rule",
    "human_seconds",
    "rule_documents",
    "rule_files",
    "slow_ratio_record",
]


def camel(snake: str) -> str:
    """``memory_search`` → ``MemorySearch`` (alert-name fragments)."""
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part)


def human_seconds(value: float) -> str:
    """``0.1`` → ``100ms``, ``0.0005`` → ``0.5ms``, ``2.5`` → ``2.5s`` (for summaries)."""
    if value < 1:
        return f"{promql.number(Decimal(repr(value)) * 1000)}ms"
    return f"{promql.number(value)}s"


def burn_labels(catalog: Catalog) -> tuple[str, ...]:
    """The labels burn-rate rules keep: the scrape job plus the catalog's common attributes (lane, service)."""
    return ("job", *catalog.common_attributes)


def slow_ratio_record(catalog: Catalog, slo: LatencySLO, window: str) -> str:
    """Recording rule name of an SLO's slow-request ratio over ``window`` (``level:metric:operation``)."""
    return f"{'_'.join(burn_labels(catalog))}:{slo.name}_slow:ratio_rate{window}"


def slow_ratio_expr(catalog: Catalog, slo: LatencySLO, window: str) -> str:
    """Fraction of requests slower than the threshold: one minus the share in the threshold's bucket."""
    by = burn_labels(catalog)
    fast = promql.aggregate(
        "sum", promql.rate("rate", promql.selector(f"{slo.metric}_bucket", {"le": le_label(slo.threshold)}), window), by
    )
    total = promql.aggregate("sum", promql.rate("rate", f"{slo.metric}_count", window), by)
    return f"1 - {fast} / {total}"


@dataclass(frozen=True)
class BurnAlert:
    """A generated multi-window burn-rate alert, kept as data so promtool tests and docs can describe it."""

    slo: LatencySLO
    burn: BurnRateSpec
    name: str
    threshold: Decimal
    expr: str
    summary: str
    description: str


def burn_alerts(catalog: Catalog, slo: LatencySLO) -> list[BurnAlert]:
    """One alert per burn-rate tier: both windows' slow ratio above ``factor * (1 - objective)``."""
    assert catalog.slos is not None
    out = []
    for burn in catalog.slos.burn_rates:
        threshold = Decimal(repr(burn.factor)) * slo.error_budget
        level = promql.number(threshold)
        expr = (
            f"{slow_ratio_record(catalog, slo, burn.long_window)} > {level} and "
            f"{slow_ratio_record(catalog, slo, burn.short_window)} > {level}"
        )
        pct = promql.number(threshold * 100)
        objective = promql.number(Decimal(repr(slo.objective)) * 100)
        out.append(
            BurnAlert(
                slo=slo,
                burn=burn,
                name=f"{camel(slo.name)}LatencyBudgetBurn{camel(burn.name)}",
                threshold=threshold,
                expr=expr,
                summary=(
                    f"{slo.name}: {slo.window} latency error budget burning {promql.number(burn.factor)}x "
                    f"({burn.long_window}/{burn.short_window} windows)"
                ),
                description=(
                    f"More than {pct}% of {slo.metric} observations were slower than {human_seconds(slo.threshold)} "
                    f"over both the last {burn.long_window} and {burn.short_window}; the objective is {objective}% "
                    f"within {human_seconds(slo.threshold)} over {slo.window}."
                ),
            )
        )
    return out


def _alert_rule(name: str, expr: str, for_: str, severity: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {k: v for k, v in annotations.items() if v},
    }


def _latency_rules(slo: LatencySLO) -> Iterator[dict[str, Any]]:
    yield {
        "record": slo.record,
        "expr": promql.histogram_quantile(slo.quantile, f"{slo.metric}_bucket", slo.range, slo.by),
    }
    if slo.alert is not None:
        a = slo.alert
        expr = f"{slo.record} > {promql.number(slo.threshold)}"
        yield _alert_rule(a.name, expr, a.for_, a.severity, {"summary": a.summary, "description": a.description})


def rate_alert_expr(rate: RateAlertSpec) -> str:
    """``rate(metric[range]) > threshold``, summed by ``rate.by`` when given."""
    inner = promql.rate("rate", rate.metric, rate.range)
    return f"{promql.aggregate('sum', inner, rate.by)} > {promql.number(rate.threshold)}"


def _rate_rule(rate: RateAlertSpec) -> dict[str, Any]:
    a = rate.alert
    return _alert_rule(
        a.name, rate_alert_expr(rate), a.for_, a.severity, {"summary": a.summary, "description": a.description}
    )


def free_alert_rule(rule: RuleAlertSpec) -> dict[str, Any]:
    """A free-form alert as a rule-file entry: ``for`` only when declared, labels and annotations as declared."""
    out: dict[str, Any] = {"alert": rule.alert, "expr": promql.one_line(rule.expr)}
    if rule.for_ is not None:
        out["for"] = rule.for_
    out["labels"] = dict(rule.labels)
    if rule.annotations:
        out["annotations"] = dict(rule.annotations)
    return out


def _group(group: RuleGroupSpec, rules: list[dict[str, Any]]) -> dict[str, Any]:
    head: dict[str, Any] = {"name": group.name}
    if group.interval is not None:
        head["interval"] = group.interval
    return {**head, "rules": rules}


def _burn_rules(catalog: Catalog, slo: LatencySLO) -> Iterator[dict[str, Any]]:
    assert catalog.slos is not None
    for window in catalog.slos.burn_windows():
        yield {"record": slow_ratio_record(catalog, slo, window), "expr": slow_ratio_expr(catalog, slo, window)}
    for alert in burn_alerts(catalog, slo):
        yield _alert_rule(
            alert.name,
            alert.expr,
            alert.burn.for_,
            alert.burn.severity,
            {"summary": alert.summary, "description": alert.description},
        )


def target_alerts(slos: SloSet) -> list[dict[str, Any]]:
    """Alerts on the scrape job: no ``up`` series at all, and ``up == 0``."""
    if slos.target is None:
        return []
    t, job = slos.target, slos.job
    up = promql.selector("up", {"job": job})
    return [
        _alert_rule(
            t.absent_alert,
            f"absent({up})",
            t.for_,
            t.severity,
            {
                "summary": f"Prometheus has no scrape target for job {job}",
                "description": f"No up series for job={job}: the target is not configured or discovery lost it.",
            },
        ),
        _alert_rule(
            t.down_alert,
            f"{up} == 0",
            t.for_,
            t.severity,
            {
                "summary": f"Scrape target of job {job} is down",
                "description": f"Prometheus cannot scrape /metrics of job={job} (up == 0).",
            },
        ),
    ]


def rule_documents(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """``{file stem: {"groups": [...]}}`` for the catalog, in declaration order; empty without ``slos``."""
    slos = catalog.slos
    if slos is None:
        return {}
    docs: dict[str, dict[str, Any]] = {}
    for group in slos.groups:
        rules = [r for slo in group.latency for r in _latency_rules(slo)] + [_rate_rule(r) for r in group.rates]
        rules += [free_alert_rule(a) for a in group.alerts]
        groups = [_group(group, rules)]
        burn = [r for slo in group.latency for r in _burn_rules(catalog, slo)]
        if burn:
            groups.append({"name": f"{group.name}-burn-rates", "rules": burn})
        docs[group.file] = {"groups": groups}
    if slos.target is not None:
        docs[slos.target.file] = {"groups": [{"name": slos.target.group, "rules": target_alerts(slos)}]}
    _check(catalog, docs)
    return docs


def known_names(catalog: Catalog, docs: dict[str, dict[str, Any]]) -> set[str]:
    """Names an expression may select: catalog samples, the recording rules in ``docs``, and the series Prometheus
    writes itself (``up``, ``ALERTS``, ``scrape_*``: :data:`~lukhas_obs.catalog.slo.SYNTHETIC_SERIES`)."""
    records = {r["record"] for d in docs.values() for g in d["groups"] for r in g["rules"] if "record" in r}
    return set(catalog.sample_owners()) | records | SYNTHETIC_SERIES


def _check(catalog: Catalog, docs: dict[str, dict[str, Any]]) -> None:
    known = known_names(catalog, docs)
    seen: dict[str, str] = {}
    for stem, doc in docs.items():
        for group in doc["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule["alert"]
                promql.check_references(rule["expr"], known, f"{stem}.yml {group['name']} {name}")
                key = ("record:" if "record" in rule else "alert:") + name
                if key in seen:
                    raise ValueError(f"rule {name!r} is generated twice ({seen[key]} and {stem}.yml)")
                seen[key] = f"{stem}.yml"


def rule_files(catalog: Catalog) -> list[GeneratedFile]:
    """The catalog's rule files as :class:`GeneratedFile` objects under ``collector/prometheus/rules``."""
    banner = header("rules", [catalog.name])
    return [
        GeneratedFile(f"{RULES_DIR}/{stem}.yml", dump_yaml(doc, banner))
        for stem, doc in rule_documents(catalog).items()
    ]
