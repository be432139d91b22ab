"""``lukhas-obs view``: a local web page for the catalogs' dashboards and the trace file, without Grafana or Jaeger.

The page (static files in ``static/``, uPlot vendored for the time series, no build step, nothing fetched at run
time) renders every dashboard of every registered system — stat, gauge, bar gauge, pie chart, heatmap, table, text
and time series panels with the catalog's units and thresholds — from either

- the viewer's own bounded history of ``/metrics`` scrapes (or of the viewed process's exposition), evaluated by a
  small PromQL evaluator (:mod:`lukhas_obs.viewer.promql`) on the same PromQL the generated Grafana dashboards use;
- or a Prometheus/VictoriaMetrics URL, asked the same PromQL through ``/api/v1/query_range``.

Traces come from the OTLP/JSON-lines trace file (:mod:`lukhas_obs.viewer.traces`): a filterable list like
``lukhas-obs traces show``, a waterfall per trace with attributes, events, errors and log lines when the file has
them, and links from a histogram's exemplars to their traces. The server is the hardened ``/metrics`` server, with
the same TLS, credentials and loopback default; the page sets text with ``textContent`` only and runs under a
strict Content-Security-Policy. docs/VIEWER.md has the whole story.

Usage::

    lukhas-obs demo &                       # /metrics on 127.0.0.1:9109, traces to ./lukhas-traces.jsonl
    lukhas-obs view                         # http://127.0.0.1:9191/ scrapes http://127.0.0.1:9109/metrics
    lukhas-obs view --prometheus http://127.0.0.1:9090

    viewer = lukhas_obs.viewer.start_viewer(port=0)   # inside an application: its own live data
    print(viewer.url)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any, TextIO

from lukhas_obs.viewer.server import DEFAULT_PORT, Viewer, ViewerOptions, build_viewer, start_viewer

__all__ = ["DEFAULT_PORT", "Viewer", "ViewerOptions", "build_viewer", "register_cli", "start_viewer", "view_command"]


def _default_scrape_url(settings: Any) -> str:
    scheme = "https" if settings.metrics_tls_cert else "http"
    host = settings.prometheus_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{settings.prometheus_port}{settings.metrics_path}"


def options_from_args(args: argparse.Namespace) -> ViewerOptions:
    """The :class:`ViewerOptions` of parsed ``lukhas-obs view`` arguments (settings from the environment)."""
    import lukhas_obs

    settings = lukhas_obs.resolve_settings()
    scrape_url = args.url
    if not scrape_url and not args.prometheus:
        scrape_url = _default_scrape_url(settings)
    return ViewerOptions(
        host=args.host,
        port=args.port,
        scrape_url=scrape_url,
        prometheus_url=args.prometheus,
        interval=args.interval,
        history=args.history,
        max_series=args.max_series,
        traces_files=args.traces_file,
        systems=tuple(args.system or ()),
        catalog_files=tuple(args.catalog_file or ()),
        settings=settings,
    )


def view_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``lukhas-obs view``: serve until Ctrl-C/SIGTERM (or ``--duration`` seconds); 2 when the port is taken."""
    out = out or sys.stderr
    viewer = build_viewer(options_from_args(args))
    try:
        viewer.start()
    except OSError as exc:
        print(f"lukhas-obs view: error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc})", file=out)
        return 2
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = viewer.source.status()
    print(f"lukhas-obs view: {viewer.url}", file=out)
    print(f"  metrics: {status.get('from', status.get('source'))} ({viewer.source.kind})", file=out)
    traces = viewer.app.traces
    print(f"  traces:  {', '.join(traces.paths) if traces is not None else 'none'}", file=out)
    print(f"  dashboards: {', '.join(b.uid for b in viewer.app.boards) or 'none'}", file=out, flush=True)
    for problem in viewer.app.problems:
        print(f"  warning: {problem}", file=out)
    started = time.monotonic()
    try:
        while not stop.is_set():
            if args.duration and time.monotonic() - started >= args.duration:
                break
            stop.wait(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        viewer.stop()
    return 0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number > 0")
    return value


def _duration(text: str) -> float:
    from lukhas_obs.viewer.promql import ParseError, parse_duration

    try:
        return float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
    except (ParseError, ValueError):
        raise argparse.ArgumentTypeError("must be seconds or a duration such as 30m, 1h, 6h") from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be from 0 to 65535 (0 picks a free one)")
    return value


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs view`` to the command line."""
    view = sub.add_parser(
        "view", help="local web page: the catalogs' dashboards (live, or from Prometheus) and the trace file"
    )
    source = view.add_mutually_exclusive_group()
    source.add_argument(
        "--url", metavar="URL", help="scrape this /metrics URL into a bounded in-memory history (default: the "
        "/metrics of the settings, http://127.0.0.1:9109/metrics)",
    )  # fmt: skip
    source.add_argument(
        "--prometheus", metavar="URL", help="query this Prometheus/VictoriaMetrics base URL instead (query_range)"
    )
    view.add_argument("--traces-file", action="append", metavar="FILE|DIR",
                      help="OTLP/JSON-lines trace file(s) (repeatable; default ./lukhas-traces.jsonl)")  # fmt: skip
    view.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    view.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: free)")
    view.add_argument("--interval", type=_positive, default=5.0, metavar="S", help="seconds between scrapes (5)")
    view.add_argument("--history", type=_duration, default=3600.0, metavar="DURATION",
                      help="how much history to keep in memory (1h)")  # fmt: skip
    view.add_argument("--max-series", type=int, default=5000, metavar="N", help="series kept at most (5000)")
    view.add_argument("--system", action="append", metavar="NAME", help="only this system's dashboards (repeatable)")
    view.add_argument("--catalog-file", action="append", metavar="YAML", help="also this catalog's dashboards")
    view.add_argument("--duration", type=_positive, default=None, metavar="S", help="stop after S seconds")
    view.set_defaults(handler=view_command)
