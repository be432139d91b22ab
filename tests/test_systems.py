"""Systems plug in from outside the repository: one folder, one entry point, no edit to lukhas_obs/.

The pack is written into a temporary directory with its own ``*.dist-info`` (what ``pip install`` leaves behind), so
``importlib.metadata`` discovers its ``lukhas_obs.systems`` entry point exactly as for an installed package; the
commands run in a subprocess with that directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lukhas_obs.systems import ENTRY_POINT_GROUP, System, register_system, system, systems

CATALOG = """\
catalog: billing
title: Billing
description: Invoices of a user's own billing service.
common_attributes: [lane, service]
metrics:
  - name: billing_invoices_total
    otel_name: billing.invoices
    kind: counter
    unit: "{invoice}"
    component: billing
    description: Invoices issued
  - name: billing_render_seconds
    otel_name: billing.render
    kind: histogram
    unit: s
    buckets: [0.01, 0.1, 1.0]
    component: billing
    description: Time to render an invoice
"""

PACK = '''\
from pathlib import Path

from lukhas_obs.systems import System

SYSTEM = System(
    name="billing",
    title="Billing",
    catalogs=(Path(__file__).with_name("catalog.yaml"),),
    workload="billing_obs.workload:BillingWorkload",
)
'''

WORKLOAD = '''\
import lukhas_obs


class BillingWorkload:
    def __init__(self):
        self.invoices = lukhas_obs.counter("billing_invoices_total")
        self.render = lukhas_obs.histogram("billing_render_seconds")
        self.steps = 0

    def step(self, iteration):
        self.invoices.add(1)
        self.render.record(0.05)
        self.steps += 1

    def summary(self):
        return {"invoices": self.steps}
'''


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A system package outside the repository, 'installed' by its dist-info on PYTHONPATH."""
    root = tmp_path / "site"
    package = root / "billing_obs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PACK)
    (package / "catalog.yaml").write_text(CATALOG)
    (package / "workload.py").write_text(WORKLOAD)
    info = root / "billing_obs-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: billing-obs\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbilling = billing_obs:SYSTEM\n")
    return root


def _run(pack: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(pack), env.get("PYTHONPATH", "")])
    code = "import sys; from lukhas_obs.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_the_core_is_a_system_like_any_other() -> None:
    core = system("lukhas_core")
    assert core.catalogs and all(path.is_file() for path in core.catalogs)
    assert core.workload and core.load_workload() is not None
    assert "lukhas_core" in systems()


def test_an_unknown_system_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="lukhas_core"):
        system("nope")


def test_generate_finds_an_installed_pack(pack: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(pack, "generate", "docs", "--system", "billing", "--out", str(out))
    assert result.returncode == 0, result.stderr
    reference = (out / "docs" / "metrics.md").read_text()
    assert "billing_invoices_total" in reference and "billing_render_seconds" in reference
    assert "lukhas_memory_search_seconds" not in reference  # only the chosen system


def test_generate_from_a_users_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(CATALOG.replace("billing", "mine"))
    out = tmp_path / "out"
    result = _run(tmp_path, "generate", "docs", "--catalog-file", str(path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "mine_invoices_total" in (out / "docs" / "metrics.md").read_text()


def test_a_broken_catalog_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(CATALOG.replace("kind: counter", "kind: countr"))
    result = _run(tmp_path, "generate", "docs", "--catalog-file", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "countr" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs_an_installed_pack(pack: Path, tmp_path: Path) -> None:
    result = _run(
        pack,
        "demo",
        "--system",
        "billing",
        "--iterations",
        "5",
        "--port",
        "0",
        "--traces-file",
        str(tmp_path / "t.jsonl"),
    )
    assert result.returncode == 0, result.stderr
    assert "invoices" in result.stderr + result.stdout


def test_register_system_in_process(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.replace("billing", "inproc"))
    register_system(System(name="inproc", title="In-process", catalogs=(path,)))
    assert "inproc" in systems()
    (catalog,) = system("inproc").register()
    assert [m.name for m in catalog.metrics] == ["inproc_invoices_total", "inproc_render_seconds"]


def test_entry_point_is_declared_in_pyproject() -> None:
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert textwrap.dedent(f'[project.entry-points."{ENTRY_POINT_GROUP}"]') in text
    assert 'lukhas_core = "lukhas_obs.systems.lukhas_core:SYSTEM"' in text


def test_looking_up_one_systems_metric_registers_only_that_system():
    """A process using one system's metrics must not expose another's (Luna's start_at_zero series on pForge's
    /metrics): a name not registered yet registers the one system that declares it."""
    code = (
        "import lukhas_obs\n"
        "from lukhas_obs.catalog import catalogs\n"
        "lukhas_obs.gauge('pforge_efficiency')\n"
        "print(sorted(c.name for c in catalogs()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    names = ast.literal_eval(out.stdout.strip().splitlines()[-1])  # the printed list of catalog names
    assert "pforge" in names and "luna" not in names, names
