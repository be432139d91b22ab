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
import logging
import re
import ssl
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
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
#: The path everything is served on unless ``metrics_path`` says otherwise.
DEFAULT_METRICS_PATH = "/metrics"
#: Liveness, open (never behind the metrics credentials), never any metric.
HEALTH_PATH = "/health"
#: ``(content type, body)`` of ``/health`` unless ``health_body`` says otherwise: ``{"status": "ok"}``.
DEFAULT_HEALTH_BODY = ("application/json", '{"status": "ok"}')

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
_CATALOG_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,127}")
_MAX_CATALOGS = 64
_warned_lock = threading.Lock()
_warned: set[str] = set()


def build_reader(
    *, scope_labels: bool, created_series: bool | None = None
) -> tuple[PrometheusMetricReader, CollectorRegistry]:
    """A reader registered in a fresh registry. No ``otel_scope_*`` labels unless asked; ``target_info`` is kept.

    The reader is a :class:`~lukhas_obs.exporters.render.DirectPrometheusReader` in a
    :class:`~lukhas_obs.exporters.render.DirectRegistry`: :func:`respond` and :func:`render_exposition` render it
    directly (the exporter's bytes, plus exemplars in OpenMetrics, info families and optional ``_created``
    series); prometheus_client's ``generate_latest`` on the registry still gives the exporter's own rendering.
    ``created_series`` None follows the ``created_series`` setting of the configuration this registry belongs to.
    """
    registry = DirectRegistry()
    reader = DirectPrometheusReader(scope_labels=scope_labels, registry=registry)
    reader.created_series = created_series  # type: ignore[assignment]
    return reader, registry


def _plain_text(value: object) -> str | None:
    """``value`` as an exact ``str`` (a subclass's overridden methods are never called), or None."""
    return str.__getitem__(value, slice(None)) if isinstance(value, str) else None


def _active_settings() -> Any:
    """The active configuration's settings (None when nothing is configured). Never raises."""
    try:
        from lukhas_obs import runtime

        current = runtime.active()
        return current.settings if current is not None else None
    except Exception:
        return None


def _warn_once(key: str, message: str, *args: object) -> None:
    """One warning per key (at most 64 keys: a hostile caller cannot grow the set)."""
    with _warned_lock:
        if key in _warned or len(_warned) >= 64:
            return
        _warned.add(key)
    _log.warning(message, *args)


# -- selection by catalog -------------------------------------------------------------------------------------------


def known_catalog_names() -> list[str]:
    """Every name :func:`resolve_catalogs` accepts now: registered catalogs and known systems, sorted."""
    from lukhas_obs.catalog import catalogs
    from lukhas_obs.systems import systems

    return sorted({c.name for c in catalogs()} | set(systems()))


def _catalog_names_for(name: str) -> tuple[str, ...] | None:
    """The catalogs a name stands for: a registered catalog, a system (its catalogs, registered now), a catalog
    shipped with lukhas-obs, or a catalog of a known system (only that system is registered); None when it names
    nothing. Only lower_snake_case names are looked up, and a name that is nothing registers nothing (a typo must
    not put every system's ``start_at_zero`` series on ``/metrics``)."""
    from importlib import resources

    from lukhas_obs import catalog as catalog_registry
    from lukhas_obs.systems import systems

    if _CATALOG_NAME_RE.fullmatch(name) is None:
        return None

    def registered() -> bool:
        return any(c.name == name for c in catalog_registry.catalogs())

    if registered():
        return (name,)
    known = systems()
    if name in known:
        return tuple(c.name for c in known[name].register())
    if (resources.files("lukhas_obs.catalog") / "data" / f"{name}.yaml").is_file():
        return (catalog_registry.builtin(name).name,)
    declaring = getattr(catalog_registry, "_register_system_declaring", None)  # registers that one system only
    if declaring is not None and declaring(lambda c: c.name == name) and registered():
        return (name,)
    return None


def shown_catalog_name(name: object) -> object:
    """How a refused catalog name is shown in a message: as given when it is a plausible name (lower_snake_case, a
    typo worth seeing), otherwise described without quoting it (it may be a pasted credential)."""
    if isinstance(name, str):
        text = str.__getitem__(name, slice(None))
        if len(text) <= 64 and _CATALOG_NAME_RE.fullmatch(text) is not None:
            return text
        return f"a {len(text)}-character name that is not lower_snake_case"
    return f"a {type(name).__name__}, not a name"


def accepted_catalogs_text() -> str:
    """What a catalog selection accepts, for error messages (bounded: the first 40 names)."""
    names = known_catalog_names()
    shown = ", ".join(names[:40]) + (f", ... ({len(names)} in all)" if len(names) > 40 else "")
    return "names of registered catalogs or known systems: " + (shown or "(none registered)")


def resolve_catalogs(names: object, field: str = "catalogs") -> tuple[str, ...]:
    """Catalog names for ``names`` (one name, or a list of names of catalogs or systems), in order, without repeats.

    Raises :class:`~lukhas_obs.errors.ConfigurationError` naming ``field`` and the accepted names when a name is
    not text, names nothing registered or known, or the list is empty or longer than 64.
    """
    items: list[object] | None = None
    if isinstance(names, str):
        items = [_plain_text(names)]
    elif isinstance(names, Sequence) and not isinstance(names, (bytes, bytearray)):
        try:
            items = list(names[: _MAX_CATALOGS + 1])
        except Exception:  # a hostile sequence: refused like any other non-list
            items = None
    if items is None:
        raise ConfigurationError(
            field, shown_catalog_name(names), "a catalog name or a list of them; " + accepted_catalogs_text()
        )
    if not items or len(items) > _MAX_CATALOGS:
        raise ConfigurationError(
            field, f"{len(items)} names", f"1 to {_MAX_CATALOGS} names; " + accepted_catalogs_text()
        )
    chosen: list[str] = []
    for item in items:
        text = str.__getitem__(item, slice(None)) if isinstance(item, str) else None
        found = _catalog_names_for(text) if text is not None else None
        if found is None:
            raise ConfigurationError(field, shown_catalog_name(item), accepted_catalogs_text())
        chosen += [n for n in found if n not in chosen]
    return tuple(chosen)


_families_lock = threading.Lock()
_families_cache: dict[tuple[str, ...], frozenset[str]] = {}


def families_of(catalog_names: Iterable[str]) -> frozenset[str]:
    """The Prometheus family names of the named catalogs' metrics (as the exporter names families: ``x`` for the
    counter ``x_total``, ``x_info`` and ``x`` for an info metric). Catalogs not registered contribute nothing.

    Cached per tuple of names once every named catalog is registered (a registered catalog never changes).
    """
    from lukhas_obs.catalog import catalogs
    from lukhas_obs.catalog.kinds import KINDS
    from lukhas_obs.catalog.naming import family_name

    key = tuple(catalog_names)
    with _families_lock:
        cached = _families_cache.get(key)
    if cached is not None:
        return cached
    by_name = {c.name: c for c in catalogs()}
    found: set[str] = set()
    for name in key:
        chosen = by_name.get(name)
        if chosen is None:
            continue
        for spec in chosen.metrics:
            family = family_name(spec.otel_name, spec.unit, spec.kind)
            found.add(family)
            entry = KINDS.get(spec.kind)
            if entry is not None and entry.prometheus_type == "info" and family.endswith("_info"):
                found.add(family[:-5])  # prometheus_client's Info family of the same metric
    result = frozenset(found)
    if all(name in by_name for name in key):
        with _families_lock:
            if len(_families_cache) >= 256:
                _families_cache.clear()
            _families_cache[key] = result
    return result


def _endpoint_families(endpoint: str, settings: Any) -> tuple[bool, frozenset[str] | None]:
    """``(known, families)`` of a configured endpoint path: the metrics path serves everything (None)."""
    if settings is None:
        return False, None
    if endpoint == getattr(settings, "metrics_path", DEFAULT_METRICS_PATH):
        return True, None
    for path, names in getattr(settings, "metrics_endpoints", ()):
        if path == endpoint:
            return True, families_of(names)
    return False, None


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

    def __init__(self, registry: Any, names: Iterable[str]) -> None:
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


class _Subset:
    """The families of ``registry`` whose name is in ``families`` (a per-endpoint subset of a user's registry)."""

    def __init__(self, registry: Any, families: Collection[str]) -> None:
        self._registry = registry
        self._families = families

    def collect(self) -> Iterable[Any]:
        for family in self._registry.collect():
            if family.name in self._families or family.name == "target":
                yield family


def _created_for(reader: DirectPrometheusReader, registry: CollectorRegistry) -> bool:
    """Whether ``_created`` series are rendered: the reader's own choice, else the setting of the configuration
    ``registry`` belongs to (the reader lukhas-obs builds follows ``created_series``)."""
    chosen = reader.created_series
    if chosen is not None:
        return bool(chosen)
    try:
        from lukhas_obs import runtime

        current = runtime.active()
        if current is not None and current.registry is registry:
            return bool(getattr(current.settings, "created_series", False))
    except Exception:
        pass
    return False


def _render(
    registry: CollectorRegistry,
    openmetrics: bool,
    names: Iterable[str] | None,
    families: Collection[str] | None = None,
) -> bytes:
    """The exposition bytes (may raise: callers decide between a 500 and a never-raising fallback).

    lukhas-obs' own registry is rendered straight from its reader's collection; any other registry (a user's
    ``registry_source``) by prometheus_client. ``families`` restricts to an endpoint's subset (``target_info``
    stays), ``names`` to ``?name[]=`` within it.
    """
    reader = registry.direct_reader if isinstance(registry, DirectRegistry) else None
    if reader is not None:
        return reader.render(
            openmetrics=openmetrics, names=names, families=families, created=_created_for(reader, registry)
        )
    target: Any = registry if families is None else _Subset(registry, families)
    if names is not None:
        target = _Only(target, names)
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
    catalogs: str | Sequence[str] | None = None,
    endpoint: str | None = None,
) -> tuple[bytes, str]:
    """The active configuration's exposition for an ordinary framework route: ``(body, content_type)``.

    ``accept`` is the request's ``Accept`` header (OpenMetrics when it asks for it, Prometheus text 0.0.4 otherwise);
    ``names`` restricts the output to those metric names (like ``?name[]=``). The body is never compressed (leave
    that to the framework's gzip middleware). Serve it from a route so the framework's auth (FastAPI
    ``Depends``, Flask ``before_request``, ...) applies to ``/metrics`` like to every other route.

    A subset, like one of the built-in server's endpoints: ``catalogs`` (names of registered catalogs or systems;
    ``lukhas_obs_self`` for the self-telemetry) keeps only their metrics' families, ``endpoint`` (a path of the
    ``metrics_endpoints`` setting, or ``metrics_path`` for everything) the families that endpoint serves.
    ``target_info`` stays in every subset; ``names`` applies within it.

    Never raises. When nothing serves Prometheus metrics (not configured, ``OTEL_SDK_DISABLED=true``, or
    ``metrics_exporter`` without ``prometheus``) or rendering fails, the body is a valid exposition with no samples:
    :data:`UNCONFIGURED_TEXT` (one comment line, visible to a human with curl) or :data:`UNCONFIGURED_OPENMETRICS`
    (``# EOF``). The same body, with one warning naming what is accepted, for a ``catalogs`` name that names no
    registered catalog or an ``endpoint`` that is not configured: a misconfigured route shows nothing rather than
    metrics it was not meant to show. A route that prefers ``503`` checks ``lukhas_obs.active()`` and its
    ``registry`` first (see docs/SERVING.md).
    """
    openmetrics = wants_openmetrics(accept)
    content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
    empty = UNCONFIGURED_OPENMETRICS if openmetrics else UNCONFIGURED_TEXT
    try:
        registry = (registry_source or _active_registry)()
        if registry is None:
            return empty, content_type
        served, families = _selection(catalogs, endpoint)
        if not served:
            return empty, content_type
        return _render(registry, openmetrics, _bounded_names(names), families), content_type
    except Exception as exc:
        _warn_render_failure(exc)
        return empty, content_type


def _selection(catalogs: object, endpoint: object) -> tuple[bool, frozenset[str] | None]:
    """``(served, families)`` of a ``render_exposition(catalogs=..., endpoint=...)`` call: families None for
    everything; served False (with one warning) when the selection names nothing configured. Never raises."""
    if catalogs is not None:
        try:
            return True, families_of(resolve_catalogs(catalogs))
        except ConfigurationError as exc:
            _warn_once("render_exposition:catalogs", "lukhas_obs: render_exposition serves nothing: %s", exc)
            return False, None
    if endpoint is not None:
        path = _plain_text(endpoint)
        known, families = _endpoint_families(path, _active_settings()) if path is not None else (False, None)
        if not known:
            _warn_once(
                "render_exposition:endpoint",
                "lukhas_obs: render_exposition serves nothing: endpoint= names no configured metrics path "
                "(metrics_path or a key of metrics_endpoints)",
            )
        return known, families
    return True, None


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
    *,
    families: Collection[str] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of a ``/metrics`` request; every app here is a thin adapter around it.

    ``GET``/``HEAD`` → 200 (the server or framework drops the body of ``HEAD``), ``OPTIONS`` → 200 with ``Allow``,
    other methods → 405; 503 when nothing is configured; 400/414 for a query string that is too long or has more
    than 256 fields; 500 only when rendering itself fails (a bug, logged once). ``families`` serves an endpoint's
    subset (:func:`families_of`; None: everything). Never raises.
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
            body = _render(registry, openmetrics, names, families)
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


_NOT_CONFIGURED_ENDPOINT = b"not found: this metrics endpoint is not configured (metrics_path, metrics_endpoints)\n"


class _Route:
    """What an app built with ``catalogs=`` or ``endpoint=`` serves: validated catalogs now, an endpoint per request
    (the configuration it names may come later than the app)."""

    def __init__(self, catalogs: object, endpoint: object) -> None:
        if catalogs is not None and endpoint is not None:
            raise ConfigurationError("endpoint", endpoint, "either catalogs= or endpoint=, not both")
        path = None if endpoint is None else _plain_text(endpoint)
        if endpoint is not None and path is None:
            raise ConfigurationError(
                "endpoint", shown_catalog_name(endpoint), "a configured metrics path such as '/metrics/exp'"
            )
        self.catalogs = None if catalogs is None else resolve_catalogs(catalogs)  # fails early, naming the names
        self.endpoint = path

    def families(self) -> tuple[bool, frozenset[str] | None]:
        """``(served, families)``: False when the endpoint is not configured (now)."""
        if self.catalogs is not None:
            return True, families_of(self.catalogs)
        if self.endpoint is not None:
            known, families = _endpoint_families(self.endpoint, _active_settings())
            if not known:
                _warn_once("app:endpoint", "lukhas_obs: a metrics app's endpoint= is not a configured metrics path")
            return known, families
        return True, None


def metrics_wsgi_app(
    registry_source: RegistrySource | None = None,
    *,
    catalogs: str | Sequence[str] | None = None,
    endpoint: str | None = None,
) -> Callable[..., Iterable[bytes]]:
    """A WSGI app that serves the active registry at whatever path it is mounted on (Flask, Django, gunicorn).

    ``catalogs`` (names of registered catalogs or systems, checked now: a bad name raises
    :class:`~lukhas_obs.errors.ConfigurationError` naming the accepted ones) or ``endpoint`` (a path of the
    ``metrics_endpoints`` setting, looked up per request; 404 while it is not configured) serve a subset.

    Note: mounted with ``DispatcherMiddleware`` it is outside Flask's ``before_request`` hooks; to put ``/metrics``
    behind the app's auth, serve :func:`render_exposition` from a route (docs/SERVING.md).
    """
    route = _Route(catalogs, endpoint)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        served, families = route.families()
        if not served:
            start_response("404 Not Found", [("Content-Type", _PLAIN)])
            return [_NOT_CONFIGURED_ENDPOINT]
        status, headers, body = respond(
            registry_source,
            _environ_text(environ, "REQUEST_METHOD") or "GET",
            _environ_text(environ, "QUERY_STRING") or "",
            _environ_text(environ, "HTTP_ACCEPT"),
            _environ_text(environ, "HTTP_ACCEPT_ENCODING"),
            families=families,
        )
        start_response(_wsgi_status(status), headers)
        return [body]

    return app


class MetricsASGIApp:
    """An ASGI app serving the active registry at whatever path routes to it. Never raises into the server.

    A callable *instance* (not a function), so Starlette/FastAPI use it as a raw ASGI app in a ``Route``:
    ``app.add_route("/metrics", metrics_asgi_app())`` or ``Route("/metrics", metrics_asgi_app())`` answer
    ``/metrics`` with 200. ``app.mount("/metrics", ...)`` also works but answers ``/metrics`` with ``307 → /metrics/``
    (Starlette's trailing-slash rule for mounts) and captures every path below it (``/metrics/exp``). Neither is
    covered by FastAPI ``Depends``: for auth, use a route that calls :func:`render_exposition` (docs/SERVING.md).
    ``catalogs``/``endpoint`` serve a subset, as for :func:`metrics_wsgi_app`.
    """

    def __init__(
        self,
        registry_source: RegistrySource | None = None,
        *,
        catalogs: str | Sequence[str] | None = None,
        endpoint: str | None = None,
    ) -> None:
        self._registry_source = registry_source
        self._route = _Route(catalogs, endpoint)

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
        served, families = self._route.families()
        if served:
            status, headers, body = respond(
                self._registry_source,
                method,
                query,
                ",".join(accept) or None,
                ",".join(encoding) or None,
                families=families,
            )
        else:
            status, headers, body = 404, [("Content-Type", _PLAIN)], _NOT_CONFIGURED_ENDPOINT
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


def metrics_asgi_app(
    registry_source: RegistrySource | None = None,
    *,
    catalogs: str | Sequence[str] | None = None,
    endpoint: str | None = None,
) -> MetricsASGIApp:
    """An ASGI app that serves the active registry (``app.add_route("/metrics", lukhas_obs.metrics_asgi_app())``);
    ``catalogs=``/``endpoint=`` for a subset (``app.add_route("/metrics/exp", metrics_asgi_app(catalogs=[...]))``)."""
    return MetricsASGIApp(registry_source, catalogs=catalogs, endpoint=endpoint)


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


class EndpointApp:
    """The built-in server's WSGI app: the metrics path, the ``metrics_endpoints`` subsets and ``/health``.

    Every path is matched exactly (no prefix, no trailing-slash redirect: ``/metrics/exp`` is never shadowed by
    ``/metrics``, ``/metrics/`` is 404). Metrics paths are behind ``auth`` when set; ``/health`` is open and answers
    ``health_body`` to ``GET``/``HEAD``. ``metrics_path``, ``health_body`` (``(content type, text)``, as
    ``Settings.health_body`` holds it) and ``endpoints`` (``((path, catalog names), ...)``) left None follow the
    active configuration's settings, read per request (the app is built before its configuration is active).
    """

    def __init__(
        self,
        registry_source: RegistrySource,
        auth: Authorizer | None = None,
        *,
        metrics_path: str | None = None,
        health_body: tuple[str, str] | None = None,
        endpoints: Iterable[tuple[str, Iterable[str]]] | Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._registry_source = registry_source
        self._auth = auth
        self._metrics_path = metrics_path
        self._health = None if health_body is None else (health_body[0], health_body[1].encode("utf-8"))
        if isinstance(endpoints, Mapping):
            endpoints = list(endpoints.items())
        self._endpoints = None if endpoints is None else tuple((p, tuple(names)) for p, names in endpoints)
        self._cache: tuple[Any, dict[str, frozenset[str] | None], tuple[str, bytes]] | None = None
        self._lock = threading.Lock()

    @property
    def metrics_path(self) -> str:
        """Where everything is served."""
        if self._metrics_path is not None:
            return self._metrics_path
        return getattr(_active_settings(), "metrics_path", DEFAULT_METRICS_PATH)

    def routes(self) -> dict[str, frozenset[str] | None]:
        """Metrics path → the families it serves (None: everything)."""
        return self._resolved()[0]

    def _resolved(self) -> tuple[dict[str, frozenset[str] | None], tuple[str, bytes]]:
        settings = _active_settings()
        cached = self._cache
        if cached is not None and cached[0] is settings:
            return cached[1], cached[2]
        metrics_path: str = self._metrics_path if self._metrics_path is not None else DEFAULT_METRICS_PATH
        if self._metrics_path is None and settings is not None:
            metrics_path = getattr(settings, "metrics_path", DEFAULT_METRICS_PATH)
        endpoints = self._endpoints
        if endpoints is None:
            endpoints = tuple(getattr(settings, "metrics_endpoints", ()))
        routes: dict[str, frozenset[str] | None] = {path: families_of(names) for path, names in endpoints}
        routes[metrics_path] = None
        health = self._health
        if health is None:
            content_type, text = getattr(settings, "health_body", DEFAULT_HEALTH_BODY)
            health = (content_type, text.encode("utf-8"))
        with self._lock:
            self._cache = (settings, routes, health)
        return routes, health

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raw_path = environ.get("PATH_INFO", "/")
        path = raw_path if type(raw_path) is str else ""
        method = environ.get("REQUEST_METHOD", "GET")
        routes, health = self._resolved()
        if path in routes:
            if self._auth is not None and not self._auth(environ):
                start_response(
                    "401 Unauthorized",
                    [("Content-Type", _PLAIN), ("WWW-Authenticate", 'Basic realm="lukhas-obs"')],
                )
                return [b"unauthorized\n"]
            status, headers, body = respond(
                self._registry_source,
                _environ_text(environ, "REQUEST_METHOD") or "GET",
                _environ_text(environ, "QUERY_STRING") or "",
                _environ_text(environ, "HTTP_ACCEPT"),
                _environ_text(environ, "HTTP_ACCEPT_ENCODING"),
                families=routes[path],
            )
            start_response(_wsgi_status(status), headers)
            return [body]
        if path == HEALTH_PATH:
            if method == "OPTIONS":
                start_response("200 OK", [("Allow", _ALLOW), ("Content-Length", "0")])
                return [b""]
            if method not in ("GET", "HEAD"):
                start_response("405 Method Not Allowed", [("Allow", _ALLOW), ("Content-Type", _PLAIN)])
                return [b"method not allowed: use GET or HEAD\n"]
            start_response("200 OK", [("Content-Type", health[0])])
            return [health[1]]
        start_response("404 Not Found", [("Content-Type", _PLAIN)])
        return [b"not found\n"]


def endpoint_app(
    registry_source: RegistrySource,
    auth: Authorizer | None = None,
    *,
    metrics_path: str | None = None,
    health_body: tuple[str, str] | None = None,
    endpoints: Iterable[tuple[str, Iterable[str]]] | Mapping[str, Iterable[str]] | None = None,
) -> EndpointApp:
    """The standalone server's app: the metrics path and subsets (behind ``auth`` when set) and ``/health``
    (liveness only, open). See :class:`EndpointApp`."""
    return EndpointApp(
        registry_source, auth, metrics_path=metrics_path, health_body=health_body, endpoints=endpoints
    )


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
        """The URL of the metrics path (``metrics_path`` of the app, ``/metrics`` by default)."""
        return self.url_for(getattr(self._server.app, "metrics_path", DEFAULT_METRICS_PATH))

    def url_for(self, path: str) -> str:
        """The URL of ``path`` on this server (``url_for("/metrics/exp")``)."""
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

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
    "DEFAULT_HEALTH_BODY",
    "DEFAULT_METRICS_PATH",
    "HEALTH_PATH",
    "OPENMETRICS_CONTENT_TYPE",
    "TEXT_CONTENT_TYPE",
    "EndpointApp",
    "MetricsASGIApp",
    "MetricsServer",
    "authorizer",
    "build_reader",
    "endpoint_app",
    "families_of",
    "known_catalog_names",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "render_exposition",
    "resolve_catalogs",
    "respond",
    "wants_openmetrics",
]

