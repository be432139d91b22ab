"""Grafana dashboards of a catalog, declared in its ``dashboards:`` section: typed specs, input schema, validation.

A dashboard is described by what it shows, preferably not by PromQL: each panel query names a catalog metric (or a
recording rule of the catalog's SLOs) and a query *shape* — ``quantile``, ``rate``, ``increase``, ``avg_over_time``,
``max_over_time``, ``value`` or ``record``. ``lukhas-obs generate dashboards`` renders the PromQL (adding the
dashboard's variable filters such as ``{lane="$lane",service="$service"}``) and builds the JSON with the
grafana-foundation-sdk builders. Because queries are declared against the catalog, a dashboard cannot reference a
metric that does not exist, or ask for a quantile of a counter: validation rejects it when the dashboards are loaded
(by ``load_catalog``, by ``lukhas-obs generate``, or on first use of ``catalog.dashboards``; never on import).

Where a shape does not say it (``luna_phi_convergence_ratio * 100``, a ratio of two metrics), a query gives a free
PromQL ``expr`` instead; its metric names are still checked against the catalog. Panels are ``stat``, ``gauge``,
``bargauge``, ``piechart``, ``heatmap``, ``table``, ``text`` or ``timeseries``, with units, thresholds, min/max,
value mappings, legends and the few type-specific options listed in :data:`PANEL_OPTIONS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from lukhas_obs.catalog.kinds import KINDS
from lukhas_obs.catalog.schema import DocumentedModel, Name, Number, Text
from lukhas_obs.catalog.slo import SCRAPE_LABELS, SYNTHETIC_SERIES, SloSet, expr_problems, is_duration

if TYPE_CHECKING:  # pragma: no cover
    from lukhas_obs.catalog.spec import Catalog, MetricSpec

__all__ = [
    "PANEL_OPTIONS",
    "PANEL_TYPES",
    "QUERY_SHAPES",
    "DashboardDoc",
    "DashboardSpec",
    "GridPos",
    "LegendSpec",
    "PanelSpec",
    "QuerySpec",
    "RowSpec",
    "ThresholdStep",
    "ValueMappingSpec",
    "VariableSpec",
    "dashboard_problems",
    "dashboards_from_docs",
    "validate_dashboards",
]

QueryShape = Literal["quantile", "rate", "increase", "avg_over_time", "max_over_time", "value", "record", "expr"]
PanelType = Literal["stat", "timeseries", "gauge", "bargauge", "piechart", "heatmap", "table", "text"]
QUERY_SHAPES: tuple[str, ...] = get_args(QueryShape)
PANEL_TYPES: tuple[str, ...] = get_args(PanelType)
#: Shapes that do not name a catalog metric: a recording rule, a free expression.
_UNSHAPED = ("record", "expr")

#: Which metric kinds each shape accepts. ``rate``/``increase`` of a histogram read its ``_count`` series.
SHAPE_KINDS: dict[str, tuple[str, ...]] = {
    shape: tuple(name for name, k in KINDS.items() if shape in k.shapes)
    for shape in QUERY_SHAPES
    if shape not in _UNSHAPED
}

#: Grafana's query formats (``table`` for table panels, ``heatmap`` for pre-bucketed heatmaps).
QUERY_FORMATS: tuple[str, ...] = ("time_series", "table", "heatmap")
#: Reducers of single-value panels (Grafana's reducer ids).
REDUCE_CALCS: tuple[str, ...] = (
    "lastNotNull", "last", "firstNotNull", "first", "mean", "median", "min", "max", "sum", "count", "range", "delta",
)  # fmt: skip
ORIENTATIONS: tuple[str, ...] = ("auto", "horizontal", "vertical")
BARGAUGE_MODES: tuple[str, ...] = ("basic", "gradient", "lcd")
PIE_TYPES: tuple[str, ...] = ("pie", "donut")
THRESHOLDS_STYLES: tuple[str, ...] = ("off", "line", "dashed", "area", "line+area", "dashed+area")
LEGEND_DISPLAYS: tuple[str, ...] = ("list", "table", "hidden")
LEGEND_PLACEMENTS: tuple[str, ...] = ("bottom", "right")
#: Which panel types take each type-specific option (anything else is refused, so an option never silently vanishes).
PANEL_OPTIONS: dict[str, tuple[str, ...]] = {
    "reduce": ("stat", "gauge", "bargauge", "piechart"),
    "orientation": ("stat", "gauge", "bargauge"),
    "display_mode": ("bargauge",),
    "pie_type": ("piechart",),
    "calculate": ("heatmap",),
    "thresholds_style": ("timeseries",),
    "legend": ("timeseries", "piechart"),
    "content": ("text",),
}

_UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_VAR_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
GRID_WIDTH = 24


@dataclass(frozen=True)
class GridPos:
    """Grafana grid position: 24 columns wide, ``h`` in rows of ~30 px."""

    h: int
    w: int
    x: int
    y: int


@dataclass(frozen=True)
class ThresholdStep:
    """A colour from ``value`` upwards; the first step's value is None (the base colour)."""

    color: str
    value: float | None = None


@dataclass(frozen=True)
class ValueMappingSpec:
    """A value mapping: the raw ``value`` (as text, ``"1"``) is shown as ``text``, optionally in ``color``."""

    value: str
    text: str
    color: str | None = None


@dataclass(frozen=True)
class LegendSpec:
    """Legend options of timeseries and piechart panels."""

    display: str = "list"
    placement: str = "bottom"


@dataclass(frozen=True)
class QuerySpec:
    """One panel query. ``by`` None: no aggregation; a tuple: ``sum by (...)`` (for quantiles, in addition to ``le``).

    ``record`` names a recording rule (shape ``record``), ``expr`` is free PromQL (shape ``expr``, written as given:
    the dashboard variables are not added); every other shape names a catalog ``metric``. ``instant`` asks for the
    last value only, ``format`` the Grafana query format (table panels default to an instant table query).
    """

    shape: QueryShape
    legend: str
    metric: str | None = None
    record: str | None = None
    quantile: float | None = None
    range: str = "5m"
    by: tuple[str, ...] | None = None
    expr: str | None = None
    instant: bool | None = None
    format: str | None = None


@dataclass(frozen=True)
class PanelSpec:
    """A panel at an explicit grid position. Type-specific options are None when not set (Grafana's defaults).

    ``text`` panels show ``content`` (markdown) and take no queries; every other type needs at least one query.
    """

    title: str
    type: PanelType
    grid: GridPos
    queries: tuple[QuerySpec, ...]
    unit: str | None = None
    thresholds: tuple[ThresholdStep, ...] = ()
    description: str = ""
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    mappings: tuple[ValueMappingSpec, ...] = ()
    reduce: str | None = None
    orientation: str | None = None
    display_mode: str | None = None
    pie_type: str | None = None
    calculate: bool | None = None
    thresholds_style: str | None = None
    legend: LegendSpec | None = None
    content: str = ""


@dataclass(frozen=True)
class RowSpec:
    """A (non-collapsed) row header at height ``y`` followed by its panels."""

    title: str
    y: int
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class VariableSpec:
    """A query variable ``label_values(<metric sample>, <name>)``; every panel query is filtered by it."""

    name: str
    label: str
    metric: str
    default: str


@dataclass(frozen=True)
class DashboardSpec:
    """A whole dashboard; written to ``<uid>.json``."""

    uid: str
    title: str
    rows: tuple[RowSpec, ...]
    variables: tuple[VariableSpec, ...] = ()
    tags: tuple[str, ...] = ()
    refresh: str = "30s"
    time_from: str = "now-6h"
    time_to: str = "now"
    timezone: str = "browser"
    version: int = 1
    datasource_variable: str = "DS_PROM"
    description: str = ""

    def panels(self) -> tuple[PanelSpec, ...]:
        """Every panel, row by row."""
        return tuple(p for row in self.rows for p in row.panels)


# ------------------------------------------------------------------------------------------------ input schema
#
# The shape of the ``dashboards:`` section (pydantic models, the catalog's one schema mechanism) and its conversion
# into the specs above. Meaning (metrics exist, shapes apply, grid overlaps) is checked by :func:`dashboard_problems`.

#: Bounds that keep validation of a hostile document linear-ish: Grafana dashboards never come near them.
MAX_PANELS = 500
MAX_VARIABLES = 50
MAX_QUERIES = 50
#: Grid coordinates and sizes are bounded (a 10**30-row panel is a typo, not a layout).
MAX_GRID = 100_000
#: Threshold steps and value mappings per panel.
MAX_STEPS = 50

GridInt = Annotated[int, Field(le=MAX_GRID, ge=-MAX_GRID)]


class GridDoc(DocumentedModel):
    """Grafana grid position: 24 columns wide, ``h`` in rows of ~30 px."""

    h: GridInt
    w: GridInt
    x: GridInt
    y: GridInt


class ThresholdStepDoc(DocumentedModel):
    """A colour from ``value`` upwards; the first step has no value (the base colour)."""

    color: Name = ""
    value: Number | None = None


class QueryDoc(DocumentedModel):
    """One panel query, declared by shape against a catalog metric (or an SLO recording rule for ``record``), or a
    free PromQL ``expr``."""

    shape: Name = Field("", json_schema_extra={"enum": list(QUERY_SHAPES)})
    """How to query the metric; may be left out with ``expr`` (shape ``expr``)."""
    legend: Text = ""
    metric: Name | None = None
    record: Name | None = None
    expr: Text | None = None
    """Free PromQL (``luna_phi_convergence_ratio * 100``), written as given; its metrics must be in the catalog."""
    quantile: Number | None = None
    range: Name = "5m"
    by: list[Name] | None = None
    """Absent: no aggregation; a list: ``sum by (...)``."""
    instant: bool | None = None
    """Query the last value only (table panels default to true)."""
    format: Name | None = Field(None, json_schema_extra={"enum": list(QUERY_FORMATS)})
    """Grafana's query format (table panels default to ``table``)."""


class ValueMappingDoc(DocumentedModel):
    """Show a raw value as text (``1`` → ``connected``), optionally coloured."""

    value: Name = ""
    """The raw value, as text (``"1"``)."""
    text: Text = ""
    color: Name | None = None


class LegendDoc(DocumentedModel):
    """Legend of a timeseries or piechart panel."""

    display: Name = Field("list", json_schema_extra={"enum": list(LEGEND_DISPLAYS)})
    placement: Name = Field("bottom", json_schema_extra={"enum": list(LEGEND_PLACEMENTS)})


class PanelDoc(DocumentedModel):
    """A panel at an explicit grid position."""

    title: Text = ""
    type: Name = Field("", json_schema_extra={"enum": list(PANEL_TYPES)})
    grid: GridDoc
    queries: list[QueryDoc] | None = Field(None, max_length=MAX_QUERIES)
    unit: Name | None = None
    thresholds: list[ThresholdStepDoc] | None = Field(None, max_length=MAX_STEPS)
    description: Text = ""
    min: Number | None = None
    max: Number | None = None
    decimals: Annotated[int, Field(ge=0, le=20)] | None = None
    mappings: list[ValueMappingDoc] | None = Field(None, max_length=MAX_STEPS)
    reduce: Name | None = Field(None, json_schema_extra={"enum": list(REDUCE_CALCS)})
    """stat, gauge, bargauge, piechart: how a series becomes one value (default ``lastNotNull``)."""
    orientation: Name | None = Field(None, json_schema_extra={"enum": list(ORIENTATIONS)})
    """stat, gauge, bargauge."""
    display_mode: Name | None = Field(None, json_schema_extra={"enum": list(BARGAUGE_MODES)})
    """bargauge."""
    pie_type: Name | None = Field(None, json_schema_extra={"enum": list(PIE_TYPES)})
    """piechart."""
    calculate: bool | None = None
    """heatmap: build buckets from plain series (true, the default unless a query has format heatmap)."""
    thresholds_style: Name | None = Field(None, json_schema_extra={"enum": list(THRESHOLDS_STYLES)})
    """timeseries: draw the thresholds (``line`` marks a target such as φ = 1.618)."""
    legend: LegendDoc | None = None
    """timeseries, piechart."""
    content: Text = ""
    """text: the markdown shown."""


class RowDoc(DocumentedModel):
    """A row header at height ``y`` and its panels."""

    title: Text = ""
    y: GridInt
    panels: list[PanelDoc] | None = Field(None, max_length=MAX_PANELS)


class VariableDoc(DocumentedModel):
    """A query variable ``label_values(<metric>, <name>)`` that filters every panel query."""

    name: Name = ""
    label: Text = ""
    metric: Name = ""
    default: Name = ""


class TimeDoc(DocumentedModel):
    """The dashboard's default time range."""

    from_: Name = Field("now-6h", alias="from")
    to: Name = "now"


class DashboardDoc(DocumentedModel):
    """A Grafana dashboard, written to ``<uid>.json`` by ``lukhas-obs generate dashboards``."""

    uid: Name = ""
    title: Text = ""
    description: Text = ""
    rows: list[RowDoc] | None = Field(None, max_length=MAX_PANELS)
    variables: list[VariableDoc] | None = Field(None, max_length=MAX_VARIABLES)
    tags: list[Name] | None = None
    refresh: Name = "30s"
    time: TimeDoc | None = None
    timezone: Name = "browser"
    version: Annotated[int, Field(ge=0, le=2**31 - 1)] = 1
    datasource_variable: Name = "DS_PROM"

    @model_validator(mode="after")
    def _bounded(self) -> DashboardDoc:
        panels = sum(len(r.panels or ()) for r in self.rows or ())
        if panels > MAX_PANELS:
            raise PydanticCustomError(
                "too_many_panels",
                "a dashboard holds at most {limit} panels, got {count}",
                {"limit": MAX_PANELS, "count": panels},
            )
        return self


def _panel(doc: PanelDoc) -> PanelSpec:
    return PanelSpec(
        title=doc.title,
        type=doc.type,  # type: ignore[arg-type]  # checked by dashboard_problems
        grid=GridPos(h=doc.grid.h, w=doc.grid.w, x=doc.grid.x, y=doc.grid.y),
        queries=tuple(
            QuerySpec(
                # a query with expr and no shape is an expr query
                shape=(q.shape or ("expr" if q.expr is not None else "")),  # type: ignore[arg-type]  # checked later
                legend=q.legend,
                metric=q.metric,
                record=q.record,
                quantile=q.quantile,
                range=q.range,
                by=tuple(q.by) if q.by is not None else None,
                expr=q.expr,
                instant=q.instant,
                format=q.format,
            )
            for q in doc.queries or ()
        ),
        unit=doc.unit,
        thresholds=tuple(ThresholdStep(color=t.color, value=t.value) for t in doc.thresholds or ()),
        description=doc.description,
        min=doc.min,
        max=doc.max,
        decimals=doc.decimals,
        mappings=tuple(ValueMappingSpec(value=m.value, text=m.text, color=m.color) for m in doc.mappings or ()),
        reduce=doc.reduce,
        orientation=doc.orientation,
        display_mode=doc.display_mode,
        pie_type=doc.pie_type,
        calculate=doc.calculate,
        thresholds_style=doc.thresholds_style,
        legend=LegendSpec(display=doc.legend.display, placement=doc.legend.placement) if doc.legend else None,
        content=doc.content,
    )


def dashboards_from_docs(docs: Iterable[DashboardDoc]) -> tuple[DashboardSpec, ...]:
    """The :class:`DashboardSpec` objects validated ``dashboards:`` entries describe."""
    return tuple(
        DashboardSpec(
            uid=d.uid,
            title=d.title,
            description=d.description,
            rows=tuple(
                RowSpec(title=r.title, y=r.y, panels=tuple(_panel(p) for p in r.panels or ())) for r in d.rows or ()
            ),
            variables=tuple(
                VariableSpec(name=v.name, label=v.label, metric=v.metric, default=v.default) for v in d.variables or ()
            ),
            tags=tuple(d.tags or ()),
            refresh=d.refresh,
            time_from=d.time.from_ if d.time is not None else "now-6h",
            time_to=d.time.to if d.time is not None else "now",
            timezone=d.timezone,
            version=d.version,
            datasource_variable=d.datasource_variable,
        )
        for d in docs
    )


# ------------------------------------------------------------------------------------------------------ validation


def validate_dashboards(catalog: Catalog) -> Iterable[str]:
    """Every problem of ``catalog.dashboards`` against the catalog's metrics and SLO recording rules."""
    yield from dashboard_problems(catalog.dashboards, catalog.metrics, catalog.slos, catalog.name)


def dashboard_problems(
    dashboards: Iterable[DashboardSpec], metric_specs: Iterable[MetricSpec], slos: SloSet | None, catalog_name: str
) -> Iterable[str]:
    """Every problem of ``dashboards`` against the metrics and SLO recording rules of catalog ``catalog_name``."""
    metrics = {m.name: m for m in metric_specs}
    records = {slo.record for slo in slos.latency} if slos is not None else set()
    known = {sample for m in metrics.values() for sample in m.sample_names} | records | SYNTHETIC_SERIES
    uids: set[str] = set()
    for dash in dashboards:
        where = f"dashboard {dash.uid!r}"
        if not _UID_RE.match(dash.uid):
            yield f"{where}: uid must be 1-40 letters, digits, '-' or '_'"
        if dash.uid in uids:
            yield f"{where}: uid is used twice"
        uids.add(dash.uid)
        if not dash.title.strip():
            yield f"{where}: title is empty"
        if not _VAR_RE.match(dash.datasource_variable.lower()):
            yield f"{where}: datasource_variable {dash.datasource_variable!r} is not a variable name"
        var_names = [v.name for v in dash.variables]
        if len(set(var_names)) != len(var_names) or dash.datasource_variable in var_names:
            yield f"{where}: variable names repeat"
        for var in dash.variables:
            vwhere = f"{where} variable {var.name!r}"
            if not _VAR_RE.match(var.name):
                yield f"{vwhere}: name must be lower_snake_case"
            metric = metrics.get(var.metric)
            if metric is None:
                yield f"{vwhere}: metric {var.metric!r} is not in catalog {catalog_name!r}"
            elif var.name not in metric.label_names:
                yield f"{vwhere}: {var.metric} has no label {var.name!r}"
            if not var.default:
                yield f"{vwhere}: default is empty"
        titles: set[str] = set()
        cells: list[tuple[int, int, int, int, str]] = []
        for row in dash.rows:
            if not row.title.strip():
                yield f"{where}: a row has no title"
            yield from _occupy(cells, GridPos(h=1, w=GRID_WIDTH, x=0, y=row.y), f"row {row.title!r}", where)
            for panel in row.panels:
                pwhere = f"{where} panel {panel.title!r}"
                if not panel.title.strip():
                    yield f"{where}: a panel in row {row.title!r} has no title"
                if panel.title in titles:
                    yield f"{pwhere}: title is used twice"
                titles.add(panel.title)
                if panel.type not in PANEL_TYPES:
                    yield f"{pwhere}: type {panel.type!r} is not one of {', '.join(PANEL_TYPES)}"
                yield from _validate_grid(panel.grid, pwhere)
                if panel.grid.y <= row.y:
                    yield f"{pwhere}: y={panel.grid.y} is not below its row (y={row.y})"
                yield from _occupy(cells, panel.grid, f"panel {panel.title!r}", where)
                yield from _validate_options(panel, pwhere)
                if panel.type == "text":
                    if panel.queries:
                        yield f"{pwhere}: a text panel takes no queries"
                    if not panel.content.strip():
                        yield f"{pwhere}: a text panel needs content (markdown)"
                elif not panel.queries:
                    yield f"{pwhere}: has no queries"
                for query in panel.queries:
                    yield from _validate_query(query, metrics, records, known, var_names, pwhere)
                if panel.thresholds:
                    if panel.thresholds[0].value is not None:
                        yield f"{pwhere}: the first threshold step is the base colour and takes no value"
                    values = [s.value for s in panel.thresholds[1:]]
                    if any(v is None for v in values) or values != sorted(values):  # type: ignore[type-var]
                        yield f"{pwhere}: threshold values must be numbers in increasing order"


_OPTION_WORDS: dict[str, tuple[str, ...]] = {
    "reduce": REDUCE_CALCS,
    "orientation": ORIENTATIONS,
    "display_mode": BARGAUGE_MODES,
    "pie_type": PIE_TYPES,
    "thresholds_style": THRESHOLDS_STYLES,
}


def _validate_options(panel: PanelSpec, where: str) -> Iterable[str]:
    """Type-specific options apply to their panel types only, with their own words; min below max; mappings."""
    for option, types in PANEL_OPTIONS.items():
        value = getattr(panel, option)
        if value is None or value == "":
            continue
        if panel.type in PANEL_TYPES and panel.type not in types:
            yield f"{where}: {option} is for {', '.join(types)} panels, not {panel.type}"
        words = _OPTION_WORDS.get(option)
        if words is not None and value not in words:
            yield f"{where}: {option} {str(value)[:60]!r} is not one of {', '.join(words)}"
    if panel.legend is not None:
        if panel.legend.display not in LEGEND_DISPLAYS:
            yield f"{where}: legend display {panel.legend.display[:60]!r} is not one of {', '.join(LEGEND_DISPLAYS)}"
        if panel.legend.placement not in LEGEND_PLACEMENTS:
            yield (
                f"{where}: legend placement {panel.legend.placement[:60]!r} is not one of "
                f"{', '.join(LEGEND_PLACEMENTS)}"
            )
    if panel.min is not None and panel.max is not None and not panel.min < panel.max:
        yield f"{where}: min must be below max"
    seen: set[str] = set()
    for mapping in panel.mappings:
        if not mapping.value or not mapping.text.strip():
            yield f"{where}: a value mapping needs a value and a text"
        elif mapping.value in seen:
            yield f"{where}: value {mapping.value[:60]!r} is mapped twice"
        seen.add(mapping.value)


def _validate_grid(grid: GridPos, where: str) -> Iterable[str]:
    if grid.h < 1 or grid.w < 1 or grid.x < 0 or grid.y < 0:
        yield f"{where}: grid needs h >= 1, w >= 1, x >= 0, y >= 0"
    if grid.x + grid.w > GRID_WIDTH:
        yield f"{where}: grid x + w = {grid.x + grid.w} exceeds the {GRID_WIDTH}-column grid"


def _occupy(placed: list[tuple[int, int, int, int, str]], grid: GridPos, what: str, where: str) -> Iterable[str]:
    """Place ``grid`` and report the first earlier element it overlaps, in row-major order of its cells.

    Rectangles, not cells: the cost is the number of earlier elements, whatever the sizes (a hostile ``h`` costs
    nothing). The answer is the cell walk's: the owner of the first occupied cell, the earliest element placed there.
    """
    x0, x1 = grid.x, min(grid.x + max(grid.w, 0), GRID_WIDTH)
    y0, y1 = grid.y, grid.y + max(grid.h, 0)
    best: tuple[int, int, int] | None = None
    if x0 < x1 and y0 < y1:
        for index, (ex0, ex1, ey0, ey1, _) in enumerate(placed):
            ix0, iy0 = max(x0, ex0), max(y0, ey0)
            if ix0 < min(x1, ex1) and iy0 < min(y1, ey1) and (best is None or (iy0, ix0, index) < best):
                best = (iy0, ix0, index)
        placed.append((x0, x1, y0, y1, what))
    if best is not None:
        yield f"{where}: {what} overlaps {placed[best[2]][4]}"


def _validate_query(
    query: QuerySpec,
    metrics: Mapping[str, Any],
    records: set[str],
    known: set[str],
    variables: list[str],
    where: str,
) -> Iterable[str]:
    if query.shape not in QUERY_SHAPES:
        yield f"{where}: query shape {query.shape!r} is not one of {', '.join(QUERY_SHAPES)}"
        return
    if not query.legend:
        yield f"{where}: a query has no legend"
    if query.format is not None and query.format not in QUERY_FORMATS:
        yield f"{where}: query format {query.format[:60]!r} is not one of {', '.join(QUERY_FORMATS)}"
    if query.shape == "expr":
        if query.metric is not None or query.record is not None or query.quantile is not None or query.by is not None:
            yield f"{where}: an expr query takes only expr, legend, instant and format"
        yield from expr_problems(query.expr or "", known, where)
        return
    if query.expr is not None:
        yield f"{where}: expr is only for shape 'expr' (leave shape out)"
    if query.shape == "record":
        if query.record not in records:
            yield f"{where}: record {query.record!r} is not a recording rule of the catalog's slos"
        if query.metric is not None or query.quantile is not None or query.by is not None:
            yield f"{where}: a record query takes only record and legend"
        return
    if query.record is not None:
        yield f"{where}: record is only for shape 'record'"
    metric = metrics.get(query.metric or "")
    if metric is None:
        yield f"{where}: metric {query.metric!r} is not in the catalog"
        return
    if metric.kind not in SHAPE_KINDS[query.shape]:
        yield f"{where}: shape {query.shape!r} does not apply to {metric.name} (a {metric.kind})"
    if not is_duration(query.range):
        yield f"{where}: range {query.range!r} is not a Prometheus duration"
    if query.shape == "quantile":
        if query.quantile is None or not 0 < query.quantile < 1:
            yield f"{where}: a quantile query needs quantile strictly between 0 and 1"
    elif query.quantile is not None:
        yield f"{where}: quantile is only for shape 'quantile'"
    if query.shape in ("value", "avg_over_time", "max_over_time") and query.by is not None:
        yield f"{where}: shape {query.shape!r} takes no by"
    allowed = set(metric.label_names) | set(SCRAPE_LABELS)
    for label in query.by or ():
        if not _LABEL_RE.match(label) or label == "le" or label not in allowed:
            yield f"{where}: {metric.name} has no label {label!r} to group by"
    for var in variables:
        if var not in metric.label_names:
            yield f"{where}: {metric.name} has no label {var!r}, so the ${var} filter would match nothing"

