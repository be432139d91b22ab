"""The catalog is validated at load: legal names, unique Prometheus names, increasing buckets, known units."""

from __future__ import annotations

import pytest

from lukhas_obs.catalog import AttributeSpec, Catalog, MetricSpec, SpanSpec, builtin, load_catalog, register
from lukhas_obs.catalog.naming import prometheus_name
from lukhas_obs.errors import CatalogError


def metric(**overrides) -> MetricSpec:
    base = dict(
        name="x_search_seconds",
        otel_name="x.search",
        kind="histogram",
        unit="s",
        description="d",
        buckets=(0.1, 0.2),
    )
    base.update(overrides)
    return MetricSpec(**base)


def problems_of(*metrics: MetricSpec, spans: tuple[SpanSpec, ...] = ()) -> str:
    with pytest.raises(CatalogError) as err:
        Catalog(name="t", metrics=metrics, spans=spans)
    return str(err.value)


def test_core_catalog_matches_seed_003():
    core = builtin("lukhas_core")
    assert {m.name: (m.kind, m.unit) for m in core.metrics} == {
        "lukhas_memory_upsert_seconds": ("histogram", "s"),
        "lukhas_memory_search_seconds": ("histogram", "s"),
        "lukhas_memory_docs_total": ("counter", "{doc}"),
        "lukhas_memory_dedup_dropped_total": ("counter", "{doc}"),
        "lukhas_reflection_latency_seconds": ("histogram", "s"),
        "lukhas_reflection_anomalies_total": ("counter", "{anomaly}"),
        "lukhas_dream_step_seconds": ("histogram", "s"),
        "lukhas_dream_backpressure": ("gauge", "1"),
        "lukhas_auth_latency_seconds": ("histogram", "s"),
        "lukhas_auth_failures_total": ("counter", "{failure}"),
    }
    assert core.metric("lukhas_reflection_latency_seconds").buckets == (
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
    )  # fmt: skip
    assert core.metric("lukhas_auth_failures_total").label_names == ("lane", "reason", "service", "tier")
    assert core.metric("lukhas_auth_latency_seconds").attribute("tier").values == ("T1", "T2", "T3", "T4", "T5")
    assert set(core.span("identity.authenticate_T4").names()) == {f"identity.authenticate_T{i}" for i in range(1, 6)}


@pytest.mark.parametrize(
    ("otel_name", "unit", "kind", "expected"),
    [
        ("lukhas.memory.search", "s", "histogram", "lukhas_memory_search_seconds"),
        ("lukhas_memory_search_seconds", "s", "histogram", "lukhas_memory_search_seconds"),
        ("lukhas.memory.docs", "{doc}", "counter", "lukhas_memory_docs_total"),
        ("lukhas.memory.docs_total", "1", "counter", "lukhas_memory_docs_total"),
        ("payload", "By", "histogram", "payload_bytes"),
        ("ratio", "1", "gauge", "ratio"),
        ("queue.depth", "{item}", "updown_counter", "queue_depth"),
        ("throughput", "By/s", "gauge", "throughput_bytes_per_second"),
    ],
)
def test_prometheus_name_follows_the_exporter(otel_name, unit, kind, expected):
    assert prometheus_name(otel_name, unit, kind) == expected


def test_two_otel_names_colliding_into_one_prometheus_name_are_rejected():
    message = problems_of(
        metric(name="x_search_seconds", otel_name="x.search"),
        metric(name="x_search_seconds", otel_name="x.search_seconds"),
    )
    assert "sample name 'x_search_seconds_bucket' is also produced by 'x_search_seconds'" in message


def test_sample_names_of_different_kinds_collide_too():
    message = problems_of(
        metric(name="jobs", otel_name="jobs", unit="1"),
        metric(name="jobs_count", otel_name="jobs_count", kind="gauge", unit="1", buckets=None),
    )
    assert "'jobs_count'" in message


def test_declared_name_must_be_what_the_exporter_produces():
    message = problems_of(metric(name="x_search", otel_name="x.search"))
    assert "is exposed as 'x_search_seconds', not 'x_search'" in message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"buckets": (0.1, 0.1, 0.2)}, "not strictly increasing"),
        ({"buckets": (0.5, 0.2)}, "not strictly increasing"),
        ({"buckets": ()}, "needs bucket boundaries"),
        ({"buckets": (0.1, float("inf"))}, "finite"),
        ({"unit": "parsecs"}, "unit 'parsecs' is not a known UCUM unit"),
        ({"kind": "summary"}, "kind 'summary' is not one of"),
        ({"name": "x-search"}, "not a legal Prometheus metric name"),
        ({"otel_name": "9lives"}, "not a legal instrument name"),
        ({"description": " "}, "description is empty"),
        ({"kind": "gauge", "buckets": (1.0,), "name": "x_search_seconds"}, "only histograms take buckets"),
        ({"attributes": (AttributeSpec("le"),)}, "reserved label 'le'"),
        ({"attributes": (AttributeSpec("Tier"),)}, "must be lower-case"),
        ({"attributes": (AttributeSpec("a.b"), AttributeSpec("a_b"))}, "already a label of attribute 'a.b'"),
        ({"attributes": (AttributeSpec("lane"),), "common_attributes": ("lane",)}, "already a common attribute"),
        ({"attributes": (AttributeSpec("tier", values=("T1", "T1")),)}, "allowed values repeat"),
    ],
)
def test_invalid_metric_specs_are_rejected_with_the_reason(overrides, fragment):
    assert fragment in problems_of(metric(**overrides))


def test_span_templates_must_have_values_and_unique_names():
    bad_template = SpanSpec(name="auth_{tier}", component="identity")
    assert "template field {tier} has no values" in problems_of(metric(), spans=(bad_template,))
    twice = (
        SpanSpec(name="auth_{tier}", component="identity", params={"tier": ("T1",)}),
        SpanSpec(name="auth_T1", component="identity"),
    )
    assert "span 'auth_T1' is declared by two families" in problems_of(metric(), spans=twice)


def test_yaml_typos_are_errors_not_silently_ignored():
    doc = {
        "catalog": "typo",
        "bucket_sets": {"std": [0.1, 1.0]},
        "metrics": [
            {"name": "a_seconds", "kind": "histogram", "unit": "s", "bucket": "std", "description": "d"},
            {"name": "b_seconds", "kind": "histogram", "unit": "s", "buckets": "nope", "description": "d"},
            {"name": "c_total", "kind": "counter", "description": "d", "attributes": ["undefined"]},
        ],
    }
    with pytest.raises(CatalogError) as err:
        load_catalog(doc)
    message = str(err.value)
    assert "unknown key 'bucket'" in message
    assert "bucket set 'nope' is not defined" in message
    assert "attribute 'undefined' is not defined" in message


def test_registry_refuses_a_catalog_that_collides_with_a_registered_one():
    clash = Catalog(
        name="clash",
        metrics=(metric(name="lukhas_memory_docs_total", otel_name="lukhas_memory_docs", kind="counter",
                        unit="1", buckets=None),),
    )  # fmt: skip
    with pytest.raises(CatalogError) as err:
        register(clash)
    assert "already exposed by catalog 'lukhas_core'" in str(err.value)


def test_views_carry_the_histogram_buckets():
    views = builtin("lukhas_core").views()
    assert len(views) == 5
    by_name = {v._instrument_name: v._aggregation._boundaries for v in views}
    assert list(by_name["lukhas.reflection.latency"]) == [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]


@pytest.mark.parametrize(
    ("metric_name", "otel_name", "kind", "unit", "fragment"),
    [
        ("queue_gauge_fill", "queue_gauge_fill", "gauge", "1", "type word 'gauge'"),
        ("request_ms", "request_ms", "gauge", "1", "abbreviates a unit ('ms')"),
        ("requestSize", "requestSize", "gauge", "1", "not snake_case"),
    ],
)
def test_names_promtool_would_reject_are_rejected_at_load(metric_name, otel_name, kind, unit, fragment):
    spec = MetricSpec(name=metric_name, otel_name=otel_name, kind=kind, unit=unit, description="d")
    assert fragment in problems_of(spec)
