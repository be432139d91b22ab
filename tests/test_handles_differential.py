"""End to end through the public handles: the own aggregation (default) and the OTel SDK's instruments (``aggregation=
"sdk"``) turn the same calls into the same ``/metrics`` body and the same OTLP metric points.

Calls are random over the LUKHΛS core's catalog: every kind, unbound with keyword attributes (the generated
recorders), unbound with a ``**dict`` (the general path), bound handles, and hostile input (NaN, huge ints, negative
values, unknown keys, enumerated values that fold, a str whose ``__hash__`` raises, unhashable values), over several
collections. Any difference in a value, a series, a drop count or an ordering fails.
"""

from __future__ import annotations

import difflib
import random
import re

import pytest
from google.protobuf.json_format import MessageToDict

import lukhas_obs
from lukhas_obs.aggregation import MetricState
from tests.support.hostile import RaisingStr
from tests.support.otlp_receiver import OtlpReceiver

TIERS = ["T1", "T2", "T3", "T4", "bogus"]
REASONS = ["invalid_credentials", "locked", "expired", "nope"]

VALUES = [0, 1, 2, 7, 0.0, -0.0, 0.001, 0.0042, 0.25, 1.5, 3.0, 1e-9, 12345.678, 2**53 + 1, 2**63 - 1, -1, -0.5,
          float("nan"), float("inf"), 2**64, True, "3", None]  # fmt: skip


def _calls(seed: int, count: int) -> list[tuple[str, str, object, dict[str, object]]]:
    """(metric, style, value, attributes) — the same list for both configurations."""
    rng = random.Random(seed)
    out = []
    metrics = [
        ("lukhas_memory_search_seconds", {}),
        ("lukhas_memory_upsert_seconds", {}),
        ("lukhas_memory_docs_total", {}),
        ("lukhas_auth_failures_total", {"tier": TIERS, "reason": REASONS}),
        ("lukhas_auth_latency_seconds", {"tier": TIERS}),
        ("lukhas_dream_backpressure", {}),
        ("lukhas_reflection_anomalies_total", {}),
    ]
    for _ in range(count):
        name, keys = rng.choice(metrics)
        attrs: dict[str, object] = {key: rng.choice(choices) for key, choices in keys.items() if rng.random() < 0.9}
        roll = rng.random()
        if roll < 0.03:
            attrs["unknown_key"] = "x"
        elif roll < 0.05:
            attrs["lane"] = rng.choice(["canary", 7, True])  # a common attribute overridden at call time
        elif roll < 0.06 and keys:
            attrs[next(iter(keys))] = ["unhashable"]
        value = rng.choice(VALUES) if rng.random() < 0.3 else round(rng.expovariate(20), rng.randint(1, 6))
        style = rng.choice(["keyword", "mapping", "bound"])
        out.append((name, style, value, attrs))
    return out


def _run(calls: list[tuple[str, str, object, dict[str, object]]]) -> None:
    bound: dict[tuple[str, str], object] = {}
    for name, style, value, attrs in calls:
        handle = lukhas_obs.metric(name)
        method = handle._kind.method
        if style == "keyword":
            getattr(handle, method)(value, **attrs)
        elif style == "mapping":
            handle._emit(value, dict(attrs))
        else:
            key = (name, repr(sorted(attrs.items(), key=repr)))
            if key not in bound:
                bound[key] = handle.bind(**attrs)
            getattr(bound[key], method)(value)


def _body() -> str:
    """The core's and self-telemetry's families (other tests' catalogs stay registered in this process)."""
    text, _ = lukhas_obs.render_exposition()
    return "\n".join(
        line
        for line in text.decode().splitlines()
        # Points exported count every catalog's points, and catalogs of other tests stay registered: one with
        # start_at_zero has a histogram at zero only on the own aggregation (a documented difference).
        if _family(line).startswith("lukhas_") and not _family(line).startswith("lukhas_obs_exported_metric_points")
    )


def _family(line: str) -> str:
    if line.startswith("#"):
        parts = line.split(" ")
        return parts[2] if len(parts) > 2 else ""
    return re.split(r"[{ ]", line, maxsplit=1)[0]


def _session(aggregation: str, receiver: OtlpReceiver, batches: list[list]) -> tuple[list[str], list[dict]]:
    telemetry = lukhas_obs.configure(
        prometheus_port=0,
        traces_exporter="none",
        otlp_endpoint=receiver.endpoint,
        otlp_protocol="http",
        metric_export_interval=3600,
        aggregation=aggregation,
        reconfigure=True,
    )
    assert (telemetry.aggregator is not None) is (aggregation == "own")
    receiver.clear()
    bodies = []
    try:
        for batch in batches:
            _run(batch)
            bodies.append(_body())
            assert telemetry.force_flush(10)
    finally:
        telemetry.shutdown(timeout=5)
    return bodies, [_normalised(MessageToDict(r)) for r in receiver.metric_requests]


def _normalised(request: dict) -> dict:
    """OTLP metrics with times and the (per-configuration) resource identity removed."""
    for resource_metrics in request.get("resourceMetrics", []):
        resource_metrics.pop("resource", None)
        for scope in resource_metrics.get("scopeMetrics", []):
            scope["metrics"] = [  # the core's and self-telemetry's, but not the point counts (see _body)
                m
                for m in scope.get("metrics", [])
                if m["name"].startswith("lukhas") and "exported_metric_points" not in m["name"]
            ]
            for metric in scope["metrics"]:
                for data in metric.values():
                    if isinstance(data, dict):
                        for point in data.get("dataPoints", []):
                            point.pop("startTimeUnixNano", None)
                            point.pop("timeUnixNano", None)
    return request


_TARGET_INFO = re.compile(r"^target_info\{.*$", re.M)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_own_aggregation_and_sdk_instruments_publish_the_same(seed):
    calls = _calls(seed, 1500)
    batches = [calls[:500], calls[500:1000], calls[1000:]]
    with OtlpReceiver("http") as receiver:
        own_bodies, own_otlp = _session("own", receiver, batches)
        sdk_bodies, sdk_otlp = _session("sdk", receiver, batches)
    assert len(own_bodies) == len(sdk_bodies) == 3
    for own, sdk in zip(own_bodies, sdk_bodies, strict=True):
        own, sdk = _TARGET_INFO.sub("", own), _TARGET_INFO.sub("", sdk)
        assert own == sdk, "\n".join(difflib.unified_diff(own.splitlines(), sdk.splitlines(), "own", "sdk", n=1))
    assert "lukhas_auth_failures_total" in own_bodies[-1] and 'reason="other"' in own_bodies[-1]
    assert own_otlp and own_otlp == sdk_otlp


def test_a_hostile_attribute_value_takes_the_general_path_on_both():
    with OtlpReceiver("http") as receiver:
        results = []
        for aggregation in ("own", "sdk"):
            calls = [("lukhas_auth_failures_total", style, 1, {"tier": RaisingStr("T1"), "reason": "locked"})
                     for style in ("keyword", "mapping", "bound")]  # fmt: skip
            results.append(_session(aggregation, receiver, [calls])[0])
    assert _TARGET_INFO.sub("", results[0][0]) == _TARGET_INFO.sub("", results[1][0])


def test_handles_record_into_the_own_aggregation_by_default(configured):
    hist = lukhas_obs.histogram("lukhas_memory_search_seconds")
    hist.record(0.01)
    assert isinstance(hist._target, MetricState) and len(hist._target) == 1
