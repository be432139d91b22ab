"""Load a :class:`~lukhas_obs.catalog.spec.Catalog` from YAML.

The YAML schema (see ``data/lukhas_core.yaml`` for a full example)::

    catalog: lukhas_core              # lower_snake_case name
    title: ...                        # optional
    description: ...                  # optional
    common_attributes: [lane, service]
    bucket_sets: {std: [0.005, ...]}  # named bucket lists a histogram can refer to
    attributes:                       # call-time attributes, shared by the metrics that list them
      tier: {description: ..., values: [T1, T2]}
    metrics:
      - exposed: lukhas_memory_search_seconds
        otel_name: lukhas.memory.search
        kind: histogram               # counter | updown_counter | histogram | gauge | observable_gauge
        unit: s
        buckets: std                  # a bucket_sets name or an inline list
        description: ...
        component: memory
        attributes: [tier]
    spans:
      - name: identity.authenticate_{tier}
        params: {tier: [T1, T2]}
        component: identity
        attributes: [tier]
    slos:                             # see lukhas_obs.catalog.slo
      job: lukhas                     # the Prometheus scrape job of this catalog's /metrics
      burn_rates: [{name: fast, severity: page, factor: 14.4, long_window: 1h, short_window: 5m, for: 2m}]
      target: {group: lukhas-target, file: target, absent_alert: ..., down_alert: ..., for: 5m, severity: page}
      groups:
        - name: memory-slos           # a Prometheus rule group, written to <file>.yml
          file: memory
          latency:                    # histogram objectives: quantile record + alert + burn-rate alerts
            - {name: memory_search, metric: lukhas_memory_search_seconds, threshold: 0.1, objective: 0.95,
               window: 30d, quantile: 0.95, range: 5m, record: "job:lukhas_memory_search_p95:rate5m", by: [],
               alert: {name: MemorySearchLatencyHigh, for: 10m, severity: page, summary: ...}}
          rates:                      # counter rate alerts; "by" absent = no aggregation
            - {name: ..., metric: ..., threshold: 0.1, range: 5m, by: [tier], alert: {...}}
    dashboards:                       # see lukhas_obs.catalog.dashboard
      - uid: lukhas-t4-core
        title: ...
        variables: [{name: lane, label: Lane, metric: lukhas_memory_search_seconds, default: candidate}]
        rows:
          - title: Overview
            y: 0
            panels:
              - {title: ..., type: stat, grid: {h: 4, w: 6, x: 0, y: 1}, unit: s,
                 thresholds: [{color: green}, {color: red, value: 0.01}],
                 queries: [{shape: quantile, metric: lukhas_reflection_latency_seconds, quantile: 0.95,
                            legend: p95}]}

Unknown keys are errors: a typo in a catalog must not silently drop a label or a bucket set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from lukhas_obs.catalog.dashboard import parse_dashboards
from lukhas_obs.catalog.slo import parse_slos
from lukhas_obs.catalog.spec import AttributeSpec, Catalog, MetricSpec, SpanSpec, as_kind
from lukhas_obs.errors import CatalogError

_TOP_KEYS = {
    "catalog",
    "title",
    "description",
    "common_attributes",
    "bucket_sets",
    "attributes",
    "metrics",
    "spans",
    "slos",
    "dashboards",
}
_METRIC_KEYS = {"exposed", "otel_name", "kind", "unit", "buckets", "description", "component", "attributes"}
_SPAN_KEYS = {"name", "component", "description", "attributes", "kind", "params"}
_ATTR_KEYS = {"description", "values"}


def load_catalog(source: str | os.PathLike[str] | Mapping[str, Any]) -> Catalog:
    """Build and validate a catalog from a YAML file path or an already-parsed mapping."""
    if isinstance(source, Mapping):
        doc: Any = source
        origin = str(source.get("catalog", "<mapping>"))
    else:
        with open(source, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        origin = os.fspath(source)
    if not isinstance(doc, Mapping):
        raise CatalogError(origin, ["the document is not a mapping"])
    name = str(doc.get("catalog", ""))
    problems: list[str] = []
    problems += [f"unknown top-level key {k!r}" for k in doc if k not in _TOP_KEYS]

    bucket_sets = doc.get("bucket_sets") or {}
    attributes: dict[str, AttributeSpec] = {}
    for key, body in (doc.get("attributes") or {}).items():
        body = body or {}
        problems += [f"attribute {key!r}: unknown key {k!r}" for k in body if k not in _ATTR_KEYS]
        values = body.get("values")
        attributes[key] = AttributeSpec(
            key=str(key),
            description=str(body.get("description", "")),
            values=tuple(str(v) for v in values) if values is not None else None,
        )

    common = tuple(doc.get("common_attributes") or ())
    metrics: list[MetricSpec] = []
    for i, body in enumerate(doc.get("metrics") or ()):
        where = f"metrics[{i}] ({body.get('exposed', '?')})"
        problems += [f"{where}: unknown key {k!r}" for k in body if k not in _METRIC_KEYS]
        buckets = body.get("buckets")
        if isinstance(buckets, str):
            if buckets not in bucket_sets:
                problems.append(f"{where}: bucket set {buckets!r} is not defined in bucket_sets")
                buckets = None
            else:
                buckets = bucket_sets[buckets]
        attrs = []
        for key in body.get("attributes") or ():
            if key not in attributes:
                problems.append(f"{where}: attribute {key!r} is not defined under attributes")
            else:
                attrs.append(attributes[key])
        exposed = str(body.get("exposed", ""))
        metrics.append(
            MetricSpec(
                exposed=exposed,
                otel_name=str(body.get("otel_name", exposed)),
                kind=as_kind(str(body.get("kind", ""))),
                unit=str(body.get("unit", "")),
                description=str(body.get("description", "")),
                attributes=tuple(attrs),
                common_attributes=common,
                buckets=tuple(buckets) if buckets is not None else None,
                component=body.get("component"),
                catalog=name,
            )
        )

    spans: list[SpanSpec] = []
    for i, body in enumerate(doc.get("spans") or ()):
        problems += [f"spans[{i}]: unknown key {k!r}" for k in body if k not in _SPAN_KEYS]
        spans.append(
            SpanSpec(
                name=str(body.get("name", "")),
                component=str(body.get("component", "")),
                description=str(body.get("description", "")),
                attributes=tuple(str(a) for a in body.get("attributes") or ()),
                kind=body.get("kind", "internal"),
                params={str(k): tuple(str(x) for x in v) for k, v in (body.get("params") or {}).items()},
            )
        )

    slos = parse_slos(doc.get("slos"), problems)
    dashboards = parse_dashboards(doc.get("dashboards"), problems)

    if problems:
        raise CatalogError(name or origin, problems)
    return Catalog(
        name=name,
        metrics=tuple(metrics),
        spans=tuple(spans),
        title=str(doc.get("title", "")),
        description=str(doc.get("description", "")),
        common_attributes=common,
        slos=slos,
        dashboards=dashboards,
    )
