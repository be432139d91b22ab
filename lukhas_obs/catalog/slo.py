"""Service level objectives of a catalog: typed specs, input schema and validation.

The ``slos:`` section of a catalog says what "good" means for its metrics, and is the input of the generated Prometheus
recording rules, alerts and promtool tests (``lukhas-obs generate``). It holds three kinds of entries:

* **latency objectives** over a histogram: a quantile recording rule (and optionally an alert on it, seed 003 style),
  plus an objective ("95 % of requests faster than ``threshold`` over ``window``") turned into multi-window,
  multi-burn-rate alerts (Google SRE workbook, chapter 5). The slow fraction is computed from the histogram's own
  buckets, so ``threshold`` must be one of the metric's bucket boundaries;
* **rate alerts** over a counter (``rate(x[5m]) > t``, optionally summed by labels);
* a **target** block: alerts when the scrape job is absent or down;
* **free-form alerts** (``alerts:`` of a group): any PromQL expression, with or without ``for``, any labels (a
  ``severity`` of any vocabulary is required) and templated annotations, each with promtool cases that must fire and
  cases that must stay silent (:class:`RuleAlertSpec`; the syntax is in ``docs/CATALOG-RULES.md``).

The section's shape is checked by the pydantic models below (:class:`SloSetDoc`, part of the catalog's JSON Schema);
its meaning by :func:`slo_problems` against the catalog's metrics. Both run when the SLOs are loaded: by
:func:`~lukhas_obs.catalog.load_catalog`, by ``lukhas-obs generate``, or on first use of ``catalog.slos`` of a catalog
a service registered — never on ``import lukhas_obs`` — so a typo in a metric name, a threshold between two buckets
or a duration like ``5 min`` fails before a rule is written, with every problem listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client.utils import floatToGoString
from pydantic import Field

from lukhas_obs.catalog.naming import PROMETHEUS_NAME_RE
from lukhas_obs.catalog.schema import DocumentedModel, Name, Number, Text

if TYPE_CHECKING:  # pragma: no cover
    from lukhas_obs.catalog.spec import Catalog, MetricSpec

__all__ = [
    "SEVERITIES",
    "SYNTHETIC_SERIES",
    "AlertCase",
    "AlertDoc",
    "AlertSpec",
    "BurnRateDoc",
    "BurnRateSpec",
    "ExpectedAlert",
    "InputSeries",
    "LatencySLO",
    "RateAlertSpec",
    "RuleAlertSpec",
    "RuleGroupSpec",
    "SloSet",
    "SloSetDoc",
    "TargetSpec",
    "duration_seconds",
    "expr_problems",
    "is_duration",
    "le_label",
    "slo_problems",
    "slos_from_doc",
    "template_actions",
    "template_parts",
    "validate_slos",
]

#: Alert severities the generated rules may carry (seed 003 uses ``page`` and ``warn``; burn-rate tickets ``ticket``).
SEVERITIES: tuple[str, ...] = ("page", "ticket", "warn", "info")

_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_ALERT_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
#: Rule group names: seed 003 uses ``memory-slos``, Luna ``luna_consciousness_alerts``, AURIS ``auris-self-phase-c``.
_GROUP_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: Free-form alert names are Prometheus metric-name shaped (what promtool accepts): ``AURIS_SELF_Coherence_Drop``.
_FREE_ALERT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A scrape job is a label value; names like ``luna-consciousness`` are common.
_JOB_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
_SEVERITY_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: A promtool input series: ``name`` or ``name{label="value",...}``.
_SERIES_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?$", re.DOTALL)
#: The characters of promtool's expanding notation (``0+10x15``, ``1 2 _ stale``, ``Inf``, ``-1e3``).
_VALUES_RE = re.compile(r"^[0-9A-Za-z.+\-_ ]+$")
#: Longest free-form expression; a rule longer than this is a generated blob, not something to review.
MAX_EXPR = 2000
#: Most input series in one promtool case, and most cases per alert and direction.
MAX_SERIES = 100
MAX_CASES = 10
#: promtool evaluates the rules at every step up to eval_time and expands each series in memory: a case asking for
#: ``1000y`` or ``0x100000000`` would run for hours. Cases are bounded to a week and 10,000 samples per series.
MAX_EVAL_TIME = "7d"
MAX_SAMPLES = 10_000
_REPEAT_RE = re.compile(r"x(\d+)$")
#: Template actions the generator expands for promtool's expected annotations (Prometheus's own variables).
_VALUE_ACTION_RE = re.compile(r"^\s*(?:\$value|\.Value)\s*$")
_LABEL_ACTION_RE = re.compile(r"^\s*(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)\s*$")
_FILE_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_SLO_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Labels Prometheus attaches at scrape time; rules may aggregate by them.
SCRAPE_LABELS: tuple[str, ...] = ("job", "instance")
#: Series Prometheus itself writes (per scrape target, and for alerts): expressions may select them besides the
#: catalog's samples.
SYNTHETIC_SERIES: frozenset[str] = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)


def is_duration(text: object) -> bool:
    """True for a Prometheus duration such as ``5m``, ``1h30m`` or ``30d`` (non-empty, non-zero)."""
    if not isinstance(text, str) or not text:
        return False
    match = _DURATION_RE.match(text)
    return match is not None and any(int(g) for g in match.groups() if g)


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration (``1h30m`` → 5400); ValueError on anything else."""
    match = _DURATION_RE.match(text) if is_duration(text) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h, 30d)")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if g)


def le_label(boundary: float) -> str:
    """The ``le`` label value a bucket boundary gets on ``/metrics`` (prometheus_client's rendering: ``1.0``, ``0.1``).

    Prometheus 2.x matches ``le`` as a string, so rules must spell it exactly as metric_name.
    """
    return floatToGoString(boundary)


def _go_float(boundary: float) -> str:
    """Go's shortest rendering (``strconv.FormatFloat(f, 'g', -1, 64)``-like) for the common, non-exponent cases."""
    text = repr(float(boundary))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class AlertSpec:
    """One alerting rule's own settings: its name, how long the condition must hold, severity and summary."""

    name: str
    for_: str
    severity: str
    summary: str
    description: str = ""


@dataclass(frozen=True)
class LatencySLO:
    """A latency objective over a histogram.

    ``objective`` of requests must be faster than ``threshold`` seconds over ``window``. ``quantile``, ``range`` and
    ``record`` define the quantile recording rule (``histogram_quantile`` over ``rate(..._bucket[range])`` grouped by
    ``le`` and ``by``); ``alert``, when set, fires when that recorded quantile exceeds ``threshold``.
    """

    name: str
    metric: str
    threshold: float
    objective: float
    window: str
    quantile: float
    record: str
    range: str = "5m"
    by: tuple[str, ...] = ()
    alert: AlertSpec | None = None
    description: str = ""

    @property
    def error_budget(self) -> Decimal:
        """The allowed fraction of slow requests, ``1 - objective``, exact (``Decimal``) for readable thresholds."""
        return 1 - Decimal(repr(self.objective))


@dataclass(frozen=True)
class RateAlertSpec:
    """An alert on a counter's per-second rate: ``rate(metric[range]) > threshold``.

    ``by`` None keeps every series (no aggregation, as seed 003's ``ReflectionAnomalyBurst``); a tuple sums by those
    labels (``()`` sums everything).
    """

    name: str
    metric: str
    threshold: float
    alert: AlertSpec
    range: str = "5m"
    by: tuple[str, ...] | None = None
    description: str = ""


Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class InputSeries:
    """One promtool input series: ``series`` in selector notation, ``values`` in promtool's expanding notation."""

    series: str
    values: str


@dataclass(frozen=True)
class ExpectedAlert:
    """An alert a firing case expects: the labels of the firing series (the rule's own labels are added), the
    alert's ``$value`` when its templates use it, or the exact ``annotations`` when they use more than the generator
    expands (``$value`` and ``$labels.<name>``)."""

    labels: Pairs = ()
    value: float | None = None
    annotations: Pairs | None = None


@dataclass(frozen=True)
class AlertCase:
    """A promtool scenario: input series sampled every ``interval``, the alert evaluated at ``eval_time``.

    A firing case lists the alerts it expects (default: one, with no labels beyond the rule's); a silent case none.
    """

    eval_time: str
    input_series: tuple[InputSeries, ...]
    interval: str = "1m"
    alerts: tuple[ExpectedAlert, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class RuleAlertSpec:
    """A free-form alerting rule, as Prometheus writes it, plus the promtool cases that prove it.

    ``for_`` None: the alert fires on the first evaluation where ``expr`` returns a series. ``labels`` hold the
    ``severity`` (any vocabulary) and any others (``component``); labels and annotations may use Prometheus templates.
    Every alert has at least one ``firing`` and one ``silent`` case: the generated promtool tests are mandatory.
    """

    alert: str
    expr: str
    labels: Pairs
    firing: tuple[AlertCase, ...]
    silent: tuple[AlertCase, ...]
    for_: str | None = None
    annotations: Pairs = ()

    @property
    def severity(self) -> str:
        """The ``severity`` label ('' when missing: a validation problem)."""
        return dict(self.labels).get("severity", "")


@dataclass(frozen=True)
class RuleGroupSpec:
    """A Prometheus rule group, written to ``<file>.yml``; burn-rate rules go to a sibling group in the same file.

    ``interval`` None: Prometheus's global evaluation interval. Free-form ``alerts`` follow the generated rules.
    """

    name: str
    file: str
    latency: tuple[LatencySLO, ...] = ()
    rates: tuple[RateAlertSpec, ...] = ()
    alerts: tuple[RuleAlertSpec, ...] = ()
    interval: str | None = None


@dataclass(frozen=True)
class BurnRateSpec:
    """One multi-window burn-rate alert tier (SRE workbook): fire when both windows burn faster than ``factor``."""

    name: str
    severity: str
    factor: float
    long_window: str
    short_window: str
    for_: str = "2m"


@dataclass(frozen=True)
class TargetSpec:
    """Alerts on the scrape target itself: ``absent(up{job=...})`` and ``up{job=...} == 0``."""

    group: str
    file: str
    absent_alert: str
    down_alert: str
    for_: str = "5m"
    severity: str = "page"


@dataclass(frozen=True)
class SloSet:
    """Everything under a catalog's ``slos:`` key."""

    job: str
    groups: tuple[RuleGroupSpec, ...] = ()
    burn_rates: tuple[BurnRateSpec, ...] = ()
    target: TargetSpec | None = None

    @property
    def latency(self) -> tuple[LatencySLO, ...]:
        """Every latency objective, in declaration order."""
        return tuple(slo for group in self.groups for slo in group.latency)

    @property
    def rates(self) -> tuple[RateAlertSpec, ...]:
        """Every rate alert, in declaration order."""
        return tuple(rate for group in self.groups for rate in group.rates)

    @property
    def alerts(self) -> tuple[RuleAlertSpec, ...]:
        """Every free-form alert, in declaration order."""
        return tuple(alert for group in self.groups for alert in group.alerts)

    def burn_windows(self) -> tuple[str, ...]:
        """Every window a burn-rate tier uses, shortest first (one slow-ratio recording rule per window)."""
        windows = {w for b in self.burn_rates for w in (b.short_window, b.long_window)}
        return tuple(sorted(windows, key=duration_seconds))


# ------------------------------------------------------------------------------------------------ input schema
#
# The shape of the ``slos:`` section (pydantic models, the catalog's one schema mechanism) and its conversion into the
# specs above. Defaults are the ones the specs document; meaning (durations, severities, names, cross-references) is
# checked by :func:`slo_problems` with the same words the JSON Schema enumerates.

_SEVERITY_ENUM: dict[str, Any] = {"enum": list(SEVERITIES)}

#: Most burn-rate tiers in one catalog (each latency objective is checked against each tier).
MAX_BURN_RATES = 20
#: Most free-form alerts in one group.
MAX_ALERTS = 500


class AlertDoc(DocumentedModel):
    """An alerting rule's own settings."""

    name: Name = ""
    """CamelCase alert name."""
    for_: Name = Field("", alias="for")
    """How long the condition must hold (a Prometheus duration such as ``5m``)."""
    severity: Name = Field("", json_schema_extra=_SEVERITY_ENUM)
    summary: Text = ""
    description: Text = ""


class LatencyDoc(DocumentedModel):
    """A latency objective over a histogram: quantile recording rule, optional alert, burn-rate alerts."""

    name: Name = ""
    metric: Name = ""
    """The histogram's Prometheus name."""
    threshold: Number
    """Seconds; must be a bucket boundary of the metric."""
    objective: Number
    """Fraction of requests faster than threshold (0.95)."""
    window: Name = ""
    """The SLO window (``30d``)."""
    quantile: Number
    """The recorded quantile (0.95)."""
    record: Name = ""
    """The recording rule name (``job:<metric>_p95:rate5m``)."""
    range: Name = "5m"
    by: list[Name] | None = None
    """Labels the quantile is recorded by (besides ``le``)."""
    alert: AlertDoc | None = None
    description: Text = ""


class RateDoc(DocumentedModel):
    """An alert on a counter's per-second rate."""

    name: Name = ""
    metric: Name = ""
    """The counter's Prometheus name."""
    threshold: Number
    """Events per second."""
    range: Name = "5m"
    by: list[Name] | None = None
    """Absent: keep every series; a list: sum by those labels (``[]`` sums everything)."""
    alert: AlertDoc
    description: Text = ""


class SeriesDoc(DocumentedModel):
    """One input series of a promtool case."""

    series: Text = ""
    """Selector notation: ``luna_phi_current_value{state="awakened"}``; the metric must be a catalog sample."""
    values: Text = ""
    """promtool's expanding notation: ``0.7x15``, ``0+10x20``, ``1 1 _ stale``."""


class ExpectedAlertDoc(DocumentedModel):
    """An alert a firing case expects."""

    labels: dict[Name, Text] | None = None
    """Labels of the firing series, beyond the rule's own (``{state: awakened}``)."""
    value: Number | None = None
    """The alert's ``$value`` at eval_time, needed when a label or annotation template uses it."""
    annotations: dict[Name, Text] | None = None
    """The exact expected annotations; needed only for templates beyond ``$value`` and ``$labels.<name>``."""


class SilentCaseDoc(DocumentedModel):
    """A promtool scenario in which the alert must stay silent."""

    name: Text = ""
    """What the scenario shows (part of the promtool test name)."""
    eval_time: Name = ""
    """When the alert is evaluated (a duration from the start of the series, ``10m``)."""
    interval: Name = "1m"
    """Time between two values of each input series."""
    input_series: list[SeriesDoc] = Field(min_length=1, max_length=MAX_SERIES)


class FiringCaseDoc(SilentCaseDoc):
    """A promtool scenario in which the alert must fire."""

    alerts: list[ExpectedAlertDoc] | None = Field(None, min_length=1, max_length=MAX_SERIES)
    """The alerts expected at eval_time; absent: one alert whose labels are the rule's own."""


class AlertTestsDoc(DocumentedModel):
    """The promtool cases of a free-form alert: at least one firing and one silent case."""

    firing: list[FiringCaseDoc] = Field(min_length=1, max_length=MAX_CASES)
    silent: list[SilentCaseDoc] = Field(min_length=1, max_length=MAX_CASES)


class RuleAlertDoc(DocumentedModel):
    """A free-form alerting rule, written as in a Prometheus rule file, with its promtool cases."""

    alert: Name = ""
    """The alert name (letters, digits, ``_``)."""
    expr: Text = ""
    """Any PromQL expression over the catalog's samples and recording rules."""
    for_: Name | None = Field(None, alias="for")
    """How long the condition must hold; absent: the alert fires on the first evaluation that matches."""
    labels: dict[Name, Text] | None = None
    """``severity`` (required, any word: critical, warning, page, ticket, ...) and any other labels."""
    annotations: dict[Name, Text] | None = None
    """``summary``, ``description``, ...; Prometheus templates such as ``{{ $value }}`` are allowed."""
    tests: AlertTestsDoc
    """The promtool cases (mandatory)."""


class GroupDoc(DocumentedModel):
    """A Prometheus rule group written to ``<file>.yml``."""

    name: Name = ""
    file: Name = ""
    interval: Name | None = None
    """The group's evaluation interval (``10s``); absent: Prometheus's global one."""
    latency: list[LatencyDoc] | None = None
    rates: list[RateDoc] | None = None
    alerts: list[RuleAlertDoc] | None = Field(None, max_length=MAX_ALERTS)
    """Free-form alerting rules."""


class BurnRateDoc(DocumentedModel):
    """A multi-window burn-rate alert tier (Google SRE workbook, chapter 5)."""

    name: Name = ""
    severity: Name = Field("", json_schema_extra=_SEVERITY_ENUM)
    factor: Number
    """Multiple of the sustainable burn rate (14.4 pages at 2 % of a 30-day budget in 1 h)."""
    long_window: Name = ""
    short_window: Name = ""
    for_: Name = Field("2m", alias="for")


class TargetDoc(DocumentedModel):
    """Alerts on the scrape target itself (absent, down)."""

    group: Name = ""
    file: Name = ""
    absent_alert: Name = ""
    down_alert: Name = ""
    for_: Name = Field("5m", alias="for")
    severity: Name = Field("page", json_schema_extra=_SEVERITY_ENUM)


class SloSetDoc(DocumentedModel):
    """A catalog's ``slos:`` section."""

    job: Name = ""
    """The Prometheus scrape job of this catalog's /metrics (needed by latency objectives, rate and target alerts)."""
    groups: list[GroupDoc] | None = None
    burn_rates: list[BurnRateDoc] | None = Field(None, max_length=MAX_BURN_RATES)
    target: TargetDoc | None = None


def _alert(doc: AlertDoc) -> AlertSpec:
    return AlertSpec(
        name=doc.name, for_=doc.for_, severity=doc.severity, summary=doc.summary, description=doc.description
    )


def _pairs(mapping: dict[str, str] | None) -> Pairs:
    return tuple((str(k), str(v)) for k, v in (mapping or {}).items())


def _case(doc: SilentCaseDoc) -> AlertCase:
    alerts: tuple[ExpectedAlert, ...] = ()
    if isinstance(doc, FiringCaseDoc):
        alerts = tuple(
            ExpectedAlert(
                labels=_pairs(a.labels),
                value=a.value,
                annotations=_pairs(a.annotations) if a.annotations is not None else None,
            )
            for a in doc.alerts or (ExpectedAlertDoc(),)
        )
    return AlertCase(
        eval_time=doc.eval_time,
        input_series=tuple(InputSeries(series=x.series, values=x.values) for x in doc.input_series),
        interval=doc.interval,
        alerts=alerts,
        name=doc.name,
    )


def _rule_alert(doc: RuleAlertDoc) -> RuleAlertSpec:
    return RuleAlertSpec(
        alert=doc.alert,
        expr=doc.expr,
        labels=_pairs(doc.labels),
        firing=tuple(_case(c) for c in doc.tests.firing),
        silent=tuple(_case(c) for c in doc.tests.silent),
        for_=doc.for_,
        annotations=_pairs(doc.annotations),
    )


def slos_from_doc(doc: SloSetDoc) -> SloSet:
    """The :class:`SloSet` a validated ``slos:`` section describes (no cross-reference checks: see slo_problems)."""
    groups = tuple(
        RuleGroupSpec(
            name=g.name,
            file=g.file,
            latency=tuple(
                LatencySLO(
                    name=x.name,
                    metric=x.metric,
                    threshold=x.threshold,
                    objective=x.objective,
                    window=x.window,
                    quantile=x.quantile,
                    record=x.record,
                    range=x.range,
                    by=tuple(x.by or ()),
                    alert=_alert(x.alert) if x.alert is not None else None,
                    description=x.description,
                )
                for x in g.latency or ()
            ),
            rates=tuple(
                RateAlertSpec(
                    name=r.name,
                    metric=r.metric,
                    threshold=r.threshold,
                    alert=_alert(r.alert),
                    range=r.range,
                    # absent: no aggregation; present (a list, or null as before): sum by those labels
                    by=tuple(r.by or ()) if "by" in r.model_fields_set else None,
                    description=r.description,
                )
                for r in g.rates or ()
            ),
            alerts=tuple(_rule_alert(a) for a in g.alerts or ()),
            interval=g.interval,
        )
        for g in doc.groups or ()
    )
    burns = tuple(
        BurnRateSpec(
            name=b.name,
            severity=b.severity,
            factor=b.factor,
            long_window=b.long_window,
            short_window=b.short_window,
            for_=b.for_,
        )
        for b in doc.burn_rates or ()
    )
    t = doc.target
    target = (
        TargetSpec(
            group=t.group,
            file=t.file,
            absent_alert=t.absent_alert,
            down_alert=t.down_alert,
            for_=t.for_,
            severity=t.severity,
        )
        if t is not None
        else None
    )
    return SloSet(job=doc.job, groups=groups, burn_rates=burns, target=target)


# ------------------------------------------------------------------------------------------------------ validation


def _validate_alert(alert: AlertSpec, where: str) -> Iterable[str]:
    if not _ALERT_NAME_RE.match(alert.name):
        yield f"{where}: alert name {alert.name!r} must be CamelCase letters and digits"
    if not is_duration(alert.for_):
        yield f"{where}: alert {alert.name}: for {alert.for_!r} is not a Prometheus duration (e.g. 5m)"
    if alert.severity not in SEVERITIES:
        yield f"{where}: alert {alert.name}: severity {alert.severity!r} is not one of {', '.join(SEVERITIES)}"
    if not alert.summary.strip():
        yield f"{where}: alert {alert.name}: summary is empty"


def _validate_by(by: Iterable[str], labels: tuple[str, ...], where: str) -> Iterable[str]:
    allowed = set(labels) | set(SCRAPE_LABELS)
    for label in by:
        if not _LABEL_RE.match(label) or label == "le":
            yield f"{where}: by label {label!r} is not a legal label to group by"
        elif label not in allowed:
            yield f"{where}: by label {label!r} is not a label of the metric (it has: {', '.join(labels) or 'none'})"


def _fraction(value: float) -> bool:
    return 0.0 < value < 1.0


def validate_slos(catalog: Catalog) -> Iterable[str]:
    """Every problem of ``catalog.slos`` against the catalog's metrics (empty when there is nothing wrong)."""
    if catalog.slos is not None:
        yield from slo_problems(catalog.slos, catalog.metrics, catalog.name)


def slo_problems(slos: SloSet, metric_specs: Iterable[MetricSpec], catalog_name: str) -> Iterable[str]:
    """Every problem of ``slos`` against the metrics of the catalog named ``catalog_name``."""
    metrics = {m.name: m for m in metric_specs}
    if (slos.job or slos.latency or slos.rates or slos.target is not None) and not _JOB_RE.match(slos.job):
        yield f"slos: job {slos.job!r} must be a Prometheus job name (letters, digits, '_', '-', '.', ':')"
    groups: dict[str, str] = {}
    names: dict[str, str] = {}
    files: dict[str, str] = {}
    alerts: dict[str, str] = {}
    records: dict[str, str] = {}

    samples = {sample for m in metrics.values() for sample in m.sample_names} | SYNTHETIC_SERIES
    known = samples | {slo.record for slo in slos.latency}

    def once(kind: str, seen: dict[str, str], key: str, owner: str) -> Iterable[str]:
        if key in seen:
            yield f"{owner}: {kind} {key!r} is already used by {seen[key]}"
        seen.setdefault(key, owner)

    for group in slos.groups:
        gwhere = f"slos group {group.name!r}"
        if not _GROUP_NAME_RE.match(group.name):
            yield f"{gwhere}: group name must start with a letter and hold letters, digits, '_' and '-'"
        if not _FILE_RE.match(group.file):
            yield f"{gwhere}: file {group.file!r} must be a lower-case file stem (letters, digits, '_', '-')"
        yield from once("group name", groups, group.name, gwhere)
        yield from once("file", files, group.file, gwhere)
        if not group.latency and not group.rates and not group.alerts:
            yield f"{gwhere}: has no latency objectives, rate alerts or alerts"
        if group.interval is not None and not is_duration(group.interval):
            yield f"{gwhere}: interval {group.interval!r} is not a Prometheus duration (e.g. 10s, 1m)"
        for rule in group.alerts:
            where = f"{gwhere} alert {rule.alert!r}"
            yield from once("alert name", alerts, rule.alert, where)
            yield from rule_alert_problems(rule, samples, known, where)
        for slo in group.latency:
            where = f"slo {slo.name!r}"
            if not _SLO_NAME_RE.match(slo.name):
                yield f"{where}: name must be lower_snake_case"
            yield from once("slo name", names, slo.name, where)
            yield from once("record", records, slo.record, where)
            if slo.alert is not None:
                yield from _validate_alert(slo.alert, where)
                yield from once("alert name", alerts, slo.alert.name, where)
            yield from _validate_latency(slo, metrics.get(slo.metric), slos, where)
        for rate in group.rates:
            where = f"rate alert {rate.name!r}"
            if not _SLO_NAME_RE.match(rate.name):
                yield f"{where}: name must be lower_snake_case"
            yield from once("slo name", names, rate.name, where)
            yield from _validate_alert(rate.alert, where)
            yield from once("alert name", alerts, rate.alert.name, where)
            metric = metrics.get(rate.metric)
            if metric is None:
                yield f"{where}: metric {rate.metric!r} is not in catalog {catalog_name!r}"
            elif metric.kind != "counter":
                yield f"{where}: metric {rate.metric!r} is a {metric.kind}; rate alerts need a counter"
            else:
                yield from _validate_by(rate.by or (), metric.label_names, where)
            if not is_duration(rate.range):
                yield f"{where}: range {rate.range!r} is not a Prometheus duration"
            if not rate.threshold >= 0:
                yield f"{where}: threshold must be a non-negative number of events per second"
    for burn in slos.burn_rates:
        where = f"burn rate {burn.name!r}"
        if not _SLO_NAME_RE.match(burn.name):
            yield f"{where}: name must be lower_snake_case"
        yield from once("burn rate name", names, f"burn:{burn.name}", where)
        if burn.severity not in SEVERITIES:
            yield f"{where}: severity {burn.severity!r} is not one of {', '.join(SEVERITIES)}"
        if not burn.factor > 1:
            yield f"{where}: factor must be > 1 (it multiplies the sustainable burn rate)"
        durations_ok = True
        for key, value in (("long_window", burn.long_window), ("short_window", burn.short_window), ("for", burn.for_)):
            if not is_duration(value):
                durations_ok = False
                yield f"{where}: {key} {value!r} is not a Prometheus duration"
        if durations_ok and duration_seconds(burn.short_window) >= duration_seconds(burn.long_window):
            yield f"{where}: short_window must be shorter than long_window"
    if slos.latency and not slos.burn_rates:
        yield "slos: latency objectives need burn_rates tiers (e.g. 1h/5m at 14.4x, 6h/30m at 6x)"
    if slos.target is not None:
        t = slos.target
        if not _GROUP_NAME_RE.match(t.group):
            yield f"slos.target: group {t.group!r} must start with a letter and hold letters, digits, '_' and '-'"
        if not _FILE_RE.match(t.file):
            yield f"slos.target: file {t.file!r} must be a lower-case file stem"
        yield from once("group name", groups, t.group, "slos.target")
        yield from once("file", files, t.file, "slos.target")
        for alert_name in (t.absent_alert, t.down_alert):
            yield from _validate_alert(AlertSpec(alert_name, t.for_, t.severity, "-"), "slos.target")
            yield from once("alert name", alerts, alert_name, "slos.target")


def _validate_latency(slo: LatencySLO, metric: Any, slos: SloSet, where: str) -> Iterable[str]:
    if metric is None:
        yield f"{where}: metric {slo.metric!r} is not in the catalog"
    elif metric.kind != "histogram":
        yield f"{where}: metric {slo.metric!r} is a {metric.kind}; latency objectives need a histogram"
    else:
        yield from _validate_by(slo.by, metric.label_names, where)
        buckets = metric.buckets or ()
        if slo.threshold not in buckets:
            yield (
                f"{where}: threshold {slo.threshold!r} is not a bucket boundary of {slo.metric} "
                f"({', '.join(map(repr, buckets))}); the slow fraction is read from the bucket at the threshold"
            )
        elif le_label(slo.threshold) != _go_float(slo.threshold) or "e" in le_label(slo.threshold):
            yield (
                f"{where}: threshold {slo.threshold!r} renders as le={le_label(slo.threshold)!r} from Python but "
                f"le={_go_float(slo.threshold)!r} from Go exporters; pick a boundary that renders the same"
            )
    if not PROMETHEUS_NAME_RE.match(slo.record) or ":" not in slo.record:
        yield f"{where}: record {slo.record!r} must be a level:metric:operations recording rule name"
    if not _fraction(slo.objective):
        yield f"{where}: objective must be a fraction strictly between 0 and 1, got {slo.objective!r}"
    if not _fraction(slo.quantile):
        yield f"{where}: quantile must be strictly between 0 and 1, got {slo.quantile!r}"
    for key, value in (("window", slo.window), ("range", slo.range)):
        if not is_duration(value):
            yield f"{where}: {key} {value!r} is not a Prometheus duration"
    if _fraction(slo.objective):
        for burn in slos.burn_rates:
            if burn.factor * (1 - slo.objective) >= 1:
                yield (
                    f"{where}: burn rate {burn.name!r} ({burn.factor:g}x) can never fire with objective "
                    f"{slo.objective!r}: it needs more than 100% slow requests"
                )


# ------------------------------------------------------------------------------------------- free-form alerts

#: A parsed template action: ``("value", "")`` for ``$value``, ``("label", name)`` for ``$labels.name``, ``("other",
#: text)`` for anything else Go's text/template accepts (functions, pipelines, conditionals).
Action = tuple[str, str]


def template_parts(text: str) -> tuple[tuple[str, str], ...] | None:
    """A Prometheus template split into ``("text", s)`` and action parts; None when a ``{{`` is never closed.

    Action parts are ``("value", "")`` for ``{{ $value }}`` (or ``.Value``), ``("label", name)`` for
    ``{{ $labels.name }}`` (or ``.Labels.name``) and ``("other", body)`` for anything else Go's text/template accepts
    (functions, pipelines, conditionals). A linear scan (``str.find``), not a regular expression: a lazy pattern over
    many unclosed ``{{`` would be quadratic.
    """
    out: list[tuple[str, str]] = []
    index = 0
    while True:
        start = text.find("{{", index)
        if start < 0:
            if index < len(text):
                out.append(("text", text[index:]))
            return tuple(out)
        end = text.find("}}", start + 2)
        if end < 0:
            return None
        if start > index:
            out.append(("text", text[index:start]))
        body = text[start + 2 : end]
        label = _LABEL_ACTION_RE.match(body)
        if _VALUE_ACTION_RE.match(body):
            out.append(("value", ""))
        elif label is not None:
            out.append(("label", label.group(1)))
        else:
            out.append(("other", body))
        index = end + 2


def template_actions(text: str) -> tuple[Action, ...] | None:
    """The ``{{ ... }}`` actions of a Prometheus template (see :func:`template_parts`); None when one is unclosed."""
    parts = template_parts(text)
    return None if parts is None else tuple(p for p in parts if p[0] != "text")


def _label_name_problem(name: str) -> str | None:
    if not _LABEL_RE.match(name):
        return "is not a label name (letters, digits, '_')"
    if name.startswith("__"):
        return "starts with '__' (reserved by Prometheus)"
    if name == "alertname":
        return "is set by Prometheus itself"
    return None


def expr_problems(expr: str, known: set[str], where: str) -> Iterable[str]:
    """Cheap checks of a free PromQL expression: non-empty, at most :data:`MAX_EXPR` characters, no control
    characters, and every metric it selects in ``known``.

    The names come from a lexer (:func:`~lukhas_obs.generate.promql.metric_references`); promtool and Prometheus
    parse the expression for real. An unknown name is refused, not warned about: a typo'd metric makes an alert that
    can never fire, or a panel that stays empty, and nothing else would notice.
    """
    text = expr.strip()
    if not text:
        yield f"{where}: expr is empty"
        return
    if len(text) > MAX_EXPR:
        yield f"{where}: expr is {len(text)} characters long; at most {MAX_EXPR} are accepted"
        return
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        yield f"{where}: expr holds control characters"
        return
    from lukhas_obs.generate.promql import metric_references

    unknown = sorted(metric_references(text) - known)
    if unknown:
        yield (
            f"{where}: expr references {', '.join(unknown)}, which is not a sample of this catalog, one of its "
            "recording rules or a series Prometheus writes (up, ALERTS, scrape_*); declare the metric in the "
            "catalog, or fix the name"
        )


def _series_problems(series: InputSeries, samples: set[str], where: str) -> Iterable[str]:
    match = _SERIES_RE.match(series.series.strip())
    if match is None:
        yield f"{where}: series {series.series[:80]!r} is not 'name' or 'name{{label=\"value\",...}}'"
    elif match.group(1) not in samples:
        yield f"{where}: series {match.group(1)!r} is not a sample of this catalog (nor a series Prometheus writes)"
    if not series.values.strip() or not _VALUES_RE.match(series.values):
        yield (
            f"{where}: values {series.values[:80]!r} is not promtool's expanding notation "
            "(numbers, 'a+bxn', 'a-bxn', 'axn', '_', 'stale')"
        )
    elif _sample_count(series.values) > MAX_SAMPLES:
        yield f"{where}: values expands to more than {MAX_SAMPLES} samples; promtool would expand them all in memory"


def _sample_count(values: str) -> int:
    """An upper bound of the samples promtool's expanding notation produces (``axn`` is n + 1 samples)."""
    total = 0
    for token in values.split():
        repeat = _REPEAT_RE.search(token)
        if repeat is None:
            total += 1
        elif len(repeat.group(1)) > 6:  # more than a million from one token; no need to convert the digits
            return MAX_SAMPLES + 1
        else:
            total += int(repeat.group(1)) + 1
        if total > MAX_SAMPLES:
            break
    return total


def _case_problems(case: AlertCase, rule: RuleAlertSpec, firing: bool, samples: set[str], where: str) -> Iterable[str]:
    for key, value in (("eval_time", case.eval_time), ("interval", case.interval)):
        if not is_duration(value):
            yield f"{where}: {key} {value!r} is not a Prometheus duration"
    if is_duration(case.eval_time) and duration_seconds(case.eval_time) > duration_seconds(MAX_EVAL_TIME):
        yield (
            f"{where}: eval_time {case.eval_time} is longer than {MAX_EVAL_TIME}; promtool evaluates every step up to "
            "it (use a shorter for, or fewer minutes of input)"
        )
    if (
        firing
        and rule.for_ is not None
        and is_duration(rule.for_)
        and is_duration(case.eval_time)
        and duration_seconds(case.eval_time) < duration_seconds(rule.for_)
    ):
        yield f"{where}: eval_time {case.eval_time} is shorter than for {rule.for_}: the alert cannot fire yet"
    for series in case.input_series:
        yield from _series_problems(series, samples, where)
    if not firing:
        return
    templated = [(f"label {k}", v) for k, v in rule.labels] + [(f"annotation {k}", v) for k, v in rule.annotations]
    for number, expected in enumerate(case.alerts):
        awhere = f"{where} expected alert {number + 1}"
        labels = dict(expected.labels)
        for name in labels:
            problem = _label_name_problem(name)
            if problem is not None:
                yield f"{awhere}: label {name[:60]!r} {problem}"
        for what, text in templated:
            if expected.annotations is not None and what.startswith("annotation"):
                continue  # compared as given
            for kind, arg in template_actions(text) or ():
                if kind == "value" and expected.value is None:
                    yield f"{awhere}: {what} uses $value; give the alert's value (value: ...)"
                elif kind == "label" and arg not in labels:
                    yield (
                        f"{awhere}: {what} uses $labels.{arg}, but the expected alert has no label {arg!r} "
                        "(it would render '<no value>')"
                    )
                elif kind == "other" and what.startswith("annotation"):
                    yield (
                        f"{awhere}: {what} uses a template action the generator does not expand "
                        f"({{{{{arg.strip()[:40]}}}}}); give the exact annotations: ..."
                    )


def rule_alert_problems(rule: RuleAlertSpec, samples: set[str], known: set[str], where: str) -> Iterable[str]:
    """Every problem of one free-form alert: name, expression, ``for``, labels, annotations and promtool cases.

    ``samples`` are the sample names input series may use; ``known`` what the expression may select (samples, the
    catalog's recording rules, ``up``). The expression is checked cheaply here (bounded, references known names);
    ``promtool check rules`` and the generated ``promtool test rules`` are the real checks.
    """
    if not _FREE_ALERT_NAME_RE.match(rule.alert):
        yield f"{where}: alert name must be letters, digits and '_' (not starting with a digit)"
    yield from expr_problems(rule.expr, known, where)
    if rule.for_ is not None and not is_duration(rule.for_):
        yield f"{where}: for {rule.for_!r} is not a Prometheus duration (e.g. 5m); leave it out to fire at once"
    labels = dict(rule.labels)
    severity = labels.get("severity")
    if severity is None:
        yield f"{where}: labels need a severity (any word: critical, warning, info, page, ticket, ...)"
    elif not _SEVERITY_WORD_RE.match(severity):
        yield f"{where}: severity {severity[:60]!r} must be one word (letters, digits, '_', '-')"
    for kind, pairs in (("label", rule.labels), ("annotation", rule.annotations)):
        for name, text in pairs:
            problem = _label_name_problem(name)
            if problem is not None:
                yield f"{where}: {kind} {name[:60]!r} {problem}"
            actions = template_actions(text)
            if actions is None:
                yield f"{where}: {kind} {name[:60]!r} opens a template with '{{{{' that is never closed"
            elif kind == "label" and any(a == "other" for a, _ in actions):
                yield f"{where}: label {name[:60]!r} may use only the templates {{{{ $value }}}}, {{{{ $labels.x }}}}"
            if kind == "label" and not text:
                yield f"{where}: label {name[:60]!r} is empty (Prometheus drops empty labels)"
    if not rule.firing or not rule.silent:
        yield f"{where}: needs at least one firing and one silent promtool case"
    for direction, cases in (("firing", rule.firing), ("silent", rule.silent)):
        for number, case in enumerate(cases):
            cwhere = f"{where} {direction} case {number + 1}"
            yield from _case_problems(case, rule, direction == "firing", samples, cwhere)
