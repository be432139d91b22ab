"""Capture the telemetry of a block of code in memory and assert on it by catalog name.

:func:`capture_telemetry` configures lukhas-obs for the duration of a ``with`` block (the pytest fixture
``lukhas_telemetry`` of :mod:`lukhas_obs.testing.plugin` is a thin wrapper around it):

- metrics go through the real recording path (handles, admission, the own aggregation, the Prometheus reader) and are
  read back from the same exposition ``/metrics`` would serve (:func:`lukhas_obs.render_exposition`), so what a test
  sees is what Prometheus would scrape, under the catalog's names (``lukhas_auth_failures_total``);
- finished spans are kept by an in-memory exporter behind the same scrubbing every real exporter has, synchronously
  (a span is readable as soon as it has ended);
- nothing is served, written or sent: no ``/metrics`` port, no trace file, no OTLP, whatever ``LUKHAS_*``/``OTEL_*``
  variables the machine has (they are hidden while the configuration is resolved, unless ``isolate_env=False``);
- afterwards everything is put back: the configuration is shut down, a configuration that was active before the
  block is made active again (it was set aside, not shut down), catalogs registered for the block are unregistered,
  and the deterministic id generator and clock (``deterministic=True``) are removed.

Assertions (:meth:`CapturedTelemetry.assert_counter`, ``assert_histogram``, ``assert_gauge``, ``assert_no_drops``,
``assert_span``) raise :class:`AssertionError` with a message that lists what was found, so a failing test says what
the code under test emitted instead.
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "CapturedTelemetry",
    "FakeClock",
    "HistogramSeries",
    "MetricView",
    "SequentialIdGenerator",
    "Series",
    "capture_telemetry",
]

#: Variables hidden while the capture's configuration is resolved (``isolate_env=True``).
ENV_PREFIXES = ("LUKHAS_", "OTEL_")
#: Series shown in an assertion message before the rest are only counted.
MAX_SHOWN_SERIES = 20
#: Span names shown in an assertion message.
MAX_SHOWN_SPANS = 30
#: The labels a histogram's series carry besides the metric's own (``le``) and the SDK's scope/overflow labels.
_IGNORED_LABELS = frozenset({"le", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"})

_YAML = (".yaml", ".yml")


# --------------------------------------------------------------------------------------------- deterministic


class SequentialIdGenerator:
    """Trace ids 1, 2, 3, ... and span ids 1, 2, 3, ...: the same ids on every run of a test.

    ``is_trace_id_random`` is False: these ids are not random, and the W3C ``random`` trace flag must not say so.
    """

    def __init__(self) -> None:
        self._traces = itertools.count(1)
        self._spans = itertools.count(1)
        self._lock = threading.Lock()

    def generate_trace_id(self) -> int:
        with self._lock:
            return next(self._traces)

    def generate_span_id(self) -> int:
        with self._lock:
            return next(self._spans)

    def is_trace_id_random(self) -> bool:
        return False


class FakeClock:
    """A clock that only moves when told to: span timestamps and span durations become exact.

    ``time_ns()`` is what span start/end times read; ``perf_counter()`` what span-duration histograms read. Both
    advance together by :meth:`advance` (and by ``tick_s`` at every reading, 0 by default), so inside
    ``with lukhas_obs.span(...): clock.advance(0.012)`` the span lasts exactly 12 ms and its duration histogram
    records exactly 0.012.
    """

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000, tick_s: float = 0.0) -> None:
        if not isinstance(start_ns, int) or start_ns < 0:
            raise ValueError("FakeClock start_ns must be a whole number of nanoseconds >= 0")
        if not (isinstance(tick_s, (int, float)) and math.isfinite(tick_s) and tick_s >= 0):
            raise ValueError("FakeClock tick_s must be a finite number of seconds >= 0")
        self._ns = start_ns
        self._tick_ns = round(tick_s * 1e9)
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError("FakeClock.advance takes a finite number of seconds >= 0")
        with self._lock:
            self._ns += round(seconds * 1e9)

    def time_ns(self) -> int:
        with self._lock:
            now = self._ns
            self._ns += self._tick_ns
            return now

    def perf_counter(self) -> float:
        return self.time_ns() / 1e9

    @property
    def now_ns(self) -> int:
        """The current reading, without advancing."""
        return self._ns


#: (module, attribute, which FakeClock method replaces it): where spans read the time.
_CLOCK_SITES: tuple[tuple[str, str, str], ...] = (
    ("opentelemetry.sdk.trace", "time_ns", "time_ns"),
    ("lukhas_obs.spans", "time_ns", "time_ns"),
    ("lukhas_obs.spans", "perf_counter", "perf_counter"),
    ("lukhas_obs.decorators", "_clock", "perf_counter"),
)


@contextlib.contextmanager
def _patched_clock(clock: FakeClock) -> Iterator[None]:
    """Point every place spans read the time at ``clock`` for the duration of the block; put them back after."""
    import importlib

    saved: list[tuple[Any, str, Any]] = []
    try:
        for module_name, attribute, method in _CLOCK_SITES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            if hasattr(module, attribute):
                saved.append((module, attribute, getattr(module, attribute)))
                setattr(module, attribute, getattr(clock, method))
        yield
    finally:
        for module, attribute, original in reversed(saved):
            setattr(module, attribute, original)


def _install_ids(provider: Any, generator: SequentialIdGenerator) -> None:
    """Make every tracer of ``provider`` (already made ones too) draw ids from ``generator``."""
    provider.id_generator = generator
    for tracer in list(getattr(provider, "_tracers", {}).values()):
        tracer.id_generator = generator


# --------------------------------------------------------------------------------------------- metric views


def _label_text(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


@dataclass(frozen=True)
class Series:
    """One series of a counter, gauge or up-down counter: its labels and value."""

    labels: Mapping[str, str]
    value: float

    def describe(self) -> str:
        return f"{_label_text(self.labels)} {_number(self.value)}"


@dataclass(frozen=True)
class HistogramSeries:
    """One series of a histogram: count, sum and the cumulative bucket counts by upper bound (``inf`` included)."""

    labels: Mapping[str, str]
    count: float
    sum: float
    buckets: Mapping[float, float] = field(default_factory=dict)

    def bucket(self, le: float) -> float:
        """The cumulative count of observations <= ``le`` (``le`` must be one of the histogram's boundaries)."""
        if le not in self.buckets:
            bounds = ", ".join(_number(b) for b in sorted(self.buckets))
            raise AssertionError(f"{le!r} is not a bucket boundary of this histogram; its boundaries: {bounds}")
        return self.buckets[le]

    def describe(self) -> str:
        filled = ", ".join(f"le={_number(b)}: {_number(c)}" for b, c in sorted(self.buckets.items()))
        return f"{_label_text(self.labels)} count={_number(self.count)} sum={_number(self.sum)} [{filled}]"


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _close(found: float, expected: float, rel: float, abs_: float) -> bool:
    if math.isnan(expected):
        return math.isnan(found)
    return math.isclose(found, expected, rel_tol=rel, abs_tol=abs_)


class MetricView:
    """The series of one catalog metric at the moment it was read, with catalog-aware look-ups.

    Labels are given as the metric's attribute keys (``tier="T2"``, ``mem.meta.size=...``): each is checked against
    the catalog (an undeclared key is an AssertionError naming the declared ones) and matched on its Prometheus label.
    Series are matched on the labels given only; the others (``lane``, ``service``, ...) may be anything.
    """

    def __init__(self, spec: Any, series: Sequence[Series | HistogramSeries]) -> None:
        self.spec = spec
        self.series: tuple[Series | HistogramSeries, ...] = tuple(series)

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def is_histogram(self) -> bool:
        from lukhas_obs.catalog.kinds import KINDS

        return bool(KINDS[self.spec.kind].buckets)

    def _wanted(self, labels: Mapping[str, object]) -> dict[str, str]:
        from lukhas_obs.catalog.naming import label_name

        declared = {a.key: a.label for a in self.spec.attributes}
        declared.update({c: c for c in self.spec.common_attributes})
        wanted: dict[str, str] = {}
        for key, value in labels.items():
            label = declared.get(key)
            if label is None:
                label = label_name(key)
                if label not in declared.values():
                    known = ", ".join(sorted(declared)) or "none"
                    raise AssertionError(
                        f"{key!r} is not an attribute of {self.name} (kind {self.spec.kind}); its attributes: {known}"
                    )
            wanted[label] = _label_value(value)
        return wanted

    def matching(self, **labels: object) -> list[Series | HistogramSeries]:
        """The series whose labels include ``labels`` (attribute keys, checked against the catalog)."""
        wanted = self._wanted(labels)
        return [s for s in self.series if all(s.labels.get(k) == v for k, v in wanted.items())]

    def describe(self, limit: int = MAX_SHOWN_SERIES) -> str:
        """Every series (the first ``limit``), one per line, for assertion messages."""
        if not self.series:
            return f"  {self.name} has no series (nothing was recorded)"
        lines = [f"  series of {self.name} ({len(self.series)}):"]
        lines += [f"    {s.describe()}" for s in self.series[:limit]]
        if len(self.series) > limit:
            lines.append(f"    ... and {len(self.series) - limit} more")
        return "\n".join(lines)

    def _where(self, labels: Mapping[str, object]) -> str:
        return self.name + (_label_text({k: _label_value(v) for k, v in labels.items()}) if labels else "")

    def value(self, **labels: object) -> float:
        """A counter's (summed over the matching series, 0 when none match) or a gauge's value (exactly one series).

        A histogram has no single value: use :meth:`count`, :meth:`sum` or :meth:`bucket`.
        """
        from lukhas_obs.catalog.kinds import KINDS

        if self.is_histogram:
            raise AssertionError(f"{self.name} is a histogram: read count(), sum() or bucket(), not value()")
        found = self.matching(**labels)
        if KINDS[self.spec.kind].monotonic:
            total = 0.0
            for series in found:
                total += series.value if isinstance(series, Series) else 0.0
            return total
        if len(found) != 1:
            raise AssertionError(
                f"{self._where(labels)}: expected exactly one series of this {self.spec.kind}, found {len(found)} "
                "(give more labels)\n" + self.describe()
            )
        only = found[0]
        return float(only.value) if isinstance(only, Series) else math.nan

    def _histograms(self, labels: Mapping[str, object]) -> list[HistogramSeries]:
        if not self.is_histogram:
            raise AssertionError(f"{self.name} is a {self.spec.kind}, not a histogram")
        return [s for s in self.matching(**labels) if isinstance(s, HistogramSeries)]

    def count(self, **labels: object) -> float:
        """Observations in the matching histogram series (summed; 0 when none match)."""
        return float(sum(s.count for s in self._histograms(labels)))

    def sum(self, **labels: object) -> float:
        """Sum of the observations in the matching histogram series."""
        return float(sum(s.sum for s in self._histograms(labels)))

    def bucket(self, le: float, **labels: object) -> float:
        """Cumulative count of observations <= ``le`` in the matching series; ``le`` must be a catalog boundary."""
        bounds = [*(self.spec.buckets or ()), math.inf]
        if not any(le == b for b in bounds):
            shown = ", ".join(_number(b) for b in bounds)
            raise AssertionError(f"{le!r} is not a bucket boundary of {self.name}; its boundaries: {shown}")
        return float(sum(s.buckets.get(float(le), 0.0) for s in self._histograms(labels)))


def _label_value(value: object) -> str:
    """How an attribute value appears as a label value (``True`` → ``true``, as the exporter writes it)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value if type(value) is str else str(value)


def _parse_exposition(text: str) -> dict[str, list[Series | HistogramSeries]]:
    """``{catalog metric name: series}`` from a text exposition (histograms folded into one record per series)."""
    out: dict[str, list[Series | HistogramSeries]] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "histogram":
            grouped: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items() if k not in _IGNORED_LABELS}
                key = tuple(sorted(labels.items()))
                slot = grouped.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
                if sample.name.endswith("_bucket"):
                    slot["buckets"][float(sample.labels["le"])] = float(sample.value)
                elif sample.name.endswith("_count"):
                    slot["count"] = float(sample.value)
                elif sample.name.endswith("_sum"):
                    slot["sum"] = float(sample.value)
            out[family.name] = [
                HistogramSeries(dict(key), v["count"], v["sum"], dict(v["buckets"])) for key, v in grouped.items()
            ]
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {k: v for k, v in sample.labels.items() if k not in _IGNORED_LABELS}
            out.setdefault(sample.name, []).append(Series(labels, float(sample.value)))
    return out


# --------------------------------------------------------------------------------------------- the capture


class CapturedTelemetry:
    """What one :func:`capture_telemetry` block (or one test using ``lukhas_telemetry``) recorded."""

    def __init__(self, telemetry: Any, exporter: InMemorySpanExporter, clock: FakeClock | None) -> None:
        #: The active :class:`~lukhas_obs.Telemetry` of the capture.
        self.telemetry = telemetry
        #: The in-memory exporter finished spans go to (after scrubbing).
        self.exporter = exporter
        #: The fake clock (``deterministic=True``), else None.
        self.clock = clock

    # -- metrics

    def exposition(self) -> str:
        """The text exposition ``/metrics`` would serve now."""
        import lukhas_obs

        body, _content_type = lukhas_obs.render_exposition()
        return body.decode("utf-8")

    def metric(self, name: str) -> MetricView:
        """The series of catalog metric ``name`` (its Prometheus name) now; AssertionError when no catalog has it."""
        spec = self._spec(name)
        return MetricView(spec, _parse_exposition(self.exposition()).get(name, []))

    def metrics(self) -> dict[str, MetricView]:
        """Every catalog metric that has at least one series now, by name."""
        from lukhas_obs.catalog import catalogs

        parsed = _parse_exposition(self.exposition())
        specs = {m.name: m for c in catalogs() for m in c.metrics}
        return {name: MetricView(specs[name], series) for name, series in parsed.items() if name in specs}

    @staticmethod
    def _spec(name: str) -> Any:
        from lukhas_obs.catalog import catalogs

        if not isinstance(name, str):
            raise TypeError(f"a metric is named by its catalog name (a str), not {type(name).__name__}")
        for cat in catalogs():
            for spec in cat.metrics:
                if spec.name == name:
                    return spec
        import difflib

        known = sorted(m.name for c in catalogs() for m in c.metrics)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AssertionError(f"no registered catalog has a metric {name!r}{hint}")

    def assert_counter(self, name: str, expected: float, **labels: object) -> None:
        """The counter's value, summed over the series matching ``labels``, equals ``expected``."""
        view = self.metric(name)
        found = view.value(**labels)
        if not _close(found, expected, 1e-9, 1e-12):
            raise AssertionError(
                f"{view._where(labels)}: expected {_number(float(expected))}, found {_number(found)}\n"
                + view.describe()
            )

    def assert_gauge(self, name: str, expected: float, **labels: object) -> None:
        """The one gauge series matching ``labels`` has value ``expected``."""
        view = self.metric(name)
        found = view.value(**labels)
        if not _close(found, expected, 1e-9, 1e-12):
            raise AssertionError(
                f"{view._where(labels)}: expected {_number(float(expected))}, found {_number(found)}\n"
                + view.describe()
            )

    def assert_histogram(
        self,
        name: str,
        *,
        count: float | None = None,
        sum: float | None = None,
        buckets: Mapping[float, float] | None = None,
        rel: float = 1e-9,
        **labels: object,
    ) -> None:
        """The histogram series matching ``labels`` (summed) have ``count`` observations, total ``sum`` and the
        cumulative ``buckets`` counts given (``{0.1: 3}``: three observations <= 0.1). Only what is given is checked."""
        view = self.metric(name)
        problems: list[str] = []
        if count is not None and not _close(view.count(**labels), count, 0.0, 0.0):
            problems.append(f"count: expected {_number(float(count))}, found {_number(view.count(**labels))}")
        if sum is not None and not _close(view.sum(**labels), sum, rel, 1e-12):
            problems.append(f"sum: expected {_number(float(sum))}, found {_number(view.sum(**labels))}")
        for le, expected in (buckets or {}).items():
            found = view.bucket(le, **labels)
            if not _close(found, expected, 0.0, 0.0):
                problems.append(f"bucket le={_number(float(le))}: expected {_number(float(expected))}, found "
                                f"{_number(found)}")  # fmt: skip
        if count is None and sum is None and not buckets:
            raise AssertionError("assert_histogram needs at least one of count=, sum=, buckets=")
        if problems:
            raise AssertionError(f"{view._where(labels)}: " + "; ".join(problems) + "\n" + view.describe())

    def drops(self) -> list[tuple[str, str, str, float]]:
        """Every drop counted so far: ``(counter, metric, reason, count)`` for each non-zero series of
        ``lukhas_obs_dropped_measurements_total`` and ``lukhas_obs_dropped_attributes_total``."""
        from lukhas_obs import drops

        out = []
        parsed = _parse_exposition(self.exposition())
        for counter in (drops.DROPPED_MEASUREMENTS, drops.DROPPED_ATTRIBUTES):
            for series in parsed.get(counter, []):
                if isinstance(series, Series) and series.value:
                    out.append(
                        (counter, series.labels.get("metric", ""), series.labels.get("reason", ""), series.value)
                    )
        return out

    def assert_no_drops(self, *, ignore: Iterable[str] = ()) -> None:
        """No measurement and no attribute was dropped (except for the drop ``reason``\\ s in ``ignore``)."""
        ignored = set(ignore)
        found = [d for d in self.drops() if d[2] not in ignored]
        if found:
            lines = [f"  {counter}{{metric=\"{metric}\",reason=\"{reason}\"}} {_number(n)}"
                     for counter, metric, reason, n in found]  # fmt: skip
            raise AssertionError(f"{len(found)} kind(s) of drop were counted:\n" + "\n".join(lines))

    # -- spans

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans in the order they ended; only those named ``name`` (a glob: ``identity.*``) if given."""
        spans = list(self.exporter.get_finished_spans())
        if name is None:
            return spans
        return [s for s in spans if s.name == name or fnmatch.fnmatchcase(s.name, name)]

    def span_names(self) -> list[str]:
        return [s.name for s in self.exporter.get_finished_spans()]

    def clear_spans(self) -> None:
        """Forget the spans finished so far (metrics are cumulative and cannot be cleared)."""
        self.exporter.clear()

    def _describe_spans(self) -> str:
        names = self.span_names()
        if not names:
            return "  no span has finished"
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        shown = [f"    {n} ×{c}" for n, c in list(counts.items())[:MAX_SHOWN_SPANS]]
        more = [f"    ... and {len(counts) - MAX_SHOWN_SPANS} more names"] if len(counts) > MAX_SHOWN_SPANS else []
        return f"  finished spans ({len(names)}):\n" + "\n".join(shown + more)

    def assert_span(
        self,
        name: str,
        *,
        attributes: Mapping[str, object] | None = None,
        count: int | None = None,
        status: str | StatusCode | None = None,
        kind: str | SpanKind | None = None,
    ) -> ReadableSpan:
        """A finished span ``name`` exists (exactly ``count`` of them if given) whose attributes include
        ``attributes``, with ``status`` (``ok``/``error``/``unset``) and ``kind`` if given; returns the last one."""
        named = self.spans(name)
        if not named:
            raise AssertionError(f"no finished span {name!r}\n" + self._describe_spans())
        if count is not None and len(named) != count:
            raise AssertionError(f"span {name!r}: expected {count}, found {len(named)}\n" + self._describe_spans())

        def problems(span: ReadableSpan) -> list[str]:
            out = []
            attrs = dict(span.attributes or {})
            for key, expected in (attributes or {}).items():
                if key not in attrs:
                    out.append(f"attribute {key!r} missing")
                elif attrs[key] != expected:
                    out.append(f"attribute {key!r} is {attrs[key]!r}, expected {expected!r}")
            if status is not None:
                want = status if isinstance(status, StatusCode) else StatusCode[str(status).upper()]
                if span.status.status_code is not want:
                    out.append(f"status is {span.status.status_code.name.lower()}, expected {want.name.lower()}")
            if kind is not None:
                want_kind = kind if isinstance(kind, SpanKind) else SpanKind[str(kind).upper()]
                if span.kind is not want_kind:
                    out.append(f"kind is {span.kind.name.lower()}, expected {want_kind.name.lower()}")
            return out

        found = [(s, problems(s)) for s in named]
        good = [s for s, p in found if not p]
        if good:
            return good[-1]
        last, last_problems = found[-1]
        shown = dict(last.attributes or {})
        raise AssertionError(
            f"no span {name!r} matches ({len(named)} found); the last one: " + "; ".join(last_problems)
            + f"\n  its attributes: {shown!r}"
        )  # fmt: skip


# --------------------------------------------------------------------------------------------- set-up / tear-down


@contextlib.contextmanager
def _hidden_environment(enabled: bool) -> Iterator[None]:
    """Hide ``LUKHAS_*``/``OTEL_*`` variables while the configuration is resolved and built."""
    if not enabled:
        yield
        return
    hidden = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    for key in hidden:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in hidden.items():
            os.environ.setdefault(key, value)


def _register(sources: Iterable[Any]) -> list[str]:
    """Register the catalogs given (YAML paths, :class:`Catalog` objects or built-in names); return the names of
    those that were not registered before (the ones to unregister afterwards)."""
    from lukhas_obs import catalog as catalog_module
    from lukhas_obs.catalog import Catalog, builtin, load_catalog, register

    before = {c.name for c in catalog_module.catalogs()}
    added: list[str] = []
    for source in sources:
        if isinstance(source, Catalog):
            registered = register(source)
        elif isinstance(source, (os.PathLike, Path)) or (isinstance(source, str) and source.endswith(_YAML)):
            registered = register(load_catalog(source, defer_sections=True))
        elif isinstance(source, str):
            registered = builtin(source)
        else:
            kind = type(source).__name__
            raise TypeError(f"catalogs= takes YAML paths, Catalog objects or built-in names, not {kind}")
        if registered.name not in before and registered.name not in added:
            added.append(registered.name)
    return added


def _unregister(names: Sequence[str]) -> None:
    """Remove catalogs registered for a capture, and what the process derived from them (handles, span components)."""
    if not names:
        return
    from lukhas_obs import catalog as catalog_module
    from lukhas_obs import instruments, spans

    with catalog_module._lock:
        removed = [catalog_module._registry.pop(name) for name in names if name in catalog_module._registry]
    metric_names = {m.name for cat in removed for m in cat.metrics}
    with instruments._handles_lock:
        for metric_name in metric_names:
            instruments._handles.pop(metric_name, None)
    spans._forget_components()


def _reactivate(previous: Any) -> None:
    """Make ``previous`` (a configuration set aside, never shut down) the active one again."""
    from lukhas_obs import _state, instruments, runtime, tracer_provider

    activate: Callable[[Any], None] | None = getattr(runtime, "_activate", None)
    if activate is not None:
        activate(previous.telemetry)
    else:  # pragma: no cover - a runtime without the helper
        _state.swap(previous)
        instruments.resolve_all()
        tracer_provider.install_global()


@contextlib.contextmanager
def capture_telemetry(
    *,
    catalogs: Iterable[Any] = (),
    deterministic: bool = False,
    clock: FakeClock | None = None,
    isolate_env: bool = True,
    shutdown_timeout: float = 5.0,
    **configure_options: Any,
) -> Iterator[CapturedTelemetry]:
    """Configure lukhas-obs in memory for the ``with`` block; yield a :class:`CapturedTelemetry`; restore after.

    - ``catalogs``: YAML paths, :class:`~lukhas_obs.Catalog` objects or built-in names to register for the block
      (those not registered before are unregistered afterwards);
    - ``deterministic``: sequential trace and span ids (1, 2, ...) and a :class:`FakeClock` (``clock=`` gives your
      own) that only moves with ``captured.clock.advance(seconds)``;
    - ``isolate_env``: hide ``LUKHAS_*``/``OTEL_*`` variables while configuring (default), so the machine's settings
      do not change the test's labels or exporters;
    - any other keyword is a :func:`lukhas_obs.configure` option (``service=``, ``lane=``, ``cardinality_limit=``,
      ``scrub_patterns=``, ...). Exporters are fixed: nothing is served, written or sent.
    """
    from lukhas_obs import _state, runtime
    from lukhas_obs.scrubbing import ScrubbingSpanExporter

    fixed: dict[str, Any] = {
        "metrics_exporter": "prometheus",
        "traces_exporter": "none",
        "serve_metrics": False,
        "disabled": False,
    }
    clashing = sorted(set(configure_options) & {*fixed, "reconfigure", "otlp_endpoint", "traces_file"})
    if clashing:
        raise TypeError(f"capture_telemetry fixes the exporters; these options cannot be given: {', '.join(clashing)}")
    previous = _state.current if runtime.active() is not None else None
    added = _register(catalogs)
    if previous is not None:
        _state.swap(_state.INACTIVE)  # set aside, not shut down: made active again afterwards
    if deterministic and clock is None:
        clock = FakeClock()
    stack = contextlib.ExitStack()
    telemetry = None
    try:
        with _hidden_environment(isolate_env):
            telemetry = runtime.configure(**configure_options, **fixed)
        assert telemetry.tracer_provider is not None  # never disabled (disabled=False above)
        memory = InMemorySpanExporter()
        scrubber = runtime.scrubber_for(telemetry.settings)
        telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(ScrubbingSpanExporter(memory, scrubber)))
        if deterministic:
            _install_ids(telemetry.tracer_provider, SequentialIdGenerator())
        if clock is not None:
            stack.enter_context(_patched_clock(clock))
        with stack:
            yield CapturedTelemetry(telemetry, memory, clock)
    finally:
        current = runtime.active()
        if current is not None and (previous is None or current is not previous.telemetry):
            current.shutdown(timeout=shutdown_timeout)  # ours, or one the block configured itself
        if telemetry is not None and telemetry is not current:
            telemetry.shutdown(timeout=shutdown_timeout)
        _unregister(added)
        if previous is not None:
            _reactivate(previous)
