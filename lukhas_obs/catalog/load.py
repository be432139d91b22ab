"""Load a :class:`~lukhas_obs.catalog.spec.Catalog` from YAML (or an already-parsed mapping).

The YAML schema (see ``lukhas_obs/systems/lukhas_core/catalog.yaml`` for a full example, and
``catalog.schema.json`` for the JSON Schema editors check it against: add
``# yaml-language-server: $schema=<path>/catalog.schema.json`` to a catalog)::

    catalog: lukhas_core              # lower_snake_case name
    title: ...                        # optional
    description: ...                  # optional
    common_attributes: [lane, service]
    bucket_sets: {std: [0.005, ...]}  # named bucket lists a histogram can refer to
    attributes:                       # call-time attributes, shared by the metrics that list them
      tier: {description: ..., values: [T1, T2]}
    metrics:
      - name: lukhas_memory_search_seconds
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

Unknown keys are errors, and so are values of the wrong type (``buckets: 5``, ``description: null``,
``buckets: [false, true]``) and duplicate keys: a typo in a catalog must not silently drop a label or a bucket set.
Every problem is a :class:`~lukhas_obs.errors.CatalogError` line ``file:line: path: what; what is accepted``.

The document's shape is checked by the models of :mod:`lukhas_obs.catalog.schema`; the meaning by the spec
validation. ``defer_sections=True`` (how :func:`~lukhas_obs.catalog.builtin` and
:func:`~lukhas_obs.catalog.register_yaml` load, for a running service) leaves ``slos:`` and ``dashboards:`` to their
first use; the default loads and checks everything now.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from lukhas_obs.catalog.schema import CatalogDoc, Locate, bounded, describe, placed, problems_from
from lukhas_obs.catalog.spec import FOLD_VALUE, AttributeSpec, Catalog, DeferredSections, MetricSpec, SpanSpec, as_kind
from lukhas_obs.catalog.yamlfile import read_yaml
from lukhas_obs.errors import CatalogError

__all__ = ["load_catalog"]


def load_catalog(source: str | os.PathLike[str] | Mapping[str, Any], *, defer_sections: bool = False) -> Catalog:
    """Build and validate a catalog from a YAML file path or an already-parsed mapping.

    Raises :class:`~lukhas_obs.errors.CatalogError` listing every problem (OSError when the file cannot be read).
    With ``defer_sections`` the ``slos:`` and ``dashboards:`` sections are loaded and checked when first read.
    """
    if isinstance(source, Mapping):
        return build_catalog(source, None, None, defer_sections=defer_sections)
    document = read_yaml(source)
    origin = os.fspath(source)
    return build_catalog(document.data, origin, document.line, defer_sections=defer_sections)


def _label(doc: Any, origin: str | None) -> str:
    if origin is not None:
        return origin
    name = doc.get("catalog") if isinstance(doc, Mapping) else None
    return str.__str__(name)[:100] if isinstance(name, str) else "<mapping>"


def build_catalog(doc: Any, origin: str | None, locate: Locate | None, *, defer_sections: bool = False) -> Catalog:
    """Validate a parsed document (from ``origin``, lines from ``locate``) and build its :class:`Catalog`."""
    label = _label(doc, origin)
    if isinstance(doc, Mapping) and not isinstance(doc, dict):
        try:
            doc = dict(doc)
        except Exception:  # a Mapping that cannot be read is a bad document
            raise CatalogError(
                label, [placed("the document is a mapping that cannot be read", (), origin, None)]
            ) from None
    if not isinstance(doc, dict):
        raise CatalogError(label, [placed(f"the document is not a mapping, it is {describe(doc)}", (), origin, None)])
    problems: list[str] = []
    model: CatalogDoc | None = None
    try:
        model = CatalogDoc.model_validate(doc, context={})
    except ValidationError as exc:
        problems += problems_from(exc, CatalogDoc, origin=origin, locate=locate)
    sections_doc = None
    if not defer_sections:
        from lukhas_obs.catalog.sections import validate_sections

        sections_doc, section_problems = validate_sections(doc, origin, locate)
        problems += section_problems
    if problems or model is None:
        raise CatalogError(model.catalog if model is not None else label, bounded(problems))

    metrics, spans, common = _specs(model)
    if defer_sections:
        raw = (doc.get("slos"), doc.get("dashboards"))
        slos: Any = DeferredSections(_deferred_loader(raw, origin), key=raw)
        dashboards: Any = slos
    else:
        from lukhas_obs.catalog.sections import section_specs

        slos, dashboards = section_specs(sections_doc)
    try:
        return Catalog(
            name=model.catalog,
            metrics=metrics,
            spans=spans,
            title=model.title,
            description=model.description,
            common_attributes=common,
            slos=slos,
            dashboards=dashboards,
        )
    except CatalogError as exc:
        if origin is None:
            raise
        places = _places(model)
        raise CatalogError(
            exc.catalog, bounded([placed(p, places.get(p.split(": ", 1)[0], ()), origin, locate) for p in exc.problems])
        ) from None


def _specs(model: CatalogDoc) -> tuple[tuple[MetricSpec, ...], tuple[SpanSpec, ...], tuple[str, ...]]:
    """Convert validated models into the spec dataclasses instruments, spans and generators read."""
    bucket_sets = model.bucket_sets or {}
    attributes = {
        key: AttributeSpec(
            key=key,
            description=body.description if body is not None else "",
            values=tuple(body.values) if body is not None and body.values is not None else None,
            secret=body.secret if body is not None else None,
            fold_to=body.fold_to if body is not None else FOLD_VALUE,
            keep_unknown=body.keep_unknown if body is not None else False,
        )
        for key, body in (model.attributes or {}).items()
    }
    common = tuple(model.common_attributes or ())
    declared = {m.name: m for m in model.metrics or ()}

    def attributes_of(m: Any) -> tuple[AttributeSpec, ...]:
        if m.kind != "rate_of_change":
            return tuple(attributes[key] for key in m.attributes or ())
        source = declared.get(m.source or "")
        inherited = tuple(attributes[key] for key in (source.attributes or ()) if key in attributes) if source else ()
        labels = tuple(_window_label(w) for w in m.windows or ())
        return (*inherited, AttributeSpec("window", "The sliding window of the rate.", labels))

    metrics = tuple(
        MetricSpec(
            name=m.name,
            otel_name=m.otel_name if "otel_name" in m.model_fields_set else m.name,
            kind=as_kind(m.kind),
            unit=m.unit,
            description=m.description,
            attributes=attributes_of(m),
            common_attributes=common,
            # floats, as prometheus_client spells them (le="1.0"): an integer boundary would be another series
            buckets=tuple(_float(b) for b in (bucket_sets[m.buckets] if isinstance(m.buckets, str) else m.buckets))
            if m.buckets is not None
            else None,
            component=m.component,
            catalog=model.catalog,
            start_at_zero=model.start_at_zero,
            source=m.source,
            windows=tuple(_window_label(w) for w in m.windows or ()),
            switch=model.switch,
            gauge_mode=m.gauge_mode,
        )
        for m in model.metrics or ()
    )
    spans = tuple(
        SpanSpec(
            name=s.name,
            component=s.component,
            description=s.description,
            attributes=tuple(s.attributes or ()),
            kind=s.kind,  # type: ignore[arg-type]  # checked by the spec validation
            params={key: tuple(values) for key, values in (s.params or {}).items()},
        )
        for s in model.spans or ()
    )
    return metrics, spans, common


def _window_label(window: Any) -> str:
    """A window as its ``window`` label (``30s`` as written; a number of seconds as ``30s``)."""
    if isinstance(window, str):
        return window
    try:
        from lukhas_obs.rates import parse_window

        return parse_window(window).label
    except ValueError:
        return str(window)  # refused by the spec validation with the accepted forms


def _float(boundary: Any) -> Any:
    """A boundary as a float (``le="1.0"``); a non-number is left for the spec validation to refuse."""
    try:
        return float(boundary) if isinstance(boundary, int) and not isinstance(boundary, bool) else boundary
    except OverflowError:  # an integer too large for a float: refused by the validation as not finite
        return math.inf


def _places(model: CatalogDoc) -> dict[str, tuple[Any, ...]]:
    """Where each metric and span family is, by the prefix its problems carry (``<name>``, ``span <name>``)."""
    places: dict[str, tuple[Any, ...]] = {}
    for i, s in enumerate(model.spans or ()):
        places.setdefault(f"span {s.name}", ("spans", i))
    for i, m in enumerate(model.metrics or ()):
        places.setdefault(m.name, ("metrics", i))
    return places


class _LinesOnDemand:
    """Line numbers for a deferred section's problems: the file is read again only if there is a problem."""

    def __init__(self, origin: str) -> None:
        self._origin = origin
        self._line: Locate | None = None

    def __call__(self, loc: Sequence[Any]) -> int | None:
        if self._line is None:
            self._line = read_yaml(self._origin).line
        return self._line(loc)


def _deferred_loader(raw: tuple[Any, Any], origin: str | None) -> Callable[[tuple[MetricSpec, ...], str], Any]:
    """The loader of a catalog's deferred sections (raw data kept until first use, lines re-read on a problem)."""

    def load(metrics: tuple[MetricSpec, ...], name: str) -> Any:
        from lukhas_obs.catalog.sections import load_sections

        doc = {key: value for key, value in zip(("slos", "dashboards"), raw, strict=True) if value is not None}
        locate = _LinesOnDemand(origin) if origin is not None else None
        return load_sections(doc, metrics, name, origin, locate)

    return load
