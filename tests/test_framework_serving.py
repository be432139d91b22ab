"""/metrics served from web frameworks: every example of docs/SERVING.md runs here exactly as written.

Issue 9, "also found": the README's ``app.mount("/metrics", metrics_asgi_app())`` answered ``307 → /metrics/`` and was
not covered by FastAPI ``Depends`` auth. Each documented pattern must answer an unauthenticated scrape with 401, an
authenticated one with 200, a Prometheus content type and the catalog's series, and never redirect. Real frameworks
(FastAPI/Starlette through httpx's TestClient, Flask's and werkzeug's test clients), no mocks.
"""

from __future__ import annotations

import base64
import gzip
import inspect
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs.exporters import prometheus
from lukhas_obs.exporters.prometheus import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    UNCONFIGURED_OPENMETRICS,
    UNCONFIGURED_TEXT,
    render_exposition,
)
from tests.conftest import require_tool

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

SERVING = Path(__file__).resolve().parents[1] / "docs" / "SERVING.md"
TOKEN = "scrape-token-0123456789abcdef"
CATALOG_METRIC = "lukhas_memory_docs_total"
OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
_BLOCK = re.compile(r"<!-- serving-example: ([a-z-]+) -->\n```python\n(.*?)```", re.S)


def _examples() -> dict[str, str]:
    return dict(_BLOCK.findall(SERVING.read_text(encoding="utf-8")))


@pytest.fixture
def example(tmp_path, monkeypatch):
    """Run a SERVING.md block as written (its own ``configure(serve_metrics=False)``) and return its namespace."""
    monkeypatch.chdir(tmp_path)  # the blocks' default trace file lands in the test's directory
    monkeypatch.setenv("SCRAPE_TOKEN", TOKEN)
    if not hasattr(lukhas_obs, "render_exposition"):  # until lukhas_obs/__init__.py exports it
        monkeypatch.setattr(lukhas_obs, "render_exposition", render_exposition, raising=False)
    for name in ("render_exposition", "metrics_asgi_app", "metrics_wsgi_app"):  # until the facade has catalogs=
        if "catalogs" not in inspect.signature(getattr(lukhas_obs, name)).parameters:
            monkeypatch.setattr(lukhas_obs, name, getattr(prometheus, name))

    def run(name: str) -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": f"serving_example_{name.replace('-', '_')}"}
        exec(compile(_examples()[name], f"SERVING.md:{name}", "exec"), namespace)
        lukhas_obs.metric(CATALOG_METRIC).add(3)
        return namespace

    return run


class _Client:
    """One interface over the frameworks' test clients: ``get(path, headers) -> (status, headers, body)``."""

    def __init__(self, kind: str, app: Any) -> None:
        self.kind = kind
        if kind == "asgi":
            from starlette.testclient import TestClient

            self._client = TestClient(app, follow_redirects=False)
        elif kind == "flask":
            self._client = app.test_client()
        else:
            from werkzeug.test import Client

            self._client = Client(app)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        response = self._client.open(path, method=method, headers=headers or {}) if self.kind != "asgi" else (
            self._client.request(method, path, headers=headers or {})
        )
        if self.kind == "asgi":
            return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        return self.request("GET", path, headers)


def _inner_wsgi(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the application\n"]


PROTECTED = {
    "fastapi-router": lambda ns: _Client("asgi", ns["app"]),
    "fastapi-app": lambda ns: _Client("asgi", ns["app"]),
    "starlette": lambda ns: _Client("asgi", ns["app"]),
    "flask-blueprint": lambda ns: _Client("flask", ns["app"]),
    "flask-decorator": lambda ns: _Client("flask", ns["app"]),
    "wsgi": lambda ns: _Client("wsgi", ns["with_metrics"](_inner_wsgi)),
}


def test_every_tagged_example_is_tested():
    assert set(_examples()) == {*PROTECTED, "starlette-open", "starlette-subsets"}


def test_subset_routes_example_serves_each_catalog_without_redirect(example):
    client = _Client("asgi", example("starlette-subsets")["app"])
    lukhas_obs.metric("lukhas_memory_docs_total").add(-1)  # refused: counted in the self-telemetry
    families = {}
    for path in ("/metrics", "/metrics/core", "/metrics/sdk"):
        status, headers, body = client.get(path)
        assert (status, headers["content-type"]) == (200, TEXT_CONTENT_TYPE), path
        families[path] = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"lukhas_memory_docs", "lukhas_obs_dropped_measurements", "target_info"} <= families["/metrics"]
    assert "lukhas_memory_docs" in families["/metrics/core"]
    assert not any(name.startswith("lukhas_obs_") for name in families["/metrics/core"])
    assert "lukhas_obs_dropped_measurements" in families["/metrics/sdk"]
    assert not any(name.startswith("lukhas_memory") for name in families["/metrics/sdk"])
    status, _, body = client.get("/metrics/core?name[]=lukhas_memory_docs_total")
    assert status == 200 and {f.name for f in text_string_to_metric_families(body.decode())} == {"lukhas_memory_docs"}


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_documented_pattern_requires_auth_and_serves_the_exposition(example, name):
    client = PROTECTED[name](example(name))
    basic = base64.b64encode(f"prometheus:{TOKEN}".encode()).decode()
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789abc"},
        {"Authorization": f"Basic {basic}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ):
        status, _, body = client.get("/metrics", headers)
        assert status == 401, (headers, status)
        assert CATALOG_METRIC.encode() not in body
    status, response_headers, body = client.get("/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert response_headers["content-type"] == TEXT_CONTENT_TYPE
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert [s.value for s in families["lukhas_memory_docs"].samples] == [3.0]

    status, response_headers, body = client.get(
        "/metrics", {"Authorization": f"Bearer {TOKEN}", "Accept": OPENMETRICS_ACCEPT}
    )
    assert (status, response_headers["content-type"]) == (200, OPENMETRICS_CONTENT_TYPE)
    assert body.rstrip().endswith(b"# EOF") and f"{CATALOG_METRIC}{{".encode() in body

    status, response_headers, _ = client.get(
        "/metrics", {"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text; version=abc"}
    )
    assert (status, response_headers["content-type"]) == (200, TEXT_CONTENT_TYPE)  # hostile Accept: still a scrape


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_documented_pattern_never_redirects(example, name):
    client = PROTECTED[name](example(name))
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        status, response_headers, _ = client.get("/metrics", headers)
        assert not 300 <= status < 400, (status, response_headers.get("location"))


def test_open_starlette_route_serves_metrics_without_a_redirect(example):
    client = _Client("asgi", example("starlette-open")["app"])
    status, headers, body = client.get("/metrics")
    assert (status, headers["content-type"]) == (200, TEXT_CONTENT_TYPE)
    assert f"{CATALOG_METRIC}{{".encode() in body
    status, headers, body = client.request("HEAD", "/metrics")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    assert client.request("POST", "/metrics")[0] == 405
    status, headers, body = client.get("/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200 and f"{CATALOG_METRIC}{{".encode() in body  # httpx decodes gzip
    assert headers["content-encoding"] == "gzip"
    status, _, body = client.get("/metrics?name[]=lukhas_memory_docs_total")
    assert status == 200 and {f.name for f in text_string_to_metric_families(body.decode())} == {"lukhas_memory_docs"}


def test_add_route_on_a_fastapi_app_answers_200_without_redirect():
    from fastapi import FastAPI

    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric(CATALOG_METRIC).add(1)
    app = FastAPI()
    app.add_route("/metrics", lukhas_obs.metrics_asgi_app())
    status, headers, body = _Client("asgi", app).get("/metrics")
    assert (status, headers["content-type"]) == (200, TEXT_CONTENT_TYPE)
    assert f"{CATALOG_METRIC}{{".encode() in body


def test_the_old_readme_mount_redirects_and_escapes_fastapi_auth():
    """Why SERVING.md says "do not mount": the pitfall itself, on the real framework."""
    from fastapi import Depends, FastAPI, HTTPException

    def deny() -> None:
        raise HTTPException(status_code=401)

    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric(CATALOG_METRIC).add(1)
    app = FastAPI(dependencies=[Depends(deny)])
    app.mount("/metrics", lukhas_obs.metrics_asgi_app())
    client = _Client("asgi", app)
    status, headers, _ = client.get("/metrics")
    assert status == 307 and headers["location"].endswith("/metrics/")
    status, _, body = client.get("/metrics/")
    assert status == 200 and CATALOG_METRIC.encode() in body  # app-wide auth did not run


# ------------------------------------------------------------------------------------------- not configured


def test_render_exposition_when_nothing_is_configured_is_a_valid_empty_exposition():
    assert render_exposition() == (UNCONFIGURED_TEXT, TEXT_CONTENT_TYPE)
    assert render_exposition(OPENMETRICS_ACCEPT) == (UNCONFIGURED_OPENMETRICS, OPENMETRICS_CONTENT_TYPE)
    assert list(text_string_to_metric_families(UNCONFIGURED_TEXT.decode())) == []
    lukhas_obs.configure(disabled=True)
    assert render_exposition()[0] == UNCONFIGURED_TEXT
    lukhas_obs.shutdown()
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none", metrics_exporter="none")
    assert render_exposition()[0] == UNCONFIGURED_TEXT


@pytest.mark.e2e
def test_promtool_accepts_the_unconfigured_exposition():
    promtool = require_tool("promtool")
    checked = subprocess.run([promtool, "check", "metrics"], input=UNCONFIGURED_TEXT, capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_the_apps_answer_503_when_nothing_is_configured():
    from starlette.applications import Starlette
    from starlette.routing import Route
    from werkzeug.test import Client

    asgi = _Client("asgi", Starlette(routes=[Route("/metrics", lukhas_obs.metrics_asgi_app())]))
    assert asgi.get("/metrics")[0] == 503
    response = Client(lukhas_obs.metrics_wsgi_app()).get("/metrics")
    assert response.status_code == 503


# ------------------------------------------------------------------------------------------- hostile inputs


class _Evil(str):
    def split(self, *args, **kwargs):
        raise RuntimeError("boom")

    def __getitem__(self, item):
        raise RuntimeError("boom")

    def lower(self):
        raise RuntimeError("boom")


def _names_then_raise():
    yield CATALOG_METRIC
    raise RuntimeError("iterator failed")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TEXT_CONTENT_TYPE),
        ("", TEXT_CONTENT_TYPE),
        (b"application/openmetrics-text", TEXT_CONTENT_TYPE),  # not a str: ignored
        (42, TEXT_CONTENT_TYPE),
        (_Evil("application/openmetrics-text"), OPENMETRICS_CONTENT_TYPE),  # its raising overrides are never called
        ("\udcff" * 10, TEXT_CONTENT_TYPE),
        ("application/openmetrics-text; version=abc", TEXT_CONTENT_TYPE),
        ("application/openmetrics-text; version=2.0.0", TEXT_CONTENT_TYPE),
        (";;;,,,=" * 10000, TEXT_CONTENT_TYPE),
        ("application/openmetrics-text; q=0", TEXT_CONTENT_TYPE),
        ("application/openmetrics-text; q=0.000, text/plain", TEXT_CONTENT_TYPE),
        ("text/html, APPLICATION/OpenMetrics-Text ; Version=1.0.0 ; q=0.8", OPENMETRICS_CONTENT_TYPE),
    ],
    ids=lambda v: type(v).__name__ + ":" + repr(v)[:24],
)
def test_render_exposition_never_raises_on_hostile_accept(accept, expected):
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric(CATALOG_METRIC).add(1)
    body, content_type = render_exposition(accept)
    assert content_type == expected
    assert f"{CATALOG_METRIC}{{".encode() in body


def test_render_exposition_accept_parsing_is_bounded():
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    huge = "text/html;q=0.9," * 200_000 + "application/openmetrics-text"  # 3 MB; the OpenMetrics item is past 4 KiB
    started = time.perf_counter()
    _, content_type = render_exposition(huge)
    assert time.perf_counter() - started < 0.1
    assert content_type == TEXT_CONTENT_TYPE


def test_render_exposition_names_filter_and_hostile_names():
    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric(CATALOG_METRIC).add(1)
    lukhas_obs.metric("lukhas_dream_backpressure").set(0.5)
    body, _ = render_exposition(names=[CATALOG_METRIC, 7, None, "x" * 10_000])
    assert {f.name for f in text_string_to_metric_families(body.decode())} == {"lukhas_memory_docs"}
    body, _ = render_exposition(names=_names_then_raise())  # a failing iterator: no exception, empty exposition
    assert body == UNCONFIGURED_TEXT


def test_asgi_app_survives_hostile_scopes():
    import asyncio

    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    app = prometheus.metrics_asgi_app()
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    hostile = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"name[]=%ff%fe&\xff\xfe",
        "headers": [(b"accept", b"\xff\xfeapplication/openmetrics-text; version=\xc3("), (b"\xff", b"\x00")],
    }
    asyncio.run(app(hostile, receive, send))
    asyncio.run(app({"type": "http", "headers": 5}, receive, send))  # malformed scope: still an answer
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [200, 200]


def test_serving_names_are_exported_from_lukhas_obs():
    """The lead exports these from lukhas_obs/__init__.py (render_exposition and the two content types)."""
    for name in ("render_exposition", "metrics_asgi_app", "metrics_wsgi_app"):
        assert name in lukhas_obs.__all__, name


def test_gzip_from_the_wsgi_app_is_real_gzip():
    from werkzeug.test import Client

    lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
    lukhas_obs.metric(CATALOG_METRIC).add(1)
    response = Client(lukhas_obs.metrics_wsgi_app()).get("/metrics", headers={"Accept-Encoding": "br, gzip;q=0.5"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert f"{CATALOG_METRIC}{{".encode() in gzip.decompress(response.get_data())
    response = Client(lukhas_obs.metrics_wsgi_app()).get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in response.headers
