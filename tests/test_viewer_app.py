"""The viewer over real HTTP on 127.0.0.1: live panels from the process's own data, auth, TLS, Host checks,
headers, static files, hostile requests, the command line, and Prometheus as the data source."""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import lukhas_obs
from lukhas_obs.systems import system
from lukhas_obs.viewer import ViewerOptions, build_viewer, register_cli, start_viewer
from lukhas_obs.viewer.app import CONTENT_SECURITY_POLICY
from tests.support.prometheus import free_port, require_binary, start_process, stop_process, tail

TOKEN = "s3cret-viewer-token-0123456789"


def request(viewer: Any, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
            host: str | None = None, tls: Any = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    if tls is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", viewer.port, timeout=10,
                                                                       context=tls)  # fmt: skip
    else:
        conn = http.client.HTTPConnection("127.0.0.1", viewer.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{viewer.port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get_json(viewer: Any, path: str, **kwargs: Any) -> Any:
    status, _, body = request(viewer, path, **kwargs)
    assert status == 200, body[:300]
    return json.loads(body)


@pytest.fixture
def live(tmp_path: Path):
    """The LUKHΛS core demo workload in this process, and a viewer of its own data sampled every 0.2 s."""
    lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "traces.jsonl")
    workload = system("lukhas_core").load_workload()
    viewer = start_viewer(port=0, interval=0.2, history=120, systems=["lukhas_core"])
    assert viewer is not None
    try:
        for i in range(8):
            workload.step(i)
            time.sleep(0.1)
        lukhas_obs.force_flush()
        time.sleep(0.5)
        yield viewer
    finally:
        assert viewer.stop(5.0)


def test_every_core_panel_has_data_from_the_process_itself(live: Any) -> None:
    meta = get_json(live, "/api/dashboards")
    assert [d["uid"] for d in meta["dashboards"]] == ["lukhas-t4-core"]
    assert meta["metrics"]["source"] == "history" and meta["metrics"]["from"] == "this process"
    data = get_json(live, "/api/data?uid=lukhas-t4-core&range=300")
    assert data["variables"]["lane"]["value"] == "candidate" and data["variables"]["service"]["value"] == "lukhas"
    panels = [p for row in meta["dashboards"][0]["rows"] for p in row["panels"]]
    assert len(panels) == len(system("lukhas_core").register()[0].dashboards[0].panels()) == 12
    for panel in panels:
        for query in data["panels"][str(panel["id"])]["queries"]:
            assert query["error"] is None, (panel["title"], query)
            assert query["series"], (panel["title"], query["ref"])
            values = [v for s in query["series"] for _, v in s["points"]]
            assert any(isinstance(v, float | int) for v in values), (panel["title"], values[-5:])
    exemplars = [e for p in data["panels"].values() for e in p["exemplars"]]
    assert exemplars and all(len(e["trace_id"]) == 32 for e in exemplars)
    assert any(e["known"] for e in exemplars)  # an exemplar links to a trace the file holds


def test_the_page_and_its_files_are_served_with_strict_headers(live: Any) -> None:
    status, headers, body = request(live, "/")
    assert status == 200 and b"/static/viewer.js" in body and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    for path in ("/static/viewer.js", "/static/vendor/uplot/uPlot.iife.min.js", "/static/vendor/uplot/LICENSE"):
        status, headers, body = request(live, path)
        assert status == 200 and body, path
    assert b"MIT License" in request(live, "/static/vendor/uplot/LICENSE")[2]
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static//etc/passwd", "/static/",
                 "/../../etc/passwd", "/api/nothing"):  # fmt: skip
        assert request(live, path)[0] == 404, path


def test_loopback_only_host_names(live: Any) -> None:
    for host in (f"127.0.0.1:{live.port}", f"localhost:{live.port}", "localhost", f"[::1]:{live.port}"):
        assert request(live, "/api/status", host=host)[0] == 200, host
    for host in ("evil.example", f"evil.example:{live.port}", "127.0.0.1.evil.example", "", "[::1"):
        assert request(live, "/api/status", host=host)[0] == 421, host


def test_methods_and_hostile_queries(live: Any) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        status, headers, _ = request(live, "/api/data", method=method)
        assert status == 405 and headers["allow"] == "GET, HEAD"
    assert request(live, "/api/data?uid=nope")[0] == 404
    hostile = [
        "/api/data?uid=lukhas-t4-core&range=nan&end=inf",
        "/api/data?uid=lukhas-t4-core&range=-5&end=-1e308",
        "/api/data?uid=lukhas-t4-core&var-lane=%22%7D%20or%20vector(1)%20or%20x%7Ba%3D%22",
        "/api/data?" + "&".join(f"var-x{i}=1" for i in range(500)),
        "/api/data?uid=" + "A" * 100_000,
        "/api/traces?limit=99999999999&min_duration=abc&trace_id=zz%00",
        "/api/traces?name=" + "*" * 400,
        "/api/trace?id=../../etc/passwd",
        "/api/trace?id=" + "0" * 32,
        "/api/data?uid=lukhas-t4-core&%ZZ=%ZZ",
    ]
    for path in hostile:
        status, _, body = request(live, path)
        assert status in (200, 400, 404, 414), (path[:80], status)
        if status == 200:
            json.loads(body)
    data = get_json(live, "/api/data?uid=lukhas-t4-core&var-lane=%22%7D%20or%20vector(1)")
    assert data["variables"]["lane"]["value"] == "candidate"  # a value the data does not have falls back


def test_traces_api_matches_the_trace_file(live: Any) -> None:
    doc = get_json(live, "/api/traces?limit=5")
    assert doc["total"] >= 1 and len(doc["traces"]) <= 5
    first = doc["traces"][0]
    detail = get_json(live, f"/api/trace?id={first['trace_id']}")
    assert detail["trace_id"] == first["trace_id"] and detail["span_list"][0]["depth"] == 0
    assert len(detail["span_list"]) == first["spans"]
    only = get_json(live, f"/api/traces?trace_id={first['trace_id'][:8]}")
    assert [t["trace_id"] for t in only["traces"]] == [first["trace_id"]]


def test_credentials_of_the_metrics_endpoint_protect_the_viewer(tmp_path: Path) -> None:
    lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl", metrics_bearer_token=TOKEN,
                         metrics_basic_auth=("ada", "correct horse battery"))  # fmt: skip
    viewer = start_viewer(port=0, interval=0.2, systems=["lukhas_core"])
    assert viewer is not None
    try:
        status, headers, body = request(viewer, "/api/dashboards")
        assert status == 401 and headers["www-authenticate"].startswith("Basic") and TOKEN.encode() not in body
        assert request(viewer, "/", headers={"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        assert request(viewer, "/api/dashboards", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        basic = base64.b64encode(b"ada:correct horse battery").decode()
        status, _, body = request(viewer, "/api/status", headers={"Authorization": f"Basic {basic}"})
        assert status == 200 and TOKEN.encode() not in body and b"correct horse" not in body
        assert request(viewer, "/health")[0] == 200  # liveness stays open, like the metrics server's
    finally:
        viewer.stop()


def test_tls_from_the_metrics_settings(tmp_path: Path) -> None:
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate here")
    settings = lukhas_obs.resolve_settings(metrics_tls_cert=str(cert), metrics_tls_key=str(key))
    viewer = build_viewer(ViewerOptions(port=0, settings=settings, scrape_url="http://127.0.0.1:1/metrics",
                                        systems=["lukhas_core"]))  # fmt: skip
    viewer.start()
    try:
        assert viewer.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        assert request(viewer, "/health", tls=context)[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            request(viewer, "/health")  # plain HTTP to a TLS port gets nothing
    finally:
        viewer.stop()


def test_idle_clients_do_not_block_the_page(live: Any) -> None:
    idle = [socket.create_connection(("127.0.0.1", live.port), timeout=5) for _ in range(40)]
    try:
        started = time.monotonic()
        assert request(live, "/api/status")[0] == 200
        assert time.monotonic() - started < 3
    finally:
        for sock in idle:
            sock.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lukhas-obs")
    register_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def test_command_line_options_are_validated_early() -> None:
    parser = _parser()
    for bad in (["--port", "70000"], ["--interval", "0"], ["--interval", "nan"], ["--history", "forever"],
                ["--url", "http://x", "--prometheus", "http://y"]):  # fmt: skip
        with pytest.raises(SystemExit):
            parser.parse_args(["view", *bad])
    from lukhas_obs.viewer import options_from_args

    args = parser.parse_args(["view", "--url", "ftp://example/metrics", "--port", "0"])
    with pytest.raises(lukhas_obs.ConfigurationError, match="url"):
        build_viewer(options_from_args(args))
    args = parser.parse_args(["view", "--system", "no_such_system", "--port", "0"])
    with pytest.raises(ValueError, match="unknown system 'no_such_system'"):
        build_viewer(options_from_args(args))
    args = parser.parse_args(["view", "--prometheus", "http://u:pa55word@127.0.0.1:1", "--port", "0"])
    viewer = build_viewer(options_from_args(args))
    assert "pa55word" not in json.dumps(viewer.source.status())
    secret_url = "http://ada:pa55word@127.0.0.1:1/metrics?token=t0ken-value"
    args = parser.parse_args(["view", "--url", secret_url, "--port", "0"])
    viewer = build_viewer(options_from_args(args))
    assert viewer.sampler is not None and not viewer.sampler.sample_once()
    shown = json.dumps(viewer.source.status())
    assert "pa55word" not in shown and "t0ken-value" not in shown and "ada:" not in shown, shown
    defaults = options_from_args(parser.parse_args(["view"]))
    assert defaults.scrape_url == "http://127.0.0.1:9109/metrics" and defaults.host == "127.0.0.1"


def test_view_command_runs_and_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lukhas_obs.viewer import view_command

    args = _parser().parse_args(["view", "--port", "0", "--duration", "0.5", "--url", "http://127.0.0.1:1/metrics",
                                 "--traces-file", str(tmp_path / "none.jsonl"), "--system", "lukhas_core"])  # fmt: skip
    started = time.monotonic()
    assert view_command(args) == 0
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert "lukhas-obs view: http://127.0.0.1:" in err and "lukhas-t4-core" in err


def test_a_taken_port_is_an_error_for_the_command_and_a_warning_in_process(tmp_path: Path) -> None:
    from lukhas_obs.viewer import view_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = _parser().parse_args(["view", "--port", str(port), "--duration", "1", "--system", "lukhas_core"])
        assert view_command(args) == 2
        lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl")
        assert start_viewer(port=port, systems=["lukhas_core"]) is None


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_prometheus_as_the_source_gives_the_same_panels(tmp_path: Path) -> None:
    """Real Prometheus scrapes this process; the viewer asks it the dashboards' PromQL through query_range."""
    prometheus = require_binary("prometheus")
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_file=tmp_path / "t.jsonl")
    target = telemetry.metrics_url.split("//", 1)[1].split("/", 1)[0]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs: [{{job_name: viewer, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    port = free_port()
    proc = start_process(
        [prometheus, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'data'}"], tmp_path / "prometheus.log",
    )  # fmt: skip
    workload = system("lukhas_core").load_workload()
    viewer = None
    try:
        viewer = start_viewer(port=0, prometheus_url=f"http://127.0.0.1:{port}", systems=["lukhas_core"])
        assert viewer is not None
        deadline = time.monotonic() + 60
        i = 0
        missing: list[str] = []
        while time.monotonic() < deadline:
            workload.step(i)
            i += 1
            if i % 10:
                continue
            data = get_json(viewer, "/api/data?uid=lukhas-t4-core&range=300")
            missing = [
                pid for pid, p in data["panels"].items()
                if not all(q["series"] and not q["error"] for q in p["queries"])
            ]  # fmt: skip
            if not missing:
                break
            time.sleep(0.5)
        assert not missing, (missing, tail(tmp_path / "prometheus.log"))
        meta = get_json(viewer, "/api/dashboards")
        assert meta["metrics"]["source"] == "prometheus"
        assert all(q["problem"] is None for r in meta["dashboards"][0]["rows"] for p in r["panels"]
                   for q in p["queries"])  # fmt: skip
    finally:
        if viewer is not None:
            viewer.stop()
        stop_process(proc)
