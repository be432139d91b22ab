"""Systems: the units lukhas-obs instruments, each one folder registered in one place.

A system (the LUKHΛS core, Luna, pForge, ... or a user's own) is a package folder holding its catalog YAML, its
helpers and a pointer to its demo workload, described by one :class:`System` object. Systems are found through
the Python entry-point group ``lukhas_obs.systems`` — so a user's installed package plugs in exactly the way the
shipped ones do::

    # the user's pyproject.toml
    [project.entry-points."lukhas_obs.systems"]
    billing = "billing_obs:SYSTEM"

    # billing_obs/__init__.py
    from pathlib import Path
    from lukhas_obs.systems import System
    SYSTEM = System(name="billing", title="Billing", catalogs=(Path(__file__).with_name("catalog.yaml"),),
                    workload="billing_obs.workload:BillingWorkload")

``lukhas-obs demo --system``, ``lukhas-obs generate`` and the generated docs list what is found here; a metric name
that no registered catalog declares yet is looked up in the systems' catalogs before a lookup fails, so
``lukhas_obs.metric("billing_invoices_total")`` works without registering anything by hand. :func:`register_system`
adds a system in-process (tests, notebooks) without packaging.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "System", "register_system", "system", "systems"]

#: The entry-point group systems are published under.
ENTRY_POINT_GROUP = "lukhas_obs.systems"

_log = logging.getLogger("lukhas_obs")
_lock = threading.RLock()
_local: dict[str, System] = {}
_discovered: dict[str, System] | None = None


@dataclass(frozen=True)
class System:
    """One instrumented system: its catalogs, helpers and demo workload."""

    #: The ``--system`` name (``lukhas_core``): lower-case letters, digits and ``_``.
    name: str
    #: A human title for docs and listings.
    title: str
    #: Catalog YAML files, in registration order.
    catalogs: tuple[Path, ...]
    #: ``module:attribute`` of the demo workload factory (a class with ``step(i)`` and ``summary()``), if any.
    workload: str | None = None
    #: Modules of the system's helpers, for the docs (``lukhas_obs.systems.lukhas_core.memory``).
    helpers: tuple[str, ...] = ()
    #: One paragraph for listings.
    description: str = ""
    #: Anything a later capability needs (kept opaque here).
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def register(self) -> list[Any]:
        """Load, validate and register this system's catalogs (a no-op for those already registered)."""
        from lukhas_obs.catalog import register_yaml

        return [register_yaml(path) for path in self.catalogs]

    def load_workload(self) -> Any:
        """Register this system's catalogs, then instantiate its demo workload; ValueError when it has none."""
        if not self.workload:
            raise ValueError(f"system {self.name!r} has no demo workload")
        self.register()
        module, _, attribute = self.workload.partition(":")
        factory: Callable[[], Any] = getattr(importlib.import_module(module), attribute)
        return factory()


def _discover() -> dict[str, System]:
    found: dict[str, System] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = entry.load()
        except Exception as exc:  # one broken plug-in must not hide the others
            _log.warning("lukhas_obs: system entry point %r failed to load: %s", entry.name, exc)
            continue
        if not isinstance(value, System):
            _log.warning("lukhas_obs: system entry point %r is a %s, not a System", entry.name, type(value).__name__)
            continue
        found.setdefault(value.name, value)
    return found


def systems() -> dict[str, System]:
    """Every known system by name: installed entry points, then in-process registrations, sorted by name."""
    global _discovered
    with _lock:
        if _discovered is None or os.environ.get("LUKHAS_OBS_RESCAN_SYSTEMS"):
            _discovered = _discover()
        merged = {**_discovered, **_local}
    return dict(sorted(merged.items()))


def system(name: str) -> System:
    """The system called ``name``; KeyError lists the known ones."""
    known = systems()
    if name not in known:
        raise KeyError(f"unknown system {name!r}; known systems: {', '.join(known) or '(none)'}")
    return known[name]


def register_system(new: System) -> System:
    """Make ``new`` known in this process (as an installed entry point would)."""
    with _lock:
        _local[new.name] = new
    return new


def catalog_paths(names: Sequence[str] | None = None) -> list[Path]:
    """The catalog files of the named systems (default: every known system), in system order."""
    chosen = systems() if names is None else {n: system(n) for n in names}
    return [path for s in chosen.values() for path in s.catalogs]
