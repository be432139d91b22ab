"""A real OpenTelemetry collector for tests: rotel (PyPI ``rotel``), run on loopback as a child process.

Usage::

    with OtlpReceiver("http") as rx, Rotel(rx.endpoint, "http", workdir=tmp_path) as collector:
        lukhas_obs.configure(otlp_endpoint=collector.endpoint("grpc"), otlp_protocol="grpc", ...)
        ...
        assert rx.wait_for(lambda r: len(r.spans()) >= 2)    # rotel batches ~200 ms: poll the receiving end

rotel receives OTLP gRPC and HTTP on two free 127.0.0.1 ports (or the ones given, so a test can bring a collector
"back" on the port the application has been failing to reach) and forwards OTLP to ``exporter_endpoint``.
It runs in the foreground as our child, so its PID is known without a race; ``stop()`` sends SIGTERM to that PID,
waits (bounded), then SIGKILL. rotel writes ``--pid-file`` only with ``--daemon``, which would detach it from us, so
the file is not relied on. Output goes to ``workdir/rotel.log``; :meth:`Rotel.log_text` returns it for failure
messages.

A missing or broken binary (it links ``libpython3.11.so.1.0``) raises :class:`RotelUnavailable`; tests turn that into
a skip outside CI and a failure under ``CI=true`` with :func:`unavailable`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["Rotel", "RotelUnavailable", "free_port", "rotel_binary", "start_or_skip", "unavailable"]


class RotelUnavailable(RuntimeError):
    """The rotel binary is missing or did not come up."""


def rotel_binary() -> str | None:
    """Path of ``rotel-agent`` inside the installed ``rotel`` package, or None."""
    try:
        import rotel
    except ImportError:
        return None
    path = Path(rotel.__file__).parent / "rotel-agent"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def unavailable(reason: str) -> None:
    """Skip outside CI; under CI (``CI`` set) a collector that cannot run is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"rotel is required in CI: {reason}")
    pytest.skip(f"rotel unavailable: {reason}")


def free_port() -> int:
    """A loopback port that was free a moment ago (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Rotel:
    """One rotel process: OTLP in on ``grpc_port``/``http_port``, OTLP out to ``exporter_endpoint``."""

    def __init__(
        self,
        exporter_endpoint: str,
        exporter_protocol: str = "grpc",
        *,
        workdir: str | os.PathLike[str],
        grpc_port: int | None = None,
        http_port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        if exporter_protocol not in ("grpc", "http"):
            raise ValueError(f"exporter_protocol must be grpc or http, not {exporter_protocol!r}")
        self.exporter_endpoint = exporter_endpoint
        self.exporter_protocol = exporter_protocol
        self.workdir = Path(workdir)
        self.ports_fixed = grpc_port is not None or http_port is not None
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.extra_args = extra_args
        self.log_path = self.workdir / "rotel.log"
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def endpoint(self, protocol: str) -> str:
        """Where the application sends OTLP: ``http://127.0.0.1:PORT`` for ``grpc`` or ``http``."""
        return f"http://127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"

    def command(self, binary: str) -> list[str]:
        return [
            binary,
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{self.grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{self.http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            self.exporter_endpoint,
            "--otlp-exporter-protocol",
            self.exporter_protocol,
            "--pid-file",
            str(self.workdir / "rotel.pid"),
            "--log-file",
            str(self.log_path),
            *self.extra_args,
        ]

    def start(self, timeout: float = 10.0) -> Rotel:
        """Start rotel and wait until both receivers accept connections; RotelUnavailable when it cannot."""
        binary = rotel_binary()
        if binary is None:
            raise RotelUnavailable("the rotel package (site-packages/rotel/rotel-agent) is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
            )
        self.pid = self._process.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RotelUnavailable(f"rotel exited with status {code} at start:\n{self.log_text()}")
            if _accepts(self.grpc_port) and _accepts(self.http_port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RotelUnavailable(f"rotel did not listen on ports {self.grpc_port}/{self.http_port} within {timeout}s")

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the PID, wait up to ``timeout``, then SIGKILL (and wait again, bounded). Returns the exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            try:
                return process.wait(5.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - an unkillable process; nothing more to do
                return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no rotel log)"

    def __enter__(self) -> Rotel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_or_skip(rotel: Rotel, attempts: int = 3) -> Rotel:
    """Start ``rotel``, retrying with fresh ports when one was taken meanwhile; skip/fail via :func:`unavailable`."""
    last = ""
    for _ in range(attempts):
        try:
            return rotel.start()
        except RotelUnavailable as exc:
            last = str(exc)
            if rotel.ports_fixed or rotel_binary() is None or "in use" not in last.lower():
                break
            rotel.grpc_port, rotel.http_port = free_port(), free_port()
    unavailable(last)
    raise AssertionError("unreachable")
