"""The viewer's bounded in-memory history of scrapes: samples, staleness and exemplars, and the exposition parser.

Each scrape (of ``/metrics``, or of :func:`lukhas_obs.render_exposition` in the viewed process) is parsed into
samples and written into one slot of a ring of ``capacity`` slots. A series is a column of ``capacity`` floats (8
bytes a point: 5,000 series over 720 slots is 29 MB, the default bound); a series absent from a scrape gets NaN in
that slot, which the evaluator reads as Prometheus' staleness marker. Series past ``max_series`` are not stored
(counted once per scrape in ``lukhas_obs_dropped_*`` as ``viewer`` / ``series_limit``); a series absent for a whole
ring is forgotten. Exemplars (OpenMetrics ``# {trace_id=...,span_id=...} value ts``) are kept per metric family, the
latest few of each, so a panel can link a point to its trace.

The parser is linear in its input (one regular expression per label pair, no nested quantifiers), skips malformed
lines (counted) and is bounded in bytes and lines.
"""

from __future__ import annotations

import math
import re
import threading
import time
from array import array
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lukhas_obs.viewer.promql import DataSource, Matcher, SeriesData

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_MAX_SERIES",
    "Exemplar",
    "History",
    "Scrape",
    "parse_exposition",
]

DEFAULT_CAPACITY = 720
DEFAULT_MAX_SERIES = 5000
#: Largest exposition parsed (bytes); a bigger one is cut at the last whole line.
MAX_EXPOSITION_BYTES = 32 * 1024 * 1024
#: Longest label value stored (the SDK's own limit on attribute text is shorter).
MAX_LABEL_VALUE = 1024
#: Exemplars kept per metric family, and families with exemplars.
EXEMPLARS_PER_FAMILY = 16
MAX_EXEMPLAR_FAMILIES = 512

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PAIR_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(,?)')
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_info", "_gcount", "_gsum")


@dataclass(frozen=True)
class Exemplar:
    """One exemplar of a sample: the series it was attached to, its value, time and the trace it points at."""

    metric: str
    labels: Mapping[str, str]
    value: float
    timestamp: float
    trace_id: str
    span_id: str


@dataclass
class Scrape:
    """One parsed exposition: ``(name, labels, value)`` samples, exemplars, and how many lines were malformed."""

    samples: list[tuple[str, dict[str, str], float]]
    exemplars: list[Exemplar]
    malformed: int = 0


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), "\\" + m.group(1)), value)


def _labels(text: str, start: int) -> tuple[dict[str, str], int] | None:
    """Parse ``{a="x",b="y"}`` starting at the ``{``; the labels and the index after ``}``, or None."""
    labels: dict[str, str] = {}
    i = start + 1
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        match = _PAIR_RE.match(text, i)
        if match is None:
            return None
        labels[match.group(1)] = _unescape(match.group(2))[:MAX_LABEL_VALUE]
        i = match.end()
        if not match.group(3):
            while i < len(text) and text[i] in " \t":
                i += 1
            if i < len(text) and text[i] == "}":
                return labels, i + 1
            return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_exposition(body: bytes | str, now: float | None = None) -> Scrape:
    """Samples and exemplars of a Prometheus text (0.0.4) or OpenMetrics exposition; never raises for any input."""
    if isinstance(body, bytes):
        body = body[:MAX_EXPOSITION_BYTES].decode("utf-8", "replace")
    else:
        body = body[:MAX_EXPOSITION_BYTES]
    now = time.time() if now is None else now
    samples: list[tuple[str, dict[str, str], float]] = []
    exemplars: list[Exemplar] = []
    malformed = 0
    for line in body.split("\n"):
        line = line.rstrip("\r")
        if not line or line[0] == "#":
            continue
        match = _NAME_RE.match(line)
        if match is None:
            malformed += 1
            continue
        name = match.group()
        i = match.end()
        labels: dict[str, str] = {}
        if i < len(line) and line[i] == "{":
            parsed = _labels(line, i)
            if parsed is None:
                malformed += 1
                continue
            labels, i = parsed
        rest, _, exemplar_text = line[i:].partition(" # ")
        parts = rest.split()
        value = _number(parts[0]) if parts else None
        if value is None or len(parts) > 2:
            malformed += 1
            continue
        samples.append((name, labels, value))
        if exemplar_text.startswith("{"):
            exemplar = _exemplar(name, labels, exemplar_text, now)
            if exemplar is not None:
                exemplars.append(exemplar)
    return Scrape(samples, exemplars, malformed)


def _exemplar(name: str, labels: dict[str, str], text: str, now: float) -> Exemplar | None:
    parsed = _labels(text, 0)
    if parsed is None:
        return None
    ex_labels, i = parsed
    parts = text[i:].split()
    value = _number(parts[0]) if parts else None
    stamp = _number(parts[1]) if len(parts) > 1 else now
    trace_id = ex_labels.get("trace_id", "")
    span_id = ex_labels.get("span_id", "")
    if value is None or stamp is None or not _is_hex(trace_id, 32) or not _is_hex(span_id, 16):
        return None
    return Exemplar(name, dict(labels), value, stamp, trace_id.lower(), span_id.lower())


def _is_hex(text: str, size: int) -> bool:
    return len(text) == size and all(c in "0123456789abcdefABCDEF" for c in text)


def family_of(sample_name: str) -> str:
    """The metric family of a sample name (``x_seconds_bucket`` → ``x_seconds``; ``x_total`` → ``x``)."""
    for suffix in _SUFFIXES:
        if sample_name.endswith(suffix) and len(sample_name) > len(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


class _Series:
    __slots__ = ("labels", "last_seq", "values")

    def __init__(self, labels: dict[str, str], capacity: int) -> None:
        self.labels = labels
        self.values = array("d", [math.nan]) * capacity
        self.last_seq = -1


class History(DataSource):
    """A ring of ``capacity`` scrapes of at most ``max_series`` series; thread-safe (one writer, many readers)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_series: int = DEFAULT_MAX_SERIES) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or not 2 <= capacity <= 100_000:
            raise ValueError("capacity must be an integer from 2 to 100000")
        if not isinstance(max_series, int) or isinstance(max_series, bool) or not 1 <= max_series <= 1_000_000:
            raise ValueError("max_series must be an integer from 1 to 1000000")
        self.capacity = capacity
        self.max_series = max_series
        self._times = array("d", [math.nan]) * capacity
        self._seq = 0  # scrapes written so far
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], _Series] = {}
        self._by_name: dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]] = {}
        self._exemplars: dict[str, deque[Exemplar]] = {}
        self._lock = threading.Lock()
        self.refused_series = 0
        self.malformed_lines = 0
        self.last_error: str | None = None
        self.last_scrape: float | None = None

    # ------------------------------------------------------------------------------------------------- writing

    def add(self, scrape: Scrape, at: float | None = None) -> None:
        """Write one scrape at time ``at`` (Unix seconds; kept increasing even if the clock steps back)."""
        at = time.time() if at is None else float(at)
        refused = 0
        with self._lock:
            seq = self._seq
            slot = seq % self.capacity
            previous = self._times[(seq - 1) % self.capacity] if seq else -math.inf
            if not at > previous:
                at = previous + 1e-3
            self._times[slot] = at
            seen: set[int] = set()
            for name, labels, value in scrape.samples:
                key = (name, tuple(sorted(labels.items())))
                series = self._series.get(key)
                if series is None:
                    if len(self._series) >= self.max_series:
                        refused += 1
                        continue
                    series = _Series({**labels, "__name__": name}, self.capacity)
                    self._series[key] = series
                    self._by_name.setdefault(name, set()).add(key)
                series.values[slot] = value
                series.last_seq = seq
                seen.add(id(series))
            forget = []
            for key, series in self._series.items():
                if id(series) not in seen:
                    series.values[slot] = math.nan  # absent from this scrape: stale
                    if series.last_seq <= seq - self.capacity:
                        forget.append(key)
            for key in forget:
                del self._series[key]
                names = self._by_name.get(key[0])
                if names is not None:
                    names.discard(key)
                    if not names:
                        del self._by_name[key[0]]
            for exemplar in scrape.exemplars:
                family = family_of(exemplar.metric)
                kept = self._exemplars.get(family)
                if kept is None:
                    if len(self._exemplars) >= MAX_EXEMPLAR_FAMILIES:
                        continue
                    kept = self._exemplars[family] = deque(maxlen=EXEMPLARS_PER_FAMILY)
                if not any(e.trace_id == exemplar.trace_id and e.span_id == exemplar.span_id for e in kept):
                    kept.append(exemplar)
            self._seq = seq + 1
            self.refused_series += refused
            self.malformed_lines += scrape.malformed
            self.last_scrape = at
            self.last_error = None
        if refused:
            _report_drop("series_limit")

    def failed(self, reason: str) -> None:
        """Note a failed scrape (shown on the page; nothing is written, so the data goes stale after 5 minutes)."""
        with self._lock:
            self.last_error = reason[:300]

    # ------------------------------------------------------------------------------------------------- reading

    @property
    def times(self) -> Sequence[float]:  # type: ignore[override]
        """Timestamps of the stored scrapes, oldest first."""
        with self._lock:
            return list(self._ordered(self._times))

    def _ordered(self, column: array[float]) -> array[float]:
        """``column``'s stored slots, oldest first (a copy: C-level slicing, no Python float per point)."""
        seq, cap = self._seq, self.capacity
        if seq <= cap:
            return column[:seq]
        start = seq % cap
        return column[start:] + column[:start]

    def snapshot(self) -> _Snapshot:
        """A consistent copy of the times (the evaluator then reads series through the snapshot's lock-free view)."""
        with self._lock:
            return _Snapshot(self, list(self._ordered(self._times)))

    def select(self, name: str | None, matchers: Sequence[Matcher]) -> list[SeriesData]:
        """Every stored series matching ``name`` and ``matchers``, values aligned to :attr:`times`."""
        with self._lock:
            return self._select(name, matchers)

    def _select(self, name: str | None, matchers: Sequence[Matcher]) -> list[SeriesData]:
        keys = sorted(self._by_name.get(name, ())) if name is not None else sorted(self._series)
        out = []
        for key in keys:
            series = self._series[key]
            if all(m.matches(series.labels) for m in matchers):
                out.append(SeriesData(dict(series.labels), self._ordered(series.values)))
        return out

    def label_values(self, name: str, label: str) -> list[str]:
        """The values ``label`` takes on the stored series called ``name`` (Grafana's ``label_values``)."""
        with self._lock:
            values = {self._series[k].labels.get(label, "") for k in self._by_name.get(name, ())}
        return sorted(v for v in values if v)

    def exemplars(self, families: Iterable[str], start: float, end: float) -> list[Exemplar]:
        """The kept exemplars of ``families`` with a timestamp within ``[start, end]``, newest first."""
        with self._lock:
            found = [e for f in set(families) for e in self._exemplars.get(f, ()) if start <= e.timestamp <= end]
        found.sort(key=lambda e: e.timestamp, reverse=True)
        return found

    def stats(self) -> dict[str, object]:
        """Sizes and state for the page's status line."""
        with self._lock:
            return {
                "scrapes": min(self._seq, self.capacity),
                "capacity": self.capacity,
                "series": len(self._series),
                "max_series": self.max_series,
                "refused_series": self.refused_series,
                "malformed_lines": self.malformed_lines,
                "last_scrape": self.last_scrape,
                "last_error": self.last_error,
            }


class _Snapshot(DataSource):
    """The history as of one moment: times fixed, series read under the history's lock and cut to those times."""

    def __init__(self, history: History, times: list[float]) -> None:
        self._history = history
        self.times = times

    def select(self, name: str | None, matchers: Sequence[Matcher]) -> list[SeriesData]:
        with self._history._lock:
            found = self._history._select(name, matchers)
            shift = self._history._seq - len(self.times)  # scrapes written since the snapshot
        if shift <= 0:
            return found
        out = []
        for data in found:  # realign: drop the newest ``shift`` slots, pad the front with NaN
            values = data.values
            kept = values[: len(values) - shift] if shift < len(values) else array("d")
            pad = len(self.times) - len(kept)
            out.append(SeriesData(data.labels, array("d", [math.nan]) * pad + array("d", kept)))
        return out


def _report_drop(reason: str) -> None:
    """Count a refused series in lukhas-obs' drop self-telemetry (never raises; the value is never passed)."""
    try:
        from lukhas_obs import drops

        drops.report("viewer", reason, "history series limit reached")
    except Exception:  # pragma: no cover - self-telemetry never fails the viewer
        pass
