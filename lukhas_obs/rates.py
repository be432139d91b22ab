"""Rate of change of a gauge over sliding time windows, computed in-process from timestamped samples.

Why: WiltonOS (seed 001) exports how fast its coherence ratio Φ moves, not only where it is::

    `wiltonos_quantum_coherence_derivative`: Taxa de mudança (dΦ/dt) em janelas de 30s, 60s e 300s

("rate of change (dΦ/dt) in windows of 30s, 60s and 300s"), and its Soft-Steer alert fires "quando dΦ/dt excede
0.04 por mais de 30s" (when dΦ/dt exceeds 0.04 for more than 30 s), its goal being "Φ(t) subject to dΦ/dt being
smooth". Without this module a user computes dΦ/dt by hand.

Definition (what a value *is*)
------------------------------
The seed asks for a *derivative* of a *gauge* (Φ moves up and down; it is not a counter), so the rate of a window is
the **least-squares slope** of value against time over the samples in the window, in units per second — the
estimator Prometheus' ``deriv(v[30s])`` uses for gauges. A simple ``(last - first) / (t_last - t_first)`` would
follow the two end samples only, so one noisy sample at either end would swing it; the slope uses every sample,
which is what "dΦ/dt being smooth" is judged on. For two samples both definitions agree, and for samples on a
straight line the slope is that line's slope exactly.

The window at read time ``now`` is **left-open, right-closed**: a sample at time ``t`` is in the window of ``w``
seconds when ``now - w < t <= now`` (a sample exactly ``w`` old is out; Prometheus 3's range selectors do the
same). ``now`` is the read time (the collection), not the newest sample's time, so a series that stopped updating
goes absent once its samples age out — it does not keep showing its last slope.

Edge cases
----------
* **No sample, or one sample in the window → no value** (the series is absent, never ``0``). A slope through one
  point is undefined; reporting ``0`` would tell a dashboard that Φ is steady when nothing is known.
* **All samples in the window at one timestamp → no value** (the time variance is zero: the slope is undefined).
  Samples sharing a timestamp among others are fine: they are points with the same ``t`` in the fit.
* **A gap longer than the window**: the window holds the samples since the gap only; with fewer than two, no value.
* **Time going backwards**: with the default clock (:func:`time.monotonic`, read under the lock) it cannot happen.
  With an injected clock, or explicit ``t=`` arguments, an update older than the newest sample is taken as a clock
  step: the whole history (every window) is **reset** and the new sample starts it again; :attr:`RateOfChange.resets`
  counts resets and the first one is logged. Explicit timestamps must therefore be passed in order. A *read* never
  resets: read at a time before the newest sample, a window sees only the kept samples at or before that time (and
  samples older than a window before the newest one are no longer kept) — reads are meant for now ≥ the newest.
* **Bad input is dropped** and reported through :func:`lukhas_obs.drops.report` (never with the value itself):
  NaN (``nan``), ±inf (``infinite``), an int too large for a float (``out_of_range``), ``bool``, ``str``,
  ``Decimal``, ``None`` and objects whose conversion raises (``not_a_number``); the same for a bad explicit ``t``
  (``bad_timestamp``) or an injected clock that raises or returns a non-number (``clock_error``). A slope that
  overflows a float (values near 1e308) reads as no value (``rate_overflow``).

Bounded memory, and when results are exact
------------------------------------------
Each window keeps at most ``max_samples`` entries. An entry is a bucket spanning less than
``w / (max_samples - 1)`` seconds (29 ms for 30 s and 0.59 s for 300 s at the default 512) holding the exact
least-squares moments of its samples (count, mean time, mean value, centred second moments; Welford updates), so a
300 s window fed at 1 kHz keeps ≤ 512 entries, not 300,000 samples. Buckets combine exactly (Chan et al.'s pairwise
formulas), so the slope of a window is the slope over every sample of the buckets in it. The only approximation is
at the window's old edge: a bucket leaves the window when its *first* sample does, so up to one bucket width of the
oldest samples may be left out — never a sample older than the window. **When samples are at least one bucket width
apart (1 Hz updates at the default settings, and every known-sequence test), each bucket is one sample and the
result is the exact least-squares slope** (to float rounding: sums use :func:`math.fsum`, moments are centred, so
``time.time()``-sized timestamps lose nothing). Closed buckets are 7 doubles in a ring (an :class:`array.array`
that grows by doubling up to the bound): a full object with the seed's three windows is about 94 KB, an idle one a
few hundred bytes. An update also drops the entries that aged out of each window, so after a long gap the memory
goes back down.

Thread safety and cost
----------------------
One lock per :class:`RateOfChange`, held for an update (O(number of windows), no allocation but a closed bucket's
ring slot) and, for a read, only to copy each window's ring (a C-level copy) — the fit runs outside the lock, so a
scrape never holds updaters for its computation. Measured on the shared 2-core machine with the seed's three
windows (``python -m benchmarks.bench_rates``; medians, load varied the figures by up to 2×): 2.1–3.6 µs per
update at 1 kHz, 4–8 µs at 1 Hz (every update closes a bucket), 1–2.6 ms to read three full windows (1,529 entries).
Updates are not the hot path (Φ changes a few times a second).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import numbers
import operator
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from typing import NamedTuple

from lukhas_obs import drops
from lukhas_obs.catalog.slo import duration_seconds
from lukhas_obs.errors import ConfigurationError

__all__ = [
    "DEFAULT_MAX_SAMPLES",
    "DEFAULT_WINDOWS",
    "MAX_WINDOWS",
    "WINDOW_FORMS",
    "RateOfChange",
    "Window",
    "parse_window",
    "parse_windows",
]

_log = logging.getLogger("lukhas_obs")

#: The seed's windows (WiltonOS: dΦ/dt over 30 s, 60 s and 300 s); their texts are the ``window`` label values.
DEFAULT_WINDOWS: tuple[str, ...] = ("30s", "60s", "300s")
#: Entries kept per window by default (see the module docstring for the resulting bucket widths).
DEFAULT_MAX_SAMPLES = 512
#: Bounds of ``max_samples``: at least two entries make a slope; the upper bound keeps one object under 6 MB per window.
MIN_MAX_SAMPLES, MAX_MAX_SAMPLES = 2, 100_000
#: At most this many windows per :class:`RateOfChange` (each costs up to ``max_samples`` entries).
MAX_WINDOWS = 16
#: What a window may be, as error messages say it.
WINDOW_FORMS = (
    "a Prometheus duration: integers with units y, w, d, h, m, s, ms from largest to smallest, no spaces "
    "(30s, 60s, 300s, 1m, 5m, 1h30m, 500ms), a positive number of seconds (30, 0.5), "
    "or several of them as a list or a comma-separated text ('30s,60s,300s')"
)

# Indices of an entry tuple: first and last sample time, count, mean time, mean value, Σ(t-t̄)², Σ(t-t̄)(v-v̄).
_FIRST, _LAST, _N, _MT, _MV, _MTT, _CTV = range(7)
_Entry = tuple[float, float, float, float, float, float, float]
_Snapshot = tuple["array[float]", int, int, "_Entry | None"]
_WIDTH = 7
_ZEROS = array("d", bytes(8 * _WIDTH))


class Window(NamedTuple):
    """One configured window: its ``label`` (the ``window`` label value, as written) and its length in seconds."""

    label: str
    seconds: float


def parse_window(value: object, field: str = "window") -> Window:
    """One window from ``30s``-style text (a Prometheus duration) or a positive number of seconds.

    Text keeps its spelling as the label (``"1m"`` is labelled ``1m``); a number is labelled in seconds (``30`` →
    ``30s``) or milliseconds (``0.5`` → ``500ms``). Raises :class:`~lukhas_obs.errors.ConfigurationError` (a
    ``ValueError``) naming ``field`` and the accepted forms.
    """
    if isinstance(value, str):
        text = value if type(value) is str else str.__getitem__(value, slice(None))  # never a subclass's dunders
        try:
            seconds = float(duration_seconds(text))
        except ValueError:
            raise ConfigurationError(field, text, WINDOW_FORMS) from None
        return Window(text, seconds)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not (math.isfinite(seconds) and seconds > 0):
            raise ConfigurationError(field, value, WINDOW_FORMS)
        if seconds.is_integer():
            return Window(f"{int(seconds)}s", seconds)
        millis = seconds * 1000
        if abs(millis - round(millis)) < 1e-9 * max(1.0, millis):
            return Window(f"{round(millis)}ms", round(millis) / 1000)
        raise ConfigurationError(field, value, WINDOW_FORMS + "; a number must be whole milliseconds")
    raise ConfigurationError(field, value, WINDOW_FORMS)


def parse_windows(spec: object, field: str = "windows") -> tuple[Window, ...]:
    """Windows from a comma-separated text (``"30s,60s,300s"``) or an iterable of texts and numbers.

    At least one, at most :data:`MAX_WINDOWS`, no two of the same length (they would be one series under two labels)
    and no repeated label. Raises :class:`~lukhas_obs.errors.ConfigurationError` naming ``field`` (``windows[1]``
    for the second item) and the accepted forms.
    """
    if isinstance(spec, str):
        text = spec if type(spec) is str else str.__getitem__(spec, slice(None))
        items: list[object] = [part.strip() for part in text.split(",")] if text.strip() else []
    elif isinstance(spec, (int, float)) and not isinstance(spec, bool):
        items = [spec]
    elif isinstance(spec, Iterable) and not isinstance(spec, (bytes, bytearray, dict)):
        try:
            items = list(itertools.islice(iter(spec), MAX_WINDOWS + 1))
        except Exception:
            raise ConfigurationError(field, spec, WINDOW_FORMS) from None
    else:
        raise ConfigurationError(field, spec, WINDOW_FORMS)
    if not items:
        raise ConfigurationError(field, spec, "at least one window: " + WINDOW_FORMS)
    if len(items) > MAX_WINDOWS:
        raise ConfigurationError(field, f"{len(items)} windows", f"at most {MAX_WINDOWS} windows")
    windows = tuple(parse_window(item, f"{field}[{i}]") for i, item in enumerate(items))
    seen: dict[float, str] = {}
    for i, window in enumerate(windows):
        if window.seconds in seen:  # "60s" and "1m": one series under two labels
            raise ConfigurationError(
                f"{field}[{i}]", window.label, f"windows of distinct lengths ({seen[window.seconds]} is as long)"
            )
        seen[window.seconds] = window.label
    return windows


def _max_samples(value: object) -> int:
    if not isinstance(value, int) or value.__class__ is not int or not MIN_MAX_SAMPLES <= value <= MAX_MAX_SAMPLES:
        raise ConfigurationError(
            "max_samples", value, f"an int from {MIN_MAX_SAMPLES} to {MAX_MAX_SAMPLES} (entries kept per window)"
        )
    return value


def _class_name(value: object) -> str:
    try:
        return str(type(value).__name__)
    except Exception:  # pragma: no cover - a metaclass that breaks __name__
        return "object"


class _WindowState:
    """The entries of one window: closed buckets in a ring of doubles, and the open bucket's moments.

    A closed bucket never changes again; it is 7 doubles (first and last time, count — a float, exact below 2**53 —,
    mean time, mean value, Σ(t-t̄)², Σ(t-t̄)(v-v̄)) in ``ring``, which grows by doubling up to ``cap - 1`` entries
    (the open bucket is the cap-th): 56 bytes per entry, a quarter of a tuple of floats. Entries are in time order
    and disjoint (a bucket's first sample is later than the previous one's last), so first and last times both
    increase along the ring and a window's entries are one contiguous run.
    """

    __slots__ = (
        "cap",
        "count",
        "ctv",
        "first",
        "head",
        "label",
        "last",
        "mt",
        "mtt",
        "mv",
        "n",
        "ring",
        "seconds",
        "size",
        "width",
    )

    def __init__(self, window: Window, cap: int) -> None:
        self.label = window.label
        self.seconds = window.seconds
        self.width = window.seconds / (cap - 1)  # fewer than cap buckets start inside any (now - w, now]
        self.cap = cap
        self.clear()

    def clear(self) -> None:
        self.ring = array("d")
        self.head = self.count = self.size = 0
        self.n = 0
        self.first = self.last = self.mt = self.mv = self.mtt = self.ctv = 0.0

    def make_room(self) -> None:
        """The ring is full: grow it (doubling, up to ``cap - 1`` entries) or drop its oldest entry at the bound."""
        size = self.size
        if size < self.cap - 1:
            h = self.head * _WIDTH
            ring = self.ring[h:] + self.ring[:h]  # linear again, then room at the end
            new_size = min(max(8, 2 * size), self.cap - 1)
            ring.extend(_ZEROS * (new_size - size))
            self.ring, self.head, self.size = ring, 0, new_size
        else:  # hard bound (only reached if float rounding packs one more bucket start into a window)
            self.head = (self.head + 1) % size
            self.count -= 1

    def snapshot(self) -> _Snapshot:
        """What a read needs, copied (call under the lock; the ring is copied at C speed)."""
        open_entry = (self.first, self.last, self.n, self.mt, self.mv, self.mtt, self.ctv) if self.n else None
        return self.ring[:], self.head, self.count, open_entry

    def __len__(self) -> int:
        return self.count + (1 if self.n else 0)


def _fit(
    firsts: list[float],
    lasts: list[float],
    ns: list[float],
    mts: list[float],
    mvs: list[float],
    mtts: list[float],
    ctvs: list[float],
) -> float | None:
    """Slope of the combined entries (Chan et al.: centred moments add their parts' own plus count × offset²)."""
    total = math.fsum(ns)
    if total < 2:
        return None
    fsum = math.fsum
    mean_t = fsum(map(operator.mul, ns, mts)) / total
    mean_v = fsum(map(operator.mul, ns, mvs)) / total
    dts = [m - mean_t for m in mts]
    stt = fsum(itertools.chain(mtts, (n * d * d for n, d in zip(ns, dts, strict=True))))
    if not stt > 0.0:
        return None  # every sample at one time: the slope is undefined
    stv = fsum(itertools.chain(ctvs, (n * d * (m - mean_v) for n, d, m in zip(ns, dts, mvs, strict=True))))
    slope = stv / stt
    if slope - slope != 0.0:  # inf or nan: values too large for float arithmetic
        raise OverflowError
    return slope


def _columns(snapshot: _Snapshot) -> list[list[float]]:
    """A snapshot's entries as 7 columns (first, last, count, mean t, mean v, Stt, Stv), oldest first."""
    ring, head, count, open_entry = snapshot
    h = head * _WIDTH
    linear = (ring[h:] + ring[:h])[: count * _WIDTH]
    columns = [linear[k::_WIDTH].tolist() for k in range(_WIDTH)]
    if open_entry is not None:
        for column, value in zip(columns, open_entry, strict=True):
            column.append(value)
    return columns


def _inside(columns: list[list[float]], edge: float, now: float) -> list[list[float]]:
    """The columns cut to the entries entirely inside ``(edge, now]`` (a contiguous run: times increase)."""
    lo = bisect.bisect_right(columns[_FIRST], edge)
    hi = bisect.bisect_right(columns[_LAST], now)
    return [column[lo:hi] for column in columns]


class RateOfChange:
    """Rate of change per second of one gauge's value over sliding windows (least-squares slope; module docstring).

    ``update(value)`` records a sample at the clock's time (or at ``t=``, on the same clock); ``rates()`` answers
    ``{label: rate}`` for the windows that have a value (absent windows are left out, never 0); ``rate(label)``
    answers one window or ``None``. Updates never raise: bad values are dropped and reported under ``where`` (the
    metric's name, e.g. ``wiltonos_quantum_coherence_derivative``). Configuration errors raise at construction.
    """

    def __init__(
        self,
        windows: object = DEFAULT_WINDOWS,
        *,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
        where: str = "rate_of_change",
    ) -> None:
        self._windows = parse_windows(windows)
        cap = _max_samples(max_samples)
        if not callable(clock):
            raise ConfigurationError("clock", clock, "a callable returning seconds as a float (time.monotonic)")
        self._clock = clock
        self._where = where
        self._lock = threading.Lock()
        self._states = tuple(_WindowState(w, cap) for w in self._windows)
        self._by_label = {s.label: s for s in self._states}
        self._newest: float | None = None
        self._resets = 0
        self.max_samples = cap

    @property
    def windows(self) -> tuple[Window, ...]:
        """The configured windows, in order (labels and lengths)."""
        return self._windows

    @property
    def resets(self) -> int:
        """How many times time went backwards (an injected clock or explicit ``t``) and the history was reset."""
        return self._resets

    # -- recording -------------------------------------------------------------------------------------------

    def update(self, value: object, t: object = None) -> None:
        """Record ``value`` at time ``t`` (seconds on this object's clock; default: read the clock now).

        Never raises: a value or time that is not a finite real number is dropped and reported (module docstring).
        """
        try:
            v = self._number(value, "value")
            if v is None:
                return
            if t is not None:
                ts = self._number(t, "timestamp")
                if ts is None:
                    return
            with self._lock:
                if t is None:
                    ts = self._read_clock()
                if ts is None:
                    return
                self._add(ts, v)
        except Exception as exc:  # pragma: no cover - defensive: telemetry never raises into the caller
            drops.report(self._where, "internal_error", _class_name(exc))

    def _add(self, t: float, v: float) -> None:
        """Add one checked sample to every window (under the lock)."""
        newest = self._newest
        if newest is not None and t < newest:
            self._reset_for_step()
        self._newest = t
        for s in self._states:
            n = s.n
            if n and t - s.first < s.width:  # same bucket: Welford updates of the centred moments
                n += 1
                dt = t - s.mt
                s.mt += dt / n
                dv = v - s.mv
                s.mv += dv / n
                s.mtt += dt * (t - s.mt)
                s.ctv += dt * (v - s.mv)
                s.n = n
                s.last = t
            else:
                if n:  # close the open bucket into the ring, then drop what left the window (it never returns)
                    count = s.count
                    if count == s.size:
                        s.make_room()
                        count = s.count
                    ring, size, head = s.ring, s.size, s.head
                    pos = (head + count) % size * _WIDTH
                    ring[pos] = s.first
                    ring[pos + 1] = s.last
                    ring[pos + 2] = n
                    ring[pos + 3] = s.mt
                    ring[pos + 4] = s.mv
                    ring[pos + 5] = s.mtt
                    ring[pos + 6] = s.ctv
                    count += 1
                    edge = t - s.seconds
                    while count and ring[head * _WIDTH] <= edge:
                        head += 1
                        if head == size:
                            head = 0
                        count -= 1
                    s.head, s.count = head, count
                s.n = 1
                s.first = s.last = s.mt = t
                s.mv = v
                s.mtt = s.ctv = 0.0

    def _reset_for_step(self) -> None:
        for s in self._states:
            s.clear()
        self._resets += 1
        if self._resets == 1:
            _log.warning(
                "lukhas_obs: time went backwards for %s (an injected clock or explicit timestamps out of order); "
                "its rate-of-change history was reset (logged once per object; see RateOfChange.resets)",
                drops.safe_text(self._where, drops.MAX_WHERE_LENGTH) if type(self._where) is str else "?",
            )

    def _read_clock(self) -> float | None:
        try:
            now = self._clock()
        except Exception as exc:
            drops.report(self._where, "clock_error", _class_name(exc))
            return None
        checked = self._number(now, "clock")
        return checked

    def _number(self, value: object, what: str) -> float | None:
        """``value`` as a finite float, or None after reporting why it was dropped (never shows the value)."""
        cls = value.__class__
        if cls is float:
            if value - value == 0.0:  # type: ignore[operator]  # finite (inf - inf and nan - nan are nan)
                return value  # type: ignore[return-value]
            self._refuse(what, "nan" if value != value else "infinite", "")
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError
            number = float(operator.index(value)) if isinstance(value, numbers.Integral) else float(value)
        except OverflowError:
            self._refuse(what, "out_of_range", "an integer beyond float range")
            return None
        except Exception:
            self._refuse(what, "not_a_number", _class_name(value))
            return None
        if not math.isfinite(number):
            self._refuse(what, "nan" if number != number else "infinite", "")
            return None
        return number

    def _refuse(self, what: str, reason: str, detail: str) -> None:
        if what == "timestamp":
            drops.report(self._where, "bad_timestamp", reason)
        elif what == "clock":
            drops.report(self._where, "clock_error", reason)
        else:
            drops.report(self._where, reason, detail)
        return None

    # -- reading ---------------------------------------------------------------------------------------------

    def rate(self, window: str, now: float | None = None) -> float | None:
        """The rate per second over ``window`` (a configured label such as ``"30s"``) at ``now``, or None (absent).

        ``now`` defaults to the clock. KeyError for a label that was not configured (a programming error).
        """
        state = self._by_label[window]
        with self._lock:
            at = self._now(now)
            if at is None:
                return None
            snapshot = state.snapshot()
        return self._slope(_columns(snapshot), at - state.seconds, at)

    def rates(self, now: float | None = None) -> dict[str, float]:
        """``{label: rate per second}`` for every window that has a value at ``now`` (default: the clock).

        Windows without a value are left out (their series is absent). Never raises.
        """
        try:
            with self._lock:
                at = self._now(now)
                if at is None:
                    return {}
                snapshots = [(s.label, s.seconds, s.snapshot()) for s in self._states]
            out: dict[str, float] = {}
            for label, seconds, snapshot in snapshots:
                value = self._slope(_columns(snapshot), at - seconds, at)
                if value is not None:
                    out[label] = value
            return out
        except Exception as exc:  # pragma: no cover - defensive
            drops.report(self._where, "internal_error", _class_name(exc))
            return {}

    def _now(self, now: object) -> float | None:
        return self._read_clock() if now is None else self._number(now, "timestamp")

    def _slope(self, columns: list[list[float]], edge: float, now: float) -> float | None:
        """Least-squares slope over the entries entirely inside ``(edge, now]``; None below two distinct times."""
        try:
            return _fit(*_inside(columns, edge, now))
        except (OverflowError, ValueError, ZeroDivisionError):  # fsum's overflow or inf - inf: values near the limit
            drops.report(self._where, "rate_overflow")
            return None

    # -- introspection ---------------------------------------------------------------------------------------

    def samples(self, window: str, now: float | None = None) -> int:
        """How many samples the value of ``window`` (a label) at ``now`` is computed from (0 when none)."""
        state = self._by_label[window]
        with self._lock:
            at = self._now(now)
            if at is None:
                return 0
            snapshot = state.snapshot()
        return int(math.fsum(_inside(_columns(snapshot), at - state.seconds, at)[_N]))

    def sample_count(self, window: str | None = None) -> int:
        """Entries kept for ``window`` (a label), or for every window together: the memory bound's witness."""
        with self._lock:
            if window is not None:
                return len(self._by_label[window])
            return sum(len(s) for s in self._states)

    def clear(self) -> None:
        """Forget every sample (the next update starts the history again)."""
        with self._lock:
            for s in self._states:
                s.clear()
            self._newest = None
