"""The catalog: declarative metric and span specs, and the registry of catalogs known to this process.

``lukhas_obs_self`` (self-telemetry) is registered on import, the systems' catalogs when first looked up. Other
catalogs register with :func:`register` (or :func:`register_yaml`); the registry refuses a catalog whose Prometheus
names collide with one already registered, since two metrics with one Prometheus name make ``/metrics`` invalid.

Catalog files are checked against one schema (:mod:`lukhas_obs.catalog.schema`, pydantic models; the JSON Schema
editors use is ``catalog.schema.json`` next to this file): every problem is a :class:`~lukhas_obs.errors.CatalogError`
naming the file, line and path. Catalogs registered here (``builtin``, ``register_yaml``) load their ``slos:`` and
``dashboards:`` on first use, so ``import lukhas_obs`` never loads the SLO and dashboard machinery.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from importlib import resources

from lukhas_obs.catalog.load import load_catalog
from lukhas_obs.catalog.spec import (
    COMMON_ATTRIBUTE_SOURCES,
    FOLD_VALUE,
    METRIC_KINDS,
    AttributeSpec,
    Catalog,
    MetricSpec,
    SpanSpec,
)
from lukhas_obs.errors import CatalogError

__all__ = [
    "COMMON_ATTRIBUTE_SOURCES",
    "FOLD_VALUE",
    "METRIC_KINDS",
    "AttributeSpec",
    "Catalog",
    "MetricSpec",
    "SpanSpec",
    "builtin",
    "catalogs",
    "find_metric",
    "find_span",
    "load_catalog",
    "register",
    "register_yaml",
    "unregister",
]

_lock = threading.Lock()
_registry: dict[str, Catalog] = {}
_listeners: list[Callable[[Catalog], object]] = []
_unlisteners: list[Callable[[Catalog], object]] = []


def register(catalog: Catalog) -> Catalog:
    """Add ``catalog`` to the process registry; registering an equal catalog again is a no-op."""
    with _lock:
        existing = _registry.get(catalog.name)
        if existing is not None:
            if existing == catalog:
                return existing
            raise CatalogError(catalog.name, ["a different catalog with this name is already registered"])
        problems = _credential_like_labels(catalog)
        for other in _registry.values():
            taken = other.sample_owners()
            for sample, metric_name in catalog.sample_owners().items():
                if sample in taken:
                    problems.append(f"{metric_name}: sample {sample!r} is already exposed by catalog {other.name!r}")
            other_otel = {m.otel_name for m in other.metrics}
            problems += [
                f"{m.name}: OTel name {m.otel_name!r} is already used by catalog {other.name!r}"
                for m in catalog.metrics
                if m.otel_name in other_otel
            ]
        if problems:
            raise CatalogError(catalog.name, problems)
        _registry[catalog.name] = catalog
        listeners = list(_listeners)
    for listener in listeners:
        listener(catalog)
    return catalog


def _credential_like_labels(catalog: Catalog) -> list[str]:
    """Metric attributes whose name says "credential" (token, password, api key, ...) are refused, unless the catalog
    declares them ``secret: false`` (``token_id``: an identifier, not a token)."""
    from lukhas_obs.scrubbing import Scrubber

    scrubber = Scrubber()
    return [
        f"{m.name}: attribute {a.key!r} looks like a credential ({scrubber.key_rule(a.key)}); "
        "metrics must never carry one"
        for m in catalog.metrics
        for a in m.attributes
        if a.secret is not False and scrubber.key_rule(a.key) is not None
    ]


def register_yaml(path: str | os.PathLike[str]) -> Catalog:
    """Load, validate and register a catalog from a YAML file.

    Its metrics and spans are checked now; its ``slos:`` and ``dashboards:`` when first read (``lukhas-obs generate``
    reads them), so a running service does not load the SLO and dashboard machinery.
    """
    return register(load_catalog(path, defer_sections=True))


def builtin(name: str) -> Catalog:
    """A catalog shipped with lukhas-obs (``lukhas_obs_self``) or by a known system (``lukhas_core``), registered.

    Systems come from :mod:`lukhas_obs.systems` (the ``lukhas_obs.systems`` entry points); KeyError lists the names.
    """
    with _lock:
        if name in _registry:
            return _registry[name]
    data = resources.files("lukhas_obs.catalog") / "data" / f"{name}.yaml"
    if data.is_file():
        with resources.as_file(data) as path:
            return register(load_catalog(path, defer_sections=True))
    from lukhas_obs.systems import systems

    for known in systems().values():
        for catalog in known.register():
            if catalog.name == name:
                return catalog
    shipped = sorted(p.name[:-5] for p in (resources.files("lukhas_obs.catalog") / "data").iterdir())
    raise KeyError(f"no built-in catalog {name!r}; shipped: {', '.join(shipped + sorted(systems()))}")


#: Systems whose catalogs were already looked into (loaded once; registered only when they declare the name asked).
_systems_seen: dict[str, tuple[Catalog, ...]] = {}


def _register_system_declaring(declares: Callable[[Catalog], bool]) -> bool:
    """Register the first known system one of whose catalogs ``declares`` a name not registered yet; True if one was.

    Only that system is registered: a process using pForge's metrics must not expose Luna's (a system with
    ``start_at_zero`` would put its series on every ``/metrics``). A system whose catalog is broken is skipped with a
    warning here — an unrelated installed package must not break every lookup; asking for that system by name
    (``builtin``, ``demo --system``, ``generate --system``) raises.
    """
    from lukhas_obs.systems import systems

    for known in systems().values():
        loaded = _systems_seen.get(known.name)
        if loaded is None:
            try:
                loaded = tuple(load_catalog(path, defer_sections=True) for path in known.catalogs)
            except Exception as exc:
                logging.getLogger("lukhas_obs").warning("lukhas_obs: system %r not registered: %s", known.name, exc)
                loaded = ()
            _systems_seen[known.name] = loaded
        if any(declares(cat) for cat in loaded) and any(cat.name not in _registry for cat in loaded):
            try:
                known.register()
            except Exception as exc:
                logging.getLogger("lukhas_obs").warning("lukhas_obs: system %r not registered: %s", known.name, exc)
                continue
            return True
    return False


def catalogs() -> tuple[Catalog, ...]:
    """Every registered catalog, in registration order."""
    with _lock:
        return tuple(_registry.values())


def find_metric(metric_name: str) -> MetricSpec:
    """The spec of a metric by its Prometheus name, in the registered catalogs or else the systems'."""
    for _ in range(2):
        for cat in catalogs():
            for spec in cat.metrics:
                if spec.name == metric_name:
                    return spec
        if not _register_system_declaring(lambda c: any(m.name == metric_name for m in c.metrics)):
            break
    known = sorted(m.name for c in catalogs() for m in c.metrics)
    raise KeyError(f"no registered catalog has a metric {metric_name!r}; registered metrics: {', '.join(known)}")


def find_span(name: str) -> SpanSpec:
    """The span family that declares span ``name`` in the registered catalogs or else the systems'."""
    for _ in range(2):
        for cat in catalogs():
            for spec in cat.spans:
                if name == spec.name or name in spec.names():
                    return spec
        if not _register_system_declaring(lambda c: any(name == s.name or name in s.names() for s in c.spans)):
            break
    raise KeyError(f"no registered catalog declares a span {name!r}")


def unregister(name: str) -> Catalog | None:
    """Remove the catalog ``name`` from the registry (tests, plug-ins reloaded); its handles stop recording.

    Returns the removed catalog, or None when none had that name. Series it already recorded stay in the active
    configuration's output until the next configure (OTel has no way to delete a series).
    """
    with _lock:
        removed = _registry.pop(name, None)
        listeners = list(_unlisteners)
    if removed is not None:
        for system_name, loaded in list(_systems_seen.items()):
            if any(c.name == name for c in loaded):
                _systems_seen.pop(system_name, None)  # looked into again, and registered again, when needed
        for listener in listeners:
            listener(removed)
    return removed


def on_unregister(listener: Callable[[Catalog], object]) -> None:
    """Call ``listener(catalog)`` for every catalog unregistered from now on."""
    with _lock:
        _unlisteners.append(listener)


def on_register(listener: Callable[[Catalog], object]) -> None:
    """Call ``listener(catalog)`` for every catalog registered from now on (the runtime creates its instruments)."""
    with _lock:
        _listeners.append(listener)


builtin("lukhas_obs_self")
