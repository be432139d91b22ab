"""Spans to a local file, one OTLP/JSON ``ExportTraceServiceRequest`` per line.

This is the embedded default: traces can be inspected with no collector (``lukhas-obs traces show``) and the lines are
the same OTLP/JSON encoding the OpenTelemetry Collector's file exporter writes (ids in hex, enums as integers), so
any OTLP tooling reads them. The file is rotated at ``max_bytes`` keeping ``backups`` old files, so disk use is bounded.

A span that cannot be encoded never costs its batch: the batch is encoded whole (the fast path) and, when that
fails, span by span; the spans that still fail are dropped, logged once and counted in
``lukhas_obs_exported_spans_total{exporter="file",outcome="dropped"}``, and the rest is written. (In the runtime's
pipeline every span has already been made encodable by :mod:`lukhas_obs.exporters.sanitize`; this is the last line.)
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_log = logging.getLogger("lukhas_obs")
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def request_to_otlp_json(message: Any) -> dict[str, Any]:
    """OTLP/JSON of a protobuf export request: camelCase keys, integer enums, hex trace and span ids."""
    doc: dict[str, Any] = MessageToDict(message, use_integers_for_enums=True)
    for resource_spans in doc.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return doc


def _hex_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        if obj.get(key):
            obj[key] = base64.b64decode(obj[key]).hex()


def _count_dropped(amount: int) -> None:
    try:
        from lukhas_obs.exporters.selfmetrics import EXPORTED_SPANS, _add

        _add(EXPORTED_SPANS, amount, exporter="file", outcome="dropped")
    except Exception:  # pragma: no cover - self-telemetry never fails the export
        pass


class JsonLinesSpanExporter(SpanExporter):
    """Append each exported batch as one JSON line; never raise (a write error warns once and fails the batch)."""

    def __init__(self, path: str, *, max_bytes: int = 64 * 1024 * 1024, backups: int = 1) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._warned = False
        self._warned_encode = False
        self._closed = False

    def _line(self, spans: Sequence[ReadableSpan]) -> bytes:
        doc = request_to_otlp_json(encode_spans(spans))
        return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")

    def _encode(self, spans: Sequence[ReadableSpan]) -> bytes | None:
        """One JSON line for ``spans``; span by span when the batch fails, dropping (and counting) the bad ones."""
        try:
            return self._line(spans)
        except Exception:
            pass
        merged = ExportTraceServiceRequest()
        dropped = 0
        for span in spans:
            try:
                request = encode_spans([span])
                self._line([span])  # the JSON and UTF-8 steps must succeed too
                merged.MergeFrom(request)
            except Exception:
                dropped += 1
        if dropped:
            if not self._warned_encode:
                self._warned_encode = True
                _log.warning(
                    "lukhas_obs: %d span(s) could not be encoded for %s and were dropped (the rest of the batch is "
                    "written; counted in lukhas_obs_exported_spans_total, logged once)",
                    dropped,
                    self.path,
                )
            _count_dropped(dropped)
        if not merged.resource_spans:
            return None
        doc = request_to_otlp_json(merged)
        return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            data = self._encode(spans)
            if data is None:
                return SpanExportResult.SUCCESS  # every span was dropped (and counted)
            with self._lock:
                directory = os.path.dirname(self.path)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                self._rotate_if_needed(len(data))
                # One O_APPEND write per batch: lines from a parent and its forked workers never interleave.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
            return SpanExportResult.SUCCESS
        except Exception as exc:
            if not self._warned:
                self._warned = True
                _log.warning("lukhas_obs: cannot write traces to %s (%s); spans are dropped", self.path, exc)
            return SpanExportResult.FAILURE

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size + incoming <= self.max_bytes:
            return
        for index in range(self.backups, 0, -1):
            older = f"{self.path}.{index}"
            newer = self.path if index == 1 else f"{self.path}.{index - 1}"
            if os.path.exists(newer):
                os.replace(newer, older)
        if self.backups == 0:
            os.remove(self.path)

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
