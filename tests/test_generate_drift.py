"""The committed generated files (collector/, docs/metrics.md) must equal what the catalogs generate now.

After changing a catalog run ``lukhas-obs generate all --out .`` from the repository root and commit the result.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from lukhas_obs.generate import generate
from lukhas_obs.generate.output import DASHBOARDS_DIR, RULES_DIR, TESTS_DIR, GeneratedFile

REPO = Path(__file__).resolve().parent.parent
#: Directories that hold only generated files (a file there that the catalogs no longer produce is stale).
GENERATED_DIRS = {RULES_DIR: "*.yml", TESTS_DIR: "*.yml", DASHBOARDS_DIR: "*.json"}
HINT = "run `lukhas-obs generate all --out .` from the repository root and commit the result"


def _diff(item: GeneratedFile) -> str | None:
    committed = REPO / item.path
    if not committed.is_file():
        return f"{item.path}: missing from the repository"
    current = committed.read_text(encoding="utf-8")
    if current == item.content:
        return None
    lines = difflib.unified_diff(
        current.splitlines(keepends=True),
        item.content.splitlines(keepends=True),
        fromfile=f"committed/{item.path}",
        tofile=f"generated/{item.path}",
        n=2,
    )
    return "".join(list(lines)[:80])


def test_committed_generated_files_match_the_catalogs() -> None:
    files = generate(["all"])
    assert files, "nothing generated"
    problems = [d for d in map(_diff, files) if d]
    assert not problems, f"generated files drifted from the catalogs ({HINT}):\n\n" + "\n".join(problems)


def test_no_stale_generated_files_are_committed() -> None:
    produced = {f.path for f in generate(["all"])}
    stale = sorted(
        p.relative_to(REPO).as_posix()
        for sub, pattern in GENERATED_DIRS.items()
        for p in (REPO / sub).glob(pattern)
        if p.relative_to(REPO).as_posix() not in produced
    )
    assert not stale, f"files no catalog generates any more (delete them, then {HINT}): {stale}"


def test_generation_is_deterministic() -> None:
    first = generate(["all"])
    second = generate(["all"])
    assert [(f.path, f.content) for f in first] == [(f.path, f.content) for f in second]
