"""Exact totals with several writer threads and a concurrent collector (lock-free under the GIL, locked without it).

The writers use integers only, so every total has one right answer whatever the interleaving: counter sums, histogram
counts, bucket counts and integer sums. The switch interval is lowered to 1 µs so threads switch as often as
CPython allows. A deliberately broken recorder (a Python-level call between read and write) shows the harness
does detect lost updates.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from lukhas_obs._compat.metric_producer import install
from lukhas_obs.aggregation import Aggregator

WRITERS = 4
OPS = 200_000  # per writer: half counter adds, half histogram records
BOUNDS = (1, 2, 5, 10)


@contextmanager
def fast_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_threads(writer: Callable[[int], None], collector: Callable[[], None]) -> int:
    """Start the writers and one collector looping until they finish; return how many collections ran."""
    stop = threading.Event()
    collections = 0
    errors: list[BaseException] = []

    def collect_loop() -> None:
        nonlocal collections
        try:
            while not stop.is_set():
                collector()
                collections += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    start = threading.Barrier(WRITERS)

    def guarded(index: int) -> None:
        try:
            start.wait(timeout=30)  # all writers run at once, not one after the other
            writer(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(WRITERS)]
    watcher = threading.Thread(target=collect_loop)
    with fast_switching():
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        stop.set()
        watcher.join(timeout=30)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads) and not watcher.is_alive()
    return collections


def points(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    out = {}
    for sm in data.resource_metrics[0].scope_metrics:
        for metric in sm.metrics:
            out[metric.name] = metric.data.data_points
    return out


@pytest.mark.parametrize("locked", [False, True], ids=["lock-free", "locked"])
def test_writer_threads_and_a_concurrent_collector_give_exact_totals(locked: bool) -> None:
    if locked is False and Aggregator().locked:
        pytest.skip("free-threaded build: the lock-free path is never used")
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    provider = MeterProvider(metric_readers=readers, shutdown_on_exit=False)
    aggregator = Aggregator(locked=locked)
    install(provider, aggregator, scope_name="threads")
    counter = aggregator.metric("t.adds", "", "1", "counter")
    histogram = aggregator.metric("t.records", "", "1", "histogram", buckets=BOUNDS)
    ops = OPS if not locked else OPS // 4  # the locked path is slower; its exactness does not need as many

    def writer(index: int) -> None:
        add = counter.series({"w": index % 2}).add
        record = histogram.series({"w": index % 2}).record
        for i in range(ops // 2):
            add(3)
            record(i % 12)

    def collector() -> None:
        readers[0].collect()  # the other reader collects only at the end: two readers, different windows

    try:
        collections = run_threads(writer, collector)
        assert collections > 3
        for reader in readers:
            got = points(reader)
            adds = sorted((p.attributes["w"], p.value) for p in got["t.adds"])
            per_series = (WRITERS // 2) * (ops // 2)
            assert adds == [(0, 3 * per_series), (1, 3 * per_series)]
            values = [i % 12 for i in range(ops // 2)]
            for p in got["t.records"]:
                assert p.count == per_series
                assert p.sum == (WRITERS // 2) * sum(values)
                expected_buckets = [0] * (len(BOUNDS) + 1)
                for v in values:
                    expected_buckets[sum(1 for b in BOUNDS if b < v)] += WRITERS // 2
                assert list(p.bucket_counts) == expected_buckets
                assert (p.min, p.max) == (0, 11)
    finally:
        provider.shutdown()


def test_the_harness_detects_lost_updates() -> None:
    """A read, a Python-level call, then the write: the kind of recorder the engine must never be."""

    class Broken:
        __slots__ = ("total",)

        def __init__(self) -> None:
            self.total = 0

        def add(self, v: int) -> None:
            current = self.total
            _pause()
            self.total = current + v

    def _pause() -> None:
        return None

    broken = Broken()
    per_writer = 100_000

    def writer(index: int) -> None:
        for _ in range(per_writer):
            broken.add(1)

    run_threads(writer, lambda: None)
    assert broken.total < WRITERS * per_writer  # updates were lost: the exactness test above can fail
