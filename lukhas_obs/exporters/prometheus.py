"""Prometheus exposition: the OTel ``PrometheusMetricReader``, an HTTP server, and mountable WSGI/ASGI apps.

Each configuration gets its own ``CollectorRegistry`` (never prometheus_client's global one), so re-configuring, tests
and host applications that use prometheus_client themselves do not collide. Content negotiation (Prometheus text
0.0.4, or OpenMetrics when the scraper's ``Accept`` asks for it) and gzip are prometheus_client's own.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, make_asgi_app, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from lukhas_obs.errors import ConfigurationError

_log = logging.getLogger("lukhas_obs")

RegistrySource = Callable[[], "CollectorRegistry | None"]
_HEALTH_BODY = json.dumps({"status": "ok"}).encode()


def build_reader(*, scope_labels: bool) -> tuple[PrometheusMetricReader, CollectorRegistry]:
    """A reader registered in a fresh registry. No ``otel_scope_*`` labels unless asked; ``target_info`` is kept."""
    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(disable_target_info=False, scope_info_enabled=scope_labels, registry=registry)
    return reader, registry


def _unavailable(start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"lukhas_obs is not configured (or OTEL_SDK_DISABLED=true)\n"]


def metrics_wsgi_app(registry_source: RegistrySource) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that serves the active registry at whatever path it is mounted on (Flask, Django, gunicorn)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        registry = registry_source()
        if registry is None:
            return _unavailable(start_response)
        return make_wsgi_app(registry)(environ, start_response)

    return app


def metrics_asgi_app(registry_source: RegistrySource) -> Callable[..., Any]:
    """An ASGI app that serves the active registry (``app.mount("/metrics", lukhas_obs.metrics_asgi_app())``)."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        registry = registry_source()
        if registry is None:
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"lukhas_obs is not configured\n"})
            return
        await make_asgi_app(registry)(scope, receive, send)

    return app


Authorizer = Callable[[dict[str, Any]], bool]


def authorizer(bearer_token: str | None, basic_auth: tuple[str, str] | None) -> Authorizer | None:
    """A constant-time check of the ``Authorization`` header against the configured credentials (None: open)."""
    accepted: list[bytes] = []
    if bearer_token:
        accepted.append(b"Bearer " + bearer_token.encode())
    if basic_auth:
        accepted.append(b"Basic " + base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()))
    if not accepted:
        return None

    def check(environ: dict[str, Any]) -> bool:
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        return any(hmac.compare_digest(given, expected) for expected in accepted)  # no early exit on a match

    return check


def endpoint_app(registry_source: RegistrySource, auth: Authorizer | None = None) -> Callable[..., Iterable[bytes]]:
    """The standalone server's app: ``/metrics`` (behind ``auth`` when set) and ``/health`` (liveness only, open)."""
    metrics = metrics_wsgi_app(registry_source)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            if auth is not None and not auth(environ):
                start_response(
                    "401 Unauthorized",
                    [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", 'Basic realm="lukhas-obs"')],
                )
                return [b"unauthorized\n"]
            return metrics(environ, start_response)
        if path == "/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [_HEALTH_BODY]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: this endpoint serves /metrics and /health\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: scrapes every few seconds would drown the host's own output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsServer:
    """``/metrics`` and ``/health`` on a daemon thread. Start failures warn and return None instead of raising."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, scheme: str = "http") -> None:
        self._server = server
        self._thread = thread
        self.scheme = scheme
        self.host = server.server_address[0]
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"{self.scheme}://{host}:{self.port}/metrics"

    @staticmethod
    def tls_context(cert: str, key: str) -> ssl.SSLContext:
        """A server TLS context (TLS 1.2+); a bad certificate or key is a configuration error, raised early."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(
                "metrics_tls_cert", cert, f"a PEM certificate matching metrics_tls_key ({exc})"
            ) from None
        return context

    @classmethod
    def start(
        cls,
        host: str,
        port: int,
        app: Callable[..., Iterable[bytes]],
        tls: ssl.SSLContext | None = None,
    ) -> MetricsServer | None:
        server_class: type[WSGIServer] = ThreadingWSGIServer
        if ":" in host:

            class _V6(ThreadingWSGIServer):
                address_family = socket.AF_INET6

            server_class = _V6
        try:
            server = make_server(host, port, app, server_class, handler_class=_QuietHandler)
        except OSError as exc:
            _log.warning(
                "lukhas_obs: cannot serve /metrics on %s:%s (%s); the application continues without the endpoint "
                "(choose another prometheus_port, or 0 for a free one)",
                host,
                port,
                exc.strerror or exc,
            )
            return None
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="lukhas-obs-metrics", daemon=True
        )
        thread.start()
        return cls(server, thread, "https" if tls is not None else "http")

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and release the port (bounded by ``timeout``)."""
        stopper = threading.Thread(target=self._server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout)
        self._server.server_close()
        self._thread.join(timeout)
