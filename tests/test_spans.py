"""lukhas_obs.spans: span()/timed() as context managers and decorators, exceptions, attributes, no-op cost."""

from __future__ import annotations

import asyncio
import threading
import traceback
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import spans
from lukhas_obs.spans import sanitize_attributes, span, timed


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels without lane/service): value}`` from a real HTTP GET of /metrics."""
    url = lukhas_obs.active().metrics_url
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("lane", "service")))
            out[(s.name, labels)] = s.value
    return out


def by_name(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {s.name: s for s in exporter.get_finished_spans()}


class Boom(Exception):
    pass


def _raise(exc: BaseException) -> None:
    raise exc


def assert_unchanged(caught: BaseException, original: BaseException) -> None:
    """Same object, raised from the user's frame, nothing chained by the helper."""
    assert caught is original
    assert traceback.extract_tb(caught.__traceback__)[-1].name == "_raise"
    assert caught.__context__ is None and caught.__cause__ is None


# -- context manager ------------------------------------------------------------------------------------------------


def test_context_manager_nests_and_adds_catalog_component(exporter):
    with span("request", route="/x") as outer:
        assert outer.is_recording()
        with span("memory.query", k=8) as inner:
            assert trace.get_current_span() is inner
    spans_ = by_name(exporter)
    request, query = spans_["request"], spans_["memory.query"]
    assert query.parent.span_id == request.context.span_id
    assert query.context.trace_id == request.context.trace_id
    assert dict(query.attributes) == {"k": 8, "component": "memory"}  # declared span → component
    assert dict(request.attributes) == {"route": "/x"}  # undeclared → no component
    assert request.resource.attributes["service.name"] == "lukhas"
    assert request.resource.attributes["lukhas.lane"] == "candidate"


def test_template_span_names_get_their_family_component(exporter):
    with span("identity.authenticate_T4"):
        pass
    assert by_name(exporter)["identity.authenticate_T4"].attributes["component"] == "identity"


def test_exception_in_with_block_is_recorded_and_reraised_unchanged(exporter):
    original = Boom("kaput")
    with pytest.raises(Boom) as info, span("work"):
        _raise(original)
    assert_unchanged(info.value, original)
    work = by_name(exporter)["work"]
    assert work.status.status_code is StatusCode.ERROR
    (event,) = work.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("Boom")
    assert event.attributes["exception.message"] == "kaput"


def test_redacted_exceptions_keep_only_the_type(exporter):
    with pytest.raises(Boom), span("auth", redact_exceptions=True):
        _raise(Boom("password was hunter2"))
    auth = by_name(exporter)["auth"]
    assert auth.status.status_code is StatusCode.ERROR
    assert "hunter2" not in repr(auth.to_json())
    assert auth.events[0].attributes["exception.type"].endswith("Boom")


def test_one_scope_object_entered_twice_keeps_entries_paired(exporter):
    scope = span("again")
    with scope as outer, scope as inner:
        assert inner.parent.span_id == outer.get_span_context().span_id
    lukhas_obs.shutdown()  # a nested entry made while telemetry is off pairs with its own exit
    lukhas_obs.configure(prometheus_port=0, traces_exporter="none", reconfigure=True)
    with scope as live:
        lukhas_obs.shutdown()
        with scope as off:
            assert off is trace.INVALID_SPAN
        assert live.is_recording()  # the inner exit did not end the outer span
    assert not live.is_recording()


def test_async_with(exporter):
    async def main():
        async with span("async.block") as s:
            assert s.is_recording()
            await asyncio.sleep(0)

    asyncio.run(main())
    assert "async.block" in by_name(exporter)


# -- decorators -----------------------------------------------------------------------------------------------------


def test_decorated_function_returns_value_and_keeps_metadata(exporter):
    @span("compute", x=1)
    def compute(a, b=2):
        """Adds."""
        with span("inner"):
            return a + b

    assert compute(1, b=3) == 4
    assert compute.__name__ == "compute" and compute.__doc__ == "Adds."
    spans_ = by_name(exporter)
    assert spans_["inner"].parent.span_id == spans_["compute"].context.span_id


def test_decorated_function_exception_unchanged(exporter):
    original = Boom()

    @span("fails")
    def fails():
        _raise(original)

    with pytest.raises(Boom) as info:
        fails()
    assert_unchanged(info.value, original)
    assert by_name(exporter)["fails"].status.status_code is StatusCode.ERROR


def test_decorated_coroutine(exporter):
    original = Boom()

    @span("coro")
    async def coro(fail: bool):
        await asyncio.sleep(0.01)
        with span("coro.child"):
            pass
        if fail:
            _raise(original)
        return "ok"

    assert asyncio.run(coro(False)) == "ok"
    with pytest.raises(Boom) as info:
        asyncio.run(coro(True))
    assert_unchanged(info.value, original)
    finished = [s for s in exporter.get_finished_spans() if s.name == "coro"]
    assert [s.status.status_code for s in finished] == [StatusCode.UNSET, StatusCode.ERROR]
    assert all((s.end_time - s.start_time) >= 10_000_000 for s in finished)  # covers the await
    child = next(s for s in exporter.get_finished_spans() if s.name == "coro.child")
    assert child.parent.span_id == finished[0].context.span_id


def test_concurrent_coroutines_keep_their_own_spans(exporter):
    @span("task")
    async def task(n: int):
        await asyncio.sleep(0.001 * (5 - n))
        with span("task.child", n=n):
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(task(n) for n in range(5)))

    asyncio.run(main())
    finished = exporter.get_finished_spans()
    parents = {s.context.span_id for s in finished if s.name == "task"}
    children = [s for s in finished if s.name == "task.child"]
    assert len(parents) == 5 and len(children) == 5
    assert {c.parent.span_id for c in children} == parents


def test_decorated_generator_span_covers_iteration_but_not_the_consumer(exporter):
    @span("gen")
    def gen(n):
        for i in range(n):
            with span("gen.item", i=i):
                pass
            yield i
        return "done"

    with span("caller"):
        seen = []
        for item in gen(3):
            with span("consumer", item=item):  # the consumer's work is not inside the generator's span
                seen.append(item)
    assert seen == [0, 1, 2]
    spans_ = exporter.get_finished_spans()
    gen_span = next(s for s in spans_ if s.name == "gen")
    caller = next(s for s in spans_ if s.name == "caller")
    assert gen_span.parent.span_id == caller.context.span_id
    assert all(s.parent.span_id == gen_span.context.span_id for s in spans_ if s.name == "gen.item")
    assert all(s.parent.span_id == caller.context.span_id for s in spans_ if s.name == "consumer")
    items = [s for s in spans_ if s.name == "gen.item"]
    assert gen_span.start_time <= items[0].start_time and items[-1].end_time <= gen_span.end_time


def test_generator_send_throw_close_and_return_value(exporter):
    @span("echo")
    def echo():
        received = []
        try:
            while True:
                try:
                    value = yield len(received)
                    received.append(value)
                except KeyError:
                    received.append("caught")
        finally:
            received.append("closed")

    g = echo()
    assert next(g) == 0
    assert g.send("a") == 1
    assert g.throw(KeyError("k")) == 2  # handled inside the generator: not a failure
    g.close()
    (echo_span,) = [s for s in exporter.get_finished_spans() if s.name == "echo"]
    assert echo_span.status.status_code is StatusCode.UNSET

    @span("returns")
    def returns():
        yield 1
        return "value"

    def outer():
        return (yield from returns())

    g2 = outer()
    next(g2)
    with pytest.raises(StopIteration) as stop:
        next(g2)
    assert stop.value.value == "value"


def test_generator_exception_unchanged_and_early_break_is_not_an_error(exporter):
    original = Boom()

    @span("gen.fails")
    def fails():
        yield 1
        _raise(original)

    with pytest.raises(Boom) as info:
        list(fails())
    assert_unchanged(info.value, original)

    @span("gen.abandoned")
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    for i in endless():
        if i == 3:
            break
    spans_ = by_name(exporter)
    assert spans_["gen.fails"].status.status_code is StatusCode.ERROR
    assert spans_["gen.abandoned"].status.status_code is StatusCode.UNSET
    assert spans_["gen.abandoned"].end_time is not None


def test_decorated_async_generator(exporter):
    original = Boom()

    @span("agen")
    async def agen(fail: bool):
        for i in range(3):
            with span("agen.item"):
                await asyncio.sleep(0)
            yield i
        if fail:
            _raise(original)

    async def consume(fail: bool):
        out = []
        async for item in agen(fail):
            with span("agen.consumer"):
                out.append(item)
        return out

    assert asyncio.run(consume(False)) == [0, 1, 2]
    with pytest.raises(Boom) as info:
        asyncio.run(consume(True))
    assert_unchanged(info.value, original)
    spans_ = exporter.get_finished_spans()
    agens = [s for s in spans_ if s.name == "agen"]
    assert [s.status.status_code for s in agens] == [StatusCode.UNSET, StatusCode.ERROR]
    agen_ids = {s.context.span_id for s in agens}
    assert all(s.parent.span_id in agen_ids for s in spans_ if s.name == "agen.item")
    assert all(s.parent is None for s in spans_ if s.name == "agen.consumer")


def test_async_generator_asend_athrow_aclose(exporter):
    @span("aecho")
    async def aecho():
        n = 0
        while True:
            try:
                got = yield n
                n += 1 if got is None else got
            except KeyError:
                n = -1

    async def main():
        g = aecho()
        assert await g.asend(None) == 0
        assert await g.asend(5) == 5
        assert await g.athrow(KeyError()) == -1
        await g.aclose()

    asyncio.run(main())
    assert by_name(exporter)["aecho"].status.status_code is StatusCode.UNSET


def test_one_decorator_shared_by_threads(exporter):
    @span("threaded")
    def work(n):
        with span("threaded.child", n=n):
            return n

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans_ = exporter.get_finished_spans()
    parents = {s.context.span_id for s in spans_ if s.name == "threaded"}
    children = [s for s in spans_ if s.name == "threaded.child"]
    assert len(parents) == 8 and {c.parent.span_id for c in children} == parents


# -- timed ------------------------------------------------------------------------------------------------------------


def test_timed_records_histogram_span_and_routes_declared_attributes(exporter):
    with timed("lukhas_auth_latency_seconds", span_name="identity.authenticate_T2", tier="T2", extra="span-only"):
        pass

    @timed("lukhas_auth_latency_seconds", span_name="identity.authenticate_T3", tier="T3")
    def t3():
        return True

    assert t3() and t3()
    samples = scrape()
    assert samples[("lukhas_auth_latency_seconds_count", (("tier", "T2"),))] == 1
    assert samples[("lukhas_auth_latency_seconds_count", (("tier", "T3"),))] == 2
    assert not any(dict(labels).get("extra") for _, labels in samples)  # undeclared → span only, not a label
    t2 = by_name(exporter)["identity.authenticate_T2"]
    assert dict(t2.attributes) == {"tier": "T2", "extra": "span-only", "component": "identity"}


def test_timed_counts_failures_and_reraises_unchanged(exporter):
    original = Boom()
    with (
        pytest.raises(Boom) as info,
        timed(
            "lukhas_auth_latency_seconds",
            span_name="identity.authenticate_T1",
            failures="lukhas_auth_failures_total",
            tier="T1",
        ),
    ):
        _raise(original)
    assert_unchanged(info.value, original)
    with timed("lukhas_auth_latency_seconds", failures="lukhas_auth_failures_total", tier="T1"):
        pass  # success: no failure counted
    samples = scrape()
    assert samples[("lukhas_auth_latency_seconds_count", (("tier", "T1"),))] == 2
    # reason defaults to the exception class, which the enumerated reason folds to "other"
    assert samples[("lukhas_auth_failures_total", (("reason", "other"), ("tier", "T1")))] == 1
    assert sum(v for (name, _), v in samples.items() if name == "lukhas_auth_failures_total") == 1


def test_timed_default_span_name_and_component_come_from_the_metric(exporter):
    with timed("lukhas_memory_search_seconds"):
        pass
    (s,) = exporter.get_finished_spans()
    assert s.name == "lukhas.memory.search" and s.attributes["component"] == "memory"


def test_timed_elapsed_seconds_are_plausible(exporter):
    import time

    with timed("lukhas_memory_upsert_seconds", span_name="memory.add_event"):
        time.sleep(0.02)
    samples = scrape()
    assert 0.02 <= samples[("lukhas_memory_upsert_seconds_sum", ())] < 1.0
    assert samples[("lukhas_memory_upsert_seconds_bucket", (("le", "0.01"),))] == 0
    assert samples[("lukhas_memory_upsert_seconds_bucket", (("le", "+Inf"),))] == 1


def test_timed_rejects_unknown_and_wrong_kind_metrics():
    with pytest.raises(KeyError, match="lukhas_nope_seconds"):
        timed("lukhas_nope_seconds")
    with pytest.raises(TypeError, match="histogram"):
        timed("lukhas_memory_docs_total")
    with pytest.raises(TypeError, match="counter"):
        timed("lukhas_memory_search_seconds", failures="lukhas_memory_upsert_seconds")


# -- attributes -----------------------------------------------------------------------------------------------------


def test_illegal_attribute_values_are_dropped_never_raised(exporter):
    class Opaque:
        pass

    with span(
        "attrs",
        none=None,
        mapping={"a": 1},
        obj=Opaque(),
        raw=b"\x00secret",
        mixed=[1, "a"],
        nested=[[1]],
        ok_list=[1, 2],
        ok_str="s",
        ok_bool=True,
        ok_float=1.5,
    ):
        pass
    attrs = dict(by_name(exporter)["attrs"].attributes)
    assert attrs == {"ok_list": (1, 2), "ok_str": "s", "ok_bool": True, "ok_float": 1.5}
    dropped = scrape()
    key = ("lukhas_obs_dropped_attributes_total", (("metric", "attrs"), ("reason", "invalid_attribute_value")))
    assert dropped[key] == 5  # mapping, obj, raw, mixed, nested; None is dropped silently


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), _values, max_size=6))
def test_sanitize_never_raises_and_keeps_only_legal_values(attributes):
    out = sanitize_attributes("prop", attributes)
    for key, value in out.items():
        assert key in attributes
        if isinstance(value, tuple):
            kinds = {bool if isinstance(v, bool) else type(v) for v in value}
            assert len(kinds) <= 1 and kinds <= {str, bool, int, float}
        else:
            assert isinstance(value, (str, bool, int, float))


# -- no-op when off ------------------------------------------------------------------------------------------------


@pytest.fixture
def cost_probe(monkeypatch):
    """Counts clock reads and span starts made by the helpers."""
    calls = {"perf_counter": 0, "start_span": 0}

    def perf_counter():
        calls["perf_counter"] += 1
        return 0.0

    original = spans._tracer.start_span

    def start_span(*args, **kwargs):
        calls["start_span"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(spans, "perf_counter", perf_counter)
    monkeypatch.setattr(spans._tracer, "start_span", start_span)
    return calls


def _exercise_every_form() -> None:
    with span("a", k=1) as s:
        assert s is trace.INVALID_SPAN
    with timed("lukhas_memory_search_seconds", span_name="memory.query", k=1) as s:
        assert s is trace.INVALID_SPAN

    @timed("lukhas_memory_search_seconds")
    def f():
        return 1

    @span("g")
    def g():
        yield 1

    @span("c")
    async def c():
        return 2

    @span("ag")
    async def ag():
        yield 3

    async def consume():
        return [x async for x in ag()]

    assert f() == 1 and list(g()) == [1] and asyncio.run(c()) == 2 and asyncio.run(consume()) == [3]
    original = Boom()
    with pytest.raises(Boom) as info, span("x"):
        _raise(original)
    assert_unchanged(info.value, original)


def test_unconfigured_helpers_create_no_spans_and_read_no_clock(cost_probe):
    lukhas_obs.shutdown()
    assert not spans.enabled()
    _exercise_every_form()
    assert cost_probe == {"perf_counter": 0, "start_span": 0}


def test_disabled_sdk_helpers_create_no_spans_and_read_no_clock(cost_probe):
    lukhas_obs.shutdown()
    lukhas_obs.configure(disabled=True)
    try:
        assert not spans.enabled()
        _exercise_every_form()
    finally:
        lukhas_obs.shutdown()
    assert cost_probe == {"perf_counter": 0, "start_span": 0}


def test_configured_helpers_do_record(cost_probe, exporter):
    with timed("lukhas_memory_search_seconds"):
        pass
    with span("plain"):
        pass
    assert cost_probe == {"perf_counter": 2, "start_span": 2}  # a plain span reads no clock of ours
