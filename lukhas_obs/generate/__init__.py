"""``lukhas-obs generate``: Prometheus rules, promtool tests, Grafana dashboards and the metrics reference.

Everything is derived from the catalogs (``lukhas_obs/catalog/data/*.yaml``): a metric, SLO or panel is declared
once and every artefact follows. Output is deterministic (stable order, sorted JSON keys), so the committed copies
under ``collector/`` and ``docs/`` can be checked for drift by regenerating into a temporary directory.

Layout under ``--out`` (the repository root for the committed copies)::

    collector/prometheus/rules/<file>.yml            recording + alerting rules   (generate rules)
    collector/prometheus/tests/<file>_rules_test.yml promtool unit tests          (generate tests)
    collector/grafana/dashboards/<uid>.json          Grafana dashboards           (generate dashboards)
    docs/metrics.md                                  metrics/spans/SLO reference  (generate docs)

Heavy imports (grafana-foundation-sdk) happen only when the command runs, so ``lukhas-obs --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TextIO

from lukhas_obs.catalog.spec import Catalog

__all__ = ["KINDS", "generate", "register_cli", "shipped_catalogs"]

#: Output kinds in the order ``all`` produces them.
KINDS: tuple[str, ...] = ("rules", "tests", "dashboards", "docs")


def shipped_catalogs() -> tuple[Catalog, ...]:
    """The catalogs shipped in ``lukhas_obs/catalog/data``, sorted by name (a stable default for generation)."""
    from lukhas_obs.catalog import builtin

    data = resources.files("lukhas_obs.catalog") / "data"
    names = sorted(p.name[: -len(".yaml")] for p in data.iterdir() if p.name.endswith(".yaml"))
    return tuple(builtin(name) for name in names)


def _producers() -> dict[str, Callable[[Sequence[Catalog]], list]]:  # type: ignore[type-arg]
    from lukhas_obs.generate import dashboards, docs, promtool_tests, rules

    return {
        "rules": lambda cats: [f for c in cats for f in rules.rule_files(c)],
        "tests": lambda cats: [f for c in cats for f in promtool_tests.promtool_files(c)],
        "dashboards": lambda cats: [f for c in cats for f in dashboards.dashboard_files(c)],
        "docs": lambda cats: [docs.metrics_reference(cats)],
    }


def generate(kinds: Sequence[str], catalogs: Sequence[Catalog] | None = None) -> list:  # type: ignore[type-arg]
    """Every :class:`~lukhas_obs.generate.output.GeneratedFile` of ``kinds`` (``all`` = every kind), in order.

    Raises ValueError for an unknown kind or when two catalogs would write the same path.
    """
    wanted = list(KINDS) if "all" in kinds else list(kinds)
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown output kind {', '.join(unknown)}; expected one of: {', '.join(KINDS)}, all")
    cats = tuple(catalogs) if catalogs is not None else shipped_catalogs()
    producers = _producers()
    files = [f for kind in KINDS if kind in wanted for f in producers[kind](cats)]
    paths: dict[str, int] = {}
    for item in files:
        paths[item.path] = paths.get(item.path, 0) + 1
    clashes = sorted(p for p, n in paths.items() if n > 1)
    if clashes:
        raise ValueError(f"two catalogs generate the same file: {', '.join(clashes)}")
    return files


def run(kinds: Sequence[str], out: str, catalog_names: Sequence[str] | None, stream: TextIO | None = None) -> int:
    """CLI body: generate ``kinds`` for the named catalogs (default: all shipped) into ``out``; exit code 0.

    Everything is generated (and validated) before the first file is written. An unknown catalog is a ValueError,
    which the CLI reports as a usage error (exit 2).
    """
    from lukhas_obs.catalog import builtin
    from lukhas_obs.generate.output import write_files

    try:
        catalogs = [builtin(name) for name in catalog_names] if catalog_names else None
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    written = write_files(out, generate(kinds, catalogs))
    for path in written:
        print(f"wrote {path}", file=stream or sys.stderr)
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``lukhas-obs generate {rules,tests,dashboards,docs,all} --out DIR`` to the command line."""
    parser = sub.add_parser(
        "generate",
        help="generate Prometheus rules, promtool tests, Grafana dashboards and docs from the catalogs",
        description="Generate artefacts from the catalogs. The committed copies live under collector/ and docs/; "
        "run `lukhas-obs generate all --out .` from the repository root after changing a catalog.",
    )
    parser.add_argument("kind", nargs="+", choices=[*KINDS, "all"], help="what to generate")
    parser.add_argument("--out", default=".", help="root directory to write into (default: current directory)")
    parser.add_argument(
        "--catalog",
        action="append",
        default=None,
        metavar="NAME",
        help="a built-in catalog to generate from (repeatable; default: every shipped catalog)",
    )
    parser.set_defaults(handler=lambda args: run(args.kind, str(Path(args.out)), args.catalog))
