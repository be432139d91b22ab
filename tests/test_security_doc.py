"""SECURITY.md maps each promise to its test: every test it names must exist, so the map cannot go stale."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _named_tests() -> list[tuple[str, str]]:
    """``(file, test)`` pairs named in SECURITY.md; ``::name`` after a file continues that file."""
    text = (ROOT / "SECURITY.md").read_text()
    pairs: list[tuple[str, str]] = []
    current = None
    for match in re.finditer(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`", text):
        path, name, continued = match.groups()
        if path:
            current = path
            if name:
                pairs.append((path, name))
        elif continued and current:
            pairs.append((current, continued))
    return pairs


def test_every_test_security_md_names_exists() -> None:
    pairs = _named_tests()
    assert len(pairs) > 40
    missing = []
    for path, name in pairs:
        file = ROOT / path
        if not file.is_file():
            missing.append(f"{path} (no such file)")
            continue
        defined = {n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}
        prefix = name.rstrip("_")
        if name not in defined and not any(d.startswith(prefix) for d in defined if name.endswith("_")):
            missing.append(f"{path}::{name}")
    assert not missing, "SECURITY.md names tests that do not exist: " + ", ".join(missing)
