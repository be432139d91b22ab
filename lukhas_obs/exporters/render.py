"""``/metrics`` rendered straight from the SDK's ``MetricsData``: the OTel Prometheus exporter's bytes, ~25× faster.

The OTel exporter (opentelemetry-exporter-prometheus 0.66b2) turns every collection into prometheus_client metric
families and samples, which prometheus_client 0.26's ``generate_latest`` then formats: an object per sample and a
sorted label dict per line, ~100 µs per histogram series. :func:`render` writes the same text directly, with label
sets and bucket lines built once per attribute layout, and is held to the exporter's output byte for byte, in
Prometheus text 0.0.4 and OpenMetrics 1.0.0, by ``tests/test_render_differential.py``. What it reproduces, on purpose:

- names: ``sanitize_full_name`` (and the reader's ``prefix``), ``_total`` stripped from counters and re-added, the
  unit (``map_unit``) appended unless the name already ends with it; cumulative non-monotonic sums are gauges,
  delta ones counters; attribute keys through ``sanitize_attribute`` (later keys win when two sanitise alike),
  non-string values as JSON (``json.dumps(value, default=str)``);
- ``target_info`` from the first collection's resource attributes; ``otel_scope_*`` labels when scope labels are on;
- metrics that share (name, description, unit, type), also across scopes, are one family whose label names are the
  first metric's (later metrics' values are zipped against them, as the exporter does);
- bucket bounds as Python ``str`` (``le="1"`` for an integer bound, ``le="1e-05"``), cumulative counts, ``_count``
  and ``_sum`` left out when the first bound is negative; values through prometheus_client's ``floatToGoString``;
- escaping of HELP (text: ``\\`` and newline; OpenMetrics: also ``"``), of label values, of sample names.

Where it differs, only where the exporter has no valid output: a metric the exporter cannot convert (exponential
histograms, a value ``float()`` cannot hold, a non-text attribute key) is left out and reported through
:func:`lukhas_obs.drops.report` instead of failing the whole scrape; text that is not valid UTF-8 (lone surrogates)
gets ``?`` instead of raising.

**Exemplars** (OpenMetrics only; the exporter renders none): a histogram bucket line carries the exemplar of the
latest measurement that fell into that bucket, a counter's ``_total`` line the latest sampled increment, as
``# {span_id="…",trace_id="…"} value timestamp``, formatted as prometheus_client formats an ``Exemplar`` with a
``Timestamp``. The SDK hands each reader the exemplars sampled since its previous collection; an
:class:`ExemplarMemory` keeps the latest per series and bucket across collections (bounded), so a text-format scrape
or a second scraper does not make them disappear. Exemplars without a valid trace context, with a NaN value or a
label set over 128 characters are dropped.

**Filtering** (``names``): lukhas-obs' ``?name[]=`` semantics, which are prometheus_client's
``restricted_registry`` (samples whose name is listed) plus whole families named by their family name
(``?name[]=lukhas_memory_search_seconds`` selects the histogram's bucket, count and sum lines). prometheus_client's
own ``restricted_registry`` finds nothing of the OTel reader's (its collector has no names at registration) and
drops ``# UNIT``; this keeps it.

:class:`DirectPrometheusReader` is the ``PrometheusMetricReader`` lukhas-obs builds: its ``_receive_metrics``
(which :mod:`lukhas_obs._compat.metric_producer` may wrap per instance) keeps the collection for the thread that
asked for it, and :meth:`DirectPrometheusReader.render` collects and renders. Its registry (:class:`DirectRegistry`)
still works with prometheus_client's ``generate_latest`` (through the exporter's own conversion), for code that
renders ``lukhas_obs.active().registry`` itself.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable
from json import dumps
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_attribute, sanitize_full_name
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    MetricsData,
    Sum,
)
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString

__all__ = [
    "MAX_EXEMPLAR_LABEL_CHARS",
    "DirectPrometheusReader",
    "DirectRegistry",
    "ExemplarMemory",
    "catalog_info_names",
    "render",
]

_log = logging.getLogger("lukhas_obs")

#: OpenMetrics 1.0: "The combined length of the label names and values of an Exemplar's LabelSet MUST NOT exceed
#: 128 UTF-8 character code points." (prometheus_client's parser rejects longer ones.)
MAX_EXEMPLAR_LABEL_CHARS = 128
#: Exemplars an :class:`ExemplarMemory` keeps by default (one per series and bucket; ~270 bytes each).
DEFAULT_MAX_EXEMPLARS = 20_000

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_TRACE_ID_MAX = (1 << 128) - 1
_SPAN_ID_MAX = (1 << 64) - 1
_INT_FAST_MIN = -(1 << 53)  # ints whose float repr is "<int>.0"
_INT_FAST_MAX = 1_000_000  # floatToGoString switches to exponent notation from 1e6 on
_NEG_INF = float("-inf")
#: floatToGoString(n) for small non-negative ints (bucket counts), looked up instead of formatted.
_SMALL = {n: f"{n}.0" for n in range(4096)}
_CACHE_LIMIT = 4096
_label_names: dict[Any, str] = {}  # raw attribute key -> exposed label name
_sample_names: dict[tuple[str, bool], str] = {}
_family_names: dict[tuple[str, str, str, str], str] = {}

_COUNTER, _GAUGE, _HISTOGRAM, _INFO = "counter", "gauge", "histogram", "info"
#: Sample-name suffixes of each family type, as prometheus_client's families name their samples.
_SUFFIXES = {_COUNTER: ("_total",), _GAUGE: ("",), _HISTOGRAM: ("_bucket", "_count", "_sum"), _INFO: ("_info",)}
_NS_PER_S = 1_000_000_000


def _suffixes(kind: str, created: bool) -> tuple[str, ...]:
    """The sample suffixes of a family of ``kind``; ``_created`` last for counters and histograms when asked."""
    base = _SUFFIXES[kind]
    return (*base, "_created") if created and kind in (_COUNTER, _HISTOGRAM) else base


def _created_value(point: Any) -> str | None:
    """A point's ``_created`` value: its start time in seconds (the correctly rounded ``ns / 1e9``), as
    prometheus_client formats its own ``time.time()`` creation stamp; None without a start time."""
    start = point.start_time_unix_nano
    if start.__class__ is not int or start <= 0:
        return None
    return _num(start / _NS_PER_S)


# -- formatting, exactly as prometheus_client formats --------------------------------------------------------------


def _num(value: Any) -> str:
    """``floatToGoString(value)``, with shortcuts for the ints whose answer is ``"<int>.0"`` and the floats whose
    answer is their ``repr`` (finite and below 1e6, where Go and Python notation agree)."""
    cls = value.__class__
    if cls is float:
        if _NEG_INF < value < _INT_FAST_MAX:
            return repr(value)
    elif cls is int and _INT_FAST_MIN <= value < _INT_FAST_MAX:
        return f"{value}.0"
    return floatToGoString(value)


def _escape_value(text: str) -> str:
    """A label value as both exposition formats write it (backslash, newline, double quote)."""
    if "\\" in text or "\n" in text or '"' in text:
        return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return text


def _label_value(value: Any) -> str:
    """The exporter's ``_check_value`` (text as ``str``, anything else as JSON), escaped."""
    if value.__class__ is str:
        text = value
    elif isinstance(value, str):
        text = str(value)
    else:
        text = dumps(value, default=str)
    return _escape_value(text)


def _label_values(attributes: Any) -> list[str]:
    """A point's attribute values as label values, in the attributes' order (plain text without escapes as is)."""
    return [
        v if v.__class__ is str and "\\" not in v and '"' not in v and "\n" not in v else _label_value(v)
        for v in attributes.values()
    ]


def _label_name(key: Any) -> str:
    """``sanitize_attribute`` then prometheus_client's label-name escaping (a no-op for sanitised names)."""
    name = _label_names.get(key)
    if name is None:
        name = escape_label_name(sanitize_attribute(key))
        if len(_label_names) >= _CACHE_LIMIT:
            _label_names.clear()
        _label_names[key] = name
    return name


def _om_sample_name(name: str) -> str:
    """prometheus_client's OpenMetrics sample name: any character but ``[A-Za-z_]`` (digits after the first) → ``_``."""
    out = []
    for i, ch in enumerate(name):
        ok = ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_" or ("0" <= ch <= "9" and i > 0)
        out.append(ch if ok else "_")
    return "".join(out)


def _sample_name(name: str, openmetrics: bool) -> str:
    key = (name, openmetrics)
    escaped = _sample_names.get(key)
    if escaped is None:
        escaped = _om_sample_name(name) if openmetrics else escape_metric_name(name)
        if len(_sample_names) >= _CACHE_LIMIT:
            _sample_names.clear()
        _sample_names[key] = escaped
    return escaped


def _family_name(raw: str, prefix: str, unit: str, kind: str) -> str:
    """The family name prometheus_client's ``Metric`` ends up with for the exporter's arguments."""
    key = (raw, prefix, unit, kind)
    name = _family_names.get(key)
    if name is None:
        name = sanitize_full_name(prefix + "_" + raw if prefix else raw)
        if kind == _COUNTER and name.endswith("_total"):
            name = name[:-6]
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        if not name:
            raise ValueError("empty metric name")
        if len(_family_names) >= _CACHE_LIMIT:
            _family_names.clear()
        _family_names[key] = name
    return name


def _brace(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


# -- exemplars ------------------------------------------------------------------------------------------------------


def _exemplar_suffix(exemplar: Any) -> tuple[int, str] | None:
    """``(time_unix_nano, " # {span_id=…,trace_id=…} value ts")`` for one SDK exemplar; None when it is not valid."""
    trace_id = exemplar.trace_id
    span_id = exemplar.span_id
    if trace_id.__class__ is not int or span_id.__class__ is not int:
        return None
    if not (0 < trace_id <= _TRACE_ID_MAX and 0 < span_id <= _SPAN_ID_MAX):
        return None
    value = exemplar.value
    if value != value:  # NaN: not a value any bucket holds
        return None
    labels = (("span_id", f"{span_id:016x}"), ("trace_id", f"{trace_id:032x}"))
    if sum(len(k) + len(v) for k, v in labels) > MAX_EXEMPLAR_LABEL_CHARS:
        return None
    body = ",".join(f'{k}="{_escape_value(v)}"' for k, v in labels)
    time_ns = exemplar.time_unix_nano
    if time_ns.__class__ is int and time_ns > 0:
        sec, nsec = divmod(time_ns, 1_000_000_000)
        return time_ns, f" # {{{body}}} {_num(value)} {sec}.{nsec:09d}"
    return 0, f" # {{{body}}} {_num(value)}"


def _point_exemplars(point: Any, histogram: bool) -> dict[int, tuple[int, str]]:
    """Bucket index (0 for a counter) → the latest valid exemplar of ``point``."""
    found: dict[int, tuple[int, str]] = {}
    bounds = point.explicit_bounds if histogram else ()
    for exemplar in point.exemplars:
        try:
            rendered = _exemplar_suffix(exemplar)
            if rendered is None:
                continue
            index = bisect_left(bounds, exemplar.value) if histogram else 0  # the SDK's AlignedHistogram rule
        except Exception:
            continue
        known = found.get(index)
        if known is None or rendered[0] >= known[0]:
            found[index] = rendered
    return found


def _series_key(attributes: Any) -> Any:
    """A hashable key of a point's attribute set (the SDK hands the same dict, in the same order, each time)."""
    key = tuple(attributes.items())
    try:
        hash(key)
    except TypeError:
        key = tuple((k, _label_value(v)) for k, v in key)
    return key


def _scope_key(scope: Any) -> tuple[Any, Any, Any]:
    return (scope.name, scope.version, scope.schema_url)


def _exemplar_kind(data: Any) -> str | None:
    if isinstance(data, Histogram):
        return _HISTOGRAM
    if isinstance(data, Sum) and (data.is_monotonic or data.aggregation_temporality != _CUMULATIVE):
        return _COUNTER
    return None


class ExemplarMemory:
    """The latest exemplar per series and bucket, kept across collections (one per reader).

    Bounded: at most ``max_exemplars`` (series, bucket) places are remembered. An exemplar for a further place is
    still rendered by the scrape whose collection sampled it, then forgotten (reported once as a drop of
    ``prometheus_exposition``, reason ``exemplar_memory_full``). A remembered place only ever gets newer exemplars.
    """

    def __init__(self, max_exemplars: int = DEFAULT_MAX_EXEMPLARS) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[tuple[Any, ...], dict[Any, dict[int, tuple[int, str]]]] = {}
        self._count = 0
        self.max_exemplars = max_exemplars

    def __len__(self) -> int:
        """How many exemplars are remembered."""
        return self._count

    def remember(self, metrics_data: MetricsData) -> None:
        """Keep the exemplars of one collection (the newest per series and bucket wins). Never raises."""
        try:
            for rm in metrics_data.resource_metrics:
                for sm in rm.scope_metrics:
                    scope = _scope_key(sm.scope)
                    for metric in sm.metrics:
                        kind = _exemplar_kind(metric.data)
                        if kind is None:
                            continue
                        for point in metric.data.data_points:
                            if point.exemplars:
                                self._remember_point((scope, metric.name), point, kind == _HISTOGRAM)
        except Exception as exc:
            _report("internal_error", type(exc).__name__)

    def _remember_point(self, metric_key: tuple[Any, ...], point: Any, histogram: bool) -> None:
        found = _point_exemplars(point, histogram)
        if not found:
            return
        key = _series_key(point.attributes)
        with self._lock:
            per_metric = self._metrics.get(metric_key)
            if per_metric is None:
                per_metric = self._metrics[metric_key] = {}
            entry = per_metric.get(key)
            for index, rendered in found.items():
                known = None if entry is None else entry.get(index)
                if known is None:
                    if self._count >= self.max_exemplars:
                        _report("exemplar_memory_full", f"more than {self.max_exemplars} exemplars to remember")
                        continue
                    self._count += 1
                    if entry is None:
                        entry = per_metric[key] = {}
                    entry[index] = rendered
                elif rendered[0] >= known[0]:
                    entry[index] = rendered  # type: ignore[index]

    def lookup(self, scope: Any, name: str) -> dict[Any, dict[int, tuple[int, str]]] | None:
        """The remembered series of one metric (series key → bucket index → exemplar), or None."""
        return self._metrics.get((_scope_key(scope), name))

    def clear(self) -> None:
        """Forget everything (the reader shut down)."""
        with self._lock:
            self._metrics.clear()
            self._count = 0


def _report(reason: str, detail: str) -> None:
    try:
        from lukhas_obs import drops

        drops.report("prometheus_exposition", reason, detail)
    except Exception:  # pragma: no cover - reporting must never break a scrape
        pass


# -- rendering ------------------------------------------------------------------------------------------------------


class _Family:
    __slots__ = ("created", "doc", "kind", "labelnames", "lines", "name", "selected", "unit", "want")

    def __init__(
        self,
        name: str,
        kind: str,
        doc: str,
        unit: str,
        labelnames: tuple[str, ...],
        names: Any,
        created: bool = False,
    ) -> None:
        self.name = name
        self.kind = kind
        self.doc = doc
        self.unit = unit
        self.labelnames = labelnames
        self.lines: list[str] = []
        #: Text format only: the ``_created`` lines, rendered after the family as a gauge family of their own.
        self.created: list[str] = []
        suffixes = _suffixes(kind, created)
        if names is None or name in names:
            self.selected = True  # the whole family; its header even without samples
            self.want = tuple(True for _ in suffixes)
        else:
            self.selected = False
            self.want = tuple((name + suffix) in names for suffix in suffixes)

    def header(self, openmetrics: bool) -> str:
        doc = self.doc.replace("\\", r"\\").replace("\n", r"\n")
        if openmetrics:
            name = escape_metric_name(self.name)
            doc = doc.replace('"', r"\"")
            unit = f"# UNIT {name} {self.unit}\n" if self.unit else ""
            return f"# HELP {name} {doc}\n# TYPE {name} {self.kind}\n{unit}"
        kind = self.kind
        name = self.name
        if kind == _COUNTER:
            name += "_total"
        elif kind == _INFO:
            name += "_info"
            kind = _GAUGE
        name = escape_metric_name(name)
        return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"

    def created_header(self) -> str:
        """Text format: prometheus_client's header of the ``_created`` gauge family that follows a family."""
        doc = self.doc.replace("\\", r"\\").replace("\n", r"\n")
        name = escape_metric_name(self.name + "_created")
        return f"# HELP {name} {doc}\n# TYPE {name} gauge\n"


class _Layout:
    """How the points with one attribute-key tuple render in one metric: label templates with value slots."""

    __slots__ = ("body", "head", "keys", "static", "tail")

    def __init__(self, keys: dict[str, tuple[bool, Any]]) -> None:
        #: exposed label name → (from the point, raw index) or (constant, escaped value)
        self.keys = keys
        self.body = self.head = self.tail = ""
        self.static = True

    def build(self, metric_keys: list[str], family_names: tuple[str, ...]) -> None:
        row = [self.keys.get(k, (False, "")) for k in metric_keys]
        # the exporter zips a metric's values against its family's label names (the first metric's): shorter wins
        pairs = list(zip(family_names, row, strict=False))
        self.static = not any(src for _, (src, _) in pairs)

        def part(name: str, source: tuple[bool, Any]) -> str:
            from_point, value = source
            return f'{name}="{{{value}}}"' if from_point else f'{name}="{_brace(value)}"'

        self.body = ",".join(part(n, s) for n, s in pairs)
        without_le = [(n, s) for n, s in pairs if n != "le"]  # a bucket's own `le` replaces an attribute's
        cut = bisect_left([n for n, _ in without_le], "le")
        before = ",".join(part(n, s) for n, s in without_le[:cut])
        after = ",".join(part(n, s) for n, s in without_le[cut:])
        self.head = before + "," if before else ""
        self.tail = "," + after if after else ""
        if self.static:
            self.body, self.head, self.tail = self.body.format(), self.head.format(), self.tail.format()


def _const_items(resource_attrs: dict[str, Any], scope_attrs: dict[str, Any]) -> dict[str, str]:
    const: dict[str, str] = {}
    for key, value in resource_attrs.items():
        const[_label_name(key)] = _label_value(value)
    for key, value in scope_attrs.items():
        const[_label_name(key)] = _label_value(value)
    return const


def _scope_attrs(scope: Any, enabled: bool) -> dict[str, Any]:
    if not enabled:
        return {}
    attrs: dict[str, Any] = {}
    if scope.attributes:
        for key, value in scope.attributes.items():
            attrs["otel_scope_" + key] = value
    attrs["otel_scope_name"] = scope.name or ""
    attrs["otel_scope_version"] = scope.version or ""
    attrs["otel_scope_schema_url"] = scope.schema_url or ""
    return attrs


def _target_info(metrics_data: MetricsData, names: Any, openmetrics: bool) -> _Family | None:
    attributes: dict[str, Any] = {}
    for rm in metrics_data.resource_metrics:
        attributes = {**attributes, **rm.resource.attributes}
    labels: dict[str, str] = {}
    for key, value in attributes.items():
        labels[_label_name(key)] = _label_value(value)
    family = _Family("target", _INFO, "Target metadata", "", (), names)
    if family.want[0]:
        body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        sample = _sample_name("target_info", openmetrics)
        family.lines.append(f"{sample}{{{body}}} 1.0\n" if body else f"{sample} 1.0\n")
    if not family.selected and not family.lines:
        return None
    return family


class _Metric:
    """One metric's sample lines, rendered against its family (so a failure leaves the family untouched)."""

    def __init__(
        self,
        metric: Any,
        kind: str,
        const: dict[str, str],
        family_names: tuple[str, ...] | None,
        samples: tuple[str, ...],
        want: tuple[bool, ...],
        exemplars: bool,
        memory: dict[Any, dict[int, tuple[int, str]]] | None,
        openmetrics: bool = False,
    ) -> None:
        self.lines: list[str] = []
        #: Text format: ``_created`` lines (a gauge family of their own after the family); OpenMetrics puts them
        #: in ``lines``, after each series' own lines, as prometheus_client orders a child's samples.
        self.created: list[str] = []
        points = metric.data.data_points
        layouts: dict[tuple[Any, ...], _Layout] = {}
        point_layouts: list[_Layout] = []
        metric_keys: set[str] = set()
        for point in points:
            key_tuple = tuple(point.attributes)
            layout = layouts.get(key_tuple)
            if layout is None:
                keys: dict[str, tuple[bool, Any]] = {k: (False, v) for k, v in const.items()}
                for index, raw in enumerate(key_tuple):
                    keys[_label_name(raw)] = (True, index)
                layout = layouts[key_tuple] = _Layout(keys)
                metric_keys.update(keys)
            point_layouts.append(layout)
        sorted_keys = sorted(metric_keys)
        self.labelnames = tuple(sorted_keys)
        names = self.labelnames if family_names is None else family_names
        for layout in layouts.values():
            layout.build(sorted_keys, names)
        base = len(_SUFFIXES[kind])
        created = samples[base] if len(want) > base and want[base] else None
        self._created_out = self.lines if openmetrics else self.created
        if kind == _HISTOGRAM:
            self._histogram(points, point_layouts, samples, want[:base], exemplars, memory, created)
        elif want[0] or created is not None:
            self._number(points, point_layouts, samples[0] if want[0] else None, kind == _COUNTER and exemplars,
                         memory, created)

    def _number(
        self,
        points: Any,
        layouts: list[_Layout],
        sample: str | None,
        exemplars: bool,
        memory: dict[Any, Any] | None,
        created: str | None = None,
    ) -> None:
        append = self.lines.append
        created_append = self._created_out.append
        for point, layout in zip(points, layouts, strict=True):
            body = layout.body if layout.static else layout.body.format(*_label_values(point.attributes))
            labels = f"{{{body}}}" if body else ""
            if sample is not None:
                value = _num(point.value)
                suffix = ""
                if exemplars:
                    found = _exemplars_of(point, False, memory)
                    if found and 0 in found:
                        suffix = found[0][1]
                append(f"{sample}{labels} {value}{suffix}\n")
            if created is not None:
                stamp = _created_value(point)
                if stamp is not None:
                    created_append(f"{created}{labels} {stamp}\n")

    def _histogram(
        self,
        points: Any,
        layouts: list[_Layout],
        samples: tuple[str, ...],
        want: tuple[bool, ...],
        exemplars: bool,
        memory: dict[Any, Any] | None,
        created: str | None = None,
    ) -> None:
        want_bucket, want_count, want_sum = want
        if not (want_bucket or want_count or want_sum or created is not None):
            return
        bucket_name, count_name, sum_name = samples[:3]
        small = _SMALL
        bounds_info: dict[Any, tuple[list[str], bool]] = {}
        append = self.lines.append
        created_append = self._created_out.append
        values_of = _label_values
        for point, layout in zip(points, layouts, strict=True):
            counts = point.bucket_counts
            bounds = point.explicit_bounds
            try:
                info = bounds_info.get((bounds, len(counts)))
            except TypeError:  # a list of bounds
                bounds = tuple(bounds)
                info = bounds_info.get((bounds, len(counts)))
            if info is None:
                les = [_escape_value(f"{bound}") for bound in bounds]
                les.append("+Inf")
                if not counts:
                    raise ValueError("histogram point without buckets")
                les = les[: len(counts)]
                info = bounds_info[(bounds, len(counts))] = (les, float(les[0]) >= 0)
            les, with_totals = info
            if layout.static:
                head, tail, body = layout.head, layout.tail, layout.body
            else:
                values = values_of(point.attributes)
                head = layout.head.format(*values)
                tail = layout.tail.format(*values)
                body = layout.body.format(*values)
            total = 0
            if want_bucket:
                head = f'{bucket_name}{{{head}le="'
                tail = f'"{tail}}} '
                found = _exemplars_of(point, True, memory) if exemplars else None
                cumulative = "0.0"  # the total's text, recomputed only when it changes (0 + -0.0 is 0.0: exact)
                if found:
                    for index, (le, count) in enumerate(zip(les, counts, strict=False)):
                        if count:
                            total += count
                            cumulative = small.get(total) or _num(total)
                        ex = found.get(index)
                        append(f"{head}{le}{tail}{cumulative}{ex[1] if ex else ''}\n")
                else:
                    for le, count in zip(les, counts, strict=False):
                        if count:
                            total += count
                            cumulative = small.get(total) or _num(total)
                        append(f"{head}{le}{tail}{cumulative}\n")
            else:
                for count in counts[: len(les)]:
                    total += count
            labels = f"{{{body}}}" if body else ""
            if with_totals and point.sum is not None:
                if want_count:
                    append(f"{count_name}{labels} {small.get(total) or _num(total)}\n")
                if want_sum:
                    append(f"{sum_name}{labels} {_num(point.sum)}\n")
            if created is not None:
                stamp = _created_value(point)
                if stamp is not None:
                    created_append(f"{created}{labels} {stamp}\n")


def _exemplars_of(point: Any, histogram: bool, memory: dict[Any, Any] | None) -> dict[int, tuple[int, str]] | None:
    """The exemplars to show on ``point``'s lines: the remembered ones (when a memory is used), and the point's own
    where they are newer (those the memory had no room for)."""
    own = _point_exemplars(point, histogram) if point.exemplars else None
    if memory is None:
        return own
    try:
        entry = memory.get(_series_key(point.attributes))
    except Exception:
        return own
    if entry is None or not own:
        return own if entry is None else entry
    merged = dict(entry)
    for index, rendered in own.items():
        known = merged.get(index)
        if known is None or rendered[0] >= known[0]:
            merged[index] = rendered
    return merged


def render(
    metrics_data: MetricsData | None,
    *,
    openmetrics: bool,
    names: Iterable[str] | None = None,
    scope_labels: bool = True,
    target_info: bool = True,
    prefix: str = "",
    resource_attribute_filter: Callable[[str], bool] | None = None,
    exemplars: ExemplarMemory | bool | None = None,
    families: Collection[str] | None = None,
    info: Collection[str] = (),
    created: bool = False,
) -> bytes:
    """The exposition the OTel exporter + prometheus_client would produce for ``metrics_data`` (one collection).

    ``openmetrics`` picks OpenMetrics 1.0.0 (with ``# EOF``, ``# UNIT`` and exemplars) over Prometheus text 0.0.4;
    ``names`` restricts the output like ``?name[]=`` (see the module docstring); ``scope_labels``, ``target_info``,
    ``prefix`` and ``resource_attribute_filter`` mean what the exporter's ``scope_info_enabled``, not
    ``disable_target_info``, ``prefix`` and ``resource_attribute_filter`` mean. ``exemplars``: None renders the
    exemplars in ``metrics_data``, an :class:`ExemplarMemory` the remembered ones, False none. ``None`` data (the
    SDK had nothing to collect) renders as the exporter renders no collection: nothing, or ``# EOF``.

    Beyond the exporter (all off by default, so the default output stays its bytes):

    - ``families``: only metrics whose family name (as the exporter names it: ``x`` for counter ``x_total``,
      ``x_info`` for a gauge ``x_info``) is in it; ``target_info`` stays. A per-endpoint subset.
    - ``info``: OTel names of gauges that are prometheus_client ``Info`` metrics (catalog ``kind: info``): a gauge
      family ``x_info`` becomes the info family ``x`` — OpenMetrics ``# TYPE x info`` over ``x_info{...} 1.0``;
      text 0.0.4 is unchanged (prometheus_client writes an Info as the gauge ``x_info`` there too).
    - ``created``: a ``x_created`` series per counter and histogram series, from the point's start time, spelled
      as prometheus_client spells it (text: a gauge family ``x_created`` after the family; OpenMetrics: a sample
      after each series' own samples).
    """
    selected = None if names is None else frozenset(names)
    only = None if families is None else frozenset(families)
    info_names = frozenset(info)
    out_families: dict[Any, _Family] = {}
    if metrics_data is not None:
        if target_info:
            target = _target_info(metrics_data, selected, openmetrics)
            if target is not None:
                out_families["target"] = target
        memory = exemplars if isinstance(exemplars, ExemplarMemory) else None
        with_exemplars = openmetrics and exemplars is not False
        options = _Options(prefix, selected, only, info_names, created, openmetrics, with_exemplars, memory)
        for rm in metrics_data.resource_metrics:
            resource_attrs: dict[str, Any] = {}
            if resource_attribute_filter is not None:
                resource_attrs = {k: v for k, v in rm.resource.attributes.items() if resource_attribute_filter(k)}
            for sm in rm.scope_metrics:
                try:
                    const = _const_items(resource_attrs, _scope_attrs(sm.scope, scope_labels))
                except Exception as exc:
                    _report("unrenderable_scope", type(exc).__name__)
                    continue
                for metric in sm.metrics:
                    _add_metric(out_families, metric, sm.scope, const, options)
    out: list[str] = []
    for family in out_families.values():
        if not family.selected and not family.lines and not family.created:
            continue
        out.append(family.header(openmetrics))
        out.extend(family.lines)
        if family.created:
            out.append(family.created_header())
            out.extend(family.created)
    if openmetrics:
        out.append("# EOF\n")
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        _report("invalid_text", "text that is not valid UTF-8 replaced by '?'")
        return text.encode("utf-8", "replace")


class _Options:
    """What one :func:`render` call asks of every metric."""

    __slots__ = ("created", "exemplars", "families", "info", "memory", "openmetrics", "prefix", "selected")

    def __init__(
        self,
        prefix: str,
        selected: frozenset[str] | None,
        families: frozenset[str] | None,
        info: frozenset[str],
        created: bool,
        openmetrics: bool,
        exemplars: bool,
        memory: ExemplarMemory | None,
    ) -> None:
        self.prefix = prefix
        self.selected = selected
        self.families = families
        self.info = info
        self.created = created
        self.openmetrics = openmetrics
        self.exemplars = exemplars
        self.memory = memory


def _add_metric(
    families: dict[Any, _Family], metric: Any, scope: Any, const: dict[str, str], options: _Options
) -> None:
    try:
        data = metric.data
        if isinstance(data, Sum):
            kind = _COUNTER if data.is_monotonic or data.aggregation_temporality != _CUMULATIVE else _GAUGE
        elif isinstance(data, Gauge):
            kind = _GAUGE
        elif isinstance(data, Histogram):
            kind = _HISTOGRAM
            for point in data.data_points:
                if not isinstance(point, HistogramDataPoint):
                    raise TypeError(type(point).__name__)
        else:
            _report("unsupported_metric_data", type(data).__name__)
            return
        description = metric.description or ""
        unit = map_unit(metric.unit or "")
        name = _family_name(metric.name, options.prefix, unit, kind)
        if options.families is not None and name not in options.families:
            return  # not part of this endpoint's subset
        if kind == _GAUGE and name.endswith("_info") and len(name) > 5 and metric.name in options.info:
            kind, name, unit = _INFO, name[:-5], ""  # prometheus_client's Info: family x, sample x_info, no unit
        family_id = (name, description, unit, kind)
        family = families.get(family_id)
        known = family is not None
        if family is None:
            family = _Family(name, kind, description, unit, (), options.selected, options.created)
        if not (family.selected or any(family.want)):
            return  # nothing of this family is asked for
        entries = None
        exemplars = options.exemplars
        if options.memory is not None and exemplars and kind != _GAUGE and kind != _INFO:
            entries = options.memory.lookup(scope, metric.name)
        openmetrics = options.openmetrics
        samples = tuple(_sample_name(name + suffix, openmetrics) for suffix in _suffixes(kind, options.created))
        rendered = _Metric(
            metric,
            kind,
            const,
            family.labelnames if known else None,
            samples,
            family.want,
            exemplars and kind != _INFO,
            entries,
            openmetrics,
        )
        if not known:
            family.labelnames = rendered.labelnames
            families[family_id] = family
        family.lines.extend(rendered.lines)
        family.created.extend(rendered.created)
    except Exception as exc:  # what the exporter cannot convert fails its whole scrape; here only this metric
        _report("unrenderable_metric", type(exc).__name__)


_info_cache: tuple[tuple[int, ...], frozenset[str]] = ((), frozenset())


def catalog_info_names() -> frozenset[str]:
    """OTel names of the registered catalogs' info metrics (``kind: info``, Prometheus type ``info``).

    Cached against the registry's contents (catalogs are immutable once registered; the registry only grows), so a
    scrape costs one tuple of ids. Never raises: without the catalog, no family is an info family.
    """
    global _info_cache
    try:
        from lukhas_obs.catalog import catalogs
        from lukhas_obs.catalog.kinds import KINDS

        registered = catalogs()
        key = tuple(id(c) for c in registered)
        cached_key, names = _info_cache
        if key == cached_key:
            return names
        found = set()
        for catalog in registered:
            for spec in catalog.metrics:
                entry = KINDS.get(spec.kind)
                if entry is not None and entry.prometheus_type == _INFO:
                    found.add(spec.otel_name)
        names = frozenset(found)
        _info_cache = (key, names)
        return names
    except Exception as exc:  # pragma: no cover - a broken catalog must never break a scrape
        _report("internal_error", type(exc).__name__)
        return frozenset()


# -- the reader -----------------------------------------------------------------------------------------------------


class DirectRegistry(CollectorRegistry):
    """The registry lukhas-obs' Prometheus reader lives in: :func:`lukhas_obs.exporters.prometheus.respond` renders
    it with :meth:`DirectPrometheusReader.render`; prometheus_client's ``generate_latest`` still works on it."""

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self.direct_reader: DirectPrometheusReader | None = None


class DirectPrometheusReader(PrometheusMetricReader):
    """A ``PrometheusMetricReader`` whose collections are rendered by :func:`render` (and remembered for exemplars).

    The SDK delivers a collection through ``_receive_metrics`` on the thread that called ``collect()``; the data is
    handed back to that thread only, so concurrent scrapes never see each other's collections. Whatever wraps
    ``_receive_metrics`` on the instance (the aggregation's publisher) stays on the path.
    """

    def __init__(
        self,
        *,
        scope_labels: bool,
        registry: CollectorRegistry,
        target_info: bool = True,
        prefix: str = "",
        resource_attribute_filter: Callable[[str], bool] | None = None,
        cardinality_limits: Any = None,
        max_exemplars: int = DEFAULT_MAX_EXEMPLARS,
        created_series: bool = False,
    ) -> None:
        super().__init__(
            disable_target_info=not target_info,
            prefix=prefix,
            scope_info_enabled=scope_labels,
            resource_attribute_filter=resource_attribute_filter,
            registry=registry,
            cardinality_limits=cardinality_limits,
        )
        self._options: dict[str, Any] = {
            "scope_labels": scope_labels,
            "target_info": target_info,
            "prefix": prefix,
            "resource_attribute_filter": resource_attribute_filter,
        }
        self._handoff = threading.local()
        self.exemplars = ExemplarMemory(max_exemplars)
        #: Render ``_created`` series (prometheus_client's default; the OTel exporter never does).
        self.created_series = created_series
        # prometheus_client's generate_latest on the registry: the exporter's conversion of one fresh collection
        self._collector._callback = self._feed_collector  # type: ignore[assignment]
        if isinstance(registry, DirectRegistry):
            registry.direct_reader = self

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if metrics_data is None:
            return
        handoff = self._handoff
        if getattr(handoff, "waiting", False):  # a collection asked for by collect_data() on this thread
            handoff.data = metrics_data
        self.exemplars.remember(metrics_data)  # any collection's exemplars (also one nobody renders)

    def collect_data(self, timeout_millis: float = 10_000) -> MetricsData | None:
        """One collection (None when the SDK had nothing), for this thread only. May raise what the SDK raises."""
        handoff = self._handoff
        handoff.data = None
        handoff.waiting = True
        try:
            self.collect(timeout_millis=timeout_millis)
            return handoff.data
        finally:
            handoff.waiting = False
            handoff.data = None

    def render(
        self,
        *,
        openmetrics: bool,
        names: Iterable[str] | None = None,
        families: Collection[str] | None = None,
        created: bool | None = None,
        timeout_millis: float = 10_000,
    ) -> bytes:
        """Collect and render ``/metrics`` (see :func:`render`); exemplars from this reader's memory.

        Info families are the registered catalogs' ``kind: info`` metrics (:func:`catalog_info_names`);
        ``created`` None means this reader's :attr:`created_series`.
        """
        data = self.collect_data(timeout_millis)
        return render(
            data,
            openmetrics=openmetrics,
            names=names,
            exemplars=self.exemplars,
            families=families,
            info=catalog_info_names(),
            created=self.created_series if created is None else created,
            **self._options,
        )

    def _feed_collector(self) -> None:
        data = self.collect_data()
        if data is not None:
            self._collector.add_metrics_data(data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        super().shutdown(timeout_millis=timeout_millis, **kwargs)
        self.exemplars.clear()
