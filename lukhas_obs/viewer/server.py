"""Build, start and stop a viewer: its data source, its trace store and the hardened HTTP server it runs on.

One :class:`Viewer` serves the page on ``host:port`` with :class:`~lukhas_obs.exporters.http_server.
HardenedHTTPServer` (the ``/metrics`` server: per-phase deadlines, bounded connections, bounded stop), TLS and
credentials from the same settings as ``/metrics`` (``metrics_tls_cert``/``metrics_tls_key``,
``metrics_bearer_token``/``metrics_basic_auth``, i.e. ``LUKHAS_METRICS_*``), and 127.0.0.1 unless told otherwise.

Data, one of:

- ``prometheus_url``: a Prometheus/VictoriaMetrics base URL, queried with the dashboards' PromQL;
- ``scrape_url``: a ``/metrics`` URL sampled every ``interval`` seconds into a bounded history (the credentials of
  the settings are sent to it, as a scraper of this machine's ``/metrics`` would);
- neither: the viewed process itself, sampled through :func:`lukhas_obs.render_exposition` (``start_viewer()`` in
  an application, ``lukhas-obs demo --view``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lukhas_obs.errors import ConfigurationError
from lukhas_obs.viewer.app import ViewerApp
from lukhas_obs.viewer.boards import collect_boards
from lukhas_obs.viewer.history import DEFAULT_MAX_SERIES, History
from lukhas_obs.viewer.sources import (
    HistorySource,
    PrometheusSource,
    Sampler,
    Source,
    in_process_exposition,
    url_exposition,
)
from lukhas_obs.viewer.traces import TraceStore

__all__ = ["DEFAULT_PORT", "Viewer", "ViewerOptions", "build_viewer", "start_viewer"]

_log = logging.getLogger("lukhas_obs")
#: ``lukhas-obs view`` listens here unless ``--port`` says otherwise (``/metrics`` is on 9109).
DEFAULT_PORT = 9191
DEFAULT_INTERVAL_S = 5.0
DEFAULT_HISTORY_S = 3600.0
#: Most slots of the history ring, whatever ``history / interval`` says.
MAX_SLOTS = 20_000


@dataclass
class ViewerOptions:
    """What a viewer shows and where; see the module docstring. ``settings`` None: resolved from the environment."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    scrape_url: str | None = None
    prometheus_url: str | None = None
    interval: float = DEFAULT_INTERVAL_S
    history: float = DEFAULT_HISTORY_S
    max_series: int = DEFAULT_MAX_SERIES
    traces_files: Sequence[str | os.PathLike[str]] | None = None
    systems: Sequence[str] = ()
    catalog_files: Sequence[str | os.PathLike[str]] = ()
    settings: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(name, value, f"a number from {low:g} to {high:g}")
    if not low <= value <= high:
        raise ConfigurationError(name, value, f"a number from {low:g} to {high:g}")
    return float(value)


def _settings(options: ViewerOptions) -> Any:
    if options.settings is not None:
        return options.settings
    import lukhas_obs

    telemetry = lukhas_obs.active()
    if telemetry is not None:
        return telemetry.settings
    return lukhas_obs.resolve_settings()


class Viewer:
    """A built viewer: :meth:`start` binds and serves, :meth:`stop` stops the server and the sampler."""

    def __init__(self, app: ViewerApp, options: ViewerOptions, tls: Any, sampler: Sampler | None) -> None:
        self.app = app
        self.options = options
        self.tls = tls
        self.sampler = sampler
        self._server: Any = None

    @property
    def source(self) -> Source:
        return self.app.source

    @property
    def url(self) -> str:
        """The page's URL (``http://127.0.0.1:9191/``); valid after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("the viewer is not started")
        host = self._server.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls is not None else 'http'}://{host}:{self._server.port}/"

    @property
    def port(self) -> int:
        return int(self._server.port) if self._server is not None else 0

    def start(self) -> Viewer:
        """Bind (OSError when the address is taken), start sampling and serving; returns self."""
        from lukhas_obs.exporters.http_server import HardenedHTTPServer

        if self._server is not None:
            return self
        server = HardenedHTTPServer(
            self.options.host, self.options.port, self.app, self.tls, send_timeout=15.0, max_connections=32,
            max_body=1024,
        )  # fmt: skip
        server.start()
        self._server = server
        if self.sampler is not None:
            self.sampler.start()
        return self

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop the sampler and the server, joining their threads; True when everything ended within ``timeout``."""
        done = True
        if self.sampler is not None:
            done = self.sampler.stop(timeout / 2) and done
        if self._server is not None:
            done = self._server.stop(timeout / 2) and done
        return done

    def __enter__(self) -> Viewer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def build_viewer(options: ViewerOptions) -> Viewer:
    """Validate ``options`` and build the viewer (not started). Bad values raise ConfigurationError or ValueError
    naming the option; a credential is never shown."""
    from lukhas_obs.exporters.prometheus import MetricsServer, authorizer

    interval = _number("interval", options.interval, 0.05, 3600.0)
    history_s = _number("history", options.history, interval * 2, 30 * 86400.0)
    if not isinstance(options.port, int) or isinstance(options.port, bool) or not 0 <= options.port <= 65535:
        raise ConfigurationError("port", options.port, "a TCP port from 0 to 65535 (0 picks a free one)")
    if not isinstance(options.host, str) or not options.host:
        raise ConfigurationError("host", options.host, "an address to listen on, such as 127.0.0.1")
    if options.scrape_url and options.prometheus_url:
        raise ConfigurationError("prometheus_url", options.prometheus_url, "either a /metrics URL or a Prometheus URL")
    settings = _settings(options)
    tls = None
    if settings.metrics_tls_cert and settings.metrics_tls_key:
        tls = MetricsServer.tls_context(settings.metrics_tls_cert, settings.metrics_tls_key)
    auth = authorizer(settings.metrics_bearer_token, settings.metrics_basic_auth)

    sampler: Sampler | None = None
    source: Source
    if options.prometheus_url:
        from lukhas_obs.slotools.promapi import PrometheusClient

        source = PrometheusSource(PrometheusClient(options.prometheus_url))
    else:
        slots = max(2, min(MAX_SLOTS, math.ceil(history_s / interval)))
        history = History(capacity=slots, max_series=options.max_series)
        if options.scrape_url:
            scrape, shown = url_exposition(
                options.scrape_url, bearer_token=settings.metrics_bearer_token, basic_auth=settings.metrics_basic_auth
            )
        else:
            scrape, shown = in_process_exposition, "this process"
        source = HistorySource(history, shown)
        sampler = Sampler(history, scrape, interval)

    files = options.traces_files
    if files is None:  # the file lukhas-obs writes by default (or LUKHAS_TRACES_FILE / the active configuration's)
        files = [settings.traces_file]
    store = TraceStore(list(files)) if files else None
    collected = collect_boards(list(options.systems) or None, list(options.catalog_files))
    app = ViewerApp(
        collected.boards, source, store, auth=auth, bind_host=options.host, interval=interval,
        problems=collected.problems,
    )  # fmt: skip
    return Viewer(app, options, tls, sampler)


def start_viewer(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    interval: float = DEFAULT_INTERVAL_S,
    history: float = DEFAULT_HISTORY_S,
    traces_files: Sequence[str | os.PathLike[str]] | None = None,
    scrape_url: str | None = None,
    prometheus_url: str | None = None,
    systems: Sequence[str] = (),
    catalog_files: Sequence[str | os.PathLike[str]] = (),
) -> Viewer | None:
    """Serve the viewer from this process (its own metrics, sampled every ``interval`` s; its trace file).

    Bad arguments raise ConfigurationError at once; an address already in use only warns and returns None, like
    the ``/metrics`` server, so the application goes on. Stop it with :meth:`Viewer.stop`.
    """
    viewer = build_viewer(
        ViewerOptions(
            host=host, port=port, interval=interval, history=history, traces_files=traces_files,
            scrape_url=scrape_url, prometheus_url=prometheus_url, systems=systems, catalog_files=catalog_files,
        )
    )  # fmt: skip
    try:
        return viewer.start()
    except OSError as exc:
        _log.warning("lukhas_obs: cannot serve the viewer on %s:%s (%s)", host, port, exc.strerror or exc)
        return None
