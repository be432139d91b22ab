"""Exact totals through the public handles with several writer threads and a concurrent ``/metrics`` scraper.

The engine's own threading test (tests/test_aggregation_threads.py) drives series directly; this one drives what
users call — keyword attributes (generated recorders), bound handles and the ``**mapping`` general path — so a
lost update anywhere between a handle and its series shows up. Integers only: every total has one right answer.
"""

from __future__ import annotations

import sys
import threading

import lukhas_obs
from tests.support.scrape import scrape

WRITERS = 4
OPS = 30_000


def _writer(index: int, barrier: threading.Barrier) -> None:
    failures = lukhas_obs.counter("lukhas_auth_failures_total")
    latency = lukhas_obs.histogram("lukhas_auth_latency_seconds")
    bound = failures.bind(tier="T1", reason="locked")
    barrier.wait()
    for i in range(OPS):
        style = i % 3
        if style == 0:
            failures.add(1, tier="T2", reason="locked")
        elif style == 1:
            bound.add(1)
        else:
            failures._emit(1, {"tier": "T3", "reason": "expired"})
        latency.record(i % 4, tier="T1")


def test_exact_totals_with_writer_threads_and_a_concurrent_scraper():
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    assert telemetry.aggregator is not None
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    barrier = threading.Barrier(WRITERS + 1)
    done = threading.Event()
    scrapes = 0

    def scraper() -> None:
        nonlocal scrapes
        barrier.wait()
        while not done.is_set():
            lukhas_obs.render_exposition()
            scrapes += 1

    try:
        threads = [threading.Thread(target=_writer, args=(n, barrier)) for n in range(WRITERS)]
        scraping = threading.Thread(target=scraper)
        for thread in [*threads, scraping]:
            thread.start()
        for thread in threads:
            thread.join(120)
        done.set()
        scraping.join(30)
    finally:
        sys.setswitchinterval(previous)
    assert scrapes > 1
    families = scrape(telemetry.metrics_url)  # over real HTTP, after the threads
    totals = {s.labels["tier"]: s.value for s in families.samples("lukhas_auth_failures_total")}
    per_style = WRITERS * OPS // 3
    assert totals == {"T1": per_style, "T2": per_style, "T3": per_style}
    (count,) = families.samples("lukhas_auth_latency_seconds_count")
    (total,) = families.samples("lukhas_auth_latency_seconds_sum")
    assert count.value == WRITERS * OPS
    assert total.value == WRITERS * sum(i % 4 for i in range(OPS))
