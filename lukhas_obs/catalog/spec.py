"""Declarative specifications of metrics and span families, and their validation.

A :class:`Catalog` is the single source of truth for what a service measures. Instruments, histogram bucket views,
docs, rules and dashboards are derived from it; nothing else names a metric. Catalogs are validated when they are
built, so a bad spec fails at import/load time with every problem listed, never at recording time. SLOs and
dashboards given as :class:`DeferredSections` (catalogs a service registers) are checked when first read instead.

This module imports neither :mod:`~lukhas_obs.catalog.slo` nor :mod:`~lukhas_obs.catalog.dashboard`: they load with
those sections.
"""

from __future__ import annotations

import math
import re
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from opentelemetry.exporter.prometheus._mapping import _UNIT_MAPPINGS

from lukhas_obs.catalog.kinds import KINDS
from lukhas_obs.catalog.naming import PROMETHEUS_NAME_RE, label_name, prometheus_name, sample_names
from lukhas_obs.errors import CatalogError

if TYPE_CHECKING:  # pragma: no cover - slo and dashboard load with those sections, never on import
    from lukhas_obs.catalog.dashboard import DashboardSpec
    from lukhas_obs.catalog.slo import SloSet

MetricKind = Literal[
    "counter",
    "updown_counter",
    "histogram",
    "gauge",
    "observable_gauge",
    "observable_counter",
    "observable_updown_counter",
    "rate_of_change",
    "info",
]
SpanKind = Literal["internal", "server", "client", "producer", "consumer"]

METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
if set(METRIC_KINDS) != set(KINDS):  # pragma: no cover - the Literal and the kinds table must name the same kinds
    raise ImportError(f"MetricKind and catalog.kinds.KINDS disagree: {sorted(set(METRIC_KINDS) ^ set(KINDS))}")
SPAN_KINDS: tuple[str, ...] = get_args(SpanKind)

#: Labels filled from the resolved settings rather than at call time (seed 003's COMMON_LABELS are lane + service).
COMMON_ATTRIBUTE_SOURCES: tuple[str, ...] = ("lane", "service", "environment", "version", "namespace")

#: The value an enumerated attribute takes when given a value outside its list.
FOLD_VALUE = "other"

_OTEL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$")
_ATTR_KEY_RE = re.compile(r"^[a-z][a-z0-9_.]*$")
_SPAN_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_TEMPLATE_FIELD_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Most concrete span names one template family may expand to (the product of its params' value counts).
MAX_SPAN_NAMES = 1000
_RESERVED_LABELS = frozenset({"le", "quantile", "job", "instance", "otel_metric_overflow"})
_KNOWN_UNITS = frozenset(_UNIT_MAPPINGS) | {""}
_ANNOTATION_RE = re.compile(r"^\{[A-Za-z0-9_.\-/ ]+\}$")


def unit_is_known(unit: str) -> bool:
    """UCUM units the Prometheus mapping knows, ``1``, an annotation like ``{doc}``, or a ratio ``By/s``."""
    if unit in _KNOWN_UNITS or _ANNOTATION_RE.match(unit):
        return True
    top, sep, bottom = unit.partition("/")
    return bool(sep) and (top in _KNOWN_UNITS or top == "1") and bottom in {"s", "m", "h", "d", "w", "mo", "y"}


@dataclass(frozen=True)
class AttributeSpec:
    """A call-time attribute (label). ``values`` enumerates what is allowed; anything else folds to ``other``."""

    key: str
    description: str = ""
    values: tuple[str, ...] | None = None
    #: ``False``: the catalog declares this label is not a credential although its name looks like one; the
    #: credential heuristic lets it through and its values are recorded unscrubbed (SECURITY.md).
    secret: bool | None = None
    #: What a value outside ``values`` becomes (``other`` by default; e.g. the seeds' own ``unknown``).
    fold_to: str = FOLD_VALUE
    #: Keep values outside ``values`` as given (bounded by the cardinality limit) instead of folding them.
    keep_unknown: bool = False

    @property
    def label(self) -> str:
        return label_name(self.key)

    @property
    def enumerated(self) -> bool:
        return self.values is not None


@dataclass(frozen=True)
class MetricSpec:
    """One metric: what Prometheus exposes and what OTel creates, in one place."""

    name: str
    otel_name: str
    kind: MetricKind
    unit: str
    description: str
    attributes: tuple[AttributeSpec, ...] = ()
    common_attributes: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    component: str | None = None
    catalog: str = ""
    #: Present at 0 from configure when the metric has no call-time attributes (prometheus_client's behaviour).
    start_at_zero: bool = False
    #: rate_of_change: the gauge whose rate of change this is, and the windows (``30s``-style labels).
    source: str | None = None
    windows: tuple[str, ...] = ()
    #: An environment variable that turns this catalog's metrics off (``off``/``false``/``0``/``no``) at configure.
    switch: str | None = None
    #: Gauges in multiprocess mode: how the workers' values combine (``multiprocess.GAUGE_MODES``; None: ``last``).
    gauge_mode: str | None = None

    @property
    def label_names(self) -> tuple[str, ...]:
        """Every label on every series of this metric, sorted (common first is not guaranteed by Prometheus)."""
        return tuple(sorted({*self.common_attributes, *(a.label for a in self.attributes)}))

    @property
    def sample_names(self) -> tuple[str, ...]:
        return sample_names(self.name, self.kind)

    def attribute(self, key: str) -> AttributeSpec | None:
        for attr in self.attributes:
            if attr.key == key:
                return attr
        return None


@dataclass(frozen=True)
class SpanSpec:
    """A span family. ``name`` may be a template such as ``identity.authenticate_{tier}`` with ``params`` values."""

    name: str
    component: str
    description: str = ""
    attributes: tuple[str, ...] = ()
    kind: SpanKind = "internal"
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        """Every concrete span name of this family (the template expanded over its params)."""
        fields_ = [f for _, f, _, _ in string.Formatter().parse(self.name) if f]
        if not fields_:
            return (self.name,)
        combos: list[dict[str, str]] = [{}]
        for fname in fields_:
            combos = [{**c, fname: v} for c in combos for v in self.params.get(fname, ())]
        return tuple(self.name.format(**c) for c in combos)


Sections = tuple["SloSet | None", "tuple[DashboardSpec, ...]"]


class DeferredSections:
    """A catalog's ``slos:`` and ``dashboards:`` sections, loaded (shape and meaning checked) on first use.

    A running service registers catalogs for their metrics and spans; their SLOs and dashboards matter to
    ``lukhas-obs generate`` and to tests. Loading them on first use keeps the SLO and dashboard models and their
    validation (Grafana grid overlaps, recording-rule references) off ``import lukhas_obs``. A problem raises
    :class:`~lukhas_obs.errors.CatalogError` from the first (and every later) access, never silently.

    ``load(metrics, catalog_name)`` returns ``(slos, dashboards)``; ``key`` (the raw sections) compares two
    deferred catalogs without loading them.
    """

    __slots__ = ("_catalog", "_load", "_lock", "_problems", "_result", "key")

    def __init__(self, load: Callable[[tuple[MetricSpec, ...], str], Sections], key: object) -> None:
        self._load: Callable[[tuple[MetricSpec, ...], str], Sections] | None = load
        self.key = key
        self._lock = threading.Lock()
        self._result: Sections | None = None
        self._problems: tuple[str, ...] | None = None
        self._catalog = ""

    @property
    def loaded(self) -> bool:
        """True once the sections were loaded (successfully or not)."""
        return self._load is None

    def resolve(self, metrics: tuple[MetricSpec, ...], name: str) -> Sections:
        """Load the sections once; raise the same problems (as a new CatalogError) on every call if they are bad."""
        with self._lock:
            if self._load is not None:
                try:
                    self._result = self._load(metrics, name)
                except CatalogError as exc:
                    self._problems, self._catalog = exc.problems, exc.catalog
                self._load = None  # the raw sections are no longer needed
            if self._problems is not None:
                raise CatalogError(self._catalog, self._problems)
            assert self._result is not None
            return self._result


class _Section:
    """A Catalog field that may hold :class:`DeferredSections` and loads them when read."""

    def __init__(self, index: int, default: object) -> None:
        self._index = index
        self._default = default
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, obj: Catalog | None, owner: type | None = None) -> Any:
        if obj is None:
            return self._default
        value = obj.__dict__.get(self._slot, self._default)
        if isinstance(value, DeferredSections):
            return value.resolve(obj.metrics, obj.name)[self._index]
        return value

    def __set__(self, obj: Catalog, value: object) -> None:
        obj.__dict__[self._slot] = value


@dataclass(frozen=True, eq=False, repr=False)
class Catalog:
    """A named, validated set of metric and span specs, with the SLOs and dashboards built on them.

    Build one from YAML with :func:`lukhas_obs.catalog.load_catalog` or directly in Python; either way it is validated
    on construction and raises :class:`~lukhas_obs.errors.CatalogError` listing every problem. ``slos`` and
    ``dashboards`` given as specs are validated with the rest; given as :class:`DeferredSections` (catalogs a service
    registers) they are loaded and validated on first use.
    """

    name: str
    metrics: tuple[MetricSpec, ...]
    spans: tuple[SpanSpec, ...] = ()
    title: str = ""
    description: str = ""
    common_attributes: tuple[str, ...] = ()
    slos: SloSet | None = _Section(0, None)  # type: ignore[assignment]
    dashboards: tuple[DashboardSpec, ...] = _Section(1, ())  # type: ignore[assignment]

    def __post_init__(self) -> None:
        problems = list(_validate(self))
        if problems:
            raise CatalogError(self.name, problems)

    def _deferred(self) -> DeferredSections | None:
        for slot in ("_slos", "_dashboards"):
            value = self.__dict__.get(slot)
            if isinstance(value, DeferredSections):
                return value
        return None

    def _key(self) -> tuple[object, ...]:
        deferred = self._deferred()
        sections: object = ("deferred", deferred.key) if deferred is not None else (self.slos, self.dashboards)
        return (self.name, self.metrics, self.spans, self.title, self.description, self.common_attributes, sections)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        if self is other:
            return True
        mine, theirs = self._key(), other._key()
        if mine[:-1] != theirs[:-1]:
            return False
        if (self._deferred() is None) != (other._deferred() is None):  # one loaded, one not: compare loaded specs
            return (self.slos, self.dashboards) == (other.slos, other.dashboards)
        return mine[-1] == theirs[-1]

    def __hash__(self) -> int:
        return hash((self.name, self.metrics))

    def __repr__(self) -> str:
        deferred = self._deferred()
        sections = (
            "slos=<not loaded>, dashboards=<not loaded>"
            if deferred is not None and not deferred.loaded
            else f"slos={self.__dict__.get('_slos')!r}, dashboards={self.__dict__.get('_dashboards')!r}"
        )
        return (
            f"Catalog(name={self.name!r}, metrics={self.metrics!r}, spans={self.spans!r}, title={self.title!r}, "
            f"description={self.description!r}, common_attributes={self.common_attributes!r}, {sections})"
        )

    def metric(self, metric_name: str) -> MetricSpec:
        """The spec of the metric exposed as ``name``; KeyError names the close matches."""
        for spec in self.metrics:
            if spec.name == metric_name:
                return spec
        known = ", ".join(s.name for s in self.metrics)
        raise KeyError(f"catalog {self.name!r} has no metric {metric_name!r}; it has: {known}")

    def span(self, name: str) -> SpanSpec:
        """The span family that produces span ``name`` (concrete or template)."""
        for spec in self.spans:
            if name == spec.name or name in spec.names():
                return spec
        raise KeyError(f"catalog {self.name!r} has no span family for {name!r}")

    def sample_owners(self) -> dict[str, str]:
        """Map of every Prometheus sample name to the metric that produces it."""
        return {sample: m.name for m in self.metrics for sample in m.sample_names}

    def views(self) -> list[object]:
        """OTel SDK Views carrying each histogram's bucket boundaries, for users who build their own MeterProvider.

        lukhas-obs itself passes the same boundaries as instrument advice, so they apply to every reader.
        """
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

        return [
            View(instrument_name=m.otel_name, aggregation=ExplicitBucketHistogramAggregation(list(m.buckets or ())))
            for m in self.metrics
            if KINDS[m.kind].buckets
        ]


def _validate(catalog: Catalog) -> Iterable[str]:
    if not re.match(r"^[a-z][a-z0-9_]*$", catalog.name or ""):
        yield f"catalog name {catalog.name!r} must be lower_snake_case"
    for common in catalog.common_attributes:
        if common not in COMMON_ATTRIBUTE_SOURCES:
            yield f"common attribute {common!r} is not one of {', '.join(COMMON_ATTRIBUTE_SOURCES)}"
    seen_samples: dict[str, str] = {}
    seen_otel: dict[str, str] = {}
    for m in catalog.metrics:
        yield from (f"{m.name}: {p}" for p in _validate_metric(m))
        for sample in m.sample_names:
            if sample in seen_samples:
                yield f"{m.name}: Prometheus sample name {sample!r} is also produced by {seen_samples[sample]!r}"
            seen_samples.setdefault(sample, m.name)
        if m.source is not None:
            source = next((s for s in catalog.metrics if s.name == m.source), None)
            if source is None or source.kind != "gauge":
                yield f"{m.name}: source {m.source!r} is not a gauge of this catalog"
        if m.otel_name in seen_otel:
            yield f"{m.name}: OTel instrument name {m.otel_name!r} is also used by {seen_otel[m.otel_name]!r}"
        seen_otel.setdefault(m.otel_name, m.name)
    seen_spans: dict[str, str] = {}
    for s in catalog.spans:
        span_problems = list(_validate_span(s))
        yield from (f"span {s.name}: {p}" for p in span_problems)
        if _template_problem(s) is not None or _expansion(s) > MAX_SPAN_NAMES:
            continue
        for concrete in s.names():
            if concrete in seen_spans:
                yield f"span {concrete!r} is declared by two families ({seen_spans[concrete]!r}, {s.name!r})"
            seen_spans.setdefault(concrete, s.name)
    yield from _validate_sections(catalog)


def _validate_sections(catalog: Catalog) -> Iterable[str]:
    """SLOs and dashboards given as specs are checked with the catalog; deferred ones when they are loaded."""
    if catalog._deferred() is not None:
        return
    slos, dashboards = catalog.__dict__.get("_slos"), catalog.__dict__.get("_dashboards")
    if slos is not None:
        from lukhas_obs.catalog.slo import slo_problems

        yield from slo_problems(slos, catalog.metrics, catalog.name)
    if dashboards:
        from lukhas_obs.catalog.dashboard import dashboard_problems

        yield from dashboard_problems(dashboards, catalog.metrics, slos, catalog.name)


def _validate_metric(m: MetricSpec) -> Iterable[str]:
    if m.kind not in METRIC_KINDS:
        yield f"kind {m.kind!r} is not one of {', '.join(METRIC_KINDS)}"
        return
    if not PROMETHEUS_NAME_RE.match(m.name):
        yield "Prometheus name is not a legal Prometheus metric name"
    if m.name.startswith("__") or m.name == "target_info":
        yield "Prometheus name is reserved"
    yield from _promlint(m.name)
    if not _OTEL_NAME_RE.match(m.otel_name):
        yield f"OTel name {m.otel_name!r} is not a legal instrument name"
    if not unit_is_known(m.unit):
        yield f"unit {m.unit!r} is not a known UCUM unit (s, ms, By, 1, %, {{annotation}}, ...)"
    elif _OTEL_NAME_RE.match(m.otel_name):
        derived = prometheus_name(m.otel_name, m.unit, m.kind)
        if derived != m.name:
            yield f"OTel name {m.otel_name!r} with unit {m.unit!r} is exposed as {derived!r}, not {m.name!r}"
    if not m.description.strip():
        yield "description is empty"
    if KINDS[m.kind].buckets:
        if not m.buckets:
            yield "a histogram needs bucket boundaries"
        elif any(not isinstance(b, (int, float)) or not math.isfinite(b) for b in m.buckets):
            yield "bucket boundaries must be finite numbers"
        elif any(b >= c for b, c in zip(m.buckets, m.buckets[1:], strict=False)):
            yield f"bucket boundaries {list(m.buckets)} are not strictly increasing"
    elif m.buckets is not None:
        yield f"only histograms take buckets, not a {m.kind}"
    suffix = KINDS[m.kind].name_suffix
    if suffix and not m.name.endswith(suffix):
        yield f"the Prometheus name of a {m.kind} must end in {suffix!r}"
    if m.kind == "rate_of_change":
        if not m.source:
            yield "a rate_of_change needs source: the name of the catalog gauge it derives from"
        try:
            from lukhas_obs.rates import parse_windows

            parse_windows(list(m.windows))
        except ValueError as exc:
            yield f"windows: {exc}"
    elif m.source is not None or m.windows:
        yield f"only a rate_of_change takes source and windows, not a {m.kind}"
    if m.gauge_mode is not None:
        from lukhas_obs.multiprocess._layout import GAUGE_MODES

        if m.kind != "gauge":
            yield f"only a gauge takes gauge_mode, not a {m.kind}"
        elif m.gauge_mode not in GAUGE_MODES:
            yield f"gauge_mode {m.gauge_mode!r} is not one of {', '.join(GAUGE_MODES)}"
    labels: dict[str, str] = {c: "common attribute" for c in m.common_attributes}
    for attr in m.attributes:
        if not _ATTR_KEY_RE.match(attr.key):
            yield f"attribute key {attr.key!r} must be lower-case letters, digits, '_' and '.'"
        label = attr.label
        if label in _RESERVED_LABELS or label.startswith("__") or label.startswith("otel_"):
            yield f"attribute {attr.key!r} maps to the reserved label {label!r}"
        if label in labels:
            yield f"attribute {attr.key!r} maps to label {label!r}, which is already a {labels[label]}"
        labels[label] = f"label of attribute {attr.key!r}"
        if attr.values is not None:
            if not attr.values or any(not isinstance(v, str) or not v for v in attr.values):
                yield f"attribute {attr.key!r}: allowed values must be non-empty strings"
            elif len(set(attr.values)) != len(attr.values):
                yield f"attribute {attr.key!r}: allowed values repeat"
        if not isinstance(attr.fold_to, str) or not attr.fold_to:
            yield f"attribute {attr.key!r}: fold_to must be a non-empty string"


_TYPE_WORDS = ("counter", "gauge", "histogram", "summary")
_ABBREVIATED_UNITS = ("ms", "us", "ns", "sec", "secs", "min", "mins", "hrs", "kb", "mb", "gb", "kib", "mib", "gib")


def _promlint(name: str) -> Iterable[str]:
    """The naming rules ``promtool check metrics`` enforces, so a catalog that loads also lints clean."""
    for word in _TYPE_WORDS:
        if f"_{word}_" in name or name.endswith(f"_{word}") or name.startswith(f"{word}_"):
            yield f"Prometheus name contains the type word {word!r} (promtool: names should not include the type)"
    if name != name.lower():
        yield "Prometheus name is not snake_case (promtool: camelCase names)"
    if ":" in name:
        yield "Prometheus name contains ':' (reserved for recording rules)"
    for unit in _ABBREVIATED_UNITS:
        if f"_{unit}_" in f"_{name}_":
            yield f"Prometheus name abbreviates a unit ({unit!r}); use the base unit (seconds, bytes)"


def _template_problem(s: SpanSpec) -> str | None:
    """Why ``s.name`` is not a template of plain ``{identifier}`` fields (format specs, attributes, indexes and
    conversions would run code in ``str.format`` or raise), or None."""
    try:
        parsed = list(string.Formatter().parse(s.name))
    except ValueError as exc:
        return f"name is not a valid template ({exc}); fields are {{identifier}}, literal braces are not allowed"
    for _, fname, spec, conversion in parsed:
        if fname is not None and (not _TEMPLATE_FIELD_RE.match(fname) or spec or conversion):
            shown = fname + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            return f"template field {{{shown}}} must be a plain lower_snake_case {{identifier}}"
    return None


def _expansion(s: SpanSpec) -> int:
    """How many concrete names the template expands to (checked before expanding: the product can be huge)."""
    count = 1
    for _, fname, _, _ in string.Formatter().parse(s.name):
        if fname:
            count *= len(s.params.get(fname, ()))
            if count > MAX_SPAN_NAMES:
                return count
    return count


def _validate_span(s: SpanSpec) -> Iterable[str]:
    if s.kind not in SPAN_KINDS:
        yield f"kind {s.kind!r} is not one of {', '.join(SPAN_KINDS)}"
    if not s.component:
        yield "component is empty"
    template = _template_problem(s)
    if template is not None:
        yield template
        return
    if _expansion(s) > MAX_SPAN_NAMES:
        yield f"the template expands to more than {MAX_SPAN_NAMES} span names"
        return
    fields_ = [f for _, f, _, _ in string.Formatter().parse(s.name) if f]
    for fname in fields_:
        if not s.params.get(fname):
            yield f"template field {{{fname}}} has no values in params"
    for extra in set(s.params) - set(fields_):
        yield f"param {extra!r} is not used in the name"
    for concrete in s.names():
        if not _SPAN_NAME_RE.match(concrete):
            yield f"span name {concrete!r} is not of letters, digits, '_', '.', '-'"
    for key in s.attributes:
        if not _ATTR_KEY_RE.match(key):
            yield f"attribute key {key!r} must be lower-case letters, digits, '_' and '.'"


def as_kind(value: str) -> MetricKind:
    """Narrow a string to :data:`MetricKind` (validation reports a wrong one)."""
    return cast(MetricKind, value)
