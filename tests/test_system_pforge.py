"""pForge (seed 002) as a lukhas-obs system: the central registry, ``update_state_gauges``, the FastAPI router behind
the app's auth, the seed's own tests, the side-by-side comparison with the seed's prometheus_client definitions,
promtool, a real Prometheus scraping the example with its token, and ``lukhas-obs demo --system pforge``.

Until pyproject.toml publishes the ``pforge`` entry point, the system is registered in-process here.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import lukhas_obs
from lukhas_obs import systems as systems_registry
from lukhas_obs.catalog import load_catalog
from lukhas_obs.systems import system
from lukhas_obs.systems.pforge import SYSTEM
from lukhas_obs.systems.pforge import metrics_collector as mc  # registers the catalog
from tests.support.hostile import Hostile, RaisingStr
from tests.support.prometheus import (
    PrometheusApi,
    free_port,
    require_binary,
    run_tool,
    start_process,
    stop_process,
    tail,
    wait_for,
)
from tests.support.scrape import scrape
from tests.test_system_luna import cli_argv, compare_expositions, dropped, families_of, migration_section, run_side

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SEED_MODULE = DATA / "promclient" / "pforge_metrics_collector.py"
SIDE_BY_SIDE = DATA / "pforge_sidebyside" / "run.py"
CATALOG = load_catalog(SYSTEM.catalogs[0])
TOKEN = "pforge-scrape-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

#: The registry: (global, Prometheus name, kind, label names). The first four are the seed's code (§2.2), the
#: others its prose (§6 PATCHES_APPLIED, §9 pforge_gaps / pforge_misfits, §2.2 tick duration).
REGISTRY = [
    ("PFORGE_EFFICIENCY", "pforge_efficiency", "gauge", []),
    ("PFORGE_ENTROPY", "pforge_entropy", "gauge", []),
    ("PFORGE_AGENTS_ACTIVE", "pforge_agents_active", "gauge", ["agent_type"]),
    ("PFORGE_TOKENS_USED_TOTAL", "pforge_tokens_used_total", "counter", ["vendor"]),
    ("PFORGE_GAPS", "pforge_gaps", "gauge", []),
    ("PFORGE_MISFITS", "pforge_misfits", "gauge", []),
    ("PATCHES_APPLIED", "pforge_patches_applied_total", "counter", []),
    ("TICK_DURATION", "pforge_tick_duration_seconds", "histogram", []),
]
#: prometheus_client's default buckets (what the seed's style `Histogram("...", "...")` gets).
DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
#: Values the side-by-side does not compare: none (pForge's port is value-identical).
DOCUMENTED_DIFFERENCES: dict[str, str] = {}


def lines(prefix: str = "pforge_") -> list[str]:
    body, _ = lukhas_obs.render_exposition()
    return [line for line in body.decode().splitlines() if line.startswith(prefix)]


@pytest.fixture
def telemetry() -> Iterator[lukhas_obs.Telemetry]:
    configured = lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    yield configured
    lukhas_obs.shutdown()


@pytest.fixture
def client(telemetry) -> Any:
    pytest.importorskip("fastapi", reason="FastAPI is the `pforge` extra")
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
    from fastapi.testclient import TestClient
    from lukhas_obs_examples.pforge.app import create_app

    return TestClient(create_app(TOKEN), follow_redirects=False)


@pytest.fixture(autouse=True, scope="module")
def _system_registered() -> Iterator[None]:
    """``pforge`` known to :mod:`lukhas_obs.systems` while this module runs (until pyproject.toml publishes its entry
    point), and forgotten after it: other modules generating from every known system (the committed files of
    collector/ and docs/) see what they saw before."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(systems_registry._local, SYSTEM.name, SYSTEM)
        assert system(SYSTEM.name) is SYSTEM
        yield


# ==================================================================================== the seed's own tests (§2.2)


def test_every_metric_exists_with_its_kind_and_labels() -> None:
    """test_metrics_collector.py of the seed: import the module, check every object's type and label names."""
    handle_types = {"gauge": lukhas_obs.GaugeHandle, "counter": lukhas_obs.CounterHandle,
                    "histogram": lukhas_obs.HistogramHandle}  # fmt: skip
    assert set(mc.ALL_METRICS) == {name for name, *_ in REGISTRY}
    for global_name, prometheus_name, kind, labels in REGISTRY:
        handle = getattr(mc, global_name)
        assert isinstance(handle, handle_types[kind]), global_name
        assert handle.spec.name == prometheus_name and handle.spec.kind == kind, global_name
        assert [a.key for a in handle.spec.attributes] == labels, global_name
    assert list(mc.TICK_DURATION.spec.buckets) == DEFAULT_BUCKETS
    assert sorted(m.name for m in CATALOG.metrics) == sorted(n for _, n, *_ in REGISTRY)
    assert CATALOG.common_attributes == ()


def test_the_seeds_four_coded_metrics_are_exactly_its_definitions() -> None:
    kinds = {"Gauge": "gauge", "Counter": "counter"}
    seen = {}
    for node in ast.walk(ast.parse(SEED_MODULE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
            call = node.value
            name, doc = (ast.literal_eval(a) for a in call.args[:2])
            labels = ast.literal_eval(call.args[2]) if len(call.args) > 2 else []
            seen[node.targets[0].id] = (kinds[call.func.id], name, doc, labels)  # type: ignore[attr-defined]
    assert len(seen) == 4
    for global_name, (kind, name, doc, labels) in seen.items():
        spec = getattr(mc, global_name).spec
        assert (spec.kind, spec.name.removesuffix("_total"), spec.description, [a.key for a in spec.attributes]) == (
            kind, name.removesuffix("_total"), doc, labels
        ), global_name  # fmt: skip


def test_the_catalog_agrees_with_what_catalog_import_writes(tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "lukhas_obs.cli", "catalog", "import", str(SEED_MODULE), "--catalog-name", "pforge",
         "--out", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = yaml.safe_load(out.read_text(encoding="utf-8"))
    shipped = yaml.safe_load(SYSTEM.catalogs[0].read_text(encoding="utf-8"))
    by_name = {m["name"]: m for m in shipped["metrics"]}
    for theirs in imported["metrics"]:
        mine = by_name[theirs["name"]]
        for key, value in theirs.items():
            assert mine.get(key, mine["name"] if key == "otel_name" else None) == value, (mine["name"], key)
    for key in ("catalog", "common_attributes", "start_at_zero"):
        assert shipped[key] == imported[key], key


def test_the_system_is_registered_and_points_at_the_example() -> None:
    found = system("pforge")
    assert found.workload == "lukhas_obs_examples.pforge.workload:PForgeWorkload"
    assert "pforge" in {c.name for c in lukhas_obs.catalogs()}


def test_metrics_endpoint_without_credentials_is_401(client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):  # fmt: skip
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert "pforge_" not in response.text
    assert client.get("/state").status_code == 401
    assert client.get("/health").status_code == 200


def test_after_set_the_body_contains_the_line_pforge_efficiency_1_23(client) -> None:
    """test_prometheus_exporter.py of the seed: set, GET /metrics through the TestClient, 200 and the line."""
    mc.PFORGE_EFFICIENCY.set(1.23)
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "pforge_efficiency 1.23" in response.text.splitlines()
    # text 0.0.4 whatever the scraper asks (the seed's generate_latest()); no redirect (a route, not a mount)
    openmetrics = client.get("/metrics", headers={**AUTH, "Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert client.get("/metrics/", headers=AUTH).status_code in (307, 404)  # only /metrics itself is the endpoint


def test_the_router_is_included_not_mounted(client) -> None:
    """A mount would answer 307 and escape the dependency (docs/SERVING.md): the app has none, and /metrics answers
    200 itself (the client follows no redirect)."""
    from starlette.routing import Mount

    assert not any(isinstance(r, Mount) for r in client.app.routes)
    assert client.get("/metrics", headers=AUTH).status_code == 200


# ============================================================================================= update_state_gauges


@dataclass
class _State:
    efficiency: float = 0.5
    entropy: float = 1.2
    gaps: Any = 3
    misfits: Any = 1
    agents_active: dict[str, int] = field(default_factory=lambda: {"FixerAgent": 2})


def test_update_state_gauges_from_an_object_or_a_mapping(telemetry) -> None:
    mc.update_state_gauges(_State())
    assert {"pforge_efficiency 0.5", "pforge_entropy 1.2", "pforge_gaps 3.0", "pforge_misfits 1.0",
            'pforge_agents_active{agent_type="FixerAgent"} 2.0'} <= set(lines())  # fmt: skip
    mc.update_state_gauges({"efficiency": 0.75, "gaps": [(0, 1), (2, 3)], "misfits": set()})
    got = set(lines())
    assert {"pforge_efficiency 0.75", "pforge_gaps 2.0", "pforge_misfits 0.0", "pforge_entropy 1.2"} <= got


class _Pairs:
    """A mapping-like whose items() yields pairs a dict could not hold (unhashable keys)."""

    def __init__(self, *pairs: tuple[Any, Any]) -> None:
        self.pairs = pairs

    def items(self) -> tuple[tuple[Any, Any], ...]:
        return self.pairs


class _RaisingGet(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        raise RuntimeError("get")


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(Hostile(), id="hostile-object"),
        pytest.param(_RaisingGet(), id="raising-get"),
        pytest.param(_State(efficiency=RaisingStr("x"), gaps=Hostile(), misfits=float("nan"),  # type: ignore[arg-type]
                            agents_active=Hostile()), id="hostile-fields"),  # type: ignore[arg-type]
        pytest.param({"efficiency": 10**400, "agents_active": _Pairs(("\ud800", 2**80), (RaisingStr("p"), 1))},
                     id="huge-and-surrogates"),
    ],
)
def test_update_state_gauges_never_raises_and_counts_what_it_drops(telemetry, state: Any) -> None:
    mc.update_state_gauges(_State(efficiency=0.25))
    mc.update_state_gauges(state)  # never raises
    body, _ = lukhas_obs.render_exposition()
    assert body.startswith(b"# HELP")
    assert dropped("pforge.update_state_gauges") + dropped("pforge_efficiency") + dropped("pforge_agents_active") > 0


def test_the_seeds_plain_update_would_raise_on_those_states() -> None:
    """The attack inputs above break the seed's style of update (attribute reads, then ``.set``)."""

    def seed_style(state: Any) -> None:
        float(state.efficiency)
        for _k, _v in state.agents_active.items():
            pass

    for state in (Hostile(), _State(efficiency=RaisingStr("x")), _State(agents_active=Hostile())):  # type: ignore[arg-type]
        with pytest.raises(Exception):  # noqa: B017 - any exception: the port must raise none
            seed_style(state)


# ===================================================================================================== the example


def test_the_orchestrator_solves_puzzles_and_fills_every_metric(telemetry) -> None:
    from lukhas_obs_examples.pforge import PForgeWorkload, entropy_bits

    workload = PForgeWorkload(seed=3)
    efficiencies = []
    for iteration in range(200):
        workload.step(iteration)
        efficiencies.append(workload.orchestrator.state.efficiency)
    assert workload.solved >= 1  # a puzzle solved, a new one started: E climbs, drops, climbs
    assert max(efficiencies) == 1.0 or workload.solved
    assert entropy_bits((1, 1)) == 1.0 and entropy_bits((4, 0, 0)) == 0.0
    fams = families_of("\n".join(lines("")) + "\n")
    for spec in CATALOG.metrics:
        assert fams[spec.name.removesuffix("_total")]["samples"], spec.name
    assert fams["pforge_patches_applied"]["samples"][("pforge_patches_applied_total", ())] > 0


def test_the_app_refuses_an_empty_token() -> None:
    pytest.importorskip("fastapi")
    from lukhas_obs_examples.pforge.app import create_app

    with pytest.raises(ValueError, match="PFORGE_SCRAPE_TOKEN"):
        create_app("")


# ============================================================================================= side by side


def test_side_by_side_with_the_seeds_own_prometheus_client_definitions() -> None:
    seed = run_side(SIDE_BY_SIDE, "seed", 40, 10)
    port = run_side(SIDE_BY_SIDE, "port", 40, 10)
    families = families_of(seed)
    assert set(families) == {name.removesuffix("_total") for _, name, *_ in REGISTRY}
    assert compare_expositions(seed, port, DOCUMENTED_DIFFERENCES) == []
    assert families["pforge_tick_duration_seconds"]["samples"][("pforge_tick_duration_seconds_count", ())] == 40
    les = [dict(k[1])["le"] for k in families["pforge_tick_duration_seconds"]["samples"] if k[0].endswith("_bucket")]
    assert les == [*(str(b) for b in DEFAULT_BUCKETS), "+Inf"]  # prometheus_client's spelling, on both sides
    assert compare_expositions(seed, port.replace("pforge_efficiency ", "pforge_efficiency 1", 1), {})


def test_the_migration_guide_has_the_pforge_part() -> None:
    section = migration_section()
    for name in ("pforge_patches_applied_total", "pforge_tick_duration_seconds", "update_state_gauges", "APIRouter"):
        assert name in section, name


# ================================================================================================ rules and promtool


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lukhas_obs.generate import run

    out = tmp_path_factory.mktemp("pforge-generated")
    assert run(["all"], str(out), systems=["pforge"], stream=open(os.devnull, "w")) == 0  # noqa: SIM115
    return out


def test_generate_all_for_the_system(generated: Path) -> None:
    files = sorted(p.relative_to(generated).as_posix() for p in generated.rglob("*") if p.is_file())
    assert files == [
        "collector/grafana/dashboards/pforge-scoreboard.json",
        "collector/prometheus/rules/pforge_alerts.yml",
        "collector/prometheus/tests/pforge_alerts_rules_test.yml",
        "docs/metrics.md",
    ]


@pytest.mark.e2e
def test_promtool_checks_and_tests_the_generated_rules(generated: Path) -> None:
    promtool = require_binary("promtool")
    rules = generated / "collector" / "prometheus" / "rules" / "pforge_alerts.yml"
    checked = run_tool([promtool, "check", "rules", str(rules)])
    assert checked.returncode == 0 and "SUCCESS: 2 rules found" in checked.stdout, checked.stdout + checked.stderr
    tests = generated / "collector" / "prometheus" / "tests"
    tested = run_tool([promtool, "test", "rules", "pforge_alerts_rules_test.yml"], cwd=tests)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # not vacuous: a shifted threshold fails the generated cases
    rules.write_text(rules.read_text(encoding="utf-8").replace("[30m]) < 0", "[30m]) < -0.5"), encoding="utf-8")
    assert run_tool([promtool, "test", "rules", "pforge_alerts_rules_test.yml"], cwd=tests).returncode != 0


# ============================================================================================== a real Prometheus


@pytest.mark.e2e
def test_a_real_prometheus_scrapes_the_example_with_its_token_and_evaluates_every_rule(
    telemetry, generated: Path, tmp_path: Path
) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    from lukhas_obs_examples.pforge import PForgeWorkload
    from lukhas_obs_examples.pforge.app import create_app

    binary = require_binary("prometheus")
    workload = PForgeWorkload(seed=4)
    app_port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(TOKEN, workload.orchestrator), host="127.0.0.1",
                                           port=app_port, log_level="warning", lifespan="off"))  # fmt: skip
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop = threading.Event()

    def drive() -> None:
        iteration = 0
        while not stop.wait(0.1):
            workload.step(iteration)
            iteration += 1

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    rules = generated / "collector" / "prometheus" / "rules" / "pforge_alerts.yml"
    target = {"static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "pforge", "authorization": {"credentials_file": str(token_file)}, **target},
                {"job_name": "pforge-no-token", **target},
            ],
        }),
        encoding="utf-8",
    )  # fmt: skip
    port = free_port()
    log = tmp_path / "prometheus.log"
    proc = start_process(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        log,
    )  # fmt: skip
    try:
        api = PrometheusApi(f"http://127.0.0.1:{port}")
        wait_for(f"prometheus ready ({tail(log, 500)})", api.ready, timeout=30)

        def scraped() -> dict[str, dict[str, Any]] | None:
            by_job = {t["labels"]["job"]: t for t in api.targets()}
            done = len(by_job) == 2 and all(t["health"] != "unknown" for t in by_job.values())
            return by_job if done and by_job["pforge"]["health"] == "up" else None

        targets = wait_for("both targets scraped", scraped, timeout=20)
        assert targets["pforge-no-token"]["health"] == "down" and "401" in targets["pforge-no-token"]["lastError"]

        def all_evaluated() -> list[dict[str, Any]] | None:
            groups = api.rule_groups()
            evaluated = [r for g in groups for r in g["rules"] if r.get("lastEvaluation", "").startswith("20")]
            return groups if len(evaluated) == 2 and api.query("pforge_efficiency") else None

        (group,) = wait_for("every rule evaluated", all_evaluated, timeout=20)
        assert group["name"] == "pforge_alerts"
        assert [(r["name"], r["health"], r.get("lastError", "")) for r in group["rules"] if r["health"] != "ok"] == []
        tokens = api.query('sum(pforge_tokens_used_total{job="pforge"})')
        assert tokens and float(tokens[0]["value"][1]) > 0
    finally:
        stop_process(proc)
        stop.set()
        driver.join(5)
        server.should_exit = True
        serving.join(10)


# ============================================================================================ lukhas-obs demo


def _demo(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    argv = cli_argv("pforge", "lukhas_obs.systems.pforge", "demo", "--system", "pforge", *args)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.e2e
def test_demo_runs_n_iterations_and_exits_zero(tmp_path: Path) -> None:
    proc = _demo("--iterations", "25", "--port", "0", "--traces-file", str(tmp_path / "t.jsonl"))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "system=pforge" in out and "done: 25 iterations" in out and "ticks=25" in out


@pytest.mark.e2e
def test_demo_serves_every_seed_name_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = _demo("--iterations", "3000", "--port", "0", "--traces-file", str(tmp_path / "t.jsonl"))
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if "metrics: http" in line:
                url = line.split("metrics:", 1)[1].strip()
        assert url, "the demo never printed its /metrics URL"
        wanted = {name.removesuffix("_total") for _, name, *_ in REGISTRY}

        def every_name() -> str | None:
            body = scrape(url).body
            fams = families_of(body)
            return body if all(fams.get(n, {}).get("samples") for n in wanted) else None

        body = wait_for("every pForge name on the demo's /metrics", every_name, timeout=30)
        assert not any("lane=" in line for line in body.splitlines() if line.startswith("pforge_"))
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
