"""The viewer's WSGI app and its server: static page, JSON API, the same auth and TLS as ``/metrics``.

Routes (``GET``/``HEAD`` only; anything else is ``405``):

- ``/`` the page, ``/static/...`` its files (a fixed list read from the package at start: no path is ever joined
  from a request);
- ``/api/dashboards`` every dashboard's layout, ``/api/data?uid=&range=&end=&var-NAME=`` one dashboard's series
  (only the catalog's own queries are run: the page cannot send PromQL, so a credential of the Prometheus URL
  never serves someone else's query), ``/api/traces?trace_id=&name=&min_duration=&errors_only=&limit=`` the
  recent traces, ``/api/trace?id=`` one trace's waterfall, ``/api/status``;
- ``/health`` (open, like the metrics server's).

Every response carries ``Content-Security-Policy: default-src 'none'; script-src 'self'; ...`` (no inline script
can run even if something slipped through), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY`` and ``Cache-Control: no-store``. Everything but ``/health`` is behind the configured
``metrics_bearer_token``/``metrics_basic_auth`` (a browser asks for basic-auth credentials itself). When the server
listens on a loopback address, requests whose ``Host`` is not a loopback name are refused (``421``): a web page the
user visits cannot reach the viewer through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from lukhas_obs.tracefile.model import Selection
from lukhas_obs.viewer.boards import Board, board_data, board_meta, find_board
from lukhas_obs.viewer.sources import HistorySource, Source, choose_step
from lukhas_obs.viewer.traces import TraceStore, trace_detail, trace_summary

__all__ = ["CONTENT_SECURITY_POLICY", "ViewerApp", "static_files"]

_log = logging.getLogger("lukhas_obs")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
_HEX_RE = re.compile(r"^[0-9a-f]{1,32}$")
_MAX_QUERY = 4096
_MAX_FIELDS = 64
_MAX_VALUE = 512
#: Longest time range a page may ask for (seconds) and the default.
MAX_RANGE_S = 7 * 86400.0
DEFAULT_RANGE_S = 900.0
MAX_TRACE_LIST = 500
DEFAULT_TRACE_LIST = 50


def static_files() -> dict[str, tuple[bytes, str]]:
    """URL path → (content, type) for every file under the package's ``static/`` folder, read once."""
    out: dict[str, tuple[bytes, str]] = {}
    root = resources.files("lukhas_obs.viewer") / "static"

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = child.name
            if name.startswith("."):
                continue
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
                continue
            suffix = name[name.rfind(".") :] if "." in name else ""
            kind = _TYPES.get(suffix, "text/plain; charset=utf-8" if name.isupper() else "application/octet-stream")
            out[f"/static/{prefix}{name}"] = (child.read_bytes(), kind)

    walk(root, "")
    return out


def _loopback(host: str) -> bool:
    if host.startswith("["):
        host = host[1:-1] if host.endswith("]") else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _host_name(header: str) -> str:
    """The host part of a ``Host`` header ('' when malformed): ``[::1]:9191`` → ``[::1]``, ``a:1`` → ``a``."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1 :] if end > 0 else None
        return header[: end + 1] if rest is not None and (not rest or rest[0] == ":") else ""
    if header.count(":") > 1:
        return ""  # an unbracketed IPv6 address is not a valid Host
    return header.split(":", 1)[0]


class ViewerApp:
    """The WSGI app of ``lukhas-obs view`` (see the module docstring for its routes and headers)."""

    def __init__(
        self,
        boards: list[Board],
        source: Source,
        traces: TraceStore | None,
        *,
        auth: Callable[[dict[str, Any]], bool] | None = None,
        bind_host: str = "127.0.0.1",
        interval: float = 5.0,
        problems: Iterable[str] = (),
        static: dict[str, tuple[bytes, str]] | None = None,
    ) -> None:
        self.boards = boards
        self.source = source
        self.traces = traces
        self.auth = auth
        self.interval = interval
        self.problems = list(problems)
        self.loopback_only = _loopback(bind_host)
        self.static = static if static is not None else static_files()
        self._meta: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------------------------------------ plumbing

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            status, headers, body = self._route(environ)
        except Exception as exc:  # a bug must not leak a traceback (nor data) to the client
            _log.warning("lukhas_obs: the viewer failed on a request (%s)", type(exc).__name__)
            status, headers, body = "500 Internal Server Error", [("Content-Type", _TYPES[".txt"])], b"error\n"
        start_response(status, [*headers, *_SECURITY_HEADERS])
        return [body]

    def _route(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        path = path if type(path) is str else ""
        if self.loopback_only:
            host = environ.get("HTTP_HOST", "")
            if not isinstance(host, str) or not host or not _loopback(_host_name(host)):
                return _text("421 Misdirected Request", "this viewer answers to loopback host names only\n")
        if method not in ("GET", "HEAD"):
            return ("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", _TYPES[".txt"])],
                    b"method not allowed\n")  # fmt: skip
        if path == "/health":
            return _text("200 OK", "ok\n")
        if self.auth is not None and not self.auth(environ):
            status, headers, body = _text("401 Unauthorized", "unauthorized\n")
            return status, [*headers, ("WWW-Authenticate", 'Basic realm="lukhas-obs"')], body
        if path in ("/", "/index.html"):
            body, kind = self.static["/static/index.html"]
            return "200 OK", [("Content-Type", kind)], body
        if path in self.static:
            body, kind = self.static[path]
            return "200 OK", [("Content-Type", kind)], body
        query = _query(environ.get("QUERY_STRING", ""))
        if path == "/api/dashboards":
            return _json(self._dashboards())
        if path == "/api/data":
            return self._data(query)
        if path == "/api/traces":
            return self._trace_list(query)
        if path == "/api/trace":
            return self._trace(query)
        if path == "/api/status":
            return _json(self._status())
        return _text("404 Not Found", "not found\n")

    # ------------------------------------------------------------------------------------------------- answers

    def _status(self) -> dict[str, Any]:
        return {
            "metrics": self.source.status(),
            "traces": self.traces.stats() if self.traces is not None else None,
            "interval": self.interval,
            "now": time.time(),
            "problems": self.problems,
        }

    def _dashboards(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = [board_meta(b, self.source) for b in self.boards]
        return {"dashboards": self._meta, **self._status()}

    def _data(self, query: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
        board = find_board(self.boards, query.get("uid", ""))
        if board is None:
            return _json({"error": "no such dashboard"}, "404 Not Found")
        now = time.time()
        span = _number(query.get("range"), DEFAULT_RANGE_S, 10.0, MAX_RANGE_S)
        end = _number(query.get("end"), now, 0.0, now + 86400.0)
        start = end - span
        if isinstance(self.source, HistorySource):  # no data before the history starts: do not draw emptiness
            times = self.source.history.times
            if times:
                start = max(start, math.floor(times[0]))
        step = choose_step(start, end, self.interval)
        requested = {k[4:]: v for k, v in query.items() if k.startswith("var-")}
        if self.traces is not None:
            self.traces.refresh(wait=False)  # an exemplar's trace written since the last look is found
        has = self.traces.has if self.traces is not None else (lambda _tid: False)
        return _json(board_data(board, self.source, start, end, step, requested, has))

    def _selection(self, query: dict[str, str]) -> Selection:
        trace_id = query.get("trace_id", "").strip().lower()
        name = query.get("name", "").strip() or None
        min_duration = query.get("min_duration", "").strip()
        return Selection(
            trace_ids=(trace_id,) if trace_id and _HEX_RE.match(trace_id) else (),
            name=name,
            min_duration_ms=_number(min_duration, None, 0.0, 1e12) if min_duration else None,
            errors_only=query.get("errors_only", "") in ("1", "true", "on"),
            limit=int(_number(query.get("limit"), DEFAULT_TRACE_LIST, 1, MAX_TRACE_LIST)),
        )

    def _trace_list(self, query: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
        if self.traces is None:
            return _json({"traces": [], "total": 0, "error": "no trace file configured"})
        selection = self._selection(query)
        if query.get("trace_id") and not selection.trace_ids:
            return _json({"traces": [], "total": 0, "error": "a trace id is hexadecimal"})
        found, total = self.traces.traces(selection)
        return _json(
            {"traces": [trace_summary(t) for t in reversed(found)], "total": total,
             "store": self.traces.stats()}
        )  # fmt: skip

    def _trace(self, query: dict[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
        trace_id = query.get("id", "").strip().lower()
        if self.traces is None or len(trace_id) != 32 or not _HEX_RE.match(trace_id):
            return _json({"error": "no such trace"}, "404 Not Found")
        found = self.traces.trace(trace_id)
        if found is None:
            return _json({"error": "no such trace"}, "404 Not Found")
        return _json(trace_detail(found))


def _number(text: str | None, default: Any, low: float, high: float) -> Any:
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        return default
    if not math.isfinite(value):
        return default
    return min(max(value, low), high)


def _query(raw: object) -> dict[str, str]:
    if not isinstance(raw, str) or len(raw) > _MAX_QUERY:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        return {}
    return {k[:_MAX_VALUE]: v[:_MAX_VALUE] for k, v in pairs}


def _text(status: str, text: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", _TYPES[".txt"])], text.encode("utf-8")


def _json(doc: Any, status: str = "200 OK") -> tuple[str, list[tuple[str, str]], bytes]:
    """JSON with every non-ASCII character escaped and ``<``, ``>``, ``&`` as ``\\u003c``...: inert in any context."""
    try:
        text = json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:  # a non-finite float somewhere: send it as JSON can carry it
        text = json.dumps(_finite(doc), ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return status, [("Content-Type", "application/json; charset=utf-8")], text.encode("ascii")


def _finite(doc: Any) -> Any:
    if isinstance(doc, float) and not math.isfinite(doc):
        return "NaN" if doc != doc else ("+Inf" if doc > 0 else "-Inf")
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_finite(v) for v in doc]
    return doc
