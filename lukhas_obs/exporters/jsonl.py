"""Spans (and log records) to a local file, one OTLP/JSON ``ExportTraceServiceRequest`` per line.

This is the embedded default: traces can be inspected with no collector (``lukhas-obs traces show``) and the lines are
the same OTLP/JSON encoding the OpenTelemetry Collector's file exporter writes (ids in hex, enums as integers), so
any OTLP tooling reads them. The file is rotated at ``max_bytes`` keeping ``backups`` old files, so disk use is bounded.

A span that cannot be encoded never costs its batch: the batch is encoded whole (the fast path) and, when that
fails, span by span; the spans that still fail are dropped, logged once and counted in
``lukhas_obs_exported_spans_total{exporter="file",outcome="dropped"}``, and the rest is written. (In the runtime's
pipeline every span has already been made encodable by :mod:`lukhas_obs.exporters.sanitize`; this is the last line.)

:class:`JsonLinesLogExporter` writes log records (``logs_exporter=file``) into the same file, one OTLP/JSON
``ExportLogsServiceRequest`` per line (``resourceLogs``, ids in hex), so ``lukhas-obs traces show`` can print them
under their spans. Both exporters of one path share one writer: one lock, one rotation.
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
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_log = logging.getLogger("lukhas_obs")
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def request_to_otlp_json(message: Any) -> dict[str, Any]:
    """OTLP/JSON of a protobuf export request: camelCase keys, integer enums, hex trace and span ids."""
    doc: dict[str, Any] = MessageToDict(message, use_integers_for_enums=True)
    for resource_logs in doc.get("resourceLogs", ()):
        for scope_logs in resource_logs.get("scopeLogs", ()):
            for record in scope_logs.get("logRecords", ()):
                _hex_ids(record)
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


class _Writer:
    """Appends lines to one file with bounded rotation; shared by every exporter of that path (one lock)."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.lock = threading.Lock()

    def append(self, data: bytes) -> None:
        with self.lock:
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


_writers: dict[tuple[str, int, int], _Writer] = {}
_writers_lock = threading.Lock()


def _writer(path: str, max_bytes: int, backups: int) -> _Writer:
    """The writer of ``path`` (one per path and rotation policy; a handful per process)."""
    key = (os.path.abspath(path), max_bytes, backups)
    with _writers_lock:
        found = _writers.get(key)
        if found is None:
            if len(_writers) >= 64:
                _writers.clear()  # paths of configurations long gone; a new writer only loses lock sharing
            found = _writers[key] = _Writer(path, max_bytes, backups)
        return found


class JsonLinesSpanExporter(SpanExporter):
    """Append each exported batch as one JSON line; never raise (a write error warns once and fails the batch)."""

    def __init__(self, path: str, *, max_bytes: int = 64 * 1024 * 1024, backups: int = 1) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._writer = _writer(path, max_bytes, backups)
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
            self._writer.append(data)
            return SpanExportResult.SUCCESS
        except Exception as exc:
            if not self._warned:
                self._warned = True
                _log.warning("lukhas_obs: cannot write traces to %s (%s); spans are dropped", self.path, exc)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _log_line(batch: Sequence[Any]) -> bytes:
    doc = request_to_otlp_json(encode_logs(batch))
    return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


class JsonLinesLogExporter(LogRecordExporter):
    """Append each batch of log records as one OTLP/JSON ``ExportLogsServiceRequest`` line, in the trace file's
    writer; a record that cannot be encoded is dropped alone (counted), never its batch. Never raises."""

    def __init__(self, path: str, *, max_bytes: int = 64 * 1024 * 1024, backups: int = 1) -> None:
        self.path = path
        self._writer = _writer(path, max_bytes, backups)
        self._warned = False
        self._closed = False

    def _encode(self, batch: Sequence[Any]) -> bytes | None:
        try:
            return _log_line(batch)
        except Exception:
            pass
        merged = ExportLogsServiceRequest()
        dropped = 0
        for record in batch:
            try:
                request = encode_logs([record])
                _log_line([record])
                merged.MergeFrom(request)
            except Exception:
                dropped += 1
        if dropped:
            try:
                from lukhas_obs.exporters.selfmetrics import _add

                _add("lukhas_obs_exported_log_records_total", dropped, exporter="file", outcome="dropped")
            except Exception:  # pragma: no cover - self-telemetry never fails the export
                pass
        if not merged.resource_logs:
            return None
        doc = request_to_otlp_json(merged)
        return (json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._closed:
            return LogRecordExportResult.FAILURE
        try:
            data = self._encode(batch)
            if data is not None:
                self._writer.append(data)
            return LogRecordExportResult.SUCCESS
        except Exception as exc:
            if not self._warned:
                self._warned = True
                _log.warning("lukhas_obs: cannot write log records to %s (%s); they are dropped", self.path, exc)
            return LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
