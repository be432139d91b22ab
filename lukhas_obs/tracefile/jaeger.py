"""Convert traces to Jaeger's JSON (what Jaeger UI's "JSON file" upload reads) or to one merged OTLP/JSON document.

Jaeger JSON follows ``jaegertracing/jaeger`` ``model/json/model.go`` as served by the query API
(``{"data": [trace...], "total", "limit", "offset", "errors"}``), with the OTLP → Jaeger mapping of the OpenTelemetry
Collector's translator (``pkg/translator/jaeger``):

- ids in hex; ``startTime``/``duration`` and log ``timestamp`` in microseconds (integers);
- the parent becomes a ``CHILD_OF`` reference, links become ``FOLLOWS_FROM`` references;
- tags are ``{key, type, value}`` with ``type`` one of ``string``/``bool``/``int64``/``float64`` (arrays and maps
  as JSON text, bytes as base64 text, non-finite floats as text — JSON has no NaN);
- scope → ``otel.scope.name``/``otel.scope.version``; kind → ``span.kind``; status → ``otel.status_code`` (``OK`` or
  ``ERROR``), ``error=true`` on ERROR and ``otel.status_description``; trace state → ``w3c.tracestate``;
- span events → ``logs`` (``{timestamp, fields}``; the event name as field ``event``), and so are the log records
  made in the span (``logs_exporter=file``): fields ``event="log"``, ``level``, ``message`` and their attributes;
- each distinct resource of a trace → one process ``p1``, ``p2``, ... with ``serviceName`` (``service.name``) and the
  other resource attributes as tags;
- ``flags``: the W3C trace flags of the span, or 1 (sampled) when the file has none — only sampled spans are exported.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from lukhas_obs.tracefile.model import SPAN_KIND_NAMES, STATUS_ERROR, STATUS_OK, LogLine, SpanRecord, Trace, spans_of

__all__ = ["UNKNOWN_SERVICE", "jaeger_document", "jaeger_tag", "jaeger_trace", "merge_otlp_documents"]

#: ``serviceName`` of a process whose resource has no ``service.name``.
UNKNOWN_SERVICE = "unknown_service"


def jaeger_tag(key: str, value: Any) -> dict[str, Any]:
    """One Jaeger ``KeyValue``: ``{"key", "type", "value"}`` with a Jaeger value type."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"key": key, "type": "float64", "value": value}
        return {"key": key, "type": "string", "value": str(value)}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    if isinstance(value, (bytes, bytearray)):
        return {"key": key, "type": "string", "value": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None:
        return {"key": key, "type": "string", "value": ""}
    return {"key": key, "type": "string", "value": json.dumps(value, default=str, ensure_ascii=False)}


def _tags(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [jaeger_tag(key, value) for key, value in attributes.items()]


def _span_tags(span: SpanRecord) -> list[dict[str, Any]]:
    tags: list[dict[str, Any]] = []
    if span.scope_name:
        tags.append(jaeger_tag("otel.scope.name", span.scope_name))
    if span.scope_version:
        tags.append(jaeger_tag("otel.scope.version", span.scope_version))
    tags.extend(_tags(span.attributes))
    if span.kind in SPAN_KIND_NAMES:
        tags.append(jaeger_tag("span.kind", SPAN_KIND_NAMES[span.kind]))
    if span.status_code == STATUS_ERROR:
        tags.append(jaeger_tag("otel.status_code", "ERROR"))
        tags.append(jaeger_tag("error", True))
    elif span.status_code == STATUS_OK:
        tags.append(jaeger_tag("otel.status_code", "OK"))
    if span.status_message:
        tags.append(jaeger_tag("otel.status_description", span.status_message))
    if span.trace_state:
        tags.append(jaeger_tag("w3c.tracestate", span.trace_state))
    return tags


def _jaeger_log(line: LogLine) -> dict[str, Any]:
    fields = [jaeger_tag("event", "log"), jaeger_tag("level", line.level), jaeger_tag("message", line.body)]
    return {"timestamp": line.time_ns // 1000, "fields": fields + _tags(line.attributes)}


def _jaeger_span(span: SpanRecord, process_id: str, logs: Iterable[LogLine] = ()) -> dict[str, Any]:
    references = []
    if span.parent_span_id:
        references.append({"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_span_id})
    references.extend(
        {"refType": "FOLLOWS_FROM", "traceID": link.trace_id, "spanID": link.span_id} for link in span.links
    )
    warnings = [] if span.end_ns >= span.start_ns else ["end time is before start time; duration set to 0"]
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "flags": (span.flags & 0xFF) or 1,
        "operationName": span.name,
        "references": references,
        "startTime": span.start_ns // 1000,
        "duration": span.duration_ns // 1000,
        "tags": _span_tags(span),
        "logs": [
            {
                "timestamp": event.time_ns // 1000,
                "fields": [jaeger_tag("event", event.name), *_tags(event.attributes)]
                if event.name
                else _tags(event.attributes),
            }
            for event in span.events
        ]
        + [_jaeger_log(line) for line in logs],
        "processID": process_id,
        "warnings": warnings or None,
    }


def jaeger_trace(trace: Trace) -> dict[str, Any]:
    """One Jaeger ``Trace``: its spans and the processes (resources) they reference."""
    processes: dict[str, dict[str, Any]] = {}
    by_resource: dict[str, str] = {}
    spans = []
    logs_by_span: dict[str, list[LogLine]] = {}
    for line in trace.logs:
        logs_by_span.setdefault(line.span_id, []).append(line)
    for span in trace.spans:
        key = json.dumps(sorted(span.resource.items()), default=str)
        process_id = by_resource.get(key)
        if process_id is None:
            process_id = by_resource[key] = f"p{len(by_resource) + 1}"
            resource = dict(span.resource)
            service = resource.pop("service.name", None)
            processes[process_id] = {
                "serviceName": str(service) if service not in (None, "") else UNKNOWN_SERVICE,
                "tags": _tags(resource),
            }
        spans.append(_jaeger_span(span, process_id, logs_by_span.get(span.span_id, ())))
    return {"traceID": trace.trace_id, "spans": spans, "processes": processes, "warnings": None}


def jaeger_document(traces: Iterable[Trace]) -> dict[str, Any]:
    """The query-API envelope Jaeger UI uploads: ``{"data": [...], "total", "limit", "offset", "errors"}``."""
    data = [jaeger_trace(trace) for trace in traces]
    return {"data": data, "total": len(data), "limit": 0, "offset": 0, "errors": None}


def merge_otlp_documents(
    documents: Iterable[tuple[str, Mapping[str, Any]]],
    trace_ids: Collection[str] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One OTLP/JSON ``ExportTraceServiceRequest`` holding the spans of every ``(where, document)`` line.

    Spans of equal resources and equal scopes are merged into one ``resourceSpans``/``scopeSpans`` entry. With
    ``trace_ids``, only spans of those traces are kept. Ids are written in hex, as OTLP/JSON requires. A malformed
    scope is reported through ``on_problem`` and skipped.
    """
    resources: dict[str, dict[str, Any]] = {}
    scopes: dict[tuple[str, str], dict[str, Any]] = {}
    for where, doc in documents:
        for resource_spans in doc.get("resourceSpans", ()):
            rkey = json.dumps([resource_spans.get("resource", {}), resource_spans.get("schemaUrl", "")], sort_keys=True)
            for scope_spans in resource_spans.get("scopeSpans", ()):
                try:
                    kept = _kept_spans(scope_spans, trace_ids)
                except (ValueError, TypeError, AttributeError) as exc:
                    if on_problem is not None:
                        on_problem(f"{where}: skipped a malformed scope of spans ({exc})")
                    continue
                if not kept:
                    continue
                if rkey not in resources:
                    entry = {k: v for k, v in resource_spans.items() if k != "scopeSpans"}
                    resources[rkey] = {**entry, "scopeSpans": []}
                skey = json.dumps([scope_spans.get("scope", {}), scope_spans.get("schemaUrl", "")], sort_keys=True)
                target = scopes.get((rkey, skey))
                if target is None:
                    target = {k: v for k, v in scope_spans.items() if k != "spans"}
                    target["spans"] = []
                    scopes[(rkey, skey)] = target
                    resources[rkey]["scopeSpans"].append(target)
                target["spans"].extend(kept)
    return {"resourceSpans": list(resources.values())}


def _kept_spans(scope_spans: Mapping[str, Any], trace_ids: Collection[str] | None) -> list[dict[str, Any]]:
    raws = list(scope_spans.get("spans", ()))
    records = list(spans_of({"resourceSpans": [{"scopeSpans": [{**scope_spans, "spans": raws}]}]}))
    return [
        _hex_ids(raw, record)
        for raw, record in zip(raws, records, strict=True)
        if trace_ids is None or record.trace_id in trace_ids
    ]


def _hex_ids(raw: Mapping[str, Any], record: SpanRecord) -> dict[str, Any]:
    span = dict(raw)
    span["traceId"], span["spanId"] = record.trace_id, record.span_id
    if record.parent_span_id:
        span["parentSpanId"] = record.parent_span_id
    if record.links and "links" in span:
        span["links"] = [
            {**dict(link), "traceId": parsed.trace_id, "spanId": parsed.span_id}
            for link, parsed in zip(span["links"], record.links, strict=True)
        ]
    return span
