"""The viewer's exposition parser and bounded history: real renderer output, hostile text, bounds, staleness."""

from __future__ import annotations

import logging
import math
import threading
import time

import pytest

import lukhas_obs
from lukhas_obs.viewer import promql
from lukhas_obs.viewer.history import MAX_LABEL_VALUE, History, Scrape, family_of, parse_exposition
from lukhas_obs.viewer.sources import Sampler, in_process_exposition


def test_parses_the_direct_renderers_openmetrics_with_exemplars(tmp_path) -> None:
    lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl")
    with lukhas_obs.span("viewer.test"):
        for i in range(5):
            lukhas_obs.histogram("lukhas_memory_search_seconds").record(0.01 * (i + 1))
            lukhas_obs.counter("lukhas_memory_docs_total").add(1)
    body = in_process_exposition()
    scrape = parse_exposition(body)
    names = {name for name, _, _ in scrape.samples}
    assert "lukhas_memory_search_seconds_bucket" in names and "lukhas_memory_docs_total" in names
    assert scrape.malformed == 0
    buckets = [(labels["le"], v) for n, labels, v in scrape.samples if n == "lukhas_memory_search_seconds_bucket"]
    assert buckets[-1] == ("+Inf", 5.0)
    families = {e.metric for e in scrape.exemplars}
    assert "lukhas_memory_docs_total" in families
    assert all(len(e.trace_id) == 32 and len(e.span_id) == 16 for e in scrape.exemplars)


def test_label_escapes_and_hostile_lines() -> None:
    body = "\n".join(
        [
            '# HELP x a "help" with {braces} # and hashes',
            'x{a="quote \\" back \\\\ nl \\n",b="</script><img src=x onerror=alert(1)>"} 1.5',
            'x{a="# { not an exemplar"} 2 # {trace_id="zz",span_id="12"} 1',  # bad ids: the exemplar is dropped
            'y{a="unterminated} 3',
            "z 1e400",
            "w NaN",
            "v +Inf 123",
            "u{} 4",
            "bad line",
            '{a="b"} 1',
            "t{a=\"b\",} 5",
            "s 1 2 3",
        ]
    )
    scrape = parse_exposition(body)
    values = {(n, tuple(sorted(labels.items()))): v for n, labels, v in scrape.samples}
    hostile = values[("x", (("a", 'quote " back \\ nl \n'), ("b", "</script><img src=x onerror=alert(1)>")))]
    assert hostile == 1.5
    assert values[("x", (("a", "# { not an exemplar"),))] == 2.0
    assert math.isinf(values[("z", ())]) and math.isnan(values[("w", ())]) and values[("u", ())] == 4.0
    assert values[("t", (("a", "b"),))] == 5.0
    assert scrape.exemplars == []
    assert scrape.malformed == 4  # the unterminated label, "bad line", the nameless sample, too many fields


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage\n" * 1000,
        ('x{a="' + "\\" * 200_000 + '"} 1').encode(),
        ('x{a="' + "a" * 2_000_000 + '"} 1').encode(),
        ("x{" + 'a="b",' * 50_000 + "} 1").encode(),
        b"x " + b"9" * 100_000,
        ('x{a="\\' + '"' * 100_000).encode(),
    ],
)
def test_hostile_bodies_are_linear_and_never_raise(body: bytes) -> None:
    started = time.monotonic()
    scrape = parse_exposition(body)
    assert time.monotonic() - started < 2.0
    for _, labels, _ in scrape.samples:
        assert all(len(v) <= MAX_LABEL_VALUE for v in labels.values())


def _scrape(*samples: tuple[str, dict[str, str], float]) -> Scrape:
    return Scrape(list(samples), [])


def test_ring_wraps_and_keeps_times_and_values_aligned() -> None:
    history = History(capacity=5)
    for i in range(12):
        history.add(_scrape(("g", {}, float(i))), at=100.0 + i)
    assert history.times == [107.0, 108.0, 109.0, 110.0, 111.0]
    ((series),) = history.select("g", [])
    assert list(series.values) == [7.0, 8.0, 9.0, 10.0, 11.0]


def test_clock_stepping_back_keeps_times_increasing() -> None:
    history = History(capacity=4)
    history.add(_scrape(("g", {}, 1.0)), at=100.0)
    history.add(_scrape(("g", {}, 2.0)), at=50.0)
    times = history.times
    assert times[1] > times[0]


def test_series_limit_refuses_new_series_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    history = History(capacity=3, max_series=10)
    caplog.set_level(logging.WARNING, logger="lukhas_obs")
    history.add(Scrape([("g", {"i": str(i)}, 1.0) for i in range(50)], []), at=1.0)
    assert history.stats()["series"] == 10 and history.refused_series == 40
    assert any("viewer" in r.getMessage() for r in caplog.records)


def test_absent_series_go_stale_and_are_forgotten_after_a_ring() -> None:
    history = History(capacity=4)
    history.add(_scrape(("g", {}, 1.0), ("h", {}, 1.0)), at=1.0)
    for i in range(2, 7):
        history.add(_scrape(("h", {}, float(i))), at=float(i))
        if i == 2:
            assert promql.evaluate("g", history.snapshot(), [2.0]).series == ()  # stale at once
    assert history.select("g", []) == []
    assert history.stats()["series"] == 1


def test_snapshot_stays_consistent_while_the_sampler_writes() -> None:
    history = History(capacity=50)
    for i in range(50):
        history.add(_scrape(("c", {}, float(i))), at=float(i))
    stop = threading.Event()

    def writer() -> None:
        i = 50
        while not stop.is_set():
            history.add(_scrape(("c", {}, float(i))), at=float(i))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(200):
            snap = history.snapshot()
            ((series),) = snap.select("c", [])
            assert len(series.values) == len(snap.times)
            for t, v in zip(snap.times, series.values, strict=True):
                assert math.isnan(v) or v == t  # each value sits at its own scrape's time
    finally:
        stop.set()
        thread.join(5)


def test_exemplars_are_bounded_per_family_and_filtered_by_time() -> None:
    history = History(capacity=4)
    text = "\n".join(
        f'x_bucket{{le="1"}} {i} # {{trace_id="{i:032x}",span_id="{i:016x}"}} 0.5 {1000 + i}' for i in range(40)
    )
    history.add(parse_exposition(text), at=2000.0)
    kept = history.exemplars(["x"], 1020.0, 1100.0)
    assert len(kept) == 16 and kept[0].timestamp == 1039.0 and family_of("x_bucket") == "x"
    assert history.exemplars(["x"], 0.0, 10.0) == []


def test_sampler_never_raises_and_notes_the_failure() -> None:
    history = History(capacity=4)

    def broken() -> bytes:
        raise OSError("http://127.0.0.1:1/metrics: Connection refused")

    sampler = Sampler(history, broken, 0.05)
    assert sampler.sample_once() is False
    assert "Connection refused" in str(history.stats()["last_error"])

    sampler.scrape = lambda: 12345  # type: ignore[assignment,return-value]  # not an exposition at all
    assert sampler.sample_once() is False
    assert history.stats()["last_error"] == "TypeError"
    sampler.start()
    time.sleep(0.2)
    assert sampler.stop(2.0)


def test_capacity_and_series_bounds_are_validated() -> None:
    for bad in (0, 1, -5, True, 10**9, 2.5):
        with pytest.raises(ValueError, match="capacity"):
            History(capacity=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_series"):
        History(max_series=0)
