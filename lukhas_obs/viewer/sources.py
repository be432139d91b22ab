"""Where the viewer's panel data comes from: its own history (sampled in-process or scraped) or a Prometheus URL.

- :class:`Sampler` fills a :class:`~lukhas_obs.viewer.history.History` every ``interval`` seconds on a daemon
  thread, from :func:`lukhas_obs.render_exposition` (the viewed process itself, OpenMetrics so exemplars come along)
  or from a ``/metrics`` URL (:func:`fetch_exposition`: bounded in time and bytes, redirects not followed,
  credentials only in the ``Authorization`` header). A failed sample is noted and retried at the next tick; it never
  raises into the host.
- :class:`HistorySource` answers range queries by evaluating the panel's PromQL on that history
  (:mod:`lukhas_obs.viewer.promql`); what the small evaluator cannot do is reported as "needs Prometheus".
- :class:`PrometheusSource` sends the same PromQL to ``/api/v1/query_range`` of Prometheus or VictoriaMetrics
  through :class:`lukhas_obs.slotools.promapi.PrometheusClient`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import math
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lukhas_obs.errors import ConfigurationError, redact_text
from lukhas_obs.viewer import promql
from lukhas_obs.viewer.history import Exemplar, History, parse_exposition

__all__ = [
    "HistorySource",
    "PrometheusSource",
    "QueryAnswer",
    "Sampler",
    "Source",
    "fetch_exposition",
    "in_process_exposition",
    "url_exposition",
]

_log = logging.getLogger("lukhas_obs")
#: Accept header of a scrape: OpenMetrics first (exemplars), the text format otherwise.
SCRAPE_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
DEFAULT_SCRAPE_TIMEOUT = 10.0
DEFAULT_SCRAPE_MAX_BYTES = 32 * 1024 * 1024
#: Most series one query may return to the page, points per series.
MAX_RESULT_SERIES = 500
_METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class QueryAnswer:
    """Series of one query (``(labels, ((t, v), ...))``) or why there are none (``error``)."""

    series: tuple[tuple[dict[str, str], tuple[tuple[float, float], ...]], ...] = ()
    error: str | None = None
    truncated: bool = False


class Source:
    """The panel data interface of the viewer's app."""

    kind = "none"

    def query_range(self, expr: str, start: float, end: float, step: float) -> QueryAnswer:  # pragma: no cover
        raise NotImplementedError

    def label_values(self, metric: str, label: str) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def exemplars(self, families: Sequence[str], start: float, end: float) -> list[Exemplar]:
        return []

    def support_problem(self, expr: str) -> str | None:
        """Why ``expr`` cannot be shown from this source (None: it can)."""
        return None

    def status(self) -> dict[str, object]:
        return {"source": self.kind}


def _steps(start: float, end: float, step: float) -> list[float]:
    count = int((end - start) // step) + 1
    return [start + i * step for i in range(max(1, min(count, 11_000)))]


def _bounded(series: Sequence[tuple[dict[str, str], tuple[tuple[float, float], ...]]]) -> QueryAnswer:
    kept = tuple(series[:MAX_RESULT_SERIES])
    return QueryAnswer(kept, truncated=len(series) > MAX_RESULT_SERIES)


class HistorySource(Source):
    """Panels evaluated on the viewer's own bounded history (no Prometheus needed)."""

    kind = "history"

    def __init__(self, history: History, describe: str) -> None:
        self.history = history
        self.describe = describe

    def support_problem(self, expr: str) -> str | None:
        return promql.support_problem(expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> QueryAnswer:
        try:
            result = promql.evaluate(expr, self.history.snapshot(), _steps(start, end, step))
        except promql.Unsupported as exc:
            return QueryAnswer(error=str(exc))
        except promql.ParseError as exc:
            return QueryAnswer(error=f"cannot evaluate: {exc}")
        return _bounded(result.series)

    def label_values(self, metric: str, label: str) -> list[str]:
        return self.history.label_values(metric, label)

    def exemplars(self, families: Sequence[str], start: float, end: float) -> list[Exemplar]:
        return self.history.exemplars(families, start, end)

    def status(self) -> dict[str, object]:
        return {"source": self.kind, "from": self.describe, **self.history.stats()}


class PrometheusSource(Source):
    """Panels from a Prometheus or VictoriaMetrics server's ``/api/v1/query_range`` (the Grafana dashboards' data)."""

    kind = "prometheus"

    def __init__(self, client: object) -> None:
        from lukhas_obs.slotools.promapi import PrometheusClient

        if not isinstance(client, PrometheusClient):
            raise TypeError("client must be a lukhas_obs.slotools.promapi.PrometheusClient")
        self.client = client
        self._last_error: str | None = None

    def query_range(self, expr: str, start: float, end: float, step: float) -> QueryAnswer:
        from lukhas_obs.slotools.promapi import PrometheusError

        try:
            series = self.client.query_range(expr, start, end, step)
        except PrometheusError as exc:
            self._last_error = str(exc)
            return QueryAnswer(error=str(exc))
        self._last_error = None
        return _bounded([(dict(s.labels), tuple(s.points)) for s in series])

    def label_values(self, metric: str, label: str) -> list[str]:
        from lukhas_obs.slotools.promapi import PrometheusError

        if not _METRIC_RE.fullmatch(metric) or not _LABEL_RE.fullmatch(label):
            return []
        try:
            result = self.client.query(f"count by ({label}) ({metric})")
        except PrometheusError as exc:
            self._last_error = str(exc)
            return []
        return sorted({s.labels.get(label, "") for s in result.samples} - {""})

    def status(self) -> dict[str, object]:
        return {"source": self.kind, "from": self.client.url, "last_error": self._last_error}


# ------------------------------------------------------------------------------------------------------ sampling


def in_process_exposition() -> bytes:
    """This process's own exposition (OpenMetrics, with exemplars); never raises (empty when not configured)."""
    import lukhas_obs

    body, _ = lukhas_obs.render_exposition("application/openmetrics-text")
    return body


class _Target:
    """A validated scrape URL: host, port, path, TLS, and the ``Authorization`` value (never shown)."""

    def __init__(self, url: str, bearer_token: str | None, basic_auth: tuple[str, str] | None) -> None:
        if not isinstance(url, str):
            raise ConfigurationError("url", url, "an http:// or https:// URL of a /metrics endpoint")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigurationError("url", url, "an http:// or https:// URL with a valid host and port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("url", url, "an http:// or https:// URL of a /metrics endpoint")
        if parts.fragment:
            raise ConfigurationError("url", url, "a URL without a fragment")
        if parts.username is not None or parts.password is not None:
            if bearer_token or basic_auth:
                raise ConfigurationError("url", url, "credentials in one place: the URL or the settings")
            basic_auth = (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.shown = redact_text(f"{parts.scheme}://{host}:{self.port}{parts.path or '/'}")
        self.authorization: str | None = None
        if bearer_token:
            self.authorization = f"Bearer {bearer_token}"
        elif basic_auth:
            self.authorization = "Basic " + base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        for value in (self.authorization or "",):
            if any(c in value for c in "\r\n\x00"):
                raise ConfigurationError("url", "<redacted>", "credentials that fit in an HTTP header", secret=True)


def fetch_exposition(
    target: _Target, timeout: float = DEFAULT_SCRAPE_TIMEOUT, max_bytes: int = DEFAULT_SCRAPE_MAX_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """GET the target once: the whole exchange within ``timeout`` (a watchdog cuts the socket), at most
    ``max_bytes``, no redirect followed. Raises OSError with a short reason (never a credential)."""
    deadline = time.monotonic() + timeout
    if target.tls:
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl_context or ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    timer: threading.Timer | None = None
    fired = threading.Event()
    try:
        connection.connect()
        sock = connection.sock

        def cut() -> None:
            fired.set()
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(max(0.001, deadline - time.monotonic()), cut)
        timer.daemon = True
        timer.start()
        headers = {"Accept": SCRAPE_ACCEPT, "User-Agent": "lukhas-obs-view", "Accept-Encoding": "identity"}
        if target.authorization:
            headers["Authorization"] = target.authorization
        connection.request("GET", target.path, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise OSError(f"{target.shown} answered HTTP {response.status}")
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise OSError(f"{target.shown} answered {int(length)} bytes, more than the {max_bytes} accepted")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise OSError(f"{target.shown} answered more than the {max_bytes} bytes accepted")
            chunks.append(chunk)
        if fired.is_set():
            raise TimeoutError
        return b"".join(chunks)
    except OSError as exc:
        if fired.is_set() or isinstance(exc, TimeoutError):
            raise OSError(f"{target.shown}: no complete answer within {timeout:g}s") from None
        if str(exc).startswith(target.shown):
            raise
        raise OSError(f"{target.shown}: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    except (http.client.HTTPException, ValueError) as exc:
        raise OSError(f"{target.shown}: bad HTTP answer ({type(exc).__name__})") from None
    finally:
        if timer is not None:
            timer.cancel()
        connection.close()


def url_exposition(
    url: str, *, bearer_token: str | None = None, basic_auth: tuple[str, str] | None = None,
    timeout: float = DEFAULT_SCRAPE_TIMEOUT, max_bytes: int = DEFAULT_SCRAPE_MAX_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[Callable[[], bytes], str]:
    """A scrape function for ``url`` and the URL as shown (credentials removed). Bad URLs fail here, early."""
    target = _Target(url, bearer_token, basic_auth)
    return (lambda: fetch_exposition(target, timeout, max_bytes, ssl_context)), target.shown


class Sampler:
    """Calls ``scrape`` every ``interval`` seconds on a daemon thread and writes each answer into ``history``."""

    def __init__(self, history: History, scrape: Callable[[], bytes], interval: float) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0.05 <= interval <= 3600:
            raise ConfigurationError("interval", interval, "a number of seconds from 0.05 to 3600")
        self.history = history
        self.scrape = scrape
        self.interval = float(interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def sample_once(self) -> bool:
        """One scrape into the history; False (noted on the page, warned once) when it failed. Never raises."""
        try:
            body = self.scrape()
            scrape = parse_exposition(body)
            self.history.add(scrape, time.time())
            return True
        except Exception as exc:
            reason = str(exc) if isinstance(exc, OSError) else type(exc).__name__
            self.history.failed(reason)
            if not self._warned:
                self._warned = True
                _log.warning("lukhas_obs: the viewer could not sample metrics (%s); retrying every %gs",
                             reason, self.interval)  # fmt: skip
            return False

    def start(self) -> None:
        """Sample now, then every ``interval`` seconds until :meth:`stop`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="lukhas-obs-viewer-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (a slow scrape): skip the missed ticks instead of bursting
                next_at = time.monotonic()
                delay = 0.0
            if self._stop.wait(delay if delay > 0 else self.interval):
                break

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop sampling; True when the thread ended within ``timeout``."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True


def choose_step(start: float, end: float, interval: float, points: int = 240) -> float:
    """A query step that gives about ``points`` points over the range and is never finer than the sampling."""
    span = max(end - start, 1.0)
    step = max(interval, span / points)
    return float(math.ceil(step))
