"""Grafana dashboard JSON from a catalog's ``dashboards:`` section, built with the grafana-foundation-sdk builders.

Query shapes become canonical PromQL (:mod:`lukhas_obs.generate.promql`) filtered by the dashboard variables
(``{lane="$lane",service="$service"}``); every expression is checked against the catalog's samples and recording
rules before any JSON is produced. Panels keep their declared grid positions, ids are assigned in order, and the
JSON is dumped with sorted keys, so the output is byte-for-byte reproducible.

Panel types: ``stat`` and ``timeseries`` (seed 003), ``gauge``, ``bargauge``, ``piechart``, ``heatmap``, ``table``
and ``text`` (seed 000's Luna dashboards); free ``expr`` queries are written on one line, as declared (the
dashboard variables are not added to them). Options a panel does not declare are left to Grafana's defaults, so a
dashboard that uses none of them is the same JSON as before they existed.

The foundation SDK has no setter for ``schemaVersion`` and always emits the model default; the built model is
adjusted for it (Grafana migrates older schema versions on load, but a stable, current value keeps diffs honest).
"""

from __future__ import annotations

from typing import Any

from lukhas_obs.catalog.dashboard import DashboardSpec, LegendSpec, PanelSpec, QuerySpec
from lukhas_obs.catalog.spec import Catalog, MetricSpec
from lukhas_obs.generate import promql, rules
from lukhas_obs.generate.output import DASHBOARDS_DIR, GeneratedFile, dump_json

__all__ = ["SCHEMA_VERSION", "dashboard_files", "dashboard_json", "panel_queries", "query_expr"]

#: Grafana dashboard schema version written to every dashboard (seed 003's value).
SCHEMA_VERSION = 39
_REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _variable_sample(metric: MetricSpec) -> str:
    """The series a ``label_values`` variable reads: a histogram's ``_bucket`` series (as seed 003), else the metric."""
    return f"{metric.name}_bucket" if metric.kind == "histogram" else metric.name


def query_expr(catalog: Catalog, dash: DashboardSpec, query: QuerySpec) -> str:
    """The PromQL of one panel query, filtered by every dashboard variable."""
    if query.shape == "record":
        return str(query.record)
    if query.shape == "expr":
        return promql.one_line(str(query.expr))
    metric = catalog.metric(str(query.metric))
    filters = [(v.name, f"${v.name}") for v in dash.variables]
    if query.shape == "quantile":
        bucket = promql.selector(f"{metric.name}_bucket", filters)
        return promql.histogram_quantile(float(query.quantile or 0), bucket, query.range, query.by or ())
    if query.shape in ("rate", "increase"):
        series = f"{metric.name}_count" if metric.kind == "histogram" else metric.name
        inner = promql.rate(query.shape, promql.selector(series, filters), query.range)
        return promql.aggregate("sum", inner, query.by)
    if query.shape in ("avg_over_time", "max_over_time"):
        return promql.over_time(query.shape.split("_", 1)[0], promql.selector(metric.name, filters), query.range)
    return promql.selector(metric.name, filters)  # value


def panel_queries(catalog: Catalog, dash: DashboardSpec) -> list[tuple[PanelSpec, QuerySpec, str]]:
    """Every (panel, query, expression) of a dashboard, checked against the catalog and its recording rules."""
    known = rules.known_names(catalog, rules.rule_documents(catalog))
    out = []
    for panel in dash.panels():
        for query in panel.queries:
            expr = query_expr(catalog, dash, query)
            promql.check_references(expr, known, f"dashboard {dash.uid} panel {panel.title!r}")
            out.append((panel, query, expr))
    return out


def dashboard_json(catalog: Catalog, dash: DashboardSpec) -> dict[str, Any]:
    """The dashboard as a JSON-ready dict (the foundation SDK's model, encoded)."""
    from grafana_foundation_sdk.builders import dashboard as builders
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard as model

    datasource = model.DataSourceRef(type_val="prometheus", uid=f"${{{dash.datasource_variable}}}")
    exprs = {(id(p), id(q)): e for p, q, e in panel_queries(catalog, dash)}

    board = (
        builders.Dashboard(dash.title)
        .uid(dash.uid)
        .tags(list(dash.tags))
        .timezone(dash.timezone)
        .editable()
        .refresh(dash.refresh)
        .time(dash.time_from, dash.time_to)
        .version(dash.version)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(builders.DatasourceVariable(dash.datasource_variable).label("Prometheus").type("prometheus"))
    )
    if dash.description:
        board = board.description(dash.description)
    for var in dash.variables:
        values_query = f"label_values({_variable_sample(catalog.metric(var.metric))}, {var.name})"
        board = board.with_variable(
            builders.QueryVariable(var.name)
            .label(var.label)
            .datasource(datasource)
            .query(values_query)
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .current(model.VariableOption(text=var.default, value=var.default, selected=True))
            .include_all(False)
            .multi(False)
        )

    panel_id = 0
    for row in dash.rows:
        panel_id += 1
        board = board.with_row(
            builders.Row(row.title).id(panel_id).collapsed(False).grid_pos(model.GridPos(h=1, w=24, x=0, y=row.y))
        )
        for panel in row.panels:
            panel_id += 1
            builder = _panel_builder(panel)
            g = panel.grid
            builder = builder.id(panel_id).title(panel.title)
            if panel.type != "text":
                builder = builder.datasource(datasource)
            builder = builder.grid_pos(model.GridPos(h=g.h, w=g.w, x=g.x, y=g.y))
            if panel.description:
                builder = builder.description(panel.description)
            if panel.unit:
                builder = builder.unit(panel.unit)
            if panel.decimals is not None:
                builder = builder.decimals(panel.decimals)
            if panel.min is not None:
                builder = builder.min(panel.min)
            if panel.max is not None:
                builder = builder.max(panel.max)
            if panel.thresholds:
                steps = [model.Threshold(color=s.color, value=s.value) for s in panel.thresholds]
                builder = builder.thresholds(
                    builders.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)
                )
            if panel.mappings:
                options = {
                    m.value: model.ValueMappingResult(text=m.text, color=m.color, index=i)
                    for i, m in enumerate(panel.mappings)
                }
                builder = builder.mappings([model.ValueMap(options=options)])
            for ref, query in zip(_REF_IDS, panel.queries, strict=False):
                builder = builder.with_target(_target(panel, query, exprs[(id(panel), id(query))], ref, datasource))
            board = board.with_panel(builder)

    built = board.build()
    built.schema_version = SCHEMA_VERSION
    import json

    return json.loads(json.dumps(built, cls=JSONEncoder))  # plain dicts, enums as values


def _target(panel: PanelSpec, query: QuerySpec, expr: str, ref: str, datasource: Any) -> Any:
    """A Prometheus query target; table panels default to an instant query in table format."""
    from grafana_foundation_sdk.builders import prometheus
    from grafana_foundation_sdk.models import prometheus as prometheus_model

    target = prometheus.Dataquery().expr(expr).legend_format(query.legend).ref_id(ref).datasource(datasource)
    instant = query.instant if query.instant is not None else (True if panel.type == "table" else None)
    if instant:
        target = target.instant()
    elif instant is False and panel.type == "table":
        target = target.range()
    fmt = query.format or ("table" if panel.type == "table" else None)
    if fmt is not None:
        target = target.format(prometheus_model.PromQueryFormat(fmt))
    return target


def _reduce(panel: PanelSpec) -> Any:
    from grafana_foundation_sdk.builders import common as common_builders

    return common_builders.ReduceDataOptions().calcs([panel.reduce or "lastNotNull"])


def _panel_builder(panel: PanelSpec) -> Any:
    """The foundation-SDK builder of the panel's type, with its type-specific options."""
    from grafana_foundation_sdk.builders import bargauge, gauge, heatmap, piechart, stat, table, text, timeseries
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import piechart as piechart_model
    from grafana_foundation_sdk.models import text as text_model

    legend = panel.legend
    if panel.type == "stat":
        builder: Any = stat.Panel().reduce_options(_reduce(panel))
    elif panel.type == "gauge":
        builder = gauge.Panel().reduce_options(_reduce(panel))
    elif panel.type == "bargauge":
        builder = bargauge.Panel().reduce_options(_reduce(panel))
        if panel.display_mode is not None:
            builder = builder.display_mode(common.BarGaugeDisplayMode(panel.display_mode))
    elif panel.type == "piechart":
        legend = legend or LegendSpec()
        builder = (
            piechart.Panel()
            .reduce_options(_reduce(panel))
            .legend(
                piechart.PieChartLegendOptions()
                .display_mode(common.LegendDisplayMode(legend.display))
                .placement(common.LegendPlacement(legend.placement))
                .show_legend(legend.display != "hidden")
            )
        )
        if panel.pie_type is not None:
            builder = builder.pie_type(piechart_model.PieChartType(panel.pie_type))
    elif panel.type == "heatmap":
        calculate = panel.calculate
        if calculate is None:
            calculate = not any(q.format == "heatmap" for q in panel.queries)
        builder = heatmap.Panel().calculate(calculate).show_tooltip()  # the SDK's model default hides the tooltip
    elif panel.type == "table":
        builder = table.Panel().show_header(True)  # without an option the SDK writes "options": null
    elif panel.type == "text":
        builder = text.Panel().mode(text_model.TextMode.MARKDOWN).content(panel.content)
    else:  # timeseries
        legend = legend or LegendSpec()
        builder = (
            timeseries.Panel()
            .legend(
                common_builders.VizLegendOptions()
                .display_mode(common.LegendDisplayMode(legend.display))
                .placement(common.LegendPlacement(legend.placement))
                .show_legend(legend.display != "hidden")
            )
            .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
        )
        if panel.thresholds_style is not None:
            builder = builder.thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode(panel.thresholds_style))
            )
    if panel.orientation is not None:
        builder = builder.orientation(common.VizOrientation(panel.orientation))
    return builder


def dashboard_files(catalog: Catalog) -> list[GeneratedFile]:
    """One ``<uid>.json`` per declared dashboard under ``collector/grafana/dashboards``."""
    return [
        GeneratedFile(f"{DASHBOARDS_DIR}/{dash.uid}.json", dump_json(dashboard_json(catalog, dash)))
        for dash in catalog.dashboards
    ]
