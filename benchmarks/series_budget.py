"""Series budget: how many time series each catalog can put on ``/metrics`` per process, and what a fleet adds up to.

Run from the repository root::

    python -m benchmarks.series_budget                      # per-metric and per-catalog tables (markdown)
    python -m benchmarks.series_budget --fleet 1,100,10000  # totals for fleets of that many processes
    python -m benchmarks.series_budget --measure            # also run the lukhas_core demo workload in-process:
                                                            # series it really exposed, bytes per scrape and per
                                                            # OTLP/HTTP export (a local receiver counts bodies)
    python -m benchmarks.series_budget --json out.json

docs/SCALING.md quotes this script's output; rerun it after changing a catalog.

How a metric's series are counted (every registered catalog: ``lukhas_obs.catalog.catalogs()`` after the systems
registered theirs):

- **attribute sets**: the product over its call-time attributes of the values each can take. An enumerated
  attribute takes its ``values`` plus the value outside ones fold to (``other``, or the catalog's ``fold_to``) when
  that is not already listed; a free-form attribute (no ``values``, or ``keep_unknown``) is unbounded. The product
  is capped at the metric's cardinality limit (``cardinality_limit``, 1000 by default, or its entry in
  ``cardinality_limits``): past it lukhas-obs drops new sets and counts them (``reason="cardinality_limit"``), so
  the limit is the worst case. Common attributes (``lane``, ``service``) are one value per process.
- **samples per set**, as the Prometheus text format renders them: histogram ``len(buckets) + 1`` buckets (``+Inf``)
  plus ``_sum`` and ``_count``; ``rate_of_change`` one per window; every other kind one. ``created_series=True``
  adds a ``_created`` sample per set of counters and histograms.
- **OTLP points**: one data point per attribute set (a histogram's buckets travel inside its point); per window for
  ``rate_of_change``.

Every process also exposes one ``target_info`` series (its resource). Counted here, nothing runs; ``--measure`` is
the check against reality (tests/test_scale_out.py also checks that the demo's ``/metrics`` stays within this
budget).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lukhas_obs.catalog import Catalog, MetricSpec, catalogs

__all__ = ["CatalogBudget", "MetricBudget", "budget", "catalog_totals", "main", "measure", "registered_catalogs"]

#: Fleet sizes of the default ``--fleet`` table (docs/SCALING.md, "From 1 to 10,000 processes").
DEFAULT_FLEET = (1, 10, 100, 1_000, 10_000)


@dataclass(frozen=True)
class MetricBudget:
    """The series budget of one metric in one process."""

    catalog: str
    metric: str
    kind: str
    #: Call-time labels (the catalog's common labels, one value per process, are left out).
    labels: tuple[str, ...]
    #: Attribute sets the declared values allow (None: a free-form attribute makes it unbounded).
    declared_sets: int | None
    #: The cardinality limit that caps this metric.
    limit: int
    #: Attribute sets at most: ``min(declared_sets, limit)``.
    sets: int
    samples_per_set: int
    #: Data points per OTLP export at most.
    otlp_points: int
    #: Labels whose values are free-form (bounded only by the limit).
    free_form: tuple[str, ...]

    @property
    def series(self) -> int:
        """Prometheus series (samples per scrape) at most."""
        return self.sets * self.samples_per_set


@dataclass(frozen=True)
class CatalogBudget:
    """One catalog's totals per process."""

    catalog: str
    metrics: int
    series: int
    otlp_points: int
    #: Series if every free-form label took a single value (what a well-behaved workload looks like).
    series_enumerated: int
    #: Metrics whose worst case is set by the cardinality limit (a free-form label, or an enumeration past the limit).
    limit_bound: int


def registered_catalogs() -> tuple[Catalog, ...]:
    """Every catalog: lukhas-obs' own and each known system's (a system whose catalog fails to load is skipped)."""
    from lukhas_obs.systems import systems

    for system in systems().values():
        try:
            system.register()
        except Exception as exc:  # an unrelated broken system must not hide the others' budget
            print(f"series_budget: system {system.name!r} not counted: {exc}", file=sys.stderr)
    return catalogs()


def _values(attr: Any) -> int | None:
    if attr.values is None or attr.keep_unknown:
        return None
    values = set(attr.values)
    values.add(attr.fold_to)
    return len(values)


def _samples_per_set(spec: MetricSpec, created_series: bool) -> tuple[int, int]:
    """(Prometheus samples, OTLP points) per attribute set."""
    from lukhas_obs.catalog.kinds import KINDS

    entry = KINDS[spec.kind]
    if spec.kind == "rate_of_change":
        windows = max(1, len(spec.windows))
        return windows, windows
    created = 1 if created_series and (entry.buckets or entry.monotonic) else 0
    if entry.buckets:
        return len(spec.buckets or ()) + 1 + 2 + created, 1
    return 1 + created, 1


def budget(
    specs: Iterable[Catalog],
    cardinality_limit: int = 1000,
    cardinality_limits: dict[str, int] | None = None,
    created_series: bool = False,
) -> list[MetricBudget]:
    """The budget of every metric of ``specs`` (see the module docstring for the counting rules)."""
    limits = cardinality_limits or {}
    out: list[MetricBudget] = []
    for cat in specs:
        for spec in cat.metrics:
            counts = [(a.label, _values(a)) for a in spec.attributes]
            free = tuple(label for label, n in counts if n is None)
            declared: int | None = None if free else math.prod(n for _, n in counts if n is not None)
            limit = limits.get(spec.name, cardinality_limit)
            sets = limit if declared is None else min(declared, limit)
            samples, points = _samples_per_set(spec, created_series)
            out.append(
                MetricBudget(
                    cat.name, spec.name, spec.kind, tuple(a.label for a in spec.attributes), declared, limit,
                    sets, samples, sets * points, free,
                )
            )  # fmt: skip
    return out


def catalog_totals(rows: Sequence[MetricBudget]) -> list[CatalogBudget]:
    """Per-catalog sums of :func:`budget` rows, in catalog order."""
    order: dict[str, list[MetricBudget]] = {}
    for row in rows:
        order.setdefault(row.catalog, []).append(row)
    totals = []
    for name, items in order.items():
        enumerated = 0
        for r in items:
            if r.declared_sets is not None:
                enumerated += min(r.declared_sets, r.limit) * r.samples_per_set
            else:  # free-form labels at one value each: the product of the enumerated ones
                enumerated += min(_enumerated_product(r), r.limit) * r.samples_per_set
        totals.append(
            CatalogBudget(
                name,
                len(items),
                sum(r.series for r in items),
                sum(r.otlp_points for r in items),
                enumerated,
                sum(1 for r in items if r.declared_sets is None or r.declared_sets > r.limit),
            )
        )
    return totals


def _enumerated_product(row: MetricBudget) -> int:
    from lukhas_obs.catalog import find_metric

    spec = find_metric(row.metric)
    return math.prod(n for n in (_values(a) for a in spec.attributes) if n is not None)


# ---------------------------------------------------------------------------------------------------- measuring


class _BodyCounter(BaseHTTPRequestHandler):
    """OTLP/HTTP stand-in: answers 200 with an empty protobuf response and records each body (size, path)."""

    bodies: list[tuple[str, bytes]]
    lock: threading.Lock
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        with self.lock:
            self.bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def _decode_counts(path: str, body: bytes) -> int:
    """Data points (metrics) or spans (traces) in one OTLP/HTTP protobuf body."""
    if path.endswith("/v1/metrics"):
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        req = ExportMetricsServiceRequest.FromString(body)
        return sum(
            len(getattr(m, m.WhichOneof("data")).data_points)
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    treq = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in treq.resource_spans for ss in rs.scope_spans)


_SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total", "_info")


def _samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def measure(system: str = "lukhas_core", iterations: int = 200) -> dict[str, Any]:
    """Run ``system``'s demo workload in this process; measure ``/metrics`` and the OTLP/HTTP requests it sends.

    Everything stays on 127.0.0.1: ``/metrics`` on a free port, OTLP to a local body-counting server. Returns
    sizes in bytes, sample and point counts, and the metric families the scrape exposed.
    """
    import lukhas_obs
    from lukhas_obs.demo import load_workload

    handler = type("_Counter", (_BodyCounter,), {"bodies": [], "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        telemetry = lukhas_obs.configure(
            prometheus_host="127.0.0.1",
            prometheus_port=0,
            otlp_endpoint=f"http://127.0.0.1:{server.server_address[1]}",
            otlp_protocol="http",
            metric_export_interval=3600.0,
            traces_exporter="otlp",
            reconfigure=True,
        )
        try:
            workload = load_workload(system)
            for i in range(iterations):
                workload.step(i)
            url = telemetry.metrics_url
            if url is None:
                raise RuntimeError("the /metrics server did not start")
            with urllib.request.urlopen(url, timeout=10) as resp:
                text_body = resp.read()
            request = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
            with urllib.request.urlopen(request, timeout=10) as resp:
                om_body = resp.read()
            lukhas_obs.force_flush(timeout=10)
        finally:
            lukhas_obs.shutdown()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(p.endswith("/v1/metrics") for p, _ in handler.bodies):
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    with handler.lock:
        bodies = list(handler.bodies)
    text = text_body.decode("utf-8")
    samples = _samples(text)
    families = sorted({line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")})
    by_family: dict[str, int] = {}
    for line in samples:
        name = line.split("{", 1)[0].split(" ", 1)[0]
        family = next((f for f in families if name == f or (name[len(f) :] in _SUFFIXES and name.startswith(f))), name)
        by_family[family] = by_family.get(family, 0) + 1
    metric_bodies = [b for p, b in bodies if p.endswith("/v1/metrics")]
    trace_bodies = [b for p, b in bodies if p.endswith("/v1/traces")]
    points = sum(_decode_counts("/v1/metrics", b) for b in metric_bodies)
    spans = sum(_decode_counts("/v1/traces", b) for b in trace_bodies)
    n_metric = max(1, len(metric_bodies))
    return {
        "system": system,
        "iterations": iterations,
        "scrape_text_bytes": len(text_body),
        "scrape_text_gzip_bytes": len(gzip.compress(text_body)),
        "scrape_openmetrics_bytes": len(om_body),
        "scrape_samples": len(samples),
        "bytes_per_sample": round(len(text_body) / max(1, len(samples)), 1),
        "families": families,
        "samples_by_family": by_family,
        # force_flush and shutdown each export once: per-export figures are means over the requests.
        "otlp_metric_exports": len(metric_bodies),
        "otlp_metric_bytes_per_export": sum(map(len, metric_bodies)) // n_metric,
        "otlp_metric_gzip_bytes_per_export": sum(len(gzip.compress(b)) for b in metric_bodies) // n_metric,
        "otlp_metric_points_per_export": points // n_metric,
        "bytes_per_point": round(sum(map(len, metric_bodies)) / max(1, points), 1),
        "otlp_trace_requests": len(trace_bodies),
        "otlp_trace_bytes_per_request": sum(map(len, trace_bodies)) // max(1, len(trace_bodies)),
        "otlp_spans": spans,
        "spans_per_workload_step": round(spans / max(1, iterations), 1),
        "bytes_per_span": round(sum(map(len, trace_bodies)) / max(1, spans), 1),
    }


# ---------------------------------------------------------------------------------------------------- output


def _fmt(n: int | None) -> str:
    return "unbounded" if n is None else f"{n:,}"


def render(
    rows: Sequence[MetricBudget], totals: Sequence[CatalogBudget], fleet: Sequence[int], per_metric: bool = True
) -> str:
    """The markdown tables docs/SCALING.md quotes."""
    lines: list[str] = []
    if per_metric:
        lines += [
            "| catalog | metric | kind | call-time labels | sets declared | limit | samples/set | series (max) |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            labels = ", ".join(f"{lab}*" if lab in r.free_form else lab for lab in r.labels)
            lines.append(
                f"| {r.catalog} | `{r.metric}` | {r.kind} | {labels or '—'} | {_fmt(r.declared_sets)} | {r.limit:,} | "
                f"{r.samples_per_set} | {r.series:,} |"
            )
        lines += ["", "`*` free-form label: bounded only by the cardinality limit.", ""]
    lines += [
        "| catalog | metrics | series per process (max) | OTLP points per export (max) | series, free-form labels at one value | metrics capped by the limit |",  # noqa: E501
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in totals:
        lines.append(
            f"| {t.catalog} | {t.metrics} | {t.series:,} | {t.otlp_points:,} | {t.series_enumerated:,} | "
            f"{t.limit_bound} |"
        )
    all_max = sum(t.series for t in totals) + 1
    all_enum = sum(t.series_enumerated for t in totals) + 1
    lines += [
        f"| **all** (+1 `target_info`) | {sum(t.metrics for t in totals)} | {all_max:,} | "
        f"{sum(t.otlp_points for t in totals) + 0:,} | {all_enum:,} | {sum(t.limit_bound for t in totals)} |",
        "",
    ]
    if fleet:
        by_name = {t.catalog: t for t in totals}
        core = by_name.get("lukhas_core")
        own = by_name.get("lukhas_obs_self")
        lines += [
            "| processes | lukhas_core + self, free-form at one value | lukhas_core + self, max | every catalog, max |",
            "|---:|---:|---:|---:|",
        ]
        for n in fleet:
            typical = ((core.series_enumerated if core else 0) + (own.series_enumerated if own else 0) + 1) * n
            worst_core = ((core.series if core else 0) + (own.series if own else 0) + 1) * n
            lines.append(f"| {n:,} | {typical:,} | {worst_core:,} | {all_max * n:,} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the budget tables (and, with ``--measure``, the demo's measured sizes)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cardinality-limit", type=int, default=None, help="default: the resolved setting (1000)")
    parser.add_argument("--created-series", action="store_true", help="count _created samples")
    parser.add_argument("--fleet", default=",".join(map(str, DEFAULT_FLEET)), help="process counts, comma-separated")
    parser.add_argument("--summary", action="store_true", help="catalog totals only, no per-metric table")
    parser.add_argument("--measure", action="store_true", help="run the demo workload in-process and measure sizes")
    parser.add_argument("--system", default="lukhas_core", help="workload for --measure")
    parser.add_argument("--iterations", type=int, default=200, help="workload steps for --measure")
    parser.add_argument("--json", metavar="FILE", help="also write everything as JSON")
    args = parser.parse_args(argv)

    import lukhas_obs

    # Measure first, in a process where only the workload's own catalog (and self-telemetry) is registered: every
    # registered catalog's unlabeled start_at_zero metrics are exposed at 0, which would inflate the scrape.
    measured = measure(args.system, args.iterations) if args.measure else None
    settings = lukhas_obs.resolve_settings()
    limit = args.cardinality_limit or settings.cardinality_limit
    rows = budget(registered_catalogs(), limit, dict(settings.cardinality_limits), args.created_series)
    totals = catalog_totals(rows)
    fleet = [int(n) for n in args.fleet.split(",") if n.strip()] if args.fleet else []
    print(render(rows, totals, fleet, per_metric=not args.summary))
    if measured is not None:
        print(f"measured ({measured['system']}, {measured['iterations']} workload steps, one process):")
        for key, value in measured.items():
            if key == "samples_by_family":
                print("  samples by family: " + ", ".join(f"{k} {v}" for k, v in sorted(value.items())))
            elif key not in {"system", "iterations", "families"}:
                print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
    if args.json:
        doc = {
            "cardinality_limit": limit,
            "metrics": [{**asdict(r), "series": r.series} for r in rows],
            "catalogs": [asdict(t) for t in totals],
            "measured": measured,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
