"""The Prometheus HTTP API client against real loopback HTTP servers that misbehave on purpose.

Each server runs in a thread on 127.0.0.1 and is shut down in its fixture. The client must return parsed results for
good answers and raise one PrometheusError (with the right ``kind``) for every bad one, within its time bound, and
never show a credential.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lukhas_obs.errors import ConfigurationError
from lukhas_obs.slotools.promapi import PrometheusClient, PrometheusError

TOKEN = "s3cr3t-T0KEN-abcdef123456"
PASSWORD = "hunter2-Pa55word"

Route = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    """A loopback HTTP server whose answers are set per path; records each request's headers and body."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = self.path.split("?")[0]
                server.requests.append({"path": path, "headers": dict(self.headers), "body": body, "raw": self.path})
                route = server.routes.get(path)
                if route is None:
                    self.send_error(404)
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)

            do_GET = _handle
            do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    try:
        yield srv
    finally:
        srv.close()


def _json(status: int, doc: Any) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        body = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return route


def _raw(status: int, body: bytes, headers: dict[str, str] | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {"Content-Length": str(len(body))}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    return route


def _ok(data: Any) -> Route:
    return _json(200, {"status": "success", "data": data})


def test_query_vector_scalar_matrix_and_time(server: _Server) -> None:
    server.routes["/api/v1/query"] = _ok(
        {"resultType": "vector", "result": [
            {"metric": {"__name__": "self_coherence", "token_id": "t1"}, "value": [1730800000.5, "0.95"]},
            {"metric": {"token_id": "t2"}, "value": [1730800000.5, "NaN"]},
            {"metric": {"token_id": "t3"}, "value": [1730800000.5, "+Inf"]},
            {"metric": {}, "histogram": [1730800000.5, {"count": "1"}]},  # native histogram: not a float sample
        ]}
    )  # fmt: skip
    client = PrometheusClient(server.url)
    result = client.query("self_coherence", at=1730800000.5)
    assert result.result_type == "vector" and len(result.samples) == 3
    first = result.samples[0]
    assert first.labels == {"__name__": "self_coherence", "token_id": "t1"} and first.value == 0.95
    assert first.timestamp == 1730800000.5
    assert result.samples[1].value != result.samples[1].value and result.samples[2].value == float("inf")
    request = server.requests[-1]
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "query=self_coherence" in request["body"] and "time=1730800000.5" in request["body"]

    server.routes["/api/v1/query"] = _ok({"resultType": "scalar", "result": [1.0, "3"]})
    assert client.query("3").samples[0].value == 3.0
    server.routes["/api/v1/query_range"] = _ok(
        {"resultType": "matrix", "result": [{"metric": {"a": "b"}, "values": [[1, "1"], [2, "2.5"]]}]}
    )
    (series,) = client.query_range("x", start=1, end=2, step=1)
    assert series.labels == {"a": "b"} and series.points == ((1.0, 1.0), (2.0, 2.5))
    assert "step=1.0" in server.requests[-1]["body"]


def test_alerts_and_rules(server: _Server) -> None:
    server.routes["/api/v1/alerts"] = _ok(
        {"alerts": [
            {"labels": {"alertname": "AURIS_SELF_Stress_High", "severity": "warning"}, "annotations": {},
             "state": "firing", "activeAt": "2025-11-05T12:00:00Z", "value": "3.5e-01"},
            {"labels": {"alertname": "Other"}, "annotations": {"summary": "x"}, "state": "pending"},
        ]}
    )  # fmt: skip
    server.routes["/api/v1/rules"] = _ok({"groups": [{"name": "auris-self-phase-c", "rules": []}]})
    client = PrometheusClient(server.url)
    firing, pending = client.alerts()
    assert firing.name == "AURIS_SELF_Stress_High" and firing.firing and firing.value == 0.35
    assert not pending.firing and pending.annotations == {"summary": "x"}
    assert client.rules()[0]["name"] == "auris-self-phase-c"
    client.rules(type="alert")
    assert server.requests[-1]["raw"] == "/api/v1/rules?type=alert"
    with pytest.raises(ConfigurationError, match="type"):
        client.rules(type="bogus")


@pytest.mark.parametrize(
    ("route", "kind", "words"),
    [
        (_json(400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}), "http",
         ["HTTP 400", "bad_data", "parse error at char 3"]),
        (_json(200, {"status": "error", "errorType": "execution", "error": "query timed out"}), "api",
         ["status error", "execution", "query timed out"]),
        (_raw(503, b"Service Unavailable"), "http", ["HTTP 503"]),
        (_raw(200, b"<html>not json</html>"), "json", ["not JSON"]),
        (_raw(200, b"\xff\xfe garbage"), "json", ["not JSON"]),
        (_raw(200, b"[" * 100_000), "json", ["not JSON"]),
        (_raw(200, b'["success"]'), "json", ["not a Prometheus API response"]),
        (_json(200, {"status": "success"}), "shape", ["no data"]),
        (_ok({"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}), "shape", ["unexpected"]),
        (_ok({"resultType": "vector", "result": [{"metric": {}, "value": [1, 2]}]}), "shape", ["unexpected"]),
        (_ok({"resultType": "vector", "result": "nope"}), "shape", ["unexpected"]),
        (_ok({"resultType": "wat", "result": []}), "shape", ["unknown resultType"]),
        (_raw(302, b"", {"Location": "http://127.0.0.1:1/elsewhere", "Content-Length": "0"}), "redirect",
         ["HTTP 302", "not followed"]),
    ],
)
def test_bad_answers_raise_one_clear_error(server: _Server, route: Route, kind: str, words: list[str]) -> None:
    server.routes["/api/v1/query"] = route
    with pytest.raises(PrometheusError) as info:
        PrometheusClient(server.url, timeout=5).query("up")
    assert info.value.kind == kind
    for word in words:
        assert word in str(info.value)
    assert server.url in str(info.value) and "/api/v1/query" in str(info.value)


def test_response_size_is_capped(server: _Server) -> None:
    big = b'{"status":"success","data":{"resultType":"vector","result":[]},"pad":"' + b"x" * 300_000 + b'"}'
    server.routes["/api/v1/query"] = _raw(200, big)
    client = PrometheusClient(server.url, max_bytes=100_000)
    with pytest.raises(PrometheusError, match="more than the 100000 accepted") as info:
        client.query("up")
    assert info.value.kind == "too_large"

    def chunked(h: BaseHTTPRequestHandler) -> None:  # no Content-Length: the cap applies while reading
        h.protocol_version = "HTTP/1.1"
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b"%x\r\n%s\r\n" % (10_000, b"x" * 10_000))
        h.wfile.write(b"0\r\n\r\n")

    server.routes["/api/v1/query"] = chunked
    with pytest.raises(PrometheusError) as info:
        client.query("up")
    assert info.value.kind == "too_large"
    assert PrometheusClient(server.url).max_bytes == 16 * 1024 * 1024


def _drip(headers_too: bool) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        if headers_too:
            h.wfile.write(b"HTTP/1.0 200 OK\r\n")
            for _ in range(100):
                h.wfile.write(b"X")
                h.wfile.flush()
                time.sleep(0.1)
            return
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)

    return route


@pytest.mark.parametrize("headers_too", [False, True])
def test_a_dripping_server_cannot_hold_the_caller(server: _Server, headers_too: bool) -> None:
    server.routes["/api/v1/query"] = _drip(headers_too)
    client = PrometheusClient(server.url, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(PrometheusError) as info:
        client.query("up")
    elapsed = time.monotonic() - started
    assert info.value.kind == "timeout" and "within 1s" in str(info.value)
    assert elapsed < 2.5, elapsed


def test_an_idle_server_and_a_closed_port() -> None:
    idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        idle.bind(("127.0.0.1", 0))
        idle.listen(1)  # accepted by the kernel, never answered
        started = time.monotonic()
        with pytest.raises(PrometheusError) as info:
            PrometheusClient(f"http://127.0.0.1:{idle.getsockname()[1]}", timeout=0.5).alerts()
        assert info.value.kind == "timeout" and time.monotonic() - started < 2
    finally:
        idle.close()
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(PrometheusError) as info:
        PrometheusClient(f"http://127.0.0.1:{port}", timeout=2).alerts()
    assert info.value.kind == "connection" and f"127.0.0.1:{port}" in str(info.value)


def _echo_auth(h: BaseHTTPRequestHandler) -> None:
    """A hostile server: echoes the Authorization header it got back in its error."""
    auth = h.headers.get("Authorization", "")
    _json(400, {"status": "error", "errorType": f"bad {auth}", "error": f"you sent {auth}"})(h)


def test_bearer_token_is_sent_and_never_shown(server: _Server) -> None:
    server.routes["/api/v1/query"] = _echo_auth
    server.routes["/api/v1/alerts"] = _ok({"alerts": []})
    client = PrometheusClient(server.url, bearer_token=TOKEN)
    assert client.alerts() == ()
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(PrometheusError) as info:
        client.query("up")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value.__dict__)
    assert "<redacted>" in str(info.value) or "[REDACTED" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert TOKEN not in repr(client) and "auth=<redacted>" in repr(client)


def test_basic_auth_from_url_userinfo_is_moved_out_of_the_url(server: _Server) -> None:
    server.routes["/api/v1/query"] = _echo_auth
    server.routes["/api/v1/rules"] = _ok({"groups": []})
    host = server.url.removeprefix("http://")
    client = PrometheusClient(f"http://admin:{PASSWORD}@{host}/")
    assert client.url == server.url and PASSWORD not in repr(client)
    client.rules()
    expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert server.requests[-1]["headers"]["Authorization"] == f"Basic {expected}"
    with pytest.raises(PrometheusError) as info:
        client.query("up")
    assert PASSWORD not in str(info.value) and expected not in str(info.value)
    assert PrometheusClient(server.url, basic_auth=("admin", PASSWORD)).rules() == ()


def test_redirect_does_not_carry_the_token_elsewhere(server: _Server) -> None:
    other = _Server()
    try:
        other.routes["/api/v1/alerts"] = _ok({"alerts": []})
        server.routes["/api/v1/alerts"] = _raw(
            307, b"", {"Location": other.url + "/api/v1/alerts", "Content-Length": "0"}
        )
        with pytest.raises(PrometheusError) as info:
            PrometheusClient(server.url, bearer_token=TOKEN).alerts()
        assert info.value.kind == "redirect" and not other.requests
    finally:
        other.close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "ftp://127.0.0.1:9090"}, "prometheus_url"),
        ({"url": "http://"}, "prometheus_url"),
        ({"url": "http://127.0.0.1:99999"}, "prometheus_url"),
        ({"url": "http://127.0.0.1:9090/?x=1"}, "prometheus_url"),
        ({"url": 12}, "prometheus_url"),
        ({"url": "http://127.0.0.1:9090", "timeout": 0}, "timeout"),
        ({"url": "http://127.0.0.1:9090", "timeout": float("nan")}, "timeout"),
        ({"url": "http://127.0.0.1:9090", "max_bytes": 10}, "max_bytes"),
        ({"url": "http://127.0.0.1:9090", "bearer_token": TOKEN + "\r\nX-Injected: 1"}, "bearer_token"),
        ({"url": "http://127.0.0.1:9090", "bearer_token": ""}, "bearer_token"),
        ({"url": "http://127.0.0.1:9090", "bearer_token": TOKEN, "basic_auth": ("a", PASSWORD)}, "bearer_token"),
        ({"url": "http://127.0.0.1:9090", "basic_auth": ("a:b", PASSWORD)}, "basic_auth"),
        ({"url": "http://127.0.0.1:9090", "basic_auth": ("a", "\ud800" + PASSWORD)}, "basic_auth"),
        ({"url": f"http://a:{PASSWORD}@127.0.0.1:9090", "bearer_token": TOKEN}, "prometheus_url"),
    ],
)
def test_bad_configuration_fails_early_without_echoing_secrets(kwargs: dict[str, Any], field: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ConfigurationError) as info:
        PrometheusClient(url, **kwargs)
    assert info.value.field == field
    assert TOKEN not in str(info.value) and PASSWORD not in str(info.value)
