"""A small, hardened HTTP/1.x server for the built-in ``/metrics`` endpoint (plain or TLS), running a WSGI app.

Why not ``wsgiref``/``socketserver``: with TLS the handshake ran inside ``accept()`` on the single server thread with
no timeout, so one idle TCP connection blocked every scrape and ``shutdown()``; plain HTTP gave every connection a
thread with no timeout at all (500 half-sent requests held 500 threads). Here:

- one acceptor thread only accepts; the TLS handshake, request reads and the response write happen in a daemon worker
  thread per connection;
- every phase has an absolute deadline (handshake, request line + headers, body, response write), enforced twice: the
  socket timeout of each operation is the time left, and the acceptor's reaper shuts a late connection's socket down
  from outside (so a client trickling one byte per second, or never reading its response, cannot outlive it);
- at most ``max_connections`` connections hold a worker. When a new connection arrives at the cap, the oldest
  connection that has not yet sent a complete request is evicted (idle and slow attackers make room for a scraper,
  whose request arrives in milliseconds); if every slot is serving a response, the new connection gets a ``503``
  written without a thread (plain HTTP) or is closed (TLS);
- request line and header section are bounded (``414``/``431``), bodies too (``413``); malformed requests get ``400``,
  unknown HTTP versions ``505``; one request per connection (``Connection: close``);
- :meth:`HardenedHTTPServer.stop` closes the listening socket and every live connection and joins every thread it
  started, within its timeout.

Nothing here raises into the host: errors on a connection close that connection.
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

_log = logging.getLogger("lukhas_obs")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_REAP_INTERVAL_S = 0.1
_ACCEPT_BURST = 64
_LINGER_S = 0.2
_SEND_CHUNK = 64 * 1024
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEADER_VALUE_FORBIDDEN = frozenset(b"\x00\r\n")


class _Limits:
    """Timeouts (seconds) and sizes (bytes) of one server; validated once at construction."""

    __slots__ = (
        "body_timeout",
        "handshake_timeout",
        "header_timeout",
        "max_body",
        "max_connections",
        "max_header_bytes",
        "max_headers",
        "max_request_line",
        "send_timeout",
    )

    # Declared for the type checker; set (validated) by ``__init__`` from its keyword arguments.
    body_timeout: float
    handshake_timeout: float
    header_timeout: float
    send_timeout: float
    max_body: int
    max_connections: int
    max_header_bytes: int
    max_headers: int
    max_request_line: int

    def __init__(self, **values: float) -> None:
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
                raise ValueError(f"{name} must be a positive finite number, got {type(value).__name__}")
            setattr(self, name, value)
        for name in ("max_connections", "max_request_line", "max_header_bytes", "max_headers", "max_body"):
            setattr(self, name, int(getattr(self, name)))


class HTTPError(Exception):
    """A request the server answers itself (status and short reason), without calling the app."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Connection:
    """One accepted connection: its socket (plain, then TLS), its phase and the deadline of that phase."""

    __slots__ = ("accepted", "deadline", "evicted", "peer", "phase", "sock", "thread")

    def __init__(self, sock: socket.socket, peer: Any, deadline: float) -> None:
        self.sock = sock
        self.peer = peer
        self.accepted = time.monotonic()
        self.deadline = deadline
        self.phase = "handshake"  # handshake -> request -> respond -> done
        self.evicted = False
        self.thread: threading.Thread | None = None

    def cut(self) -> None:
        """Shut the socket down from another thread: wakes a worker blocked in recv/send/handshake (never close here).

        Called with the server lock held; the worker closes its socket under the same lock, so the fd cannot have been
        closed and reused by another file in between."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the raw fd, bypassing SSLSocket's own shutdown


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


class HardenedHTTPServer:
    """Serve ``app`` (WSGI) on ``host:port``, optionally over TLS, with bounded threads, time and sizes per request."""

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApp,
        tls: ssl.SSLContext | None = None,
        *,
        handshake_timeout: float = 5.0,
        header_timeout: float = 5.0,
        body_timeout: float = 5.0,
        send_timeout: float = 10.0,
        max_connections: int = 64,
        max_request_line: int = 8192,
        max_header_bytes: int = 8192,
        max_headers: int = 100,
        max_body: int = 65536,
        backlog: int = 128,
    ) -> None:
        """Bind and listen now (``OSError`` when the port is taken); serve after :meth:`start`."""
        self.limits = _Limits(
            handshake_timeout=handshake_timeout,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            send_timeout=send_timeout,
            max_connections=max_connections,
            max_request_line=max_request_line,
            max_header_bytes=max_header_bytes,
            max_headers=max_headers,
            max_body=max_body,
        )
        self.app = app
        self.tls = tls
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=backlog)
        self._listener.setblocking(False)
        address = self._listener.getsockname()
        self.host: str = address[0]
        self.port: int = int(address[1])
        self.server_name = host
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()
        self._live: dict[int, _Connection] = {}  # id(conn) -> conn; every connection whose worker has not finished
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._warned_accept = False

    # ----------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the acceptor thread (daemon)."""
        self._acceptor = threading.Thread(target=self._accept_loop, name="lukhas-obs-metrics", daemon=True)
        self._acceptor.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop accepting, cut every live connection and join every thread; True when all ended within ``timeout``."""
        deadline = time.monotonic() + max(0.0, timeout)
        self._stopping.set()
        self._wake()
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(max(0.0, deadline - time.monotonic()))
        self._close_listener()
        with self._lock:
            connections = list(self._live.values())
            for conn in connections:
                conn.cut()
        for conn in connections:
            thread = conn.thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [c for c in connections if c.thread is not None and c.thread.is_alive()]
        acceptor_alive = self._acceptor is not None and self._acceptor.is_alive()
        for sock in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
        return not alive and not acceptor_alive

    @property
    def live_connections(self) -> int:
        """Connections currently holding a worker (for tests and self-observation)."""
        with self._lock:
            return len(self._live)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _close_listener(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    # ------------------------------------------------------------------------------------------------ acceptor

    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._listener, selectors.EVENT_READ, "listener")
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            while not self._stopping.is_set():
                for key, _ in selector.select(_REAP_INTERVAL_S):
                    if key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif not self._stopping.is_set():
                        self._accept_burst()
                self._reap()
        except Exception as exc:  # never let the thread die with a traceback on the host's stderr
            _log.warning("lukhas_obs: the /metrics server stopped accepting (%s)", type(exc).__name__)
        finally:
            selector.close()
            self._close_listener()

    def _accept_burst(self) -> None:
        for _ in range(_ACCEPT_BURST):
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE/ENFILE/ENOBUFS: back off instead of spinning
                if not self._warned_accept:
                    self._warned_accept = True
                    _log.warning("lukhas_obs: /metrics cannot accept connections (%s)", exc.strerror or exc)
                time.sleep(_REAP_INTERVAL_S)
                return
            self._admit(sock, peer)

    def _admit(self, sock: socket.socket, peer: Any) -> None:
        """Give the connection a worker, evicting the oldest unfinished request at the cap, or refuse it."""
        now = time.monotonic()
        first_deadline = now + (self.limits.handshake_timeout if self.tls is not None else self.limits.header_timeout)
        conn = _Connection(sock, peer, first_deadline)
        conn.phase = "handshake" if self.tls is not None else "request"
        with self._lock:
            holding = [c for c in self._live.values() if not c.evicted]
            victim = None
            if len(holding) >= self.limits.max_connections:
                waiting = [c for c in holding if c.phase in ("handshake", "request")]
                victim = min(waiting, key=lambda c: c.accepted) if waiting else None
                if victim is None or len(self._live) >= 2 * self.limits.max_connections:
                    victim = None
                    refuse = True
                else:
                    victim.evicted = True
                    refuse = False
            else:
                refuse = False
            if not refuse:
                self._live[id(conn)] = conn
            if victim is not None:
                victim.cut()
        if refuse:
            self._refuse(sock)
            return
        thread = threading.Thread(target=self._serve, args=(conn,), name="lukhas-obs-metrics-conn", daemon=True)
        conn.thread = thread
        try:
            thread.start()
        except RuntimeError:  # cannot start new thread
            with self._lock:
                self._live.pop(id(conn), None)
            self._refuse(sock)

    def _refuse(self, sock: socket.socket) -> None:
        """Answer 503 without a thread (plain HTTP; one non-blocking send) or just close (TLS)."""
        try:
            if self.tls is None:
                sock.setblocking(False)
                sock.send(_BUSY_RESPONSE)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _reap(self) -> None:
        """Cut connections past their phase deadline (the worker then finishes and releases its slot)."""
        now = time.monotonic()
        with self._lock:
            for conn in self._live.values():
                if conn.deadline <= now and conn.phase != "done":
                    conn.cut()

    # ------------------------------------------------------------------------------------------------- worker

    def _serve(self, conn: _Connection) -> None:
        try:
            if self.tls is not None:
                self._handshake(conn)
            self._enter(conn, "request", self.limits.header_timeout)
            try:
                head, rest = self._read_head(conn)
                method, target, version, headers = self._parse_head(head)
                self._enter(conn, "request", self.limits.body_timeout)
                body = self._read_body(conn, headers, rest)
            except HTTPError as err:
                self._enter(conn, "respond", self.limits.send_timeout)
                self._send_error(conn, err.status, err.detail)
                return
            self._enter(conn, "respond", self.limits.send_timeout)
            status, response_headers, payload = self._call_app(method, target, version, headers, body)
            self._send_response(conn, status, response_headers, b"" if method == "HEAD" else payload, len(payload))
        except (OSError, ssl.SSLError, TimeoutError, ValueError):
            pass  # the client went away, was too slow, or was cut by the reaper/eviction/stop: drop the connection
        except Exception as exc:  # a bug here must not kill the thread noisily nor leak the slot
            _log.warning("lukhas_obs: /metrics connection failed (%s)", type(exc).__name__)
        finally:
            with self._lock:  # under the lock: no cut() can race with the fd being closed and reused
                conn.phase = "done"
                with contextlib.suppress(OSError):
                    conn.sock.close()
                self._live.pop(id(conn), None)

    def _enter(self, conn: _Connection, phase: str, budget: float) -> None:
        """Move to ``phase`` with a fresh deadline, atomically with eviction (an evicted connection goes no further)."""
        with self._lock:
            if conn.evicted or self._stopping.is_set():
                raise TimeoutError("evicted or stopping")
            conn.phase = phase
            conn.deadline = time.monotonic() + budget

    def _handshake(self, conn: _Connection) -> None:
        assert self.tls is not None
        conn.sock.settimeout(_remaining(conn.deadline))
        with self._lock:  # wrap_socket detaches the plain socket object: the fd now belongs to tls_sock
            tls_sock = self.tls.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False)
            conn.sock = tls_sock
        if self._stopping.is_set() or conn.evicted:
            raise TimeoutError("stopping")
        tls_sock.settimeout(_remaining(conn.deadline))
        tls_sock.do_handshake()

    def _recv(self, conn: _Connection, size: int) -> bytes:
        conn.sock.settimeout(_remaining(conn.deadline))
        data = conn.sock.recv(size)
        if conn.evicted or self._stopping.is_set():
            raise TimeoutError("cut")
        return data

    def _read_head(self, conn: _Connection) -> tuple[bytes, bytes]:
        """Read up to the blank line ending the headers; bounded in bytes (414/431) and in time (the deadline)."""
        limits = self.limits
        buffer = bytearray()
        scanned = 0
        while True:
            end = buffer.find(b"\r\n\r\n", max(0, scanned - 3))
            if end >= 0:
                return bytes(buffer[:end]), bytes(buffer[end + 4 :])
            scanned = len(buffer)
            line_end = buffer.find(b"\r\n")
            if line_end < 0 and len(buffer) > limits.max_request_line:
                raise HTTPError(414, "request line too long")
            if line_end > limits.max_request_line:
                raise HTTPError(414, "request line too long")
            if len(buffer) > limits.max_request_line + limits.max_header_bytes:
                raise HTTPError(431, "request headers too large")
            chunk = self._recv(conn, 4096)
            if not chunk:
                if not buffer.strip():
                    raise ConnectionResetError("closed before a request")
                raise HTTPError(400, "incomplete request")
            buffer += chunk

    def _parse_head(self, head: bytes) -> tuple[str, bytes, str, list[tuple[str, str]]]:
        limits = self.limits
        lines = head.split(b"\r\n")
        while lines and not lines[0]:  # RFC 9112: ignore empty lines before the request line
            lines.pop(0)
        if not lines:
            raise HTTPError(400, "empty request")
        request_line = lines[0]
        if len(request_line) > limits.max_request_line:
            raise HTTPError(414, "request line too long")
        parts = request_line.split(b" ")
        if len(parts) != 3:
            raise HTTPError(400, "malformed request line")
        raw_method, target, raw_version = parts
        if not raw_method or len(raw_method) > 16 or not all(c in _TOKEN for c in raw_method):
            raise HTTPError(400, "malformed method")
        if raw_version not in (b"HTTP/1.0", b"HTTP/1.1"):
            if raw_version.startswith(b"HTTP/") and len(raw_version) <= 16:
                raise HTTPError(505, "only HTTP/1.0 and HTTP/1.1 are served")
            raise HTTPError(400, "malformed request line")
        if not target or any(c <= 0x20 or c == 0x7F for c in target):
            raise HTTPError(400, "malformed request target")
        header_lines = lines[1:]
        if len(header_lines) > limits.max_headers:
            raise HTTPError(431, "too many request headers")
        if sum(len(line) + 2 for line in header_lines) > limits.max_header_bytes:
            raise HTTPError(431, "request headers too large")
        headers: list[tuple[str, str]] = []
        for line in header_lines:
            name, sep, value = line.partition(b":")
            if not sep or not name or not all(c in _TOKEN for c in name):
                raise HTTPError(400, "malformed header")  # also obs-fold (a line starting with whitespace)
            value = value.strip(b" \t")
            if any(c in _HEADER_VALUE_FORBIDDEN for c in value):
                raise HTTPError(400, "malformed header")
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
        return raw_method.decode("ascii"), target, raw_version.decode("ascii"), headers

    def _read_body(self, conn: _Connection, headers: list[tuple[str, str]], rest: bytes) -> bytes:
        lengths = [v for k, v in headers if k == "content-length"]
        if any(k == "transfer-encoding" for k, _ in headers):
            raise HTTPError(400, "request bodies with Transfer-Encoding are not accepted")
        if not lengths:
            return b""
        if len(set(lengths)) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
            raise HTTPError(400, "malformed Content-Length")
        length = int(lengths[0])
        if length > self.limits.max_body:
            raise HTTPError(413, "request body too large")
        body = bytearray(rest[:length])
        while len(body) < length:
            chunk = self._recv(conn, min(65536, length - len(body)))
            if not chunk:
                raise ConnectionResetError("closed during the body")
            body += chunk
        return bytes(body)

    def _environ(
        self, method: str, target: bytes, version: str, headers: list[tuple[str, str]], body: bytes
    ) -> dict[str, Any]:
        """A PEP 3333 environ. Path bytes are percent-decoded as latin-1 (any byte is representable, never raises)."""
        raw = target.decode("latin-1")
        if raw.startswith(("http://", "https://")):  # absolute-form: keep the path
            raw = "/" + raw.split("//", 1)[1].partition("/")[2]
        path, _, query = raw.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": str(self.port),
            "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.tls is not None else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if "_" in name:  # never let "x_forwarded" shadow "x-forwarded" (header smuggling via underscores)
                continue
            if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
                environ[key] = value
                continue
            key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call_app(
        self, method: str, target: bytes, version: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        environ = self._environ(method, target, version, headers, body)
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            captured["headers"] = list(response_headers)
            return written.append

        try:
            result = self.app(environ, start_response)
            try:
                chunks = [bytes(chunk) for chunk in result]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            parts = written + chunks
            payload = parts[0] if len(parts) == 1 else b"".join(parts)  # no copy of a one-chunk body
            status = str(captured["status"])
            response_headers = captured["headers"]
        except Exception as exc:
            _log.warning("lukhas_obs: the /metrics app failed (%s)", type(exc).__name__)
            return "500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")], b"internal error\n"
        return status, response_headers, payload

    def _send_error(self, conn: _Connection, status: int, detail: str) -> None:
        body = f"{status} {HTTPStatus(status).phrase}: {detail}\n".encode()
        self._send_response(
            conn, f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "text/plain; charset=utf-8")], body,
            len(body),
        )

    def _send_response(
        self, conn: _Connection, status: str, headers: list[tuple[str, str]], payload: bytes, length: int
    ) -> None:
        lines = [f"HTTP/1.1 {status}"]
        for name, value in headers:
            if name.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            lines.append(f"{name}: {value}")
        lines += [f"Content-Length: {length}", "Connection: close", "", ""]
        head = "\r\n".join(lines).encode("latin-1", "replace")
        self._send_all(conn, head + payload if len(payload) < _SEND_CHUNK else head)
        if len(payload) >= _SEND_CHUNK:
            self._send_all(conn, payload)
        self._linger(conn)

    def _send_all(self, conn: _Connection, data: bytes) -> None:
        """Write everything before the response deadline; a client that does not read is cut at the deadline."""
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            conn.sock.settimeout(_remaining(conn.deadline))
            sent += conn.sock.send(view[sent : sent + _SEND_CHUNK])
            if conn.evicted or self._stopping.is_set():
                raise TimeoutError("cut")

    def _linger(self, conn: _Connection) -> None:
        """Half-close, then drain briefly, so unread request bytes do not turn the close into a reset."""
        if self.tls is not None:
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            until = min(conn.deadline, time.monotonic() + _LINGER_S)
            drained = 0
            while drained < 65536:
                conn.sock.settimeout(_remaining(until))
                chunk = conn.sock.recv(4096)
                if not chunk:
                    return
                drained += len(chunk)
        except (OSError, TimeoutError):
            pass


_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
)
