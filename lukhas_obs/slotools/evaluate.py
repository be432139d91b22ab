"""Online evaluation of SLO targets through the Prometheus HTTP API.

Each target becomes one PromQL value query and one sample-count query, both evaluated at the same instant:

* gauge ``avg`` / ``min`` / ``max``: ``avg_over_time(m{labels}[w])`` (``min_over_time``, ``max_over_time``);
* gauge ``pNN``: ``quantile_over_time(0.NN, m{labels}[w])``;
* histogram ``pNN``: ``histogram_quantile(0.NN, sum by (le) (rate(m_bucket{labels}[w])))``;
* histogram ``avg``: ``sum(rate(m_sum{labels}[w])) / sum(rate(m_count{labels}[w]))``;
* samples in the window: ``count_over_time(m{labels}[w])`` for a gauge, ``sum(increase(m_count{labels}[w]))``
  (observations) for a histogram.

A gauge query returns one value per series (per ``token_id`` for AURIS SELF): the target holds only when **every**
series holds, and the value reported is the worst series' (lowest for ``>=``/``>``, highest for ``<=``/``<``), as an
alert on the same expression would fire on any one series. A histogram query sums its series first (seed 003's
dashboards do the same). Label values are written as PromQL string literals (escaped), never pasted as text.

Outcomes: ``pass``; ``fail``; ``no_data`` when the query returns nothing, a NaN (a histogram without observations
in the window) or an infinite value (a gauge at +Inf is no score), or fewer than ``min_samples`` samples; ``error``
when Prometheus could not answer (the message says why, without credentials). Only ``pass`` counts as holding:
missing data is never good news.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lukhas_obs.errors import redact_text
from lukhas_obs.slotools.promapi import PrometheusClient, PrometheusError, Sample
from lukhas_obs.slotools.targets import SloTarget, SloTargets

__all__ = ["Evaluation", "TargetResult", "evaluate", "samples_query", "selector", "value_query"]


def selector(target: SloTarget, suffix: str = "") -> str:
    """``metric<suffix>{a="x",b="y"}`` with the target's label matchers as escaped PromQL string literals."""
    if not target.metric:
        raise ValueError(f"target {target.name!r} names no metric")
    matchers = ",".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in target.labels)
    return f"{target.metric}{suffix}" + (f"{{{matchers}}}" if matchers else "")


def value_query(target: SloTarget) -> str:
    """The PromQL expression whose value is compared with the target's threshold."""
    w = target.window
    if target.kind == "histogram":
        if target.aggregate == "avg":
            return f"sum(rate({selector(target, '_sum')}[{w}])) / sum(rate({selector(target, '_count')}[{w}]))"
        return f"histogram_quantile({target.quantile!r}, sum by (le) (rate({selector(target, '_bucket')}[{w}])))"
    if target.quantile is not None:
        return f"quantile_over_time({target.quantile!r}, {selector(target)}[{w}])"
    return f"{target.aggregate}_over_time({selector(target)}[{w}])"


def samples_query(target: SloTarget) -> str:
    """The PromQL expression counting samples (gauge) or observations (histogram) in the target's window."""
    if target.kind == "histogram":
        return f"sum(increase({selector(target, '_count')}[{target.window}]))"
    return f"count_over_time({selector(target)}[{target.window}])"


@dataclass(frozen=True)
class TargetResult:
    """One target's outcome: ``status`` pass / fail / no_data / error, with the value and a reason to show."""

    target: SloTarget
    status: str
    value: float | None
    samples: float | None
    series: int
    query: str
    reason: str

    @property
    def held(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "metric": self.target.metric,
            "status": self.status,
            "value": self.value,
            "samples": self.samples,
            "series": self.series,
            "query": self.query,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Evaluation:
    """Every target's outcome at one instant ``at`` (Unix seconds)."""

    results: tuple[TargetResult, ...]
    at: float

    @property
    def held(self) -> bool:
        """True when there is at least one result and every one passed."""
        return bool(self.results) and all(r.held for r in self.results)

    def by_status(self, status: str) -> tuple[TargetResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "held": self.held, "results": [r.to_dict() for r in self.results]}


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _worst(target: SloTarget, samples: Sequence[Sample]) -> Sample:
    key = (lambda s: s.value) if target.higher_is_better else (lambda s: -s.value)
    return min(samples, key=key)


def _series_name(labels: dict[str, str]) -> str:
    """A short, redacted name of a series for a reason (label values may be anything an exporter sent)."""
    shown = ",".join(f"{k[:40]}={redact_text(v[:40])!r}" for k, v in sorted(labels.items())[:4])
    return "{" + shown + "}"


def evaluate_target(client: PrometheusClient, target: SloTarget, at: float) -> TargetResult:
    """Query one target at ``at``; never raises for a Prometheus problem (status ``error`` instead)."""
    query = value_query(target)
    try:
        values = client.query(query, at=at).samples
        counts = client.query(samples_query(target), at=at).samples
    except PrometheusError as exc:
        return TargetResult(target, "error", None, None, 0, query, f"{target.name}: {exc}")
    if not values:
        return TargetResult(target, "no_data", None, None, 0, query, f"{target.name}: no data for {query}")
    odd = [s for s in values if not math.isfinite(s.value)]
    if odd:
        return TargetResult(
            target, "no_data", None, None, len(values), query,
            f"{target.name}: {query} is {odd[0].value} for {_series_name(odd[0].labels)} "
            "(NaN: no observations in the window; an infinite value is no score)",
        )  # fmt: skip
    samples = min((s.value for s in counts), default=0.0)
    if not samples >= target.min_samples:  # also NaN
        return TargetResult(
            target, "no_data", None, samples if math.isfinite(samples) else None, len(values), query,
            f"{target.name}: {_num(samples)} samples in {target.window}, fewer than the {target.min_samples} needed",
        )  # fmt: skip
    worst = _worst(target, values)
    held = target.holds(worst.value)
    where = f" (worst of {len(values)} series: {_series_name(worst.labels)})" if len(values) > 1 else ""
    verdict = target.comparison if held else f"not {target.comparison}"
    reason = f"{target.name}: {_num(worst.value)} {verdict} {target.threshold:g}{where}"
    return TargetResult(target, "pass" if held else "fail", worst.value, samples, len(values), query, reason)


def evaluate(
    client: PrometheusClient, targets: SloTargets | Iterable[SloTarget], at: float | None = None
) -> Evaluation:
    """Evaluate every target that names a metric at one instant ``at`` (default: now).

    Targets without a metric (replay-only) are left out; callers that need every target online (the canary ladder)
    check that first.
    """
    chosen = targets.online() if isinstance(targets, SloTargets) else tuple(t for t in targets if t.metric)
    when = time.time() if at is None else float(at)
    return Evaluation(tuple(evaluate_target(client, t, when) for t in chosen), when)
