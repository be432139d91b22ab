"""``lukhas-obs generate``: the subcommand, its output layout, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lukhas_obs.cli import main
from lukhas_obs.generate import KINDS, generate


def test_generate_all_writes_the_documented_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "all", "--system", "lukhas_core", "--out", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "collector/grafana/dashboards/lukhas-t4-core.json",
        "collector/prometheus/rules/identity.yml",
        "collector/prometheus/rules/memory.yml",
        "collector/prometheus/rules/reflection.yml",
        "collector/prometheus/rules/target.yml",
        "collector/prometheus/tests/identity_rules_test.yml",
        "collector/prometheus/tests/memory_rules_test.yml",
        "collector/prometheus/tests/reflection_rules_test.yml",
        "collector/prometheus/tests/target_rules_test.yml",
        "docs/metrics.md",
    ]
    assert capsys.readouterr().err.count("wrote ") == len(written)
    json.loads((tmp_path / "collector/grafana/dashboards/lukhas-t4-core.json").read_text())
    for path in tmp_path.rglob("*.yml"):
        assert yaml.safe_load(path.read_text()), path


def test_generate_all_covers_every_shipped_system(tmp_path: Path) -> None:
    assert main(["generate", "all", "--out", str(tmp_path)]) == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    for expected in (
        "collector/grafana/dashboards/lukhas-t4-core.json",
        "collector/prometheus/rules/luna_alerts.yml",
        "collector/prometheus/rules/pforge_alerts.yml",
        "collector/prometheus/rules/wiltonos_soft_steer.yml",
        "collector/prometheus/rules/phase_c_rules.yml",
        "docs/metrics.md",
    ):
        assert expected in written, expected


@pytest.mark.parametrize("kind", KINDS)
def test_generate_one_kind_writes_only_that_kind(kind: str, tmp_path: Path) -> None:
    assert main(["generate", kind, "--out", str(tmp_path)]) == 0
    expected = {f.path for f in generate([kind])}
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == expected and written


def test_generate_for_a_catalog_without_slos_writes_no_rules(tmp_path: Path) -> None:
    assert main(["generate", "rules", "dashboards", "--catalog", "lukhas_obs_self", "--out", str(tmp_path)]) == 0
    assert not any(tmp_path.rglob("*"))


def test_generate_is_deterministic_on_disk(tmp_path: Path) -> None:
    assert main(["generate", "all", "--out", str(tmp_path / "a")]) == 0
    assert main(["generate", "all", "--out", str(tmp_path / "b")]) == 0
    for path in (tmp_path / "a").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes(), path


def test_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["generate", "grafana"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_generate_api_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown output kind nope"):
        generate(["nope"])


def test_unknown_catalog_is_an_error_naming_the_shipped_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "rules", "--catalog", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no built-in catalog 'nope'" in err and "lukhas_core" in err
    assert not any(tmp_path.rglob("*"))
