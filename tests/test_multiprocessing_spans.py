"""multiprocessing children keep their spans (issue 9, break 7) and every process has its own service.instance.id.

A ``fork`` child of ``multiprocessing`` leaves through ``os._exit`` (no ``atexit``): before the fix 0 of 20 children's
spans arrived. Each test uses a real ``multiprocessing`` context (``Process`` and ``Pool``, the ``with Pool(...)``
form terminating its workers with SIGTERM), a real trace file and a real OTLP receiver, bounded in time.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

import lukhas_obs
from tests.support.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs the fork start method")

CHILDREN = 20


def _file_span_names(path: Path) -> list[str]:
    names: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    names.extend(s["name"] for s in ss["spans"])
    return names


def _file_resources(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            out.append({a["key"]: next(iter(a["value"].values())) for a in rs["resource"]["attributes"]})
    return out


def _make_span(index: int) -> int:
    with lukhas_obs.span(f"child.{index}", index=index):
        pass
    return os.getpid()


def _configure_child(path: str) -> None:
    """Pool initializer of a spawn child: a fresh interpreter configures itself."""
    lukhas_obs.configure(traces_file=path, serve_metrics=False)


def _wait_for(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _expected() -> set[str]:
    return {f"child.{i}" for i in range(CHILDREN)}


def test_fork_processes_flush_their_spans_on_the_way_out(tmp_path):
    path = tmp_path / "traces.jsonl"
    with OtlpReceiver("http") as rx:
        lukhas_obs.configure(
            prometheus_port=0, traces_exporter=("file", "otlp"), traces_file=path, otlp_endpoint=rx.endpoint
        )
        ctx = multiprocessing.get_context("fork")
        started = time.monotonic()
        children = [ctx.Process(target=_make_span, args=(i,)) for i in range(CHILDREN)]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=15)
        elapsed = time.monotonic() - started
        assert [c.exitcode for c in children] == [0] * CHILDREN
        assert elapsed < 15, f"children took {elapsed:.1f}s to exit"
        # every child wrote its span before exiting: the file is complete as soon as they are all joined
        assert set(_file_span_names(path)) == _expected()
        assert rx.wait_for(lambda r: {s.name for _, _, s in r.spans()} >= _expected(), timeout=5)
        print(f"\n{CHILDREN} fork children: joined in {elapsed:.2f}s, all spans in the file and at the receiver")


def test_a_terminated_fork_pool_keeps_its_workers_spans(tmp_path):
    path = tmp_path / "traces.jsonl"
    lukhas_obs.configure(prometheus_port=0, traces_file=path)
    ctx = multiprocessing.get_context("fork")
    started = time.monotonic()
    with ctx.Pool(4) as pool:  # __exit__ is terminate(): every worker gets SIGTERM
        pids = pool.map(_make_span, range(CHILDREN))
    elapsed = time.monotonic() - started
    assert os.getpid() not in pids
    assert elapsed < 15, f"the pool took {elapsed:.1f}s"
    assert _wait_for(lambda: set(_file_span_names(path)) >= _expected(), timeout=5), sorted(
        _expected() - set(_file_span_names(path))
    )
    print(f"\nfork Pool(4), terminated: {CHILDREN} spans kept, {elapsed:.2f}s")


def test_a_closed_fork_pool_keeps_its_workers_spans(tmp_path):
    path = tmp_path / "traces.jsonl"
    lukhas_obs.configure(prometheus_port=0, traces_file=path)
    pool = multiprocessing.get_context("fork").Pool(3)
    try:
        pool.map(_make_span, range(CHILDREN))
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    assert set(_file_span_names(path)) == _expected()


def test_a_spawn_pool_configures_itself_and_keeps_its_spans(tmp_path):
    path = tmp_path / "traces.jsonl"
    ctx = multiprocessing.get_context("spawn")
    started = time.monotonic()
    with ctx.Pool(2, initializer=_configure_child, initargs=(str(path),)) as pool:
        pool.map(_make_span, range(CHILDREN))
    elapsed = time.monotonic() - started
    assert _wait_for(lambda: set(_file_span_names(path)) >= _expected(), timeout=5)
    print(f"\nspawn Pool(2), terminated: {CHILDREN} spans kept, {elapsed:.2f}s")


def test_a_sigterm_handler_of_the_application_is_never_replaced(tmp_path):
    import signal

    path = tmp_path / "traces.jsonl"
    lukhas_obs.configure(prometheus_port=0, traces_file=path)
    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_report_sigterm_handler, args=(writer,))
    previous = signal.signal(signal.SIGTERM, _own_handler)
    try:
        child.start()
        child.join(timeout=10)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert reader.poll(5) and reader.recv() == "_own_handler"


def _own_handler(signum, frame):  # type: ignore[no-untyped-def]
    pass


def _report_sigterm_handler(writer) -> None:  # type: ignore[no-untyped-def]
    import signal

    handler = signal.getsignal(signal.SIGTERM)
    writer.send(getattr(handler, "__name__", str(handler)))


# -- service.instance.id: per process ------------------------------------------------------------------------------


def _fork_and_read_instance_id(telemetry) -> str:  # type: ignore[no-untyped-def]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its own resource's id, then leave at once
        try:
            os.close(read_end)
            current = lukhas_obs.active()
            value = current.resource.attributes["service.instance.id"] if current is not None else "none"
            os.write(write_end, str(value).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        with os.fdopen(read_end, "rb") as pipe:
            return pipe.read().decode()
    finally:
        pass


def test_every_forked_process_gets_its_own_service_instance_id(tmp_path):
    import uuid

    path = tmp_path / "traces.jsonl"
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_file=path)
    parent_id = telemetry.resource.attributes["service.instance.id"]
    assert uuid.UUID(parent_id).version == 4
    children = {_fork_and_read_instance_id(telemetry) for _ in range(3)}
    assert len(children) == 3 and parent_id not in children
    assert all(uuid.UUID(c).version == 4 for c in children)

    with lukhas_obs.span("parent.span"):
        pass
    lukhas_obs.force_flush(5)
    (resource,) = {json.dumps(r, sort_keys=True) for r in _file_resources(path)}
    assert json.loads(resource)["service.instance.id"] == parent_id


def test_a_service_instance_id_set_by_the_user_is_kept_also_in_children(monkeypatch):
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=worker-pool-a")
    telemetry = lukhas_obs.configure(prometheus_port=0, traces_exporter="none")
    assert telemetry.resource.attributes["service.instance.id"] == "worker-pool-a"
    assert _fork_and_read_instance_id(telemetry) == "worker-pool-a"
