"""A small app for tests/test_prefork.py, runnable by gunicorn (WSGI: ``prefork_app:wsgi``) and uvicorn (ASGI:
``prefork_app:asgi``) with several workers.

Each worker configures lukhas-obs in multiprocess mode (``LUKHAS_MULTIPROCESS_DIR`` is set by the test) without
a ``/metrics`` server of its own; every request to ``/hit`` records into a catalog counter and histogram (with the
sampled span around it, for exemplars); ``/pid`` answers the worker's pid; ``/metrics`` is
:func:`lukhas_obs.render_exposition` — the merge of every worker's file, whichever worker answers.
"""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry import trace

import lukhas_obs
from lukhas_obs import catalog
from lukhas_obs.catalog.load import load_catalog

#: The test catalog: a counter and a histogram per request, a gauge merged by sum over the live workers.
CATALOG: dict[str, Any] = {
    "catalog": "prefork_test",
    "title": "pre-fork server tests",
    "description": "Per-request measurements of a small app run by gunicorn and uvicorn workers in multiprocess mode.",
    "common_attributes": [],
    "attributes": {"route": {"description": "The route that answered.", "values": ["hit", "slow"]}},
    "metrics": [
        {
            "name": "prefork_requests_total",
            "otel_name": "prefork.requests",
            "kind": "counter",
            "unit": "{request}",
            "description": "Requests answered, by route",
            "attributes": ["route"],
        },
        {
            "name": "prefork_request_duration_seconds",
            "otel_name": "prefork.request.duration",
            "kind": "histogram",
            "unit": "s",
            "buckets": [0.001, 0.01, 0.1, 1],
            "description": "Time to answer a request, by route",
            "attributes": ["route"],
        },
        {
            "name": "prefork_workers_up",
            "otel_name": "prefork.workers_up",
            "kind": "gauge",
            "unit": "1",
            "gauge_mode": "sum",
            "description": "Workers serving (1 each), summed over the live workers",
        },
    ],
}
catalog.register(load_catalog(CATALOG))
lukhas_obs.configure(service="prefork", serve_metrics=False, traces_exporter="none", metrics_exporter="prometheus")

_requests = lukhas_obs.counter("prefork_requests_total")
_duration = lukhas_obs.histogram("prefork_request_duration_seconds")
lukhas_obs.gauge("prefork_workers_up").set(1)  # gauge_mode sum: /metrics shows how many workers are alive
_tracer = trace.get_tracer("prefork_app")


def _handle(path: str, accept: str | None) -> tuple[str, bytes, str]:
    if path == "/hit":
        start = time.perf_counter()
        with _tracer.start_as_current_span("hit"):  # sampled: the histogram keeps an exemplar of this request
            _requests.add(1, route="hit")
            _duration.record(time.perf_counter() - start, route="hit")
        return "200 OK", f"ok {os.getpid()}\n".encode(), "text/plain"
    if path == "/pid":
        return "200 OK", f"{os.getpid()}\n".encode(), "text/plain"
    if path == "/metrics":
        body, content_type = lukhas_obs.render_exposition(accept)
        return "200 OK", body, content_type
    return "404 Not Found", b"not found\n", "text/plain"


def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    status, body, content_type = _handle(environ.get("PATH_INFO", ""), environ.get("HTTP_ACCEPT"))
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    accept = dict(scope.get("headers") or ()).get(b"accept")
    status, body, content_type = _handle(scope["path"], accept.decode("latin-1") if accept else None)
    await send(
        {
            "type": "http.response.start",
            "status": int(status.split()[0]),
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
