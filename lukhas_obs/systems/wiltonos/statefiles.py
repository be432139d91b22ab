"""The WiltonOS exporter: read the system's JSON state files at every collection (seed 001's quantum_ratio_exporter).

Seed 001: "Exportador Prometheus que coleta métricas dos arquivos de estado e as expõe via HTTP" (an exporter that
collects metrics from the state files and exposes them over HTTP). WiltonOS keeps two JSON files in its state
directory; :class:`StateFileCollector` reads both at the start of every scrape (a :func:`lukhas_obs.before_collect`
hook) and publishes what they hold::

    quantum_state.json    {"phi": 0.751,                          → wiltonos_quantum_coherence_ratio (and, fed by
                           "loops": {"alpha": 0.748, ...},           every read, wiltonos_quantum_coherence_derivative)
                           "collapse_operations": 17}             → wiltonos_loop_quantum_coherence{loop},
                                                                    wiltonos_loop_pressure{loop} = |Φ_loop − Φ★|,
                                                                    wiltonos_collapse_operations_total
    longevity_state.json  {"doses_total": {"nmn": 12, ...},       → wiltonos_longevity_doses_total{compound}
                           "doses": [{"seq": 14, "compound": "nmn",
                                      "amount": 250.0}, ...]}     → wiltonos_longevity_dose_amount (each new seq once)

Usage (one collector per process; see ``examples/wiltonos`` for the runnable exporter)::

    lukhas_obs.configure(prometheus_port=9109)
    collector = StateFileCollector("/var/lib/wiltonos").install()   # read at every scrape from now on
    ...
    collector.close()

What the values mean, and when a file cannot be used
----------------------------------------------------
* Φ is fed to its gauge on every read (also when the file did not change: Φ is still that value *now*), so the
  rate of change over 30 s/60 s/300 s is the least-squares slope of Φ against read time; two reads at the same
  instant with the same Φ add one sample. Read only at scrapes, the 30 s window holds 30 s / scrape interval samples:
  scrape every 5 s (the bootstrap's config does) or call :meth:`StateFileCollector.refresh` more often.
* Loop pressure is ``|Φ_loop − Φ★|`` (Φ★ = 0.75), rounded to 12 decimal places so the band's edges (0.73, 0.77) give
  exactly 0.02 and the pressure alert agrees with the band alert.
* Totals (collapses, doses per compound) are published as read: a lower total is a reset to Prometheus.
* A dose enters the histogram once, when a read first sees its ``seq``; a log whose highest ``seq`` went down was
  rewritten and is read again from its start. At most :data:`MAX_NEW_DOSES` doses are taken per read (the rest on
  the next one).
* A file that is missing, unreadable (permissions, a directory, a FIFO or device — never opened for blocking reads),
  larger than :data:`MAX_STATE_BYTES`, corrupt (not UTF-8 JSON, nested too deep) or invalid (not an object; a value
  that is not a finite number of the right sign) never breaks the scrape: it answers 200, and
  ``wiltonos_state_file_errors_total{file, reason}`` counts the problem (once per read and file). After a failed
  quantum read the loops are absent, the collapse total keeps its last good value, and Φ keeps its last value while
  its derivative goes absent once its samples age out of the windows. Valid parts of a partly invalid file are used.
* Names of loops and compounds are free-form labels: the SDK makes them valid bounded text and bounds their number
  by the cardinality limit (a warning once, then counted); at most :data:`MAX_ENTRIES` of each are read per file.
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lukhas_obs import collect_hooks, drops
from lukhas_obs.exporters.prometheus import render_exposition
from lukhas_obs.instruments import (
    RateOfChangeHandle,
    counter,
    gauge,
    histogram,
    metric,
    observable_counter,
    observable_gauge,
)
from lukhas_obs.systems.wiltonos import PHI_STAR, SYSTEM

__all__ = [
    "COHERENCE_DERIVATIVE",
    "COHERENCE_RATIO",
    "COLLAPSE_OPERATIONS_TOTAL",
    "DOSES_TOTAL",
    "DOSE_AMOUNT",
    "LONGEVITY_FILE",
    "LONGEVITY_METRICS",
    "LOOP_COHERENCE",
    "LOOP_PRESSURE",
    "MAX_ENTRIES",
    "MAX_NEW_DOSES",
    "MAX_STATE_BYTES",
    "QUANTUM_FILE",
    "STATE_FILE_ERRORS_TOTAL",
    "LongevityState",
    "QuantumState",
    "StateFileCollector",
    "active_collector",
    "longevity_exposition",
    "loop_pressure",
    "parse_longevity",
    "parse_quantum",
    "read_json_file",
]

SYSTEM.register()  # the catalog is known before the handles below are looked up, installed as an entry point or not


def _bind_handles() -> None:
    """Bind every catalog handle to the active configuration now, outside any collection.

    A catalog registered after configure() (``lukhas-obs demo`` loads the system's workload after it) has handles
    that bind on first use. The first use of Φ here is usually inside a scrape (the hook), where binding the rate of
    change creates an observable instrument in the OTel SDK, which waits for the lock the collection holds: the
    scrape would hang for ever. Binding here first avoids it (reported to the SDK's owners).
    """
    from lukhas_obs.instruments import resolve_all

    try:
        resolve_all()
    except Exception as exc:  # binding later (lazily) still works everywhere but inside a collection
        drops.report(STATE_FILE_ERRORS_TOTAL, "internal_error", type(exc).__name__)

COHERENCE_RATIO = "wiltonos_quantum_coherence_ratio"
COHERENCE_DERIVATIVE = "wiltonos_quantum_coherence_derivative"
LOOP_COHERENCE = "wiltonos_loop_quantum_coherence"
LOOP_PRESSURE = "wiltonos_loop_pressure"
COLLAPSE_OPERATIONS_TOTAL = "wiltonos_collapse_operations_total"
DOSES_TOTAL = "wiltonos_longevity_doses_total"
DOSE_AMOUNT = "wiltonos_longevity_dose_amount"
STATE_FILE_ERRORS_TOTAL = "wiltonos_state_file_errors_total"
#: What the Longevity API's ``/longevity/metrics`` serves (seed 001: "métricas sobre doses de compostos").
LONGEVITY_METRICS: tuple[str, ...] = (DOSES_TOTAL, DOSE_AMOUNT)

#: File names inside the state directory.
QUANTUM_FILE = "quantum_state.json"
LONGEVITY_FILE = "longevity_state.json"
#: Largest state file read (a larger one is ``too_large``; nothing beyond this is ever read).
MAX_STATE_BYTES = 1 << 20
#: Most loops, and most compounds, read from one file.
MAX_ENTRIES = 1000
#: Most new doses put into the histogram by one read.
MAX_NEW_DOSES = 10_000
#: The ``file`` label values.
FILES = ("quantum", "longevity")
#: Integer literals longer than this are not numbers a state file means (json.loads raises past 4300 digits).
_MAX_INT_DIGITS = 400
_INT64 = 2**63

_phi = gauge(COHERENCE_RATIO)
_doses = histogram(DOSE_AMOUNT)
_errors = counter(STATE_FILE_ERRORS_TOTAL)
_derivative = metric(COHERENCE_DERIVATIVE)  # exists (and binds with the others) before the first Φ


def _parse_int(text: str) -> Any:
    return math.inf if len(text) > _MAX_INT_DIGITS else int(text)


def _parse_constant(text: str) -> float:
    return math.nan  # NaN, Infinity, -Infinity: not JSON; read as a value that is not finite (invalid)


def read_json_file(path: str | os.PathLike[str]) -> tuple[Any, str | None]:
    """``(document, None)`` or ``(None, reason)`` for one state file; never raises, never blocks, reads at most
    :data:`MAX_STATE_BYTES` + 1 bytes.

    Reasons: ``missing``, ``unreadable`` (permissions, not a regular file: a directory, FIFO or device is never read),
    ``too_large``, ``corrupt`` (not UTF-8, not JSON, nested too deep).
    """
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError, TypeError):  # permissions, a NUL in the path, a path component that is a file
        return None, "unreadable"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "unreadable"
        if info.st_size > MAX_STATE_BYTES:
            return None, "too_large"
        chunks: list[bytes] = []
        remaining = MAX_STATE_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError:
        return None, "unreadable"
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_STATE_BYTES:  # the file grew while it was read
        return None, "too_large"
    try:
        document = json.loads(data.decode("utf-8-sig"), parse_int=_parse_int, parse_constant=_parse_constant)
    except Exception:  # not UTF-8, not JSON, RecursionError on deep nesting: one corrupt read
        return None, "corrupt"
    return document, None


def _number(value: Any, *, non_negative: bool = False) -> float | None:
    """``value`` as a finite float (JSON numbers only: never a bool, a string or null), else None."""
    if type(value) is not float and type(value) is not int:
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number) or (non_negative and number < 0):
        return None
    return number


def _entries(value: Any) -> tuple[list[tuple[str, float]], bool]:
    """Name → number entries of a JSON object (at most :data:`MAX_ENTRIES`); True when something was invalid."""
    if not isinstance(value, dict):
        return [], True
    out: list[tuple[str, float]] = []
    invalid = len(value) > MAX_ENTRIES
    for name, raw in list(value.items())[:MAX_ENTRIES]:
        number = _number(raw)
        if number is None or not name:
            invalid = True
            continue
        out.append((name, number))
    return out, invalid


def loop_pressure(phi: float, phi_star: float = PHI_STAR) -> float:
    """``|Φ − Φ★|``, rounded to 12 decimal places (so ``loop_pressure(0.77) == 0.02`` exactly)."""
    return round(abs(phi - phi_star), 12)


@dataclass(frozen=True)
class QuantumState:
    """What a quantum state file holds (``None`` for what it does not hold validly)."""

    phi: float | None = None
    loops: tuple[tuple[str, float], ...] = ()
    collapse_operations: float | None = None
    #: Something in the file was not usable (counted once as ``invalid``).
    invalid: bool = False


@dataclass(frozen=True)
class LongevityState:
    """What a longevity state file holds: totals per compound, and the dose log as ``(seq, amount)`` by ``seq``."""

    totals: tuple[tuple[str, float], ...] = ()
    doses: tuple[tuple[int, float], ...] = ()
    invalid: bool = False


def parse_quantum(document: Any) -> QuantumState:
    """The usable parts of a quantum state document (an object with ``phi``, ``loops``, ``collapse_operations``)."""
    if not isinstance(document, dict):
        return QuantumState(invalid=True)
    invalid = False
    phi = None
    if "phi" in document:
        phi = _number(document["phi"])
        invalid |= phi is None
    loops: list[tuple[str, float]] = []
    if "loops" in document:
        loops, bad = _entries(document["loops"])
        invalid |= bad
    collapses = None
    if "collapse_operations" in document:
        collapses = _number(document["collapse_operations"], non_negative=True)
        invalid |= collapses is None
    return QuantumState(phi, tuple(loops), collapses, invalid)


def parse_longevity(document: Any) -> LongevityState:
    """The usable parts of a longevity state document (an object with ``doses_total`` and ``doses``)."""
    if not isinstance(document, dict):
        return LongevityState(invalid=True)
    invalid = False
    totals: list[tuple[str, float]] = []
    if "doses_total" in document:
        totals, bad = _entries(document["doses_total"])
        negative = [entry for entry in totals if entry[1] < 0]
        if negative:
            totals = [entry for entry in totals if entry[1] >= 0]
        invalid |= bad or bool(negative)
    doses: list[tuple[int, float]] = []
    log = document.get("doses", [])
    if not isinstance(log, list):
        log, invalid = [], True
    for entry in log:
        seq = entry.get("seq") if isinstance(entry, dict) else None
        amount = _number(entry.get("amount"), non_negative=True) if isinstance(entry, dict) else None
        if type(seq) is not int or not -_INT64 <= seq < _INT64 or amount is None:
            invalid = True
            continue
        doses.append((seq, amount))
    doses.sort(key=lambda d: d[0])
    return LongevityState(tuple(totals), tuple(doses), invalid)


class _Pending:
    """What one refresh records once the collector's lock is released."""

    __slots__ = ("doses", "phi")

    def __init__(self) -> None:
        self.phi: float | None = None
        self.doses: list[float] = []


class StateFileCollector:
    """Reads ``quantum_state.json`` and ``longevity_state.json`` of ``state_dir`` at every collection (see module).

    :meth:`install` makes it the process's collector (a second one installed while one is active is refused: the
    metrics are process-wide); :meth:`refresh` reads now (the hook calls it; call it more often for a finer
    derivative); :meth:`close` stops it. Nothing here raises into the caller or the scrape.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        quantum_file: str = QUANTUM_FILE,
        longevity_file: str = LONGEVITY_FILE,
        phi_star: float = PHI_STAR,
    ) -> None:
        if _number(phi_star) is None:
            raise ValueError(f"phi_star must be a finite number, got {type(phi_star).__name__}")
        self.state_dir = Path(state_dir)
        self.paths = {"quantum": self.state_dir / quantum_file, "longevity": self.state_dir / longevity_file}
        self.phi_star = float(phi_star)
        self._lock = threading.Lock()
        self._loops: tuple[tuple[str, float], ...] = ()
        self._collapses: float | None = None
        self._totals: tuple[tuple[str, float], ...] = ()
        self._last_seq: int | None = None
        self._last_fed: tuple[float, float] | None = None
        self._installed = False
        self._hook = self.refresh  # one bound method: hooks are registered and removed by identity

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def install(self) -> StateFileCollector:
        """Read the state files at the start of every collection from now on; returns ``self``.

        RuntimeError when another collector is installed (close it first): one set of WiltonOS metrics per process.
        """
        global _active
        with _active_lock:
            if _active is not None and _active is not self:
                raise RuntimeError(
                    f"a WiltonOS state-file collector for {_active.state_dir} is already installed; close() it first"
                )
            _active = self
            self._installed = True
        _bind_handles()
        collect_hooks.before_collect(self._hook)
        return self

    def close(self) -> None:
        """Stop reading; the loop and total series disappear from the next collection."""
        global _active
        collect_hooks.remove(self._hook)
        with _active_lock:
            if _active is self:
                _active = None
            self._installed = False

    def __enter__(self) -> StateFileCollector:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------------------------

    def refresh(self) -> dict[str, str | None]:
        """Read both files now; ``{"quantum": None | reason, "longevity": None | reason}``. Never raises.

        The files are read and the collector's own state updated under its lock; the measurements are recorded
        after it is released, so a refresh on the collecting thread (the hook) and one on another thread never wait
        for each other inside the SDK.
        """
        outcome: dict[str, str | None] = dict.fromkeys(FILES, "unreadable")
        record = _Pending()
        with self._lock:
            for name, step in (("quantum", self._refresh_quantum), ("longevity", self._refresh_longevity)):
                try:
                    outcome[name] = step(record)
                except Exception as exc:  # a bug here must not break the scrape
                    drops.report(STATE_FILE_ERRORS_TOTAL, "internal_error", type(exc).__name__)
                    outcome[name] = "invalid"
        if record.phi is not None:
            _phi.set(record.phi)
        for amount in record.doses:
            _doses.record(amount)
        for name, problem in outcome.items():
            if problem is not None:
                _errors.add(1, file=name, reason=problem)
        return outcome

    def _refresh_quantum(self, record: _Pending) -> str | None:
        document, problem = read_json_file(self.paths["quantum"])
        if problem is not None:
            self._loops = ()
            return problem
        state = parse_quantum(document)
        if state.phi is not None:
            now = float(RateOfChangeHandle.clock())
            if self._last_fed != (now, state.phi):  # one sample per instant: concurrent scrapes add no weight
                record.phi = state.phi
                self._last_fed = (now, state.phi)
        self._loops = state.loops
        if state.collapse_operations is not None:
            self._collapses = state.collapse_operations
        return "invalid" if state.invalid else None

    def _refresh_longevity(self, record: _Pending) -> str | None:
        document, problem = read_json_file(self.paths["longevity"])
        if problem is not None:
            return problem
        state = parse_longevity(document)
        if isinstance(document, dict) and "doses_total" in document:
            self._totals = state.totals
        doses = state.doses
        if doses:
            if self._last_seq is not None and doses[-1][0] < self._last_seq:
                self._last_seq = None  # the log was rewritten from scratch: read it again from its start
            last = self._last_seq
            taken = [d for d in doses if last is None or d[0] > last][:MAX_NEW_DOSES]
            record.doses = [amount for _seq, amount in taken]
            if taken:
                self._last_seq = taken[-1][0]
        return "invalid" if state.invalid else None

    # -- what the observable instruments read ---------------------------------------------------------------------

    def _loop_values(self) -> list[tuple[float, Mapping[str, object]]]:
        return [(phi, {"loop": name}) for name, phi in self._loops]

    def _pressures(self) -> list[tuple[float, Mapping[str, object]]]:
        return [(loop_pressure(phi, self.phi_star), {"loop": name}) for name, phi in self._loops]

    def _collapse_total(self) -> list[tuple[float, Mapping[str, object]]]:
        return [] if self._collapses is None else [(self._collapses, {})]

    def _dose_totals(self) -> list[tuple[float, Mapping[str, object]]]:
        return [(total, {"compound": name}) for name, total in self._totals]


_active: StateFileCollector | None = None
_active_lock = threading.Lock()


def active_collector() -> StateFileCollector | None:
    """The installed collector, if any."""
    return _active


def _reader(method: str) -> Any:
    def read() -> Iterable[tuple[float, Mapping[str, object]]]:
        collector = _active
        return getattr(collector, method)() if collector is not None else []

    read.__name__ = f"wiltonos{method}"
    return read


observable_gauge(LOOP_COHERENCE).observe(_reader("_loop_values"))
observable_gauge(LOOP_PRESSURE).observe(_reader("_pressures"))
observable_counter(COLLAPSE_OPERATIONS_TOTAL).observe(_reader("_collapse_total"))
observable_counter(DOSES_TOTAL).observe(_reader("_dose_totals"))
_bind_handles()


def longevity_exposition(accept: str | None = None) -> tuple[bytes, str]:
    """``(body, content_type)`` of the dose metrics only, for the Longevity API's ``/longevity/metrics`` route.

    A route of the user's framework (docs/SERVING.md) until the built-in server serves per-endpoint subsets.
    """
    return render_exposition(accept, names=LONGEVITY_METRICS)
