"""The ``lukhas-obs`` command line.

Each feature module contributes its subcommand through a ``register_cli(subparsers)`` function that adds a parser and
sets ``handler`` (a callable taking the parsed args and returning an exit code). Add a module to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from lukhas_obs.errors import CatalogError, ConfigurationError

#: Modules whose ``register_cli(subparsers)`` adds a subcommand.
COMMAND_MODULES: tuple[str, ...] = (
    "lukhas_obs.check",
    "lukhas_obs.demo",
    "lukhas_obs.generate",
    "lukhas_obs.migrate",
    "lukhas_obs.serve",
    "lukhas_obs.slotools",
    "lukhas_obs.tracefile",
    "lukhas_obs.viewer",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lukhas-obs", description="lukhas-obs: OpenTelemetry-first observability.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.handler(args) or 0)
    except (ConfigurationError, CatalogError, ValueError, ImportError) as exc:
        print(f"lukhas-obs: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
