"""A small WSGI service with no telemetry code but the WSGI middleware, run by tests/test_distro.py as
``opentelemetry-instrument python small_wsgi_app.py`` with lukhas-obs as the distro and configurator.

- ``/hello``: answers ``hello``, counts one catalog measurement and logs a line;
- ``/proxy``: calls ``/hello`` with ``requests`` (instrumented by ``opentelemetry-instrument`` itself);
- ``/quit``: stops the server; the process then exits normally (lukhas-obs flushes at exit).

Prints one JSON line on stdout when ready: the app's URL and where lukhas-obs serves ``/metrics`` (or null).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

import lukhas_obs

log = logging.getLogger("small_wsgi_app")
BASE: list[str] = []


def app(environ: dict, start_response) -> list[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/hello":
        lukhas_obs.counter("lukhas_memory_docs_total").add(1)
        log.warning("said hello with password=zero-code-secret-value")
        body = b"hello"
    elif path == "/proxy":
        body = requests.get(BASE[0] + "/hello", timeout=5).content
    elif path == "/quit":
        threading.Timer(0.2, server.shutdown).start()  # after this response has been written
        body = b"bye"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


server = make_server(
    "127.0.0.1", 0, OpenTelemetryMiddleware(app), server_class=ThreadingServer, handler_class=QuietHandler
)
BASE.append(f"http://127.0.0.1:{server.server_port}")
telemetry = lukhas_obs.active()
print(json.dumps({"app": BASE[0], "metrics": telemetry.metrics_url if telemetry else None}), flush=True)
server.serve_forever()
server.server_close()
sys.exit(0)
