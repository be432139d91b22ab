"""Make every span encodable before any exporter sees it, span by span, and bound what the span queue holds.

The OTLP encoder (shared by the gRPC and HTTP exporters and by the trace file) fails a *whole batch* on one value it
cannot carry: a lone surrogate in a span, event or scope name, a status message or an attribute
(``UnicodeEncodeError``), an int outside int64 (``Value out of range``), a timestamp outside uint64, a non-str span
name; a ``str`` subclass whose ``__hash__`` raises used as an instrumentation-scope name breaks the encoder's grouping.
One hostile span from any instrumentation then costs the other 511 spans of its batch.

:class:`SanitizingSpanExporter` sits in front of every exporter lukhas-obs builds and hands it spans made only of
plain built-in values the encoder accepts:

- every string becomes a plain ``str`` (a subclass is copied at C level, its dunders are never called), valid UTF-8
  (each lone surrogate becomes U+FFFD) and bounded: names to :data:`MAX_NAME_LENGTH` characters, attribute values and
  the status message to the configured attribute length limit;
- ints subclasses (``IntEnum``) become ``int``, float subclasses ``float``, bytes subclasses ``bytes``;
- **an int outside int64 is dropped, never converted**: a float would silently change an identifier (``2**64-1``
  becomes ``1.8446744073709552e19``) and a string would change the attribute's type between spans; the attribute is
  removed, counted in ``lukhas_obs_dropped_attributes_total{reason="out_of_range"}`` (and in the span's own
  ``dropped_attributes_count``). An array or map holding one such int is dropped whole, the same way;
- arrays are bounded to :data:`MAX_SEQUENCE_ITEMS` items, maps to :data:`MAX_MAP_ITEMS` entries and
  :data:`MAX_DEPTH` levels; any other value type is dropped (``invalid_attribute_value``);
- a span that still cannot be made safe (a name that is not text, timestamps outside uint64, or a span object that
  raises when read) is dropped alone, counted in ``lukhas_obs_exported_spans_total{outcome="dropped"}`` for that
  exporter and reported once through :mod:`lukhas_obs.drops`; the rest of the batch is exported.

A clean span (the normal case) is passed through as the same object: the cost is one walk over its values.
If the wrapped exporter still fails or raises, each span is encoded alone (the gRPC exporter raises on an encoding
error, the HTTP one reports failure): spans that cannot be encoded are dropped and counted and the rest is exported
once more; a failure with every span encodable (a collector down) is returned as it is and nothing is re-sent.

The same wrapper releases the span's estimated size from the :class:`ByteBudget` its processor charged (see
:class:`lukhas_obs.exporters.selfmetrics.QueueWatch`): the span queue is bounded in bytes as well as in count.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, cast

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

__all__ = [
    "MAX_NAME_LENGTH",
    "ByteBudget",
    "SanitizingSpanExporter",
    "clean_attributes",
    "clean_text",
    "sanitize_span",
    "span_size",
]

_log = logging.getLogger("lukhas_obs")

#: Longest span, event and instrumentation-scope name kept (characters).
MAX_NAME_LENGTH = 1024
#: Default longest string attribute value (the runtime passes its span limit; this is the fallback).
DEFAULT_MAX_VALUE_LENGTH = 4096
#: Items kept of one array attribute; the rest is cut.
MAX_SEQUENCE_ITEMS = 1024
#: Entries kept of one map attribute value; the rest is cut.
MAX_MAP_ITEMS = 128
#: Nesting levels of array/map values kept; a deeper value drops its attribute.
MAX_DEPTH = 8

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1
_TRACE_ID_MAX, _SPAN_ID_MAX = 2**128 - 1, 2**64 - 1
_KINDS = frozenset(SpanKind)
_CODES = frozenset(StatusCode)

OUT_OF_RANGE = "out_of_range"
INVALID_VALUE = "invalid_attribute_value"


class _Drop(Exception):
    """Internal: this value cannot be carried; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean_text(value: object, limit: int | None) -> str | None:
    """``value`` as a plain, valid-UTF-8 ``str`` of at most ``limit`` characters; None when it is not text.

    A ``str`` subclass is copied with ``str.__str__`` (C level: its own ``__str__``/``__len__``/``__hash__`` are never
    called); a lone surrogate becomes U+FFFD (a surrogate *pair* written as two code points is joined).
    """
    if type(value) is str:
        text = value
    elif issubclass(type(value), str):
        text = str.__str__(value)
    else:
        return None
    if limit is not None and len(text) > limit:
        text = text[:limit]
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _clean_value(value: Any, limit: int | None, depth: int) -> Any:
    """The encodable form of one attribute value (same object when already clean); raises :class:`_Drop`."""
    kind = type(value)
    if kind is str:
        if value.isascii() and (limit is None or len(value) <= limit):
            return value
        return clean_text(value, limit)
    if kind is bool or value is None or kind is float:
        return value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        raise _Drop(OUT_OF_RANGE)
    if issubclass(kind, str):
        return clean_text(value, limit)
    if issubclass(kind, int):  # IntEnum, numpy-free int subclasses (bool cannot be subclassed)
        number = int.__int__(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
        raise _Drop(OUT_OF_RANGE)
    if issubclass(kind, float):
        return float.__float__(value)
    if issubclass(kind, (bytes, bytearray)):
        data = value if kind is bytes else bytes(memoryview(value))  # the buffer, not the subclass's dunders
        return data if limit is None or len(data) <= limit else data[:limit]
    if depth >= MAX_DEPTH:
        raise _Drop(INVALID_VALUE)
    if issubclass(kind, (tuple, list)):
        items = tuple.__iter__(value) if issubclass(kind, tuple) else list.__iter__(value)
        out = []
        changed = kind is not tuple
        for index, item in enumerate(items):
            if index >= MAX_SEQUENCE_ITEMS:
                changed = True
                break
            new = _clean_value(item, limit, depth + 1)
            changed = changed or new is not item
            out.append(new)
        return tuple(out) if changed else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        same = kind is dict
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_MAP_ITEMS:
                same = False
                break
            clean_key = clean_text(key, MAX_NAME_LENGTH)
            if not clean_key:
                raise _Drop(INVALID_VALUE)
            new = result[clean_key] = _clean_value(item, limit, depth + 1)
            same = same and new is item and clean_key is key
        return value if same else result
    raise _Drop(INVALID_VALUE)


def clean_attributes(
    attributes: Mapping[str, Any] | None, limit: int | None, dropped: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """A clean copy of ``attributes``, or None when every key and value is already clean (keep the original).

    Each attribute that cannot be carried is left out and appended to ``dropped`` as ``(key, reason)`` (the key made
    safe for a log line; never the value).
    """
    if not attributes:
        return None
    out: dict[str, Any] = {}
    changed = False
    try:
        items = list(_pairs(attributes))
    except Exception:
        dropped.append(("?", INVALID_VALUE))
        return {}
    for key, value in items:
        try:
            clean_key = key if type(key) is str and key.isascii() and len(key) <= MAX_NAME_LENGTH else None
            if clean_key is None:
                clean_key = clean_text(key, MAX_NAME_LENGTH)
                if not clean_key:
                    raise _Drop(INVALID_VALUE)
            new = _clean_value(value, limit, 0)
        except _Drop as drop:
            changed = True
            dropped.append((_safe_key(key), drop.reason))
            continue
        except Exception:  # a hostile object raised while being read: drop it, never the batch
            changed = True
            dropped.append((_safe_key(key), INVALID_VALUE))
            continue
        if new is not value or clean_key is not key:
            changed = True
        out[clean_key] = new
    return out if changed else None


def _attributes_of(obj: Any) -> Any:
    """The attributes an SDK span, event or link holds: its own BoundedAttributes (which carries the ``dropped``
    count), not the read-only proxy the public property builds on every access."""
    raw = getattr(obj, "_attributes", None)
    return raw if raw is not None else obj.attributes


def _pairs(attributes: Any) -> Any:
    """The (key, value) pairs of ``attributes``: straight from the plain dict inside a BoundedAttributes when there is
    one (the Mapping mixin's ``items()`` costs ~0.4 µs per key), else through ``items()``."""
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner.items()
    return dict.items(attributes) if type(attributes) is dict else attributes.items()


def _sequence(span: Any, private: str, public: str) -> Any:
    """A span's events or links: its own (Bounded)List when non-empty, without the per-access tuple copy."""
    raw = getattr(span, private, None)
    if raw is None:
        return getattr(span, public)
    return raw if len(raw) else ()


def _safe_key(key: object) -> str:
    try:
        return clean_text(key, 64) or type(key).__name__
    except Exception:
        return "?"


def _bounded_attributes(clean: dict[str, Any], original: object, extra_dropped: int) -> BoundedAttributes:
    """``clean`` in an immutable BoundedAttributes that keeps the original's dropped count plus ours (OTLP's
    ``dropped_attributes_count``)."""
    bounded = BoundedAttributes(maxlen=None, attributes=clean, immutable=True, max_value_len=None)
    bounded.dropped = getattr(original, "dropped", 0) + extra_dropped
    return bounded


def _timestamp(value: object) -> int | None:
    """A nanosecond timestamp as an int inside uint64, or raise :class:`_Drop`."""
    if value is None:
        return None
    if type(value) is int:
        number = value
    else:
        kind = type(value)
        if issubclass(kind, bool) or not issubclass(kind, (int, float)):
            raise _Drop(OUT_OF_RANGE)
        # The casts restate the issubclass(type(value), ...) checks (never isinstance, which a spoofed __class__
        # fools); a type checker cannot narrow ``value`` through ``type(value)``.
        try:
            if issubclass(kind, float):
                number = int(float.__float__(cast(float, value)))
            else:
                number = int.__int__(cast(int, value))
        except (OverflowError, ValueError) as exc:  # inf, nan
            raise _Drop(OUT_OF_RANGE) from exc
    if 0 <= number <= _UINT64_MAX:
        return number
    raise _Drop(OUT_OF_RANGE)


def _context_ok(context: object) -> bool:
    if not isinstance(context, SpanContext):
        return False
    trace_id, span_id = context.trace_id, context.span_id
    return (
        type(trace_id) is int
        and type(span_id) is int
        and 0 <= trace_id <= _TRACE_ID_MAX
        and 0 <= span_id <= _SPAN_ID_MAX
        and _trace_state_ok(context)
    )


def _trace_state_ok(context: SpanContext) -> bool:
    state = context.trace_state
    if not state:
        return True
    try:
        return all(type(k) is str and type(v) is str and (k + v).isascii() for k, v in state.items())
    except Exception:
        return False


class _Memo:
    """A small identity memo for the few resources and scopes a process has (bounded; cleared when full)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: dict[int, tuple[object, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        hit = self._items.get(id(key))
        return hit[1] if hit is not None and hit[0] is key else None

    def put(self, key: object, value: object) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[id(key)] = (key, value)  # keeps ``key`` alive, so its id is not reused while memoised


_resources = _Memo()
_scopes = _Memo()


def _clean_resource(resource: Resource, dropped: list[tuple[str, str]]) -> Resource:
    known = _resources.get(resource)
    if known is not None:
        return known  # type: ignore[return-value]
    clean = clean_attributes(resource.attributes, None, dropped)
    schema = clean_text(resource.schema_url, None) if resource.schema_url else resource.schema_url
    result = resource if clean is None and schema is resource.schema_url else Resource(clean or {}, schema or "")
    _resources.put(resource, result)
    return result


def _clean_scope(scope: InstrumentationScope | None, dropped: list[tuple[str, str]]) -> InstrumentationScope | None:
    if scope is None:
        return None
    known = _scopes.get(scope)
    if known is not None:
        return known  # type: ignore[return-value]
    name = clean_text(scope.name, MAX_NAME_LENGTH) or "unknown"
    version = clean_text(scope.version, MAX_NAME_LENGTH) if scope.version is not None else None
    schema = clean_text(scope.schema_url, None) if scope.schema_url else None
    attributes = clean_attributes(scope.attributes, None, dropped)
    same = (
        name is scope.name
        and version is scope.version
        and (schema is None or schema is scope.schema_url)
        and attributes is None
    )
    result = scope if same else InstrumentationScope(
        name, version, schema, attributes if attributes is not None else scope.attributes
    )
    _scopes.put(scope, result)
    return result


def sanitize_span(
    span: ReadableSpan, limit: int | None = DEFAULT_MAX_VALUE_LENGTH, dropped: list[tuple[str, str]] | None = None
) -> ReadableSpan:
    """``span`` itself when every part is encodable, else a clean copy; raises :class:`_Drop` for a lost cause.

    Attributes left out are appended to ``dropped`` as ``(key, reason)``.
    """
    drops: list[tuple[str, str]] = [] if dropped is None else dropped
    before = len(drops)
    raw_name = span.name
    name = raw_name if type(raw_name) is str and raw_name.isascii() and len(raw_name) <= MAX_NAME_LENGTH else None
    if name is None:
        name = clean_text(raw_name, MAX_NAME_LENGTH)
        if name is None:
            raise _Drop("invalid_span_name")
    context = span.context
    if not _context_ok(context):
        raise _Drop("invalid_span")  # ids outside their ranges
    parent = span.parent
    if parent is not None and not _context_ok(parent):
        parent = None
    start, end = _timestamp(span.start_time), _timestamp(span.end_time)
    kind = span.kind if span.kind in _KINDS else SpanKind.INTERNAL

    raw_attributes = _attributes_of(span)
    attributes = clean_attributes(raw_attributes, limit, drops)
    span_dropped = len(drops) - before

    events_changed = False
    events: list[Event] = []
    for event in _sequence(span, "_events", "events"):
        event_name = clean_text(event.name, MAX_NAME_LENGTH) or "event"
        mark = len(drops)
        raw_event_attributes = _attributes_of(event)
        event_attributes = clean_attributes(raw_event_attributes, limit, drops)
        timestamp = _timestamp(event.timestamp)
        if event_name is event.name and event_attributes is None and timestamp is event.timestamp:
            events.append(event)
            continue
        events_changed = True
        attrs: Any = raw_event_attributes
        if event_attributes is not None:
            attrs = _bounded_attributes(event_attributes, raw_event_attributes, len(drops) - mark)
        events.append(Event(event_name, attrs, timestamp))

    links_changed = False
    links: list[Link] = []
    for link in _sequence(span, "_links", "links"):
        if not _context_ok(link.context):
            links_changed = True
            continue
        mark = len(drops)
        raw_link_attributes = _attributes_of(link)
        link_attributes = clean_attributes(raw_link_attributes, limit, drops)
        if link_attributes is None:
            links.append(link)
            continue
        links_changed = True
        links.append(Link(link.context, _bounded_attributes(link_attributes, raw_link_attributes, len(drops) - mark)))

    status = span.status
    description = status.description
    new_description = clean_text(description, limit) if description is not None else None
    code = status.status_code if status.status_code in _CODES else StatusCode.UNSET
    status_changed = new_description is not description or code is not status.status_code

    resource = _clean_resource(span.resource, drops)
    scope = _clean_scope(span.instrumentation_scope, drops)

    if (
        name is raw_name
        and attributes is None
        and not events_changed
        and not links_changed
        and not status_changed
        and parent is span.parent
        and start is span.start_time
        and end is span.end_time
        and kind is span.kind
        and resource is span.resource
        and scope is span.instrumentation_scope
    ):
        return span
    new_attributes: Any = raw_attributes
    if attributes is not None:
        new_attributes = _bounded_attributes(attributes, raw_attributes, span_dropped)
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=new_attributes,
        events=_keep_dropped(events, getattr(span, "_events", None)) if events_changed else _held(span, "_events"),
        links=_keep_dropped(links, getattr(span, "_links", None)) if links_changed else _held(span, "_links"),
        kind=kind,
        status=Status(code, new_description if code is StatusCode.ERROR else None) if status_changed else status,
        start_time=start,
        end_time=end,
        instrumentation_scope=scope,
    )


def _held(span: Any, private: str) -> Any:
    """The span's own events/links container (a BoundedList keeps the dropped count the public tuple loses)."""
    raw = getattr(span, private, None)
    return raw if raw is not None else getattr(span, private[1:])


def _keep_dropped(items: list[Any], original: object) -> Sequence[Any]:
    """``items`` as a BoundedList carrying the original's dropped count (``dropped_events/links_count``)."""
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = getattr(original, "dropped", 0) if isinstance(original, BoundedList) else 0
    return bounded


# -- size estimate and byte budget ---------------------------------------------------------------------------------

#: Fixed bytes charged per span, event and link (objects, ids, timestamps) on top of their strings.
_SPAN_OVERHEAD, _EVENT_OVERHEAD, _ATTRIBUTE_OVERHEAD = 1200, 200, 120


def _value_size(value: Any, depth: int = 0) -> int:
    kind = type(value)
    if kind is str:
        return len(value) if value.isascii() else 4 * len(value)
    if kind is bool or kind is int or kind is float or value is None:
        return 32
    if issubclass(kind, str):
        return 4 * str.__len__(value)
    if issubclass(kind, (bytes, bytearray)):
        return 32 + (len(value) if kind is bytes else memoryview(value).nbytes)
    if depth < MAX_DEPTH and issubclass(kind, tuple):
        return 56 + sum(8 + _value_size(v, depth + 1) for v in tuple.__iter__(value))
    if depth < MAX_DEPTH and issubclass(kind, dict):
        return 64 + sum(_ATTRIBUTE_OVERHEAD + _value_size(v, depth + 1) for v in dict.values(value))
    return 64


def _attributes_size(attributes: Any) -> int:
    if not attributes:
        return 0
    total = 0
    count = 0
    for key, value in _pairs(attributes):
        count += 1
        if type(key) is str:
            total += len(key)
        if type(value) is str:  # the common case, inline
            total += len(value) if value.isascii() else 4 * len(value)
        else:
            total += _value_size(value)
    return total + count * _ATTRIBUTE_OVERHEAD


def span_size(span: ReadableSpan) -> int:
    """Bytes ``span`` holds, estimated from its strings plus a fixed overhead (never raises; the same span always
    gives the same figure, so what is charged on enqueue is exactly what is released on export)."""
    try:
        name = span.name
        total = _SPAN_OVERHEAD + (len(name) if type(name) is str else 64) + _attributes_size(_attributes_of(span))
        for event in _sequence(span, "_events", "events"):
            total += _EVENT_OVERHEAD + _attributes_size(_attributes_of(event))
        for link in _sequence(span, "_links", "links"):
            total += _EVENT_OVERHEAD + _attributes_size(_attributes_of(link))
        description = span.status.description
        if type(description) is str:
            total += len(description)
        return total
    except Exception:
        return _SPAN_OVERHEAD * 4


class ByteBudget:
    """Bytes of spans queued and not yet handed to the exporter, against a limit; thread-safe, never raises."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ByteBudget {self.used}/{self.limit}>"

    def charge(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) when that would exceed the limit."""
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def release(self, size: int) -> None:
        """Give back ``size`` bytes (a span left the queue)."""
        with self._lock:
            self.used = max(0, self.used - size)


# -- the exporter wrapper --------------------------------------------------------------------------------------------


class SanitizingSpanExporter(SpanExporter):
    """Hands ``inner`` only encodable spans; drops (and counts) only the spans that cannot be made so. Never raises.

    ``exporter`` names the pipeline in ``lukhas_obs_exported_spans_total{exporter,outcome="dropped"}``;
    ``report_drops`` says whether this wrapper also reports dropped attributes and spans through
    :mod:`lukhas_obs.drops` (the runtime sets it on one pipeline only, so an attribute dropped on its way to two
    exporters is counted once). ``budget`` is released by each span's :func:`span_size` as it arrives.
    """

    def __init__(
        self,
        inner: SpanExporter,
        exporter: str,
        *,
        max_value_length: int | None = DEFAULT_MAX_VALUE_LENGTH,
        report_drops: bool = True,
        budget: ByteBudget | None = None,
    ) -> None:
        self.inner = inner
        self.exporter = exporter
        self.max_value_length = max_value_length
        self.report_drops = report_drops
        self.budget = budget
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"<SanitizingSpanExporter {self.exporter}: {self.inner!r}>"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            batch = list(spans)
        except Exception:
            return SpanExportResult.FAILURE
        if self.budget is not None:
            self.budget.release(sum(span_size(span) for span in batch))
        if os.getpid() != self._pid:  # inherited by a forked child: the parent's data is not ours to send
            return SpanExportResult.SUCCESS
        clean: list[ReadableSpan] = []
        lost = 0
        for span in batch:
            dropped: list[tuple[str, str]] = []
            try:
                clean.append(sanitize_span(span, self.max_value_length, dropped))
            except _Drop as drop:
                lost += 1
                self._span_dropped(span, drop.reason)
            except Exception:  # the span object itself is hostile
                lost += 1
                self._span_dropped(span, "invalid_span")
            if dropped and self.report_drops:
                where = _where(span)
                for key, reason in dropped:
                    _report(where, reason, f"span attribute {key!r}", attribute=True)
        if lost:
            _count_dropped(self.exporter, lost)
        if not clean:
            return SpanExportResult.SUCCESS
        return self._export(clean)

    def _export(self, spans: list[ReadableSpan]) -> SpanExportResult:
        """Export ``spans``; when that fails, find spans that cannot be encoded alone, drop them, export the rest.

        A failure with every span encodable (a collector down) is returned as it is: nothing is re-sent.
        """
        try:
            result = self.inner.export(spans)
        except Exception:
            result = None
        if result is SpanExportResult.SUCCESS:
            return result
        good = [span for span in spans if _encodable(span)]
        if len(good) == len(spans):
            return SpanExportResult.FAILURE if result is None else result  # not a per-span problem
        kept = {id(span) for span in good}
        for span in spans:
            if id(span) not in kept:
                self._span_dropped(span, "invalid_span")  # could not be encoded alone
        _count_dropped(self.exporter, len(spans) - len(good))
        if not good:
            return SpanExportResult.SUCCESS
        try:
            return self.inner.export(good)
        except Exception:
            return SpanExportResult.FAILURE

    def _span_dropped(self, span: ReadableSpan, reason: str) -> None:
        if self.report_drops:
            _report(_where(span), reason, "span dropped")

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def _where(span: ReadableSpan) -> str:
    try:
        return clean_text(span.name, MAX_NAME_LENGTH) or "span"
    except Exception:
        return "span"


def _encodable(span: ReadableSpan) -> bool:
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        encode_spans([span]).SerializeToString()
        return True
    except Exception:
        return False


def _report(where: str, reason: str, detail: str, *, attribute: bool = False) -> None:
    try:
        from lukhas_obs import drops

        drops.report(where, reason, detail, attribute=attribute)
    except Exception:  # pragma: no cover - drops never raises
        pass


def _count_dropped(exporter: str, amount: int) -> None:
    try:
        from lukhas_obs.exporters.selfmetrics import EXPORTED_SPANS, _add

        _add(EXPORTED_SPANS, amount, exporter=exporter, outcome="dropped")
    except Exception:  # pragma: no cover
        pass
