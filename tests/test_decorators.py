"""lukhas_obs.decorators: the seeds' decorator shapes over catalog handles, checked through /metrics text.

Every value is read back from ``lukhas_obs.render_exposition()`` parsed by prometheus_client's parser, on the test
catalog tests/data/decorators_catalog.yaml (Luna's metrics with a ``deco_`` prefix, and a few generic ones). The
last test runs seed 000's own ``track_*`` decorators (prometheus_client, a private registry) and their lukhas-obs
forms on the same workload and compares the two expositions.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import inspect
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import decorators
from lukhas_obs.decorators import (
    count,
    count_by_argument,
    count_by_result,
    count_outcomes,
    from_argument,
    from_outcome,
    from_result,
    instrument,
    timed_histogram,
)
from tests.support.hostile import Hostile, RaisingStr

CATALOG_FILE = Path(__file__).parent / "data" / "decorators_catalog.yaml"
lukhas_obs.register_yaml(CATALOG_FILE)  # at import: decorators below are validated when the module loads

CALLS = "deco_calls_total"
ITEMS = "deco_items_total"
LATENCY = "deco_latency_seconds"
DROPPED = "lukhas_obs_dropped_measurements_total"
DROPPED_ATTRIBUTES = "lukhas_obs_dropped_attributes_total"
_COMMON = ("lane", "service")


@pytest.fixture(autouse=True)
def obs() -> Iterator[None]:
    """A fresh configuration per test (fresh series), no server, no traces."""
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    yield
    lukhas_obs.shutdown(timeout=5)


def _parse(body: str) -> list[Any]:
    return list(text_string_to_metric_families(body))


def _samples(name: str, body: str | None = None) -> list[Any]:
    text = body if body is not None else lukhas_obs.render_exposition()[0].decode()
    return [s for family in _parse(text) for s in family.samples if s.name == name]


def value(name: str, /, **labels: str) -> float | None:
    """The value of the one sample ``name`` whose labels are exactly ``labels`` (lane/service aside); None if none."""
    found = [
        s.value
        for s in _samples(name)
        if {k: v for k, v in s.labels.items() if k not in _COMMON or k in labels} == labels
    ]
    assert len(found) <= 1, f"{name}{labels}: {len(found)} samples"
    return found[0] if found else None


def series(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name``: sorted label items → value (lane/service aside)."""
    return {
        tuple(sorted((k, v) for k, v in s.labels.items() if k not in _COMMON)): s.value for s in _samples(name)
    }


def dropped(metric: str, reason: str, *, attribute: bool = False) -> float:
    found = [
        s.value
        for s in _samples(DROPPED_ATTRIBUTES if attribute else DROPPED)
        if s.labels.get("metric") == metric and s.labels.get("reason") == reason
    ]
    return sum(found)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Boom(Exception):
    """An application exception the tests raise and expect back, unchanged."""


# ------------------------------------------------------------------------------------------------ timed_histogram


def test_timed_histogram_times_each_sync_call_in_seconds():
    @timed_histogram(LATENCY, op="sleep")
    def work(seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    assert work(0.02) == "done"
    assert work(0.0) == "done"
    assert value("deco_latency_seconds_count", op="sleep") == 2
    total = value("deco_latency_seconds_sum", op="sleep")
    assert total is not None and 0.02 <= total < 1.0
    assert value("deco_latency_seconds_bucket", op="sleep", le="0.01") == 1  # the 0 s call
    assert value("deco_latency_seconds_bucket", op="sleep", le="0.1") == 2


def test_timed_histogram_records_raising_calls_unless_when_returned():
    @timed_histogram(LATENCY, op="always")
    def always() -> None:
        raise Boom

    @timed_histogram(LATENCY, op="returned", when="returned")
    def returned_only() -> None:
        raise Boom

    for fn in (always, returned_only):
        with pytest.raises(Boom):
            fn()
    assert value("deco_latency_seconds_count", op="always") == 1  # prometheus_client's Histogram.time() does this
    assert value("deco_latency_seconds_count", op="returned") is None


def test_timed_histogram_in_the_histograms_unit():
    @timed_histogram("deco_latency_milliseconds")
    def work() -> None:
        time.sleep(0.02)

    work()
    total = value("deco_latency_milliseconds_sum")
    assert total is not None and 20.0 <= total < 1000.0


def test_timed_histogram_on_a_coroutine_function():
    @timed_histogram(LATENCY, op="async")
    async def work(seconds: float) -> int:
        await asyncio.sleep(seconds)
        return 7

    assert inspect.iscoroutinefunction(work)
    assert run(work(0.02)) == 7
    total = value("deco_latency_seconds_sum", op="async")
    assert total is not None and 0.02 <= total < 1.0
    assert value("deco_latency_seconds_count", op="async") == 1


def test_a_cancelled_coroutine_is_timed_but_is_no_outcome():
    @instrument(timed_histogram(LATENCY, op="cancel"), count_outcomes(CALLS, op="cancel"))
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert value("deco_latency_seconds_count", op="cancel") == 1
    assert series(CALLS) == {}  # Luna's `except Exception` does not count a cancellation either


def test_generators_are_timed_to_exhaustion_with_send_and_throw_delegated():
    @instrument(timed_histogram(LATENCY, op="gen"), count_outcomes(CALLS, op="gen"))
    def echo(n: int) -> Iterator[Any]:
        got = None
        for _ in range(n):
            try:
                got = yield got
            except KeyError:
                got = "caught"
        return "finished"

    assert inspect.isgeneratorfunction(echo)
    gen = echo(4)
    assert next(gen) is None
    assert gen.send("a") == "a"
    assert gen.throw(KeyError("k")) == "caught"
    time.sleep(0.02)  # the consumer's time counts: the iteration is measured
    assert value("deco_latency_seconds_count", op="gen") is None  # not finished yet
    assert next(gen) is None
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "finished"
    assert value("deco_latency_seconds_count", op="gen") == 1
    total = value("deco_latency_seconds_sum", op="gen")
    assert total is not None and total >= 0.02
    assert value(CALLS, op="gen", status="success") == 1


def test_a_generator_closed_early_counts_as_success_and_one_raising_as_error():
    @instrument(timed_histogram(LATENCY, op="early"), count_outcomes(CALLS, op="early"))
    def numbers() -> Iterator[int]:
        yield from range(100)

    @count_outcomes(CALLS, op="failing")
    def failing() -> Iterator[int]:
        yield 1
        raise Boom

    for item in numbers():
        if item == 3:
            break  # the for loop drops the generator: closed
    assert value(CALLS, op="early", status="success") == 1
    assert value("deco_latency_seconds_count", op="early") == 1
    assert list(numbers()) == list(range(100))
    assert value(CALLS, op="early", status="success") == 2
    with pytest.raises(Boom):
        list(failing())
    assert value(CALLS, op="failing", status="error") == 1
    assert value(CALLS, op="failing", status="success") is None


def test_async_generators_are_timed_to_exhaustion_with_asend_athrow_and_aclose():
    @instrument(timed_histogram(LATENCY, op="agen"), count_outcomes(CALLS, op="agen"))
    async def echo(n: int) -> Any:
        got = None
        for _ in range(n):
            try:
                got = yield got
            except KeyError:
                got = "caught"
            await asyncio.sleep(0)

    @count_outcomes(CALLS, op="agen_fail")
    async def failing() -> Any:
        yield 1
        raise Boom

    assert inspect.isasyncgenfunction(echo)

    async def main() -> None:
        gen = echo(4)
        assert await gen.asend(None) is None
        assert await gen.asend("a") == "a"
        assert await gen.athrow(KeyError("k")) == "caught"
        assert value("deco_latency_seconds_count", op="agen") is None
        assert await gen.asend(None) is None
        with pytest.raises(StopAsyncIteration):
            await gen.asend(None)
        assert value(CALLS, op="agen", status="success") == 1
        early = echo(10)
        await early.asend(None)
        await early.aclose()
        assert value(CALLS, op="agen", status="success") == 2
        assert value("deco_latency_seconds_count", op="agen") == 2
        with pytest.raises(Boom):
            async for _ in failing():
                pass
        assert value(CALLS, op="agen_fail", status="error") == 1

    run(main())


# ------------------------------------------------------------------------------------------------- count_outcomes


def _raise_boom(exc: BaseException) -> None:
    raise exc  # the line the traceback must end on


def test_count_outcomes_counts_exactly_and_re_raises_the_same_exception_with_its_traceback():
    @count_outcomes(CALLS, op="tool")
    def tool(fail: bool) -> str:
        if fail:
            _raise_boom(boom)
        return "ok"

    boom = Boom("the original")
    for i in range(10):
        if i % 3 == 0:
            with pytest.raises(Boom) as info:
                tool(True)
            assert info.value is boom
            assert info.value.__context__ is None and info.value.__cause__ is None
            frames = traceback.extract_tb(info.value.__traceback__)
            assert frames[-1].name == "_raise_boom"
            assert frames[-1].line == "raise exc  # the line the traceback must end on"
            assert frames[-2].name == "tool"
            boom.__traceback__ = None
        else:
            assert tool(False) == "ok"
    assert value(CALLS, op="tool", status="success") == 6
    assert value(CALLS, op="tool", status="error") == 4


def test_count_outcomes_on_coroutines_and_custom_values_and_errors():
    @count_outcomes(CALLS, label="status", success="found", error="not_found", errors=(LookupError,), op="lookup")
    async def lookup(key: str) -> str:
        if key == "missing":
            raise KeyError(key)
        if key == "bad":
            raise Boom(key)
        return key

    assert inspect.iscoroutinefunction(lookup)
    assert run(lookup("a")) == "a"
    with pytest.raises(KeyError):
        run(lookup("missing"))
    with pytest.raises(Boom):  # not in errors=: re-raised, not counted
        run(lookup("bad"))
    assert series(CALLS) == {
        (("op", "lookup"), ("status", "found")): 1.0,
        (("op", "lookup"), ("status", "not_found")): 1.0,
    }


def test_counts_only_on_return_by_default_and_when_raised_or_always():
    @count(ITEMS, op="returned")
    def returned(fail: bool) -> None:
        if fail:
            raise Boom

    @count(ITEMS, op="raised", when="raised")
    def raised(fail: bool) -> None:
        if fail:
            raise Boom

    @count(ITEMS, op="always", when="always")
    def always(fail: bool) -> None:
        if fail:
            raise Boom

    for fn in (returned, raised, always):
        fn(False)
        with pytest.raises(Boom):
            fn(True)
    assert value(ITEMS, op="returned") == 1
    assert value(ITEMS, op="raised") == 1
    assert value(ITEMS, op="always") == 2


# ------------------------------------------------------------------------------------------------ count_by_result


@dataclasses.dataclass
class Insight:
    category: str


class Color(enum.Enum):
    RED = "red"


def test_count_by_result_with_key_field_and_getter_and_defaults():
    @count_by_result(ITEMS, label="category", key="type", op="key")
    def by_key(result: Any) -> Any:
        return result

    @count_by_result(ITEMS, label="category", field="category", op="field")
    def by_field(result: Any) -> Any:
        return result

    @count_by_result(ITEMS, label="category", getter=lambda r: "big" if r > 10 else "small", op="getter")
    def by_getter(result: Any) -> Any:
        return result

    @count_by_result(ITEMS, label="category", key=0, default="none", op="index")
    def by_index(result: Any) -> Any:
        return result

    grows: collections.defaultdict[str, str] = collections.defaultdict(lambda: "made up")
    for result in ({"type": "a"}, {"type": "a"}, {"other": 1}, None, 42, {"type": None}, {"type": Color.RED}, grows):
        assert by_key(result) is result
    assert "type" not in grows  # read with .get(): a defaultdict does not grow
    for result in (Insight("x"), Insight("x"), object()):
        by_field(result)
    for result in (1, 100, 100):
        by_getter(result)
    for result in (("first", 2), [7], (), "text"):
        by_index(result)
    assert series(ITEMS) == {
        (("category", "a"), ("op", "key")): 2.0,
        (("category", "unknown"), ("op", "key")): 5.0,  # missing key, None, not subscriptable, None value, defaultdict
        (("category", "red"), ("op", "key")): 1.0,  # an Enum gives its value
        (("category", "x"), ("op", "field")): 2.0,
        (("category", "unknown"), ("op", "field")): 1.0,
        (("category", "small"), ("op", "getter")): 1.0,
        (("category", "big"), ("op", "getter")): 2.0,
        (("category", "first"), ("op", "index")): 1.0,
        (("category", "7"), ("op", "index")): 1.0,  # an int becomes its text, like prometheus_client's labels()
        (("category", "none"), ("op", "index")): 1.0,  # IndexError: the default
        (("category", "t"), ("op", "index")): 1.0,
    }
    assert dropped(ITEMS, "unreadable_result") == 0


def test_count_by_result_only_if_and_never_on_a_raising_call():
    @count_by_result(ITEMS, label="category", key="type", only_if=bool, op="truthy")
    def generate(result: Any) -> Any:
        if result == "raise":
            raise Boom
        return result

    generate({"type": "a"})
    generate(None)
    generate({})
    with pytest.raises(Boom):
        generate("raise")
    assert series(ITEMS) == {(("category", "a"), ("op", "truthy")): 1.0}


def test_long_result_values_are_cut_and_bounded_by_the_memo(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(decorators, "MEMO_LIMIT", 3)  # past it the handle's keyword path records (no memo growth)

    @count_by_result(ITEMS, label="category", key="k", op="many")
    def produce(text: str) -> dict[str, str]:
        return {"k": text}

    for i in range(10):
        produce(f"v{i}")
        produce(f"v{i}")
    produce("x" * 10_000)
    got = series(ITEMS)
    assert all(got[(("category", f"v{i}"), ("op", "many"))] == 2.0 for i in range(10))
    assert got[(("category", "x" * 256), ("op", "many"))] == 1.0


class RaisingMapping(Mapping[str, Any]):
    """A mapping whose every read raises."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("getitem")

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("get")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")


class RaisingItem:
    def __getitem__(self, key: object) -> Any:
        raise RuntimeError("getitem")


class RaisingField:
    @property
    def category(self) -> str:
        raise RuntimeError("property")


class RaisingStrValue:
    def __str__(self) -> str:
        raise RuntimeError("str")


class StrReturnsSubclass:
    def __str__(self) -> str:
        return RaisingStr("sub")


def test_hostile_results_are_counted_under_the_default_and_never_change_the_result():
    @count_by_result(ITEMS, label="category", key="type", op="hostile")
    def by_key(result: Any) -> Any:
        return result

    @count_by_result(ITEMS, label="category", field="category", op="hostile_field")
    def by_field(result: Any) -> Any:
        return result

    @count_by_result(ITEMS, label="category", getter=lambda r: r.missing, op="hostile_getter")
    def by_getter(result: Any) -> Any:
        return result

    hostile = [
        RaisingMapping(),  # .get raises
        RaisingItem(),  # __getitem__ raises
        {"type": RaisingStrValue()},  # __str__ raises
        {"type": 10**5000},  # too long an int to print (ValueError)
        Hostile(),  # every protocol raises
    ]
    for result in hostile:
        assert by_key(result) is result
    fine = [{"type": RaisingStr("plain")}, {"type": StrReturnsSubclass()}, {"type": "\ud800x"}]
    for result in fine:
        assert by_key(result) is result
    assert by_field(RaisingField()).__class__ is RaisingField
    assert by_getter(Hostile()).__class__ is Hostile
    got = series(ITEMS)
    assert got[(("category", "unknown"), ("op", "hostile"))] == 5.0
    assert got[(("category", "plain"), ("op", "hostile"))] == 1.0  # a str subclass copied, its dunders never called
    assert got[(("category", "sub"), ("op", "hostile"))] == 1.0
    assert got[(("category", "\ufffdx"), ("op", "hostile"))] == 1.0  # a lone surrogate made valid text
    assert got[(("category", "unknown"), ("op", "hostile_field"))] == 1.0
    assert got[(("category", "unknown"), ("op", "hostile_getter"))] == 1.0
    assert dropped(ITEMS, "unreadable_result") == 6  # Hostile() has no __getitem__: not subscriptable, the default
    assert dropped(ITEMS, "internal_error") == 0


def test_only_if_with_fixed_attributes_and_on_a_histogram():
    @instrument(
        timed_histogram(LATENCY, op="only_if", when="returned"),
        count(ITEMS, op="only_if", only_if=lambda r: r > 1),
    )
    def work(n: int) -> int:
        return n

    for n in (0, 1, 2, 3):
        work(n)
    assert value(ITEMS, op="only_if") == 2
    assert value("deco_latency_seconds_count", op="only_if") == 4


def test_only_if_that_raises_skips_the_count_and_is_counted():
    @count_by_result(ITEMS, label="category", key="type", only_if=bool, op="bool")
    def generate(result: Any) -> Any:
        return result

    hostile = Hostile()
    assert generate(hostile) is hostile  # Hostile.__bool__ raises
    assert series(ITEMS) == {}
    assert dropped(ITEMS, "unreadable_result") == 1


# ---------------------------------------------------------------------------------------------- count_by_argument


def test_count_by_argument_positional_keyword_defaults_and_kwargs():
    @count_by_argument(ITEMS, label="layer", argument="layer", op="plain")
    def store(content: str, layer: str = "root") -> str:
        return content

    @count_by_argument(ITEMS, label="layer", argument="layer", op="kwonly")
    def kwonly(content: str, *, layer: str) -> str:
        return content

    @count_by_argument(ITEMS, label="layer", argument="layer", op="posonly")
    def posonly(layer: str, /, **kwargs: Any) -> str:
        return layer

    @count_by_argument(ITEMS, label="layer", argument="layer", op="luna")
    def luna(*args: Any, **kwargs: Any) -> None:  # Luna's shape: kwargs.get('layer', 'unknown')
        return None

    store("a", "leaf")
    store("a", layer="leaf")
    store(content="a", layer="branch")
    store("a")  # the parameter's own default: what the function sees
    kwonly("a", layer="seed")
    posonly("seed")
    posonly("seed", layer="root")  # a keyword named like a positional-only parameter is not that parameter
    luna("x", layer="leaf")
    luna("x")
    assert series(ITEMS) == {
        (("layer", "leaf"), ("op", "plain")): 2.0,
        (("layer", "branch"), ("op", "plain")): 1.0,
        (("layer", "root"), ("op", "plain")): 1.0,
        (("layer", "seed"), ("op", "kwonly")): 1.0,
        (("layer", "seed"), ("op", "posonly")): 2.0,
        (("layer", "leaf"), ("op", "luna")): 1.0,
        (("layer", "unknown"), ("op", "luna")): 1.0,
    }


def test_count_by_argument_default_and_enumerated_folding():
    @count_by_argument(ITEMS, label="layer", argument="layer", op="fold")
    def store(layer: Any = None) -> None:
        return None

    store()  # None: the default
    store("nonsense")  # not a declared value: the catalog folds it (fold_to: unknown)
    store(layer=Color.RED)
    assert series(ITEMS) == {(("layer", "unknown"), ("op", "fold")): 3.0}


class Memory:
    @count_by_argument(ITEMS, label="layer", argument="layer", op="method")
    def store(self, content: str, layer: str) -> str:
        return f"{content}@{layer}"

    @classmethod
    @count_by_argument(ITEMS, label="layer", argument="layer", op="classmethod")
    def make(cls, layer: str) -> type[Memory]:
        return cls

    @count_by_argument(ITEMS, label="layer", argument="layer", op="classmethod_outer")
    @classmethod
    def make_outer(cls, layer: str) -> type[Memory]:
        return cls

    @count_by_argument(ITEMS, label="layer", argument="layer", op="staticmethod")
    @staticmethod
    def static(layer: str) -> str:
        return layer

    @count_outcomes(CALLS, op="method_async")
    async def fetch(self, key: str) -> str:
        return key


def test_methods_classmethods_and_staticmethods():
    memory = Memory()
    assert memory.store("a", "leaf") == "a@leaf"
    assert memory.store("a", layer="root") == "a@root"
    assert Memory.make("seed") is Memory
    assert memory.make(layer="seed") is Memory
    assert Memory.make_outer("branch") is Memory
    assert Memory.static("leaf") == "leaf"
    assert run(memory.fetch("k")) == "k"
    assert inspect.iscoroutinefunction(Memory.fetch)
    assert isinstance(inspect.getattr_static(Memory, "make_outer"), classmethod)
    assert series(ITEMS) == {
        (("layer", "leaf"), ("op", "method")): 1.0,
        (("layer", "root"), ("op", "method")): 1.0,
        (("layer", "seed"), ("op", "classmethod")): 2.0,
        (("layer", "branch"), ("op", "classmethod_outer")): 1.0,
        (("layer", "leaf"), ("op", "staticmethod")): 1.0,
    }
    assert value(CALLS, op="method_async", status="success") == 1


def test_hostile_arguments_are_recorded_as_the_default_and_passed_through_unchanged():
    @count_by_argument(ITEMS, label="category", argument="category", op="hostile")
    def store(category: Any) -> Any:
        return category

    raising = RaisingStr("plain")
    assert store(raising) is raising
    for hostile in (Hostile(), RaisingStrValue(), 10**5000):
        assert store(hostile) is hostile
    assert store("\udfff") == "\udfff"
    got = series(ITEMS)
    assert got[(("category", "plain"), ("op", "hostile"))] == 1.0
    assert got[(("category", "unknown"), ("op", "hostile"))] == 3.0
    assert got[(("category", "\ufffd"), ("op", "hostile"))] == 1.0
    assert dropped(ITEMS, "invalid_attribute_value", attribute=True) == 3


def test_a_required_argument_not_given_is_the_default_and_counted():
    @count_by_argument(ITEMS, label="layer", argument="layer", when="always", op="missing")
    def store(content: str, layer: str) -> None:
        return None

    with pytest.raises(TypeError):
        store("a")  # type: ignore[call-arg]  # the call itself fails to bind; the decorator does not make it worse
    assert series(ITEMS) == {(("layer", "unknown"), ("op", "missing")): 1.0}
    assert dropped(ITEMS, "invalid_attribute_value", attribute=True) == 1


def test_the_signature_is_read_once_at_decoration(monkeypatch: pytest.MonkeyPatch):
    calls = []
    real = inspect.signature

    def counting(*args: Any, **kwargs: Any) -> inspect.Signature:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)

    @count_by_argument(ITEMS, label="layer", argument="layer", op="once")
    def store(layer: str) -> None:
        return None

    assert len(calls) == 1
    for _ in range(100):
        store("leaf")
    store(layer="root")
    assert len(calls) == 1
    assert value(ITEMS, layer="leaf", op="once") == 100


# ------------------------------------------------------------------------------------------------- combinations


def test_sources_combine_on_one_metric_and_instrument_equals_stacking():
    found = from_result(getter=lambda r: "found" if r else "not_found", default="not_found")

    @instrument(
        timed_histogram(LATENCY, op="retrieve", status=from_outcome()),
        count("deco_luna_memory_retrievals_total", layer=from_argument("layer"), status=found),
    )
    def retrieve(query: str, layer: str | None = None) -> str:
        if query == "fail":
            raise Boom
        return query

    @timed_histogram(LATENCY, op="stacked", status=from_outcome())
    @count("deco_luna_memory_retrievals_total", layer=from_argument("layer"), status=found)
    def stacked(query: str, layer: str | None = None) -> str:
        if query == "fail":
            raise Boom
        return query

    for fn in (retrieve, stacked):
        fn("x", "leaf")
        fn("", layer="root")
        fn("y")
        with pytest.raises(Boom):
            fn("fail", "leaf")
    assert series("deco_luna_memory_retrievals_total") == {
        (("layer", "leaf"), ("status", "found")): 2.0,
        (("layer", "root"), ("status", "not_found")): 2.0,
        (("layer", "unknown"), ("status", "found")): 2.0,
    }
    for op in ("retrieve", "stacked"):
        assert value("deco_latency_seconds_count", op=op, status="success") == 3
        assert value("deco_latency_seconds_count", op=op, status="error") == 1


def test_one_instrumentation_decorates_many_functions():
    tracked = count_outcomes(CALLS, op="shared")

    @tracked
    def a() -> int:
        return 1

    @tracked
    async def b() -> int:
        return 2

    assert a() == 1 and run(b()) == 2
    assert value(CALLS, op="shared", status="success") == 2
    assert tracked.metrics == (CALLS,)


def test_wrapper_metadata_is_the_functions():
    def original(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """The docstring."""
        return b

    original.custom = "kept"  # type: ignore[attr-defined]
    for deco in (
        timed_histogram(LATENCY),
        count_outcomes(CALLS),
        instrument(
            timed_histogram(LATENCY), count_outcomes(CALLS), count_by_argument(ITEMS, label="layer", argument="b")
        ),
    ):
        wrapped = deco(original)
        assert wrapped.__name__ == "original" and wrapped.__qualname__ == original.__qualname__
        assert wrapped.__doc__ == "The docstring." and wrapped.__module__ == __name__
        assert wrapped.__wrapped__ is original  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(original)
        assert wrapped.custom == "kept"  # type: ignore[attr-defined]
        assert not inspect.iscoroutinefunction(wrapped)

    async def coro() -> None: ...

    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> Any:
        yield 1

    assert inspect.iscoroutinefunction(count_outcomes(CALLS)(coro))
    assert inspect.isgeneratorfunction(count_outcomes(CALLS)(gen))
    assert inspect.isasyncgenfunction(count_outcomes(CALLS)(agen))


# ---------------------------------------------------------------------------------------------- never raise


class Exploding:
    """A bound handle whose recording raises (a broken SDK): the decorator must contain it."""

    def add(self, *args: Any) -> None:
        raise RuntimeError("add")

    def record(self, *args: Any) -> None:
        raise RuntimeError("record")


@pytest.mark.parametrize("shape", ["sync", "async"])
def test_a_failing_handle_never_changes_the_result_or_the_exception(monkeypatch: pytest.MonkeyPatch, shape: str):
    for handle in (lukhas_obs.counter(CALLS), lukhas_obs.histogram(LATENCY), lukhas_obs.counter(ITEMS)):
        monkeypatch.setattr(type(handle), "bind", lambda self, **attrs: Exploding())
    deco = instrument(
        timed_histogram(LATENCY, op="x"),
        count_outcomes(CALLS, op="x"),
        count_by_argument(ITEMS, label="layer", argument="fail", op="x"),
    )
    boom = Boom()

    def work(fail: bool) -> str:
        if fail:
            raise boom
        return "result"

    async def awork(fail: bool) -> str:
        return work(fail)

    wrapped = deco(work if shape == "sync" else awork)

    def call(fail: bool) -> Any:
        return wrapped(fail) if shape == "sync" else run(wrapped(fail))

    assert call(False) == "result"
    with pytest.raises(Boom) as info:
        call(True)
    assert info.value is boom and info.value.__context__ is None
    assert dropped(CALLS, "internal_error") == 2
    assert dropped(LATENCY, "internal_error") == 2
    assert dropped(ITEMS, "internal_error") == 1  # counted on return only


def test_decorated_before_configure_follows_shutdown_and_reconfigure():
    @count_outcomes(CALLS, op="lifecycle")
    def tool() -> None:
        return None

    lukhas_obs.shutdown(timeout=5)
    tool()  # nothing configured: a no-op (the first configure of a process replays early ones; not this one)
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    tool()
    tool()
    assert value(CALLS, op="lifecycle", status="success") == 2
    lukhas_obs.shutdown(timeout=5)
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none", aggregation="sdk")
    tool()
    assert value(CALLS, op="lifecycle", status="success") == 1


def test_cardinality_past_the_limit_is_the_handles_business():
    lukhas_obs.shutdown(timeout=5)
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none", cardinality_limits={ITEMS: 5})

    @count_by_argument(ITEMS, label="category", argument="category")
    def store(category: str) -> str:
        return category

    assert [store(f"c{i}") for i in range(50)] == [f"c{i}" for i in range(50)]
    assert len(series(ITEMS)) == 5
    assert dropped(ITEMS, "cardinality_limit") == 45


# ------------------------------------------------------------------------------------------- decoration time


def test_an_unknown_metric_is_a_key_error_naming_close_names():
    with pytest.raises(KeyError) as info:
        count_outcomes("deco_calls_totl")
    message = str(info.value)
    assert "deco_calls_total" in message and "close names" in message
    assert "deco_luna_phi_calculation_duration_seconds" not in message  # not the whole registry
    with pytest.raises(KeyError, match="none of the"):
        timed_histogram("zzzzzzzzzzzzzzzzzzzz")


@pytest.mark.parametrize(
    ("factory", "metric"),
    [
        (lambda m: timed_histogram(m), CALLS),
        (lambda m: count_outcomes(m), LATENCY),
        (lambda m: count_by_result(m, label="op", key="k"), "deco_level"),
        (lambda m: count_by_argument(m, label="op", argument="x"), LATENCY),
        (lambda m: count(m), "deco_level"),
    ],
)
def test_a_metric_of_the_wrong_kind_is_a_type_error(factory: Any, metric: str):
    with pytest.raises(TypeError, match=metric):
        factory(metric)


def test_an_undeclared_label_is_a_value_error_naming_the_declared_ones():
    with pytest.raises(ValueError, match=r"declares no attribute 'outcome'; declared: status, op, kind"):
        count_outcomes(CALLS, label="outcome")
    with pytest.raises(ValueError, match="declares no attribute 'tier'"):
        timed_histogram(LATENCY, tier="T1")
    with pytest.raises(ValueError, match="no call-time attributes"):
        timed_histogram("deco_latency_milliseconds", op="x")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: count_outcomes(CALLS, success="ok"), "success 'ok' is not a value of deco_calls_total's attribute"),
        (lambda: count_outcomes(CALLS, kind="delete"), "would be recorded as 'other'"),
        (lambda: count_by_result(CALLS, label="status", key="k"), "default 'unknown' is not a value"),
        (lambda: count(CALLS, status=from_argument("s", default="maybe")), "default 'maybe'"),
        (lambda: count_outcomes(CALLS, label="status", status="success"), "both label= and a fixed attribute"),
        (lambda: count(CALLS, attributes={"op": "a"}, op="b"), "given twice"),
        (lambda: timed_histogram("deco_size_bytes"), "unit is 'By', not a time"),
        (lambda: count(ITEMS, when="sometimes"), "when= must be one of returned, raised, always"),
        (lambda: count(ITEMS, category=from_result(key="k"), when="always"), "can only be 'returned'"),
        (lambda: count(CALLS, status=from_outcome(), when="returned"), "needs when='always'"),
        (
            lambda: count(CALLS, status=from_outcome(), op=from_outcome(success="read", error="write")),
            "at most one from_outcome",
        ),
    ],
)
def test_bad_values_and_combinations_are_value_errors(build: Any, match: str):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: count_by_result(ITEMS, label="category", key="k", field="f"), "exactly one of field=, key=, getter="),
        (lambda: count_by_result(ITEMS, label="category"), "exactly one"),
        (lambda: count_by_result(ITEMS, label="category", getter="nope"), "getter= must be callable"),
        (lambda: count_by_result(ITEMS, label="category", key=["unhashable"]), "hashable"),
        (lambda: count(ITEMS, category=object()), "must be a str, int, float or bool constant"),
        (lambda: count(ITEMS, only_if="yes"), "only_if= must be callable"),
        (lambda: count_outcomes(CALLS, errors=42), "errors= must be an exception class"),
        (lambda: count_outcomes(42), "metric name must be a str"),  # type: ignore[arg-type]
        (lambda: instrument(), "at least one"),
        (lambda: instrument(timed_histogram), "call the factory"),  # type: ignore[arg-type]
        (lambda: from_argument("not an identifier"), "identifier"),
    ],
)
def test_bad_arguments_are_type_errors(build: Any, match: str):
    with pytest.raises(TypeError, match=match):
        build()


def test_argument_and_shape_problems_are_found_at_decoration():
    by_argument = count_by_argument(ITEMS, label="layer", argument="layer")

    def no_layer(content: str) -> None: ...

    with pytest.raises(ValueError, match=r"no_layer\(\) has no parameter 'layer'.*its parameters: content"):
        by_argument(no_layer)

    def star(*layer: str) -> None: ...

    with pytest.raises(ValueError, match=r"\*args/\*\*kwargs parameter itself"):
        by_argument(star)

    async def agen() -> Any:
        yield 1

    with pytest.raises(ValueError, match="async generator returns no value"):
        count_by_result(ITEMS, label="category", key="k")(agen)
    with pytest.raises(TypeError, match="decorate a function"):
        count_outcomes(CALLS)(Memory)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot read the parameters"):
        by_argument(_NoSignature())


class _NoSignature:
    """A callable whose signature cannot be read."""

    __signature__ = "not a signature"

    def __call__(self, *args: Any) -> None: ...


# ----------------------------------------------------------------------------------------------------- threads


def test_counts_are_exact_under_threads():
    lukhas_obs.shutdown(timeout=5)
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")

    @instrument(count_outcomes(CALLS, op="threads"), count_by_argument(ITEMS, label="layer", argument="layer"))
    def work(i: int, layer: str) -> int:
        if i % 5 == 0:
            raise Boom
        return i

    layers = ("root", "branch", "leaf", "seed")
    writers, ops = 4, 20_000
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            barrier.wait()
            for i in range(ops):
                with contextlib.suppress(Boom):
                    work(i, layers[i % 4])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=writer) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(previous)
    assert not errors
    assert value(CALLS, op="threads", status="error") == writers * ops / 5
    assert value(CALLS, op="threads", status="success") == writers * ops * 4 / 5
    per_layer = {layer: value(ITEMS, layer=layer) for layer in layers}
    # i % 5 == 0 raised (not counted by layer); i % 4 picks the layer
    expected = {layer: writers * sum(1 for i in range(ops) if i % 4 == n and i % 5) for n, layer in enumerate(layers)}
    assert per_layer == expected


# --------------------------------------------------------------------------------------- Luna, side by side


def _luna_prometheus_client() -> tuple[CollectorRegistry, dict[str, Any]]:
    """Seed 000's metrics and its four decorators as written there (prometheus_client), on a private registry."""
    registry = CollectorRegistry()
    phi_calculation_duration = Histogram(
        "deco_luna_phi_calculation_duration_seconds",
        "Duration of phi consciousness calculations",
        buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        registry=registry,
    )
    insight_generation_duration = Histogram(
        "deco_luna_insight_generation_duration_seconds",
        "Duration of insight generation process",
        buckets=[0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0],
        registry=registry,
    )
    memory_retrieval_duration = Histogram(
        "deco_luna_memory_retrieval_duration_seconds",
        "Duration of memory retrieval operations",
        buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0],
        registry=registry,
    )
    insights_generated_total = Counter(
        "deco_luna_insights_generated_total", "Total number of emergent insights generated", ["type"], registry=registry
    )
    memory_stores_total = Counter(
        "deco_luna_memory_stores_total", "Total number of memories stored", ["layer"], registry=registry
    )
    memory_retrievals_total = Counter(
        "deco_luna_memory_retrievals_total", "Total number of memory retrievals", ["layer", "status"], registry=registry
    )
    mcp_tool_calls_total = Counter(
        "deco_luna_mcp_tool_calls_total", "Total number of MCP tool calls", ["tool_name", "status"], registry=registry
    )

    def track_phi_calculation(func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with phi_calculation_duration.time():
                return func(*args, **kwargs)

        return wrapper

    def track_insight_generation(func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with insight_generation_duration.time():
                result = func(*args, **kwargs)
                if result:
                    insight_type = result.get("type", "unknown")
                    insights_generated_total.labels(type=insight_type).inc()
                return result

        return wrapper

    def track_memory_operation(operation_type: str) -> Any:
        def decorator(func: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with memory_retrieval_duration.time():
                    result = func(*args, **kwargs)
                    if operation_type == "store":
                        layer = kwargs.get("layer", "unknown")
                        memory_stores_total.labels(layer=layer).inc()
                    elif operation_type == "retrieve":
                        layer = kwargs.get("layer", "unknown")
                        status = "found" if result else "not_found"
                        memory_retrievals_total.labels(layer=layer, status=status).inc()
                    return result

            return wrapper

        return decorator

    def track_tool_call(tool_name: str) -> Any:
        def decorator(func: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    result = func(*args, **kwargs)
                    mcp_tool_calls_total.labels(tool_name=tool_name, status="success").inc()
                    return result
                except Exception as e:
                    mcp_tool_calls_total.labels(tool_name=tool_name, status="error").inc()
                    raise e

            return wrapper

        return decorator

    return registry, {
        "track_phi_calculation": track_phi_calculation,
        "track_insight_generation": track_insight_generation,
        "track_memory_operation": track_memory_operation,
        "track_tool_call": track_tool_call,
    }


def _luna_lukhas_obs() -> dict[str, Any]:
    """The same four decorators in their lukhas-obs form (docs/DECORATORS.md shows them)."""
    track_phi_calculation = timed_histogram("deco_luna_phi_calculation_duration_seconds")
    track_insight_generation = instrument(
        timed_histogram("deco_luna_insight_generation_duration_seconds"),
        count_by_result("deco_luna_insights_generated_total", label="type", key="type", only_if=bool),
    )

    def track_memory_operation(operation_type: str) -> decorators.Instrumentation:
        timing = timed_histogram("deco_luna_memory_retrieval_duration_seconds")
        if operation_type == "store":
            stores = count_by_argument("deco_luna_memory_stores_total", label="layer", argument="layer")
            return instrument(timing, stores)
        return instrument(
            timing,
            count(
                "deco_luna_memory_retrievals_total",
                layer=from_argument("layer"),
                status=from_result(getter=lambda r: "found" if r else "not_found", default="not_found"),
            ),
        )

    def track_tool_call(tool_name: str) -> decorators.Instrumentation:
        return count_outcomes("deco_luna_mcp_tool_calls_total", tool_name=tool_name)

    return {
        "track_phi_calculation": track_phi_calculation,
        "track_insight_generation": track_insight_generation,
        "track_memory_operation": track_memory_operation,
        "track_tool_call": track_tool_call,
    }


def _luna_workload(track: dict[str, Any]) -> None:
    """One Luna session, decorated by ``track``; layers by keyword (the seed's wrappers read kwargs only)."""

    @track["track_phi_calculation"]
    def calculate_phi(state: str) -> dict[str, float]:
        return {"current_value": 1.6}

    @track["track_insight_generation"]
    def generate_insight(kind: str | None) -> dict[str, str] | None:
        if kind is None:
            return None
        return {"type": kind} if kind != "untyped" else {"text": "no type"}

    @track["track_memory_operation"]("store")
    def store(content: str, layer: str | None = None) -> bool:
        return True

    @track["track_memory_operation"]("retrieve")
    def retrieve(query: str, layer: str | None = None) -> list[str]:
        return [query] if query else []

    @track["track_tool_call"]("phi_analyze")
    def phi_analyze(ok: bool) -> str:
        if not ok:
            raise ValueError("analysis failed")
        return "ok"

    for state in ("dormant", "awakening", "conscious"):
        calculate_phi(state)
    for kind in ("phi_insight", "emotional", "emotional", None, "untyped", "semantic"):
        generate_insight(kind)
    for layer in ("root", "branch", "leaf", "leaf", "seed"):
        store("memory", layer=layer)
    store("memory")
    for query, layer in (("phi", "root"), ("", "leaf"), ("x", "leaf"), ("", "seed")):
        retrieve(query, layer=layer)
    retrieve("anything")
    for ok in (True, True, False, True, False):
        with contextlib.suppress(ValueError):
            phi_analyze(ok)


def _comparable(body: str) -> dict[str, Any]:
    """Per family: kind, and per series its labels → value; histograms by count and bucket bounds (times differ)."""
    out: dict[str, Any] = {}
    for family in _parse(body):
        if not family.name.startswith("deco_luna_") or family.name.endswith("_created"):
            continue
        entry: dict[Any, Any] = {"type": family.type}
        for s in family.samples:
            if s.name.endswith("_created"):  # prometheus_client only (documented difference)
                continue
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k not in _COMMON))
            if s.name.endswith("_bucket"):
                entry.setdefault("le", set()).add(s.labels["le"])
            elif s.name.endswith("_sum"):
                entry["sum_positive"] = s.value > 0
            else:
                entry[(s.name, labels)] = s.value
        out[family.name] = entry
    return out


def test_lunas_four_decorators_side_by_side_with_prometheus_client():
    registry, seed = _luna_prometheus_client()
    _luna_workload(seed)
    _luna_workload(_luna_lukhas_obs())
    theirs = _comparable(generate_latest(registry).decode())
    ours = _comparable(lukhas_obs.render_exposition()[0].decode())
    assert ours == theirs
    assert len(ours) == 7 and all(len(entry) > 1 for entry in ours.values())  # every family, with samples
    assert ours["deco_luna_mcp_tool_calls"][
        ("deco_luna_mcp_tool_calls_total", (("status", "error"), ("tool_name", "phi_analyze")))
    ] == 2
    assert ours["deco_luna_insights_generated"][
        ("deco_luna_insights_generated_total", (("type", "unknown"),))
    ] == 1
    assert ours["deco_luna_memory_retrieval_duration_seconds"][
        ("deco_luna_memory_retrieval_duration_seconds_count", ())
    ] == 11
    assert dropped("deco_luna_insights_generated_total", "unreadable_result") == 0
