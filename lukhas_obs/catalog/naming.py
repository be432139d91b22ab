"""How an OTel instrument (name, unit, kind) becomes a Prometheus metric name.

The rules are the OTel Prometheus exporter's own (its ``sanitize_full_name`` and ``map_unit``) followed by
prometheus_client's family rules (a counter's ``_total`` is stripped and re-added; the unit suffix is appended unless
the name already ends with it). Validating the catalog with the exporter's functions means a catalog that loads is a
catalog whose ``/metrics`` names are exactly the declared ones — the end-to-end scrape test checks that claim.
"""

from __future__ import annotations

import re

from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_attribute, sanitize_full_name

from lukhas_obs.catalog.kinds import KINDS

__all__ = [
    "PROMETHEUS_NAME_RE",
    "family_name",
    "label_name",
    "prometheus_name",
    "sample_names",
]

PROMETHEUS_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _monotonic(kind: str) -> bool:
    entry = KINDS.get(kind)
    return entry is not None and entry.monotonic


def family_name(otel_name: str, unit: str, kind: str) -> str:
    """The Prometheus family name (``# TYPE`` line) the exporter will use."""
    name = sanitize_full_name(otel_name)
    if _monotonic(kind) and name.endswith("_total"):
        name = name[: -len("_total")]
    suffix = map_unit(unit or "")
    if suffix and not name.endswith("_" + suffix):
        name += "_" + suffix
    return name


def prometheus_name(otel_name: str, unit: str, kind: str) -> str:
    """The name users query: ``<family>_total`` for counters, the family name otherwise (histogram base name)."""
    family = family_name(otel_name, unit, kind)
    return family + "_total" if _monotonic(kind) else family


def sample_names(metric_name: str, kind: str) -> tuple[str, ...]:
    """Every sample name a metric puts on ``/metrics`` (used to detect collisions between metrics)."""
    entry = KINDS.get(kind)
    return entry.sample_names(metric_name) if entry is not None else (metric_name,)


def label_name(attribute_key: str) -> str:
    """The Prometheus label an OTel attribute key becomes (``mem.meta.size`` → ``mem_meta_size``)."""
    return sanitize_attribute(attribute_key)
