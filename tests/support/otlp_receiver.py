"""A real, in-process OTLP receiver (gRPC or HTTP/protobuf) for end-to-end tests.

Usage::

    with OtlpReceiver("http") as rx:
        exporter = OTLPSpanExporter(endpoint=rx.endpoint + "/v1/traces")
        ...
        assert rx.wait_for(lambda r: len(r.spans()) == 2)

Only binds 127.0.0.1 on an ephemeral port. Accepted requests are recorded (decoded protobuf messages);
every received request (accepted or rejected) is counted in ``attempts`` and its headers recorded in ``headers``.
Fault injection: set ``fail_with`` (HTTP status; for gRPC 503 -> UNAVAILABLE, anything else -> INTERNAL) and/or
``delay_s`` at any time.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["OtlpReceiver", "any_value_to_python", "attributes_to_dict"]

SIGNALS = ("traces", "metrics", "logs")

# signal -> (request type, empty response type)
_SIGNAL_TYPES: dict[str, tuple[type[Message], type[Message]]] = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


def any_value_to_python(value: AnyValue) -> Any:
    """Convert an OTLP ``AnyValue`` to a plain Python value (str/bool/int/float/bytes/list/dict/None)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values)
    # string_value, bool_value, int_value, double_value, bytes_value
    return getattr(value, kind)


def attributes_to_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """Convert a repeated OTLP ``KeyValue`` field to a ``{key: python_value}`` dict."""
    return {kv.key: any_value_to_python(kv.value) for kv in attributes}


def _grpc_code_for(status: int) -> grpc.StatusCode:
    return grpc.StatusCode.UNAVAILABLE if status == 503 else grpc.StatusCode.INTERNAL


class OtlpReceiver:
    """In-process OTLP receiver speaking ``"grpc"`` or ``"http"`` (OTLP/HTTP protobuf) on 127.0.0.1."""

    def __init__(self, protocol: str) -> None:
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
        self.protocol = protocol
        #: HTTP status to answer with instead of success (gRPC: 503 -> UNAVAILABLE, else INTERNAL). None = healthy.
        self.fail_with: int | None = None
        #: Seconds to sleep before answering each request.
        self.delay_s: float = 0.0
        self.port: int = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._grpc_server: grpc.Server | None = None
        self._http_server: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._requests: dict[str, list[Message]] = {s: [] for s in SIGNALS}
        self._headers: list[dict[str, str]] = []
        self._attempts: dict[str, int] = dict.fromkeys(SIGNALS, 0)
        self._rejected: dict[str, int] = dict.fromkeys(SIGNALS, 0)
        self._bytes: dict[str, int] = dict.fromkeys(SIGNALS, 0)

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        """Base URL ``http://127.0.0.1:PORT`` (gRPC target, or HTTP base to which ``/v1/<signal>`` is appended)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        """Bind an ephemeral port on 127.0.0.1 and start serving. Returns ``self``."""
        if self._grpc_server is not None or self._http_server is not None:
            raise RuntimeError("receiver already started")
        self._stopping.clear()
        if self.protocol == "grpc":
            self._start_grpc()
        else:
            self._start_http()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop serving; bounded by roughly ``timeout`` seconds. Recorded data is kept. Idempotent."""
        self._stopping.set()
        if self._grpc_server is not None:
            server, self._grpc_server = self._grpc_server, None
            server.stop(grace=min(1.0, timeout)).wait(timeout)
        if self._http_server is not None:
            http_server, self._http_server = self._http_server, None
            http_server.shutdown()
            http_server.server_close()
            if self._http_thread is not None:
                self._http_thread.join(timeout)
                self._http_thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ recorded data (thread-safe copies)

    @property
    def trace_requests(self) -> list[trace_service_pb2.ExportTraceServiceRequest]:
        """Accepted ``ExportTraceServiceRequest`` messages, in arrival order."""
        with self._lock:
            return list(self._requests["traces"])  # type: ignore[arg-type]

    @property
    def metric_requests(self) -> list[metrics_service_pb2.ExportMetricsServiceRequest]:
        """Accepted ``ExportMetricsServiceRequest`` messages, in arrival order."""
        with self._lock:
            return list(self._requests["metrics"])  # type: ignore[arg-type]

    @property
    def log_requests(self) -> list[logs_service_pb2.ExportLogsServiceRequest]:
        """Accepted ``ExportLogsServiceRequest`` messages, in arrival order."""
        with self._lock:
            return list(self._requests["logs"])  # type: ignore[arg-type]

    @property
    def headers(self) -> list[dict[str, str]]:
        """Headers (HTTP) / metadata (gRPC) of every received request incl. rejected ones; lower-cased keys."""
        with self._lock:
            return [dict(h) for h in self._headers]

    @property
    def attempts(self) -> dict[str, int]:
        """Requests received per signal (``traces``/``metrics``/``logs``), including rejected ones."""
        with self._lock:
            return dict(self._attempts)

    @property
    def rejected(self) -> dict[str, int]:
        """Requests per signal answered with an error (``fail_with`` or undecodable body)."""
        with self._lock:
            return dict(self._rejected)

    @property
    def bytes_by_signal(self) -> dict[str, int]:
        """Raw payload bytes received per signal (HTTP: body as sent, i.e. compressed; gRPC: protobuf size)."""
        with self._lock:
            return dict(self._bytes)

    @property
    def bytes_received(self) -> int:
        """Total raw payload bytes received over all signals."""
        with self._lock:
            return sum(self._bytes.values())

    def clear(self) -> None:
        """Forget all recorded requests, headers and counters."""
        with self._lock:
            for s in SIGNALS:
                self._requests[s].clear()
                self._attempts[s] = self._rejected[s] = self._bytes[s] = 0
            self._headers.clear()

    # ------------------------------------------------------------------ convenience accessors

    def spans(self) -> list[tuple[dict[str, Any], str, Span]]:
        """Every received span as ``(resource_attributes, scope_name, span)``."""
        out: list[tuple[dict[str, Any], str, Span]] = []
        for req in self.trace_requests:
            for rs in req.resource_spans:
                res = attributes_to_dict(rs.resource.attributes)
                for ss in rs.scope_spans:
                    out.extend((res, ss.scope.name, span) for span in ss.spans)
        return out

    def metrics(self) -> list[tuple[dict[str, Any], Metric]]:
        """Every received metric as ``(resource_attributes, metric)``."""
        out: list[tuple[dict[str, Any], Metric]] = []
        for req in self.metric_requests:
            for rm in req.resource_metrics:
                res = attributes_to_dict(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    out.extend((res, m) for m in sm.metrics)
        return out

    def logs(self) -> list[tuple[dict[str, Any], str, LogRecord]]:
        """Every received log record as ``(resource_attributes, scope_name, log_record)``."""
        out: list[tuple[dict[str, Any], str, LogRecord]] = []
        for req in self.log_requests:
            for rl in req.resource_logs:
                res = attributes_to_dict(rl.resource.attributes)
                for sl in rl.scope_logs:
                    out.extend((res, sl.scope.name, rec) for rec in sl.log_records)
        return out

    def wait_for(
        self, predicate: Callable[[OtlpReceiver], bool], timeout: float = 10.0, interval: float = 0.05
    ) -> bool:
        """Poll ``predicate(self)`` until it is true (returns True) or ``timeout`` elapses (returns False)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    # ------------------------------------------------------------------ shared request handling

    def _sleep_delay(self) -> None:
        delay = self.delay_s
        if delay > 0:
            self._stopping.wait(delay)  # returns early if the receiver is being stopped

    def _on_attempt(self, signal: str, headers: dict[str, str], nbytes: int) -> int | None:
        """Record an incoming request; apply delay; return the failure status to answer with (or None)."""
        with self._lock:
            self._attempts[signal] += 1
            self._bytes[signal] += nbytes
            self._headers.append(headers)
        self._sleep_delay()
        status = self.fail_with
        if status is not None:
            self._reject(signal)
        return status

    def _reject(self, signal: str) -> None:
        with self._lock:
            self._rejected[signal] += 1

    def _accept(self, signal: str, request: Message) -> None:
        with self._lock:
            self._requests[signal].append(request)

    # ------------------------------------------------------------------ gRPC

    def _start_grpc(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-rx-grpc"))
        rx = self

        def make_export(signal: str) -> Callable[[Any, Message, grpc.ServicerContext], Message]:
            response_type = _SIGNAL_TYPES[signal][1]

            def export(_servicer: Any, request: Message, context: grpc.ServicerContext) -> Message:
                meta = {k.lower(): v if isinstance(v, str) else repr(v) for k, v in context.invocation_metadata()}
                status = rx._on_attempt(signal, meta, request.ByteSize())
                if status is not None:
                    context.abort(_grpc_code_for(status), f"injected failure {status}")
                rx._accept(signal, request)
                return response_type()

            return export

        trace_servicer = type(
            "_Trace", (trace_service_pb2_grpc.TraceServiceServicer,), {"Export": make_export("traces")}
        )
        metrics_servicer = type(
            "_Metrics", (metrics_service_pb2_grpc.MetricsServiceServicer,), {"Export": make_export("metrics")}
        )
        logs_servicer = type("_Logs", (logs_service_pb2_grpc.LogsServiceServicer,), {"Export": make_export("logs")})
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(trace_servicer(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(metrics_servicer(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(logs_servicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        if not port:
            raise RuntimeError("could not bind gRPC receiver on 127.0.0.1")
        server.start()
        self.port = port
        self._grpc_server = server

    # ------------------------------------------------------------------ HTTP

    def _start_http(self) -> None:
        handler = type("_Handler", (_OtlpHttpHandler,), {"receiver": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._http_server = server
        self._http_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="otlp-rx-http", daemon=True
        )
        self._http_thread.start()


_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


class _OtlpHttpHandler(BaseHTTPRequestHandler):
    """OTLP/HTTP protobuf request handler; ``receiver`` is injected by a per-server subclass."""

    receiver: OtlpReceiver
    protocol_version = "HTTP/1.1"
    server_version = "lukhas-otlp-test-receiver"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", content_type: str = "application/x-protobuf") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_POST(self) -> None:
        raw = self._read_body()
        signal = _PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._reply(404, b"not found", "text/plain")
            return
        rx = self.receiver
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = rx._on_attempt(signal, headers, len(raw))
        if status is not None:
            self._reply(status, b"injected failure", "text/plain")
            return
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-protobuf":
            rx._reject(signal)
            self._reply(415, b"only application/x-protobuf is supported", "text/plain")
            return
        request_type, response_type = _SIGNAL_TYPES[signal]
        try:
            encoding = headers.get("content-encoding", "identity").strip().lower()
            if encoding == "gzip":
                payload = gzip.decompress(raw)
            elif encoding == "deflate":
                payload = zlib.decompress(raw)
            elif encoding in ("", "identity"):
                payload = raw
            else:
                raise ValueError(f"unsupported content-encoding {encoding!r}")
            request = request_type.FromString(payload)
        except (OSError, EOFError, zlib.error, ValueError, DecodeError):
            rx._reject(signal)
            self._reply(400, b"could not decode request", "text/plain")
            return
        rx._accept(signal, request)
        self._reply(200, response_type().SerializeToString())

    def do_GET(self) -> None:
        self._reply(404, b"not found", "text/plain")

    do_PUT = do_DELETE = do_PATCH = do_GET
