"""A small client of the Prometheus HTTP API (``/api/v1/query``, ``query_range``, ``alerts``, ``rules``) on urllib.

Built for tools that run unattended (the canary ladder), so every call is bounded and every failure is one
:class:`PrometheusError` with a clear ``kind``:

* **time**: the whole request (connect, headers, body) ends within ``timeout`` seconds: a watchdog shuts the socket
  down at the deadline, so a server that drips one byte a second cannot hold the caller (a per-read socket timeout
  alone would let it). Name resolution happens before and is not covered: use an IP address or a local name;
* **size**: bodies larger than ``max_bytes`` are refused (by ``Content-Length`` first, then while reading);
* **answers**: non-200 statuses (with Prometheus's ``errorType``/``error`` when it sent them), ``"status": "error"``,
  bodies that are not JSON and results of an unexpected shape each raise, never return half a result;
* **redirects are not followed**: urllib would send the ``Authorization`` header to wherever a redirect points;
* **credentials** (``bearer_token``, ``basic_auth``, or ``user:password@`` in the URL, which is moved into basic
  auth and removed from the URL) are sent only in the ``Authorization`` header. They never appear in an error
  message, a ``repr``, or a log record (this module logs nothing); an error body that echoes them back has them
  replaced by ``<redacted>``. A token that could not be sent as a header value is refused at construction, without
  being shown (``http.client`` would put it in its own error message).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lukhas_obs.errors import REDACTED, ConfigurationError, redact_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "Alert",
    "PrometheusClient",
    "PrometheusError",
    "QueryResult",
    "Sample",
    "Series",
]

#: Seconds a whole request may take.
DEFAULT_TIMEOUT = 10.0
#: Largest response body accepted (a big ``/api/v1/rules`` is a few MB).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Largest error body read (for Prometheus's ``errorType``/``error``).
_ERROR_BODY_BYTES = 64 * 1024
#: Longest server-provided error text shown.
_ERROR_TEXT = 300
_CHUNK = 64 * 1024
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


class PrometheusError(Exception):
    """A Prometheus API call failed. ``kind``: connection, timeout, http, api, json, shape, too_large, redirect.

    ``status`` is the HTTP status when there was one; ``error_type`` Prometheus's ``errorType`` (``bad_data``,
    ``execution``, ``timeout``, ...) when it sent one. The message never holds a credential.
    """

    def __init__(
        self, message: str, *, kind: str, status: int | None = None, error_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.error_type = error_type


@dataclass(frozen=True)
class Sample:
    """One value of an instant query: the series labels, the value (NaN/±Inf possible) and its timestamp."""

    labels: dict[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: labels and ``(timestamp, value)`` points."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class QueryResult:
    """An instant query's answer: ``vector``/``scalar`` results in ``samples``, ``matrix`` results in ``series``."""

    result_type: str
    samples: tuple[Sample, ...] = ()
    series: tuple[Series, ...] = ()


@dataclass(frozen=True)
class Alert:
    """An active alert from ``/api/v1/alerts``: ``state`` is ``pending`` or ``firing``."""

    name: str
    state: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    active_at: str = ""
    value: float = math.nan

    @property
    def firing(self) -> bool:
        return self.state == "firing"


# ------------------------------------------------------------------------------------------- bounded transport


class _Watchdog:
    """Shuts a request's socket down at its deadline (the one bound that also covers slow headers)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def arm(self, sock: socket.socket) -> None:
        def fire() -> None:
            with self._lock:
                self.fired = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        self._timer = threading.Timer(max(self.remaining(), 0.0), fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _connection_class(base: type[http.client.HTTPConnection], watchdog: _Watchdog) -> Any:
    class Connection(base):  # type: ignore[valid-type, misc]
        def connect(self) -> None:
            super().connect()
            watchdog.arm(self.sock)

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection_class(http.client.HTTPConnection, self._watchdog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog, context: Any = None) -> None:
        super().__init__(context=context)
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _connection_class(http.client.HTTPSConnection, self._watchdog), req, context=self._context,  # type: ignore[attr-defined]
        )


def _opener(watchdog: _Watchdog, ssl_context: Any) -> urllib.request.OpenerDirector:
    """An opener without the redirect handler (and so without sending credentials to a redirect's target)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTPHandler(watchdog),
        _HTTPSHandler(watchdog, ssl_context),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _read_bounded(resp: Any, limit: int, watchdog: _Watchdog) -> bytes | None:
    """The body, or None when it is larger than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    read = getattr(resp, "read1", None) or resp.read
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if watchdog.remaining() <= 0:
            raise TimeoutError


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValueError("labels must be a mapping of strings")
    return dict(raw)


def _point(raw: Any) -> tuple[float, float]:
    if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[1], str):
        raise ValueError("a point must be [timestamp, \"value\"]")
    ts = raw[0]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise ValueError("a timestamp must be a number")
    return float(ts), float(raw[1])


class PrometheusClient:
    """Calls of one Prometheus server's HTTP API, each bounded in time and size (see the module docstring).

    ``url`` is the server's base URL (``http://127.0.0.1:9090``, or with a path prefix behind a proxy). Pass at most
    one of ``bearer_token`` and ``basic_auth`` (``(user, password)``); ``user:password@`` in the URL is basic auth.
    Bad arguments raise :class:`~lukhas_obs.errors.ConfigurationError` without showing a credential.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        ssl_context: Any = None,
    ) -> None:
        if not isinstance(url, str):
            raise ConfigurationError("prometheus_url", url, "an http:// or https:// URL string")
        try:
            parts = urllib.parse.urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ConfigurationError(
                "prometheus_url", url, "an http:// or https:// URL with a valid host and port"
            ) from None
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigurationError("prometheus_url", url, "an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ConfigurationError("prometheus_url", url, "a base URL without a query string or fragment")
        if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout <= 3600):
            raise ConfigurationError("timeout", timeout, "a number of seconds in (0, 3600]")
        if not (isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and 1024 <= max_bytes <= 1 << 30):
            raise ConfigurationError("max_bytes", max_bytes, "an integer from 1024 to 1073741824")
        if parts.username is not None or parts.password is not None:
            if basic_auth is not None or bearer_token is not None:
                raise ConfigurationError(
                    "prometheus_url", url, "credentials in one place: the URL's user:password@, basic_auth or "
                    "bearer_token"
                )  # fmt: skip
            basic_auth = (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))
        netloc = host if ":" not in host else f"[{host}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        self._base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._shown = redact_text(self._base)
        self.timeout = float(timeout)
        self.max_bytes = max_bytes
        self._ssl_context = ssl_context
        self._secrets: list[str] = []
        self._authorization: str | None = None
        if bearer_token is not None and basic_auth is not None:
            raise ConfigurationError("bearer_token", REDACTED, "either bearer_token or basic_auth, not both")
        if bearer_token is not None:
            if not isinstance(bearer_token, str) or not bearer_token or not set(bearer_token) <= _TOKEN_CHARS:
                raise ConfigurationError(
                    "bearer_token", bearer_token, "a non-empty token of printable ASCII without spaces", secret=True
                )
            self._authorization = f"Bearer {bearer_token}"
            self._secrets = [bearer_token]
        elif basic_auth is not None:
            user, password = basic_auth if isinstance(basic_auth, tuple) and len(basic_auth) == 2 else (None, None)
            if not isinstance(user, str) or not isinstance(password, str) or ":" in user or not user:
                raise ConfigurationError(
                    "basic_auth", basic_auth, "a (user, password) pair of strings, the user without ':'", secret=True
                )
            try:
                encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            except UnicodeEncodeError:
                raise ConfigurationError("basic_auth", basic_auth, "valid Unicode text", secret=True) from None
            self._authorization = f"Basic {encoded}"
            self._secrets = [s for s in (password, encoded) if len(s) >= 4]

    @property
    def url(self) -> str:
        """The base URL, without credentials."""
        return self._base

    def __repr__(self) -> str:
        auth = " auth=<redacted>" if self._authorization else ""
        return f"PrometheusClient({self._shown!r}{auth})"

    # --------------------------------------------------------------------------------------------------- calls

    def query(self, expr: str, at: float | None = None) -> QueryResult:
        """An instant query (``/api/v1/query``), evaluated at ``at`` (Unix seconds; default: now)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = repr(float(at))
        data = self._call("/api/v1/query", params, post=True)
        return self._query_result(data)

    def query_range(self, expr: str, start: float, end: float, step: float) -> tuple[Series, ...]:
        """A range query (``/api/v1/query_range``): one :class:`Series` per result series."""
        params = {"query": expr, "start": repr(float(start)), "end": repr(float(end)), "step": repr(float(step))}
        result = self._query_result(self._call("/api/v1/query_range", params, post=True))
        if result.result_type != "matrix":
            raise PrometheusError(
                f"Prometheus {self._shown}/api/v1/query_range: expected a matrix, got {result.result_type}",
                kind="shape",
            )
        return result.series

    def alerts(self) -> tuple[Alert, ...]:
        """Active alerts (``/api/v1/alerts``): pending and firing."""
        data = self._call("/api/v1/alerts")
        try:
            out = []
            for raw in data["alerts"]:
                labels = _labels(raw.get("labels", {}))
                value = raw.get("value")
                out.append(
                    Alert(
                        name=labels.get("alertname", ""),
                        state=str(raw.get("state", "")),
                        labels=labels,
                        annotations=_labels(raw.get("annotations", {})),
                        active_at=str(raw.get("activeAt", "")),
                        value=float(value) if isinstance(value, str) else math.nan,
                    )
                )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._shape("/api/v1/alerts", exc) from None
        return tuple(out)

    def rules(self, type: str | None = None) -> tuple[dict[str, Any], ...]:
        """Rule groups (``/api/v1/rules``), optionally only ``alert`` or ``record`` rules, as Prometheus sends them."""
        if type not in (None, "alert", "record"):
            raise ConfigurationError("type", type, "None, 'alert' or 'record'")
        data = self._call("/api/v1/rules", {"type": type} if type else None)
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise self._shape("/api/v1/rules", ValueError("groups must be a list of mappings"))
        return tuple(groups)

    # ----------------------------------------------------------------------------------------------- plumbing

    def _shape(self, path: str, exc: BaseException) -> PrometheusError:
        return PrometheusError(
            f"Prometheus {self._shown}{path}: unexpected answer ({type(exc).__name__}: {str(exc)[:120]})",
            kind="shape",
        )

    def _query_result(self, data: Any) -> QueryResult:
        try:
            kind = data["resultType"]
            result = data["result"]
            if kind in ("vector", "matrix") and not (
                isinstance(result, list) and all(isinstance(item, dict) for item in result)
            ):
                raise ValueError(f"a {kind} result must be a list of mappings")
            if kind == "vector":
                samples = []
                for item in result:
                    if "value" not in item:  # a native histogram sample: not a float series
                        continue
                    ts, value = _point(item["value"])
                    samples.append(Sample(_labels(item.get("metric", {})), value, ts))
                return QueryResult("vector", samples=tuple(samples))
            if kind == "scalar":
                ts, value = _point(result)
                return QueryResult("scalar", samples=(Sample({}, value, ts),))
            if kind == "matrix":
                series = []
                for item in result:
                    points = tuple(_point(p) for p in item.get("values", ()))
                    series.append(Series(_labels(item.get("metric", {})), points))
                return QueryResult("matrix", series=tuple(series))
            if kind == "string":
                return QueryResult("string")
            raise ValueError(f"unknown resultType {str(kind)[:40]!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._shape("/api/v1/query", exc) from None

    def _clean(self, text: str) -> str:
        """Server-provided text made safe to show: credentials echoed back removed, bounded, one line."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = "".join(c if c.isprintable() else " " for c in text[: _ERROR_TEXT * 2])
        text = redact_text(text)
        return text[:_ERROR_TEXT] + ("..." if len(text) > _ERROR_TEXT else "")

    def _api_error(self, path: str, body: bytes, status: int | None) -> PrometheusError:
        error_type = error = None
        try:
            doc = json.loads(body.decode("utf-8"))
            if isinstance(doc, dict):
                error_type = doc.get("errorType") if isinstance(doc.get("errorType"), str) else None
                error = doc.get("error") if isinstance(doc.get("error"), str) else None
        except Exception:  # not JSON: the status alone says it
            pass
        where = f"Prometheus {self._shown}{path}"
        if status is not None and status != 200:
            detail = f": {self._clean(error_type or '')}: {self._clean(error or '')}" if error or error_type else ""
            return PrometheusError(
                f"{where} answered HTTP {status}{detail}",
                kind="http",
                status=status,
                error_type=self._clean(error_type) if error_type else None,
            )
        return PrometheusError(
            f"{where} answered status error: {self._clean(error_type or '?')}: {self._clean(error or '')}",
            kind="api",
            status=status,
            error_type=self._clean(error_type) if error_type else None,
        )

    def _call(self, path: str, params: Mapping[str, str] | None = None, post: bool = False) -> Any:
        where = f"Prometheus {self._shown}{path}"
        encoded = urllib.parse.urlencode(params or {})
        url = self._base + path
        headers = {"Accept": "application/json", "User-Agent": "lukhas-obs-slotools"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        if post:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = urllib.request.Request(url, data=encoded.encode("ascii"), headers=headers, method="POST")
        else:
            request = urllib.request.Request(f"{url}?{encoded}" if encoded else url, headers=headers)
        watchdog = _Watchdog(time.monotonic() + self.timeout)
        try:
            body, status = self._send(request, watchdog, where, path)
        finally:
            watchdog.cancel()
        try:
            doc = json.loads(body.decode("utf-8"))
        except Exception:  # not UTF-8, not JSON, nested too deep
            raise PrometheusError(f"{where}: the answer is not JSON", kind="json", status=status) from None
        if not isinstance(doc, dict) or doc.get("status") not in ("success", "error"):
            raise PrometheusError(f"{where}: the answer is not a Prometheus API response", kind="json", status=status)
        if doc["status"] == "error":
            raise self._api_error(path, body, status)
        if "data" not in doc:
            raise PrometheusError(f"{where}: the answer has no data", kind="shape", status=status)
        return doc["data"]

    def _send(
        self, request: urllib.request.Request, watchdog: _Watchdog, where: str, path: str
    ) -> tuple[bytes, int]:
        opener = _opener(watchdog, self._ssl_context)
        try:
            with opener.open(request, timeout=max(min(self.timeout, watchdog.remaining()), 0.001)) as resp:
                status = int(resp.status)
                length = resp.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > self.max_bytes:
                    raise PrometheusError(
                        f"{where}: the answer is {int(length)} bytes, more than the {self.max_bytes} accepted",
                        kind="too_large",
                        status=status,
                    )
                body = _read_bounded(resp, self.max_bytes, watchdog)
                if body is None:
                    raise PrometheusError(
                        f"{where}: the answer is more than the {self.max_bytes} bytes accepted",
                        kind="too_large",
                        status=status,
                    )
                if watchdog.fired:
                    raise TimeoutError
                return body, status
        except PrometheusError:
            raise
        except urllib.error.HTTPError as exc:
            code = int(exc.code)
            if 300 <= code < 400:
                raise PrometheusError(
                    f"{where} answered HTTP {code} (a redirect, not followed: point the URL at Prometheus itself)",
                    kind="redirect",
                    status=code,
                ) from None
            try:
                body = exc.read(_ERROR_BODY_BYTES) if not watchdog.fired else b""
            except Exception:
                body = b""
            finally:
                exc.close()
            raise self._api_error(path, body, code) from None
        except Exception as exc:
            if watchdog.fired or isinstance(exc, (TimeoutError, socket.timeout)):
                raise PrometheusError(
                    f"{where}: no complete answer within {self.timeout:g}s", kind="timeout"
                ) from None
            reason = getattr(exc, "reason", exc)
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else type(reason).__name__
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise PrometheusError(f"{where}: no complete answer within {self.timeout:g}s", kind="timeout") from None
            raise PrometheusError(f"{where}: request failed ({self._clean(str(text))})", kind="connection") from None
