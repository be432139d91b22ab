"""One schema mechanism for catalog, SLO and dashboard YAML (issue 10, item 6).

The published JSON Schema is generated from the pydantic models and committed; the shipped catalogs validate against
it; the schema refuses what loading refuses for shape; SLOs and dashboards are loaded (and validated) when used, not
on ``import lukhas_obs``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from lukhas_obs.catalog import builtin, load_catalog
from lukhas_obs.catalog.kinds import KINDS
from lukhas_obs.catalog.schema import catalog_json_schema, catalog_json_schema_text, full_catalog_model
from lukhas_obs.errors import CatalogError
from lukhas_obs.systems import system

DATA = resources.files("lukhas_obs.catalog") / "data"


def _shipped() -> list[Path]:
    """The catalogs under catalog/data and those of every installed system pack."""
    paths = {Path(str(p)) for p in DATA.iterdir() if p.name.endswith(".yaml")}
    try:
        from lukhas_obs.systems import catalog_paths
    except ImportError:  # pragma: no cover - before system packs
        return sorted(paths)
    return sorted(paths | {Path(p) for p in catalog_paths()})


SHIPPED = _shipped()


def _committed_schema() -> str:
    return (resources.files("lukhas_obs.catalog") / "catalog.schema.json").read_text(encoding="utf-8")


def _doc(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_committed_json_schema_is_the_generated_one() -> None:
    assert _committed_schema() == catalog_json_schema_text(), (
        "lukhas_obs/catalog/catalog.schema.json is stale; regenerate it with "
        "python -c 'from lukhas_obs.catalog.schema import catalog_json_schema_text as t; print(t(), end=\"\")' "
        "> lukhas_obs/catalog/catalog.schema.json"
    )


def test_the_schema_covers_every_section() -> None:
    schema = json.loads(_committed_schema())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"catalog", "metrics", "spans", "slos", "dashboards"} <= set(schema["properties"])
    for name in ("MetricDoc", "SpanDoc", "SloSetDoc", "LatencyDoc", "AlertDoc", "DashboardDoc", "PanelDoc", "GridDoc"):
        assert schema["$defs"][name]["additionalProperties"] is False, name
    kinds = schema["$defs"]["MetricDoc"]["properties"]["kind"]["enum"]
    assert kinds == list(KINDS) and "info" in kinds  # every kind of the table, in its order
    assert "for" in schema["$defs"]["AlertDoc"]["properties"]  # aliases, as written in YAML


def _schema_errors(doc: Any) -> list[str]:
    """Problems the published schema finds (jsonschema when installed, else the pydantic models it came from)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is in the test extras
        from pydantic import ValidationError

        try:
            full_catalog_model().model_validate(doc, context={})
        except ValidationError as exc:
            return [str(e["msg"]) for e in exc.errors()]
        return []
    validator = jsonschema.Draft202012Validator(catalog_json_schema())

    def leaves(error: Any) -> list[Any]:  # "not valid under any of" (X or null): the errors of each branch
        return [leaf for sub in error.context for leaf in leaves(sub)] if error.context else [error]

    return [f"{list(e.absolute_path)}: {e.message}" for top in validator.iter_errors(doc) for e in leaves(top)]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_catalogs_validate_against_the_published_schema(path: Path) -> None:
    assert _schema_errors(_doc(path)) == []


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["metrics"][0].update(buckets=5), ["metrics", 0, "buckets"]),
        (lambda d: d["metrics"][0].update(buckets=[False, True]), ["metrics", 0, "buckets"]),
        (lambda d: d["metrics"][0].update(description=None), ["metrics", 0, "description"]),
        (lambda d: d["metrics"][0].update(bucket="std"), ["metrics", 0]),
        (lambda d: d["metrics"][0].update(kind="summary"), ["metrics", 0, "kind"]),
        (lambda d: d.update(attributes=["tier"]), ["attributes"]),
        (lambda d: d["metrics"].append("lukhas_x_total"), ["metrics", 10]),
        (lambda d: d["slos"]["burn_rates"][0].update(windw="1h"), ["slos", "burn_rates", 0]),
        (lambda d: d["dashboards"][0]["rows"][0]["panels"][0]["grid"].update(h="4"), ["dashboards", 0, "rows", 0]),
    ],
)
def test_the_schema_refuses_what_loading_refuses(mutate, path: list[Any]) -> None:
    doc = _doc(system("lukhas_core").catalogs[0])
    mutate(doc)
    errors = _schema_errors(doc)
    assert errors, "the published schema accepted a document loading refuses"
    assert any(e.startswith(str(path)[:-1]) for e in errors), errors
    with pytest.raises(CatalogError):
        load_catalog({**doc, "catalog": "schema_check"})


def test_import_does_not_load_slo_or_dashboard_machinery() -> None:
    script = textwrap.dedent(
        """
        import sys
        import lukhas_obs
        lukhas_obs.metric("lukhas_memory_search_seconds")
        lazy = ["lukhas_obs.catalog.slo", "lukhas_obs.catalog.dashboard", "lukhas_obs.catalog.sections"]
        print(sorted(m for m in lazy if m in sys.modules))
        from lukhas_obs.catalog import builtin
        print(builtin("lukhas_core").slos.job, sorted(m for m in lazy if m in sys.modules))
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr[-2000:]
    before, after = child.stdout.splitlines()
    assert before == "[]"
    assert after == "lukhas ['lukhas_obs.catalog.dashboard', 'lukhas_obs.catalog.sections', 'lukhas_obs.catalog.slo']"


def _broken_slo_catalog(tmp_path: Path) -> Path:
    text = system("lukhas_core").catalogs[0].read_text(encoding="utf-8")
    text = text.replace("catalog: lukhas_core\n", "catalog: lukhas_core_deferred\n")
    text = text.replace("      file: reflection\n", "      file: reflection\n      fiel: typo\n")
    text = text.replace("threshold: 0.25", "threshold: 0.3")
    path = tmp_path / "deferred.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_service_loads_metrics_without_validating_slos_which_fail_when_used(tmp_path: Path) -> None:
    path = _broken_slo_catalog(tmp_path)
    with pytest.raises(CatalogError):
        load_catalog(path)  # the eager load (tools, tests) refuses the file outright
    catalog = load_catalog(path, defer_sections=True)
    assert (
        catalog.metric("lukhas_memory_search_seconds").buckets
        == builtin("lukhas_core").metric("lukhas_memory_search_seconds").buckets
    )
    assert "slos=<not loaded>" in repr(catalog)
    for _ in range(2):  # the same problems on every use, each a fresh exception
        with pytest.raises(CatalogError) as err:
            _ = catalog.slos
        assert "deferred.yaml:157: slos.groups[1]: unknown key 'fiel'" in str(err.value)
    with pytest.raises(CatalogError):
        _ = catalog.dashboards


def test_deferred_meaning_problems_name_the_file(tmp_path: Path) -> None:
    path = _broken_slo_catalog(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("      fiel: typo\n", ""), encoding="utf-8")
    catalog = load_catalog(path, defer_sections=True)
    with pytest.raises(CatalogError) as err:
        _ = catalog.slos
    assert f"{path}: slo 'identity_auth': threshold 0.3 is not a bucket boundary" in str(err.value)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_deferred_and_eager_loads_give_the_same_catalog(path: Path) -> None:
    eager = load_catalog(path)
    deferred = load_catalog(path, defer_sections=True)
    assert deferred == eager  # compares loaded sections
    assert (deferred.slos, deferred.dashboards) == (eager.slos, eager.dashboards)
    assert load_catalog(path, defer_sections=True) == load_catalog(path, defer_sections=True)  # raw sections


def test_loaded_specs_keep_their_types() -> None:
    core = builtin("lukhas_core")
    search = core.metric("lukhas_memory_search_seconds")
    assert type(search.name) is str and type(search.description) is str
    assert all(type(b) is float for b in search.buckets or ())
    assert core.metric("lukhas_auth_failures_total").attribute("reason").values[0] == "invalid_credentials"
    assert core.span("identity.authenticate_T3").params == {"tier": ("T1", "T2", "T3", "T4", "T5")}


def test_integer_bucket_boundaries_become_floats() -> None:
    # prometheus_client renders le="1.0"; an int boundary made the OTel exporter write le="1", a different series,
    # and SLO rules (which spell le the Python-float way) then matched nothing
    doc = {
        "catalog": "int_buckets",
        "metrics": [
            {"name": "x_seconds", "otel_name": "x", "kind": "histogram", "unit": "s", "buckets": [1, 2, 5],
             "description": "d"},
        ],
    }  # fmt: skip
    assert load_catalog(doc).metric("x_seconds").buckets == (1.0, 2.0, 5.0)
    assert all(type(b) is float for b in load_catalog(doc).metric("x_seconds").buckets or ())
