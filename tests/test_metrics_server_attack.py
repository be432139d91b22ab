"""The built-in /metrics server under attack: idle and slow clients, clients that never read, oversized and hostile
requests. Real sockets on 127.0.0.1 only; every server is stopped in a fixture and no server thread survives it.

Issue 9, break 2: with TLS the handshake ran in ``accept()`` on the only server thread with no timeout (one idle TCP
connection blocked every scrape and ``shutdown()``), and plain HTTP gave every half-sent request a thread forever.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

import lukhas_obs
from lukhas_obs import runtime
from lukhas_obs.exporters.prometheus import MetricsServer, endpoint_app
from tests.test_exposure import _self_signed

pytestmark = pytest.mark.timeout(30)

HOST = "127.0.0.1"
CATALOG_METRIC = "lukhas_memory_docs_total"


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lukhas-obs-metrics")]


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _get(url: str, *, context: ssl.SSLContext | None = None, timeout: float = 3.0, headers=None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _raw_bytes(port: int, data: bytes, *, timeout: float = 3.0) -> bytes:
    """Send raw bytes and read until the server closes."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _raw(port: int, data: bytes, *, timeout: float = 3.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; (status, headers, body). Status 0: closed without a response."""
    response = _raw_bytes(port, data, timeout=timeout)
    if not response:
        return 0, {}, b""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def _closed_by_server(sock: socket.socket, wait: float = 1.0) -> bool:
    """True when the server closed ``sock`` without answering (EOF or reset) within ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _record() -> None:
    lukhas_obs.metric(CATALOG_METRIC).add(1)


@pytest.fixture
def serve():
    """Start MetricsServer with the given limits on the active runtime's registry; stopped (bounded) afterwards."""
    servers: list[MetricsServer] = []

    def start(app=None, tls: ssl.SSLContext | None = None, **limits) -> MetricsServer:
        if runtime.active() is None:
            lukhas_obs.configure(serve_metrics=False, traces_exporter="none")
            _record()
        server = MetricsServer.start(HOST, 0, app or endpoint_app(runtime.active_registry), tls, **limits)
        assert server is not None
        servers.append(server)
        return server

    yield start
    for server in servers:
        assert server.stop(timeout=3)
    assert _wait_until(lambda: not _server_threads(), 2), _server_threads()


@pytest.fixture
def tls_files(tmp_path):
    cert, key = _self_signed(tmp_path)
    return cert, key, ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """Attacker sockets, all closed afterwards."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


# ----------------------------------------------------------------------------------------------- idle and slow


def test_one_idle_tls_connection_blocks_neither_scrapes_nor_shutdown(tls_files, sockets):
    cert, key, context = tls_files
    telemetry = lukhas_obs.configure(
        prometheus_port=0, traces_exporter="none", metrics_tls_cert=cert, metrics_tls_key=key
    )
    _record()
    server = telemetry.metrics_server
    sockets.append(socket.create_connection((server.host, server.port)))  # connects, never says a word
    started = time.monotonic()
    status, body = _get(telemetry.metrics_url, context=context, timeout=3)
    assert status == 200 and CATALOG_METRIC.encode() in body
    assert time.monotonic() - started < 1.5
    started = time.monotonic()
    lukhas_obs.shutdown(timeout=3)
    assert time.monotonic() - started < 2.5
    assert _wait_until(lambda: not _server_threads(), 1), _server_threads()


def test_200_idle_plain_connections_hold_at_most_the_cap_and_a_scrape_still_works(sockets):
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    _record()
    server = telemetry.metrics_server
    for i in range(200):
        sock = socket.create_connection((server.host, server.port), timeout=2)
        if i % 2:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # half the attackers half-send a request
        sockets.append(sock)
    assert _wait_until(lambda: len(_server_threads()) <= 1 + 64 + 8, 2), len(_server_threads())
    status, body = _get(telemetry.metrics_url, timeout=3)
    assert status == 200 and CATALOG_METRIC.encode() in body
    # the scrape's own connection is counted until its worker has finished with it (a moment after the response)
    assert _wait_until(lambda: server.live_connections <= 64, 2), server.live_connections
    assert len(_server_threads()) <= 1 + 64 + 8  # acceptor + cap + evicted workers on their way out


def test_half_sent_requests_are_released_at_the_header_deadline(serve, sockets):
    server = serve(header_timeout=0.5)
    for _ in range(30):
        sock = socket.create_connection((HOST, server.port), timeout=2)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    assert _wait_until(lambda: server.live_connections == 30, 1)
    assert _wait_until(lambda: server.live_connections == 0, 1.5), server.live_connections
    assert _wait_until(lambda: len(_server_threads()) == 1, 1), _server_threads()  # only the acceptor
    assert all(_closed_by_server(sock) for sock in sockets)  # no response to a request never finished


def test_slowloris_is_cut_at_the_header_deadline_not_per_byte(serve):
    server = serve(header_timeout=1.0)
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    started = time.monotonic()
    closed_after = None
    with socket.create_connection((HOST, server.port), timeout=3) as sock:
        for byte in request:  # one byte every 0.1 s: each read succeeds well inside any per-read timeout
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            sock.settimeout(0.1)
            try:
                if sock.recv(100) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                pass
            except OSError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "the server kept a slowloris client past its header deadline"
    assert 0.8 < closed_after < 2.0
    assert _wait_until(lambda: server.live_connections == 0, 1)


def test_slow_tls_handshake_is_cut_at_the_handshake_deadline(serve, tls_files, sockets):
    cert, key, context = tls_files
    server = serve(tls=MetricsServer.tls_context(str(cert), str(key)), handshake_timeout=0.5)
    sock = socket.create_connection((HOST, server.port), timeout=3)
    sockets.append(sock)
    sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    started = time.monotonic()
    assert sock.recv(100) == b""
    assert time.monotonic() - started < 1.5
    status, _ = _get(server.url, context=context)
    assert status == 200


def _big_app(size: int):
    body = b"x" * size

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/big":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [body]
        return endpoint_app(runtime.active_registry)(environ, start_response)

    return app


def _non_reader(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((HOST, port))
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def test_a_client_that_never_reads_a_large_response_is_cut_at_the_send_deadline(serve, sockets):
    server = serve(app=_big_app(16 * 1024 * 1024), send_timeout=1.0)
    sockets.append(_non_reader(server.port))
    assert _wait_until(lambda: server.live_connections == 1, 1)
    status, body = _get(server.url)  # other scrapes are served meanwhile
    assert status == 200 and CATALOG_METRIC.encode() in body
    assert _wait_until(lambda: server.live_connections == 0, 2), "the worker is still blocked sending"
    assert _wait_until(lambda: len(_server_threads()) == 1, 1), _server_threads()


def test_beyond_the_cap_busy_slots_get_503_without_a_thread(serve, sockets):
    server = serve(app=_big_app(16 * 1024 * 1024), max_connections=3, send_timeout=5.0)
    for _ in range(3):
        sockets.append(_non_reader(server.port))  # three slots busy writing responses (not evictable)
    assert _wait_until(lambda: server.live_connections == 3, 1)
    threads_before = len(_server_threads())
    status, _, body = _raw(server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == (503, b"busy\n")
    assert len(_server_threads()) == threads_before


def test_at_the_cap_the_oldest_unfinished_request_makes_room_for_a_scrape(serve, sockets):
    server = serve(max_connections=4, header_timeout=5.0)
    for _ in range(4):
        sockets.append(socket.create_connection((HOST, server.port), timeout=2))
    assert _wait_until(lambda: server.live_connections == 4, 1)
    status, body = _get(server.url, timeout=2)
    assert status == 200 and CATALOG_METRIC.encode() in body
    assert _closed_by_server(sockets[0])  # evicted: the oldest idle connection was closed
    assert not _closed_by_server(sockets[3], wait=0.2)  # the newest idle ones still wait for their deadline


def test_stop_with_attackers_connected_is_bounded_and_leaves_no_thread(serve, tls_files, sockets):
    cert, key, _ = tls_files
    plain = serve(app=_big_app(16 * 1024 * 1024), header_timeout=30, send_timeout=30)
    tls = serve(tls=MetricsServer.tls_context(str(cert), str(key)), handshake_timeout=30, header_timeout=30)
    for _ in range(10):
        sockets.append(socket.create_connection((HOST, tls.port), timeout=2))  # idle: handshake pending
        slow = socket.create_connection((HOST, plain.port), timeout=2)
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")  # slowloris in mid-request
        sockets.append(slow)
    sockets.append(_non_reader(plain.port))  # blocked writing
    assert _wait_until(lambda: plain.live_connections == 11 and tls.live_connections == 10, 2)
    started = time.monotonic()
    assert plain.stop(timeout=2) and tls.stop(timeout=2)
    assert time.monotonic() - started < 2.5
    assert not _server_threads(), _server_threads()
    with pytest.raises(OSError):
        socket.create_connection((HOST, plain.port), timeout=1)


# ----------------------------------------------------------------------------------------------- sizes and syntax


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /metrics?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /metrics?" + b"a" * 9000, 414),  # no line end at all yet
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-H: 1\r\n" * 150 + b"\r\n", 431),
        (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 413),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\n folded: header\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET /metrics\r\n\r\n", 400),  # HTTP/0.9
        (b"GET  /metrics HTTP/1.1\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS ClientHello to the plain port
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"GET /metrics HTTP/1.1\r\n\r\nincomplete", 200),
    ],
    ids=lambda v: v.decode("latin-1")[:24] if isinstance(v, bytes) else str(v),
)
def test_oversized_and_malformed_requests_get_4xx_and_the_server_lives(serve, request_bytes, status):
    server = serve()
    got, headers, _ = _raw(server.port, request_bytes)
    assert got == status
    assert headers.get("connection") == "close"
    assert _get(server.url)[0] == 200


# ----------------------------------------------------------------------------------------------- hostile scrapes


HOSTILE = [
    ("openmetrics version=abc", b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=abc\r\n\r\n"),
    ("openmetrics version==", b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version==\r\n\r\n"),
    ("accept 4k commas", b"GET /metrics HTTP/1.1\r\nAccept: " + b",;=" * 2500 + b"\r\n\r\n"),
    ("accept non-latin bytes", b"GET /metrics HTTP/1.1\r\nAccept: \xff\xfe\xc3(application/openmetrics-text\r\n\r\n"),
    ("accept-encoding junk", b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip;q=\xff, *;;;\r\n\r\n"),
    ("query 7k", b"GET /metrics?" + b"name[]=x&" * 780 + b" HTTP/1.1\r\n\r\n"),
    ("query bad percent", b"GET /metrics?name[]=%ff%fe%ZZ&%%%=&&& HTTP/1.1\r\n\r\n"),
    ("path non-utf8", b"GET /metrics\xff\xfe HTTP/1.1\r\n\r\n"),
    ("path percent non-utf8", b"GET /%ff%fe%c3%28 HTTP/1.1\r\n\r\n"),
    ("path absolute-form", b"GET http://evil.example/metrics HTTP/1.1\r\n\r\n"),
    ("path asterisk", b"OPTIONS * HTTP/1.1\r\n\r\n"),
    ("HEAD", b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("POST", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
    ("DELETE", b"DELETE /metrics HTTP/1.1\r\n\r\n"),
    ("lowercase get", b"get /metrics HTTP/1.1\r\n\r\n"),
    ("HTTP/1.0 no Host", b"GET /metrics HTTP/1.0\r\n\r\n"),
    ("duplicate Authorization", b"GET /metrics HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n"),
    ("underscore header", b"GET /metrics HTTP/1.1\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n"),
    ("leading blank lines", b"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"),
]


@pytest.mark.parametrize(("label", "request_bytes"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_scrapes_never_get_500_and_the_server_lives(label, request_bytes):
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    _record()
    port = telemetry.metrics_server.port
    status, headers, body = _raw(port, request_bytes)
    assert 200 <= status < 500, (status, body[:200])
    if label == "HEAD":
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    if label in ("POST", "DELETE", "lowercase get"):
        assert status == 405
    if label == "HTTP/1.0 no Host":
        assert status == 200 and CATALOG_METRIC.encode() in body
    if label.startswith("openmetrics"):
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    status, body = _get(telemetry.metrics_url)
    assert status == 200 and CATALOG_METRIC.encode() in body


def test_openmetrics_content_type_never_echoes_the_clients_version():
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    _record()
    accept = "application/openmetrics-text; version=1.9.9-evil; charset=utf-8"
    status, headers, body = _raw(
        telemetry.metrics_server.port, f"GET /metrics HTTP/1.1\r\nAccept: {accept}\r\n\r\n".encode()
    )
    assert status == 200
    assert headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert body.rstrip().endswith(b"# EOF")


def test_hostile_tls_clients_leave_the_tls_server_serving(serve, tls_files):
    cert, key, context = tls_files
    server = serve(tls=MetricsServer.tls_context(str(cert), str(key)))
    for garbage in (b"GET /metrics HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello" + b"\x00" * 100):
        answer = _raw_bytes(server.port, garbage)  # closed, at most a TLS alert record: never plaintext HTTP
        assert b"HTTP/" not in answer and len(answer) < 64
    status, body = _get(server.url, context=context)
    assert status == 200 and CATALOG_METRIC.encode() in body
    assert _wait_until(lambda: server.live_connections == 0, 1)


def test_limits_are_validated():
    with pytest.raises(ValueError, match="header_timeout"):
        MetricsServer.start(HOST, 0, endpoint_app(runtime.active_registry), header_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        MetricsServer.start(HOST, 0, endpoint_app(runtime.active_registry), max_connections=True)
    assert not _server_threads()
