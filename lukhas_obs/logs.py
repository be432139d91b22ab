"""stdlib ``logging`` with trace context: records made in a span carry its ids, scrubbed, to OTLP and the trace file.

Two parts, both installed by :func:`lukhas_obs.configure` (nothing to call):

**Trace context on every record** (:func:`install_record_factory`, once per process, while a configuration is
active). The log-record factory notes the current span's context when a record is made. The ids become fields of the
record the first time it is formatted — ``otelTraceID``, ``otelSpanID`` (``"0"`` outside a span),
``otelTraceSampled`` and ``otelServiceName``, the names of OpenTelemetry's logging instrumentation, so a format string
such as ``"%(levelname)s [trace=%(otelTraceID)s span=%(otelSpanID)s] %(message)s"`` works for every record; and
``trace_id``/``span_id`` (hex) for records made inside a span. They are added *after* ``Logger.makeRecord`` has
applied ``extra=``: a factory that set them right away would make ``logger.info("x", extra={"trace_id": ...})`` raise
``KeyError`` in the application, and an ``extra`` of the same name wins over them. (Records of a custom
``LogRecord`` class that another factory returns still carry the context to the exporters, not the formatter fields.)

**Export** (``logs_exporter`` = any of ``otlp``, ``file``, ``console``; default ``none``). A handler on the root
logger turns each record that reaches it (the application's logging levels decide which) into an OTel log record:

- body: the formatted message (``msg % args``) — scrubbed with the configuration's scrubber
  (:mod:`lukhas_obs.scrubbing`), so a secret in the message *or in the args* is redacted;
- trace and span id of the span the record was made in (not the one current when it is emitted, which differs behind
  a ``QueueHandler``), severity, timestamps, scope = the logger's name (at most :data:`MAX_SCOPES`);
- attributes: ``code.file.path``, ``code.function.name``, ``code.line.number``, every ``extra=`` field — made valid
  (text, int64; other objects are dropped and counted), then scrubbed by name *and* value (``extra={"password": ...}``
  is redacted whole), at most :data:`MAX_ATTRIBUTES` of :data:`MAX_VALUE_LENGTH` characters;
- an exception (``exc_info``, or the ``exc_text`` a scrubbing filter left): ``exception.type``, ``exception.message``
  and ``exception.stacktrace``, scrubbed; ``stack_info`` as ``code.stacktrace``, scrubbed.

Then one bounded, never-blocking pipeline per sink: a ``BatchLogRecordProcessor`` whose queue is bounded in count
(:data:`LOG_QUEUE_SIZE`) and in estimated bytes (:data:`LOG_QUEUE_MAX_BYTES`); a record that finds it full is dropped
and counted (``lukhas_obs_exported_log_records_total{exporter,outcome="dropped"}``), never waited for. Exports are
counted by outcome like spans (``exported``/``failed``, failures also in ``lukhas_obs_exporter_errors_total{signal=
"logs"}``). ``file`` appends OTLP/JSON ``ExportLogsServiceRequest`` lines to the ``traces_file``, next to the spans
(``lukhas-obs traces show`` prints log lines under their spans); ``otlp`` goes to the OTLP endpoint's ``/v1/logs``
(``OTEL_EXPORTER_OTLP_LOGS_*`` settings apply).

Records of the ``opentelemetry`` loggers are never exported (an exporter complaining about a dead collector would
feed its own queue), and a record logged while the handler is exporting one (on the same thread) is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)

from lukhas_obs import _state, drops
from lukhas_obs.exporters.sanitize import ByteBudget, clean_attributes, clean_text

__all__ = [
    "EXPORTED_LOG_RECORDS",
    "FORMATTER_FIELDS",
    "LOG_QUEUE_MAX_BYTES",
    "LOG_QUEUE_SIZE",
    "ContextLogRecord",
    "LogPipeline",
    "TraceContextHandler",
    "build_pipeline",
    "install_record_factory",
    "record_trace_context",
]

_log = logging.getLogger("lukhas_obs")

#: Self-telemetry: log records handed to an exporter, by exporter and outcome (exported, failed, dropped).
EXPORTED_LOG_RECORDS = "lukhas_obs_exported_log_records_total"
#: Fields a formatter can use on every record while a configuration is active.
FORMATTER_FIELDS = ("otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName")
#: Records one sink may hold queued; beyond, new records are dropped and counted.
LOG_QUEUE_SIZE = 2048
#: Estimated bytes of records one sink may hold queued (on top of the count bound).
LOG_QUEUE_MAX_BYTES = 32 * 1024 * 1024
#: Attributes per exported record, and the longest attribute value (characters).
MAX_ATTRIBUTES = 64
MAX_VALUE_LENGTH = 8192
#: Distinct instrumentation scopes (logger names); records of further loggers share :data:`OVERFLOW_SCOPE`.
MAX_SCOPES = 256
OVERFLOW_SCOPE = "lukhas_obs.logs"
#: The record attribute holding ``(span context or None, service)`` from the factory (never a formatter field).
CONTEXT_ATTRIBUTE = "_lukhas_obs_trace_context"

#: LogRecord attributes that are not ``extra=`` fields (the stdlib's own, ours, and OTel logging's).
_RESERVED = frozenset(
    {
        "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "levelname", "levelno",
        "lineno", "message", "module", "msecs", "msg", "name", "pathname", "process", "processName",
        "relativeCreated", "stack_info", "thread", "threadName", "taskName", CONTEXT_ATTRIBUTE, "trace_id",
        "span_id", *FORMATTER_FIELDS,
    }
)  # fmt: skip
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_NO_SPAN = trace.set_span_in_context(trace.INVALID_SPAN)
_RECORD_OVERHEAD = 512
_guard = threading.local()


def _report(where: str, reason: str, detail: str = "", *, attribute: bool = False) -> None:
    with contextlib.suppress(Exception):  # drops never raises
        drops.report(where, reason, detail, attribute=attribute)


_counter: Any = None  # the handle of EXPORTED_LOG_RECORDS; False while no registered catalog declares it


def _forget_counter(_catalog: object = None) -> None:
    global _counter
    _counter = None


def _count(exporter: str, outcome: str, amount: int = 1) -> None:
    """Count in :data:`EXPORTED_LOG_RECORDS`; the handle is looked up once (a failed lookup is slow: it is retried only
    after another catalog registers), never raises."""
    global _counter
    handle = _counter
    if handle is None:
        try:
            from lukhas_obs.instruments import counter

            handle = counter(EXPORTED_LOG_RECORDS)
        except Exception:
            handle = False
        _counter = handle
    if handle is not False and amount > 0:
        with contextlib.suppress(Exception):
            handle.add(amount, exporter=exporter, outcome=outcome)


with contextlib.suppress(Exception):
    from lukhas_obs.catalog import on_register

    on_register(_forget_counter)


# ---------------------------------------------------------------------------------------------------- trace context


def record_trace_context(record: logging.LogRecord) -> trace.SpanContext | None:
    """The span context ``record`` was made in (noted by the factory), or None outside a span."""
    info = record.__dict__.get(CONTEXT_ATTRIBUTE)
    if type(info) is tuple and len(info) == 2:
        context = info[0]
        return context if isinstance(context, trace.SpanContext) else None
    return None


def _fields(info: object) -> dict[str, Any]:
    """The formatter fields of a record's noted ``(span context or None, service)``."""
    if type(info) is not tuple or len(info) != 2:
        return {}
    context, service = info
    if isinstance(context, trace.SpanContext):
        trace_hex, span_hex = f"{context.trace_id:032x}", f"{context.span_id:016x}"
        return {
            "trace_id": trace_hex,
            "span_id": span_hex,
            "otelTraceID": trace_hex,
            "otelSpanID": span_hex,
            "otelTraceSampled": bool(context.trace_flags.sampled),
            "otelServiceName": service,
        }
    return {"otelTraceID": "0", "otelSpanID": "0", "otelTraceSampled": False, "otelServiceName": service}


def _materialize(record: logging.LogRecord) -> None:
    """Add the formatter fields to ``record`` (never over an ``extra=`` field of the same name)."""
    d = record.__dict__
    for key, value in _fields(d.get(CONTEXT_ATTRIBUTE)).items():
        d.setdefault(key, value)


class ContextLogRecord(logging.LogRecord):
    """The class plain records take while lukhas-obs is configured: formatting (``getMessage``) first adds the
    trace-context fields (see the module docstring). Picklable like any LogRecord."""

    def getMessage(self) -> str:
        with contextlib.suppress(Exception):
            _materialize(self)
        return super().getMessage()


_factory_installed = False
_factory_lock = threading.Lock()


def _stamp(record: logging.LogRecord) -> None:
    telemetry = _state.current.telemetry
    if telemetry is None or telemetry.disabled:
        return
    context = trace.get_current_span().get_span_context()
    record.__dict__[CONTEXT_ATTRIBUTE] = (context if context.is_valid else None, telemetry.settings.service)
    if type(record) is logging.LogRecord:
        record.__class__ = ContextLogRecord


def install_record_factory() -> None:
    """Wrap the current log-record factory once per process so records note the span they are made in."""
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        _factory_installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            with contextlib.suppress(Exception):  # never break logging
                _stamp(record)
            return record

        logging.setLogRecordFactory(factory)


# ---------------------------------------------------------------------------------------------------- translation


def _clean_text(value: object, limit: int | None) -> str | None:
    if type(value) is str and value.isascii() and (limit is None or len(value) <= limit):
        return value  # the common case
    try:
        return clean_text(value, limit)
    except Exception:
        return None


def _same(value: object, ours: object) -> bool:
    """Whether ``value`` is the field lukhas-obs added (an ``extra=`` whose ``__eq__`` raises is the caller's)."""
    try:
        return value is ours or (type(value) is type(ours) and bool(value == ours))
    except Exception:
        return False


class _Translator:
    """stdlib record → OTel log record arguments (scrubbed later, on the export thread); never raises (a part that
    cannot be read is dropped)."""

    def body(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad format string or an argument whose __str__ raises
            _report("logs", "invalid_attribute_value", f"log message: {type(exc).__name__}")
            message = _clean_text(record.msg, MAX_VALUE_LENGTH) or "<unformattable log message>"
        text = _clean_text(message, None)
        return text if text is not None else "<unformattable log message>"

    def attributes(self, record: logging.LogRecord) -> dict[str, Any]:
        d = record.__dict__
        ours = _fields(d.get(CONTEXT_ATTRIBUTE))
        extras = {}
        for key in list(d)[: len(_RESERVED) + 4 * MAX_ATTRIBUTES]:
            if key in ours:
                if not _same(d[key], ours[key]):  # an extra= of that name: the caller's, kept
                    extras[key] = d[key]
            elif key not in _RESERVED and not (type(key) is str and key.startswith("_lukhas_obs")):
                extras[key] = d[key]
        dropped: list[tuple[str, str]] = []
        clean = clean_attributes(extras, MAX_VALUE_LENGTH, dropped) if extras else {}
        if clean is None:
            clean = extras
        for key, reason in dropped:
            _report("logs", reason, f"log attribute {key!r}", attribute=True)
        if len(clean) > MAX_ATTRIBUTES - 8:
            _report("logs", "out_of_range", f"{len(clean)} log attributes", attribute=True)
            clean = dict(list(clean.items())[: MAX_ATTRIBUTES - 8])
        out: dict[str, Any] = {
            "code.file.path": _clean_text(record.pathname, MAX_VALUE_LENGTH) or "",
            "code.function.name": _clean_text(record.funcName, 256) or "",
            "code.line.number": record.lineno if type(record.lineno) is int else 0,
        }
        out.update(clean)
        exception = self._exception(record)
        if exception:
            out.update(exception)
        if record.stack_info:
            stack = _clean_text(record.stack_info, None)
            if stack:
                out["code.stacktrace"] = stack
        return out

    @staticmethod
    def _exception(record: logging.LogRecord) -> dict[str, str]:
        from lukhas_obs.tracer_provider import exception_message, exception_stacktrace, exception_type_name

        info = record.exc_info
        if isinstance(info, tuple) and len(info) == 3 and isinstance(info[1], BaseException):
            exc = info[1]
            return {
                "exception.type": exception_type_name(exc),
                "exception.message": exception_message(exc),
                "exception.stacktrace": exception_stacktrace(exc),
            }
        text = _clean_text(record.exc_text, None) if record.exc_text else None
        if text:  # formatted (and scrubbed) by a filter that dropped exc_info
            last = text.rstrip().rsplit("\n", 1)[-1]
            kind, _, message = last.partition(": ")
            return {"exception.type": kind[:256], "exception.message": message[:4096], "exception.stacktrace": text}
        return {}


def _severity(record: logging.LogRecord) -> tuple[SeverityNumber, str]:
    from opentelemetry.sdk._logs._internal import std_to_otel

    level = record.levelno if type(record.levelno) is int else logging.INFO
    name = _clean_text(record.levelname, 32) or "INFO"
    try:
        number = std_to_otel(level)
    except Exception:
        number = SeverityNumber.UNSPECIFIED
    return number, _SEVERITY_TEXT.get(name, name)


def _size(body: object, attributes: Mapping[str, Any]) -> int:
    total = _RECORD_OVERHEAD + (len(body) * (1 if body.isascii() else 4) if type(body) is str else 64)
    for key, value in attributes.items():
        total += 48 + len(key) + (len(value) * (1 if value.isascii() else 4) if type(value) is str else 16)
    return total


def record_size(log_record: Any) -> int:
    """Bytes a queued record holds, estimated from its strings; computed once and kept on the record (the copies
    the batch processor makes carry it), so what is charged on enqueue is exactly what is released on export."""
    try:
        record = log_record.log_record
        known = record.__dict__.get("_lukhas_obs_size")
        if type(known) is int:
            return known
        total = _size(record.body, dict(record.attributes or {}))
        record._lukhas_obs_size = total
        return total
    except Exception:
        return _RECORD_OVERHEAD * 4


# ---------------------------------------------------------------------------------------------------- pipeline


class _CountingLogExporter(LogRecordExporter):
    """Counts what the wrapped exporter was handed, by outcome, and releases the queue's byte budget; never raises."""

    def __init__(self, inner: LogRecordExporter, exporter: str, budget: Any) -> None:
        self.inner = inner
        self.exporter = exporter
        self.budget = budget
        self._warned = False

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        for item in batch:
            self.budget.release(record_size(item))
        try:
            result = self.inner.export(batch)
        except Exception as exc:
            if not self._warned:
                self._warned = True
                _log.warning(
                    "lukhas_obs: the %s log exporter raised (%s); counted in %s, logged once",
                    self.exporter,
                    type(exc).__name__,
                    EXPORTED_LOG_RECORDS,
                )
            result = LogRecordExportResult.FAILURE
        ok = result is LogRecordExportResult.SUCCESS or getattr(result, "name", "") == "SUCCESS"
        _count(self.exporter, "exported" if ok else "failed", len(batch))
        if not ok:
            from lukhas_obs.exporters.selfmetrics import EXPORTER_ERRORS, _add

            _add(EXPORTER_ERRORS, 1, exporter=self.exporter, signal="logs")
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            return False


class _ScrubbingLogExporter(LogRecordExporter):
    """Scrubs each record's body and attributes before the wrapped exporter sees it (on the export thread, so the
    application pays nothing for it and a record dropped on a full queue is never scrubbed). A record that cannot be
    scrubbed is dropped alone, counted, never exported as it is."""

    def __init__(self, inner: LogRecordExporter, scrubber: Any, exporter: str) -> None:
        self.inner = inner
        self.scrubber = scrubber
        self.exporter = exporter

    def _scrub(self, item: Any) -> Any:
        import copy

        record = item.log_record
        body = record.body
        new_body = self.scrubber.scrub_text(body) if isinstance(body, str) else "<unformattable log message>"
        attributes = self.scrubber.scrub_attributes(dict(record.attributes or {}))
        if new_body is body and attributes is None:
            return item
        cleaned = copy.copy(record)  # each sink holds its own copy of the API record; never mutate a shared one
        cleaned.body = new_body
        if attributes is not None:
            cleaned.attributes = attributes
        return type(item)(
            log_record=cleaned, resource=item.resource, instrumentation_scope=item.instrumentation_scope,
            limits=item.limits,
        )  # fmt: skip

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        cleaned = []
        for item in batch:
            try:
                cleaned.append(self._scrub(item))
            except Exception as exc:
                _report("logs", "scrub_failed", type(exc).__name__)
                _count(self.exporter, "dropped")
        return self.inner.export(cleaned) if cleaned else LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class _QueueGuard(LogRecordProcessor):
    """In front of a ``BatchLogRecordProcessor``: a record that finds its queue full (count or bytes) is dropped and
    counted here, never waited for (the SDK would evict the oldest record and log a warning per record)."""

    def __init__(self, inner: BatchLogRecordProcessor, exporter: str, budget: Any, capacity: int) -> None:
        self.inner = inner
        self.exporter = exporter
        self.budget = budget
        self.capacity = capacity
        holder = getattr(inner, "_batch_processor", None)
        queue = getattr(holder, "_queue", None)
        self._queue = queue if hasattr(queue, "__len__") else None
        self._lock = threading.Lock()
        self._warned = False

    def queue_size(self) -> int | None:
        return len(self._queue) if self._queue is not None else None

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        size = record_size(log_record)
        with self._lock:
            if self._queue is not None and len(self._queue) >= self.capacity:
                accepted = False
            else:
                accepted = self.budget.charge(size)
                if accepted:
                    self.inner.on_emit(log_record)
        if not accepted:
            _count(self.exporter, "dropped")
            if not self._warned:
                self._warned = True
                _log.warning(
                    "lukhas_obs: the %s log queue is full; newer records are dropped until the exporter catches up "
                    '(counted in %s{outcome="dropped"}, logged once)',
                    self.exporter,
                    EXPORTED_LOG_RECORDS,
                )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class LogPipeline:
    """One configuration's log export: a LoggerProvider (the configuration's resource), its bounded sinks, and the
    translation of stdlib records. Built by :func:`build_pipeline`; its handler is installed by the runtime."""

    def __init__(self, provider: LoggerProvider, scrubber: Any, sinks: Sequence[_QueueGuard]) -> None:
        self.provider = provider
        self.sinks = tuple(sinks)
        self.translator = _Translator()
        self.handler = TraceContextHandler(self)
        self._loggers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _logger(self, name: object) -> Any:
        scope = _clean_text(name, 256) or "root"
        found = self._loggers.get(scope)
        if found is None:
            with self._lock:
                if len(self._loggers) >= MAX_SCOPES and scope not in self._loggers:
                    scope = OVERFLOW_SCOPE
                found = self._loggers.get(scope)
                if found is None:
                    found = self._loggers[scope] = self.provider.get_logger(scope)
        return found

    def emit(self, record: logging.LogRecord) -> None:
        """Translate ``record`` and hand it to every sink (never blocks on an exporter; sinks scrub on export)."""
        context = record_trace_context(record)
        if CONTEXT_ATTRIBUTE not in record.__dict__:  # made before lukhas-obs was configured, or by a foreign factory
            current = trace.get_current_span().get_span_context()
            context = current if current.is_valid else None
        number, text = _severity(record)
        created = record.created if type(record.created) is float else time.time()
        body = self.translator.body(record)
        attributes = self.translator.attributes(record)
        api_record = ApiLogRecord(
            timestamp=int(created * 1e9),
            observed_timestamp=time.time_ns(),
            context=trace.set_span_in_context(trace.NonRecordingSpan(context)) if context is not None else _NO_SPAN,
            severity_text=text,
            severity_number=number,
            body=body,
            attributes=attributes,
        )
        api_record._lukhas_obs_size = _size(body, attributes)  # type: ignore[attr-defined]
        self._logger(record.name).emit(api_record)

    def force_flush(self, timeout_millis: int) -> bool:
        return bool(self.provider.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.provider.shutdown()


class TraceContextHandler(logging.Handler):
    """The root-logger handler of a :class:`LogPipeline`. Takes no lock (the pipeline is thread-safe), never raises,
    skips ``opentelemetry`` records and records logged while it is exporting one on the same thread."""

    def __init__(self, pipeline: LogPipeline) -> None:
        super().__init__(logging.NOTSET)
        self.pipeline = pipeline

    def handle(self, record: logging.LogRecord) -> bool:
        try:
            if record.levelno < self.level or not self.filter(record):
                return False
        except Exception:  # a hostile level or a filter that raises: not exported
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_guard, "busy", False):
            return
        try:
            name = record.name
            if type(name) is str and (name == "opentelemetry" or name.startswith("opentelemetry.")):
                return
        except Exception:
            return
        _guard.busy = True
        try:
            self.pipeline.emit(record)
        except Exception as exc:
            _report("logs", "internal_error", type(exc).__name__)
        finally:
            _guard.busy = False


def _otlp_exporter(cfg: Any) -> LogRecordExporter:
    """An OTLP log exporter for :class:`~lukhas_obs.settings.OtlpSettings` of the logs signal (every value passed
    explicitly, as :mod:`lukhas_obs.exporters.otlp` does for traces and metrics)."""
    kwargs: dict[str, Any] = {"endpoint": cfg.endpoint, "headers": dict(cfg.headers) or None, "timeout": cfg.timeout_s}
    gzip = cfg.compression == "gzip"
    if cfg.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter

        kwargs["insecure"] = cfg.insecure
        kwargs["compression"] = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        exporter: LogRecordExporter = GrpcExporter(**kwargs)
        return exporter
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter

    kwargs["compression"] = Compression.Gzip if gzip else Compression.NoCompression
    http_exporter: LogRecordExporter = HttpExporter(**kwargs)
    return http_exporter


def build_pipeline(
    settings: Any,
    resource: Any,
    scrubber: Any,
    *,
    exporters: Mapping[str, LogRecordExporter] | None = None,
    schedule_delay_millis: float = 1000,
) -> LogPipeline | None:
    """The log pipeline of ``settings.logs_exporters`` (None when it is empty). ``exporters`` replaces the built
    exporter of a sink by name (tests)."""
    if not settings.logs_exporters:
        return None
    provider = LoggerProvider(
        resource=resource,
        shutdown_on_exit=False,
        meter_provider=NoOpMeterProvider(),
        log_record_limits=LogRecordLimits(max_attributes=MAX_ATTRIBUTES, max_attribute_length=MAX_VALUE_LENGTH),
    )
    sinks: list[_QueueGuard] = []
    for name in settings.logs_exporters:
        exporter = (exporters or {}).get(name)
        if exporter is None:
            if name == "file":
                from lukhas_obs.exporters.jsonl import JsonLinesLogExporter

                exporter = JsonLinesLogExporter(settings.traces_file)
            elif name == "console":
                exporter = ConsoleLogRecordExporter()
            else:
                exporter = _otlp_exporter(settings.otlp_logs)
        budget = ByteBudget(LOG_QUEUE_MAX_BYTES)
        batch = BatchLogRecordProcessor(
            _CountingLogExporter(_ScrubbingLogExporter(exporter, scrubber, name), name, budget),
            schedule_delay_millis=schedule_delay_millis,
            max_queue_size=LOG_QUEUE_SIZE,
            export_timeout_millis=(settings.otlp_logs.timeout_s * 1000) if name == "otlp" else 30_000,
            meter_provider=NoOpMeterProvider(),
        )
        guard = _QueueGuard(batch, name, budget, LOG_QUEUE_SIZE)
        provider.add_log_record_processor(guard)
        sinks.append(guard)
    return LogPipeline(provider, scrubber, sinks)


_active: LogPipeline | None = None
_hook_lock = threading.Lock()
_hooked = False


def _reaches_root(logger: logging.Logger) -> bool:
    """Whether records of ``logger`` propagate to the root logger's handlers (no ``propagate=False`` on the way)."""
    current: Any = logger
    for _ in range(64):
        if current is None or current.parent is None:
            return True
        if not current.propagate:
            return False
        current = current.parent
    return True


def _hook() -> None:
    """Wrap ``logging.Logger.callHandlers`` once per process: the active pipeline sees every record that reaches the
    root logger, and the application's own handlers, ``basicConfig()`` and ``lastResort`` behave as without it."""
    global _hooked
    with _hook_lock:
        if _hooked:
            return
        _hooked = True
        original = logging.Logger.callHandlers

        def callHandlers(self: logging.Logger, record: logging.LogRecord) -> None:
            pipeline = _active
            if pipeline is not None:
                with contextlib.suppress(Exception):  # never break logging
                    if _reaches_root(self):
                        pipeline.handler.handle(record)
            original(self, record)

        callHandlers.__wrapped__ = original  # type: ignore[attr-defined]
        logging.Logger.callHandlers = callHandlers  # type: ignore[method-assign]


def install_handler(pipeline: LogPipeline | None) -> None:
    """Export the records of the application's loggers through ``pipeline`` in place of the previous configuration's
    (None: stop exporting). Nothing is added to the root logger's handlers (``logging.basicConfig()`` still works);
    ``pipeline.handler``'s level and filters choose what is exported."""
    global _active
    if pipeline is not None:
        _hook()
    _active = pipeline


def uninstall_handler(pipeline: LogPipeline) -> None:
    """Stop exporting through ``pipeline`` if it is the active one."""
    global _active
    if _active is pipeline:
        _active = None
