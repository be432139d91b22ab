"""lukhas-obs catalog export-weaver: the catalogs as an OpenTelemetry Weaver registry.

Weaver itself (a Rust binary) is not installed on these machines, so the registry is checked here against a JSON
Schema of the semantic-convention groups syntax written from Weaver's ``schemas/semconv-syntax.md`` (the fields and
enums this export uses), for references that resolve, and against real OTLP output of lukhas-obs the way
``weaver registry live-check`` compares them (metric names, instruments, units, attribute keys).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import lukhas_obs
from lukhas_obs import check, weaver
from lukhas_obs.catalog import builtin
from lukhas_obs.migrate.importer import register_cli

STABILITY = {"enum": ["stable", "development", "alpha", "beta", "release_candidate"]}
SIMPLE_TYPES = ["string", "int", "double", "boolean", "any", "string[]", "int[]", "double[]", "boolean[]"]
ATTRIBUTE = {
    "oneOf": [
        {
            "type": "object",
            "required": ["id", "type", "stability", "brief"],
            "not": {"required": ["ref"]},
            "properties": {
                "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_.]*$"},
                "type": {
                    "oneOf": [
                        {"enum": SIMPLE_TYPES},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["members"],
                            "properties": {
                                "members": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["id", "value", "stability"],
                                        "properties": {
                                            "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
                                            "value": {"type": ["string", "number"]},
                                            "stability": STABILITY,
                                            "brief": {"type": "string"},
                                        },
                                    },
                                }
                            },
                        },
                    ]
                },
                "stability": STABILITY,
                "brief": {"type": "string", "minLength": 1},
                "examples": {"type": "array"},
                "annotations": {"type": "object"},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["ref"],
            "not": {"anyOf": [{"required": ["id"]}, {"required": ["type"]}, {"required": ["stability"]}]},
            "properties": {
                "ref": {"type": "string"},
                "requirement_level": {"enum": ["required", "recommended", "opt_in"]},
            },
            "additionalProperties": False,
        },
    ]
}
GROUP_BASE = {
    "id": {"type": "string", "minLength": 1},
    "brief": {"type": "string", "minLength": 1},
    "note": {"type": "string"},
    "stability": STABILITY,
    "attributes": {"type": "array", "items": ATTRIBUTE},
    "annotations": {"type": "object"},
}
GROUPS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["groups"],
    "properties": {
        "groups": {
            "type": "array",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "type", "brief", "stability", "metric_name", "instrument", "unit"],
                        "properties": {
                            **GROUP_BASE,
                            "type": {"const": "metric"},
                            "metric_name": {"type": "string", "minLength": 1},
                            "instrument": {"enum": ["counter", "gauge", "histogram", "updowncounter"]},
                            "unit": {"type": "string"},
                        },
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "type", "brief", "stability", "span_kind", "attributes"],
                        "properties": {
                            **GROUP_BASE,
                            "type": {"const": "span"},
                            "span_kind": {"enum": ["client", "server", "producer", "consumer", "internal"]},
                        },
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "type", "brief", "attributes"],
                        "properties": {**GROUP_BASE, "type": {"const": "attribute_group"}},
                    },
                ]
            },
        }
    },
}
MANIFEST_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "semconv_version"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
        "description": {"type": "string"},
        "semconv_version": {"type": "string", "minLength": 1},
        "schema_base_url": {"type": "string", "pattern": r"^https?://"},
    },
}


def export(tmp_path: Path, *argv: str) -> Path:
    out = tmp_path / "registry"
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["catalog", "export-weaver", "--out", str(out), *argv])
    assert args.handler(args, io.StringIO()) == 0
    return out


def load_registry(root: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    manifest = yaml.safe_load((root / weaver.MANIFEST).read_text(encoding="utf-8"))
    files = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*.yaml"))}
    files.pop(weaver.MANIFEST)
    return manifest, files


def test_the_registry_has_weavers_shape_and_its_references_resolve(tmp_path: Path) -> None:
    root = export(tmp_path, "--system", "lukhas_core", "--catalog", "lukhas_obs_self")
    manifest, files = load_registry(root)
    jsonschema.validate(manifest, MANIFEST_SCHEMA)
    assert manifest["semconv_version"] == lukhas_obs.__version__
    assert set(files) == {"attributes.yaml", "lukhas_core.yaml", "lukhas_obs_self.yaml"}
    for name, doc in files.items():
        try:
            jsonschema.validate(doc, GROUPS_SCHEMA)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message} at {list(exc.absolute_path)}")
    groups = [g for doc in files.values() for g in doc["groups"]]
    ids = [g["id"] for g in groups]
    assert len(ids) == len(set(ids)), "group ids must be unique in a registry"
    defined = [a["id"] for g in groups if g["type"] == "attribute_group" for a in g["attributes"]]
    assert len(defined) == len(set(defined)), "an attribute is defined once per registry"
    refs = {a["ref"] for g in groups for a in g.get("attributes", ()) if "ref" in a}
    assert refs <= set(defined), sorted(refs - set(defined))
    for g in groups:  # string attributes need examples (Weaver's rule); enums and `any` do not
        for a in g.get("attributes", ()):
            if a.get("type") == "string":
                assert a.get("examples"), a["id"]


def test_every_catalog_metric_and_span_is_a_group_with_its_facts(tmp_path: Path) -> None:
    core = builtin("lukhas_core")
    _manifest, files = load_registry(export(tmp_path, "--system", "lukhas_core"))
    groups = {g["id"]: g for g in files["lukhas_core.yaml"]["groups"]}
    for metric in core.metrics:
        group = groups[f"metric.{metric.otel_name}"]
        assert group["metric_name"] == metric.otel_name and group["unit"] == metric.unit
        assert group["instrument"] == weaver.instrument_of(metric.kind)
        assert group["annotations"]["lukhas_obs"]["prometheus_name"] == metric.name
        refs = [a["ref"] for a in group["attributes"]]
        assert refs == [*metric.common_attributes, *(a.key for a in metric.attributes)]
    auth = groups["span.identity.authenticate_tier"]
    assert auth["span_kind"] == "internal"
    assert auth["annotations"]["lukhas_obs"]["span_names"] == [f"identity.authenticate_T{i}" for i in range(1, 6)]
    assert [a["ref"] for a in auth["attributes"]] == ["tier", "auth.ok", "auth.reason", "component"]
    failures = groups["metric.lukhas.auth.failures"]
    assert failures["instrument"] == "counter" and failures["attributes"][0] == {"ref": "lane", "requirement_level":
                                                                                   "required"}  # fmt: skip
    attributes = {a["id"]: a for a in files["attributes.yaml"]["groups"][0]["attributes"]}
    tier = attributes["tier"]["type"]["members"]
    assert [m["value"] for m in tier] == ["T1", "T2", "T3", "T4", "T5", "other"]  # the fold value is emitted too
    assert attributes["auth.ok"]["type"] == "any"  # span-only: the catalog gives it no type
    assert attributes["lane"]["type"] == "string"


def test_an_attribute_of_two_catalogs_is_one_merged_definition(tmp_path: Path) -> None:
    """``reason`` is enumerated differently by the core and the self-telemetry catalogs."""
    _manifest, files = load_registry(export(tmp_path, "--system", "lukhas_core", "--catalog", "lukhas_obs_self"))
    attributes = {a["id"]: a for a in files["attributes.yaml"]["groups"][0]["attributes"]}
    values = [m["value"] for m in attributes["reason"]["type"]["members"]]
    assert "invalid_credentials" in values and "cardinality_limit" in values and values.count("other") == 1
    assert set(attributes["reason"]["annotations"]["lukhas_obs"]["catalogs"]) == {"lukhas_core", "lukhas_obs_self"}
    ids = [m["id"] for m in attributes["reason"]["type"]["members"]]
    assert len(ids) == len(set(ids))


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = export(tmp_path / "a", "--system", "lukhas_core")
    second = export(tmp_path / "b", "--system", "lukhas_core")
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes()


def test_member_ids_are_unique_snake_case_whatever_the_values() -> None:
    taken: set[str] = set()
    ids = [weaver._member_id(v, taken) for v in ["T1", "t1", "1x", "a-b", "A B", "", "✓"]]
    assert ids == ["t1", "t1_2", "v_1x", "a_b", "a_b_2", "value", "value_2"]


class _Recording(check.Checker):
    """A checker that keeps the decoded OTLP metric requests, to compare them with the registry."""

    def __init__(self) -> None:
        super().__init__([builtin("lukhas_core"), builtin("lukhas_obs_self")])
        self.requests: list[Any] = []

    def otlp_metrics(self, request: Any, source: str) -> None:
        self.requests.append(request)
        super().otlp_metrics(request, source)


def test_real_otlp_output_matches_the_registry_as_live_check_compares_them(tmp_path: Path) -> None:
    """Every metric lukhas-obs exports over OTLP is a registry metric with its instrument and unit, and carries only
    attributes its group references."""
    _manifest, files = load_registry(export(tmp_path, "--system", "lukhas_core", "--catalog", "lukhas_obs_self"))
    metric_groups = {g["metric_name"]: g for doc in files.values() for g in doc["groups"] if g["type"] == "metric"}
    recording = _Recording()
    with check.OtlpCapture(recording, "127.0.0.1", 0) as rx:
        lukhas_obs.configure(
            serve_metrics=False, otlp_endpoint=rx.endpoint, otlp_protocol="http", metrics_exporter="otlp",
            traces_exporter="none", metric_export_interval=60,
        )  # fmt: skip
        lukhas_obs.counter("lukhas_auth_failures_total").add(1, tier="T2", reason="expired")
        lukhas_obs.histogram("lukhas_memory_search_seconds").record(0.01)
        lukhas_obs.gauge("lukhas_dream_backpressure").set(0.3)
        lukhas_obs.counter("lukhas_memory_docs_total").add(-1)  # a drop: the self-telemetry counter is exported
        assert lukhas_obs.shutdown(timeout=5)
    instruments = {"sum": {True: "counter", False: "updowncounter"}, "gauge": "gauge", "histogram": "histogram"}
    seen = set()
    for request in recording.requests:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    data = metric.WhichOneof("data")
                    if metric.name not in metric_groups:
                        continue  # another registered system's metric: not in this export
                    group = metric_groups[metric.name]
                    seen.add(metric.name)
                    kind = instruments[data]
                    expected = kind[metric.sum.is_monotonic] if isinstance(kind, dict) else kind
                    assert group["instrument"] == expected, metric.name
                    assert group["unit"] == metric.unit, metric.name
                    allowed = {a["ref"] for a in group.get("attributes", ())}
                    for point in getattr(metric, data).data_points:
                        assert {kv.key for kv in point.attributes} <= allowed, metric.name
    assert {"lukhas.auth.failures", "lukhas.memory.search", "lukhas.dream.backpressure",
            "lukhas_obs.dropped_measurements"} <= seen  # fmt: skip
