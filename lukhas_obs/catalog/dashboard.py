"""Grafana dashboards of a catalog, declared in its ``dashboards:`` section: typed specs, parsing, validation.

A dashboard is described by what it shows, not by PromQL: each panel query names a catalog metric (or a recording
rule of the catalog's SLOs) and a query *shape* — ``quantile``, ``rate``, ``increase``, ``avg_over_time``,
``max_over_time``, ``value`` or ``record``. ``lukhas-obs generate dashboards`` renders the PromQL (adding the
dashboard's variable filters such as ``{lane="$lane",service="$service"}``) and builds the JSON with the
grafana-foundation-sdk builders. Because queries are declared against the catalog, a dashboard cannot reference a
metric that does not exist, or ask for a quantile of a counter: validation rejects it at load time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from lukhas_obs.catalog.slo import SCRAPE_LABELS, is_duration

if TYPE_CHECKING:  # pragma: no cover
    from lukhas_obs.catalog.spec import Catalog

__all__ = [
    "PANEL_TYPES",
    "QUERY_SHAPES",
    "DashboardSpec",
    "GridPos",
    "PanelSpec",
    "QuerySpec",
    "RowSpec",
    "ThresholdStep",
    "VariableSpec",
    "parse_dashboards",
    "validate_dashboards",
]

QueryShape = Literal["quantile", "rate", "increase", "avg_over_time", "max_over_time", "value", "record"]
PanelType = Literal["stat", "timeseries"]
QUERY_SHAPES: tuple[str, ...] = get_args(QueryShape)
PANEL_TYPES: tuple[str, ...] = get_args(PanelType)

#: Which metric kinds each shape accepts. ``rate``/``increase`` of a histogram read its ``_count`` series.
SHAPE_KINDS: dict[str, tuple[str, ...]] = {
    "quantile": ("histogram",),
    "rate": ("counter", "histogram"),
    "increase": ("counter", "histogram"),
    "avg_over_time": ("gauge", "updown_counter", "observable_gauge"),
    "max_over_time": ("gauge", "updown_counter", "observable_gauge"),
    "value": ("gauge", "updown_counter", "observable_gauge"),
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
class QuerySpec:
    """One panel query. ``by`` None: no aggregation; a tuple: ``sum by (...)`` (for quantiles, in addition to ``le``).

    ``record`` names a recording rule (shape ``record``); every other shape names a catalog ``metric``.
    """

    shape: QueryShape
    legend: str
    metric: str | None = None
    record: str | None = None
    quantile: float | None = None
    range: str = "5m"
    by: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PanelSpec:
    """A stat or timeseries panel at an explicit grid position."""

    title: str
    type: PanelType
    grid: GridPos
    queries: tuple[QuerySpec, ...]
    unit: str | None = None
    thresholds: tuple[ThresholdStep, ...] = ()
    description: str = ""


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


# --------------------------------------------------------------------------------------------------------- parsing

_DASH_KEYS = {
    "uid",
    "title",
    "description",
    "rows",
    "variables",
    "tags",
    "refresh",
    "time",
    "timezone",
    "version",
    "datasource_variable",
}
_ROW_KEYS = {"title", "y", "panels"}
_PANEL_KEYS = {"title", "type", "grid", "queries", "unit", "thresholds", "description"}
_QUERY_KEYS = {"shape", "legend", "metric", "record", "quantile", "range", "by"}
_VAR_KEYS = {"name", "label", "metric", "default"}
_GRID_KEYS = {"h", "w", "x", "y"}
_TIME_KEYS = {"from", "to"}
_STEP_KEYS = {"color", "value"}


def _map(value: Any, where: str, allowed: set[str], problems: list[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: expected a mapping, got {value!r}")
        return {}
    problems += [f"{where}: unknown key {k!r}" for k in value if k not in allowed]
    return value


def _int(value: Any, where: str, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where}: expected an integer, got {value!r}")
        return 0
    return value


def _query(raw: Any, where: str, problems: list[str]) -> QuerySpec:
    body = _map(raw, where, _QUERY_KEYS, problems)
    by = body.get("by")
    if by is not None and (not isinstance(by, list) or not all(isinstance(b, str) for b in by)):
        problems.append(f"{where}: by must be a list of label names, got {by!r}")
        by = None
    quantile = body.get("quantile")
    if quantile is not None and (isinstance(quantile, bool) or not isinstance(quantile, (int, float))):
        problems.append(f"{where}: quantile must be a number, got {quantile!r}")
        quantile = None
    return QuerySpec(
        shape=body.get("shape", ""),
        legend=str(body.get("legend", "")),
        metric=str(body["metric"]) if body.get("metric") is not None else None,
        record=str(body["record"]) if body.get("record") is not None else None,
        quantile=float(quantile) if quantile is not None else None,
        range=str(body.get("range", "5m")),
        by=tuple(by) if by is not None else None,
    )


def _panel(raw: Any, where: str, problems: list[str]) -> PanelSpec:
    body = _map(raw, where, _PANEL_KEYS, problems)
    grid = _map(body.get("grid", {}), f"{where}.grid", _GRID_KEYS, problems)
    steps = []
    for si, sraw in enumerate(body.get("thresholds") or ()):
        sbody = _map(sraw, f"{where}.thresholds[{si}]", _STEP_KEYS, problems)
        value = sbody.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.append(f"{where}.thresholds[{si}]: value must be a number or null")
            value = None
        steps.append(
            ThresholdStep(color=str(sbody.get("color", "")), value=float(value) if value is not None else None)
        )
    return PanelSpec(
        title=str(body.get("title", "")),
        type=body.get("type", ""),
        grid=GridPos(**{k: _int(grid.get(k), f"{where}.grid.{k}", problems) for k in ("h", "w", "x", "y")}),
        queries=tuple(_query(q, f"{where}.queries[{qi}]", problems) for qi, q in enumerate(body.get("queries") or ())),
        unit=str(body["unit"]) if body.get("unit") is not None else None,
        thresholds=tuple(steps),
        description=str(body.get("description", "")),
    )


def parse_dashboards(raw: Any, problems: list[str]) -> tuple[DashboardSpec, ...]:
    """Build :class:`DashboardSpec` objects from the ``dashboards:`` list, appending shape problems."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append("dashboards: expected a list")
        return ()
    out: list[DashboardSpec] = []
    for di, draw in enumerate(raw):
        where = f"dashboard {draw.get('uid', di) if isinstance(draw, Mapping) else di!r}"
        body = _map(draw, where, _DASH_KEYS, problems)
        time = _map(body.get("time", {}), f"{where}.time", _TIME_KEYS, problems)
        variables = tuple(
            VariableSpec(
                name=str(v.get("name", "")),
                label=str(v.get("label", "")),
                metric=str(v.get("metric", "")),
                default=str(v.get("default", "")),
            )
            for vi, vraw in enumerate(body.get("variables") or ())
            for v in (_map(vraw, f"{where}.variables[{vi}]", _VAR_KEYS, problems),)
        )
        rows = []
        for ri, rraw in enumerate(body.get("rows") or ()):
            rbody = _map(rraw, f"{where}.rows[{ri}]", _ROW_KEYS, problems)
            rwhere = f"{where} row {rbody.get('title', ri)!r}"
            rows.append(
                RowSpec(
                    title=str(rbody.get("title", "")),
                    y=_int(rbody.get("y"), f"{rwhere}.y", problems),
                    panels=tuple(
                        _panel(p, f"{rwhere} panel[{pi}]", problems) for pi, p in enumerate(rbody.get("panels") or ())
                    ),
                )
            )
        out.append(
            DashboardSpec(
                uid=str(body.get("uid", "")),
                title=str(body.get("title", "")),
                description=str(body.get("description", "")),
                rows=tuple(rows),
                variables=variables,
                tags=tuple(str(t) for t in body.get("tags") or ()),
                refresh=str(body.get("refresh", "30s")),
                time_from=str(time.get("from", "now-6h")),
                time_to=str(time.get("to", "now")),
                timezone=str(body.get("timezone", "browser")),
                version=_int(body.get("version", 1), f"{where}.version", problems),
                datasource_variable=str(body.get("datasource_variable", "DS_PROM")),
            )
        )
    return tuple(out)


# ------------------------------------------------------------------------------------------------------ validation


def validate_dashboards(catalog: Catalog) -> Iterable[str]:
    """Every problem of ``catalog.dashboards`` against the catalog's metrics and SLO recording rules."""
    metrics = {m.exposed: m for m in catalog.metrics}
    records = {slo.record for slo in catalog.slos.latency} if catalog.slos is not None else set()
    uids: set[str] = set()
    for dash in catalog.dashboards:
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
                yield f"{vwhere}: metric {var.metric!r} is not in catalog {catalog.name!r}"
            elif var.name not in metric.label_names:
                yield f"{vwhere}: {var.metric} has no label {var.name!r}"
            if not var.default:
                yield f"{vwhere}: default is empty"
        titles: set[str] = set()
        cells: dict[tuple[int, int], str] = {}
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
                if not panel.queries:
                    yield f"{pwhere}: has no queries"
                for query in panel.queries:
                    yield from _validate_query(query, metrics, records, var_names, pwhere)
                if panel.thresholds:
                    if panel.thresholds[0].value is not None:
                        yield f"{pwhere}: the first threshold step is the base colour and takes no value"
                    values = [s.value for s in panel.thresholds[1:]]
                    if any(v is None for v in values) or values != sorted(values):  # type: ignore[type-var]
                        yield f"{pwhere}: threshold values must be numbers in increasing order"


def _validate_grid(grid: GridPos, where: str) -> Iterable[str]:
    if grid.h < 1 or grid.w < 1 or grid.x < 0 or grid.y < 0:
        yield f"{where}: grid needs h >= 1, w >= 1, x >= 0, y >= 0"
    if grid.x + grid.w > GRID_WIDTH:
        yield f"{where}: grid x + w = {grid.x + grid.w} exceeds the {GRID_WIDTH}-column grid"


def _occupy(cells: dict[tuple[int, int], str], grid: GridPos, what: str, where: str) -> Iterable[str]:
    clash = None
    for y in range(grid.y, grid.y + max(grid.h, 0)):
        for x in range(grid.x, min(grid.x + max(grid.w, 0), GRID_WIDTH)):
            if (x, y) in cells and clash is None:
                clash = cells[(x, y)]
            cells.setdefault((x, y), what)
    if clash is not None:
        yield f"{where}: {what} overlaps {clash}"


def _validate_query(
    query: QuerySpec, metrics: Mapping[str, Any], records: set[str], variables: list[str], where: str
) -> Iterable[str]:
    if query.shape not in QUERY_SHAPES:
        yield f"{where}: query shape {query.shape!r} is not one of {', '.join(QUERY_SHAPES)}"
        return
    if not query.legend:
        yield f"{where}: a query has no legend"
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
        yield f"{where}: shape {query.shape!r} does not apply to {metric.exposed} (a {metric.kind})"
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
            yield f"{where}: {metric.exposed} has no label {label!r} to group by"
    for var in variables:
        if var not in metric.label_names:
            yield f"{where}: {metric.exposed} has no label {var!r}, so the ${var} filter would match nothing"
