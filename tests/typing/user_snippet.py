"""What a user's service writes; type-checked with ``mypy --strict`` by tests/test_typing.py (never run)."""

from __future__ import annotations

import lukhas_obs
from lukhas_obs.flows import identity, memory

search: lukhas_obs.HistogramHandle = lukhas_obs.histogram("lukhas_memory_search_seconds")
search.record(0.012)
docs: lukhas_obs.CounterHandle = lukhas_obs.counter("lukhas_memory_docs_total")
docs.add(1)
backpressure: lukhas_obs.GaugeHandle = lukhas_obs.gauge("lukhas_dream_backpressure")
backpressure.set(0.5)
failures = lukhas_obs.counter("lukhas_auth_failures_total")
failures.add(1, tier="T2", reason="invalid_credentials")


@lukhas_obs.timed("lukhas_memory_search_seconds", span_name="memory.query")
def query(text: str, k: int = 8) -> list[str]:
    return [text] * k


hits: list[str] = query("hello")

with lukhas_obs.span("memory.query", k=3):
    memory.docs_indexed(2)


def verify() -> bool:
    return True


ok: bool = identity.authenticate("T2", verify)
telemetry: lukhas_obs.Telemetry = lukhas_obs.configure(prometheus_port=0)
flushed: bool = lukhas_obs.force_flush(timeout=1.0)

# Bound handles, gauge inc/dec, hooks and the seed-shaped decorators keep their types.
locked: lukhas_obs.BoundCounter = failures.bind(tier="T2", reason="locked")
locked.add()
bound_search: lukhas_obs.BoundHistogram = search.bind()
bound_search.record(0.003)
backpressure.inc(0.1)
backpressure.bind().dec()


@lukhas_obs.before_collect
def refresh() -> None:
    backpressure.set(0.25)


from lukhas_obs.decorators import timed_histogram  # noqa: E402


@timed_histogram("lukhas_memory_search_seconds")
def lookup(key: str) -> int:
    return len(key)


length: int = lookup("k")
