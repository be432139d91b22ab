"""collector/: the otelcol-contrib config, prometheus.yml, Grafana provisioning and docker-compose.yml.

None of these services runs on our machines (no Docker), so the checks here are structural: every component a
pipeline names is defined, ports and processor order are right, every path compose mounts exists, and prometheus.yml
scrapes the job the generated rules name and loads exactly the generated rule files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lukhas_obs.catalog import builtin
from lukhas_obs.generate import generate
from lukhas_obs.generate.output import DASHBOARDS_DIR, RULES_DIR

REPO = Path(__file__).resolve().parent.parent
COLLECTOR = REPO / "collector"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((COLLECTOR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


@pytest.fixture(scope="module")
def otelcol() -> dict[str, Any]:
    return _load("otelcol-config.yaml")


def test_otlp_receiver_listens_on_grpc_4317_and_http_4318(otelcol: dict[str, Any]) -> None:
    protocols = otelcol["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")


def test_every_pipeline_component_is_defined(otelcol: dict[str, Any]) -> None:
    service = otelcol["service"]
    assert set(service["pipelines"]) == {"traces", "metrics"}
    for name, pipeline in service["pipelines"].items():
        assert set(pipeline) == {"receivers", "processors", "exporters"}, name
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline[section]:
                assert component in otelcol[section], f"{name}: {section} {component!r} is not defined"
    for ext in service.get("extensions", []):
        assert ext in otelcol["extensions"]
    used = {c for p in service["pipelines"].values() for s in ("receivers", "processors", "exporters") for c in p[s]}
    defined = {c for s in ("receivers", "processors", "exporters") for c in otelcol[s]}
    assert defined == used, "components defined but never used"


def test_processors_are_ordered_memory_limiter_first_batch_last(otelcol: dict[str, Any]) -> None:
    for name, pipeline in otelcol["service"]["pipelines"].items():
        assert pipeline["processors"] == ["memory_limiter", "resource", "batch"], name
    limiter = otelcol["processors"]["memory_limiter"]
    assert {"check_interval", "limit_percentage", "spike_limit_percentage"} <= set(limiter)
    assert all(
        a["action"] in {"insert", "upsert", "update", "delete"} for a in otelcol["processors"]["resource"]["attributes"]
    )


def test_exporters(otelcol: dict[str, Any]) -> None:
    exporters = otelcol["exporters"]
    assert exporters["prometheus"]["resource_to_telemetry_conversion"] == {"enabled": True}
    assert exporters["prometheus"]["endpoint"].endswith(":8889")
    assert exporters["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert exporters["otlp/jaeger"]["tls"] == {"insecure": True}
    assert exporters["debug"]["verbosity"] in {"basic", "normal", "detailed"}
    pipelines = otelcol["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger", "debug"]
    assert pipelines["metrics"]["exporters"] == ["prometheus", "debug"]


def test_prometheus_scrapes_the_rules_job_and_the_collector() -> None:
    config = _load("prometheus.yml")
    slos = builtin("lukhas_core").slos
    assert slos is not None
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs[slos.job]["static_configs"][0]["targets"] == ["host.docker.internal:9109"]
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == ["otel-collector:8889"]


def test_prometheus_rule_files_glob_matches_exactly_the_generated_rules() -> None:
    config = _load("prometheus.yml")
    matched = {p.resolve() for pattern in config["rule_files"] for p in COLLECTOR.glob(pattern)}
    generated = {(REPO / f.path).resolve() for f in generate(["rules"])}
    assert generated and matched == generated
    assert all(p.parent == (REPO / RULES_DIR).resolve() for p in matched)


def test_grafana_provisioning() -> None:
    datasources = _load("grafana/provisioning/datasources/datasources.yml")
    by_type = {d["type"]: d for d in datasources["datasources"]}
    assert by_type["prometheus"]["url"] == "http://prometheus:9090" and by_type["prometheus"]["isDefault"] is True
    assert by_type["jaeger"]["url"] == "http://jaeger:16686"
    providers = _load("grafana/provisioning/dashboards/lukhas.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    compose = _load("docker-compose.yml")
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]


def test_compose_brings_up_the_four_services_with_existing_mounts() -> None:
    compose = _load("docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"otel-collector", "jaeger", "prometheus", "grafana"}
    for name, service in services.items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), f"{name}: pin the image"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (COLLECTOR / source).exists(), f"{name} mounts {source}, which does not exist"
    ports = {p.split(":")[0] for p in services["otel-collector"]["ports"]}
    assert {"4317", "4318", "8889"} <= ports
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    # prometheus.yml resolves rule_files relative to itself: the rules directory must be mounted beside it.
    prom_mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert prom_mounts["./prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert prom_mounts["./prometheus"] == "/etc/prometheus/prometheus"
    config_cmd = [c for c in services["otel-collector"]["command"] if c.startswith("--config=")]
    collector_mounts = dict(v.split(":")[:2] for v in services["otel-collector"]["volumes"])
    assert config_cmd == [f"--config={collector_mounts['./otelcol-config.yaml']}"]


def test_generated_dashboards_live_where_grafana_loads_them() -> None:
    files = [f.path for f in generate(["dashboards"])]
    assert files and all(p.startswith(f"{DASHBOARDS_DIR}/") for p in files)
    assert DASHBOARDS_DIR == "collector/grafana/dashboards"


def test_readme_says_what_was_run_for_real() -> None:
    readme = (COLLECTOR / "README.md").read_text(encoding="utf-8")
    assert "## What was run for real here" in readme
    assert "have not been run here" in readme
    for cmd in ("promtool check config", "promtool test rules", "/api/v1/query"):
        assert cmd in readme
