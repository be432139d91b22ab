"""Merging every process file of a multiprocess directory into one ``MetricsData``, and compacting dead workers.

:func:`collect` (one shot) and :class:`MultiprocessCollector` (keeps what it parsed of each file between scrapes)
read every file of the directory — including files being written — and return the SDK's shape: cumulative ``Sum``
for counters and up-down counters, ``Histogram`` points with bucket counts, sum, count, min and max, ``Gauge``
points for gauges and info metrics, under one resource and one scope (parameters). Merge rules:

- counters, up-down counters and histograms: summed over every file, live or dead (a finished worker's counts keep
  contributing); min of mins, max of maxes; the start time is the earliest series creation;
- gauges, by the mode their metric was defined with: ``last`` (the most recent set of any process, live or dead —
  a time_ns() per set), ``sum``/``min``/``max`` over live processes, ``per_process`` one point per live process with
  a ``pid`` label; a dead worker's gauges of these modes disappear;
- info: the current facts of every live process (deduplicated); when no live process has any, the most recent of
  the dead ones;
- exemplars: per histogram bucket (and per counter) the most recent across processes;
- order: metrics by their earliest series, points by creation time (as one process's aggregation orders them).

A file is *dead* when its process is gone: ``os.kill(pid, 0)`` fails, ``/proc/<pid>/stat`` says zombie or shows
another start time (the pid was reused), the boot id differs, or the store was closed. Robustness: a file that is
not ours, is corrupt or from another architecture is skipped and counted (never raises); a truncated file
contributes its complete records; a record is only read once the writer published it. :func:`compact` folds dead
files into one archive (written aside, renamed into place, then the absorbed files removed, under a lock file);
an archive lists the files it absorbed so a collector that sees both during the switch counts them once, and a
collector that finds a listed file gone re-lists the directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat as _stat
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from lukhas_obs.aggregation import _HISTOGRAM_POINT, _NUMBER_POINT
from lukhas_obs.multiprocess import _layout as L
from lukhas_obs.multiprocess.store import _FILE_PREFIX, _SUFFIX, _TMP_PREFIX, boot_id

__all__ = [
    "ARCHIVE_PREFIX",
    "DEFAULT_MAX_FILE_BYTES",
    "CollectStats",
    "Collected",
    "CompactResult",
    "MultiprocessCollector",
    "collect",
    "compact",
    "process_alive",
]

ARCHIVE_PREFIX = "lkmp-archive-"
LOCK_NAME = ".lkmp-compact.lock"
#: A file larger than this is not read (a runaway or hostile file must not exhaust the serving process).
DEFAULT_MAX_FILE_BYTES = 1 << 30
_CUMULATIVE = AggregationTemporality.CUMULATIVE
_NO_BOOT = bytes(16)
#: Listings tried when a listed file vanishes (a compaction renamed it into an archive meanwhile), with a short
#: pause between them, before reading what is there (which may then miss that compaction's files once).
_RETRIES = 50
_RETRY_PAUSE_S = 0.002
_CACHE_LIMIT = 200_000

Alive = Callable[[int, int, bytes], bool]


# -- results -----------------------------------------------------------------------------------------------------------


@dataclass
class CollectStats:
    """What one collection read: how many processes contributed, and what it had to skip."""

    #: Process files read whose process is running.
    live: int = 0
    #: Process files read whose process is gone (not compacted yet).
    dead: int = 0
    #: Archive files read, and the process files they absorbed.
    archives: int = 0
    archived_processes: int = 0
    #: Files skipped: not a lukhas-obs file, corrupt, from another architecture or version.
    corrupt: int = 0
    #: Files that end inside a record (their complete records were used).
    truncated: int = 0
    #: Files that could not be read (permissions, not a regular file, larger than the limit).
    unreadable: int = 0
    #: Series skipped because their metric is defined differently in a newer file (a deploy changed buckets).
    conflicts: int = 0
    #: Points in the result.
    points: int = 0

    @property
    def processes(self) -> int:
        """Processes whose measurements are in the result (live, dead, and absorbed by archives)."""
        return self.live + self.dead + self.archived_processes


class Collected(NamedTuple):
    """The merged data (None when there is nothing, as the SDK hands nothing) and what the collection read."""

    metrics_data: MetricsData | None
    stats: CollectStats


@dataclass
class CompactResult:
    """What :func:`compact` did."""

    archive: str | None = None
    absorbed: list[str] = field(default_factory=list)
    removed_temporary: int = 0
    skipped: str = ""


# -- liveness ----------------------------------------------------------------------------------------------------------


def _proc_state(pid: int) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read(4096)
        rest = raw[raw.rindex(b")") + 2 :].split()
        return rest[0].decode("ascii", "replace"), int(rest[19])
    except FileNotFoundError:
        return ("X", 0) if os.path.isdir("/proc/self") else None
    except Exception:
        return None


def process_alive(pid: int, start_ticks: int, boot: bytes) -> bool:
    """Whether the process that wrote a file still runs: same boot, ``os.kill(pid, 0)`` succeeds, not a zombie,
    and (when both are known) the same start time, so a recycled pid does not keep a dead worker alive."""
    if pid <= 0:
        return False
    here = boot_id()
    if boot != _NO_BOOT and here != _NO_BOOT and boot != here:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OSError:
        return False
    state = _proc_state(pid)
    if state is None:
        return True  # no /proc: trust kill
    if state[0] in ("Z", "X", "x"):
        return False
    return not (start_ticks and state[1] and state[1] != start_ticks)


# -- parsing -----------------------------------------------------------------------------------------------------------


class _Def:
    """One METRIC record."""

    __slots__ = (
        "bounds", "description", "exemplars", "head", "ident", "kind", "mode", "name", "nb", "unit", "words",
    )  # fmt: skip

    def __init__(self, doc: Any, kind_code: int) -> None:
        kind = doc["kind"]
        if L.KIND_CODES.get(kind) != kind_code:
            raise ValueError("kind mismatch")
        name, description, unit, mode = doc["name"], doc["description"], doc["unit"], doc["mode"]
        if not all(isinstance(x, str) for x in (name, description, unit, mode)) or mode not in L.GAUGE_MODES:
            raise ValueError("bad metric record")
        bounds = doc["bounds"]
        if kind == "histogram":
            if not isinstance(bounds, list) or not all(
                b.__class__ in (int, float) and math.isfinite(b) for b in bounds
            ):
                raise ValueError("bad bounds")
            if any(not a < b for a, b in pairwise(bounds)):
                raise ValueError("bad bounds")
            self.bounds: tuple[float, ...] | None = tuple(bounds)
        elif bounds is not None:
            raise ValueError("bounds on a non-histogram")
        else:
            self.bounds = None
        self.name, self.description, self.unit, self.kind, self.mode = name, description, unit, kind, mode
        self.exemplars = bool(doc.get("exemplars"))
        self.nb = 0 if self.bounds is None else len(self.bounds) + 1
        #: histograms: sum, min, max (float64), exemplar writes and the bucket counts (int64) in one unpack
        self.head = struct.Struct(f"=3dq{self.nb}q") if kind == "histogram" else None
        self.words = L.slot_words(kind, 0 if self.bounds is None else len(self.bounds), self.exemplars)
        typed = None if self.bounds is None else tuple((b.__class__, b) for b in self.bounds)
        self.ident = (kind, unit, description, mode, typed)


class _Corrupt(Exception):
    pass


class _File:
    """What is known of one file: its header, its definitions and series (records never change once published)."""

    __slots__ = (
        "absorbed", "boot", "closed", "count", "created", "defs", "groups", "includes", "instance", "is_archive",
        "key", "parsed", "path", "pid", "start", "truncated",
    )  # fmt: skip

    def __init__(self, path: str, key: tuple[int, int], header: tuple[Any, ...]) -> None:
        _, _, _, _, pid, start, created, instance, boot, flags, _ = header
        self.path = path
        self.key = key
        self.pid = pid
        self.start = start
        self.created = created
        self.instance = instance.hex()
        self.boot = boot
        self.is_archive = bool(flags & L.FLAG_ARCHIVE)
        self.closed = bool(flags & L.FLAG_CLOSED)
        self.defs: dict[int, _Def] = {}
        #: metric id → its series: (attribute key, attributes, created, index in the file, first word of the slot,
        #: attribute text), in file order
        self.groups: dict[int, list[tuple[Any, dict[str, Any], int, int, int, bytes]]] = {}
        self.count = 0
        #: Archives: the files (instance ids) it absorbed, and how many process files that makes in all.
        self.includes: frozenset[str] = frozenset()
        self.absorbed = 0
        self.parsed = L.HEADER_SIZE
        self.truncated = False

    def parse(self, data: bytes, committed: int, attr_cache: dict[bytes, tuple[dict[str, Any], Any]]) -> None:
        """Read the records published since the last call (raises _Corrupt). ``attr_cache``: attribute text →
        (attributes, key), shared by the files of a directory (workers have the same series)."""
        size = len(data)
        limit = min(committed, size)
        self.truncated = committed > size
        pos = self.parsed
        prefix, record = L.PREFIX.unpack_from, L.RECORD.unpack_from
        while pos < limit:
            if pos + 8 > limit:
                if self.truncated:
                    break
                raise _Corrupt("record prefix past the end")
            rsize, rtype, kind = prefix(data, pos)
            if rsize == 0 and self.truncated:
                break  # a file that claims more than it holds: its records end where the zeros start
            if rsize < 8 or rsize % 8 or rtype not in L.RECORD_TYPES:
                raise _Corrupt("bad record prefix")
            if pos + rsize > limit:
                if self.truncated:
                    break
                raise _Corrupt("record past the end")
            if rtype == L.PAD:
                pos += rsize
                continue
            if rsize < L.RECORD_SIZE:
                raise _Corrupt("short record")
            _, _, _, ident, tlen, created = record(data, pos)
            head = L.align8(L.RECORD_SIZE + tlen)
            if tlen > L.MAX_TEXT or head > rsize:
                raise _Corrupt("bad text length")
            text = data[pos + L.RECORD_SIZE : pos + L.RECORD_SIZE + tlen]
            if rtype == L.METRIC:
                if ident in self.defs or rsize != head:
                    raise _Corrupt("bad metric record")
                try:
                    self.defs[ident] = _Def(json.loads(text), kind)
                except (ValueError, KeyError, TypeError) as exc:
                    raise _Corrupt("bad metric text") from exc
            elif rtype == L.SERIES:
                definition = self.defs.get(ident)
                if definition is None or L.KIND_CODES[definition.kind] != kind:
                    raise _Corrupt("series of an unknown metric")
                if rsize - head != definition.words * 8:
                    raise _Corrupt("slot size")
                text = bytes(text)
                parsed = attr_cache.get(text)
                if parsed is None:
                    try:
                        attrs = json.loads(text)
                        if not isinstance(attrs, dict) or not all(
                            v.__class__ in (str, bool, int, float) for v in attrs.values()
                        ):
                            raise ValueError
                        parsed = attr_cache[text] = (attrs, L.attributes_key(attrs))
                    except (ValueError, TypeError) as exc:
                        raise _Corrupt("bad attribute text") from exc
                rows = self.groups.get(ident)
                if rows is None:
                    rows = self.groups[ident] = []
                rows.append((parsed[1], parsed[0], created, self.count, (pos + head) // 8, text))
                self.count += 1
            else:  # INCLUDES
                try:
                    doc = json.loads(text)
                    listed, absorbed = doc["files"], doc["processes"]
                    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
                        raise ValueError
                    if absorbed.__class__ is not int or absorbed < 0:
                        raise ValueError
                except (ValueError, KeyError, TypeError) as exc:
                    raise _Corrupt("bad includes") from exc
                self.includes = self.includes | frozenset(listed)
                self.absorbed += absorbed
            pos += rsize
        self.parsed = pos


def _read(path: str, max_bytes: int) -> tuple[bytes, tuple[int, int]] | None:
    """The file's bytes (None: not a regular file, too large, unreadable). FileNotFoundError propagates."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        chunks = []
        remaining = st.st_size
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks), (st.st_dev, st.st_ino)
    finally:
        os.close(fd)


def _list(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith(_FILE_PREFIX) and n.endswith(_SUFFIX))


# -- the collector -----------------------------------------------------------------------------------------------------


class _Snapshot(NamedTuple):
    file: _File
    d: Any  # memoryview cast "d"
    q: Any  # memoryview cast "q"
    live: bool
    raw: memoryview


class MultiprocessCollector:
    """Merges a directory's files at every :meth:`collect`, re-reading only the values of what it already parsed.

    ``resource``/``scope``: what the result is published under (default: an empty resource, scope ``lukhas_obs``
    at this version). ``compact_interval``: seconds between automatic :func:`compact` runs when a collection finds
    dead files (None: never compact from here). ``alive``: the liveness test (default :func:`process_alive`).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        resource: Resource | None = None,
        scope: InstrumentationScope | None = None,
        compact_interval: float | None = None,
        alive: Alive | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.directory = os.fspath(directory)
        if resource is None:
            resource = Resource.get_empty()
        if scope is None:
            from lukhas_obs._version import __version__

            scope = InstrumentationScope("lukhas_obs", __version__)
        self.resource = resource
        self.scope = scope
        self.compact_interval = compact_interval
        self.alive = alive or process_alive
        self.max_file_bytes = max_file_bytes
        self._files: dict[str, _File] = {}
        self._attrs: dict[bytes, tuple[dict[str, Any], Any]] = {}
        self._merge_cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_compact = 0.0

    def collect(self, time_unix_nano: int | None = None) -> Collected:
        """The merged data of every file now, stamped ``time_unix_nano`` (default now). Never raises."""
        now = time.time_ns() if time_unix_nano is None else time_unix_nano
        with self._lock:
            try:
                result = self._collect(now)
            except Exception as exc:  # pragma: no cover - a bug here must not break the scrape
                _report("internal_error", type(exc).__name__)
                return Collected(None, CollectStats())
        if self.compact_interval is not None and result.stats.dead:
            clock = time.monotonic()
            if clock - self._last_compact >= self.compact_interval:
                self._last_compact = clock
                with contextlib.suppress(Exception):
                    compact(self.directory, alive=self.alive, max_file_bytes=self.max_file_bytes)
        return result

    # -- reading ---------------------------------------------------------------------------------------------------

    def _collect(self, now: int) -> Collected:
        for attempt in range(_RETRIES):
            stats = CollectStats()
            snapshots = self._snapshots(stats)
            if snapshots is not None:
                break
            if attempt:
                time.sleep(_RETRY_PAUSE_S)  # let the compaction that moved a file finish its rename
        else:
            stats = CollectStats()
            snapshots = self._snapshots(stats, tolerate_missing=True) or []
        return Collected(_merge(snapshots, self.resource, self.scope, now, stats, self._merge_cache), stats)

    def _snapshots(self, stats: CollectStats, tolerate_missing: bool = False) -> list[_Snapshot] | None:
        """Every readable file's parsed records and values (None: a listed file vanished, list again)."""
        names = _list(self.directory)
        known: dict[str, _File] = {}
        out: list[_Snapshot] = []
        alive_cache: dict[tuple[int, int, bytes], bool] = {}
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                read = _read(path, self.max_file_bytes)
            except FileNotFoundError:
                if tolerate_missing:
                    continue
                return None
            except OSError:
                stats.unreadable += 1
                continue
            if read is None:
                stats.unreadable += 1
                continue
            data, key = read
            try:
                if len(data) < L.HEADER_SIZE:
                    raise _Corrupt("short header")
                header = L.HEADER.unpack_from(data, 0)
                if header[0] != L.MAGIC or header[1] != L.VERSION or header[2] != L.BYTE_ORDER_MARK:
                    raise _Corrupt("not a lukhas-obs multiprocess file of this version and architecture")
                f = self._files.get(path)
                if f is None or f.key != key or f.instance != header[7].hex():
                    f = _File(path, key, header)
                else:
                    f.closed = bool(header[9] & L.FLAG_CLOSED)
                f.parse(data, header[3], self._attrs)
            except Exception:
                stats.corrupt += 1
                continue
            known[path] = f
            usable = len(data) // 8 * 8
            view = memoryview(data)[:usable]
            if f.is_archive or f.closed:
                live = False
            else:
                ident = (f.pid, f.start, f.boot)
                live = alive_cache.get(ident)  # type: ignore[assignment]
                if live is None:
                    try:
                        live = alive_cache[ident] = bool(self.alive(f.pid, f.start, f.boot))
                    except Exception:
                        live = alive_cache[ident] = True
            out.append(_Snapshot(f, view.cast("d"), view.cast("q"), live, view))
        self._files = known
        if len(self._attrs) > _CACHE_LIMIT:
            self._attrs.clear()
        return out


def collect(
    directory: str | os.PathLike[str],
    *,
    resource: Resource | None = None,
    scope: InstrumentationScope | None = None,
    time_unix_nano: int | None = None,
    alive: Alive | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Collected:
    """Merge every file of ``directory`` once (see the module docstring): ``(metrics_data, stats)``. Never raises."""
    collector = MultiprocessCollector(
        directory, resource=resource, scope=scope, alive=alive, max_file_bytes=max_file_bytes
    )
    return collector.collect(time_unix_nano)


# -- merging -----------------------------------------------------------------------------------------------------------


def _exemplar(q: memoryview, d: memoryview, at: int) -> tuple[int, int, int, float] | None:
    """(time, trace id, span id, value) of the exemplar at word ``at``, None when absent or torn."""
    seq = q[at]
    if seq == 0 or q[at + 6] != seq:
        return None
    trace_id = (L.to_unsigned(q[at + 1]) << 64) | L.to_unsigned(q[at + 2])
    return q[at + 5], trace_id, L.to_unsigned(q[at + 3]), d[at + 4]


def _sdk_exemplar(found: tuple[int, int, int, float], attributes: dict[str, Any]) -> Exemplar:
    t, trace_id, span_id, value = found
    return Exemplar(
        {} if attributes else None, L.number(value), t, span_id or None, trace_id or None
    )


class _Entry:
    """One merged series (``base``: its attribute set's key; ``pid``: the process of a per-process point)."""

    __slots__ = ("attrs", "base", "exemplars", "pid", "values")

    def __init__(self, attrs: dict[str, Any], base: Any, values: Any = None, pid: int = 0) -> None:
        self.attrs = attrs
        self.base = base
        self.values = values
        self.exemplars: Any = None
        self.pid = pid


def _choose_defs(snapshots: list[_Snapshot]) -> dict[str, tuple[Any, ...]]:
    """Per metric name, the definition to publish: the one of the newest live file, else of the newest file."""
    best: dict[str, tuple[tuple[bool, int], tuple[Any, ...]]] = {}
    for snap in snapshots:
        rank = (snap.live, snap.file.created)
        for definition in snap.file.defs.values():
            known = best.get(definition.name)
            if known is None or rank > known[0]:
                best[definition.name] = (rank, definition.ident)
    return {name: ident for name, (_, ident) in best.items()}


def _merge(
    snapshots: list[_Snapshot],
    resource: Resource,
    scope: InstrumentationScope,
    now: int,
    stats: CollectStats,
    cache: dict[str, Any] | None = None,
) -> MetricsData | None:
    covered: set[str] = set()
    for snap in snapshots:
        if snap.file.is_archive:
            covered |= snap.file.includes
    snapshots = [s for s in snapshots if s.file.instance not in covered]
    snapshots.sort(key=lambda s: (s.file.created, s.file.instance))
    for snap in snapshots:
        if snap.file.is_archive:
            stats.archives += 1
            stats.archived_processes += snap.file.absorbed
        elif snap.live:
            stats.live += 1
        else:
            stats.dead += 1
        if snap.file.truncated:
            stats.truncated += 1
    chosen = _choose_defs(snapshots)
    metrics: dict[str, tuple[_Def, dict[Any, _Entry]]] = {}
    #: (name, attribute key) → its earliest (creation time, file rank, record index) in any file, set or not: the
    #: output order and start time, as one process orders series by creation
    # the files' series are unchanged since the previous collection (same files, same counts, same liveness):
    # their order is too
    signature = tuple((s.file.instance, s.file.count, s.live) for s in snapshots)
    reuse = cache is not None and cache.get("signature") == signature
    firsts: dict[str, dict[Any, tuple[int, int, int]]] = cache["firsts"] if reuse else {}  # type: ignore[index]
    dead_info: dict[str, tuple[int, dict[str, Any], Any]] = {}
    exemplar_words = L.EXEMPLAR_WORDS
    for rank, snap in enumerate(snapshots):
        f, d, q, live, raw = snap
        for metric_id, rows in f.groups.items():
            definition = f.defs[metric_id]
            name = definition.name
            if definition.ident != chosen.get(name):
                stats.conflicts += len(rows)
                continue
            slot = metrics.get(name)
            if slot is None:
                slot = metrics[name] = (definition, {})
            entries = slot[1]
            if not reuse:
                mfirsts = firsts.get(name)
                if mfirsts is None:
                    mfirsts = firsts[name] = {}
                for key, _, created, index, _, _ in rows:
                    known_first = mfirsts.get(key)
                    if known_first is None or created <= known_first[0]:
                        first = (created, rank, index)
                        if known_first is None or first < known_first:
                            mfirsts[key] = first
            kind = definition.kind
            if kind in ("counter", "updown_counter"):
                for key, attrs, _, _, at, _ in rows:
                    entry = entries.get(key)
                    if entry is None:
                        entry = entries[key] = _Entry(attrs, key, d[at])
                    else:
                        entry.values += d[at]
                    if definition.exemplars and q[at + 1]:
                        found = _exemplar(q, d, at + 1)
                        if found is not None and (entry.exemplars is None or found[0] >= entry.exemplars[0]):
                            entry.exemplars = found
            elif kind == "histogram":
                nb = definition.nb
                width = L.HIST_HEAD + nb
                ex_span = exemplar_words * nb
                with_exemplars = definition.exemplars
                unpack = definition.head.unpack_from  # type: ignore[union-attr]
                for key, attrs, _, _, at, _ in rows:
                    entry = entries.get(key)
                    # each process's (sum, min, max, -, counts...), combined per column when the point is made
                    if entry is None:
                        entry = entries[key] = _Entry(attrs, key, [unpack(raw, at * 8)])
                    else:
                        entry.values.append(unpack(raw, at * 8))
                    if with_exemplars and q[at + L.EXEMPLAR_WRITES]:
                        base = at + width
                        seqs = q[base : base + ex_span : exemplar_words].tolist()
                        if any(seqs):
                            ex = entry.exemplars
                            if ex is None:
                                ex = entry.exemplars = {}
                            for b, seq in enumerate(seqs):
                                if not seq:
                                    continue
                                found = _exemplar(q, d, base + b * exemplar_words)
                                if found is None:
                                    continue
                                known = ex.get(b)
                                if known is None or found[0] >= known[0]:
                                    ex[b] = found
            elif kind == "gauge":
                mode = definition.mode
                if mode != "last" and not live:
                    continue  # a dead worker's sum/min/max/per-process gauges disappear
                for key, attrs, _, _, at, _ in rows:
                    value = d[at]
                    if value != value:
                        continue  # never set
                    if mode == "last":
                        stamp = q[at + 1]
                        entry = entries.get(key)
                        if entry is None:
                            entries[key] = _Entry(attrs, key, (stamp, value))
                        elif stamp >= entry.values[0]:
                            entry.values = (stamp, value)
                    elif mode == "per_process":
                        label = "pid" if "pid" not in attrs else "process_pid"
                        entries[(key, f.pid)] = _Entry({**attrs, label: str(f.pid)}, key, value, f.pid)
                    else:
                        entry = entries.get(key)
                        if entry is None:
                            entries[key] = _Entry(attrs, key, value)
                        elif mode == "sum":
                            entry.values += value
                        elif mode == "min":
                            if value < entry.values:
                                entry.values = value
                        elif value > entry.values:
                            entry.values = value
            else:  # info
                for key, attrs, _, _, at, _ in rows:
                    if d[at] != d[at]:
                        continue  # not this process's current facts
                    if live:
                        if key not in entries:
                            entries[key] = _Entry(attrs, key)
                    else:
                        stamp = q[at + 1]
                        known_dead = dead_info.get(name)
                        if known_dead is None or stamp >= known_dead[0]:
                            dead_info[name] = (stamp, attrs, key)
    for name, (_, attrs, key) in dead_info.items():
        slot = metrics.get(name)
        if slot is not None and slot[1]:
            continue  # live processes have facts of their own
        if slot is not None:
            slot[1][key] = _Entry(attrs, key)
    out: list[tuple[tuple[int, int, int], Metric]] = []
    orders: dict[str, tuple[list[Any], list[int], tuple[int, int, int]]] = {}
    if reuse and cache is not None:
        orders = cache.get("orders", {})
    for name, (definition, entries) in metrics.items():
        if not entries:
            continue
        known = orders.get(name)
        ordered: list[_Entry] | None = None
        if known is not None and len(known[0]) == len(entries):
            cached = [entries.get(k) for k in known[0]]
            if None not in cached:
                ordered = cached  # type: ignore[assignment]
        if ordered is None or known is None:
            mfirsts = firsts[name]
            ordered = sorted(entries.values(), key=lambda e: (mfirsts[e.base], e.pid))
            keys = [e.base if e.pid == 0 or definition.mode != "per_process" else (e.base, e.pid) for e in ordered]
            known = orders[name] = (keys, [mfirsts[e.base][0] for e in ordered], min(mfirsts.values()))
        metric = _metric(definition, ordered, known[1], now)
        stats.points += len(ordered)
        out.append((known[2], metric))
    if cache is not None:
        cache["signature"], cache["firsts"], cache["orders"] = signature, firsts, orders
    if not out:
        return None
    out.sort(key=lambda item: item[0])
    scope_metrics = ScopeMetrics(scope=scope, metrics=[m for _, m in out], schema_url=scope.schema_url or "")
    rm = ResourceMetrics(resource=resource, scope_metrics=[scope_metrics], schema_url=resource.schema_url)
    return MetricsData(resource_metrics=[rm])


def _metric(definition: _Def, ordered: list[_Entry], starts: list[int], now: int) -> Metric:
    kind = definition.kind
    number = L.number
    points: list[Any] = []
    if kind == "histogram":
        bounds = definition.bounds
        head = L.HIST_HEAD
        for e, start in zip(ordered, starts, strict=True):
            parts = e.values
            if len(parts) == 1:
                values = parts[0]
                counts = values[head:]
            else:
                columns = list(zip(*parts, strict=True))
                values = (sum(columns[0]), min(columns[1]), max(columns[2]))
                counts = tuple(map(sum, columns[head:]))
            exemplars = []
            if e.exemplars:
                exemplars = [_sdk_exemplar(e.exemplars[b], e.attrs) for b in sorted(e.exemplars)]
            points.append(
                _HISTOGRAM_POINT(
                    e.attrs, start, now, sum(counts), number(values[0]), counts, bounds, values[1], values[2],
                    exemplars,
                )
            )  # fmt: skip
        data: Any = Histogram(data_points=points, aggregation_temporality=_CUMULATIVE)
    elif kind in ("counter", "updown_counter"):
        for e, start in zip(ordered, starts, strict=True):
            exemplars = [] if e.exemplars is None else [_sdk_exemplar(e.exemplars, e.attrs)]
            points.append(_NUMBER_POINT(e.attrs, start, now, number(e.values), exemplars))
        data = Sum(data_points=points, aggregation_temporality=_CUMULATIVE, is_monotonic=kind == "counter")
    elif kind == "gauge":
        last = definition.mode == "last"
        for e in ordered:
            points.append(_NUMBER_POINT(e.attrs, None, now, number(e.values[1] if last else e.values), []))
        data = Gauge(data_points=points)
    else:
        for e in ordered:
            points.append(_NUMBER_POINT(e.attrs, None, now, 1, []))
        data = Gauge(data_points=points)
    return Metric(name=definition.name, description=definition.description, unit=definition.unit, data=data)


# -- compaction --------------------------------------------------------------------------------------------------------


def compact(
    directory: str | os.PathLike[str],
    *,
    alive: Alive | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> CompactResult:
    """Fold the files of dead processes (and earlier archives) into one archive file. Never raises.

    Kept: counters, up-down counters and histograms (summed, with their latest exemplars), ``last`` gauges (the
    most recent value), info (the most recent facts); dropped: the other gauge modes (they only count for live
    processes). The archive is written under a temporary name, flushed and renamed into place, then the absorbed
    files are removed; it names the files it absorbed, so a concurrent collector counts each once. One compaction
    at a time per directory (an ``flock`` on a lock file; a second caller returns at once with ``skipped``).
    Temporary files left by processes that died while creating their file are removed.
    """
    result = CompactResult()
    path = os.fspath(directory)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        result.skipped = "no fcntl"
        return result
    try:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        lock_fd = os.open(os.path.join(path, LOCK_NAME), flags, 0o600)
    except OSError as exc:
        result.skipped = f"lock file: {type(exc).__name__}"
        return result
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            result.skipped = "another compaction is running"
            return result
        try:
            _compact_locked(path, alive or process_alive, max_file_bytes, result)
        except Exception as exc:
            result.skipped = f"failed: {type(exc).__name__}"
            _report("compact_failed", type(exc).__name__)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
    finally:
        os.close(lock_fd)
    return result


def _compact_locked(path: str, alive: Alive, max_file_bytes: int, result: CompactResult) -> None:
    _remove_stale_temporaries(path, alive, result)
    collector = MultiprocessCollector(path, alive=alive, max_file_bytes=max_file_bytes)
    stats = CollectStats()
    snapshots = collector._snapshots(stats, tolerate_missing=True) or []
    covered: set[str] = set()
    for snap in snapshots:
        if snap.file.is_archive:
            covered |= snap.file.includes
    doomed = [s for s in snapshots if not s.live and s.file.instance not in covered]
    archives = [s for s in doomed if s.file.is_archive]
    processes = [s for s in doomed if not s.file.is_archive]
    if not processes and len(archives) <= 1:
        # nothing new to fold; remove files an archive already covers (a compaction interrupted before its unlinks)
        for snap in snapshots:
            if snap.file.instance in covered:
                with contextlib.suppress(OSError):
                    os.unlink(snap.file.path)
                    result.absorbed.append(snap.file.path)
        return
    body, created = _archive_records(doomed)
    instance = os.urandom(16)
    includes = sorted({s.file.instance for s in doomed})
    absorbed = sum(s.file.absorbed if s.file.is_archive else 1 for s in doomed)
    text = json.dumps({"files": includes, "processes": absorbed}, separators=(",", ":")).encode("ascii")
    head = L.align8(L.RECORD_SIZE + len(text))
    inc = bytearray(head)
    L.RECORD.pack_into(inc, 0, head, L.INCLUDES, 0, 0, len(text), 0)
    inc[L.RECORD_SIZE : L.RECORD_SIZE + len(text)] = text
    records = bytes(inc) + body
    committed = L.HEADER_SIZE + len(records)
    header = bytearray(L.HEADER_SIZE)
    L.HEADER.pack_into(
        header, 0, L.MAGIC, L.VERSION, L.BYTE_ORDER_MARK, committed, 0, 0, created, instance, boot_id(),
        L.FLAG_ARCHIVE, 0,
    )  # fmt: skip
    name = f"{ARCHIVE_PREFIX}{instance.hex()}{_SUFFIX}"
    tmp = os.path.join(path, _TMP_PREFIX + name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.write(fd, bytes(header) + records)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    final = os.path.join(path, name)
    os.rename(tmp, final)
    result.archive = final
    for snap in doomed:
        with contextlib.suppress(OSError):
            os.unlink(snap.file.path)
            result.absorbed.append(snap.file.path)
    for snap in snapshots:  # files an older archive covered (an interrupted compaction)
        if snap.file.instance in covered:
            with contextlib.suppress(OSError):
                os.unlink(snap.file.path)


def _remove_stale_temporaries(path: str, alive: Alive, result: CompactResult) -> None:
    """``.tmp-lkmp-<pid>-…`` files of processes that are gone (killed while creating their file)."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        if not name.startswith(_TMP_PREFIX):
            continue
        rest = name[len(_TMP_PREFIX) :]
        if rest.startswith(ARCHIVE_PREFIX):  # a compaction's temporary: we hold the lock, so a crashed one's
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(path, name))
                result.removed_temporary += 1
            continue
        pid_text = rest.split("-", 1)[0]
        try:
            pid = int(pid_text)
        except ValueError:
            continue
        if pid != os.getpid() and not alive(pid, 0, _NO_BOOT):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(path, name))
                result.removed_temporary += 1


def _archive_records(doomed: list[_Snapshot]) -> tuple[bytes, int]:
    """The METRIC and SERIES records of an archive holding what ``doomed`` files contribute when dead."""
    groups: dict[tuple[str, tuple[Any, ...]], tuple[_Def, dict[Any, list[Any]]]] = {}
    created_max = 0
    for snap in sorted(doomed, key=lambda s: (s.file.created, s.file.instance)):
        f, d, q, _, _ = snap
        created_max = max(created_max, f.created)
        for definition, key, created, text, at in (
            (f.defs[mid], row[0], row[2], row[5], row[4]) for mid, rows in f.groups.items() for row in rows
        ):
            kind = definition.kind
            if kind == "gauge" and definition.mode != "last":
                continue
            group = groups.get((definition.name, definition.ident))
            if group is None:
                group = groups[(definition.name, definition.ident)] = (definition, {})
            words = d[at : at + definition.words].tolist()
            qwords = q[at : at + definition.words].tolist()
            known = group[1].get(key)
            if known is None:
                group[1][key] = [created, text, words, qwords]
                continue
            known[0] = min(known[0], created)
            old, old_q = known[2], known[3]
            if kind in ("counter", "updown_counter"):
                old[0] += words[0]
                if definition.exemplars:
                    _newer_exemplar(old, old_q, words, qwords, 1)
            elif kind == "histogram":
                nb = definition.nb
                old[0] += words[0]
                old[1] = min(old[1], words[1])
                old[2] = max(old[2], words[2])
                old_q[L.EXEMPLAR_WRITES] = max(old_q[L.EXEMPLAR_WRITES], qwords[L.EXEMPLAR_WRITES])
                for i in range(L.HIST_HEAD, L.HIST_HEAD + nb):
                    old_q[i] += qwords[i]
                if definition.exemplars:
                    for b in range(nb):
                        _newer_exemplar(old, old_q, words, qwords, L.HIST_HEAD + nb + b * L.EXEMPLAR_WORDS)
            else:  # last gauge, info: the most recent set (info: a current one)
                if words[0] != words[0]:
                    continue
                if old[0] != old[0] or qwords[1] >= old_q[1]:
                    known[2], known[3] = words, qwords
    out = bytearray()
    for metric_id, (definition, entries) in enumerate(groups.values()):
        kind_code = L.KIND_CODES[definition.kind]
        mtext = L.metric_text(
            definition.name, definition.description, definition.unit, definition.kind, definition.bounds,
            definition.mode, definition.exemplars,
        ).encode("ascii")  # fmt: skip
        head = L.align8(L.RECORD_SIZE + len(mtext))
        record = bytearray(head)
        L.RECORD.pack_into(record, 0, head, L.METRIC, kind_code, metric_id, len(mtext), 0)
        record[L.RECORD_SIZE : L.RECORD_SIZE + len(mtext)] = mtext
        out += record
        if definition.kind == "info":
            current = [e for e in entries.values() if e[2][0] == e[2][0]]
            entries = {0: max(current, key=lambda e: e[3][1])} if current else {}
        for created, text, words, qwords in entries.values():
            head = L.align8(L.RECORD_SIZE + len(text))
            record = bytearray(head + definition.words * 8)
            L.RECORD.pack_into(record, 0, len(record), L.SERIES, kind_code, metric_id, len(text), created)
            record[L.RECORD_SIZE : L.RECORD_SIZE + len(text)] = text
            _pack_slot(record, head, definition, words, qwords)
            out += record
    return bytes(out), created_max


def _newer_exemplar(old: list[Any], old_q: list[Any], words: list[Any], qwords: list[Any], at: int) -> None:
    seq = qwords[at]
    if seq == 0 or qwords[at + 6] != seq:
        return
    old_seq = old_q[at]
    if old_seq != 0 and old_q[at + 6] == old_seq and old_q[at + 5] > qwords[at + 5]:
        return
    for i in range(at, at + L.EXEMPLAR_WORDS):
        old[i], old_q[i] = words[i], qwords[i]


def _pack_slot(record: bytearray, offset: int, definition: _Def, words: list[Any], qwords: list[Any]) -> None:
    """Write a slot: float words, except the int64 words (gauge/info time, exemplar ids, seqs, times)."""
    ints: set[int] = set()
    if definition.kind in ("gauge", "info"):
        ints.add(1)
    if definition.kind == "histogram":
        ints.update(range(L.EXEMPLAR_WRITES, L.HIST_HEAD + definition.nb))  # exemplar writes, bucket counts
    if definition.exemplars and definition.kind in ("counter", "histogram"):
        base = L.exemplar_base(definition.kind, 0 if definition.bounds is None else len(definition.bounds))
        count = definition.nb if definition.kind == "histogram" else 1
        for b in range(count):
            at = base + b * L.EXEMPLAR_WORDS
            ints.update((at, at + 1, at + 2, at + 3, at + 5, at + 6))
    for i in range(definition.words):
        if i in ints:
            struct.pack_into("=q", record, offset + 8 * i, qwords[i])
        else:
            struct.pack_into("=d", record, offset + 8 * i, words[i])


def _report(reason: str, detail: str) -> None:
    try:
        from lukhas_obs import drops

        drops.report("lukhas_obs.multiprocess", reason, detail)
    except Exception:  # pragma: no cover
        pass


def files(directory: str | os.PathLike[str]) -> Iterable[str]:
    """The multiprocess files of ``directory`` (process files and archives), for tools and tests."""
    path = os.fspath(directory)
    return [os.path.join(path, n) for n in _list(path)]
