"""Luna's Prometheus exporter (seed 000's ``prometheus_exporter.py``): a Flask app with ``/metrics`` and ``/health``.

The seed's exporter calls ``collect_all_metrics()`` in its ``/metrics`` route, then ``generate_latest()``. Here the
route only renders (:func:`lukhas_obs.render_exposition`): ``collect_all_metrics`` is a ``before_collect`` hook and
runs at the start of every collection, this scrape's included, and also before every OTLP export. ``/health``
answers the seed's body.

Run it (Flask is the ``luna`` extra; the seed's stack publishes port 8000)::

    python -m lukhas_obs_examples.luna --port 8000              # add --host 0.0.0.0 inside a container

A background thread drives the example core (:class:`~lukhas_obs_examples.luna.workload.LunaWorkload`) so the
series move; ``--no-workload`` serves the core's state without changing it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import lukhas_obs

HEALTH_BODY: dict[str, str] = {"status": "healthy", "service": "Luna Consciousness MCP"}
DEFAULT_PORT = 8000

logger = logging.getLogger(__name__)


def create_app() -> Any:
    """The Flask app: ``GET /metrics`` (Prometheus text 0.0.4, or OpenMetrics when the scraper asks) and
    ``GET /health``. lukhas-obs must be configured (without its own server: ``serve_metrics=False``)."""
    from flask import Flask, Response, request

    app = Flask("luna_prometheus_exporter")

    @app.route("/metrics")
    def metrics() -> Response:
        """Endpoint Prometheus — collect_all_metrics runs as a before_collect hook inside the render."""
        body, content_type = lukhas_obs.render_exposition(request.headers.get("Accept"))
        return Response(body, content_type=content_type)

    @app.route("/health")
    def health() -> tuple[dict[str, str], int]:
        """Health check endpoint (the seed's body)."""
        return dict(HEALTH_BODY), 200

    return app


class BackgroundWorkload:
    """Run :class:`LunaWorkload` steps on a daemon thread every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, interval: float = 0.5, seed: int | None = None) -> None:
        from lukhas_obs_examples.luna.workload import LunaWorkload

        self.workload = LunaWorkload(seed=seed, spend=time.sleep)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="luna-workload", daemon=True)

    def start(self) -> BackgroundWorkload:
        self._thread.start()
        return self

    def _run(self) -> None:
        iteration = 0
        while not self._stop.is_set():
            self.workload.step(iteration)
            iteration += 1
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lukhas_obs_examples.luna``: configure lukhas-obs, start the workload, serve the Flask app."""
    parser = argparse.ArgumentParser(prog="python -m lukhas_obs_examples.luna", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; the seed uses 0.0.0.0)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between workload steps (default 0.5)")
    parser.add_argument("--no-workload", action="store_true", help="serve without driving the example core")
    args = parser.parse_args(argv)
    lukhas_obs.configure(service="luna-consciousness", serve_metrics=False)
    background = None
    if args.no_workload:
        from lukhas_obs_examples.luna.core import LunaCore

        from lukhas_obs.systems.luna.metrics import attach_sources

        attach_sources(LunaCore().sources())
    else:
        background = BackgroundWorkload(args.interval).start()
    logger.info("Starting Prometheus Exporter on %s:%d", args.host, args.port)
    print(f"Luna exporter: http://{args.host}:{args.port}/metrics and /health", file=sys.stderr)
    try:
        create_app().run(host=args.host, port=args.port)
    finally:
        if background is not None:
            background.stop()
        lukhas_obs.shutdown()
    return 0
