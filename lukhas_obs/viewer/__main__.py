"""``python -m lukhas_obs.viewer [options]``: the same as ``lukhas-obs view [options]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from lukhas_obs.errors import CatalogError, ConfigurationError
from lukhas_obs.viewer import register_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` as ``lukhas-obs view`` arguments and serve; 2 on bad configuration."""
    parser = argparse.ArgumentParser(prog="python -m lukhas_obs.viewer")
    sub = parser.add_subparsers(dest="command", required=True)
    register_cli(sub)
    args = parser.parse_args(["view", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.handler(args) or 0)
    except (ConfigurationError, CatalogError, ValueError, ImportError) as exc:
        print(f"lukhas-obs view: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
