"""The dashboards the viewer shows: every ``dashboards:`` entry of every registered system's catalogs.

Each panel query's PromQL is the one :func:`lukhas_obs.generate.dashboards.panel_queries` writes into the Grafana
JSON (same variables, same shapes), so the page and Grafana show the same numbers from the same data. Panel ids are
numbered as in the generated JSON (each row takes one id, then its panels in order).

:func:`board_data` evaluates one dashboard over a time range: the variables (``$lane``, ``$service``) are resolved
against the data (``label_values`` of the variable's metric; the catalog's default when present, else the first
value) and substituted safely; each query becomes series of ``[t, v]`` points named by its legend (``{{tier}}``
filled from the labels). Non-finite values travel as the strings ``"NaN"``, ``"+Inf"``, ``"-Inf"`` (JSON has no
such numbers).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lukhas_obs.catalog.dashboard import DashboardSpec, PanelSpec
from lukhas_obs.viewer import promql
from lukhas_obs.viewer.history import family_of
from lukhas_obs.viewer.sources import Source

__all__ = ["Board", "BoardPanel", "BoardQuery", "board_data", "collect_boards", "format_legend"]

_log = logging.getLogger("lukhas_obs")
_LEGEND_RE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
#: Exemplars sent per panel.
MAX_EXEMPLARS = 10
MAX_LEGEND = 200


@dataclass(frozen=True)
class BoardQuery:
    """One panel query: Grafana ref id, legend template, PromQL (with ``$variables``), instant or range."""

    ref: str
    legend: str
    expr: str
    instant: bool
    format: str | None
    families: tuple[str, ...]


@dataclass(frozen=True)
class BoardPanel:
    """A panel, its Grafana id and its queries."""

    id: int
    row: str
    spec: PanelSpec
    queries: tuple[BoardQuery, ...]


@dataclass(frozen=True)
class Board:
    """One dashboard of one system's catalog, ready to evaluate."""

    system: str
    catalog: str
    spec: DashboardSpec
    panels: tuple[BoardPanel, ...]
    variables: tuple[tuple[str, str, str, str], ...]  # (name, label, sample series, default)

    @property
    def uid(self) -> str:
        return self.spec.uid


@dataclass
class Collected:
    """The dashboards found, and the catalogs that could not be read (shown on the page, never raised)."""

    boards: list[Board] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _families(expr: str) -> tuple[str, ...]:
    try:
        node = promql.parse(expr.replace("$", "x"))  # variables do not change which metrics are read
    except (promql.ParseError, promql.Unsupported):
        from lukhas_obs.generate.promql import metric_references

        return tuple(sorted({family_of(n) for n in metric_references(expr)}))
    return tuple(sorted({family_of(s.name) for s in promql.referenced_selectors(node) if s.name}))


def board_of(system: str, catalog: Any, dash: DashboardSpec) -> Board:
    """The :class:`Board` of one dashboard of ``catalog`` (its PromQL from the Grafana generator)."""
    from lukhas_obs.generate.dashboards import panel_queries

    exprs = {(id(p), id(q)): e for p, q, e in panel_queries(catalog, dash)}
    panels: list[BoardPanel] = []
    panel_id = 0
    for row in dash.rows:
        panel_id += 1
        for panel in row.panels:
            panel_id += 1
            queries = []
            for ref, query in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", panel.queries, strict=False):
                expr = exprs[(id(panel), id(query))]
                instant = query.instant if query.instant is not None else panel.type == "table"
                queries.append(BoardQuery(ref, query.legend, expr, bool(instant), query.format, _families(expr)))
            panels.append(BoardPanel(panel_id, row.title, panel, tuple(queries)))
    variables = []
    for var in dash.variables:
        metric = catalog.metric(var.metric)
        sample = f"{metric.name}_bucket" if metric.kind == "histogram" else metric.name
        variables.append((var.name, var.label, sample, var.default))
    return Board(system, catalog.name, dash, tuple(panels), tuple(variables))


def collect_boards(
    system_names: Sequence[str] | None = None, catalog_files: Sequence[str | os.PathLike[str]] = ()
) -> Collected:
    """Every dashboard of the registered systems (all, or those named) and of ``catalog_files``, in that order.

    A named system that is not registered is a ValueError listing the known ones (bad configuration fails early);
    a catalog that does not load is reported in ``problems`` and skipped.
    """
    from lukhas_obs.catalog.load import load_catalog
    from lukhas_obs.systems import systems

    known = systems()
    if system_names:
        unknown = [n for n in system_names if n not in known]
        if unknown:
            raise ValueError(f"unknown system {unknown[0]!r}; known systems: {', '.join(known) or '(none)'}")
        chosen = [known[n] for n in system_names]
    else:
        chosen = list(known.values())
    sources: list[tuple[str, str | os.PathLike[str]]] = [(s.name, path) for s in chosen for path in s.catalogs]
    sources += [("file", path) for path in catalog_files]
    out = Collected()
    uids: set[str] = set()
    for system, path in sources:
        try:
            catalog = load_catalog(path)
            dashboards = catalog.dashboards
            for dash in dashboards:
                if dash.uid in uids:
                    continue  # the same dashboard through two catalogs: show it once
                uids.add(dash.uid)
                out.boards.append(board_of(system, catalog, dash))
        except Exception as exc:  # one bad catalog must not hide the others
            message = f"{os.fspath(path)}: {type(exc).__name__}: {str(exc)[:300]}"
            if not system_names and system != "file":
                out.problems.append(message)
            else:
                raise ValueError(message) from None
    return out


# ---------------------------------------------------------------------------------------------------- the page


def _panel_meta(panel: BoardPanel, source: Source) -> dict[str, Any]:
    spec = panel.spec
    return {
        "id": panel.id,
        "title": spec.title,
        "type": spec.type,
        "description": spec.description,
        "grid": {"h": spec.grid.h, "w": spec.grid.w, "x": spec.grid.x, "y": spec.grid.y},
        "unit": spec.unit,
        "decimals": spec.decimals,
        "min": spec.min,
        "max": spec.max,
        "thresholds": [{"color": s.color, "value": s.value} for s in spec.thresholds],
        "mappings": [{"value": m.value, "text": m.text, "color": m.color} for m in spec.mappings],
        "reduce": spec.reduce or "lastNotNull",
        "orientation": spec.orientation,
        "display_mode": spec.display_mode,
        "pie_type": spec.pie_type,
        "calculate": spec.calculate,
        "thresholds_style": spec.thresholds_style,
        "legend": {"display": spec.legend.display, "placement": spec.legend.placement} if spec.legend else None,
        "content": spec.content,
        "queries": [
            {
                "ref": q.ref,
                "legend": q.legend,
                "expr": q.expr,
                "instant": q.instant,
                "format": q.format,
                "problem": source.support_problem(q.expr),
            }
            for q in panel.queries
        ],
    }


def board_meta(board: Board, source: Source) -> dict[str, Any]:
    """What the page needs to lay a dashboard out (no data)."""
    spec = board.spec
    return {
        "system": board.system,
        "catalog": board.catalog,
        "uid": spec.uid,
        "title": spec.title,
        "description": spec.description,
        "refresh": spec.refresh,
        "time_from": spec.time_from,
        "tags": list(spec.tags),
        "variables": [{"name": n, "label": lbl, "default": d} for n, lbl, _, d in board.variables],
        "rows": [
            {
                "title": row.title,
                "y": row.y,
                "panels": [_panel_meta(p, source) for p in board.panels if p.row == row.title],
            }
            for row in spec.rows
        ],
    }


def format_legend(legend: str, labels: Mapping[str, str]) -> str:
    """Grafana's legend format: ``{{tier}}`` replaced by the label's value; empty: the series' labels."""
    if legend:
        text = _LEGEND_RE.sub(lambda m: labels.get(m.group(1), ""), legend)
    else:
        name = labels.get("__name__", "")
        pairs = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        text = f"{name}{{{pairs}}}" if pairs or not name else name
    return text[:MAX_LEGEND]


def json_value(value: float) -> float | str:
    """A number for JSON: finite as is, else ``"NaN"``, ``"+Inf"``, ``"-Inf"``."""
    if math.isfinite(value):
        return value
    if value != value:
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def resolve_variables(board: Board, source: Source, requested: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each variable's options (from the data) and chosen value: the requested one when the data has it, else the
    catalog's default when the data has it (or has nothing), else the first value."""
    out: dict[str, dict[str, Any]] = {}
    for name, _label, sample, default in board.variables:
        options = source.label_values(sample, name)[:1000]
        wanted = requested.get(name)
        if wanted is not None and wanted in options:
            value = wanted
        elif default in options or not options:
            value = default
        else:
            value = options[0]
        out[name] = {"value": value, "options": options}
    return out


def _exemplars_of(
    panel: BoardPanel, source: Source, start: float, end: float, variables: Mapping[str, str], has_trace: Any
) -> list[dict[str, Any]]:
    families = sorted({f for q in panel.queries for f in q.families})
    if not families:
        return []
    out = []
    for exemplar in source.exemplars(families, start, end):
        if any(k in exemplar.labels and exemplar.labels[k] != v for k, v in variables.items()):
            continue
        out.append(
            {
                "trace_id": exemplar.trace_id,
                "span_id": exemplar.span_id,
                "value": json_value(exemplar.value),
                "time": exemplar.timestamp,
                "metric": exemplar.metric,
                "labels": {k: v for k, v in exemplar.labels.items() if k != "le"},
                "le": exemplar.labels.get("le"),
                "known": bool(has_trace(exemplar.trace_id)),
            }
        )
        if len(out) >= MAX_EXEMPLARS:
            break
    return out


def board_data(
    board: Board,
    source: Source,
    start: float,
    end: float,
    step: float,
    requested: Mapping[str, str],
    has_trace: Any = lambda _tid: False,
) -> dict[str, Any]:
    """Every panel's series over ``[start, end]`` (``step`` seconds apart), plus exemplars and the variables used."""
    variables = resolve_variables(board, source, requested)
    values = {name: v["value"] for name, v in variables.items()}
    panels: dict[str, Any] = {}
    for panel in board.panels:
        queries = []
        for query in panel.queries:
            entry: dict[str, Any] = {"ref": query.ref, "series": [], "error": None}
            try:
                expr = promql.substitute_variables(query.expr, values)
            except promql.ParseError as exc:
                entry["error"] = str(exc)
                queries.append(entry)
                continue
            first = end if query.instant else start
            answer = source.query_range(expr, first, end, step)
            entry["error"] = answer.error
            entry["truncated"] = answer.truncated
            for labels, points in answer.series:
                entry["series"].append(
                    {
                        "name": format_legend(query.legend, labels),
                        "labels": {k: v for k, v in labels.items()},
                        "points": [[t, json_value(v)] for t, v in points],
                    }
                )
            queries.append(entry)
        panels[str(panel.id)] = {
            "queries": queries,
            "exemplars": _exemplars_of(panel, source, start, end, values, has_trace),
        }
    return {"uid": board.uid, "start": start, "end": end, "step": step, "variables": variables, "panels": panels}


def find_board(boards: Iterable[Board], uid: str) -> Board | None:
    """The board with ``uid``, or None."""
    return next((b for b in boards if b.uid == uid), None)
