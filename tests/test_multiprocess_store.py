"""Multiprocess mode: one memory-mapped file per process, merged into one ``MetricsData`` (real forks, real files).

What is attacked: exact totals over real processes (multiprocessing with the fork start method and bare
``os.fork()``), a store inherited across fork (the child must never write into the parent's file: sharing lost
49 % of increments in a prototype), dead workers and compaction (50 restarts), corrupt/truncated/hostile files,
hostile attribute values, file growth while another thread records, merges while writers write, and compaction
while collectors read. Every child is waited for by pid (and killed on timeout) in a ``finally``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from lukhas_obs._compat.metric_producer import install
from lukhas_obs._version import __version__
from lukhas_obs.aggregation import Aggregator
from lukhas_obs.catalog.spec import MetricSpec
from lukhas_obs.exporters.render import render
from lukhas_obs.multiprocess import MultiprocessCollector, ProcessStore, collect, compact, process_alive
from lukhas_obs.multiprocess import _layout as L
from lukhas_obs.multiprocess import merge as merge_module
from lukhas_obs.multiprocess import store as store_module
from lukhas_obs.multiprocess.store import boot_id, process_start_ticks
from tests.support.hostile import RaisingStr

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCOPE = InstrumentationScope("lukhas_obs", __version__)


# -- helpers ---------------------------------------------------------------------------------------------------------


def _fork(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child that leaves through ``os._exit`` (1 on any exception)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            body()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, timeout: float = 20.0) -> int:
    """The child's exit code; killed (and the test failed) when it outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"child {pid} did not finish in {timeout} s")


def _metrics(data: MetricsData | None) -> dict[str, Any]:
    if data is None:
        return {}
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _values(data: MetricsData | None, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
    """attributes (sorted items) → value (sums, gauges) or (count, sum, bucket counts) for histograms."""
    metric = _metrics(data).get(name)
    if metric is None:
        return {}
    out: dict[tuple[tuple[str, Any], ...], Any] = {}
    for p in metric.data.data_points:
        key = tuple(sorted(p.attributes.items()))
        if isinstance(metric.data, Histogram):
            out[key] = (p.count, p.sum, tuple(p.bucket_counts))
        else:
            out[key] = p.value
    return out


def _lkmp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.startswith("lkmp-") and n.endswith(".db"))


def _children_ok(pids: list[int]) -> None:
    codes = [_wait(pid) for pid in pids]
    assert codes == [0] * len(pids)


# -- the store ---------------------------------------------------------------------------------------------------------


def test_store_records_every_kind_and_merge_reads_it_back(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    assert store.path is None and _lkmp_files(tmp_path) == []  # nothing before the first series
    counter = store.metric("lukhas.requests", "Requests", "1", "counter").series({"route": "/a"}).add
    updown = store.metric("lukhas.inflight", "In flight", "1", "updown_counter").series({}).add
    hist = store.metric("lukhas.latency", "Latency", "s", "histogram", buckets=(0.1, 1, 2.5)).series({}).record
    gauge = store.metric("lukhas.temp", "Temp", "1", "gauge").series({}).set
    for i in range(10):
        counter(1)
        updown(2)
        updown(-1)
        hist(i * 0.25)
    gauge(3.5)
    assert store.path is not None and len(_lkmp_files(tmp_path)) == 1
    data, stats = collect(tmp_path, scope=SCOPE)
    assert (stats.live, stats.dead, stats.corrupt, stats.processes) == (1, 0, 0, 1)
    assert _values(data, "lukhas.requests") == {(("route", "/a"),): 10}
    assert _values(data, "lukhas.inflight") == {(): 10}
    assert _values(data, "lukhas.latency") == {(): (10, 11.25, (1, 4, 5, 0))}
    assert _values(data, "lukhas.temp") == {(): 3.5}
    metrics = _metrics(data)
    assert metrics["lukhas.requests"].data.is_monotonic and not metrics["lukhas.inflight"].data.is_monotonic
    point = metrics["lukhas.latency"].data.data_points[0]
    assert (point.min, point.max, point.explicit_bounds) == (0.0, 2.25, (0.1, 1, 2.5))
    assert isinstance(metrics["lukhas.temp"].data, Gauge)
    assert metrics["lukhas.temp"].data.data_points[0].start_time_unix_nano is None
    store.close()


def test_recorder_takes_a_catalog_spec_and_never_raises(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    spec = MetricSpec(
        name="lukhas_memory_search_seconds", otel_name="lukhas.memory.search", kind="histogram", unit="s",
        description="Search latency", buckets=BOUNDS,
    )  # fmt: skip
    record = store.recorder(spec, {"tier": "T2"})
    assert record is not None
    record(0.012)
    record(0.2)
    bad_spec = MetricSpec(name="x", otel_name="bad name!", kind="counter", unit="1", description="")
    assert store.recorder(bad_spec, {}) is None  # an invalid OTel name: reported, not raised
    assert store.recorder(spec, {"tier": RaisingStr("x")}) is None  # a value whose __hash__/__eq__ raise
    assert store.recorder(spec, {"tier": object()}) is None  # not an admitted attribute value
    assert store.recorder(spec, {"tier": float("nan")}) is None
    data, _ = collect(tmp_path)
    expected = (2, 0.0 + 0.012 + 0.2, (0, 0, 1, 0, 0, 1, 0, 0, 0, 0))
    assert _values(data, "lukhas.memory.search") == {(("tier", "T2"),): expected}


def test_configuration_errors_name_the_field(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="multiprocess_dir"):
        ProcessStore(afile)
    with pytest.raises(ValueError, match="chunk_size"):
        ProcessStore(tmp_path, chunk_size=1000)
    with pytest.raises(ValueError, match="exemplar_filter"):
        ProcessStore(tmp_path, exemplar_filter="sometimes")
    store = ProcessStore(tmp_path)
    with pytest.raises(ValueError, match=r"gauge_mode.*last, sum, min, max, per_process"):
        store.metric("g", "", "1", "gauge", gauge_mode="average")
    with pytest.raises(ValueError, match="buckets"):
        store.metric("h", "", "s", "histogram", buckets=(1, 1))
    store.metric("c", "", "1", "counter")
    with pytest.raises(ValueError, match="already defined differently"):
        store.metric("c", "", "s", "counter")


def test_exact_totals_from_four_real_processes(tmp_path: Path) -> None:
    """multiprocessing (fork start method): 4 workers × N, plus the parent, merged exactly; live-only gauges follow
    the workers' lives."""
    n = 3000
    store = ProcessStore(tmp_path)
    counter = store.metric("lukhas.requests", "", "1", "counter")
    store.metric("lukhas.latency", "", "s", "histogram", buckets=BOUNDS)
    per_process = store.metric("lukhas.rss", "", "By", "gauge", gauge_mode="per_process")
    summed = store.metric("lukhas.workers", "", "1", "gauge", gauge_mode="sum")
    counter.series({"route": "/"}).add(7)  # the parent's file is open before the fork: children must not share it
    per_process.series({}).set(1)
    summed.series({}).set(1)
    ctx = multiprocessing.get_context("fork")
    release = ctx.Event()
    ready = ctx.Semaphore(0)
    procs = [ctx.Process(target=_worker, args=(store, n, i, ready, release)) for i in range(4)]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            assert ready.acquire(timeout=20)
        data, stats = collect(tmp_path)
        assert (stats.live, stats.dead, stats.processes) == (5, 0, 5)
        assert _values(data, "lukhas.requests") == {(("route", "/"),): 7 + 4 * n}
        count, total, buckets = _values(data, "lukhas.latency")[()]
        assert count == 4 * n and total == 4 * sum(_latency(i) for i in range(n))
        assert buckets == tuple(4 * b for b in _buckets([_latency(i) for i in range(n)]))
        rss = _values(data, "lukhas.rss")
        assert sorted(rss.values()) == [1, 100, 101, 102, 103]
        assert {dict(k)["pid"] for k in rss} == {str(os.getpid()), *(str(p.pid) for p in procs)}
        assert _values(data, "lukhas.workers") == {(): 5}
    finally:
        release.set()
        for p in procs:
            p.join(20)
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    data, stats = collect(tmp_path)
    assert (stats.live, stats.dead) == (1, 4)
    assert _values(data, "lukhas.requests") == {(("route", "/"),): 7 + 4 * n}  # dead workers' counts stay
    assert list(_values(data, "lukhas.rss").values()) == [1]  # their per-process gauges go
    assert _values(data, "lukhas.workers") == {(): 1}


def _latency(i: int) -> float:
    return (i % 97) / 64  # dyadic: sums are exact in any order


def _buckets(values: list[float]) -> list[int]:
    from bisect import bisect_left

    counts = [0] * (len(BOUNDS) + 1)
    for v in values:
        counts[bisect_left(BOUNDS, v)] += 1
    return counts


def _worker(store: ProcessStore, n: int, index: int, ready: Any, release: Any) -> None:
    add = store.metric("lukhas.requests", "", "1", "counter").series({"route": "/"}).add
    record = store.metric("lukhas.latency", "", "s", "histogram", buckets=BOUNDS).series({}).record
    for i in range(n):
        add(1)
        record(_latency(i))
    store.metric("lukhas.rss", "", "By", "gauge", gauge_mode="per_process").series({}).set(100 + index)
    store.metric("lukhas.workers", "", "1", "gauge", gauge_mode="sum").series({}).set(1)
    assert store.path is not None and str(os.getpid()) in os.path.basename(store.path)
    ready.release()
    release.wait(20)


def test_fork_child_writes_its_own_file_never_the_parents(tmp_path: Path) -> None:
    """A bare os.fork() of a process with an open store: parent and child record concurrently into the same
    series; the child's stale recorder (obtained before the fork) must not reach the parent's file. Sharing the
    mapping loses increments (read-add-write of two processes interleave) and would add the stale 1,000,000."""
    n = 100_000
    store = ProcessStore(tmp_path)
    metric = store.metric("lukhas.requests", "", "1", "counter")
    stale = metric.series({"route": "/"}).add
    stale(10)
    parent_file = store.path
    read_end, write_end = os.pipe()

    def child() -> None:
        os.close(write_end)
        stale(1_000_000)  # a recorder from before the fork: private memory now
        add = store.metric("lukhas.requests", "", "1", "counter").series({"route": "/"}).add
        os.read(read_end, 1)  # start together with the parent
        for _ in range(n):
            add(1)
        assert store.path not in (None, parent_file)

    pid = _fork(child)
    try:
        os.close(read_end)
        os.write(write_end, b"x")
        for _ in range(n):
            stale(1)
    finally:
        os.close(write_end)
        assert _wait(pid) == 0
    data, stats = collect(tmp_path)
    assert stats.processes == 2 and len(_lkmp_files(tmp_path)) == 2
    assert _values(data, "lukhas.requests") == {(("route", "/"),): 10 + 2 * n}
    # the parent's own file holds exactly the parent's measurements
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(parent_file, own / os.path.basename(parent_file))  # type: ignore[arg-type]
    assert _values(collect(own)[0], "lukhas.requests") == {(("route", "/"),): 10 + n}


def test_a_store_created_in_the_parent_opens_its_file_in_the_child(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)  # no series yet: no file
    result = tmp_path / "child-path"

    def child() -> None:
        store.metric("c", "", "1", "counter").series({}).add(1)
        result.write_text(store.path or "")

    _children_ok([_fork(child)])
    child_path = result.read_text()
    assert child_path and os.path.basename(child_path).split("-")[1] != str(os.getpid())
    store.metric("c", "", "1", "counter").series({}).add(2)
    assert store.path != child_path
    assert _values(collect(tmp_path)[0], "c") == {(): 3}


# -- dead workers and compaction --------------------------------------------------------------------------------------


def _restart_worker(store: ProcessStore, i: int) -> Callable[[], None]:
    def body() -> None:
        store.metric("lukhas.requests", "", "1", "counter").series({"worker": "any"}).add(10)
        store.metric("lukhas.latency", "", "s", "histogram", buckets=BOUNDS).series({}).record(i / 32)
        store.metric("lukhas.rss", "", "By", "gauge", gauge_mode="per_process").series({}).set(i)
        store.metric("lukhas.version", "", "1", "gauge").series({}).set(i)  # last: kept after death
        store.metric("lukhas.build", "", "1", "info").series({"version": f"0.{i}"}).set(1)

    return body


def test_fifty_restarted_workers_compact_to_bounded_files_with_totals_unchanged(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    store.metric("lukhas.requests", "", "1", "counter").series({"worker": "any"}).add(1)
    for batch in range(5):
        _children_ok([_fork(_restart_worker(store, batch * 10 + i)) for i in range(10)])
        before, stats_before = collect(tmp_path)
        assert stats_before.dead == 10 and stats_before.processes == 1 + 10 * (batch + 1)
        result = compact(tmp_path)
        assert result.archive is not None and len(result.absorbed) == 10 + (1 if batch else 0)
        after, stats_after = collect(tmp_path)
        assert len(_lkmp_files(tmp_path)) == 2  # the parent's file and one archive, whatever the restarts
        assert (stats_after.live, stats_after.dead, stats_after.archives) == (1, 0, 1)
        assert stats_after.processes == stats_before.processes
        for name in ("lukhas.requests", "lukhas.latency", "lukhas.version", "lukhas.build"):
            assert _values(after, name) == _values(before, name), name
    _children_ok([_fork(_restart_worker(store, 50))])  # alone: its sets are the most recent
    compact(tmp_path)
    data, stats = collect(tmp_path)
    assert stats.processes == 52 and len(_lkmp_files(tmp_path)) == 2
    assert _values(data, "lukhas.requests") == {(("worker", "any"),): 1 + 510}
    count, total, _ = _values(data, "lukhas.latency")[()]
    assert count == 51 and total == sum(i / 32 for i in range(51))
    assert _values(data, "lukhas.rss") == {}  # per-process gauges of dead workers are gone
    assert _values(data, "lukhas.version") == {(): 50}  # the most recent set, by a dead worker
    assert _values(data, "lukhas.build") == {(("version", "0.50"),): 1}  # no live facts: the latest dead ones
    assert compact(tmp_path).archive is None  # nothing dead left: nothing rewritten


def test_dead_process_detection_pid_reuse_zombies_and_boots() -> None:
    me = os.getpid()
    ticks = process_start_ticks(me)
    assert ticks > 0 and process_alive(me, ticks, boot_id())
    assert not process_alive(me, ticks + 1, boot_id())  # the pid was reused by a later process
    other_boot = bytes(15) + b"\x01" if boot_id() != bytes(15) + b"\x01" else bytes(15) + b"\x02"
    assert not process_alive(me, ticks, other_boot)
    assert process_alive(me, 0, bytes(16))  # unknown start time and boot: the pid decides
    zombie = os.fork()
    if zombie == 0:  # pragma: no cover
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (merge_module._proc_state(zombie) or ("?",))[0] != "Z":
            time.sleep(0.01)
        assert (merge_module._proc_state(zombie) or ("?",))[0] == "Z"
        assert not process_alive(zombie, 0, boot_id())  # exited, not reaped yet
    finally:
        os.waitpid(zombie, 0)
    assert not process_alive(zombie, 0, boot_id())  # reaped
    assert not process_alive(0, 0, bytes(16)) and not process_alive(-1, 0, bytes(16))


def test_closed_store_counts_as_finished_and_recording_after_close_is_harmless(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    add = store.metric("c", "", "1", "counter").series({}).add
    setter = store.metric("g", "", "1", "gauge", gauge_mode="max").series({}).set
    add(5)
    setter(9)
    store.close()
    add(1000)  # after close: private memory, no error
    setter(1)
    data, stats = collect(tmp_path)
    assert (stats.live, stats.dead) == (0, 1)
    assert _values(data, "c") == {(): 5} and _values(data, "g") == {}
    again = ProcessStore(tmp_path)  # a reconfigured process: a new file, the old one kept as finished
    again.metric("c", "", "1", "counter").series({}).add(1)
    assert _values(collect(tmp_path)[0], "c") == {(): 6}


def test_gauge_modes_and_info_across_live_and_dead_processes(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    modes = ("last", "sum", "min", "max", "per_process")
    release_r, release_w = os.pipe()
    ready_r, ready_w = os.pipe()

    def worker(value: float, version: str) -> Callable[[], None]:
        def body() -> None:
            os.close(release_w)
            for mode in modes:
                store.metric(f"g.{mode}", "", "1", "gauge", gauge_mode=mode).series({"k": "v"}).set(value)
            info = store.metric("build", "", "1", "info")
            info.series({"version": "old"}).set(1)
            info.series({"version": version}).set(1)  # replaces "old" in this process
            os.write(ready_w, b"x")
            os.read(release_r, 1)

        return body

    pids = []
    try:
        for value, version in ((1.5, "a"), (4.0, "b"), (-2.0, "a")):
            pids.append(_fork(worker(value, version)))
            assert os.read(ready_r, 1) == b"x"  # one after the other: "last" is the third
        data, stats = collect(tmp_path)
        assert stats.live == 3
        assert _values(data, "g.last") == {(("k", "v"),): -2}
        assert _values(data, "g.sum") == {(("k", "v"),): 3.5}
        assert _values(data, "g.min") == {(("k", "v"),): -2}
        assert _values(data, "g.max") == {(("k", "v"),): 4}
        per = _values(data, "g.per_process")
        assert sorted(per.values()) == [-2.0, 1.5, 4.0] and {dict(k)["pid"] for k in per} == {str(p) for p in pids}
        assert _values(data, "build") == {(("version", "a"),): 1, (("version", "b"),): 1}
    finally:
        os.write(release_w, b"xxx")
        _children_ok(pids)
    data, _ = collect(tmp_path)
    assert _values(data, "g.last") == {(("k", "v"),): -2}  # last survives its writer
    for mode in ("sum", "min", "max", "per_process"):
        assert _values(data, f"g.{mode}") == {}, mode
    assert _values(data, "build") == {(("version", "a"),): 1}  # no live facts: the most recent dead ones
    store.metric("build", "", "1", "info").series({"version": "live"}).set(1)
    assert _values(collect(tmp_path)[0], "build") == {(("version", "live"),): 1}


# -- corrupt files -----------------------------------------------------------------------------------------------------


def _dead_file(tmp_path: Path, name: str = "src") -> Path:
    """A finished process's file with one counter (5) and one histogram of 3 records, in its own directory."""
    src = tmp_path / name
    src.mkdir()

    def body() -> None:
        store = ProcessStore(src)
        store.metric("c", "", "1", "counter").series({"a": "1"}).add(5)
        rec = store.metric("h", "", "s", "histogram", buckets=BOUNDS).series({}).record
        for v in (0.001, 0.2, 3.0):
            rec(v)

    _children_ok([_fork(body)])
    (path,) = src.iterdir()
    return path


def test_corrupt_truncated_and_foreign_files_are_skipped_and_counted(tmp_path: Path) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    good = _dead_file(tmp_path)
    raw = good.read_bytes()
    committed = struct.unpack_from("=Q", raw, 16)[0]
    shutil.copy(good, directory / "lkmp-1-good.db")
    # a copy cut inside the histogram's slot: its counter series is complete, the histogram is not
    hist_at = raw.index(b'"name":"h"')
    cut = raw[: hist_at + 200]
    (directory / "lkmp-2-cut.db").write_bytes(_with_instance(cut, b"\x02"))
    (directory / "lkmp-3-garbage.db").write_bytes(os.urandom(4096))
    (directory / "lkmp-4-empty.db").write_bytes(b"")
    (directory / "lkmp-5-version.db").write_bytes(raw[:8] + struct.pack("=I", 99) + raw[12:])
    (directory / "lkmp-6-endian.db").write_bytes(raw[:12] + struct.pack("=I", 0x04030201) + raw[16:])
    bad_record = bytearray(_with_instance(raw, b"\x07"))
    struct.pack_into("=I", bad_record, L.HEADER_SIZE, 12)  # a record size that is not a multiple of 8
    (directory / "lkmp-7-record.db").write_bytes(bytes(bad_record))
    bad_json = bytearray(_with_instance(raw, b"\x08"))
    at = bad_json.index(b'"name":"c"')
    bad_json[at : at + 6] = b"\xff\xfe{[}]"
    (directory / "lkmp-8-json.db").write_bytes(bytes(bad_json))
    os.symlink("/dev/zero", directory / "lkmp-9-link.db")
    (directory / "lkmp-10-dir.db").mkdir()
    os.mkfifo(directory / "lkmp-12-fifo.db")  # opening a FIFO without O_NONBLOCK would hang the scrape
    big_committed = bytearray(_with_instance(raw, b"\x0b"))
    struct.pack_into("=Q", big_committed, 16, committed + (1 << 40))  # claims far more than is there
    (directory / "lkmp-11-claims.db").write_bytes(bytes(big_committed))
    (directory / "unrelated.txt").write_text("not ours")
    data, stats = collect(directory)
    assert stats.corrupt == 6  # garbage, empty, version, endian, bad record, bad json
    assert stats.unreadable == 3  # symlink (not followed), directory, FIFO
    assert stats.truncated == 2  # the cut copy and the file that claims more than it has
    assert stats.dead == 3
    assert _values(data, "c") == {(("a", "1"),): 15}
    one = ((0.0 + 0.001) + 0.2) + 3.0
    assert _values(data, "h") == {(): (6, one * 2, (2, 0, 0, 0, 0, 2, 0, 0, 0, 2))}  # not from the cut copy
    os.symlink(directory / "lkmp-1-good.db", directory / ".lkmp-compact.lock")  # a planted lock: not followed
    assert compact(directory).skipped.startswith("lock file")
    os.unlink(directory / ".lkmp-compact.lock")
    assert compact(directory).archive is not None  # compaction skips what it cannot read, and does not raise
    assert _values(collect(directory)[0], "c") == {(("a", "1"),): 15}


def _with_instance(raw: bytes, tag: bytes) -> bytes:
    """A copy of a file with another instance id (so it counts as another process's file)."""
    return raw[:48] + tag * 16 + raw[64:]


def test_random_damage_never_raises(tmp_path: Path) -> None:
    good = _dead_file(tmp_path).read_bytes()
    directory = tmp_path / "fuzz"
    rng = random.Random(1234)
    for trial in range(150):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if trial % 3 == 0:
            damaged = damaged[: rng.randrange(len(damaged))]
        (directory / "lkmp-1-x.db").write_bytes(bytes(damaged))
        data, stats = collect(directory)  # never raises
        assert stats.corrupt + stats.dead + stats.live + stats.archives + stats.unreadable == 1
        if data is not None:
            render(data, openmetrics=True)
        compact(directory)


# -- attribute values --------------------------------------------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    'say "hi"',
    "back\\slash",
    "new\nline\r\ttab",
    "nul\x00char",
    "emoji 🎉 and 中文 and עברית and é (combining)",
    "x" * 256,
    "",
    "{\"json\": [1, 2]}",
    "</script><script>",
    True,
    False,
    1,
    1.0,
    0,
    -(2**63),
    2**63 - 1,
    1e308,
    -0.5,
    5e-324,
]


def test_hostile_attribute_values_round_trip_exactly(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    metric = store.metric("c", "", "1", "counter")
    for i, value in enumerate(HOSTILE_VALUES):
        metric.series({"k": value, "other": "o"}).add(i + 1)
    data, _ = collect(tmp_path)
    points = _metrics(data)["c"].data.data_points
    got = {(type(p.attributes["k"]), p.attributes["k"]): p.value for p in points}
    want = {(type(v), v): i + 1 for i, v in enumerate(HOSTILE_VALUES)}
    assert got == want  # True, 1 and 1.0 are three series, types kept, text exact
    for value in HOSTILE_VALUES:
        text = L.canonical_attributes({"k": value, "a": 1})
        assert text.isascii() and "\n" not in text
        assert json.loads(text) == {"a": 1, "k": value} and list(json.loads(text)) == ["a", "k"]
    for bad in (float("nan"), float("inf"), None, b"bytes", [1], {"a": 1}):
        with pytest.raises((TypeError, ValueError)):
            L.canonical_attributes({"k": bad})


def test_hostile_attributes_render_like_a_single_process(tmp_path: Path) -> None:
    resource = Resource.create({"service.name": "mp-test"})
    agg, reader = _aggregator(resource)
    store = ProcessStore(tmp_path)
    s_metric = store.metric("lukhas.c", "Hostile \"help\"\nline", "1", "counter")
    a_metric = agg.metric("lukhas.c", "Hostile \"help\"\nline", "1", "counter")
    for i, value in enumerate(HOSTILE_VALUES):
        s_metric.series({"k": value}).add(i + 1)
        a_metric.series({"k": value}).add(i + 1)
    merged, _ = collect(tmp_path, resource=resource, scope=SCOPE)
    single = reader.get_metrics_data()
    for openmetrics in (False, True):
        assert render(merged, openmetrics=openmetrics) == render(single, openmetrics=openmetrics)


# -- identical rendering -----------------------------------------------------------------------------------------------


def _aggregator(resource: Resource) -> tuple[Aggregator, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    agg = Aggregator()
    install(provider, agg, scope_name="lukhas_obs", scope_version=__version__)
    return agg, reader


_DEFS: list[tuple[str, str, str, str, Any]] = [
    ("lukhas.memory.search", "Search latency", "s", "histogram", BOUNDS),
    ("lukhas.requests", "Requests", "1", "counter", None),
    ("lukhas.queue.depth", "Queue", "{item}", "updown_counter", None),
    ("lukhas.sizes", "Sizes", "By", "histogram", (1, 10, 100)),
    ("lukhas.temperature", "Temperature", "1", "gauge", None),
    ("lukhas.never", "Created, never recorded", "s", "histogram", BOUNDS),
]
_ATTRS = [{"tier": t, "lane": "candidate"} for t in ("T1", "T2", "T3")]


def _measurements(seed: int) -> list[tuple[int, int, float]]:
    """(definition index, attribute index, value) — dyadic values, so sums are exact in any order."""
    rng = random.Random(seed)
    out = []
    for _ in range(400):
        d = rng.choice((0, 1, 2, 3))
        if d in (0, 3):
            value = rng.randrange(0, 4000) / 256
        elif d == 2:
            value = rng.randrange(-8, 64) / 4
        else:
            value = rng.randrange(1, 32) / 8
        out.append((d, rng.randrange(len(_ATTRS)), value))
    return out


def _record_all(metric_of: Callable[[int], Any], measurements: list[tuple[int, int, float]]) -> None:
    series = {(d, a): metric_of(d).series(_ATTRS[a]) for d in range(len(_DEFS)) for a in range(len(_ATTRS))}
    for d, a, value in measurements:
        s = series[(d, a)]
        (s.record if _DEFS[d][3] == "histogram" else s.add)(value)


def test_merged_render_is_byte_identical_to_one_process_aggregating_everything(tmp_path: Path) -> None:
    """4 workers record disjoint measurement sets; the merge renders (text and OpenMetrics) exactly what one
    process's aggregation of all the measurements renders."""
    resource = Resource.create({"service.name": "mp-test", "lane": "candidate"})
    store = ProcessStore(tmp_path)

    def store_metric(d: int) -> Any:
        name, desc, unit, kind, buckets = _DEFS[d]
        return store.metric(name, desc, unit, kind, buckets)

    def worker(seed: int) -> Callable[[], None]:
        return lambda: _record_all(store_metric, _measurements(seed))

    _children_ok([_fork(worker(seed)) for seed in range(4)])
    store_metric(4).series(_ATTRS[1]).set(21.5)  # a gauge set once, by the parent
    agg, reader = _aggregator(resource)

    def agg_metric(d: int) -> Any:
        name, desc, unit, kind, buckets = _DEFS[d]
        return agg.metric(name, desc, unit, kind, buckets)

    _record_all(agg_metric, [m for seed in range(4) for m in _measurements(seed)])
    agg_metric(4).series(_ATTRS[1]).set(21.5)
    merged, stats = collect(tmp_path, resource=resource, scope=SCOPE)
    single = reader.get_metrics_data()
    assert stats.processes == 5
    for openmetrics in (False, True):
        ours, theirs = render(merged, openmetrics=openmetrics), render(single, openmetrics=openmetrics)
        assert ours == theirs
        assert b"lukhas_memory_search_seconds_bucket" in ours and b'le="10"' in ours
    assert b"lukhas_never_seconds_count" in render(merged, openmetrics=False)  # zero-count series kept, as in one


# -- exemplars ---------------------------------------------------------------------------------------------------------


def _span(trace_id: int, span_id: int) -> Any:
    return trace.use_span(
        NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    )


def test_exemplars_survive_the_merge_latest_per_bucket(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)

    def worker(trace_id: int, value: float) -> Callable[[], None]:
        def body() -> None:
            hist = store.metric("lukhas.latency", "", "s", "histogram", buckets=BOUNDS).series({"r": "/"})
            counter = store.metric("lukhas.requests", "", "1", "counter").series({"r": "/"})
            hist.record(0.3)  # no span: no exemplar
            with _span(trace_id, 0xABC):
                hist.record(value)
                counter.add(1)

        return body

    _children_ok([_fork(worker(0x1111, 0.02))])
    _children_ok([_fork(worker(0x2222, 0.02))])  # same bucket, later: wins
    _children_ok([_fork(worker(0x3333, 2.0))])  # another bucket
    data, _ = collect(tmp_path)
    point = _metrics(data)["lukhas.latency"].data.data_points[0]
    assert [(e.trace_id, e.value) for e in point.exemplars] == [(0x2222, 0.02), (0x3333, 2.0)]
    assert _metrics(data)["lukhas.requests"].data.data_points[0].exemplars[0].trace_id == 0x3333
    text = render(data, openmetrics=True).decode()
    assert 'le="0.025"' in text and f'trace_id="{0x2222:032x}"' in text and f'trace_id="{0x3333:032x}"' in text
    assert f"{0x1111:032x}" not in text
    compact(tmp_path)
    data, _ = collect(tmp_path)
    point = _metrics(data)["lukhas.latency"].data.data_points[0]
    assert [(e.trace_id, e.span_id) for e in point.exemplars] == [(0x2222, 0xABC), (0x3333, 0xABC)]


def test_no_exemplars_when_filter_is_off(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path, exemplar_filter="always_off")
    hist = store.metric("h", "", "s", "histogram", buckets=BOUNDS).series({})
    with _span(0x1, 0x2):
        hist.record(0.02)
    point = _metrics(collect(tmp_path)[0])["h"].data.data_points[0]
    assert point.exemplars == [] and point.count == 1


# -- growth and concurrency --------------------------------------------------------------------------------------------


def test_growth_beyond_the_initial_size_while_another_thread_records(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path, chunk_size=4096)
    hot = store.metric("hot", "", "1", "counter").series({}).add
    hot_hist = store.metric("hot.h", "", "s", "histogram", buckets=BOUNDS).series({}).record
    stop = threading.Event()
    done = [0]

    def spin() -> None:
        n = 0
        while not stop.is_set():
            for _ in range(100):
                hot(1)
                hot_hist(0.03)
            n += 100
        done[0] = n

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        metric = store.metric("many", "", "1", "counter")
        for i in range(3000):  # about 40 bytes of text + 8 of slot each: dozens of chunk growths
            metric.series({"i": i, "pad": "p" * (i % 50)}).add(i)
    finally:
        stop.set()
        thread.join(10)
    assert os.path.getsize(store.path) > 4096 * 16  # type: ignore[arg-type]
    assert len(store._chunks) > 4
    data, stats = collect(tmp_path)
    assert stats.corrupt == 0 and stats.truncated == 0
    assert _values(data, "hot") == {(): done[0]}
    assert _values(data, "hot.h")[()][0] == done[0]
    many = _values(data, "many")
    assert len(many) == 3000 and all(v == dict(k)["i"] for k, v in many.items())


def test_merge_while_writers_write_is_monotonic_and_exact_at_the_end(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path, chunk_size=4096)
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_r, False)
    counts_dir = tmp_path / "counts"
    counts_dir.mkdir()

    def writer(index: int) -> Callable[[], None]:
        def body() -> None:
            os.close(stop_w)
            add = store.metric("c", "", "1", "counter").series({}).add
            rec = store.metric("h", "", "s", "histogram", buckets=BOUNDS).series({}).record
            many = store.metric("m", "", "1", "counter")
            n = 0
            while True:
                try:
                    os.read(stop_r, 1)  # a byte, or end of file: stop
                    break
                except BlockingIOError:
                    pass
                for _ in range(200):
                    add(1)
                    rec(0.03)
                n += 200
                many.series({"w": index, "n": n % 3000}).add(1)  # new series keep growing the file
            (counts_dir / str(index)).write_text(str(n))

        return body

    pids = [_fork(writer(i)) for i in range(2)]
    try:
        collector = MultiprocessCollector(tmp_path)
        last = 0
        deadline = time.monotonic() + 1.5
        rounds = 0
        while time.monotonic() < deadline:
            data, stats = (collector.collect() if rounds % 2 else collect(tmp_path))
            rounds += 1
            assert stats.corrupt == 0
            total = _values(data, "c").get((), 0)
            count, _, buckets = _values(data, "h").get((), (0, 0, ()))
            assert total >= last and count == sum(buckets)
            last = total
        assert rounds > 5 and last > 0
    finally:
        os.write(stop_w, b"xx")
        os.close(stop_w)
        _children_ok(pids)
    expected = sum(int((counts_dir / str(i)).read_text()) for i in range(2))
    data, stats = collect(tmp_path)
    assert _values(data, "c") == {(): expected} and _values(data, "h")[()][0] == expected


def test_compaction_while_collectors_read_counts_every_process_once(tmp_path: Path) -> None:
    """Workers finish one after another while one thread compacts and another collects: every collection sees
    each finished worker exactly once (never double-counted from an archive and its absorbed file, never lost)."""
    store = ProcessStore(tmp_path)
    store.metric("c", "", "1", "counter").series({}).add(0)
    started = [0]
    finished = [0]
    stop = threading.Event()
    errors: list[str] = []

    def compactor() -> None:
        while not stop.is_set():
            compact(tmp_path)
            time.sleep(0.002)

    def reader() -> None:
        collector = MultiprocessCollector(tmp_path)
        while not stop.is_set():
            low = finished[0]
            data, _ = collector.collect()
            high = started[0]
            total = _values(data, "c").get((), 0)
            if not low <= total <= high:
                errors.append(f"{low} <= {total} <= {high}")

    threads = [threading.Thread(target=compactor), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    try:
        for _ in range(40):
            started[0] += 1
            pid = _fork(lambda: store.metric("c", "", "1", "counter").series({}).add(1))
            assert _wait(pid) == 0
            finished[0] += 1
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert errors == []
    compact(tmp_path)
    data, stats = collect(tmp_path)
    assert _values(data, "c") == {(): 40} and stats.processes == 41
    assert len(_lkmp_files(tmp_path)) == 2


def test_two_compactions_at_once_never_double_count(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    _children_ok([_fork(lambda: store.metric("c", "", "1", "counter").series({}).add(1)) for _ in range(20)])
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        compact(tmp_path)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    compact(tmp_path)
    assert _values(collect(tmp_path)[0], "c") == {(): 20}
    assert len(_lkmp_files(tmp_path)) == 1


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    pid = _fork(lambda: None)
    assert _wait(pid) == 0
    (tmp_path / f".tmp-lkmp-{pid}-00.db").write_bytes(b"half a header")
    (tmp_path / f".tmp-lkmp-{os.getpid()}-00.db").write_bytes(b"ours, being created")
    result = compact(tmp_path)
    assert result.removed_temporary == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")) == [
        f".tmp-lkmp-{os.getpid()}-00.db"
    ]


# -- limits ------------------------------------------------------------------------------------------------------------


def test_integers_beyond_2_to_53_are_floats_and_documented(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    exact = store.metric("exact", "", "1", "counter").series({}).add
    big = store.metric("big", "", "1", "counter").series({}).add
    exact(2**53 - 1)
    exact(1)
    big(2**53)
    big(1)  # 2**53 + 1 is not a float64: the increment is lost (docs/MULTIPROCESS.md, "Limits")
    huge = store.metric("huge", "", "1", "updown_counter").series({}).add
    huge(2**63 - 1)
    data, _ = collect(tmp_path)
    assert _values(data, "exact") == {(): 2**53} and type(_values(data, "exact")[()]) is int
    assert _values(data, "big") == {(): 2**53}
    value = _values(data, "huge")[()]
    assert type(value) is float and value == 2.0**63  # not an int that would overflow int64 on OTLP


def test_a_full_disk_detaches_new_series_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ProcessStore(tmp_path, chunk_size=4096)
    first = store.metric("c", "", "1", "counter").series({"n": 0})
    first.add(1)
    reported: list[tuple[str, str]] = []
    monkeypatch.setattr(store_module, "_report", lambda where, reason, detail: reported.append((where, reason)))

    def full(fd: int, offset: int, size: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_allocate", full)
    metric = store.metric("c", "", "1", "counter")
    series = [metric.series({"n": i}) for i in range(1, 200)]  # past the first chunk: growth fails
    for s in series:
        s.add(1)  # never raises, detached or not
    first.add(1)
    assert any(s.detached for s in series) and not first.detached
    assert ("c", "multiprocess_store_full") in reported
    data, stats = collect(tmp_path)
    values = _values(data, "c")
    assert values[(("n", 0),)] == 2 and stats.corrupt == 0
    assert len(values) == 1 + sum(not s.detached for s in series)


def test_a_file_larger_than_the_limit_is_not_read(tmp_path: Path) -> None:
    store = ProcessStore(tmp_path)
    store.metric("c", "", "1", "counter").series({}).add(1)
    data, stats = collect(tmp_path, max_file_bytes=1024)
    assert data is None and stats.unreadable == 1


@pytest.mark.parametrize("locked", [False, True], ids=["lock-free", "locked"])
def test_threads_lose_nothing(tmp_path: Path, locked: bool) -> None:
    """Lock-free under the GIL (no call between a word's read and write; a 1 µs switch interval), and the locked
    path a free-threaded build takes."""
    import sys

    store = ProcessStore(tmp_path, locked=locked)
    add = store.metric("c", "", "1", "counter").series({}).add
    record = store.metric("h", "", "s", "histogram", buckets=BOUNDS).series({}).record
    n, threads = 30_000, 4
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=lambda: [(add(1), record(0.02)) for _ in range(n)]) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(30)
    finally:
        sys.setswitchinterval(interval)
    data, _ = collect(tmp_path)
    assert _values(data, "c") == {(): n * threads}
    assert _values(data, "h")[()][0] == n * threads


def test_a_reused_collector_equals_a_fresh_collect_as_the_directory_changes(tmp_path: Path) -> None:
    """The collector keeps parsed files, series order and attribute sets between scrapes: after each change it must
    still produce exactly what a one-shot collect produces."""
    store = ProcessStore(tmp_path)
    collector = MultiprocessCollector(tmp_path, scope=SCOPE)
    hist = store.metric("h", "", "s", "histogram", buckets=BOUNDS)
    per = store.metric("g", "", "1", "gauge", gauge_mode="per_process")

    def same() -> None:
        ours, theirs = collector.collect(123)[0], collect(tmp_path, scope=SCOPE, time_unix_nano=123)[0]
        assert render(ours, openmetrics=True) == render(theirs, openmetrics=True)
        assert _metrics(ours).keys() == _metrics(theirs).keys()
        for name in _metrics(ours):
            assert _values(ours, name) == _values(theirs, name)

    hist.series({"a": "1"}).record(0.02)
    same()
    hist.series({"a": "1"}).record(0.3)  # values change, layout does not
    same()
    hist.series({"a": "0"}).record(1.0)  # a new series in a known file
    per.series({}).set(5)
    same()
    release_r, release_w = os.pipe()
    ready_r, ready_w = os.pipe()

    def child() -> None:
        hist.series({"a": "2"}).record(0.01)
        hist.series({"a": "1"}).record(0.01)
        per.series({}).set(7)
        os.write(ready_w, b"x")
        os.read(release_r, 1)

    pid = _fork(child)
    try:
        assert os.read(ready_r, 1) == b"x"
        same()  # a new live file
        assert len(_values(collector.collect()[0], "g")) == 2
    finally:
        os.write(release_w, b"x")
        assert _wait(pid) == 0
    same()  # the same file, now dead: its per-process gauge goes
    compact(tmp_path)
    same()  # files replaced by an archive
    per.series({}).set(6)
    same()
