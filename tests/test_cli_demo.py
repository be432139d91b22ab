"""`lukhas-obs demo`: the README's main job, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.scrape import scrape


def _demo(*args: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "lukhas_obs.cli", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.e2e
def test_demo_runs_a_bounded_workload_and_writes_traces(tmp_path):
    traces = tmp_path / "traces.jsonl"
    proc = _demo("--iterations", "20", "--port", "0", "--traces-file", str(traces))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "done: 20 iterations" in out
    assert "metrics: http://127.0.0.1:" in out
    names = {
        span["name"]
        for line in traces.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    }
    assert {"memory.add_event", "memory.query", "consciousness.reflect", "consciousness.dream.step"} <= names


@pytest.mark.e2e
def test_demo_serves_metrics_and_exits_zero_on_sigterm(tmp_path):
    proc = _demo("--duration", "0", "--port", "0", "--traces-file", str(tmp_path / "t.jsonl"))
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "metrics: http" in line:
                url = line.split("metrics:", 1)[1].strip()
        assert url, "the demo never printed its /metrics URL"
        deadline = time.monotonic() + 20
        body = ""
        while "lukhas_memory_search_seconds_bucket" not in body and time.monotonic() < deadline:
            time.sleep(0.3)
            body = scrape(url).body
        assert "lukhas_memory_search_seconds_bucket" in body
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "telemetry flushed=True" in out
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_demo_rejects_bad_settings_with_a_clear_message():
    proc = _demo("--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-protocol", "carrier-pigeon", "--iterations", "1")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "otlp_protocol='carrier-pigeon'" in out and "grpc, http/protobuf" in out
