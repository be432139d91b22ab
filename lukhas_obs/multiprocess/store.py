"""This process's catalog aggregation in a memory-mapped file of its own, for a directory shared by pre-fork workers.

Why: gunicorn/uvicorn workers each aggregate in their own memory; one ``/metrics`` must show their sum. Each process
writes its series into its own file (``lkmp-<pid>-<instance>.db`` in the shared directory), and whoever serves
``/metrics`` merges every file (:mod:`lukhas_obs.multiprocess.merge`). An mmap shared by several processes loses
increments (the read-add-write of two processes interleave: 49 % lost in a prototype), so a file is never shared:

- the file is created on first use, in the process that uses it (``os.getpid()`` is in its name, with a random
  instance id). A store created in a parent and used in a ``fork`` child opens a new file in the child;
- series obtained before a fork and used in the child (a stale recorder) write into private memory of the child,
  never into the parent's file (an at-fork hook re-points them); lukhas-obs' handles re-resolve after a fork, so they
  get fresh series in the child's own file.

What a recorder costs: one generated straight-line method, like :mod:`lukhas_obs.aggregation`'s, whose updates are
``memoryview.cast('d')`` item stores into the slot (no ``struct``, no call, no allocation besides the floats).
Thread safety without locks on builds with the GIL, for the same reason as the aggregation (no call between the
read and the write of a word); the ``last`` gauge reads the clock (a C call) before its two stores, so a thread
switch can only reorder whole sets. On a free-threaded build each update runs under a per-series lock.

Growth: the file grows by chunks (``chunk_size`` bytes, ``posix_fallocate``d so a full disk is an error at growth,
never a SIGBUS on a store); every chunk is a separate mapping that stays mapped for the store's life, so a series'
view never goes stale when another thread grows the file. Records never cross a chunk (the tail of a full chunk
is a PAD record). A new record is written completely, then published by storing the new end into the header's
``committed`` word, so a reader never sees half a record.

Values are float64 words: integers are exact up to 2**53; an int64 beyond that is stored as the nearest float64
(relative error at most 2**-53), and a counter above 2**53 stops counting unit increments exactly (see
docs/MULTIPROCESS.md). Layout: :mod:`lukhas_obs.multiprocess._layout`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import mmap
import os
import secrets
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from time import time_ns
from typing import Any, Protocol

from opentelemetry import trace as _trace
from opentelemetry.context import Context, get_current
from opentelemetry.sdk.metrics._internal.exemplar.exemplar_filter import ExemplarFilter
from opentelemetry.trace.span import INVALID_SPAN

from lukhas_obs.aggregation import _UNSET, _context_reader, check_definition, free_threaded
from lukhas_obs.multiprocess import _layout as L

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "GAUGE_MODES",
    "KINDS",
    "ProcessStore",
    "Recorder",
    "StoreMetric",
    "boot_id",
    "process_start_ticks",
]

Recorder = Callable[[float | int], None]

#: The kinds a store records (catalog spelling) → the method of their series.
KINDS: dict[str, str] = {
    "counter": "add",
    "updown_counter": "add",
    "histogram": "record",
    "gauge": "set",
    "info": "set",
}
GAUGE_MODES = L.GAUGE_MODES
#: Bytes a file grows by (a multiple of ``mmap.ALLOCATIONGRANULARITY``). 1 MiB holds ~5,000 histogram series of
#: 10 buckets with exemplars, ~30,000 counters.
DEFAULT_CHUNK_SIZE = 1 << 20
_MAX_GROWTH = 64 << 20
_FILE_PREFIX = "lkmp-"
_TMP_PREFIX = ".tmp-lkmp-"
_SUFFIX = ".db"
_NAN = math.nan
_INF = math.inf
_NINF = -math.inf
_EXEMPLAR_FILTERS = ("trace_based", "always_on", "always_off")


class _Spec(Protocol):
    """What :meth:`ProcessStore.recorder` reads of a catalog ``MetricSpec``."""

    otel_name: str
    kind: str
    unit: str
    description: str
    buckets: Sequence[float] | None


# -- process identity ------------------------------------------------------------------------------------------------


def process_start_ticks(pid: int) -> int:
    """Field 22 of ``/proc/<pid>/stat`` (start time in clock ticks since boot), 0 when it cannot be read.

    With the pid it identifies a process across pid reuse: a new process with a recycled pid starts later.
    """
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            raw = f.read(4096)
        rest = raw[raw.rindex(b")") + 2 :].split()  # the command name may hold spaces and parentheses
        return int(rest[19])
    except Exception:
        return 0


_boot: bytes | None = None


def boot_id() -> bytes:
    """This boot's id (16 bytes of ``/proc/sys/kernel/random/boot_id``), zeros when unknown."""
    global _boot
    if _boot is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
                _boot = bytes.fromhex(f.read().strip().replace("-", ""))[:16].ljust(16, b"\0")
        except Exception:
            _boot = bytes(16)
    return _boot


# -- memory ------------------------------------------------------------------------------------------------------------


class _Chunk:
    """One mapping of a part of the file; never unmapped while the store lives (views into it stay valid)."""

    __slots__ = ("d", "mm", "q", "size", "start")

    def __init__(self, fd: int, start: int, size: int) -> None:
        self.start = start
        self.size = size
        self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
        view = memoryview(self.mm)
        self.d = view.cast("d")
        self.q = view.cast("q")


def _private(words: int) -> tuple[Any, Any]:
    """A slot in private memory (a detached or orphaned series): ``('d', 'q')`` views of one zeroed buffer."""
    buf = memoryview(bytearray(words * 8))
    return buf.cast("d"), buf.cast("q")


def _init_slot(d: Any, start: int, kind: str) -> None:
    """The initial words of a slot that are not zero: unset gauge/info values, a histogram's min and max."""
    if kind == "histogram":
        d[start + 1] = _INF
        d[start + 2] = _NINF
    elif kind in ("gauge", "info"):
        d[start] = _NAN


# -- generated series classes ------------------------------------------------------------------------------------------


class StoreSeries:
    """One attribute set of one metric, in the store's file. Get it from :meth:`StoreMetric.series` and keep it."""

    __slots__ = ()

    @property
    def attributes(self) -> dict[str, Any]:
        return self._a  # type: ignore[attr-defined]

    @property
    def detached(self) -> bool:
        """True when this series writes into private memory (orphaned by a fork, the store closed or full)."""
        return self._c is None  # type: ignore[attr-defined]


class GaugeStoreSeries(StoreSeries):
    """A gauge or info series; :attr:`v` is its current value (what ``inc``/``dec`` add to)."""

    __slots__ = ()

    @property
    def v(self) -> Any:
        value = self._v[0]  # type: ignore[attr-defined]
        return _UNSET if value != value else value


def _bucket_tree(count: int, indent: str, base: int) -> list[str]:
    """Source that counts ``v`` in bucket ``i = bisect_left(bounds, v)`` (float comparisons, no call): the mirror
    ``self.c<i>`` is incremented and stored into the int64 word ``mq[base + i]``."""

    def node(lo: int, hi: int, ind: str) -> list[str]:
        if lo == hi:
            return [f"{ind}k = self.c{lo} + 1", f"{ind}self.c{lo} = k", f"{ind}mq[{base + lo}] = k"]
        mid = (lo + hi) // 2
        return [f"{ind}if v <= _b{mid}:", *node(lo, mid, ind + "    "), f"{ind}else:", *node(mid + 1, hi, ind + "    ")]

    return node(0, count - 1, indent)


def _compile(source: str, namespace: dict[str, Any], name: str) -> Any:
    exec(compile(source, f"<lukhas_obs.multiprocess {name}>", "exec"), namespace)
    return namespace[name]


class StoreMetric:
    """One metric of a :class:`ProcessStore`: its definition and its series in this process's file."""

    def __init__(
        self,
        store: ProcessStore,
        name: str,
        description: str,
        unit: str,
        kind: str,
        bounds: tuple[float, ...] | None,
        mode: str,
    ) -> None:
        self.store = store
        self.name = name
        self.description = description
        self.unit = unit
        self.kind = kind
        self.bounds = bounds
        self.mode = mode
        self.exemplars = store._exemplar_mode != "off" and kind in ("counter", "histogram")
        self.words = L.slot_words(kind, 0 if bounds is None else len(bounds), self.exemplars)
        self._text = L.metric_text(name, description, unit, kind, bounds, mode, self.exemplars).encode("ascii")
        self._series: dict[frozenset[tuple[str, type, Any]], StoreSeries] = {}
        self._order: list[StoreSeries] = []
        self._id: int | None = None  # this metric's id in the current file (None: not written yet)
        self._cls = self._build()

    def __repr__(self) -> str:
        return f"<StoreMetric {self.kind} {self.name} series={len(self._order)}>"

    def __len__(self) -> int:
        return len(self._order)

    def series(
        self,
        attributes: Mapping[str, str | bool | int | float],
        key: frozenset[tuple[str, type, Any]] | None = None,
    ) -> StoreSeries:
        """The series of an admitted attribute set (created in the file on first use; keep the result).

        Values must be what a handle admits (str, bool, int64, finite float): TypeError/ValueError otherwise. When
        the file cannot take the series (disk full, directory gone), the series is detached (private memory: the
        process keeps working, its measurements are not merged) and the problem is reported as a drop.
        """
        store = self.store
        store._check_fork()
        if key is None:
            key = frozenset([(k, v.__class__, v) for k, v in attributes.items()])
        found = self._series.get(key)
        if found is not None:
            return found
        attrs = dict(attributes)
        text = L.canonical_attributes(attrs).encode("ascii")
        with store._lock:
            found = self._series.get(key)
            if found is not None:
                return found
            series: Any = self._cls()
            series._a = attrs
            series._m = self
            if store.locked:
                series._lk = threading.Lock()
            store._place(self, series, text)
            self._series[key] = series
            self._order.append(series)
            store._all.append(series)
        return series

    def _forget(self) -> None:
        """After a fork or close: this metric is not in the (next) file yet, and has no series there."""
        self._series = {}
        self._order = []
        self._id = None

    # -- generated code --------------------------------------------------------------------------------------------

    def _build(self) -> type[StoreSeries]:
        kind = self.kind
        locked = self.store.locked
        mode = self.store._exemplar_mode
        names = ["_a", "_c", "_m", "_q", "_v"] + (["_lk"] if locked else [])
        ns: dict[str, Any] = {"_t": time_ns, "_INF": _INF, "_NINF": _NINF}
        params = args = ""
        ex = ""
        # Counters and histograms keep a mirror of their words in slots (this process is the file's only writer,
        # so the mirror is the file's value): an update is slot arithmetic and one store per word, no read of the
        # mapping (a memoryview item read costs about as much as a store).
        mirrors: list[tuple[str, str]] = []
        if kind == "histogram":
            assert self.bounds is not None
            nb = len(self.bounds) + 1
            mirrors = [("s", "0"), ("n", "_INF"), ("x", "_NINF"), *((f"c{i}", "0") for i in range(nb))]
            body = ["m = self._v", "mq = self._q", *_bucket_tree(nb, "", L.HIST_HEAD)]
            body += ["s = self.s + v", "self.s = s", "m[0] = s"]
            body += ["if v < self.n:", "    self.n = v", "    m[1] = v"]
            body += ["if v > self.x:", "    self.x = v", "    m[2] = v"]
            params = "".join(f"_b{i}, " for i in range(nb - 1))
            args = "".join(f"_B[{i}], " for i in range(nb - 1))
            ns["_B"] = self.bounds
            method, base = "record", StoreSeries
        elif kind in ("counter", "updown_counter"):
            mirrors = [("s", "0")]
            body = ["s = self.s + v", "self.s = s", "self._v[0] = s"]
            method, base = "add", StoreSeries
        elif kind == "gauge":
            if self.mode == "last":
                body = ["t = _t()", "m = self._v", "m[0] = v", "self._q[1] = t"]
            else:
                body = ["self._v[0] = v"]
            method, base = "set", GaugeStoreSeries
        else:  # info: replaces the process's current set of this metric (rare: a Python-level slow path)
            cls = type("InfoStoreSeries", (GaugeStoreSeries,), {"__slots__": tuple(names), "set": _info_set})
            return cls
        if self.exemplars and mode == "trace":
            ex = "        c = _cv()\n        if c:\n            _ex(self, v, c)\n"
        elif self.exemplars and mode in ("on", "custom"):
            ex = "        _ex(self, v, None)\n"
        if locked:
            lines = ["        with self._lk:", *("            " + line for line in body)]
        else:
            lines = ["        " + line for line in body]
        src = f"def make({params}_t, _cv, _ex):\n    def {method}(self, v):\n" + "\n".join(lines) + "\n" + ex
        src += f"    return {method}\nhot = make({args}_t, _cv, _ex)"
        ns.update(_cv=self.store._context, _ex=self._offer)
        hot = _compile(src, ns, "hot")
        members: dict[str, Any] = {method: hot, "__module__": __name__}
        if mirrors:
            names += [name for name, _ in mirrors]
            init = "def __init__(self):\n" + "".join(f"    self.{name} = {value}\n" for name, value in mirrors)
            members["__init__"] = _compile(init, dict(ns), "__init__")
        members["__slots__"] = tuple(names)
        cls = type(f"{kind.title().replace('_', '')}StoreSeries", (base,), members)
        hot.__qualname__ = f"{cls.__name__}.{method}"
        return cls

    def _offer(self, series: Any, value: float | int, ctx: Context | None) -> None:
        """The exemplar slow path (a sampled span is current, or the filter is always_on/custom). Never raises."""
        try:
            store = self.store
            if ctx is None:
                ctx = get_current()
            now = time_ns()
            if store._exemplar_mode != "on" and not store._filter.should_sample(value, now, series._a, ctx):
                return
            span = _trace.get_current_span(ctx)
            trace_id = span_id = 0
            if span is not INVALID_SPAN:
                sc = span.get_span_context()
                if sc.is_valid:
                    trace_id, span_id = sc.trace_id, sc.span_id
            index = bisect_left(self.bounds, value) if self.bounds is not None else 0
            base = L.exemplar_base(self.kind, 0 if self.bounds is None else len(self.bounds))
            at = base + index * L.EXEMPLAR_WORDS
            with store._exlock:
                d, q = series._v, series._q
                seq = q[at] + 1
                q[at + 6] = seq  # seq_b first ...
                q[at + 1] = L.to_signed(trace_id >> 64)
                q[at + 2] = L.to_signed(trace_id)
                q[at + 3] = L.to_signed(span_id)
                d[at + 4] = value
                q[at + 5] = now
                q[at] = seq  # ... seq_a last: a reader with seq_a == seq_b read a whole exemplar
                if self.bounds is not None:
                    q[L.EXEMPLAR_WRITES] += 1  # the reader looks at the exemplars only when this is not 0
        except Exception:  # exemplars are best effort
            pass


def _info_set(self: Any, value: float | int = 1, /) -> None:
    """Make this attribute set the process's current facts of its info metric (the previous set disappears)."""
    try:
        metric = self._m
        with metric.store._lock:
            for other in metric._order:
                if other is not self:
                    other._v[0] = _NAN
            self._q[1] = time_ns()
            self._v[0] = 1.0
    except Exception:  # never raise into the caller
        pass


# -- the store ---------------------------------------------------------------------------------------------------------

_stores: weakref.WeakSet[ProcessStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_stores):
        with contextlib.suppress(Exception):
            store._check_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _exemplar_mode(exemplar_filter: ExemplarFilter | str | None) -> tuple[str, Any]:
    from opentelemetry.sdk.metrics._internal.exemplar.exemplar_filter import (
        AlwaysOffExemplarFilter,
        AlwaysOnExemplarFilter,
        TraceBasedExemplarFilter,
    )

    if exemplar_filter is None or exemplar_filter == "always_off":
        return "off", AlwaysOffExemplarFilter()
    if isinstance(exemplar_filter, AlwaysOffExemplarFilter):
        return "off", AlwaysOffExemplarFilter()
    if exemplar_filter == "trace_based" or type(exemplar_filter) is TraceBasedExemplarFilter:
        return "trace", TraceBasedExemplarFilter()
    if exemplar_filter == "always_on" or type(exemplar_filter) is AlwaysOnExemplarFilter:
        return "on", AlwaysOnExemplarFilter()
    if isinstance(exemplar_filter, ExemplarFilter):
        return "custom", exemplar_filter
    raise ValueError(
        f"exemplar_filter: expected an ExemplarFilter or one of {', '.join(_EXEMPLAR_FILTERS)}, "
        f"got {type(exemplar_filter).__name__}"
    )


class ProcessStore:
    """The series of one process in a file of its own in ``directory`` (see the module docstring).

    ``pid``: the pid written into the file (default: ``os.getpid()`` when the file is opened; a fork child always
    writes its own). ``chunk_size``: bytes the file grows by, a multiple of ``mmap.ALLOCATIONGRANULARITY``.
    ``exemplar_filter``: ``trace_based`` (default, as the SDK: a sampled span is current), ``always_on``,
    ``always_off`` or an SDK ``ExemplarFilter``. ``locked``: take a per-series lock on every update (default: only
    on a free-threaded build). ``file_mode``: permissions of the file (the reader must be able to read it).

    Raises ValueError naming the field when the directory is not a writable directory or an option is invalid.
    The file itself is created on first use, in the process that uses it.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        pid: int | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        exemplar_filter: ExemplarFilter | str | None = "trace_based",
        locked: bool | None = None,
        file_mode: int = 0o600,
    ) -> None:
        try:
            path = os.fspath(directory)
        except TypeError:
            raise ValueError(f"multiprocess_dir: expected a path, got {type(directory).__name__}") from None
        if not isinstance(path, str) or not path:
            raise ValueError("multiprocess_dir: expected a non-empty path")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ValueError(f"multiprocess_dir: cannot create {path!r} ({reason})") from None
        if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"multiprocess_dir: {path!r} is not a writable directory")
        granularity = mmap.ALLOCATIONGRANULARITY
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size: expected a positive multiple of {granularity}, got {chunk_size!r}")
        if chunk_size % granularity:
            raise ValueError(f"chunk_size: expected a positive multiple of {granularity}, got {chunk_size!r}")
        if chunk_size >= 1 << 32:
            raise ValueError("chunk_size: expected less than 4 GiB")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 1 << 62):
            raise ValueError(f"pid: expected a positive int, got {pid!r}")
        self.directory = path
        self.chunk_size = chunk_size
        self.locked = free_threaded() if locked is None else bool(locked)
        self.file_mode = int(file_mode)
        self._exemplar_mode, self._filter = _exemplar_mode(exemplar_filter)
        self._context = _context_reader()
        self._given_pid = pid
        self._creator = os.getpid()
        self._owner: int | None = None  # the pid whose file is open (None: no file open)
        self._lock = threading.Lock()
        self._exlock = threading.Lock()
        self._metrics: dict[str, StoreMetric] = {}
        self._all: list[StoreSeries] = []
        self._chunks: list[_Chunk] = []
        self._fd = -1
        self._end = 0
        self._next_id = 0
        self._path: str | None = None
        self._closed = False
        self._failed = False
        _stores.add(self)

    def __repr__(self) -> str:
        return f"<ProcessStore {self._path or self.directory} metrics={len(self._metrics)} series={len(self._all)}>"

    @property
    def path(self) -> str | None:
        """This process's file (None until the first series is created)."""
        return self._path if self._owner == os.getpid() else None

    # -- the public surface ----------------------------------------------------------------------------------------

    def metric(
        self,
        name: str,
        description: str,
        unit: str,
        kind: str,
        buckets: Sequence[float] | None = None,
        gauge_mode: str = "last",
    ) -> StoreMetric:
        """The store's state of one metric (asking again with the same definition returns it).

        Checked like :meth:`lukhas_obs.aggregation.Aggregator.metric` (OTel name and unit rules; the published name
        lowercased; histogram buckets strictly increasing finite numbers, kept as given; None: the SDK's default
        boundaries). ``gauge_mode`` (gauges only): how the merge combines processes, one of :data:`GAUGE_MODES`.
        """
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
        if gauge_mode not in GAUGE_MODES:
            raise ValueError(f"gauge_mode: expected one of {', '.join(GAUGE_MODES)}, got {gauge_mode!r}")
        checked, bounds = check_definition(name, description, unit, "gauge" if kind == "info" else kind, buckets)
        mode = gauge_mode if kind == "gauge" else "last"
        published = str(checked["name"]).lower()
        with self._lock:
            existing = self._metrics.get(published)
            if existing is not None:
                same = (
                    existing.kind == kind
                    and existing.unit == checked["unit"]
                    and existing.description == checked["description"]
                    and existing.bounds == bounds
                    and existing.mode == mode
                )
                if not same:
                    raise ValueError(f"metric {published!r} is already defined differently")
                return existing
            state = StoreMetric(self, published, str(checked["description"]), str(checked["unit"]), kind, bounds, mode)
            self._metrics[published] = state
            return state

    def recorder(
        self, spec: _Spec, attributes: Mapping[str, str | bool | int | float], gauge_mode: str = "last"
    ) -> Recorder | None:
        """The recorder (a callable taking the value) of one admitted attribute set of a catalog metric.

        ``spec`` is a ``MetricSpec`` (its ``otel_name``, ``kind``, ``unit``, ``description``, ``buckets``). Never
        raises: a definition or attribute set the store cannot take is reported as a drop and gives None.
        """
        try:
            kind = spec.kind
            buckets = spec.buckets if kind == "histogram" else None
            metric = self.metric(spec.otel_name, spec.description, spec.unit, kind, buckets, gauge_mode)
            recorder: Recorder = getattr(metric.series(attributes), KINDS[kind])
            return recorder
        except Exception as exc:
            _report(getattr(spec, "name", "lukhas_obs.multiprocess"), "internal_error", type(exc).__name__)
            return None

    def close(self) -> None:
        """Mark the file closed (the merge then treats it as a finished process: counters kept, gauges dropped) and
        detach every series (later updates go to private memory). Idempotent; never raises."""
        try:
            with self._lock:
                if self._owner == os.getpid() and self._chunks and not self._closed:
                    flags = memoryview(self._chunks[0].mm).cast("I")
                    flags[L.FLAGS_OFFSET // 4] = flags[L.FLAGS_OFFSET // 4] | L.FLAG_CLOSED
                    flags.release()
                self._closed = True
                self._detach_all()
                self._drop_file()
        except Exception:
            pass

    def __enter__(self) -> ProcessStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------------------------

    def _check_fork(self) -> None:
        """In a fork child that inherited an open file: re-point the inherited series to private memory and forget
        the parent's file; the child's own file is opened by its first new series. Lock-free (the parent's lock may
        have been held by a thread that does not exist here)."""
        owner = self._owner
        if owner is None or owner == os.getpid():
            return
        self._lock = threading.Lock()
        self._exlock = threading.Lock()
        self._detach_all()
        self._chunks = []
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)  # the child's copy of the descriptor; the parent's stays open
        self._owner = None
        self._path = None
        self._end = 0
        self._next_id = 0
        self._failed = False

    def _detach_all(self) -> None:
        for series in self._all:
            words = series._m.words  # type: ignore[attr-defined]
            d, q = _private(words)
            _init_slot(d, 0, series._m.kind)  # type: ignore[attr-defined]
            series._v, series._q, series._c = d, q, None  # type: ignore[attr-defined]
        self._all = []
        for metric in self._metrics.values():
            metric._forget()

    def _drop_file(self) -> None:
        self._chunks = []
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = -1
        self._owner = None
        self._path = None

    def _open(self) -> None:
        """Create this process's file: written under a temporary name, then renamed (a reader sees whole headers)."""
        pid = os.getpid()
        written_pid = self._given_pid if (self._given_pid is not None and pid == self._creator) else pid
        instance = secrets.token_bytes(16)
        name = f"{written_pid}-{instance.hex()}{_SUFFIX}"
        tmp = os.path.join(self.directory, _TMP_PREFIX + name)
        final = os.path.join(self.directory, _FILE_PREFIX + name)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, self.file_mode)
        try:
            _allocate(fd, 0, self.chunk_size)
            chunk = _Chunk(fd, 0, self.chunk_size)
            start = process_start_ticks(written_pid) if written_pid == pid else 0
            L.HEADER.pack_into(
                chunk.mm, 0, L.MAGIC, L.VERSION, L.BYTE_ORDER_MARK, L.HEADER_SIZE, written_pid, start, time_ns(),
                instance, boot_id(), 0, self.chunk_size,
            )  # fmt: skip
            os.rename(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fd = fd
        self._chunks = [chunk]
        self._end = L.HEADER_SIZE
        self._owner = pid
        self._path = final
        self._closed = False

    def _record(
        self, rtype: int, kind: int, metric_id: int, text: bytes, created: int, words: int
    ) -> tuple[_Chunk, int]:
        """Append one record (under the store lock); returns its chunk and the word index of its slot there."""
        head = L.align8(L.RECORD_SIZE + len(text))
        need = head + words * 8
        chunk = self._chunks[-1]
        end = self._end
        limit = chunk.start + chunk.size
        if end + need > limit:
            # each chunk twice the previous (up to 64 MiB): few mappings (each holds a descriptor) for a large file
            grown = min(chunk.size * 2, max(self.chunk_size, _MAX_GROWTH))
            size = max(grown, -(-need // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY)
            _allocate(self._fd, limit, size)  # may raise (disk full): nothing was written yet
            fresh = _Chunk(self._fd, limit, size)
            if limit > end:
                L.PREFIX.pack_into(chunk.mm, end - chunk.start, limit - end, L.PAD, 0)
            self._chunks.append(fresh)
            chunk, end = fresh, limit
        local = end - chunk.start
        L.RECORD.pack_into(chunk.mm, local, need, rtype, kind, metric_id, len(text), created)
        chunk.mm[local + L.RECORD_SIZE : local + L.RECORD_SIZE + len(text)] = text
        self._end = end + need
        return chunk, (local + head) // 8

    def _commit(self) -> None:
        self._chunks[0].q[L.COMMITTED_WORD] = self._end

    def _place(self, metric: StoreMetric, series: Any, text: bytes) -> None:
        """Give a new series its slot in this process's file (under the store lock), or private memory."""
        if not self._closed and not self._failed:
            try:
                if self._owner != os.getpid():
                    self._open()
                if metric._id is None:
                    metric_id = self._next_id
                    self._record(L.METRIC, L.KIND_CODES[metric.kind], metric_id, metric._text, 0, 0)
                    self._next_id += 1
                    metric._id = metric_id
                    self._commit()
                chunk, at = self._record(
                    L.SERIES, L.KIND_CODES[metric.kind], metric._id, text, time_ns(), metric.words
                )
                _init_slot(chunk.d, at, metric.kind)
                self._commit()
                series._v = chunk.d[at : at + metric.words]
                series._q = chunk.q[at : at + metric.words]
                series._c = chunk
                return
            except Exception as exc:
                reason = "multiprocess_store_full" if _is_full(exc) else "multiprocess_store_error"
                _report(metric.name, reason, type(exc).__name__)
                if self._owner != os.getpid() or not self._chunks:
                    self._failed = True  # the file could not even be created: stop trying for this process
        d, q = _private(metric.words)
        _init_slot(d, 0, metric.kind)
        series._v, series._q, series._c = d, q, None


def _allocate(fd: int, offset: int, size: int) -> None:
    """Give the file real blocks for ``[offset, offset + size)`` (a full disk fails here, not as SIGBUS later)."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        try:
            fallocate(fd, offset, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)):
                raise
    os.ftruncate(fd, offset + size)


def _is_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _report(where: str, reason: str, detail: str) -> None:
    try:
        from lukhas_obs import drops

        drops.report(where, reason, detail)
    except Exception:  # pragma: no cover - drops never raises; an import problem must not either
        pass


