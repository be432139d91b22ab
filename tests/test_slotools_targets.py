"""SLO targets: the slo_targets: model, from a mapping and from a standalone YAML file; errors name field and values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from lukhas_obs.slotools.targets import (
    AGGREGATES,
    SloTargetsError,
    compare,
    load_targets,
    load_targets_file,
)
from tests.support.hostile import Hostile, RaisingStr

#: Seed 004's Phase C targets (coherence >= 0.80, continuity >= 0.90, stress <= 0.30).
AURIS = {
    "title": "Phase C",
    "window": "10m",
    "report_fields": ["coherence", "continuity", "presence", "stress"],
    "targets": [
        {"field": "coherence", "metric": "self_coherence", "comparison": ">=", "threshold": 0.80},
        {"field": "continuity", "metric": "self_continuity", "comparison": ">=", "threshold": 0.90},
        {"field": "stress", "metric": "self_stress", "comparison": "<=", "threshold": 0.30},
    ],
}

AURIS_YAML = """\
slo_targets:
  title: Phase C
  window: 10m
  report_fields: [coherence, continuity, presence, stress]
  targets:
    - {field: coherence,  metric: self_coherence,  comparison: ">=", threshold: 0.80}
    - {field: continuity, metric: self_continuity, comparison: ">=", threshold: 0.90}
    - {field: stress,     metric: self_stress,     comparison: "<=", threshold: 0.30}
"""


def _one(**target: object) -> dict[str, object]:
    return {"targets": [{"field": "coherence", "comparison": ">=", "threshold": 0.8, **target}]}


def test_auris_targets_resolve_with_defaults() -> None:
    targets = load_targets(AURIS)
    assert [t.describe() for t in targets.targets] == ["coherence >= 0.80", "continuity >= 0.90", "stress <= 0.30"]
    first = targets.targets[0]
    assert (first.name, first.field, first.metric, first.kind, first.aggregate) == (
        "coherence", "coherence", "self_coherence", "gauge", "avg"
    )  # fmt: skip
    assert first.window == "10m" and first.window_seconds == 600 and first.min_samples == 1
    assert targets.fields == ("coherence", "continuity", "presence", "stress")
    assert targets.title == "Phase C"
    assert [t.name for t in targets.online()] == ["coherence", "continuity", "stress"]


def test_the_yaml_file_and_the_mapping_give_the_same_targets(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(AURIS_YAML, encoding="utf-8")
    from_file = load_targets_file(path)
    from_mapping = load_targets(AURIS)
    assert from_file.targets == from_mapping.targets
    assert from_file.origin == str(path)


def test_per_target_window_and_labels_and_percentile() -> None:
    targets = load_targets(
        {
            "window": "5m",
            "targets": [
                {"metric": "lat_seconds", "kind": "histogram", "aggregate": "p95", "comparison": "<", "threshold": 0.25,
                 "window": "30s", "labels": {"token_id": "t1", "lane": "canary"}, "min_samples": 10},
                {"field": "stress", "comparison": "<=", "threshold": 0.3},
            ],
        }
    )  # fmt: skip
    lat, stress = targets.targets
    assert lat.name == "lat_seconds" and lat.window == "30s" and lat.quantile == 0.95
    assert lat.labels == (("lane", "canary"), ("token_id", "t1"))
    assert lat.describe() == "p95(lat_seconds) < 0.25"
    assert stress.window == "5m" and stress.metric is None
    assert targets.longest_window_seconds == 300
    assert [t.name for t in targets.offline()] == ["stress"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_one(aggregate="mean"), ["targets[0]: aggregate must be one of", "avg, p50, p95, p99, min, max", "'mean'"]),
        (_one(comparison="=="), ["targets[0]: comparison must be one of >=, <=, >, <", "'=='"]),
        (_one(comparison=""), ["comparison must be one of", "quote it in YAML"]),
        (_one(kind="summary"), ["targets[0]: kind must be one of gauge, histogram", "'summary'"]),
        (_one(window="5 min"), ["targets[0]: window must be a Prometheus duration", "'5 min'"]),
        (_one(threshold=float("nan")), ["targets[0]: threshold must be a finite number"]),
        (_one(threshold=True), ["targets[0]: threshold must be a number", "boolean"]),
        (_one(threshold="0.8"), ["targets[0]: threshold must be a number"]),
        (_one(threshhold=0.8), ["unknown key 'threshhold'", "accepted: name, field, metric, kind, aggregate"]),
        (_one(metric="1bad"), ["targets[0]: metric must be a Prometheus metric name"]),
        (_one(labels={"__name__": "x"}), ["labels keys must be Prometheus label names"]),
        (_one(min_samples=0), ["min_samples must be at least 1"]),
        (_one(field=""), ["targets[0] needs a field (replay), a metric (online evaluation) or both"]),
        (_one(metric="x", kind="histogram", aggregate="max"), ["aggregate max is not available for a histogram"]),
        (_one(field="\ud800"), ["targets[0]: field must be valid Unicode text"]),
        ({"targets": []}, ["targets must list at least one target"]),
        ({"targetz": []}, ["targets is required", "unknown key 'targetz'; accepted: title, window, report_fields"]),
        (
            {"targets": [{"field": "c", "comparison": "<", "threshold": 1}, {"field": "c", "comparison": ">", "threshold": 0}]},  # noqa: E501
            ["targets[1]: name 'c' is already used by targets[0]"],
        ),
    ],
)
def test_errors_name_the_field_and_the_accepted_values(doc: dict[str, object], expected: list[str]) -> None:
    with pytest.raises(SloTargetsError) as info:
        load_targets(doc)
    text = str(info.value)
    for part in expected:
        assert part in text, text


def test_hostile_values_are_refused_or_copied_never_raise() -> None:
    # str subclasses whose dunders raise are copied into plain strings by the model
    targets = load_targets(_one(field=RaisingStr("coherence"), comparison=RaisingStr(">=")))
    assert type(targets.targets[0].field) is str and targets.targets[0].comparison == ">="
    for doc in (_one(threshold=Hostile()), {"title": Hostile(), **_one()}, _one(threshold=10**5000), Hostile()):
        with pytest.raises(SloTargetsError):
            load_targets(doc)  # type: ignore[arg-type]

    class BadMapping(Mapping[str, object]):
        def __getitem__(self, key: str) -> object:
            raise RuntimeError("getitem")

        def __iter__(self):  # type: ignore[override]
            raise RuntimeError("iter")

        def __len__(self) -> int:
            return 1

    with pytest.raises(SloTargetsError, match="must be a mapping that can be read"):
        load_targets(BadMapping())


def test_compare_never_passes_nan() -> None:
    assert compare(0.8, ">=", 0.8) and not compare(0.8, ">", 0.8) and compare(0.3, "<=", 0.3)
    assert not compare(0.3, "<", 0.3)
    assert not any(compare(float("nan"), op, 0.5) for op in (">=", "<=", ">", "<"))
    assert AGGREGATES == ("avg", "p50", "p95", "p99", "min", "max")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slo_targets:\n  targets:\n    - {field: c, comparison: >=, threshold: 1}\n", ["not valid YAML", ":3:"]),
        (
            "slo_targets:\n  targets:\n    - field: c\n      comparison: >\n      threshold: 1\n",
            ["comparison must be one of", "quote it in YAML"],
        ),
        ("targets: []\n", ["top level must be a mapping with the key slo_targets"]),
        (
            "slo_targets:\n  targets: [{field: c, comparison: '<', threshold: 1}]\nextra: 1\n",
            ["3: unknown top-level key 'extra'"],
        ),
        ("slo_targets:\n  title: a\n  title: b\n  targets: []\n", ["duplicate key"]),
        (
            "slo_targets:\n  targets:\n    - {field: c, comparison: '<', threshold: 1}\n"
            "    - {field: d, comparison: '<', threshold: 1, windw: 5m}\n",
            [":4: targets[1]: unknown key 'windw'"],
        ),
        ("a: &a [" + "*a," * 3 + "]\n", ["recursive alias"]),
        ("- " * 100 + "x\n", ["nesting deeper than"]),
    ],
)
def test_file_errors_name_file_and_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SloTargetsError) as info:
        load_targets_file(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


def test_file_not_utf8_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("slo_targets:\n  title: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SloTargetsError, match="not UTF-8"):
        load_targets_file(path)
    with pytest.raises(OSError):
        load_targets_file(tmp_path / "missing.yaml")
