"""Test helpers for the real Prometheus server and promtool: find the binaries, run processes with bounded waits.

Every wait here has a deadline and every process is stopped by its own PID (SIGTERM, bounded wait, SIGKILL), so a
hung component fails the test instead of hanging the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def require_binary(name: str) -> str:
    """Path of ``name`` on PATH. Missing: ``pytest.skip`` locally, but fail under CI (``CI`` set): it must exist."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian: apt-get install -y prometheus)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must provide it")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout+stderr to ``log_path`` (read it when something fails)."""
    log = open(log_path, "wb")  # noqa: SIM115 - the child owns it; closed in stop_process
    try:
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    except BaseException:
        log.close()
        raise
    proc._lukhas_log = log  # type: ignore[attr-defined]
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """SIGTERM the process by PID, wait at most ``timeout`` s, then SIGKILL; returns its exit code."""
    try:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        return proc.returncode
    finally:
        log = getattr(proc, "_lukhas_log", None)
        if log is not None:
            log.close()


def tail(path: Path, limit: int = 4000) -> str:
    """The end of a log file, for failure messages."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T:
    """Call ``probe`` until it returns something truthy or ``timeout`` passes (then ``pytest.fail`` naming ``what``)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> str:
    """GET ``url`` and return the body as text."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode("utf-8")


class PrometheusApi:
    """The few HTTP API calls the tests need, against one server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _call(self, path: str, params: dict[str, str] | None = None, post: bool = False) -> Any:
        data = urllib.parse.urlencode(params or {})
        url = f"{self.base_url}{path}"
        if post:
            req = urllib.request.Request(url, data=data.encode(), method="POST")
        else:
            req = urllib.request.Request(f"{url}?{data}" if data else url)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read().decode("utf-8"))
        if body.get("status") != "success":
            raise ValueError(f"{path} {params}: {body}")
        return body["data"]

    def ready(self) -> bool:
        """True once ``/-/ready`` answers 200."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query result (vector), ``[]`` when it returns nothing."""
        data = self._call("/api/v1/query", {"query": expr}, post=True)
        return list(data["result"]) if data["resultType"] == "vector" else [data["result"]]

    def format_query(self, expr: str) -> str:
        """Prometheus's own canonical formatting of ``expr`` (raises ValueError on a parse error)."""
        return str(self._call("/api/v1/format_query", {"query": expr}, post=True))

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets."""
        return list(self._call("/api/v1/targets")["activeTargets"])

    def rule_groups(self) -> list[dict[str, Any]]:
        """Loaded rule groups with per-rule health."""
        return list(self._call("/api/v1/rules")["groups"])


def write_prometheus_config(path: Path, job: str, target: str, rule_files: Sequence[Path]) -> Path:
    """A minimal config: 1 s scrape and evaluation, one static target, the given rule files (absolute paths)."""
    import yaml

    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_tool(argv: Sequence[str], cwd: Path | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run a short-lived tool (promtool) with a timeout, capturing its output."""
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
