"""The span pipeline under attack: hostile names, attributes, exceptions and carriers, big ints, huge attributes.

Each test is written as the attack (issue 9, breaks 5, 6, 8 and 9): it failed on the code before the fix.

- One hostile span (a lone surrogate in a span/event name, status or attribute; a ``str`` subclass whose
  ``__hash__``/``__str__``/``__len__`` raises; an int outside int64; a non-str name; an out-of-range timestamp) from
  ``lukhas_obs.span`` or from a third-party tracer on the global provider costs only itself, never its batch: every
  other span of the batch reaches the real OTLP receivers (gRPC and HTTP) and the trace file, and the lost ones are
  counted.
- Span memory is bounded: attribute values and counts are limited, the span queue is bounded in bytes with the
  collector down, and the span-name component cache is bounded.
- Helpers never raise into the caller and never change the caller's exception.
"""

from __future__ import annotations

import json
import logging
import traceback
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Status, StatusCode

import lukhas_obs
from lukhas_obs import propagation, spans
from tests.support.otlp_receiver import OtlpReceiver, attributes_to_dict
from tests.support.rotel import free_port
from tests.support.scrape import scrape


class HashRaises(str):
    def __hash__(self) -> int:
        raise RuntimeError("hash of a hostile string")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq of a hostile string")


class EqRaises(str):
    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq of a hostile string")

    def lower(self) -> str:
        raise RuntimeError("lower of a hostile string")


class StrRaises(str):
    def __str__(self) -> str:
        raise RuntimeError("str of a hostile string")

    def __len__(self) -> int:
        raise RuntimeError("len of a hostile string")

    def __getitem__(self, index: object) -> str:
        raise RuntimeError("getitem of a hostile string")


class HostileKeys(Mapping):
    """A mapping whose one key is a ``str`` whose ``__hash__`` raises (a dict literal cannot even hold one)."""

    def __init__(self, value: object = 1) -> None:
        self._value = value

    def __getitem__(self, key: object) -> object:
        return self._value

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([HashRaises("k")])

    def __len__(self) -> int:
        return 1


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str of an unprintable exception")

    __repr__ = __str__


def _file_spans(path: Path) -> list[dict]:
    out: list[dict] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                out.extend(ss["spans"])
    return out


def _value(url: str, name: str, **labels: str) -> float:
    total = 0.0
    for sample in scrape(url).samples(name):
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            total += sample.value
    return total


# -- break 6 (and 5): one hostile span costs only itself ---------------------------------------------------------


def _hostile_spans(third: trace.Tracer) -> tuple[dict[str, str], int]:
    """Open the hostile spans; return ({name as it must arrive: label}, spans that must be dropped)."""
    arrive: dict[str, str] = {}

    with lukhas_obs.span("GET /\udcff", body={"a": 1}):  # break 1's reproduction, through the span path
        pass
    arrive["GET /\ufffd"] = "surrogate span name"

    with lukhas_obs.span("evt") as s:
        s.add_event("e\ud800", {"n": 2**70, "ok": 1})
    arrive["evt"] = "surrogate event name, event int out of range"

    with lukhas_obs.span(
        "attrs", v="x\udcff", big=2**64, small=-(2**63) - 1, h=HashRaises("hv"), sr=StrRaises("sv"), fine=7
    ):
        pass
    arrive["attrs"] = "hostile attribute values"

    with lukhas_obs.span(HashRaises("hash.name")):
        pass
    arrive["hash.name"] = "str subclass name whose __hash__/__eq__ raise"

    with lukhas_obs.span(StrRaises("strraise.name")):
        pass
    arrive["strraise.name"] = "str subclass name whose __str__/__len__ raise"

    third.start_span("raw\ud800").end()
    arrive["raw\ufffd"] = "third-party surrogate name"

    with third.start_as_current_span("raw.attrs", attributes={"k": "\udcff", "big": 2**70, "ok": True}):
        pass
    arrive["raw.attrs"] = "third-party attributes"

    third.start_span("raw.hashkey", attributes=HostileKeys(1)).end()  # the SDK itself raises on this key
    arrive["raw.hashkey"] = "third-party attribute key whose __hash__ raises"

    raw = third.start_span("raw.status")
    raw.set_status(Status(StatusCode.ERROR, "bad\ud800"))
    raw.end()
    arrive["raw.status"] = "surrogate status description"

    link_ctx = trace.SpanContext(0x1234, 0x5678, is_remote=True)
    third.start_span("raw.link", links=[Link(link_ctx, {"x": 2**70, "y": "\ud800"})]).end()
    arrive["raw.link"] = "link attributes"

    third.start_span(["raw-list"]).end()  # type: ignore[arg-type]  # not text: dropped at export
    third.start_span("raw.start", start_time=2**70).end()  # outside uint64: dropped at export
    return arrive, 2


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_one_hostile_span_never_costs_its_batch(protocol, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    path = tmp_path / "traces.jsonl"
    with OtlpReceiver("grpc" if protocol == "grpc" else "http") as rx:
        telemetry = lukhas_obs.configure(
            prometheus_port=0,
            traces_exporter=("otlp", "file"),
            traces_file=path,
            otlp_endpoint=rx.endpoint,
            otlp_protocol=protocol,
            otlp_timeout=5,
        )
        third = trace.get_tracer("third.party.instrumentation")  # the global provider, as instrumentations do
        normal = {f"ok.{i}" for i in range(88)}
        for i, name in enumerate(sorted(normal)):
            if i == 40:
                arrive, dropped = _hostile_spans(third)  # in the middle of the batch
            with lukhas_obs.span(name, i=i):
                pass
        assert len(normal) + len(arrive) + dropped == 100
        assert telemetry.force_flush(10)
        expected = normal | set(arrive)
        assert rx.wait_for(lambda r: {s.name for _, _, s in r.spans()} >= expected, timeout=10), (
            sorted(expected - {s.name for _, _, s in rx.spans()})
        )
        received = {s.name: s for _, _, s in rx.spans()}
        in_file = {s["name"]: s for s in _file_spans(path)}
        assert set(in_file) >= expected, sorted(expected - set(in_file))
        assert len(rx.spans()) == len(expected) and len(in_file) == len(expected)  # and nothing else

        attrs = attributes_to_dict(received["attrs"].attributes)
        assert attrs["v"] == "x\ufffd" and attrs["h"] == "hv" and attrs["sr"] == "sv" and attrs["fine"] == 7
        assert "big" not in attrs and "small" not in attrs
        (event,) = received["evt"].events
        assert event.name == "e\ufffd" and attributes_to_dict(event.attributes) == {"ok": 1}
        assert received["evt"].events[0].dropped_attributes_count == 1
        raw_attrs = attributes_to_dict(received["raw.attrs"].attributes)
        assert raw_attrs == {"k": "\ufffd", "ok": True} and received["raw.attrs"].dropped_attributes_count == 1
        assert attributes_to_dict(received["raw.hashkey"].attributes) == {"k": 1}
        assert received["raw.status"].status.message == "bad\ufffd"
        assert attributes_to_dict(received["raw.link"].links[0].attributes) == {"y": "\ufffd"}

        url = telemetry.metrics_url
        for exporter in ("otlp", "file"):
            assert _value(url, "lukhas_obs_exported_spans_total", exporter=exporter, outcome="dropped") == dropped
        assert _value(url, "lukhas_obs_dropped_attributes_total", reason="out_of_range") >= 5
        telemetry.shutdown(timeout=5)
    encoder_errors = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter") and r.levelno >= 40]
    assert not encoder_errors, [r.getMessage() for r in encoder_errors][:3]  # no traceback per span (break 5)


def test_an_int_outside_int64_is_dropped_counted_and_logged_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    path = tmp_path / "traces.jsonl"
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_file=path)
    third = trace.get_tracer("third.party")
    for i in range(50):
        with lukhas_obs.span("memory.query", big=2**63 + i, k=i):
            pass
        third.start_span("raw.big", attributes={"big": -(2**63) - 1 - i, "k": i}).end()
    assert telemetry.force_flush(10)
    found = _file_spans(path)
    assert len(found) == 100
    assert all([a["key"] for a in s["attributes"]] in (["k", "component"], ["k"]) for s in found), found[0]
    assert _value(telemetry.metrics_url, "lukhas_obs_dropped_attributes_total", reason="out_of_range") == 100
    lines = [r for r in caplog.records if "out_of_range" in r.getMessage()]
    assert 1 <= len(lines) <= 2  # once per (span name, reason): two names
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_span_that_cannot_be_encoded_is_dropped_alone_by_the_trace_file(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from lukhas_obs.exporters.jsonl import JsonLinesSpanExporter

    path = tmp_path / "raw.jsonl"
    exporter = JsonLinesSpanExporter(str(path))
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    finished = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span) -> None:  # type: ignore[no-untyped-def]
            finished.append(span)

    provider.add_span_processor(Keep(exporter))
    for i in range(9):
        tracer.start_span(f"fine.{i}").end()
    tracer.start_span("bad\ud800").end()  # no sanitiser in front: the exporter itself must isolate it
    assert exporter.export(finished).name == "SUCCESS"
    assert sorted(s["name"] for s in _file_spans(path)) == [f"fine.{i}" for i in range(9)]


# -- break 8: memory bounds ------------------------------------------------------------------------------------


def test_span_attributes_are_limited_in_length_and_count(tmp_path):
    path = tmp_path / "traces.jsonl"
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_file=path)
    many = {f"a{i}": i for i in range(200)}
    with lukhas_obs.span("limits", huge="x" * 500_000, **many) as s:
        for i in range(300):
            s.add_event(f"e{i}")
    with trace.get_tracer("third.party").start_as_current_span("raw.limits", attributes={"huge": "y" * 500_000}):
        pass
    assert telemetry.force_flush(10)
    by_name = {s["name"]: s for s in _file_spans(path)}
    limited = by_name["limits"]
    assert len(limited["attributes"]) == 128 and limited["droppedAttributesCount"] == 73
    assert len(limited["events"]) == 128 and limited["droppedEventsCount"] == 172
    raw = by_name["raw.limits"]["attributes"][0]["value"]["stringValue"]
    assert len(raw) == 4096


def _allocated_during(fn) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_collector_down_with_huge_attributes_keeps_memory_bounded(caplog):
    caplog.set_level(logging.CRITICAL, logger="opentelemetry")
    telemetry = lukhas_obs.configure(
        prometheus_port=0,
        otlp_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens
        otlp_protocol="grpc",
        otlp_timeout=1,
        metric_export_interval=60,
    )

    def emit() -> None:
        filler = "z" * 500_000
        for i in range(3000):
            with lukhas_obs.span("upload", payload=f"{i:08d}" + filler):  # a distinct 500 KB value per span
                pass

    grown = _allocated_during(emit)
    print(f"\n3000 spans x 500 KB attribute, collector down: +{grown / 2**20:.1f} MiB held")
    assert grown < 150 * 2**20
    telemetry.shutdown(timeout=0.5)


def test_the_span_queue_is_bounded_in_bytes_and_the_drop_counted(monkeypatch, caplog):
    from lukhas_obs import runtime

    caplog.set_level(logging.CRITICAL, logger="opentelemetry")
    monkeypatch.setattr(runtime, "SPAN_QUEUE_MAX_BYTES", 4 * 2**20, raising=False)
    telemetry = lukhas_obs.configure(
        prometheus_port=0,
        otlp_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens: nothing leaves the queue
        otlp_protocol="grpc",
        otlp_timeout=1,
        metric_export_interval=60,
    )
    tail = "q" * 4000

    def emit() -> None:
        for i in range(200):  # 200 spans x 100 distinct 4 KB values = 80 MB if all were queued
            with lukhas_obs.span("wide", **{f"a{j}": f"{i:05d}{j:04d}{tail}" for j in range(100)}):
                pass

    grown = _allocated_during(emit)
    print(f"\n200 spans x 100 x 4 KB attributes, 4 MiB budget: +{grown / 2**20:.1f} MiB held")
    assert grown < 24 * 2**20
    dropped = _value(telemetry.metrics_url, "lukhas_obs_exported_spans_total", exporter="otlp", outcome="dropped")
    assert dropped >= 150
    assert sum("byte budget" in r.getMessage() for r in caplog.records) <= 1
    telemetry.shutdown(timeout=0.5)


def test_the_span_name_component_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(spans, "MAX_UNDECLARED_NAMES", 500, raising=False)
    getattr(spans, "_forget_components", spans._components.clear)()
    lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    for i in range(3000):
        with lukhas_obs.span(f"dynamic.{i}"):
            pass
    with lukhas_obs.span("memory.query") as declared:  # declared names are still found (and cached)
        assert declared.attributes["component"] == "memory"
    assert 500 < len(spans._components) <= 500 + 200  # + the declared names


# -- break 9: helpers never raise, never change the caller's exception ------------------------------------------


@pytest.mark.parametrize("name", [["x"], None, 42, b"bytes", object()])
def test_a_span_name_that_is_not_text_records_nothing_and_is_counted(exporter, name, caplog):
    caplog.set_level(logging.WARNING, logger="lukhas_obs")
    with lukhas_obs.span(name) as s:  # type: ignore[arg-type]
        assert not s.is_recording()

    @lukhas_obs.span(name)  # type: ignore[arg-type]
    def work(x: int) -> int:
        return x + 1

    assert work(1) == 2
    assert exporter.get_finished_spans() == ()
    url = lukhas_obs.active().metrics_url
    assert _value(url, "lukhas_obs_dropped_measurements_total", metric="lukhas_obs.span") == 2
    assert any("invalid_span_name" in r.getMessage() for r in caplog.records)


def _raise_inside(err: BaseException) -> None:
    raise err


def test_the_callers_exception_comes_out_unchanged_even_when_unprintable(exporter):
    err = Unprintable()
    with pytest.raises(Unprintable) as info, lukhas_obs.span("unprintable"):
        _raise_inside(err)
    assert info.value is err and traceback.extract_tb(err.__traceback__)[-1].name == "_raise_inside"
    (recorded,) = exporter.get_finished_spans()
    assert recorded.status.status_code is StatusCode.ERROR
    assert recorded.events[0].attributes["exception.message"].startswith("<unprintable ")
    assert recorded.events[0].attributes["exception.type"].endswith("Unprintable")


def test_third_party_start_as_current_span_never_replaces_the_exception(exporter):
    third = trace.get_tracer("third.party")
    err = Unprintable()
    with pytest.raises(Unprintable) as info, third.start_as_current_span("raw.unprintable"):
        _raise_inside(err)
    assert info.value is err and traceback.extract_tb(err.__traceback__)[-1].name == "_raise_inside"
    assert err.__context__ is None  # nothing of ours was chained onto it

    @third.start_as_current_span("raw.decorated")
    def decorated() -> None:
        _raise_inside(err)

    with pytest.raises(Unprintable) as again:
        decorated()
    assert again.value is err
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["raw.unprintable", "raw.decorated"]


def test_third_party_start_span_never_raises(exporter):
    third = trace.get_tracer(HashRaises("scope.name"))  # type: ignore[arg-type]
    spans_made = [
        third.start_span("a", attributes=HostileKeys(1)),
        third.start_span("b", attributes={"k": StrRaises("v")}),
        third.start_span("c", attributes={"k": Unprintable()}),
        third.start_span("d", kind="not a kind"),  # type: ignore[arg-type]
        third.start_span("e", links=[object()]),  # type: ignore[list-item]
    ]
    for s in spans_made:
        s.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["a", "b", "c", "d", "e"]


class _GetRaises(dict):
    def get(self, *args: object) -> object:
        raise RuntimeError("get of a hostile carrier")

    def items(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("items of a hostile carrier")


class _SetRaises(dict):
    def __setitem__(self, key: object, value: object) -> None:
        raise RuntimeError("setitem of a hostile carrier")


class _BoolRaises(dict):
    def __bool__(self) -> bool:
        raise RuntimeError("bool of a hostile carrier")

    __len__ = __bool__  # type: ignore[assignment]


@pytest.mark.parametrize(
    "carrier",
    [
        ["traceparent"],
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        42,
        "traceparent",
        _GetRaises(traceparent="x"),
        _BoolRaises(),
        {"traceparent": StrRaises("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
        {"traceparent": HashRaises("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
        {EqRaises("Traceparent"): "x"},
        {"traceparent": "\ud800" * 100_000},
    ],
)
def test_extract_never_raises(exporter, carrier):
    ctx = propagation.extract(carrier)  # type: ignore[arg-type]
    assert isinstance(ctx, Context)
    with propagation.continue_trace(carrier), lukhas_obs.span("after"):  # type: ignore[arg-type]
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["after"]


@pytest.mark.parametrize("carrier", [["x"], (), 42, "text", _SetRaises(), frozenset()])
def test_inject_never_raises_and_returns_the_carrier_unwritten(exporter, carrier, caplog):
    caplog.set_level(logging.WARNING, logger="lukhas_obs")
    with lukhas_obs.span("caller"):
        assert propagation.inject(carrier) is carrier  # type: ignore[arg-type]
        assert propagation.inject({}, context="not a context") != {}  # type: ignore[arg-type]
    url = lukhas_obs.active().metrics_url
    assert _value(url, "lukhas_obs_dropped_measurements_total", metric="lukhas_obs.propagation") >= 2
    assert any("invalid_carrier" in r.getMessage() for r in caplog.records)


def test_continue_trace_keeps_the_callers_exception(exporter):
    err = Unprintable()
    with pytest.raises(Unprintable) as info, propagation.continue_trace(["traceparent"]):  # type: ignore[arg-type]
        _raise_inside(err)
    assert info.value is err and traceback.extract_tb(err.__traceback__)[-1].name == "_raise_inside"


# -- also found: a trace file named explicitly is written alongside OTLP ----------------------------------------


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_demo_writes_the_named_trace_file_alongside_otlp(tmp_path, protocol):
    import io

    from lukhas_obs.demo import DemoOptions, run_demo

    path = tmp_path / "demo.jsonl"
    out = io.StringIO()
    with OtlpReceiver(protocol) as rx:
        options = DemoOptions(
            iterations=5, duration=30, port=0, traces_file=str(path), otlp_endpoint=rx.endpoint,
            otlp_protocol=protocol, pace=0,
        )  # fmt: skip
        assert run_demo(options, out=out) == 0
        assert rx.wait_for(lambda r: len(r.spans()) > 0, timeout=10)
        at_receiver = {s.name for _, _, s in rx.spans()}
    in_file = set(_file_spans_names(path))
    assert in_file and in_file == at_receiver
    assert str(path) in out.getvalue() and rx.endpoint in out.getvalue()


def _file_spans_names(path: Path) -> list[str]:
    return [s["name"] for s in _file_spans(path)]
