"""Multiprocess mode with real pre-fork servers: gunicorn (4 sync workers) and uvicorn (2 workers) run
tests/data/prefork_app.py with ``LUKHAS_MULTIPROCESS_DIR`` set; one scrape shows every request exactly once,
whichever worker answers it, a worker killed with SIGKILL loses nothing it recorded, and exemplars survive the
merge. Also: the configuration refusals, ``gauge_mode`` in catalogs, fork children of a configured parent, Info
in multiprocess mode and the ``lukhas-obs serve`` sidecar.

Every server listens on 127.0.0.1 and is stopped by PID (its workers too) in a ``finally``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

import lukhas_obs
from lukhas_obs import catalog
from lukhas_obs.catalog.load import load_catalog
from lukhas_obs.errors import CatalogError, ConfigurationError
from tests.support.prometheus import free_port, start_process, stop_process, tail, wait_for

DATA = Path(__file__).parent / "data"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def _samples(body: str, name: str, openmetrics: bool = False) -> list:
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    return [s for f in parse(body) for s in f.samples if s.name == name]


def _value(body: str, name: str, **labels: str) -> float | None:
    for sample in _samples(body, name):
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


def _get(url: str, accept: str | None = None, timeout: float = 5.0) -> str:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


def _children(pid: int) -> set[int]:
    """Direct children of ``pid`` (from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_", "OTEL_"))}
    env["LUKHAS_MULTIPROCESS_DIR"] = str(directory)
    env["PYTHONPATH"] = os.pathsep.join([str(DATA), env.get("PYTHONPATH", "")])
    return env


def _hits(base: str, count: int, threads: int = 8) -> dict[int, int]:
    """``count`` requests to /hit (one connection each, ``threads`` at a time): requests answered per worker pid."""

    def one(_: int) -> str:
        return _get(base + "/hit")

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(one, range(count)))
    per_pid: dict[int, int] = {}
    for answer in answers:
        word, pid = answer.split()
        assert word == "ok"
        per_pid[int(pid)] = per_pid.get(int(pid), 0) + 1
    assert sum(per_pid.values()) == count
    return per_pid


class _Server:
    """A pre-fork server on 127.0.0.1 in a temporary multiprocess directory; stopped (workers included) by PID."""

    def __init__(self, argv: list[str], directory: Path, log: Path, workers: int) -> None:
        self.proc = start_process(argv, log, env=_env(directory))
        self.log = log
        self.workers = workers
        self.seen: set[int] = set()

    def worker_pids(self) -> set[int]:
        pids = _children(self.proc.pid)
        self.seen |= pids
        return pids

    def stop(self) -> None:
        self.worker_pids()
        stop_process(self.proc, timeout=10)
        for pid in self.seen:  # a worker the master could not stop in time
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _wait_ready(server: _Server, base: str) -> None:
    def probe() -> bool:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited: {tail(server.log)}")
        live = _value(_get(base + "/metrics"), "lukhas_obs_multiprocess_processes", process_state="live")
        return live is not None and live >= server.workers  # every worker configured (and wrote its gauge)

    wait_for(f"{server.workers} workers on {base}", probe, timeout=40, interval=0.3)


# -- real servers --------------------------------------------------------------------------------------------------


def test_gunicorn_four_sync_workers_one_scrape_counts_every_request_and_a_killed_worker_loses_nothing(tmp_path):
    pytest.importorskip("gunicorn")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gunicorn", "--workers", "4", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "3", "--timeout", "30", "prefork_app:wsgi"]  # fmt: skip
    server = _Server(argv, tmp_path / "mp", tmp_path / "gunicorn.log", workers=4)
    try:
        _wait_ready(server, base)
        answered = _hits(base, 200, threads=8)
        assert set(answered) <= server.worker_pids() and len(answered) >= 2, answered  # spread over the workers
        body = _get(base + "/metrics")
        assert _value(body, "prefork_requests_total", route="hit") == 200
        assert _value(body, "prefork_request_duration_seconds_count", route="hit") == 200
        assert _value(body, "prefork_workers_up") == 4  # gauge_mode sum over the live workers
        om = _get(base + "/metrics", accept=OPENMETRICS)
        exemplars = [s.exemplar for s in _samples(om, "prefork_requests_total", openmetrics=True) if s.exemplar]
        assert exemplars and len(exemplars[0].labels["trace_id"]) == 32  # the span of one request, via the merge

        victim = sorted(server.worker_pids())[0]
        os.kill(victim, signal.SIGKILL)
        wait_for("a replacement worker", lambda: victim not in server.worker_pids()
                 and len(server.worker_pids()) == 4, timeout=30)  # fmt: skip
        _wait_ready(server, base)
        body = _get(base + "/metrics")
        assert _value(body, "prefork_requests_total", route="hit") == 200  # the dead worker's requests stay
        assert _value(body, "prefork_workers_up") == 4  # its gauge went with it; the replacement's counts
        _hits(base, 50, threads=8)
        body = _get(base + "/metrics")
        assert _value(body, "prefork_requests_total", route="hit") == 250
        assert _value(body, "prefork_request_duration_seconds_count", route="hit") == 250
        dead = _value(body, "lukhas_obs_multiprocess_processes", process_state="dead") or 0
        archived = _value(body, "lukhas_obs_multiprocess_processes", process_state="archived") or 0
        assert dead + archived == 1
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_gunicorn_preload_workers_forked_from_a_configured_master_count_every_request(tmp_path):
    """``--preload``: the master imports the app (and configures); each worker re-initialises after the fork and
    reuses the master's store, which opens the worker's own file (a shared mapping would lose increments)."""
    pytest.importorskip("gunicorn")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "3", "prefork_app:wsgi"]  # fmt: skip
    server = _Server(argv, tmp_path / "mp", tmp_path / "gunicorn.log", workers=1)  # the master's file is there
    try:
        wait_for("2 workers", lambda: len(server.worker_pids()) == 2, timeout=40)
        wait_for("/metrics", lambda: _get(base + "/metrics"), timeout=20)
        answered = _hits(base, 300, threads=8)
        assert set(answered) <= server.worker_pids(), answered
        body = _get(base + "/metrics")
        assert _value(body, "prefork_requests_total", route="hit") == 300
        assert _value(body, "prefork_request_duration_seconds_count", route="hit") == 300
        files = [n for n in os.listdir(tmp_path / "mp") if n.startswith("lkmp-") and n.endswith(".db")]
        assert len(files) == 1 + len(answered)  # the master's and one per worker that recorded
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_uvicorn_two_workers_through_the_sidecar_count_every_request(tmp_path):
    pytest.importorskip("uvicorn")
    directory = tmp_path / "mp"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
            "--timeout-graceful-shutdown", "3", "--no-access-log", "prefork_app:asgi"]  # fmt: skip
    server = _Server(argv, directory, tmp_path / "uvicorn.log", workers=2)
    stop = threading.Event()
    urls: list[str] = []
    try:
        _wait_ready(server, base)
        _hits(base, 120, threads=6)
        from lukhas_obs.serve import serve

        sidecar = threading.Thread(
            target=serve, args=(str(directory),), kwargs={"port": 0, "stop": stop, "ready": urls.append}, daemon=True
        )
        sidecar.start()
        url = wait_for("the sidecar", lambda: urls[0] if urls else None, timeout=10, interval=0.05)
        body = _get(url)  # a scrape of the sidecar: it recorded nothing itself
        assert _value(body, "prefork_requests_total", route="hit") == 120
        assert _value(body, "prefork_request_duration_seconds_count", route="hit") == 120
        assert _value(body, "prefork_workers_up") == 2
        # the two workers; the sidecar's own file joins them once it records self-telemetry of its own (a drop)
        assert _value(body, "lukhas_obs_multiprocess_processes", process_state="live") in (2, 3)
        assert _value(_get(base + "/metrics"), "prefork_requests_total", route="hit") == 120  # the app agrees
    finally:
        stop.set()
        server.stop()
    assert server.proc.returncode is not None


# -- one process and its fork children -----------------------------------------------------------------------------


@pytest.fixture
def prefork_catalog():
    sys.path.insert(0, str(DATA))
    try:
        import prefork_app  # noqa: F401 - registers the catalog (and configures; reconfigured by the tests)
    finally:
        sys.path.remove(str(DATA))
    yield sys.modules["prefork_app"]
    lukhas_obs.shutdown(timeout=5)


def test_fork_children_of_a_configured_parent_each_write_their_own_file_and_the_parent_serves_the_sum(
    tmp_path, prefork_catalog
):
    directory = tmp_path / "mp"
    lukhas_obs.configure(multiprocess_dir=directory, serve_metrics=False, traces_exporter="none", reconfigure=True)
    counter = lukhas_obs.counter("prefork_requests_total")
    counter.add(5, route="hit")  # the parent's series before the fork: the children must not write into its file
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                for _ in range(100):
                    counter.add(1, route="hit")
                lukhas_obs.shutdown(timeout=2)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    body, _ = lukhas_obs.render_exposition()
    text = body.decode()
    assert _value(text, "prefork_requests_total", route="hit") == 305
    assert len([n for n in os.listdir(directory) if n.startswith("lkmp-")]) >= 2  # own files (+ archive)


def test_info_in_multiprocess_mode_goes_through_the_store_once(tmp_path):
    doc = {
        "catalog": "prefork_info_test",
        "title": "info",
        "description": "Info in multiprocess mode.",
        "common_attributes": [],
        "attributes": {"build": {"description": "The build."}},
        "metrics": [
            {
                "name": "prefork_build_info",
                "otel_name": "prefork.build_info",
                "kind": "info",
                "unit": "",
                "description": "Build facts",
                "attributes": ["build"],
            }
        ],
    }
    catalog.register(load_catalog(doc))
    lukhas_obs.configure(multiprocess_dir=tmp_path / "mp", serve_metrics=False, traces_exporter="none")
    info = lukhas_obs.info("prefork_build_info")
    info.info(build="one")
    info.info(build="two")  # replaces the facts
    text = lukhas_obs.render_exposition()[0].decode()
    samples = _samples(text, "prefork_build_info")
    assert [(s.labels.get("build"), s.value) for s in samples] == [("two", 1.0)]
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: its facts are in its own file, merged by the parent
        try:
            os.close(ready_r)
            os.close(hold_w)
            info.info(build="child")
            os.write(ready_w, b"1")
            os.read(hold_r, 1)  # alive until the parent has scraped
        finally:
            os._exit(0)
    try:
        os.close(ready_w)
        os.close(hold_r)
        assert os.read(ready_r, 1) == b"1"
        text = lukhas_obs.render_exposition()[0].decode()
    finally:
        os.close(hold_w)
        os.waitpid(pid, 0)
        os.close(ready_r)
    builds = sorted(s.labels.get("build") for s in _samples(text, "prefork_build_info"))
    assert builds == ["child", "two"]  # every live process's facts, once each


# -- refusals ------------------------------------------------------------------------------------------------------


def test_multiprocess_dir_with_otlp_metrics_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(ConfigurationError, match="multiprocess_dir") as caught:
        lukhas_obs.configure(
            multiprocess_dir=tmp_path / "mp", metrics_exporter="otlp", otlp_endpoint="http://127.0.0.1:9",
            traces_exporter="none", serve_metrics=False,
        )  # fmt: skip
    assert "service.instance.id" in str(caught.value)
    assert lukhas_obs.active() is None


def test_multiprocess_dir_that_is_a_file_is_refused_naming_the_setting(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(ConfigurationError, match="multiprocess_dir"):
        lukhas_obs.configure(multiprocess_dir=target, serve_metrics=False, traces_exporter="none")
    assert lukhas_obs.active() is None


def test_multiprocess_dir_from_the_variable_is_used(tmp_path, monkeypatch, prefork_catalog):
    monkeypatch.setenv("LUKHAS_MULTIPROCESS_DIR", str(tmp_path / "env-mp"))
    telemetry = lukhas_obs.configure(serve_metrics=False, traces_exporter="none", reconfigure=True)
    assert telemetry.settings.multiprocess_dir == str(tmp_path / "env-mp")
    lukhas_obs.counter("prefork_requests_total").add(1, route="hit")
    assert any(n.startswith("lkmp-") for n in os.listdir(tmp_path / "env-mp"))


def test_gauge_mode_is_checked_in_catalogs():
    base = {"catalog": "gm_test", "title": "t", "description": "d", "common_attributes": []}
    gauge = {"name": "gm_level", "otel_name": "gm.level", "kind": "gauge", "unit": "1", "description": "Level"}
    spec = load_catalog({**base, "metrics": [{**gauge, "gauge_mode": "per_process"}]}).metrics[0]
    assert spec.gauge_mode == "per_process"
    assert load_catalog({**base, "metrics": [gauge]}).metrics[0].gauge_mode is None
    with pytest.raises(CatalogError, match="gauge_mode 'median' is not one of"):
        load_catalog({**base, "metrics": [{**gauge, "gauge_mode": "median"}]})
    counter = {"name": "gm_things_total", "otel_name": "gm.things", "kind": "counter", "unit": "1",
               "description": "Things", "gauge_mode": "sum"}  # fmt: skip
    with pytest.raises(CatalogError, match="only a gauge takes gauge_mode"):
        load_catalog({**base, "metrics": [counter]})


# -- the sidecar's command line ------------------------------------------------------------------------------------


def test_serve_command_line_parses_and_refuses_a_bad_port():
    from lukhas_obs.serve import register_cli

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", "--multiprocess-dir", "/tmp/x", "--port", "0"])
    assert (args.multiprocess_dir, args.port, args.host) == ("/tmp/x", 0, None) and callable(args.handler)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--multiprocess-dir", "/tmp/x", "--port", "70000"])
    with pytest.raises(SystemExit):
        parser.parse_args(["serve"])  # the directory is required


def test_serve_with_a_refused_configuration_exits_2(tmp_path, capsys):
    from lukhas_obs.serve import serve

    target = tmp_path / "a-file"
    target.write_text("x")
    assert serve(str(target), port=0, stop=threading.Event()) == 2
    assert "multiprocess_dir" in capsys.readouterr().err


def test_subprocess_sidecar_serves_the_merge_and_stops_on_sigterm(tmp_path):
    directory = tmp_path / "mp"
    directory.mkdir()
    writer = subprocess.run(
        [sys.executable, "-c",
         "import prefork_app, lukhas_obs\n"
         "for _ in range(7): prefork_app._handle('/hit', None)\n"
         "lukhas_obs.shutdown()\n"],
        env=_env(directory), timeout=60, capture_output=True,
    )  # fmt: skip
    assert writer.returncode == 0, writer.stderr.decode()[-2000:]
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start_process(
        [sys.executable, "-c", "import sys; from lukhas_obs.cli import main; sys.exit(main())", "serve",
         "--multiprocess-dir", str(directory), "--port", str(port)],
        log, env={k: v for k, v in _env(directory).items() if k != "LUKHAS_MULTIPROCESS_DIR"},
    )  # fmt: skip
    try:
        body = wait_for("the sidecar", lambda: _get(f"http://127.0.0.1:{port}/metrics"), timeout=30)
        assert _value(body, "prefork_requests_total", route="hit") == 7  # a finished process's counters stay
    finally:
        code = stop_process(proc, timeout=10)
    assert code == 0, tail(log)
    time.sleep(0)  # (nothing left running: stop_process waited for the sidecar's exit)


# -- attacks -------------------------------------------------------------------------------------------------------


def test_directory_removed_under_a_running_process_never_raises_into_recording_or_scraping(tmp_path, prefork_catalog):
    import shutil

    directory = tmp_path / "mp"
    lukhas_obs.configure(multiprocess_dir=directory, serve_metrics=False, traces_exporter="none", reconfigure=True)
    counter = lukhas_obs.counter("prefork_requests_total")
    counter.add(2, route="hit")
    shutil.rmtree(directory)
    counter.add(1, route="hit")  # the series exists: its mapping stays valid
    lukhas_obs.histogram("prefork_request_duration_seconds").record(0.5, route="slow")  # a new series: no file
    body, _ = lukhas_obs.render_exposition()
    assert body.startswith(b"#") or b"target_info" in body  # a valid exposition, whatever was lost
    assert lukhas_obs.shutdown(timeout=5)


def test_hostile_values_in_multiprocess_mode_are_admitted_exactly_as_by_the_own_aggregation(tmp_path, prefork_catalog):
    from tests.support.hostile import Hostile, RaisingStr

    def run(**options: object) -> list[tuple[str, float]]:
        lukhas_obs.configure(serve_metrics=False, traces_exporter="none", reconfigure=True, **options)
        counter = lukhas_obs.counter("prefork_requests_total")
        counter.add(1, route=RaisingStr("hit"))
        counter.add(1, route=Hostile())
        counter.add(1, route="hit\ud800")
        counter.add(10**30, route="hit")
        counter.add(Hostile(), route="hit")
        counter.add(float("nan"), route="hit")
        counter.add(1, route="slow")
        text = lukhas_obs.render_exposition()[0].decode()
        lukhas_obs.shutdown(timeout=5)
        return sorted((s.labels.get("route", ""), s.value) for s in _samples(text, "prefork_requests_total"))

    own = run()
    merged = run(multiprocess_dir=tmp_path / "mp")
    assert merged == own and len(own) == 4, (own, merged)  # never raised; the same drops and folds


def test_reconfiguring_closes_the_file_and_keeps_its_counts(tmp_path, prefork_catalog):
    directory = tmp_path / "mp"
    lukhas_obs.configure(multiprocess_dir=directory, serve_metrics=False, traces_exporter="none", reconfigure=True)
    lukhas_obs.counter("prefork_requests_total").add(3, route="hit")
    lukhas_obs.gauge("prefork_workers_up").set(1)
    lukhas_obs.configure(
        multiprocess_dir=directory, serve_metrics=False, traces_exporter="none", service="again", reconfigure=True
    )
    lukhas_obs.counter("prefork_requests_total").add(2, route="hit")
    text = lukhas_obs.render_exposition()[0].decode()
    assert _value(text, "prefork_requests_total", route="hit") == 5  # the closed file is a finished process
    assert _value(text, "prefork_workers_up") is None  # its sum gauge went with it; this configuration set none


# -- OTLP from many processes: temporality and sampler settings ----------------------------------------------------


def _sums(receiver: object, name: str) -> list:
    found = []
    for request in receiver.metric_requests:  # type: ignore[attr-defined]
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                found += [m.sum for m in sm.metrics if m.name == name and m.HasField("sum")]
    return found


@pytest.mark.parametrize(
    ("argument", "variable", "expected"),
    [
        ("delta", None, 1),  # AGGREGATION_TEMPORALITY_DELTA
        (None, "delta", 1),  # the standard variable is the fallback
        ("cumulative", "DELTA", 2),  # the argument wins over the variable
        (None, None, 2),  # cumulative by default
    ],
)
def test_metrics_temporality_reaches_the_otlp_export(monkeypatch, prefork_catalog, argument, variable, expected):
    from tests.support.otlp_receiver import OtlpReceiver

    if variable is not None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", variable)
    with OtlpReceiver("http") as receiver:
        options: dict[str, object] = {"metrics_temporality": argument} if argument else {}
        telemetry = lukhas_obs.configure(
            otlp_endpoint=receiver.endpoint, metrics_exporter="otlp", traces_exporter="none", serve_metrics=False,
            reconfigure=True, **options,
        )  # fmt: skip
        assert (telemetry.aggregator is None) == (expected == 1)  # delta: recorded through the SDK's instruments
        counter = lukhas_obs.counter("prefork_requests_total")
        counter.add(3, route="hit")
        assert telemetry.force_flush(5)
        counter.add(4, route="hit")
        assert telemetry.force_flush(5)
        sums = _sums(receiver, "prefork.requests")
        assert sums and {s.aggregation_temporality for s in sums} == {expected}
        values = [p.as_int or p.as_double for s in sums for p in s.data_points]
        assert values[-1] == (4 if expected == 1 else 7)


def test_parent_based_ratio_sampler_keeps_none_of_new_traces_and_follows_sampled_parents(monkeypatch):
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    telemetry = lukhas_obs.configure(traces_exporter="none", serve_metrics=False, metrics_exporter="none")
    assert telemetry.settings.traces_sampler == "parentbased_traceidratio"
    tracer = trace.get_tracer("prefork_test")
    assert not any(tracer.start_span(f"root{i}").is_recording() for i in range(50))  # ratio 0: no new trace
    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    assert tracer.start_span("continued", context=context).is_recording()  # the caller sampled it: kept
    lukhas_obs.configure(
        traces_exporter="none", serve_metrics=False, metrics_exporter="none", traces_sampler_arg=1.0, reconfigure=True
    )
    assert trace.get_tracer("prefork_test").start_span("root").is_recording()  # the argument beats the variable
