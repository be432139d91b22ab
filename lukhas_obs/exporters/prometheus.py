"""Prometheus exposition: the OTel ``PrometheusMetricReader``, the built-in server, and apps/functions for frameworks.

Each configuration gets its own ``CollectorRegistry`` (never prometheus_client's global one), so re-configuring, tests
and host applications that use prometheus_client themselves do not collide.

Everything that serves the exposition goes through one function, :func:`respond`: the built-in server's app
(:func:`endpoint_app`), the mountable WSGI app (:func:`metrics_wsgi_app`), the ASGI app (:class:`MetricsASGIApp`) and,
without status codes, :func:`render_exposition` for an ordinary framework route (so the framework's own auth applies).
Content negotiation is done here rather than by prometheus_client's ``choose_encoder`` (which raises on
``Accept: application/openmetrics-text; version=abc`` and echoes the client's version into ``Content-Type``):
OpenMetrics 1.0.0 when ``Accept`` names ``application/openmetrics-text`` (version absent or 1.x, ``q`` not 0),
Prometheus text 0.0.4 otherwise. ``?name[]=`` filters and gzip (``Accept-Encoding``) work as with prometheus_client.

lukhas-obs' own reader (:func:`build_reader`) is rendered straight from its collection by
:mod:`lukhas_obs.exporters.render` (the OTel exporter's bytes, ~10× faster, with exemplars in OpenMetrics); a
registry of the user's own (``registry_source``) is rendered by prometheus_client as before.

The HTTP server itself (timeouts, connection cap, TLS handshake off the accept thread) is
:mod:`lukhas_obs.exporters.http_server`.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hmac
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.exposition import generate_latest as _generate_text
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as _OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as _openmetrics_generate_latest

from lukhas_obs.errors import ConfigurationError
from lukhas_obs.exporters.http_server import HardenedHTTPServer
from lukhas_obs.exporters.render import DirectPrometheusReader, DirectRegistry

_log = logging.getLogger("lukhas_obs")
#: prometheus_client's OpenMetrics ``generate_latest`` has no annotations; this is its signature as used here.
_generate_openmetrics: Callable[[Any], bytes] = _openmetrics_generate_latest

RegistrySource = Callable[[], "CollectorRegistry | None"]
_HEALTH_BODY = json.dumps({"status": "ok"}).encode()

#: Content type of the Prometheus text format served by default.
TEXT_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: Content type served when the scraper asks for OpenMetrics.
OPENMETRICS_CONTENT_TYPE = _OPENMETRICS_CONTENT_TYPE
#: The body :func:`render_exposition` returns when no configuration serves Prometheus metrics (valid, no samples).
UNCONFIGURED_TEXT = b"# lukhas_obs is not configured (or OTEL_SDK_DISABLED=true, or no prometheus exporter)\n"
UNCONFIGURED_OPENMETRICS = b"# EOF\n"
_UNAVAILABLE_BODY = b"lukhas_obs is not configured (or OTEL_SDK_DISABLED=true)\n"

_MAX_ACCEPT_CHARS = 4096
_MAX_ACCEPT_ITEMS = 64
_MAX_QUERY_CHARS = 16384
_MAX_QUERY_FIELDS = 256
_ALLOW = "GET, HEAD, OPTIONS"
_PLAIN = "text/plain; charset=utf-8"
_render_failure_warned = False


def build_reader(*, scope_labels: bool) -> tuple[PrometheusMetricReader, CollectorRegistry]:
    """A reader registered in a fresh registry. No ``otel_scope_*`` labels unless asked; ``target_info`` is kept.

    The reader is a :class:`~lukhas_obs.exporters.render.DirectPrometheusReader` in a
    :class:`~lukhas_obs.exporters.render.DirectRegistry`: :func:`respond` and :func:`render_exposition` render it
    directly (the exporter's bytes, plus exemplars in OpenMetrics); prometheus_client's ``generate_latest`` on the
    registry still gives the exporter's own rendering.
    """
    registry = DirectRegistry()
    reader = DirectPrometheusReader(scope_labels=scope_labels, registry=registry)
    return reader, registry


def _active_registry() -> CollectorRegistry | None:
    from lukhas_obs import runtime  # runtime imports this module: resolve at call time

    return runtime.active_registry()


def wants_openmetrics(accept: object) -> bool:
    """True when an ``Accept`` header asks for OpenMetrics (1.x or unversioned, ``q`` not 0). Never raises.

    Bounded: only the first 4 KiB and 64 media ranges are looked at, whatever the header's size.
    """
    try:
        if not isinstance(accept, str) or not accept:
            return False
        for item in str.split(str.__getitem__(accept, slice(0, _MAX_ACCEPT_CHARS)), ",")[:_MAX_ACCEPT_ITEMS]:
            media, *params = item.split(";")
            if media.strip().lower() != "application/openmetrics-text":
                continue
            version, quality = "", ""
            for param in params[:16]:
                key, _, value = param.partition("=")
                key = key.strip().lower()
                if key == "version":
                    version = value.strip()
                elif key == "q":
                    quality = value.strip()
            if quality and quality.rstrip("0").rstrip(".") in ("", "0"):
                continue  # q=0: explicitly not acceptable
            if not version or version.startswith("1."):
                return True
        return False
    except Exception:
        return False


class _Only:
    """The families of ``registry`` restricted to ``names`` (family names or sample names, like ``?name[]=``).

    Not ``CollectorRegistry.restricted_registry``: that finds collectors through names recorded by ``describe()`` at
    registration, and the OTel reader's collector has none then, so it always rendered nothing.
    """

    def __init__(self, registry: CollectorRegistry, names: Iterable[str]) -> None:
        self._registry = registry
        self._names = frozenset(names)

    def collect(self) -> Iterable[Any]:
        for family in self._registry.collect():
            if family.name in self._names:
                yield family
                continue
            samples = [sample for sample in family.samples if sample.name in self._names]
            if samples:
                clone = copy.copy(family)
                clone.samples = samples
                yield clone


def _render(registry: CollectorRegistry, openmetrics: bool, names: Iterable[str] | None) -> bytes:
    """The exposition bytes (may raise: callers decide between a 500 and a never-raising fallback).

    lukhas-obs' own registry is rendered straight from its reader's collection; any other registry (a user's
    ``registry_source``) by prometheus_client.
    """
    reader = registry.direct_reader if isinstance(registry, DirectRegistry) else None
    if reader is not None:
        return reader.render(openmetrics=openmetrics, names=names)
    target: Any = registry if names is None else _Only(registry, names)
    return _generate_openmetrics(target) if openmetrics else _generate_text(target)


def _warn_render_failure(exc: BaseException) -> None:
    global _render_failure_warned
    if not _render_failure_warned:
        _render_failure_warned = True
        _log.warning("lukhas_obs: rendering /metrics failed (%s); logged once", type(exc).__name__)


def _bounded_names(names: object) -> list[str] | None:
    if names is None:
        return None
    kept: list[str] = []
    for name in names:  # type: ignore[attr-defined]
        if type(name) is str and len(name) <= 256:
            kept.append(name)
        if len(kept) >= _MAX_QUERY_FIELDS:
            break
    return kept


def render_exposition(
    accept: str | None = None,
    *,
    names: Iterable[str] | None = None,
    registry_source: RegistrySource | None = None,
) -> tuple[bytes, str]:
    """The active configuration's exposition for an ordinary framework route: ``(body, content_type)``.

    ``accept`` is the request's ``Accept`` header (OpenMetrics when it asks for it, Prometheus text 0.0.4 otherwise);
    ``names`` restricts the output to those metric names (like ``?name[]=``). The body is never compressed (leave
    that to the framework's gzip middleware). Serve it from a route so the framework's auth (FastAPI
    ``Depends``, Flask ``before_request``, ...) applies to ``/metrics`` like to every other route.

    Never raises. When nothing serves Prometheus metrics (not configured, ``OTEL_SDK_DISABLED=true``, or
    ``metrics_exporter`` without ``prometheus``) or rendering fails, the body is a valid exposition with no samples:
    :data:`UNCONFIGURED_TEXT` (one comment line, visible to a human with curl) or :data:`UNCONFIGURED_OPENMETRICS`
    (``# EOF``). A route that prefers ``503`` checks ``lukhas_obs.active()`` and its ``registry`` first (see
    docs/SERVING.md).
    """
    openmetrics = wants_openmetrics(accept)
    content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
    empty = UNCONFIGURED_OPENMETRICS if openmetrics else UNCONFIGURED_TEXT
    try:
        registry = (registry_source or _active_registry)()
        if registry is None:
            return empty, content_type
        return _render(registry, openmetrics, _bounded_names(names)), content_type
    except Exception as exc:
        _warn_render_failure(exc)
        return empty, content_type


def _gzip_accepted(accept_encoding: object) -> bool:
    if not isinstance(accept_encoding, str):
        return False
    for item in str.split(str.__getitem__(accept_encoding, slice(0, _MAX_ACCEPT_CHARS)), ",")[:_MAX_ACCEPT_ITEMS]:
        coding, _, params = item.partition(";")
        if coding.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def respond(
    registry_source: RegistrySource | None,
    method: str,
    query: str,
    accept: str | None,
    accept_encoding: str | None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of a ``/metrics`` request; every app here is a thin adapter around it.

    ``GET``/``HEAD`` → 200 (the server or framework drops the body of ``HEAD``), ``OPTIONS`` → 200 with ``Allow``,
    other methods → 405; 503 when nothing is configured; 400/414 for a query string that is too long or has more
    than 256 fields; 500 only when rendering itself fails (a bug, logged once). Never raises.
    """
    try:
        if method == "OPTIONS":
            return 200, [("Allow", _ALLOW), ("Content-Length", "0")], b""
        if method not in ("GET", "HEAD"):
            return 405, [("Allow", _ALLOW), ("Content-Type", _PLAIN)], b"method not allowed: use GET or HEAD\n"
        names: list[str] | None = None
        if query:
            if len(query) > _MAX_QUERY_CHARS:
                return 414, [("Content-Type", _PLAIN)], b"query string too long\n"
            try:
                params = parse_qs(query, max_num_fields=_MAX_QUERY_FIELDS)
            except ValueError:
                return 400, [("Content-Type", _PLAIN)], b"too many query parameters\n"
            if "name[]" in params:
                names = _bounded_names(params["name[]"])
        registry = (registry_source or _active_registry)()
        if registry is None:
            return 503, [("Content-Type", _PLAIN)], _UNAVAILABLE_BODY
        openmetrics = wants_openmetrics(accept)
        try:
            body = _render(registry, openmetrics, names)
        except Exception as exc:
            _warn_render_failure(exc)
            return 500, [("Content-Type", _PLAIN)], b"rendering metrics failed (logged by the application)\n"
        headers = [("Content-Type", OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE)]
        if _gzip_accepted(accept_encoding):
            body = gzip.compress(body, compresslevel=6)
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        return 200, headers, body
    except Exception as exc:  # hostile header objects from a framework: answer, never raise
        _warn_render_failure(exc)
        return 500, [("Content-Type", _PLAIN)], b"internal error\n"


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    414: "URI Too Long",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _wsgi_status(status: int) -> str:
    return f"{status} {_REASONS.get(status, '')}".rstrip()


def _environ_text(environ: MutableMapping[str, Any], key: str) -> str | None:
    value = environ.get(key)
    return value if isinstance(value, str) else None


def metrics_wsgi_app(registry_source: RegistrySource | None = None) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that serves the active registry at whatever path it is mounted on (Flask, Django, gunicorn).

    Note: mounted with ``DispatcherMiddleware`` it is outside Flask's ``before_request`` hooks; to put ``/metrics``
    behind the app's auth, serve :func:`render_exposition` from a route (docs/SERVING.md).
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, body = respond(
            registry_source,
            _environ_text(environ, "REQUEST_METHOD") or "GET",
            _environ_text(environ, "QUERY_STRING") or "",
            _environ_text(environ, "HTTP_ACCEPT"),
            _environ_text(environ, "HTTP_ACCEPT_ENCODING"),
        )
        start_response(_wsgi_status(status), headers)
        return [body]

    return app


class MetricsASGIApp:
    """An ASGI app serving the active registry at whatever path routes to it. Never raises into the server.

    A callable *instance* (not a function), so Starlette/FastAPI use it as a raw ASGI app in a ``Route``:
    ``app.add_route("/metrics", metrics_asgi_app())`` or ``Route("/metrics", metrics_asgi_app())`` answer
    ``/metrics`` with 200. ``app.mount("/metrics", ...)`` also works but answers ``/metrics`` with ``307 → /metrics/``
    (Starlette's trailing-slash rule for mounts). Neither is covered by FastAPI ``Depends``: for auth, use a route
    that calls :func:`render_exposition` (docs/SERVING.md).
    """

    def __init__(self, registry_source: RegistrySource | None = None) -> None:
        self._registry_source = registry_source

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        kind = scope.get("type")
        if kind == "lifespan":  # served directly as the whole application (uvicorn module:app)
            while True:
                message = await receive()
                if message.get("type") == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message.get("type") == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        accept: list[str] = []
        encoding: list[str] = []
        try:
            for name, value in scope.get("headers") or ():
                lowered = bytes(name).lower()
                if lowered == b"accept":
                    accept.append(bytes(value).decode("latin-1"))
                elif lowered == b"accept-encoding":
                    encoding.append(bytes(value).decode("latin-1"))
            query = bytes(scope.get("query_string") or b"").decode("latin-1")
            method = str(scope.get("method") or "GET")
        except Exception:
            accept, encoding, query, method = [], [], "", "GET"
        status, headers, body = respond(
            self._registry_source, method, query, ",".join(accept) or None, ",".join(encoding) or None
        )
        if not any(name == "Content-Length" for name, _ in headers):
            headers.append(("Content-Length", str(len(body))))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def metrics_asgi_app(registry_source: RegistrySource | None = None) -> MetricsASGIApp:
    """An ASGI app that serves the active registry (``app.add_route("/metrics", lukhas_obs.metrics_asgi_app())``)."""
    return MetricsASGIApp(registry_source)


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
        given = environ.get("HTTP_AUTHORIZATION", "")
        if not isinstance(given, str):
            return False
        raw = given.encode("latin-1", "replace")
        return any(hmac.compare_digest(raw, expected) for expected in accepted)  # no early exit on a match

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
                    [("Content-Type", _PLAIN), ("WWW-Authenticate", 'Basic realm="lukhas-obs"')],
                )
                return [b"unauthorized\n"]
            return metrics(environ, start_response)
        if path == "/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [_HEALTH_BODY]
        start_response("404 Not Found", [("Content-Type", _PLAIN)])
        return [b"not found: this endpoint serves /metrics and /health\n"]

    return app


class MetricsServer:
    """``/metrics`` and ``/health`` on daemon threads. Start failures warn and return None instead of raising.

    The HTTP machinery (per-connection workers with handshake/header/body/send deadlines, a connection cap with
    eviction of unfinished requests, bounded :meth:`stop`) is :class:`~lukhas_obs.exporters.http_server.
    HardenedHTTPServer`; its limits are keyword arguments of :meth:`start`.
    """

    def __init__(self, server: HardenedHTTPServer, scheme: str = "http") -> None:
        self._server = server
        self.scheme = scheme
        self.host = server.host
        self.port = server.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"{self.scheme}://{host}:{self.port}/metrics"

    @property
    def live_connections(self) -> int:
        """Connections currently holding a worker thread."""
        return self._server.live_connections

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
        *,
        handshake_timeout: float = 5.0,
        header_timeout: float = 5.0,
        body_timeout: float = 5.0,
        send_timeout: float = 10.0,
        max_connections: int = 64,
        max_request_line: int = 8192,
        max_header_bytes: int = 8192,
    ) -> MetricsServer | None:
        """Bind and serve ``app`` on ``host:port`` (TLS with ``tls``); None, with one warning, if the port is taken.

        Timeouts are absolute per phase, in seconds: TLS handshake, request line + headers, body, response write (a
        scraper that cannot take the response within ``send_timeout`` is cut; Prometheus' default scrape_timeout is
        10 s too). At most ``max_connections`` connections hold a worker thread.
        """
        try:
            server = HardenedHTTPServer(
                host,
                port,
                app,
                tls,
                handshake_timeout=handshake_timeout,
                header_timeout=header_timeout,
                body_timeout=body_timeout,
                send_timeout=send_timeout,
                max_connections=max_connections,
                max_request_line=max_request_line,
                max_header_bytes=max_header_bytes,
            )
        except OSError as exc:
            _log.warning(
                "lukhas_obs: cannot serve /metrics on %s:%s (%s); the application continues without the endpoint "
                "(choose another prometheus_port, or 0 for a free one)",
                host,
                port,
                exc.strerror or exc,
            )
            return None
        server.start()
        return cls(server, "https" if tls is not None else "http")

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop serving, cut live connections, join every thread and release the port, within ``timeout`` seconds."""
        return self._server.stop(timeout)


__all__ = [
    "OPENMETRICS_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "MetricsASGIApp",
    "MetricsServer",
    "authorizer",
    "build_reader",
    "endpoint_app",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "render_exposition",
    "respond",
    "wants_openmetrics",
]

