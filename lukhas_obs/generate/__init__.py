"""``lukhas-obs generate``: Prometheus rules, promtool tests, Grafana dashboards and the metrics reference.

Everything is derived from the catalogs — those of every registered system (:mod:`lukhas_obs.systems`), the SDK's
self-telemetry, or any catalog file given with ``--catalog-file``: a metric, SLO or panel is declared
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
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from lukhas_obs.catalog.spec import Catalog

if TYPE_CHECKING:  # imported when generation runs (see above)
    from lukhas_obs.generate.output import GeneratedFile

__all__ = ["KINDS", "generate", "register_cli", "select_catalogs", "shipped_catalogs"]

#: Output kinds in the order ``all`` produces them.
KINDS: tuple[str, ...] = ("rules", "tests", "dashboards", "docs")


def shipped_catalogs() -> tuple[Catalog, ...]:
    """Every known system's catalogs plus the SDK's self-telemetry, sorted by name (the default for generation)."""
    from lukhas_obs.catalog import builtin, register_yaml
    from lukhas_obs.systems import catalog_paths

    found = [register_yaml(path) for path in catalog_paths()] + [builtin("lukhas_obs_self")]
    return tuple(sorted({c.name: c for c in found}.values(), key=lambda c: c.name))


def select_catalogs(
    names: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    files: Sequence[str | Path] | None = None,
) -> tuple[Catalog, ...] | None:
    """The catalogs ``--catalog``/``--system``/``--catalog-file`` name (None: the default, every known one).

    Unknown names are a ValueError listing what is known; a catalog file is loaded and validated (a
    :class:`~lukhas_obs.errors.CatalogError` names the file and the problem) without registering it.
    """
    from lukhas_obs.catalog import load_catalog
    from lukhas_obs.systems import catalog_paths

    if not (names or systems or files):
        return None
    chosen: list[Catalog] = []
    if names:
        known = {c.name: c for c in shipped_catalogs()}
        missing = [n for n in names if n not in known]
        if missing:
            shown = ", ".join(repr(n) for n in missing)
            raise ValueError(f"no built-in catalog {shown}; known catalogs (shipped and installed): {', '.join(known)}")
        chosen += [known[n] for n in names]
    if systems:
        from lukhas_obs.catalog import register_yaml

        try:
            chosen += [register_yaml(path) for path in catalog_paths(systems)]
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    for path in files or ():
        if not Path(path).is_file():
            raise ValueError(f"--catalog-file {str(path)!r}: no such file")
        chosen.append(load_catalog(path))
    return tuple({c.name: c for c in chosen}.values())


def _producers() -> dict[str, Callable[[Sequence[Catalog]], list[GeneratedFile]]]:
    from lukhas_obs.generate import dashboards, docs, promtool_tests, rules

    return {
        "rules": lambda cats: [f for c in cats for f in rules.rule_files(c)],
        "tests": lambda cats: [f for c in cats for f in promtool_tests.promtool_files(c)],
        "dashboards": lambda cats: [f for c in cats for f in dashboards.dashboard_files(c)],
        "docs": lambda cats: [docs.metrics_reference(cats)],
    }


def generate(kinds: Sequence[str], catalogs: Sequence[Catalog] | None = None) -> list[GeneratedFile]:
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


def run(
    kinds: Sequence[str],
    out: str,
    catalog_names: Sequence[str] | None = None,
    stream: TextIO | None = None,
    *,
    systems: Sequence[str] | None = None,
    catalog_files: Sequence[str] | None = None,
) -> int:
    """CLI body: generate ``kinds`` for the chosen catalogs (default: every known one) into ``out``; exit code 0.

    Everything is generated (and validated) before the first file is written. An unknown catalog or system is a
    ValueError, which the CLI reports as a usage error (exit 2).
    """
    from lukhas_obs.generate.output import write_files

    catalogs = select_catalogs(catalog_names, systems, catalog_files)
    written = write_files(out, generate(kinds, catalogs))
    for path in written:
        print(f"wrote {path}", file=stream or sys.stderr)
    return 0


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        help="a known catalog to generate from, by name (repeatable; default: every known catalog)",
    )
    parser.add_argument(
        "--system",
        action="append",
        default=None,
        metavar="NAME",
        help="generate from this system's catalogs (repeatable; systems come from the lukhas_obs.systems entry points)",
    )
    parser.add_argument(
        "--catalog-file",
        action="append",
        default=None,
        metavar="PATH",
        help="generate from this catalog YAML file (repeatable; validated, not registered)",
    )
    parser.set_defaults(
        handler=lambda args: run(
            args.kind, str(Path(args.out)), args.catalog, systems=args.system, catalog_files=args.catalog_file
        )
    )
