"""``docs/metrics.md``: the metrics, span families, SLOs and dashboards of every catalog, as a markdown reference.

Generated, never hand-edited: the catalog is the single source, and the drift test keeps the committed page equal to
what the catalog says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from lukhas_obs.catalog.slo import le_label
from lukhas_obs.catalog.spec import Catalog, MetricSpec
from lukhas_obs.generate import promql, rules
from lukhas_obs.generate.output import DOCS_FILE, GeneratedFile, header

__all__ = ["catalog_section", "metrics_reference"]


def _cell(text: str) -> str:
    """Escape a table cell (pipes) and keep it on one line."""
    return " ".join(text.replace("|", "\\|").split())


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _labels(metric: MetricSpec) -> str:
    parts = [f"{_code(c)} (from settings)" for c in metric.common_attributes]
    for attr in metric.attributes:
        allowed = ", ".join(attr.values) + ", other" if attr.values else "any string"
        parts.append(f"{_code(attr.label)}: {allowed}")
    return "; ".join(parts) or "none"


def _metric_block(metric: MetricSpec) -> list[str]:
    lines = [f"#### {_code(metric.name)}", "", metric.description, ""]
    rows = [
        ("Prometheus name", _code(metric.name)),
        ("series", ", ".join(_code(s) for s in metric.sample_names if not s.endswith("_created"))),
        ("OTel instrument", f"{_code(metric.otel_name)} ({metric.kind})"),
        ("unit", _code(metric.unit or "(none)")),
        ("labels", _labels(metric)),
    ]
    if metric.buckets:
        rows.append(("buckets (le)", ", ".join(le_label(b) for b in metric.buckets) + ", +Inf"))
    if metric.component:
        rows.append(("component", metric.component))
    lines += _table(("", ""), rows)
    for attr in metric.attributes:
        if attr.description:
            lines += ["", f"- {_code(attr.label)}: {attr.description}"]
    return [*lines, ""]


def _spans(catalog: Catalog) -> list[str]:
    if not catalog.spans:
        return []
    rows = []
    for span in catalog.spans:
        names = ", ".join(_code(n) for n in span.names())
        attrs = ", ".join(_code(a) for a in span.attributes) or "—"
        rows.append((_code(span.name), span.kind, span.component, names, attrs, span.description))
    return ["### Span families", "", *_table(("family", "kind", "component", "span names", "attributes", ""), rows), ""]


def _slos(catalog: Catalog) -> list[str]:
    slos = catalog.slos
    if slos is None:
        return []
    lines = [
        "### SLOs and alerts",
        "",
        f"Scrape job: {_code(slos.job)}. Rule files: `collector/prometheus/rules/`.",
        "",
    ]
    rows = []
    for slo in slos.latency:
        rows.append(
            (
                slo.name,
                _code(slo.metric),
                f"{promql.number((1 - slo.error_budget) * 100)}% of requests <= "
                f"{rules.human_seconds(slo.threshold)} over {slo.window}",
                f"{_code(slo.record)} (p{promql.number(Decimal(repr(slo.quantile)) * 100)})",
                ", ".join(
                    ([f"{slo.alert.name} ({slo.alert.severity}, for {slo.alert.for_})"] if slo.alert else [])
                    + [f"{b.name} ({b.burn.severity})" for b in rules.burn_alerts(catalog, slo)]
                ),
            )
        )
    for rate in slos.rates:
        by = "per series" if rate.by is None else ("summed" if not rate.by else f"by {', '.join(rate.by)}")
        rows.append(
            (
                rate.name,
                _code(rate.metric),
                f"rate over {rate.range} {by} <= {promql.number(rate.threshold)}/s",
                "—",
                f"{rate.alert.name} ({rate.alert.severity}, for {rate.alert.for_})",
            )
        )
    lines += _table(("objective", "metric", "target", "recorded as", "alerts"), rows)
    if slos.burn_rates:
        lines += ["", "Burn-rate tiers (multi-window, SRE workbook): an alert fires when the slow-request ratio over"]
        lines += ["both windows exceeds factor × (1 − objective).", ""]
        lines += _table(
            ("tier", "severity", "factor", "long window", "short window", "for"),
            [
                (b.name, b.severity, promql.number(b.factor), b.long_window, b.short_window, b.for_)
                for b in slos.burn_rates
            ],
        )
    if slos.target is not None:
        t = slos.target
        up = promql.selector("up", {"job": slos.job})
        lines += [
            "",
            f"Target alerts: {t.absent_alert} ({_code(f'absent({up})')}) and {t.down_alert} "
            f"({_code(f'{up} == 0')}), {t.severity}, for {t.for_}.",
        ]
    return [*lines, ""]


def _dashboards(catalog: Catalog) -> list[str]:
    if not catalog.dashboards:
        return []
    rows = [
        (_code(d.uid), d.title, f"`collector/grafana/dashboards/{d.uid}.json`", str(len(d.panels())))
        for d in catalog.dashboards
    ]
    return ["### Dashboards", "", *_table(("uid", "title", "file", "panels"), rows), ""]


def catalog_section(catalog: Catalog) -> list[str]:
    """The markdown lines describing one catalog."""
    lines = [f"## {catalog.title or catalog.name} ({_code(catalog.name)})", ""]
    if catalog.description:
        lines += [catalog.description, ""]
    if catalog.common_attributes:
        common = ", ".join(_code(c) for c in catalog.common_attributes)
        lines += [f"Every series carries the common labels {common}, filled from the resolved settings.", ""]
    lines += ["### Metrics", ""]
    lines += _table(
        ("Prometheus name", "kind", "unit", "labels", "description"),
        [(_code(m.name), m.kind, _code(m.unit or "-"), _labels(m), m.description) for m in catalog.metrics],
    )
    lines.append("")
    for metric in catalog.metrics:
        lines += _metric_block(metric)
    return lines + _spans(catalog) + _slos(catalog) + _dashboards(catalog)


def metrics_reference(catalogs: Sequence[Catalog]) -> GeneratedFile:
    """``docs/metrics.md`` for ``catalogs``, in the given order."""
    banner = header("docs", [c.name for c in catalogs], comment="<!--").replace("\n", " -->\n")
    lines = [
        "# Metrics reference",
        "",
        "Every metric lukhas-obs exposes on `/metrics`, every span family, and the SLOs and dashboards built on them.",
        "Label values outside an attribute's allowed list are folded to `other` before recording.",
        "",
    ]
    for catalog in catalogs:
        lines += catalog_section(catalog)
    text = banner + "\n" + "\n".join(lines).rstrip("\n") + "\n"
    return GeneratedFile(DOCS_FILE, text)
