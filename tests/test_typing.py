"""The type checker, in the test command: mypy on the package (strict on the public surface, see mypy.ini) and
``mypy --strict`` on a typed user's snippet, so ``lukhas_obs.histogram(...).record(...)`` keeps type-checking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytest.importorskip("mypy")


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.timeout(600)
def test_the_package_type_checks() -> None:
    result = _mypy()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.timeout(600)
def test_a_typed_users_code_type_checks_strictly() -> None:
    # Errors inside lukhas_obs itself are the package test's business: a user's mypy does not report them for an
    # installed typed package, and --follow-imports=silent reproduces that view while still using its types.
    result = _mypy("--strict", "--follow-imports", "silent", "tests/typing/user_snippet.py")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.timeout(600)
def test_a_wrong_call_is_caught(tmp_path: Path) -> None:
    """The check can fail: recording on a counter with ``.record`` is a type error."""
    snippet = tmp_path / "wrong.py"
    snippet.write_text('import lukhas_obs\nlukhas_obs.counter("lukhas_memory_docs_total").record(1.0)\n')
    result = _mypy("--strict", "--follow-imports", "silent", str(snippet))
    assert result.returncode != 0 and '"CounterHandle" has no attribute "record"' in result.stdout
