"""promtool on the generated artefacts: rules check, rule unit tests, and the collector's prometheus.yml.

The rule files and tests are generated fresh into a temporary directory (the generator is what is under test; the
drift test separately keeps the committed copies equal). ``promtool check config`` runs on the committed
``collector/prometheus.yml``, which resolves ``rule_files`` against the committed rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lukhas_obs.generate import generate
from lukhas_obs.generate.output import RULES_DIR, TESTS_DIR, write_files
from tests.support.prometheus import require_binary, run_tool

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    write_files(out, generate(["rules", "tests"]))
    return out


def _files(root: Path, sub: str) -> list[Path]:
    files = sorted((root / sub).glob("*.yml"))
    assert files, f"nothing generated under {sub}"
    return files


def test_promtool_check_rules_accepts_every_generated_rule_file(generated: Path) -> None:
    promtool = require_binary("promtool")
    for path in _files(generated, RULES_DIR):
        result = run_tool([promtool, "check", "rules", str(path)])
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}\n{result.stderr}"
        assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass_for_every_generated_test_file(generated: Path) -> None:
    promtool = require_binary("promtool")
    for path in _files(generated, TESTS_DIR):
        result = run_tool([promtool, "test", "rules", path.name], cwd=path.parent)
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}\n{result.stderr}"


def test_every_generated_alert_has_a_firing_and_a_silent_case(generated: Path) -> None:
    alerts = {
        rule["alert"]
        for path in _files(generated, RULES_DIR)
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    fires: set[str] = set()
    silent: set[str] = set()
    for path in _files(generated, TESTS_DIR):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check["exp_alerts"] else silent).add(check["alertname"])
    assert alerts, "no alerts generated"
    assert alerts - fires == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested silent"


def test_promtool_unit_tests_catch_a_wrong_threshold(generated: Path, tmp_path: Path) -> None:
    """The generated tests are not vacuous: a rule file with a changed threshold fails them."""
    promtool = require_binary("promtool")
    rules_dir = tmp_path / RULES_DIR
    tests_dir = tmp_path / TESTS_DIR
    rules_dir.mkdir(parents=True)
    tests_dir.mkdir(parents=True)
    memory = (generated / RULES_DIR / "memory.yml").read_text()
    assert "job:lukhas_memory_search_p95:rate5m > 0.1\n" in memory
    (rules_dir / "memory.yml").write_text(memory.replace("rate5m > 0.1\n", "rate5m > 0.3\n"))
    test_file = tests_dir / "memory_rules_test.yml"
    test_file.write_text((generated / TESTS_DIR / "memory_rules_test.yml").read_text())
    result = run_tool([promtool, "test", "rules", test_file.name], cwd=tests_dir)
    assert result.returncode != 0
    assert "MemorySearchLatencyHigh" in result.stdout + result.stderr


def test_promtool_check_config_accepts_the_collector_prometheus_yml() -> None:
    promtool = require_binary("promtool")
    config = REPO / "collector" / "prometheus.yml"
    result = run_tool([promtool, "check", "config", config.name], cwd=config.parent)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    rule_files = sorted((REPO / RULES_DIR).glob("*.yml"))
    assert f"SUCCESS: {len(rule_files)} rule files found" in result.stdout, result.stdout
