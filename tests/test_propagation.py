"""lukhas_obs.propagation: W3C traceparent inject/extract, continue_trace, and a real trace across two processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import traceback

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

import lukhas_obs
from lukhas_obs.propagation import continue_trace, extract, inject
from lukhas_obs.spans import span


def test_inject_writes_traceparent_of_the_current_span(exporter):
    carrier = {"x-other": "kept"}
    with span("caller") as caller:
        returned = inject(carrier)
    assert returned is carrier and carrier["x-other"] == "kept"
    version, trace_id, span_id, flags = carrier["traceparent"].split("-")
    ctx = caller.get_span_context()
    assert version == "00" and int(flags, 16) & 0x01  # sampled (0x02, "random trace id", may be set too)
    assert trace_id == f"{ctx.trace_id:032x}" and span_id == f"{ctx.span_id:016x}"


def test_inject_outside_a_span_or_unconfigured_writes_nothing(exporter):
    assert inject() == {}
    lukhas_obs.shutdown()
    with span("not recorded"):
        assert inject({}) == {}


def test_extract_gives_a_remote_parent(exporter):
    with span("caller"):
        carrier = inject()
    remote = trace.get_current_span(extract(carrier)).get_span_context()
    assert remote.is_remote and remote.is_valid
    assert f"{remote.trace_id:032x}" == carrier["traceparent"].split("-")[1]


@pytest.mark.parametrize("carrier", [None, {}, {"traceparent": "garbage"}, {"traceparent": 42}])
def test_missing_or_malformed_carrier_yields_a_fresh_trace(exporter, carrier):
    assert not trace.get_current_span(extract(carrier)).get_span_context().is_valid
    with continue_trace(carrier), span("fresh"):
        pass
    (fresh,) = exporter.get_finished_spans()
    assert fresh.parent is None


def test_continue_trace_parents_spans_on_the_remote_span(exporter):
    with span("caller") as caller:
        carrier = inject()
    headers = {"Traceparent": carrier["traceparent"]}  # frameworks capitalise header names
    with continue_trace(headers), span("callee"):
        pass
    callee = next(s for s in exporter.get_finished_spans() if s.name == "callee")
    assert callee.context.trace_id == caller.get_span_context().trace_id
    assert callee.parent.span_id == caller.get_span_context().span_id
    assert callee.parent.is_remote


def test_header_values_given_as_lists_are_read(exporter):
    with span("caller") as caller:
        carrier = inject()
    with continue_trace({"traceparent": [carrier["traceparent"]]}), span("callee"):
        pass
    callee = next(s for s in exporter.get_finished_spans() if s.name == "callee")
    assert callee.parent.span_id == caller.get_span_context().span_id


def test_continue_trace_restores_context_and_passes_exceptions_unchanged(exporter):
    before = otel_context.get_current()
    with span("caller"):
        carrier = inject()
    original = KeyError("k")

    def fail():
        raise original

    with pytest.raises(KeyError) as info, continue_trace(carrier):
        fail()
    assert info.value is original
    assert traceback.extract_tb(info.value.__traceback__)[-1].name == "fail"
    assert otel_context.get_current() == before


def test_trace_continues_in_another_process(tmp_path, exporter):
    """A real second Python process continues the trace; its spans land in its own OTLP/JSON trace file."""
    traces = tmp_path / "child.jsonl"
    child = textwrap.dedent(
        f"""
        import json, sys
        import lukhas_obs
        from lukhas_obs.propagation import continue_trace
        from lukhas_obs.spans import span
        lukhas_obs.configure(service="child", serve_metrics=False, traces_exporter="file", traces_file={str(traces)!r})
        with continue_trace(json.loads(sys.stdin.read())):
            with span("memory.query", k=3):
                pass
        lukhas_obs.shutdown()
        """
    )
    with span("parent.request") as parent:
        carrier = inject()
    done = subprocess.run(
        [sys.executable, "-c", child], input=json.dumps(carrier), text=True, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    exported = [
        (resource_spans, s)
        for line in traces.read_text().splitlines()
        for resource_spans in json.loads(line)["resourceSpans"]
        for scope in resource_spans["scopeSpans"]
        for s in scope["spans"]
    ]
    (resource_spans, child_span), *_ = exported
    ctx = parent.get_span_context()
    assert child_span["name"] == "memory.query"
    assert child_span["traceId"] == f"{ctx.trace_id:032x}"
    assert child_span["parentSpanId"] == f"{ctx.span_id:016x}"
    resource = {a["key"]: a["value"].get("stringValue") for a in resource_spans["resource"]["attributes"]}
    assert resource["service.name"] == "child"
