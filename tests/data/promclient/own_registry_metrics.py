"""A metrics module with its own CollectorRegistry (not a seed): the shapes ``catalog import`` must find and refuse.

Metrics on a private registry, one in a list only, a Summary, an Enum, a custom collector, a bound child, and a
registry-less metric. ``COLLECTS`` counts calls to the custom collector's ``collect()``: the importer never makes one.
"""

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Summary
from prometheus_client.core import GaugeMetricFamily

PFORGE_REGISTRY = CollectorRegistry()

GAPS = Gauge("own_gaps", "Empty spaces E(t)", registry=PFORGE_REGISTRY)
MISFITS = Gauge("own_misfits", "Wrongly placed pieces M(t)", registry=PFORGE_REGISTRY)
PATCHES_APPLIED = Counter("own_patches_applied", "Patches applied", ["agent_type"], registry=PFORGE_REGISTRY)
TICK_DURATION = Histogram(
    "own_tick_duration_seconds", "Tick duration", buckets=[0.5, 1, 2.5, 1000000], registry=PFORGE_REGISTRY
)
PAYLOAD = Summary("own_payload_bytes", "Payload size", ["route"], registry=PFORGE_REGISTRY)
PHASE = Enum("own_phase", "Solver phase", states=["idle", "solving", "done"], registry=PFORGE_REGISTRY)
ONLY_IN_A_LIST = [Gauge("own_listed_ratio", "Kept in a list, not a global", registry=PFORGE_REGISTRY)]
BOUND = Counter("own_bound_calls", "A child is the only global", ["tool_name"]).labels("search")
UNREGISTERED = Gauge("own_unregistered", "registry=None", registry=None)

COLLECTS = [0]


class QueueCollector:
    """Values computed at scrape time."""

    def describe(self):
        return [GaugeMetricFamily("own_queue_depth", "Queue depth")]

    def collect(self):
        COLLECTS[0] += 1
        yield GaugeMetricFamily("own_queue_depth", "Queue depth", value=3)


PFORGE_REGISTRY.register(QueueCollector())
