"""The span fast path against the public SDK path: same spans exported, same processor calls, same drops.

``lukhas_obs.spans`` builds SDK spans itself from the active tracer's pieces (the fast path); ``use_fast_path(False)``
sends every span through the switching tracer's public ``start_span`` instead (the reference). Each scenario runs
once each way on a fresh configuration, with a processor recording its ``on_start``/``_on_ending``/``on_end`` calls
and an in-memory exporter; the exported spans (name, kind, attributes in order, events, status, parent, links,
resource, scope, flags, trace state, drop counts), the call sequences and the drop reports must be identical, with
ids normalised to their order of first appearance (or compared raw when a fixed id generator makes them equal).

Also: an SDK that is not the shape the fast path was verified against (patched here) turns it off and spans still
work; the installed SDK keeps it on; the scope memo stays bounded and never hides a drop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags, TraceState

import lukhas_obs
from lukhas_obs import drops, propagation, spans
from tests.support.hostile import Hostile, RaisingStr

# -- harness ------------------------------------------------------------------------------------------------------


class Recorder(SpanProcessor):
    """Records every call a span processor gets, with what it could see of the span at that moment."""

    def __init__(self, calls: list[tuple[Any, ...]], tag: str = "rec") -> None:
        self.calls = calls
        self.tag = tag

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.calls.append(
            (
                self.tag,
                "start",
                type(span).__name__,
                span.name,
                span.context.span_id,
                span.parent.span_id if span.parent else None,
                span.is_recording(),
                parent_context is None,
                _items(span.attributes),
                span.start_time is not None and span.end_time is None,
                trace.get_current_span() is span,  # the SDK calls on_start before the span is current
            )
        )

    def _on_ending(self, span: Any) -> None:
        self.calls.append((self.tag, "ending", type(span).__name__, span.name, span.end_time is not None))

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append((self.tag, "end", type(span).__name__, span.name, span.context.span_id))


class RaisingOnStart(SpanProcessor):
    """A processor whose ``on_start`` raises (on the first ``failures`` calls)."""

    def __init__(self, calls: list[tuple[Any, ...]], failures: int = 10**9) -> None:
        self.calls = calls
        self.failures = failures

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.calls.append(("raising", "start", span.name))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("processor on_start")


class FixedIds(IdGenerator):
    """Trace and span ids from fixed sequences (so sampling decisions and ids repeat exactly between runs)."""

    def __init__(self, trace_ids: list[int]) -> None:
        self.trace_ids = list(trace_ids)
        self.next_span = 0x1000

    def generate_trace_id(self) -> int:
        return self.trace_ids.pop(0) if self.trace_ids else 0xABC

    def generate_span_id(self) -> int:
        self.next_span += 1
        return self.next_span


class TaggingSampler(Sampler):
    """A sampler the fast path does not know: samples by name, adds an attribute, sets a trace state."""

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        if name.startswith("drop"):
            return SamplingResult(Decision.DROP)
        decision = Decision.RECORD_ONLY if name.startswith("only") else Decision.RECORD_AND_SAMPLE
        return SamplingResult(
            decision, {**(attributes or {}), "sampled.by": "tagger"}, TraceState([("tagger", name[:8])])
        )

    def get_description(self) -> str:
        return "TaggingSampler"


class SameAttributesSampler(Sampler):
    """A sampler the fast path does not know that keeps the span's own attributes (the template is reused)."""

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "SameAttributesSampler"


@dataclass
class Outcome:
    spans: list[tuple[Any, ...]]
    calls: list[tuple[Any, ...]]
    drops: list[tuple[Any, ...]]
    observed: list[Any] = field(default_factory=list)
    fast: bool = False


class Ids:
    """Normalises ids: each distinct value becomes its order of first appearance."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], int] = {}

    def __call__(self, kind: str, value: int | None) -> int | None:
        if value is None:
            return None
        return self.seen.setdefault((kind, value), len(self.seen))


def _normalise_calls(calls: list[tuple[Any, ...]], ids: Ids) -> list[tuple[Any, ...]]:
    out = []
    for call in calls:
        if call[1] == "start" and call[0] != "raising":
            call = (*call[:4], ids("span", call[4]), ids("span", call[5]), *call[6:])
        elif call[1] == "end":
            call = (*call[:4], ids("span", call[4]))
        out.append(call)
    return out


def _context(ctx: SpanContext | None, ids: Ids | None) -> tuple[Any, ...] | None:
    if ctx is None:
        return None
    trace_id = ids("trace", ctx.trace_id) if ids else ctx.trace_id
    span_id = ids("span", ctx.span_id) if ids else ctx.span_id
    return (trace_id, span_id, ctx.is_remote, int(ctx.trace_flags), tuple(ctx.trace_state.items()), ctx.is_valid)


def _items(attributes: Any) -> tuple[tuple[str, Any], ...]:
    """Attributes in order, each value with its type (``1 == True``), NaN as a marker (``nan != nan``)."""
    return tuple(
        (key, type(value).__name__, "NaN" if isinstance(value, float) and value != value else value)
        for key, value in attributes.items()
    )


def _exported(span: ReadableSpan, ids: Ids | None, resource: Any) -> tuple[Any, ...]:
    assert span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time
    scope = span.instrumentation_scope
    return (
        span.name,
        span.kind,
        _context(span.context, ids),
        _context(span.parent, ids),
        _items(span.attributes),
        span.dropped_attributes,
        getattr(span._attributes, "_immutable", None),  # frozen at end(), as the SDK's end() does
        tuple((e.name, _items(e.attributes)) for e in span.events),
        span.dropped_events,
        tuple((_context(link.context, ids), _items(link.attributes)) for link in span.links),
        span.dropped_links,
        (span.status.status_code, span.status.description),
        span.resource is resource,  # the provider's own resource; its instance id differs per configuration
        tuple((k, v) for k, v in span.resource.attributes.items() if k != "service.instance.id"),
        span.resource.schema_url,
        (scope.name, scope.version, scope.schema_url, scope.attributes) if scope else None,
        type(span).__name__,
    )


def run_once(
    scenario: Callable[[], Any],
    *,
    fast: bool,
    sampler: Sampler | None = None,
    id_generator: IdGenerator | None = None,
    processors: Callable[[list[tuple[Any, ...]]], list[SpanProcessor]] | None = None,
    normalise: bool = True,
) -> Outcome:
    """``scenario`` on a fresh configuration, the fast path on or off; what the processors and exporter saw."""
    lukhas_obs.shutdown()
    spans.use_fast_path(fast)
    calls: list[tuple[Any, ...]] = []
    reported: list[tuple[Any, ...]] = []
    original_report = drops.report

    def report(where: str, reason: str, detail: str = "", *, attribute: bool = False) -> None:
        reported.append((where, reason, detail, attribute))
        original_report(where, reason, detail, attribute=attribute)

    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", reconfigure=True)
    try:
        provider = telemetry.tracer_provider
        tracer = provider.get_tracer(spans.SCOPE)  # the helpers' SDK tracer (the switching tracer delegates to it)
        if sampler is not None:
            tracer.sampler = sampler
        if id_generator is not None:
            tracer.id_generator = id_generator
        memory = InMemorySpanExporter()
        for processor in processors(calls) if processors else [Recorder(calls)]:
            provider.add_span_processor(processor)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        drops.report = report  # type: ignore[assignment]
        try:
            observed = scenario()
        finally:
            drops.report = original_report  # type: ignore[assignment]
        active = spans.fast_path_active()
        ids = Ids() if normalise else None
        exported = [_exported(s, ids, provider.resource) for s in memory.get_finished_spans()]
        calls_seen = _normalise_calls(calls, ids) if ids else calls
        return Outcome(exported, calls_seen, reported, list(observed or []), active)
    finally:
        spans.use_fast_path(True)
        lukhas_obs.shutdown()


def assert_same(scenario: Callable[[], Any], *, allow_no_spans: bool = False, **options: Any) -> Outcome:
    """Run ``scenario`` both ways; everything observable must be identical. Returns the fast path's outcome."""
    if "id_generator" in options:  # each run gets its own copy of the fixed ids
        make = options.pop("id_generator")
        fast = run_once(scenario, fast=True, id_generator=make(), **options)
        public = run_once(scenario, fast=False, id_generator=make(), **options)
    else:
        fast = run_once(scenario, fast=True, **options)
        public = run_once(scenario, fast=False, **options)
    _compare(fast, public, allow_no_spans)
    return fast


def _compare(fast: Outcome, public: Outcome, allow_no_spans: bool = False) -> None:
    assert fast.fast, "the fast path did not run"
    assert not public.fast
    assert fast.spans == public.spans
    assert fast.calls == public.calls
    assert fast.drops == public.drops
    assert fast.observed == public.observed
    assert fast.spans or allow_no_spans, "the scenario exported nothing: it tests nothing"


def _attrs(exported: tuple[Any, ...]) -> dict[str, Any]:
    """The attributes of one exported-span tuple as a dict."""
    return {key: value for key, _type, value in exported[4]}


@pytest.fixture(autouse=True)
def _fast_path_restored() -> Iterator[None]:
    yield
    spans.use_fast_path(True)


# -- scenarios ------------------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str of an exception")


class Interrupt(BaseException):
    pass


def _raise(exc: BaseException) -> None:
    raise exc


def nested_with_attributes_of_every_type() -> list[Any]:
    seen = []
    with lukhas_obs.span(
        "outer",
        text="plain",
        accented="café ✓",
        surrogate="bad \udcff end",
        flag=True,
        number=-(2**63),
        big=2**64,  # outside int64: dropped, counted
        ratio=0.25,
        negative_zero=-0.0,
        nan=float("nan"),
        nothing=None,
        texts=["a", "b"],
        numbers=(1, 2, 3),
        mixed=[1, "a"],  # not homogeneous: dropped
        mapping={"a": 1},  # not an OTel value: dropped
        raw_bytes=b"x",
        hostile_text=RaisingStr("hostile"),
        hostile=Hostile(),
    ) as outer:
        seen.append(trace.get_current_span() is outer)
        with lukhas_obs.span("memory.query", k=8) as inner:  # a declared span: gets the catalog component
            seen.append(trace.get_current_span() is inner)
            seen.append(inner.parent.span_id == outer.get_span_context().span_id)
            inner.set_attribute("late", "set inside")
            inner.add_event("note", {"n": 1})
        seen.append(trace.get_current_span() is outer)
    seen.append(trace.get_current_span() is trace.INVALID_SPAN)
    return seen


def exceptions_of_every_kind() -> list[Any]:
    seen = []
    for exc in (Boom("plain message"), Unprintable(), ValueError("secret=hunter2")):
        try:
            with lukhas_obs.span("fails", redact_exceptions=isinstance(exc, ValueError)):
                _raise(exc)
        except Exception as caught:
            seen.append(caught is exc)
    try:
        with lukhas_obs.span("interrupted"):
            _raise(Interrupt())
    except Interrupt:
        seen.append("interrupt")
    return seen


def timed_flows() -> list[Any]:
    @lukhas_obs.timed("lukhas_memory_search_seconds", span_name="memory.query", k=8)
    def search(fail: bool) -> str:
        if fail:
            raise Boom("search failed")
        return trace.get_current_span().name

    @lukhas_obs.timed("lukhas_auth_latency_seconds", failures="lukhas_auth_failures_total", tier="T2")
    def login() -> None:
        raise PermissionError("denied")

    seen = [search(False)]
    for fn in (lambda: search(True), login):
        try:
            fn()
        except Exception as exc:
            seen.append(type(exc).__name__)
    with lukhas_obs.timed("lukhas_memory_search_seconds") as s:  # span name from the metric
        seen.append(s.name)
    return seen


def generators_and_coroutines() -> list[Any]:
    seen: list[Any] = []

    @lukhas_obs.span("gen", kind="sync")
    def gen() -> Iterator[str]:
        for i in range(3):
            yield trace.get_current_span().name + str(i)

    @lukhas_obs.span("coro")
    async def coro() -> str:
        await asyncio.sleep(0)
        return trace.get_current_span().name

    @lukhas_obs.span("agen")
    async def agen():  # type: ignore[no-untyped-def]
        for i in range(2):
            yield trace.get_current_span().name + str(i)
            await asyncio.sleep(0)

    async def consume() -> list[str]:
        out = [await coro()]
        out += [x async for x in agen()]
        async with lukhas_obs.span("async-with") as s:
            out.append(trace.get_current_span() is s)
        return out

    with lukhas_obs.span("holder"):
        seen += list(gen())
        seen.append(trace.get_current_span().name)  # the consumer's code is not attributed to the generator
    seen += asyncio.run(consume())
    partial = gen()
    seen.append(next(partial))
    partial.close()
    return seen


def user_calls_on_the_span() -> list[Any]:
    seen = []
    with lukhas_obs.span("edited", k=1) as s:
        s.set_attributes({"a": 1, "b": "two"})
        s.set_status(Status(StatusCode.OK))
        s.update_name("renamed")
        s.add_link(SpanContext(0x77, 0x78, True, TraceFlags(1)), {"why": "batch"})
        seen.append(s.is_recording())
    with lukhas_obs.span("ended-early") as s:
        s.end()  # the helper's own end() is then the SDK's "already ended" warning
        seen.append(not s.is_recording())
    return seen


def third_party_inside_and_outside() -> list[Any]:
    third = trace.get_tracer("third.party")
    seen = []
    with lukhas_obs.span("ours") as ours, third.start_as_current_span("theirs") as theirs:
        seen.append(theirs.parent.span_id == ours.get_span_context().span_id)
        with lukhas_obs.span("ours-again") as again:
            seen.append(again.parent.span_id == theirs.get_span_context().span_id)
    with third.start_as_current_span("their-root"), lukhas_obs.span("our-child") as child:
        seen.append(child.parent is not None)
    return seen


def remote_parents() -> list[Any]:
    seen = []
    for flags in ("01", "00"):
        carrier = {
            "traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}",
            "tracestate": "vendor=value,other=x",
        }
        token = otel_context.attach(propagation.extract(carrier))
        try:
            with lukhas_obs.span(f"remote-child-{flags}") as s:
                seen.append(s.is_recording() == s.get_span_context().trace_flags.sampled)
                seen.append(s.get_span_context().trace_state.get("vendor") == "value")
                with lukhas_obs.span(f"grandchild-{flags}") as g:
                    seen.append(g.is_recording() == s.is_recording())
        finally:
            otel_context.detach(token)
    return seen


def many_roots() -> list[Any]:
    seen = []
    for i in range(12):
        with lukhas_obs.span(f"root-{i}") as s:
            seen.append(s.is_recording())
            with lukhas_obs.span("child") as c:
                seen.append(c.is_recording())
    return seen


def interleaved_tasks() -> list[Any]:
    """Two asyncio tasks with spans open across awaits: each child's parent is its own task's span."""

    async def worker(name: str) -> bool:
        with lukhas_obs.span(f"task-{name}") as outer:
            await asyncio.sleep(0)
            with lukhas_obs.span(f"step-{name}") as step:
                await asyncio.sleep(0)
                ok = step.parent.span_id == outer.get_span_context().span_id
            await asyncio.sleep(0)
            return ok and trace.get_current_span() is outer

    async def both() -> list[bool]:
        return list(await asyncio.gather(worker("a"), worker("b")))

    return asyncio.run(both())


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def exit_in_another_context() -> list[Any]:
    """A scope entered in one context and exited in a copy: the SDK's detach logs its failure; the span still ends
    and the caller's context is left as the SDK leaves it."""
    import contextvars

    capture = _Capture()
    logger = logging.getLogger("opentelemetry.context")
    logger.addHandler(capture)
    try:
        scope = lukhas_obs.span("crossed")
        inner = scope.__enter__()
        contextvars.copy_context().run(scope.__exit__, None, None, None)
        still_current = trace.get_current_span() is inner
        otel_context.attach(otel_context.Context())  # leave the test's context clean
    finally:
        logger.removeHandler(capture)
    return [still_current, capture.messages == ["Failed to detach context"], not inner.is_recording()]


# -- the differential tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [
        nested_with_attributes_of_every_type,
        exceptions_of_every_kind,
        timed_flows,
        generators_and_coroutines,
        user_calls_on_the_span,
        third_party_inside_and_outside,
        remote_parents,
        many_roots,
        interleaved_tasks,
        exit_in_another_context,
    ],
)
def test_fast_path_exports_what_the_public_path_exports(scenario, caplog):
    caplog.set_level(logging.WARNING)
    outcome = assert_same(scenario)
    assert all(outcome.observed), outcome.observed  # every check inside the scenario held (on both paths)


def test_the_nested_scenario_checks_what_it_claims():
    """Guard against a vacuous differential: the fast path's spans carry the hostile mix the way the SDK would."""
    outcome = run_once(nested_with_attributes_of_every_type, fast=True)
    by_name = {s[0]: s for s in outcome.spans}
    outer = _attrs(by_name["outer"])
    assert outer["surrogate"] == "bad \ufffd end" and outer["numbers"] == (1, 2, 3) and "big" not in outer
    assert "hostile" not in outer and "mapping" not in outer and outer["hostile_text"] == "hostile"
    assert _attrs(by_name["memory.query"])["component"] == "memory"
    assert by_name["memory.query"][3][1] == by_name["outer"][2][1]  # parent is outer
    assert {r[1] for r in outcome.drops} >= {"out_of_range", "invalid_attribute_value"}
    assert [c[1] for c in outcome.calls if c[0] == "rec"] == ["start", "start", "ending", "end", "ending", "end"]


@pytest.mark.parametrize(
    "sampler",
    [
        ParentBasedTraceIdRatio(0.5),
        TraceIdRatioBased(0.5),
        ParentBased(ALWAYS_OFF),
        ParentBased(TraceIdRatioBased(0.5), local_parent_sampled=ALWAYS_OFF, local_parent_not_sampled=ALWAYS_ON),
        ALWAYS_OFF,
        StaticSampler(Decision.RECORD_ONLY),
        TaggingSampler(),
        SameAttributesSampler(),
    ],
    ids=lambda s: type(s).__name__ if not isinstance(s, ParentBased) else s.get_description()[:40],
)
def test_sampling_decisions_are_the_samplers(sampler):
    """Fixed trace ids, half below the 0.5 ratio bound: sampled and unsampled roots, children following (or not)
    their parent, remote parents; raw ids compared (no normalisation needed: both runs get the same ids)."""
    low, high = 0x1111, 0xFFFF_FFFF_FFFF_FFF0

    def ids() -> FixedIds:
        return FixedIds([low, high] * 20)

    def scenario() -> list[Any]:
        return many_roots() + remote_parents() + [s for s in ("drop-me", "only-recorded") if _one(s)]

    outcome = assert_same(scenario, sampler=sampler, id_generator=ids, normalise=False, allow_no_spans=True)
    assert outcome.observed  # the scenario ran its checks


def _one(name: str) -> bool:
    with lukhas_obs.span(name) as s:
        return bool(s.is_recording())


def test_sampling_really_samples_both_ways():
    """The ratio sampler with the fixed ids yields sampled and unsampled roots (the test above is not vacuous)."""
    outcome = run_once(many_roots, fast=True, sampler=ParentBasedTraceIdRatio(0.5), id_generator=FixedIds(
        [0x1111, 0xFFFF_FFFF_FFFF_FFF0] * 20), normalise=False)
    recorded = outcome.observed
    assert True in recorded and False in recorded
    assert len(outcome.spans) == 12  # 6 sampled roots + their children


def test_custom_sampler_attributes_and_trace_state_reach_the_span():
    outcome = run_once(lambda: [_one("kept"), _one("only-x"), _one("drop-x")], fast=True, sampler=TaggingSampler())
    assert outcome.observed == [True, True, False]
    (kept,) = outcome.spans  # RECORD_ONLY is recorded but not exported by SimpleSpanProcessor
    assert _attrs(kept)["sampled.by"] == "tagger" and kept[2][4] == (("tagger", "kept"),)
    assert next(c for c in outcome.calls if c[3] == "only-x")[:4] == ("rec", "start", "_Span", "only-x")


def test_span_limits_are_honoured(monkeypatch):
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "1")
    monkeypatch.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "1")

    def scenario() -> list[Any]:
        with lukhas_obs.span("limited", a="123456", b="x", c=1, d=2, e=3) as s:
            s.add_event("one")
            s.add_event("two")
            s.add_link(SpanContext(0x71, 0x72, False))
            s.add_link(SpanContext(0x73, 0x74, False))
        return [True]

    outcome = assert_same(scenario)
    (limited,) = outcome.spans
    assert _attrs(limited) == {"c": 1, "d": 2, "e": 3} and limited[5] > 0  # oldest dropped, counted
    assert limited[8] == 1 and limited[10] == 1


def test_a_raising_processor_is_handled_alike(caplog):
    caplog.set_level(logging.CRITICAL)

    def processors(calls: list[tuple[Any, ...]]) -> list[SpanProcessor]:
        return [Recorder(calls, "first"), RaisingOnStart(calls, failures=1), Recorder(calls, "last")]

    def scenario() -> list[Any]:
        seen = []
        for name in ("a", "b"):
            with lukhas_obs.span(name) as s:
                seen.append(s.is_recording())
        return seen

    outcome = assert_same(scenario, processors=processors)
    assert outcome.observed == [True, True]
    assert [c[:3] for c in outcome.calls if c[1] == "start"][:3] == [
        ("first", "start", "_Span"),
        ("raising", "start", "a"),
        ("first", "start", "_Span"),  # the switching tracer's retry
    ]


def test_an_always_raising_processor_gives_an_invalid_span_counted_alike(caplog):
    caplog.set_level(logging.CRITICAL)

    def processors(calls: list[tuple[Any, ...]]) -> list[SpanProcessor]:
        return [RaisingOnStart(calls)]

    def scenario() -> list[Any]:
        with lukhas_obs.span("x") as s:
            return [s is trace.INVALID_SPAN]

    fast = run_once(scenario, fast=True, processors=processors)
    public = run_once(scenario, fast=False, processors=processors)
    assert fast.observed == public.observed == [True]
    assert fast.calls == public.calls and len(fast.calls) == 2
    assert fast.drops == public.drops and ("tracer", "invalid_span") in {d[:2] for d in fast.drops}


def test_a_disabled_tracer_config_gives_non_recording_spans():
    from opentelemetry.sdk.trace import _TracerConfig

    def scenario() -> list[Any]:
        lukhas_obs.active().tracer_provider.get_tracer(spans.SCOPE)._set_tracer_config(_TracerConfig(False))
        with lukhas_obs.span("off") as s:
            return [not s.is_recording()]

    assert_same(scenario, allow_no_spans=True)


def test_a_replaced_tracer_attribute_is_picked_up_mid_run():
    """The fast path re-derives when a tracer attribute changes (here the sampler, between two spans)."""

    def scenario() -> list[Any]:
        seen = [_one("before")]
        lukhas_obs.active().tracer_provider.get_tracer(spans.SCOPE).sampler = ALWAYS_OFF
        seen.append(not _one("after"))
        return seen

    outcome = assert_same(scenario)
    assert [s[0] for s in outcome.spans] == ["before"]


def test_an_unsampled_local_parent_gives_unsampled_children():
    def scenario() -> list[Any]:
        parent = trace.NonRecordingSpan(SpanContext(0x55, 0x56, False, TraceFlags(0)))
        with trace.use_span(parent):
            return [not _one("child-of-unsampled")]

    assert_same(scenario, allow_no_spans=True)


# -- the fallback when the SDK is not what the fast path expects ----------------------------------------------


def _works_through_public_path() -> None:
    memory = InMemorySpanExporter()
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", reconfigure=True)
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        assert not spans.fast_path_active()
        with lukhas_obs.span("outer", k=1) as outer, lukhas_obs.span("inner") as inner:
            assert trace.get_current_span() is inner
        finished = {s.name: s for s in memory.get_finished_spans()}
        assert finished["inner"].parent.span_id == outer.get_span_context().span_id
        assert dict(finished["outer"].attributes) == {"k": 1}
    finally:
        lukhas_obs.shutdown()


def test_a_changed_sdk_span_constructor_turns_the_fast_path_off(monkeypatch):
    original = SdkSpan.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:  # a future SDK with one more field
        original(self, *args, **kwargs)
        self._creation_thread = "main"

    monkeypatch.setattr(SdkSpan, "__init__", patched)
    _works_through_public_path()


def test_a_span_field_the_fast_path_does_not_know_turns_it_off(monkeypatch):
    """Even with a fingerprint that matches (say, a field added by a helper the fingerprint does not cover)."""
    original = SdkSpan._new_links

    def new_links(self: Any, links: Any) -> Any:
        self._extra = 1
        return original(self, links)

    monkeypatch.setattr(SdkSpan, "_new_links", new_links)
    monkeypatch.setattr(spans, "KNOWN_SDK_FINGERPRINTS", frozenset({spans.sdk_fingerprint()}))
    _works_through_public_path()


def test_an_unverified_sdk_version_turns_the_fast_path_off(monkeypatch):
    monkeypatch.setattr(spans, "KNOWN_SDK_FINGERPRINTS", frozenset())
    _works_through_public_path()


def test_another_runtime_context_turns_the_fast_path_off(monkeypatch):
    class Wrapped(type(otel_context._RUNTIME_CONTEXT)):  # type: ignore[misc]
        pass

    wrapped = Wrapped()
    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", wrapped)
    _works_through_public_path()


def test_a_tracer_that_is_not_the_sdks_turns_the_fast_path_off(monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider

    original = TracerProvider.get_tracer

    class Wrapper(trace.Tracer):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def start_span(self, *args: Any, **kwargs: Any) -> Any:
            return self.inner.start_span(*args, **kwargs)

        def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
            return self.inner.start_as_current_span(*args, **kwargs)

    monkeypatch.setattr(TracerProvider, "get_tracer", lambda self, *a, **k: Wrapper(original(self, *a, **k)))
    _works_through_public_path()


def test_the_fast_path_is_on_for_the_verified_sdk():
    """Fails when the installed SDK is a verified version whose shape no longer matches (investigate), and says so
    plainly when the SDK is a version the fast path was not verified against (then it is off: speed only)."""
    version = metadata.version("opentelemetry-sdk")
    if not version.startswith("1.45."):
        pytest.skip(f"opentelemetry-sdk {version}: the span fast path is verified against 1.45.x only")
    lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    assert spans.fast_path_active(), spans.sdk_fingerprint()


def test_no_configuration_means_no_fast_path_and_no_span():
    lukhas_obs.shutdown()
    assert not spans.fast_path_active()
    with lukhas_obs.span("nothing") as s:
        assert s is trace.INVALID_SPAN


def test_the_pieces_follow_a_reconfiguration():
    first = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", reconfigure=True)
    memory = InMemorySpanExporter()
    first.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    with lukhas_obs.span("one"):
        pass
    second = lukhas_obs.configure(prometheus_port=0, traces_exporter="none", service="other", reconfigure=True)
    assert second.tracer_provider is not first.tracer_provider
    memory2 = InMemorySpanExporter()
    second.tracer_provider.add_span_processor(SimpleSpanProcessor(memory2))
    with lukhas_obs.span("two"):
        pass
    assert [s.name for s in memory.get_finished_spans()] == ["one"]
    (two,) = memory2.get_finished_spans()
    assert two.resource.attributes["service.name"] == "other"


# -- the scope memo -------------------------------------------------------------------------------------------------


def test_the_scope_memo_is_bounded(exporter):
    for i in range(spans.MAX_PREPARED * 3):
        with lukhas_obs.span("memo", i=i, text="t" * 64):
            pass
    assert 0 < len(spans._prepared_memo) <= spans.MAX_PREPARED
    assert len(exporter.get_finished_spans()) == spans.MAX_PREPARED * 3


def test_long_or_hostile_values_are_not_memoised(exporter):
    before = len(spans._prepared_memo)
    with lukhas_obs.span("long", text="x" * (spans.MEMO_MAX_TEXT + 1)):
        pass
    with lukhas_obs.span("hostile", text=RaisingStr("h")):
        pass
    with lukhas_obs.span("many", **{f"k{i}": i for i in range(spans.MEMO_MAX_ATTRIBUTES + 1)}):
        pass
    assert len(spans._prepared_memo) == before


def test_a_drop_is_counted_on_every_use_not_once_per_memo_entry(exporter, monkeypatch):
    reported: list[str] = []
    monkeypatch.setattr(drops, "report", lambda where, reason, detail="", attribute=False: reported.append(reason))
    for _ in range(3):
        with lukhas_obs.span("dropper", big=2**70, fine=1):
            pass
    assert reported == ["out_of_range"] * 3


def test_equal_but_different_values_are_not_merged_by_the_memo(exporter):
    """``True == 1 == 1.0`` and ``0.0 == -0.0`` to Python; each span keeps its own value and type."""
    for value in (1, True, 1.0, 0.0, -0.0, 1):
        with lukhas_obs.span("same-key", v=value):
            pass
    got = [s.attributes["v"] for s in exporter.get_finished_spans()]
    assert [(type(v), repr(v)) for v in got] == [
        (int, "1"),
        (bool, "True"),
        (float, "1.0"),
        (float, "0.0"),
        (float, "-0.0"),
        (int, "1"),
    ]


def test_threads_each_get_their_own_parents(exporter):
    """Spans from several threads at once through the fast path: every child's parent is its own thread's span."""
    import threading

    assert spans.fast_path_active()
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(200):
            with lukhas_obs.span(f"t{n}", i=i) as outer, lukhas_obs.span(f"t{n}.child") as child:
                if child.parent.span_id != outer.get_span_context().span_id:
                    errors.append(f"{n}/{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    finished = exporter.get_finished_spans()
    assert len(finished) == 4 * 200 * 2
    by_id = {s.context.span_id: s for s in finished}
    for s in finished:
        if s.name.endswith(".child"):
            assert by_id[s.parent.span_id].name == s.name[: -len(".child")]


# -- the benchmark runs -----------------------------------------------------------------------------------------------


def test_the_span_benchmark_runs_and_reports_every_ratio(tmp_path):
    """A smoke run (one tiny batch per case, in a subprocess as a user runs it): no timing is asserted."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "spans.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_spans", "--repeats", "1", "--batch-ms", "2", "--json", str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert len(report["medians_ns"]) == 11 and all(v > 0 for v in report["medians_ns"].values())
    assert len(report["ratios"]) == 7 and all(v > 0 for v in report["ratios"].values())
    assert "timed: lukhas / raw OTel (target <= 0.4)" in proc.stdout
