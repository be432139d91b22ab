"""``lukhas-obs serve --multiprocess-dir DIR``: a sidecar that serves one ``/metrics`` for pre-fork workers.

The workers run in multiprocess mode (``LUKHAS_MULTIPROCESS_DIR=DIR``, ``serve_metrics=False`` or no port of their
own); this process merges every worker's file at each scrape and serves the result on the built-in server, with
its authentication, TLS, ``/health`` and ``metrics_endpoints`` settings (the usual ``LUKHAS_*`` variables). It
must run in the workers' pid namespace (same container or ``shareProcessNamespace``): liveness is read from
``/proc``. See docs/MULTIPROCESS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["register_cli", "serve"]

_log = logging.getLogger("lukhas_obs")


def serve(
    multiprocess_dir: str,
    *,
    host: str | None = None,
    port: int | None = None,
    stop: threading.Event | None = None,
    ready: Callable[[str | None], None] | None = None,
) -> int:
    """Serve the merge of ``multiprocess_dir`` on ``host:port`` until ``stop`` is set (or SIGTERM/SIGINT).

    ``ready`` is called with the ``/metrics`` URL once serving. Returns the exit code: 0, or 2 when the
    configuration is refused (the message names the setting) or the port cannot be bound.
    """
    import lukhas_obs
    from lukhas_obs.errors import ConfigurationError

    event = stop if stop is not None else threading.Event()
    options: dict[str, Any] = {"multiprocess_dir": multiprocess_dir, "traces_exporter": "none"}
    options["metrics_exporter"] = "prometheus"
    if host is not None:
        options["prometheus_host"] = host
    if port is not None:
        options["prometheus_port"] = port
    try:
        telemetry = lukhas_obs.configure(**options)
    except ConfigurationError as exc:
        print(f"lukhas-obs serve: {exc}", file=sys.stderr)
        return 2
    try:
        url = telemetry.metrics_url
        if url is None:
            print("lukhas-obs serve: the /metrics server could not start (see the warning above)", file=sys.stderr)
            return 2
        print(f"lukhas-obs serve: {url} merges {multiprocess_dir}", flush=True)
        if ready is not None:
            ready(url)
        previous = _install_signals(event) if stop is None else {}
        try:
            while not event.wait(0.5):
                pass
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0
    finally:
        telemetry.shutdown(timeout=5)


def _install_signals(event: threading.Event) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, OSError):  # no signals here (not the main interpreter)
            previous[signum] = signal.signal(signum, lambda _s, _f: event.set())
    return previous


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an integer port from 0 to 65535") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("expected an integer port from 0 to 65535")
    return value


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs serve`` to the command line."""
    parser = sub.add_parser(
        "serve", help="serve one /metrics merging the files of multiprocess-mode workers (a sidecar)"
    )
    parser.add_argument(
        "--multiprocess-dir", required=True, help="the workers' LUKHAS_MULTIPROCESS_DIR (same pid namespace)"
    )
    parser.add_argument("--host", default=None, help="bind address (default LUKHAS_PROMETHEUS_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=None, help="port (default LUKHAS_PROMETHEUS_PORT or 9109)")
    parser.set_defaults(handler=lambda args: serve(args.multiprocess_dir, host=args.host, port=args.port))
