"""Loading the ``slos:`` and ``dashboards:`` sections of a catalog document: shape, conversion, meaning.

Imported when those sections are loaded (``load_catalog``, ``lukhas-obs generate``, the first read of
``catalog.slos``/``catalog.dashboards``), never on ``import lukhas_obs``: a running service needs the catalog's
metrics and spans, not its SLO and dashboard models or the Grafana grid checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from lukhas_obs.catalog.dashboard import DashboardDoc, DashboardSpec, dashboard_problems, dashboards_from_docs
from lukhas_obs.catalog.schema import Locate, Model, bounded, placed, problems_from
from lukhas_obs.catalog.slo import SloSet, SloSetDoc, slo_problems, slos_from_doc
from lukhas_obs.catalog.spec import MetricSpec
from lukhas_obs.errors import CatalogError

__all__ = ["SectionsDoc", "load_sections", "section_specs", "validate_sections"]


class SectionsDoc(Model):
    """The two sections, validated together so their error locations are the document's (``slos.groups[0]``)."""

    slos: SloSetDoc | None = None
    dashboards: list[DashboardDoc] | None = None


def validate_sections(
    doc: Mapping[str, Any], origin: str | None = None, locate: Locate | None = None
) -> tuple[SectionsDoc | None, list[str]]:
    """Validate the shape of ``doc``'s sections; the catalog model reports a section that is not a mapping/list."""
    raw: dict[str, Any] = {}
    if isinstance(doc.get("slos"), dict):
        raw["slos"] = doc["slos"]
    if isinstance(doc.get("dashboards"), list):
        raw["dashboards"] = doc["dashboards"]
    try:
        return SectionsDoc.model_validate(raw), []
    except ValidationError as exc:
        return None, problems_from(exc, SectionsDoc, origin=origin, locate=locate)


def section_specs(doc: SectionsDoc | None) -> tuple[SloSet | None, tuple[DashboardSpec, ...]]:
    """The specs validated sections describe (no cross-reference checks)."""
    if doc is None:
        return None, ()
    slos = slos_from_doc(doc.slos) if doc.slos is not None else None
    return slos, dashboards_from_docs(doc.dashboards or ())


def load_sections(
    doc: Mapping[str, Any],
    metrics: Sequence[MetricSpec],
    name: str,
    origin: str | None = None,
    locate: Locate | None = None,
) -> tuple[SloSet | None, tuple[DashboardSpec, ...]]:
    """Shape, convert and check the sections against ``metrics``; CatalogError lists every problem."""
    sections, problems = validate_sections(doc, origin, locate)
    if problems:
        raise CatalogError(name or origin or "<mapping>", bounded(problems))
    slos, dashboards = section_specs(sections)
    problems = list(slo_problems(slos, metrics, name)) if slos is not None else []
    problems += dashboard_problems(dashboards, metrics, slos, name)
    if problems:
        raise CatalogError(name, bounded([placed(p, (), origin, None) for p in problems]))
    return slos, dashboards
