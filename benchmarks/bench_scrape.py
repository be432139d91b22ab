"""``/metrics`` scrape cost: the OTel exporter vs lukhas-obs' direct renderer vs prometheus_client, in one process.

Run from the repository root::

    python -m benchmarks.bench_scrape            # 10, 100, 1k, 10k series (1-2 minutes on 2 cores)
    python -m benchmarks.bench_scrape --quick    # fewer repeats (under a minute; ratios indicative)
    python -m benchmarks.bench_scrape --sizes 10,1000 --json out.json

One histogram (seed 003's ``std`` buckets: 9 bounds, 10 bucket lines) with N series (labels ``lane`` and
``service``), one measurement each, rendered as Prometheus text 0.0.4 (and OpenMetrics where a column says so).
Each figure is the median wall time of one scrape, in ms; scrapes of all columns are interleaved (the order
rotates each repeat) and the garbage collector is emptied before each.

- **exporter**: ``generate_latest`` on the OTel ``PrometheusMetricReader``'s registry (SDK collection + the
  exporter's conversion + prometheus_client's rendering) — what lukhas-obs served before.
- **direct**: ``DirectPrometheusReader.render`` on the same ``MeterProvider`` (SDK collection + direct rendering):
  the same bytes (checked here before timing).
- **render only**: :func:`lukhas_obs.exporters.render.render` of one collection's ``MetricsData`` (no collection).
- **aggregation → direct**: the series recorded into lukhas' own aggregation (``lukhas_obs.aggregation``)
  published to the reader (the default recording path), rendered directly; and **aggregation → exporter**, the same
  data through the OTel exporter.
- **prometheus_client**: ``generate_latest`` of a prometheus_client ``Histogram`` with the same children.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
from collections.abc import Callable
from importlib import metadata
from time import perf_counter
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Histogram as SDKHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Histogram as PromHistogram
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from lukhas_obs._compat.metric_producer import install
from lukhas_obs.aggregation import Aggregator
from lukhas_obs.exporters.render import DirectPrometheusReader, DirectRegistry, render

STD = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RESOURCE = Resource({"service.name": "lukhas-bench", "lane": "candidate"})
VALUE = 0.012
COLUMNS = (
    "exporter",
    "direct",
    "render_only",
    "agg_exporter",
    "agg_direct",
    "prometheus_client",
    "exporter_om",
    "direct_om",
)


class OTelSide:
    """A MeterProvider with both Prometheus readers; series recorded through the SDK or the own aggregation."""

    def __init__(self, count: int, *, aggregation: bool) -> None:
        limits = {SDKHistogram: count + 10}
        self.registry = CollectorRegistry(auto_describe=True)
        self.exporter = PrometheusMetricReader(
            scope_info_enabled=False, registry=self.registry, cardinality_limits=limits
        )
        self.direct = DirectPrometheusReader(
            scope_labels=False, registry=DirectRegistry(), cardinality_limits=limits
        )
        self.provider = MeterProvider(
            metric_readers=[self.exporter, self.direct], resource=RESOURCE, shutdown_on_exit=False
        )
        services = [f"svc-{i:05d}" for i in range(count)]
        if aggregation:
            aggregator = Aggregator()
            install(self.provider, aggregator, scope_name="lukhas_obs", scope_version="0.1.0")
            state = aggregator.metric("lukhas.memory.search", "Latency of memory search", "s", "histogram", STD)
            for service in services:
                state.series({"lane": "candidate", "service": service}).record(VALUE)
        else:
            histogram = self.provider.get_meter("lukhas_obs", "0.1.0").create_histogram(
                "lukhas.memory.search",
                unit="s",
                description="Latency of memory search",
                explicit_bucket_boundaries_advisory=list(STD),
            )
            for service in services:
                histogram.record(VALUE, {"lane": "candidate", "service": service})

    def check(self, count: int, openmetrics: bool = True) -> None:
        """The direct reader's bytes are the exporter's (text and OpenMetrics; no spans, so no exemplars)."""
        text = self.direct.render(openmetrics=False)
        if text != generate_latest(self.registry):
            raise SystemExit("direct text differs from the exporter's: run tests/test_render_differential.py")
        if openmetrics and self.direct.render(openmetrics=True) != generate_openmetrics(self.registry):
            raise SystemExit("direct OpenMetrics differs from the exporter's")
        if text.count(b"lukhas_memory_search_seconds_count{") != count:
            raise SystemExit(f"expected {count} series")

    def close(self) -> None:
        self.provider.shutdown(timeout_millis=1000)


def prometheus_client_registry(count: int) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    histogram = PromHistogram(
        "lukhas_memory_search_seconds", "Latency of memory search", ["lane", "service"], buckets=STD, registry=registry
    )
    for i in range(count):
        histogram.labels("candidate", f"svc-{i:05d}").observe(VALUE)
    return registry


#: Columns cheap enough to warm up at every size (the others are warmed up below 10k series only).
FAST = ("direct", "render_only", "agg_direct", "direct_om")


def measure(scrapes: dict[str, Callable[[], Any]], repeats: int, warm_all: bool) -> dict[str, list[float]]:
    """Wall time of single scrapes in ms, interleaved: the order rotates every repeat."""
    samples: dict[str, list[float]] = {name: [] for name in scrapes}
    names = list(scrapes)
    for name, scrape in scrapes.items():  # warm-up (caches, first-collection work)
        if warm_all or name in FAST:
            scrape()
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            start = perf_counter()
            scrapes[name]()
            samples[name].append((perf_counter() - start) * 1000)
    return samples


def run_size(count: int, repeats: int, warm_all: bool = True) -> dict[str, float]:
    sdk = OTelSide(count, aggregation=False)
    agg = OTelSide(count, aggregation=True)
    try:
        sdk.check(count)  # also the exporter columns' warm-up
        agg.check(count, openmetrics=warm_all)
        data = sdk.direct.collect_data()
        registry = prometheus_client_registry(count)
        scrapes: dict[str, Callable[[], Any]] = {
            "exporter": lambda: generate_latest(sdk.registry),
            "direct": lambda: sdk.direct.render(openmetrics=False),
            "render_only": lambda: render(data, openmetrics=False, scope_labels=False),
            "agg_exporter": lambda: generate_latest(agg.registry),
            "agg_direct": lambda: agg.direct.render(openmetrics=False),
            "prometheus_client": lambda: generate_latest(registry),
            "exporter_om": lambda: generate_openmetrics(sdk.registry),
            "direct_om": lambda: sdk.direct.render(openmetrics=True),
        }
        samples = measure(scrapes, repeats, warm_all)
    finally:
        sdk.close()
        agg.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b > 0 else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (indicative ratios, under a minute)")
    parser.add_argument("--sizes", default="10,100,1000,10000", help="comma-separated series counts")
    parser.add_argument(
        "--repeats", type=int, default=None, help="scrapes per column and size (default 7; quick: 3, 2 at 10k+)"
    )
    parser.add_argument("--json", default=None, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    repeats = args.repeats or (3 if args.quick else 7)
    results: dict[int, dict[str, float]] = {}
    for count in sizes:
        if count < 1000:
            results[count] = run_size(count, repeats * 5)
        elif count < 10_000 or not args.quick:
            results[count] = run_size(count, repeats)
        else:  # the exporter and prometheus_client take seconds per scrape here
            results[count] = run_size(count, args.repeats or 2, warm_all=False)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"opentelemetry-sdk {metadata.version('opentelemetry-sdk')}, "
        f"opentelemetry-exporter-prometheus {metadata.version('opentelemetry-exporter-prometheus')}, "
        f"prometheus_client {metadata.version('prometheus_client')}; median ms per scrape, {repeats} repeats"
        + (" (x5 below 1k series)" if any(c < 1000 for c in sizes) else "")
    )
    print()
    print(
        "| series | exporter | direct | render only | agg → exporter | agg → direct | prometheus_client "
        "| exporter OM | direct OM | direct / exporter | agg direct / agg exporter | direct OM / exporter OM "
        "| direct / prometheus_client |"
    )
    print("|---:|" + "---:|" * 12)
    for count, row in results.items():
        cells = " | ".join(f"{row[name]:,.2f}" for name in COLUMNS)
        print(
            f"| {count:,} | {cells} | {_ratio(row['direct'], row['exporter'])} "
            f"| {_ratio(row['agg_direct'], row['agg_exporter'])} | {_ratio(row['direct_om'], row['exporter_om'])} "
            f"| {_ratio(row['direct'], row['prometheus_client'])} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"repeats": repeats, "results": {str(k): v for k, v in results.items()}}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
