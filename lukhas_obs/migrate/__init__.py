"""Migrating to lukhas-obs from prometheus_client: ``lukhas-obs catalog import MODULE`` (see docs/MIGRATION.md).

The importer loads on first use (``register_cli``, ``import_catalog``, ...), so ``python -m
lukhas_obs.migrate.importer`` runs without a second copy of it, and building the command line stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ImportFailed", "ImportResult", "import_catalog", "register_cli"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("lukhas_obs.migrate.importer"), name)
    raise AttributeError(f"module 'lukhas_obs.migrate' has no attribute {name!r}")
