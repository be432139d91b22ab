"""SLO targets: what "good" means for a system's numbers, offline (heartbeat files) and online (Prometheus).

A target says: the ``aggregate`` (``avg``, ``p50``, ``p95``, ``p99``, ``min``, ``max``) of a value, over a
``window``, compared (``>=``, ``<=``, ``>``, ``<``) with a ``threshold``. The value is a heartbeat field for replay
(``field: coherence`` in ``data/identity.jsonl``, seed 004) and a Prometheus metric for online evaluation and the
canary ladder (``metric: self_coherence``); one target usually names both, so the same objective is checked on a
replayed file and on the live system. AURIS SELF's targets (seed 004, Phase C) read::

    slo_targets:
      title: Phase C
      window: 10m
      report_fields: [coherence, continuity, presence, stress]
      targets:
        - {field: coherence,  metric: self_coherence,  comparison: ">=", threshold: 0.80}
        - {field: continuity, metric: self_continuity, comparison: ">=", threshold: 0.90}
        - {field: stress,     metric: self_stress,     comparison: "<=", threshold: 0.30}

The section's shape is checked by pydantic v2 models on the catalog's base (unknown keys refused, strict types,
finite numbers); each problem names its place and the accepted values (``targets[1].aggregate must be one of avg,
p50, p95, p99, min, max, got a string ('mean')``). :func:`load_targets` takes the mapping under ``slo_targets:``
(a catalog section, or any Python mapping); :func:`load_targets_file` reads a standalone YAML file whose top level
is ``slo_targets:`` (so the same text can later move into a catalog unchanged).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lukhas_obs.catalog.naming import PROMETHEUS_NAME_RE
from lukhas_obs.catalog.schema import MAX_NAME, Model, Name, Text, bounded, describe, placed, problems_from
from lukhas_obs.catalog.slo import duration_seconds, is_duration
from lukhas_obs.catalog.yamlfile import read_yaml
from lukhas_obs.errors import CatalogError

__all__ = [
    "AGGREGATES",
    "COMPARISONS",
    "DEFAULT_WINDOW",
    "KINDS",
    "MAX_TARGETS",
    "SECTION_KEY",
    "SloTarget",
    "SloTargets",
    "SloTargetsError",
    "TargetDoc",
    "TargetsDoc",
    "compare",
    "load_targets",
    "load_targets_file",
]

#: The key the targets live under, in a standalone file today and in a catalog later.
SECTION_KEY = "slo_targets"
#: Aggregates a target may use, in the order error messages list them.
AGGREGATES: tuple[str, ...] = ("avg", "p50", "p95", "p99", "min", "max")
#: Comparisons a target may use (``actual <comparison> threshold`` must hold).
COMPARISONS: tuple[str, ...] = (">=", "<=", ">", "<")
#: Prometheus metric kinds online evaluation knows how to query.
KINDS: tuple[str, ...] = ("gauge", "histogram")
#: The window when neither the target nor the section names one (seed 004's canary conditions are "10m avg").
DEFAULT_WINDOW = "10m"
#: Most targets in one section (each costs two queries per evaluation).
MAX_TARGETS = 100
#: Most label matchers on one target.
MAX_LABELS = 20
#: Largest ``min_samples``.
MAX_MIN_SAMPLES = 10_000_000

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TARGET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


class SloTargetsError(ValueError):
    """SLO targets that cannot be used; ``problems`` lists every one (place, what is wrong, what is accepted)."""

    def __init__(self, origin: str, problems: Iterable[str]) -> None:
        self.origin = origin
        self.problems = tuple(problems)
        super().__init__(f"SLO targets {origin!r} are invalid:\n  - " + "\n  - ".join(self.problems))


def _choice(field: str, value: Any, accepted: tuple[str, ...], hint: str = "") -> PydanticCustomError:
    return PydanticCustomError(
        f"{field}_choice",
        "must be one of {accepted}{hint}, got {got}",
        {"accepted": ", ".join(accepted), "hint": hint, "got": describe(value)},
    )


def _check_window(value: str) -> str:
    if value and not is_duration(value):
        raise PydanticCustomError(
            "window_duration",
            "must be a Prometheus duration such as 30s, 5m, 1h, got {got}",
            {"got": describe(value)},
        )
    return value


class TargetDoc(Model):
    """One SLO target as written in the section (shape only; see :class:`SloTarget` for the resolved form)."""

    name: Name = Field("", description="A unique name for reports (default: the field, else the metric).")
    field: Name = Field("", description="The heartbeat JSON field replay reads (``coherence``).")
    metric: Name = Field("", description="The Prometheus metric online evaluation queries (``self_coherence``).")
    kind: Name = Field("gauge", description="``gauge`` (any sampled series) or ``histogram`` (``_bucket`` series).")
    aggregate: Name = Field("avg", description="avg, p50, p95, p99, min or max of the value over the window.")
    comparison: Name = Field(description="``actual <comparison> threshold`` must hold: >=, <=, > or <.")
    threshold: float = Field(description="A finite number.")
    window: Name = Field("", description="A Prometheus duration (``10m``); default: the section's window.")
    labels: dict[Name, Text] | None = Field(None, description="Equality label matchers on the metric.")
    min_samples: int = Field(
        1,
        ge=1,
        le=MAX_MIN_SAMPLES,
        description="Fewer samples (histogram: observations) in the window is insufficient data, never a pass.",
    )
    description: Text = ""

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, value: str) -> str:
        if value not in AGGREGATES:
            raise _choice("aggregate", value, AGGREGATES)
        return value

    @field_validator("comparison")
    @classmethod
    def _comparison(cls, value: str) -> str:
        if value not in COMPARISONS:
            hint = " (quote it in YAML: a bare > starts a block scalar)" if value in ("", ">") else ""
            raise _choice("comparison", value, COMPARISONS, hint)
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS:
            raise _choice("kind", value, KINDS)
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _check_window(value)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value and not PROMETHEUS_NAME_RE.match(value):
            raise PydanticCustomError(
                "metric_name",
                "must be a Prometheus metric name (letters, digits, '_' and ':', not starting with a digit), got {got}",
                {"got": describe(value)},
            )
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value and not _TARGET_NAME_RE.match(value):
            raise PydanticCustomError(
                "target_name",
                "must be letters, digits, '_', '.', ':' or '-', not starting with a digit, got {got}",
                {"got": describe(value)},
            )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        if len(value) > MAX_LABELS:
            raise PydanticCustomError("labels_count", "must have at most {limit} matchers", {"limit": MAX_LABELS})
        for key in value:
            if not _LABEL_NAME_RE.match(key) or key.startswith("__"):
                raise PydanticCustomError(
                    "label_name",
                    "keys must be Prometheus label names (letters, digits, '_', not starting with '__'), got {got}",
                    {"got": describe(key)},
                )
        return value

    @model_validator(mode="after")
    def _meaning(self) -> TargetDoc:
        if not self.field and not self.metric:
            raise PydanticCustomError(
                "field_or_metric", "needs a field (replay), a metric (online evaluation) or both", {}
            )
        if self.kind == "histogram" and self.aggregate in ("min", "max"):
            raise PydanticCustomError(
                "histogram_aggregate",
                "aggregate {aggregate} is not available for a histogram; accepted: avg, p50, p95, p99",
                {"aggregate": self.aggregate},
            )
        if self.kind == "histogram" and not self.metric:
            raise PydanticCustomError("histogram_metric", "kind histogram needs a metric", {})
        return self


class TargetsDoc(Model):
    """The mapping under ``slo_targets:``."""

    title: Text = Field("", description="Shown in the report heading (seed 004: ``Phase C``).")
    window: Name = Field(DEFAULT_WINDOW, description="The default window of every target.")
    report_fields: list[Name] | None = Field(
        None, max_length=MAX_TARGETS, description="Heartbeat fields replay reports (default: the targets' fields)."
    )
    targets: list[TargetDoc] = Field(max_length=MAX_TARGETS, description="The targets; at least one.")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _check_window(value)

    @field_validator("targets")
    @classmethod
    def _non_empty(cls, value: list[TargetDoc]) -> list[TargetDoc]:
        if not value:
            raise PydanticCustomError("targets_empty", "must list at least one target", {})
        return value


@dataclass(frozen=True)
class SloTarget:
    """One resolved target: its name and window are filled in, ``threshold`` is a float."""

    name: str
    field: str | None
    metric: str | None
    kind: str
    aggregate: str
    comparison: str
    threshold: float
    window: str
    labels: tuple[tuple[str, str], ...] = ()
    min_samples: int = 1
    description: str = ""

    @property
    def window_seconds(self) -> float:
        """The window in seconds."""
        return duration_seconds(self.window)

    @property
    def quantile(self) -> float | None:
        """0.5 / 0.95 / 0.99 for the percentile aggregates, else None."""
        return _QUANTILES.get(self.aggregate)

    @property
    def higher_is_better(self) -> bool:
        """True for ``>=`` and ``>``: the worst of several series is the lowest."""
        return self.comparison in (">=", ">")

    def holds(self, actual: float) -> bool:
        """Whether ``actual`` meets the target (a NaN never does)."""
        return compare(actual, self.comparison, self.threshold)

    def describe(self) -> str:
        """``coherence >= 0.80`` (``p95(latency) <= 0.25`` for a non-average aggregate)."""
        subject = self.name
        if self.aggregate != "avg":
            subject = f"{self.aggregate}({subject})"
        return f"{subject} {self.comparison} {_threshold_text(self.threshold)}"


def _threshold_text(value: float) -> str:
    """``0.80`` for two-decimal thresholds (as the seed's report), else the shortest exact form."""
    text = f"{value:.2f}"
    return text if float(text) == value else repr(value)


def compare(actual: float, comparison: str, threshold: float) -> bool:
    """``actual <comparison> threshold``; False for NaN and for an unknown comparison."""
    if math.isnan(actual):
        return False
    if comparison == ">=":
        return actual >= threshold
    if comparison == "<=":
        return actual <= threshold
    if comparison == ">":
        return actual > threshold
    if comparison == "<":
        return actual < threshold
    return False


@dataclass(frozen=True)
class SloTargets:
    """A set of targets and how replay reports them."""

    targets: tuple[SloTarget, ...]
    title: str = ""
    report_fields: tuple[str, ...] = ()
    origin: str = "<mapping>"

    @property
    def fields(self) -> tuple[str, ...]:
        """Heartbeat fields replay reports: ``report_fields`` if given, then every target's field, each once."""
        out = list(self.report_fields)
        for target in self.targets:
            if target.field and target.field not in out:
                out.append(target.field)
        return tuple(out)

    @property
    def longest_window_seconds(self) -> float:
        """The longest target window, in seconds."""
        return max(t.window_seconds for t in self.targets)

    def online(self) -> tuple[SloTarget, ...]:
        """The targets that name a metric."""
        return tuple(t for t in self.targets if t.metric)

    def offline(self) -> tuple[SloTarget, ...]:
        """The targets that name a heartbeat field."""
        return tuple(t for t in self.targets if t.field)


def _resolve(doc: TargetsDoc, origin: str) -> SloTargets:
    targets: list[SloTarget] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for index, t in enumerate(doc.targets):
        name = t.name or t.field or t.metric
        if name in seen:
            problems.append(
                f"targets[{index}]: name {name!r} is already used by targets[{seen[name]}]; give one a name"
            )
        seen.setdefault(name, index)
        targets.append(
            SloTarget(
                name=name,
                field=t.field or None,
                metric=t.metric or None,
                kind=t.kind,
                aggregate=t.aggregate,
                comparison=t.comparison,
                threshold=float(t.threshold),
                window=t.window or doc.window,
                labels=tuple(sorted((t.labels or {}).items())),
                min_samples=t.min_samples,
                description=t.description,
            )
        )
    if problems:
        raise SloTargetsError(origin, bounded(problems))
    return SloTargets(
        targets=tuple(targets), title=doc.title, report_fields=tuple(doc.report_fields or ()), origin=origin
    )


def load_targets(
    section: Mapping[str, Any], origin: str = "<mapping>", *, locate: Any = None, prefix: tuple[Any, ...] = ()
) -> SloTargets:
    """The targets the mapping under ``slo_targets:`` describes; SloTargetsError lists every problem.

    ``origin`` names the source in messages (a file name); ``locate`` (a YAML document's ``line``) and ``prefix``
    (the section's place in the document, ``("slo_targets",)``) add ``file:line:`` to each problem.
    """
    if not isinstance(section, Mapping):
        raise SloTargetsError(origin, [f"{SECTION_KEY} must be a mapping with the keys title, window, "
                                       f"report_fields, targets, got {describe(section)}"])  # fmt: skip
    try:
        copied = dict(section)
    except Exception:  # a Mapping whose iteration or lookup raises
        raise SloTargetsError(origin, [f"{SECTION_KEY} must be a mapping that can be read, got "
                                       f"{describe(section)}"]) from None  # fmt: skip
    try:
        doc = TargetsDoc.model_validate(copied)
    except ValidationError as exc:
        raw = problems_from(exc, TargetsDoc)
        if locate is not None or origin != "<mapping>":
            raw = [_placed_again(p, exc, i, prefix, origin, locate) for i, p in enumerate(raw)]
        raise SloTargetsError(origin, bounded(raw)) from None
    return _resolve(doc, origin)


def _placed_again(
    text: str, exc: ValidationError, index: int, prefix: tuple[Any, ...], origin: str, locate: Any
) -> str:
    """``file:line: problem`` for the ``index``-th error of ``exc``."""
    try:
        loc = tuple(prefix) + tuple(exc.errors(include_url=False)[index]["loc"])
    except Exception:
        loc = tuple(prefix)
    return placed(text, loc, origin, locate)


def load_targets_file(path: str | os.PathLike[str]) -> SloTargets:
    """Read a standalone targets file: YAML whose top level is ``slo_targets:`` (bounded, strict, UTF-8).

    SloTargetsError names the file and line of every problem; OSError when it cannot be read.
    """
    origin = os.fspath(path)
    if len(origin) > 4 * MAX_NAME:
        origin = origin[: 4 * MAX_NAME] + "..."
    try:
        document = read_yaml(path)
    except CatalogError as exc:
        raise SloTargetsError(origin, exc.problems) from None
    data = document.data
    if not isinstance(data, dict) or SECTION_KEY not in data:
        raise SloTargetsError(origin, [f"{origin}: the top level must be a mapping with the key {SECTION_KEY}, "
                                       f"got {describe(data)}"])  # fmt: skip
    extra = [k for k in data if k != SECTION_KEY]
    if extra:
        line = document.line((extra[0],)) if isinstance(extra[0], str) else None
        where = f"{origin}:{line}" if line else origin
        raise SloTargetsError(
            origin, [f"{where}: unknown top-level key {str(extra[0])[:60]!r}; accepted: {SECTION_KEY}"]
        )
    return load_targets(data[SECTION_KEY], origin, locate=document.line, prefix=(SECTION_KEY,))
