"""lukhas_obs.flows: memory, consciousness and identity helpers, checked on real /metrics and exported spans."""

from __future__ import annotations

import asyncio
import json
import traceback
import urllib.request
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import spans
from lukhas_obs.flows import consciousness, identity, memory
from lukhas_obs.spans import span

# -- fixtures and readers -------------------------------------------------------------------------------------------


@pytest.fixture
def telemetry(tmp_path):
    """/metrics on a free port, spans to an OTLP/JSON-lines file."""
    lukhas_obs.shutdown()
    configured = lukhas_obs.configure(
        prometheus_port=0, traces_exporter="file", traces_file=tmp_path / "traces.jsonl", service="flows-test"
    )
    yield configured
    lukhas_obs.shutdown()


@pytest.fixture
def raw_spans(telemetry):
    """Spans as the helpers made them, before the exporters' scrubber: what the helpers themselves leak."""
    memory_exporter = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(memory_exporter))
    return memory_exporter


def metrics_text() -> str:
    with urllib.request.urlopen(lukhas_obs.active().metrics_url, timeout=5) as response:
        return response.read().decode()


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample, labels without lane/service): value}`` from a real HTTP GET of /metrics."""
    out = {}
    for family in text_string_to_metric_families(metrics_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("lane", "service"))))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class Exported:
    name: str
    attributes: dict
    resource: dict
    trace_id: str
    span_id: str
    parent_id: str
    status: int
    events: list


def _plain(v: dict):
    if "arrayValue" in v:
        return tuple(_plain(x) for x in v["arrayValue"].get("values", []))
    (kind, raw), *_ = v.items()
    return int(raw) if kind == "intValue" else raw


def exported_spans(telemetry) -> list[Exported]:
    """Every span written to the trace file, after a flush."""
    assert lukhas_obs.force_flush()
    out = []
    path = telemetry.settings.traces_file
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            for rs in json.loads(line)["resourceSpans"]:
                resource = {a["key"]: _plain(a["value"]) for a in rs["resource"]["attributes"]}
                for scope in rs["scopeSpans"]:
                    for s in scope["spans"]:
                        out.append(
                            Exported(
                                s["name"],
                                {a["key"]: _plain(a["value"]) for a in s.get("attributes", [])},
                                resource,
                                s["traceId"],
                                s["spanId"],
                                s.get("parentSpanId", ""),
                                s.get("status", {}).get("code", 0),
                                s.get("events", []),
                            )
                        )
    return out


def only(exported: list[Exported], name: str) -> Exported:
    (found,) = [s for s in exported if s.name == name]
    return found


class Boom(Exception):
    pass


def _raise(exc: BaseException) -> None:
    raise exc


# -- memory -----------------------------------------------------------------------------------------------------


def test_memory_add_event_and_query_populate_histograms_and_counters(telemetry):
    with memory.add_event(size=11, lane="candidate", fold="f1") as event:
        event.indexed()
    with memory.add_event(size=11) as event:
        event.deduplicated()
    with memory.query(k=5):
        pass
    memory.docs_indexed(2)
    samples = scrape()
    assert value(samples, "lukhas_memory_upsert_seconds_count") == 2
    assert value(samples, "lukhas_memory_upsert_seconds_bucket", le="+Inf") == 2
    assert value(samples, "lukhas_memory_search_seconds_count") == 1
    assert value(samples, "lukhas_memory_docs_total") == 3
    assert value(samples, "lukhas_memory_dedup_dropped_total") == 1

    exported = exported_spans(telemetry)
    adds = [s for s in exported if s.name == "memory.add_event"]
    assert adds[0].attributes == {"mem.meta.size": 11, "lane": "candidate", "fold": "f1", "component": "memory"}
    assert adds[1].attributes == {"mem.meta.size": 11, "component": "memory"}  # None values dropped
    assert only(exported, "memory.query").attributes == {"k": 5, "component": "memory"}


def test_memory_exception_propagates_unchanged_and_still_times(telemetry):
    original = Boom()
    with pytest.raises(Boom) as info, memory.add_event(size=1):
        _raise(original)
    assert info.value is original and traceback.extract_tb(info.value.__traceback__)[-1].name == "_raise"
    assert value(scrape(), "lukhas_memory_upsert_seconds_count") == 1
    assert only(exported_spans(telemetry), "memory.add_event").status == 2  # STATUS_CODE_ERROR


def test_memory_query_as_decorator(telemetry):
    @memory.query(k=3)
    def search(text):
        return [text]

    assert search("q") == ["q"]
    assert value(scrape(), "lukhas_memory_search_seconds_count") == 1


# -- consciousness ----------------------------------------------------------------------------------------------


def test_reflection_counts_anomalies_by_number(telemetry):
    with consciousness.reflect(phase="REFLECT") as reflection:
        assert reflection.anomalies(["drift_spike", "low_coherence", "drift_sustained"]) == 3
    with consciousness.reflect(phase="AWARE") as reflection:
        assert reflection.anomalies([]) == 0
    with consciousness.reflect(phase="AWARE") as reflection:
        reflection.anomalies(2)
    samples = scrape()
    assert value(samples, "lukhas_reflection_latency_seconds_count") == 3
    assert value(samples, "lukhas_reflection_anomalies_total") == 5
    reflects = [s for s in exported_spans(telemetry) if s.name == "consciousness.reflect"]
    assert [s.attributes.get("anomalies") for s in reflects] == [3, 0, 2]
    assert reflects[0].attributes["phase"] == "REFLECT" and reflects[0].attributes["component"] == "consciousness"


def test_dream_step_times_and_sets_backpressure(telemetry):
    with consciousness.dream_step(phase="ENTERING", max_time_ms=50) as step:
        assert step.backpressure(0.25) is True
    samples = scrape()
    assert value(samples, "lukhas_dream_step_seconds_count") == 1
    assert value(samples, "lukhas_dream_backpressure") == 0.25
    step_span = only(exported_spans(telemetry), "consciousness.dream.step")
    assert step_span.attributes == {"phase": "ENTERING", "max_time_ms": 50, "component": "consciousness"}


@pytest.mark.parametrize(
    ("bad", "reason"), [(1.5, "out_of_range"), (-0.1, "out_of_range"), (float("nan"), "nan"), ("0.5", "not_a_number")]
)
def test_backpressure_outside_0_1_is_dropped_and_reported(telemetry, bad, reason):
    assert consciousness.set_backpressure(0.5) is True
    assert consciousness.set_backpressure(bad) is False
    samples = scrape()
    assert value(samples, "lukhas_dream_backpressure") == 0.5  # the bad value did not overwrite it
    dropped = value(samples, "lukhas_obs_dropped_measurements_total", metric="lukhas_dream_backpressure", reason=reason)
    assert dropped == 1


def test_backpressure_bounds_are_accepted(telemetry):
    assert consciousness.set_backpressure(0) is True
    assert consciousness.set_backpressure(1.0) is True
    assert value(scrape(), "lukhas_dream_backpressure") == 1.0


# -- identity ---------------------------------------------------------------------------------------------------


@dataclass
class AuthResult:
    tier: str
    ok: bool
    reason: str = ""


def test_every_tier_emits_latency_and_spans(telemetry):
    for tier in identity.TIERS:
        result = identity.authenticate(tier, lambda tier=tier: AuthResult(tier, True, "fine"))
        assert result.ok
    samples = scrape()
    for tier in ("T1", "T2", "T3", "T4", "T5"):
        assert value(samples, "lukhas_auth_latency_seconds_count", tier=tier) == 1
    assert not any(name == "lukhas_auth_failures_total" for name, _ in samples)
    exported = exported_spans(telemetry)
    for tier in ("T1", "T2", "T3", "T4", "T5"):
        s = only(exported, f"identity.authenticate_{tier}")
        assert s.attributes == {"tier": tier, "component": "identity", "auth.ok": True}
        assert s.resource["service.name"] == "flows-test" and s.resource["lukhas.lane"] == "candidate"


def test_negative_paths_increment_failures_with_their_reason(telemetry):
    identity.authenticate("T2", lambda: AuthResult("T2", False, "invalid_credentials"))
    identity.authenticate("T2", lambda: AuthResult("T2", False, "invalid_credentials"))
    identity.authenticate("T1", lambda: (False, "expired"))
    identity.authenticate("T3", lambda: False)  # a bare "no" → reason other
    identity.authenticate("T5", lambda: AuthResult("T5", False, "face did not match user 42"))  # free text folds
    identity.authenticate("T9", lambda: AuthResult("T9", False, "bad_totp"))  # unknown tier folds
    identity.authenticate("T4", lambda: None)  # a verifier that cannot say yes says no
    samples = scrape()
    assert value(samples, "lukhas_auth_failures_total", tier="T2", reason="invalid_credentials") == 2
    assert value(samples, "lukhas_auth_failures_total", tier="T1", reason="expired") == 1
    assert value(samples, "lukhas_auth_failures_total", tier="T3", reason="other") == 1
    assert value(samples, "lukhas_auth_failures_total", tier="T5", reason="other") == 1
    assert value(samples, "lukhas_auth_failures_total", tier="other", reason="bad_totp") == 1
    assert value(samples, "lukhas_auth_failures_total", tier="T4", reason="other") == 1
    assert value(samples, "lukhas_auth_latency_seconds_count", tier="other") == 1
    exported = exported_spans(telemetry)
    t1 = only(exported, "identity.authenticate_T1")
    assert t1.attributes["auth.ok"] is False and t1.attributes["auth.reason"] == "expired"
    assert only(exported, "identity.authenticate_T5").attributes["auth.reason"] == "other"
    assert only(exported, "identity.authenticate_other").attributes["tier"] == "other"


def test_verifier_exception_propagates_unchanged_counted_and_redacted(telemetry, raw_spans):
    original = ValueError("password hunter2 rejected by backend")

    def verify():
        _raise(original)

    with pytest.raises(ValueError) as info:
        identity.authenticate("T2", verify)
    assert info.value is original
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "_raise"
    samples = scrape()
    assert value(samples, "lukhas_auth_failures_total", tier="T2", reason="other") == 1
    assert value(samples, "lukhas_auth_latency_seconds_count", tier="T2") == 1
    s = only(exported_spans(telemetry), "identity.authenticate_T2")
    assert s.status == 2
    assert s.events[0]["name"] == "exception"
    assert "hunter2" not in json.dumps(s.events) and "hunter2" not in json.dumps(s.attributes)
    (raw,) = raw_spans.get_finished_spans()
    assert raw.events[0].attributes["exception.type"] == "ValueError"
    assert "hunter2" not in raw.to_json()


def test_decorator_never_sees_credentials(telemetry, raw_spans):
    # distinctive sentinels: a bare 6-digit code could occur by chance inside a timestamp
    secrets = ("hunter2", "$argon2id$v=19$m=65536", "totp-771903", "eyJhbGciOiJIUzI1NiJ9.e30.sig")

    class Tiers:
        @identity.authenticated("T2")
        def authenticate_T2(self, ctx):
            return AuthResult("T2", ctx["password"] == "right", "invalid_credentials")

        @identity.authenticated("T4")
        async def authenticate_T4(self, ctx, *, token):
            await asyncio.sleep(0)
            return AuthResult("T4", False, "invalid_webauthn_response")

    tiers = Tiers()
    assert tiers.authenticate_T2.__name__ == "authenticate_T2"
    result = tiers.authenticate_T2({"user": "ada", "password": secrets[0], "hash": secrets[1], "code": secrets[2]})
    assert result.ok is False and result.reason == "invalid_credentials"
    assert asyncio.run(tiers.authenticate_T4({"response": secrets[2]}, token=secrets[3])).ok is False
    samples = scrape()
    assert value(samples, "lukhas_auth_failures_total", tier="T2", reason="invalid_credentials") == 1
    assert value(samples, "lukhas_auth_failures_total", tier="T4", reason="invalid_webauthn_response") == 1
    body = metrics_text()
    assert lukhas_obs.force_flush()
    with open(telemetry.settings.traces_file, encoding="utf-8") as fh:
        traces = fh.read()
    assert "identity.authenticate_T4" in traces
    raw = "".join(s.to_json() for s in raw_spans.get_finished_spans())
    assert "identity.authenticate_T2" in raw
    for secret in secrets:
        assert secret not in body and secret not in traces and secret not in raw


def test_async_authenticate(telemetry):
    async def verify():
        await asyncio.sleep(0)
        return AuthResult("T4", True, "hardware_key_authenticated")

    assert asyncio.run(identity.authenticate_async("T4", verify)).ok
    assert value(scrape(), "lukhas_auth_latency_seconds_count", tier="T4") == 1


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (AuthResult("T1", True, "ok"), (True, "ok")),
        (AuthResult("T1", False, "expired"), (False, "expired")),
        ((False, "bad_totp"), (False, "bad_totp")),
        ((True, ""), (True, "")),
        (True, (True, "")),
        (False, (False, "other")),
        (None, (False, "other")),
        ("yes", (False, "other")),
        ((1, "x"), (False, "other")),
    ],
)
def test_outcome_parsing(result, expected):
    assert identity.outcome(result) == expected


# -- nesting, acceptance on exported spans, no-op ---------------------------------------------------------------


def test_flow_spans_nest_under_the_callers_span(telemetry):
    with span("request"):
        with memory.add_event(size=3) as event:
            event.indexed()
        with memory.query(k=2):
            pass
        with consciousness.reflect(phase="REFLECT") as r:
            r.anomalies(1)
        with consciousness.dream_step(phase="DREAMING", max_time_ms=10) as step:
            step.backpressure(0.1)
            with memory.add_event(size=4):
                pass
        identity.authenticate("T3", lambda: (True, ""))
    exported = exported_spans(telemetry)
    request = only(exported, "request")
    dream = only(exported, "consciousness.dream.step")
    by_parent = {(s.name, s.parent_id) for s in exported}
    for name in ("memory.query", "consciousness.reflect", "consciousness.dream.step", "identity.authenticate_T3"):
        assert (name, request.span_id) in by_parent, name
    assert ("memory.add_event", request.span_id) in by_parent
    assert ("memory.add_event", dream.span_id) in by_parent  # consolidation inside the dream step
    assert {s.trace_id for s in exported} == {request.trace_id}
    for s in exported:
        if s.name != "request":
            assert s.attributes["component"] in ("memory", "consciousness", "identity")
        assert s.resource["service.name"] == "flows-test" and s.resource["lukhas.lane"] == "candidate"


def test_flows_are_no_ops_when_unconfigured(monkeypatch):
    lukhas_obs.shutdown()
    reads = []
    monkeypatch.setattr(spans, "perf_counter", lambda: reads.append(1) or 0.0)
    with memory.add_event(size=1) as event:
        event.indexed()
        assert event.span is trace.INVALID_SPAN
    with consciousness.reflect() as r:
        assert r.anomalies([1, 2]) == 2
    with consciousness.dream_step() as step:
        assert step.backpressure(2.0) is False  # still validated, silently
    assert identity.authenticate("T1", lambda: (False, "expired")) == (False, "expired")
    assert reads == []


def test_flow_span_error_status_on_dream_failure(telemetry):
    original = RuntimeError("illegal transition")
    with pytest.raises(RuntimeError) as info, consciousness.dream_step(phase="IDLE"):
        _raise(original)
    assert info.value is original
    s = only(exported_spans(telemetry), "consciousness.dream.step")
    assert s.status == StatusCode.ERROR.value
