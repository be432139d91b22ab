"""Rate of change over sliding windows (lukhas_obs.rates): exact values, edge cases, hostile input, bounds, threads.

Every expected slope is computed independently of the module: exactly, with ``fractions.Fraction`` over the
samples' exact binary values (the textbook least-squares formula, no centring tricks), and with ``numpy.polyfit``.
Windows are ``(now - w, now]``: left-open, right-closed.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
import threading
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from lukhas_obs import drops, rates
from lukhas_obs.errors import ConfigurationError
from lukhas_obs.rates import DEFAULT_MAX_SAMPLES, RateOfChange, Window, parse_window, parse_windows
from tests.support.hostile import Hostile, RaisingStr


class Clock:
    """An injectable clock: returns ``t``, which the test sets."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def exact_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope with exact rational arithmetic: (nΣtv − ΣtΣv) / (nΣt² − (Σt)²); None if undefined."""
    if len(points) < 2:
        return None
    ts = [Fraction(t) for t, _ in points]
    vs = [Fraction(v) for _, v in points]
    n = len(points)
    den = n * sum(t * t for t in ts) - sum(ts) ** 2
    if den == 0:
        return None
    return float((n * sum(t * v for t, v in zip(ts, vs, strict=True)) - sum(ts) * sum(vs)) / den)


def _id(value: object) -> str:
    """A test id that never calls the value's dunders (the hostile ones raise)."""
    return type(value).__name__


def polyfit_slope(points: list[tuple[float, float]]) -> float:
    t, v = np.array(points).T
    return float(np.polyfit(t, v, 1)[0])


def in_window(points: list[tuple[float, float]], now: float, seconds: float) -> list[tuple[float, float]]:
    return [(t, v) for t, v in points if now - seconds < t <= now]


def feed(roc: RateOfChange, points: list[tuple[float, float]]) -> None:
    for t, v in points:
        roc.update(v, t=t)


def check_all_windows(roc: RateOfChange, points: list[tuple[float, float]], now: float) -> dict[str, float]:
    """Every window's value equals the independent computations over the samples in (now - w, now]."""
    got = roc.rates(now=now)
    for window in roc.windows:
        inside = in_window(points, now, window.seconds)
        expected = exact_slope(inside)
        if expected is None:
            assert window.label not in got, (window, inside)
            assert roc.rate(window.label, now=now) is None
        else:
            assert got[window.label] == pytest.approx(expected, rel=1e-12, abs=1e-15), window
            assert got[window.label] == pytest.approx(polyfit_slope(inside), rel=1e-9, abs=1e-12), window
            assert roc.samples(window.label, now=now) == len(inside)
    return got


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(drops, "report", lambda where, reason, detail="", **kw: calls.append((where, reason, detail)))
    return calls


# -- known sequences ----------------------------------------------------------------------------------------------


def test_linear_ramp_gives_its_slope_in_every_window() -> None:
    roc = RateOfChange(clock=Clock())
    points = [(float(t), 0.7 + 0.002 * t) for t in range(0, 400)]
    feed(roc, points)
    got = check_all_windows(roc, points, now=399.0)
    assert set(got) == {"30s", "60s", "300s"}
    for value in got.values():
        assert value == pytest.approx(0.002, rel=1e-12)


def test_constant_is_exactly_zero_and_step_matches_the_exact_fit() -> None:
    roc = RateOfChange(clock=Clock())
    flat = [(float(t), 0.75) for t in range(100)]
    feed(roc, flat)
    assert roc.rates(now=99.0) == {"30s": 0.0, "60s": 0.0, "300s": 0.0}

    roc = RateOfChange(clock=Clock())
    step = [(float(t), 0.0 if t < 50 else 1.0) for t in range(80)]
    for i, point in enumerate(step):
        roc.update(point[1], t=point[0])
        check_all_windows(roc, step[: i + 1], now=point[0])
        check_all_windows(roc, step[: i + 1], now=point[0] + 0.5)
    assert roc.rate("300s", now=79.0) > 0.0  # the step is inside
    assert roc.rate("30s", now=79.0) == 0.0  # (49, 79]: only the flat top


def test_random_values_at_one_hertz_are_exact_least_squares() -> None:
    rng = random.Random(13)
    roc = RateOfChange(clock=Clock())
    points, t = [], 1000.0
    for _ in range(700):
        t += rng.uniform(0.6, 1.4)
        points.append((t, rng.gauss(0.75, 0.02)))
    feed(roc, points)
    for now in (points[-1][0], points[-1][0] + 0.3, points[-1][0] + 29.0, points[-1][0] + 299.0):
        check_all_windows(roc, points, now)


@pytest.mark.parametrize("base", [0.0, 1.7e9, -5e8])  # time.time()-sized timestamps, a negative clock
def test_large_time_base_keeps_full_precision(base: float) -> None:
    """Centred moments: a tiny slope on a huge time base is still exact (Σt² sums would lose every digit)."""
    rng = random.Random(5)
    roc = RateOfChange(("60s", "300s"), clock=Clock())
    points = [(base + i, 0.75 + 1e-6 * i + rng.gauss(0, 1e-7)) for i in range(400)]
    feed(roc, points)
    check_all_windows(roc, points, now=points[-1][0])
    assert roc.rate("300s", now=points[-1][0]) == pytest.approx(1e-6, rel=0.05)


def test_no_sample_and_one_sample_are_absent_two_samples_are_the_difference_quotient() -> None:
    clock = Clock(10.0)
    roc = RateOfChange(clock=clock)
    assert roc.rates() == {} and roc.rate("30s") is None and roc.samples("30s") == 0
    roc.update(0.70)
    assert roc.rates() == {}  # one point: no slope, and never a made-up 0
    clock.t = 12.0
    roc.update(0.75)
    assert roc.rates() == pytest.approx({"30s": 0.025, "60s": 0.025, "300s": 0.025}, rel=1e-12)
    assert roc.rate("30s") == pytest.approx((0.75 - 0.70) / 2.0, rel=1e-12)


def test_window_is_left_open_right_closed_and_ages_out_without_updates() -> None:
    roc = RateOfChange(("30s",), clock=Clock())
    feed(roc, [(0.0, 1.0), (10.0, 2.0)])
    assert roc.rate("30s", now=29.999) == pytest.approx(0.1)
    assert roc.rate("30s", now=30.0) is None  # the sample at 0 is exactly 30 s old: out
    assert roc.samples("30s", now=30.0) == 1
    assert roc.rate("30s", now=10.0) == pytest.approx(0.1)  # a sample at `now` is in
    assert roc.rate("30s", now=9.999) is None  # a read before the newest sample does not see it
    assert roc.rate("30s", now=1000.0) is None  # a series that stopped updating goes absent


def test_gap_longer_than_the_window() -> None:
    roc = RateOfChange(clock=Clock())
    points = [(float(t), 0.75 + 0.01 * t) for t in range(11)] + [(100.0, 0.2)]
    feed(roc, points)
    got = check_all_windows(roc, points, now=100.0)
    assert "30s" not in got and "60s" not in got and "300s" in got  # 300 s still holds the old samples
    points.append((101.0, 0.3))
    roc.update(0.3, t=101.0)
    got = check_all_windows(roc, points, now=101.0)
    assert got["30s"] == pytest.approx(0.1, rel=1e-12)  # only the two samples after the gap


def test_equal_timestamps() -> None:
    roc = RateOfChange(clock=Clock())
    feed(roc, [(5.0, 0.1), (5.0, 0.9), (5.0, 0.4)])
    assert roc.rates(now=5.0) == {}  # all at one instant: slope undefined, absent
    assert roc.samples("30s", now=5.0) == 3
    points = [(5.0, 0.1), (5.0, 0.9), (5.0, 0.4), (6.0, 0.5), (6.0, 0.7), (8.0, 1.0)]
    roc = RateOfChange(clock=Clock())
    feed(roc, points)
    check_all_windows(roc, points, now=8.0)


def test_clock_step_backwards_resets_the_history(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(100.0)
    roc = RateOfChange(clock=clock)
    for i in range(10):
        clock.t = 100.0 + i
        roc.update(0.5 + 0.01 * i)
    assert roc.rate("30s") == pytest.approx(0.01)
    clock.t = 50.0  # an injected clock stepping back
    roc.update(0.9)
    assert roc.resets == 1 and roc.sample_count() == 3  # one entry per window: the new sample only
    assert roc.rates() == {}
    clock.t = 52.0
    roc.update(0.8)
    assert roc.rates() == pytest.approx({"30s": -0.05, "60s": -0.05, "300s": -0.05})
    roc.update(0.7, t=51.0)  # explicit timestamps out of order: the same reset
    assert roc.resets == 2 and roc.rates(now=52.0) == {}
    assert sum("time went backwards" in r.getMessage() for r in caplog.records) == 1  # logged once


def test_equal_timestamp_is_not_a_step_back() -> None:
    roc = RateOfChange(clock=Clock())
    feed(roc, [(1.0, 0.0), (2.0, 1.0), (2.0, 3.0)])
    assert roc.resets == 0
    assert roc.rate("30s", now=2.0) == pytest.approx(exact_slope([(1.0, 0.0), (2.0, 1.0), (2.0, 3.0)]))


def test_default_clock_is_monotonic_and_used_for_reads() -> None:
    roc = RateOfChange(("30s",))
    roc.update(1.0, t=time.monotonic())  # explicit times on the default clock mix with clock readings
    roc.update(2.0)
    assert roc.resets == 0
    assert roc.samples("30s") == 2  # read at time.monotonic(): both samples are inside the last 30 s


# -- bounded memory -----------------------------------------------------------------------------------------------


def test_a_million_samples_at_one_kilohertz_keep_at_most_max_samples() -> None:
    roc = RateOfChange(("30s", "300s"), clock=Clock())
    update = roc.update
    peak = 0
    for i in range(1_000_000):
        update(0.001 * (i % 977), t=i * 0.001)  # 1 kHz for 1000 s
        if i % 50_000 == 0:
            peak = max(peak, roc.sample_count("300s"), roc.sample_count("30s"))
    assert roc.sample_count("30s") <= DEFAULT_MAX_SAMPLES
    assert roc.sample_count("300s") <= DEFAULT_MAX_SAMPLES
    assert peak <= DEFAULT_MAX_SAMPLES
    assert roc.samples("300s", now=999.999) > 298_000  # the window still covers (almost) 300 s of samples


def test_merged_buckets_drop_at_most_one_bucket_width_of_the_oldest_samples() -> None:
    """Dense samples: the value is the exact fit of the window's samples minus some of its oldest width, no more."""
    rng = random.Random(7)
    cap = 16
    roc = RateOfChange(("30s",), max_samples=cap, clock=Clock())
    width = 30.0 / (cap - 1)
    points = [(i * 0.1, rng.uniform(0.0, 1.0)) for i in range(2000)]  # 10 Hz: ~20 samples per bucket
    feed(roc, points)
    assert roc.sample_count("30s") <= cap
    for now in (199.95, 200.05, 215.0):
        got = roc.rate("30s", now=now)
        inside = [p for p in points if now - 30.0 < p[0] <= now]
        used = roc.samples("30s", now=now)
        assert len(inside) - used <= width / 0.1 + 1  # at most one bucket width left out
        tail = [p for p in points if p[0] <= now][-used:]  # the newest `used` samples, nothing older
        assert got == pytest.approx(exact_slope(tail), rel=1e-9, abs=1e-12)
        assert got == pytest.approx(polyfit_slope(tail), rel=1e-7, abs=1e-10)


def test_a_small_cap_is_honoured_under_any_spacing() -> None:
    rng = random.Random(3)
    roc = RateOfChange(max_samples=2, clock=Clock())
    t = 0.0
    for _ in range(5000):
        t += rng.choice((0.0, 1e-6, 0.01, 1.0, 20.0, 400.0))
        roc.update(rng.random(), t=t)
        assert roc.sample_count() <= 3 * 2
        assert all(state.size <= 1 for state in roc._states)  # the ring itself never grows past cap - 1


def test_entries_older_than_the_window_are_released_at_the_next_update() -> None:
    roc = RateOfChange(clock=Clock())
    feed(roc, [(float(t), 0.5) for t in range(400)])
    assert roc.sample_count("300s") == 300 and roc.sample_count("30s") == 30
    roc.update(0.5, t=10_000.0)  # after a long gap: only the new sample is kept
    assert roc.sample_count() == 3


# -- hostile input ------------------------------------------------------------------------------------------------


class RaisingFloat(float):
    def __float__(self) -> float:
        raise RuntimeError("float")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "nan"),
        (math.inf, "infinite"),
        (-math.inf, "infinite"),
        (np.float64("nan"), "nan"),
        (10**400, "out_of_range"),
        (-(10**400), "out_of_range"),
        (True, "not_a_number"),
        ("0.75", "not_a_number"),
        (RaisingStr("sk-live-secret"), "not_a_number"),
        (Decimal("0.75"), "not_a_number"),
        (None, "not_a_number"),
        (1j, "not_a_number"),
        (Hostile(), "not_a_number"),
        ([0.75], "not_a_number"),
    ],
    ids=_id,
)
def test_bad_values_are_dropped_reported_and_never_raise(
    value: object, reason: str, reported: list[tuple[str, str, str]]
) -> None:
    roc = RateOfChange(clock=Clock(1.0), where="wiltonos_quantum_coherence_derivative")
    roc.update(0.5, t=0.0)
    roc.update(value)
    roc.update(value, t=0.5)
    assert roc.samples("30s", now=1.0) == 1
    assert reported == [("wiltonos_quantum_coherence_derivative", reason, reported[0][2])] * 2
    assert "secret" not in reported[0][2] and "0.75" not in reported[0][2]


def test_float_subclass_whose_float_raises_is_dropped(reported: list[tuple[str, str, str]]) -> None:
    roc = RateOfChange(("30s",), clock=Clock(1.0))
    roc.update(RaisingFloat(0.5), t=0.0)
    roc.update(0.5, t=RaisingFloat(0.5))
    assert roc.sample_count() == 0
    assert [(reason, detail) for _, reason, detail in reported] == [
        ("not_a_number", "RaisingFloat"),
        ("bad_timestamp", "not_a_number"),
    ]


def test_numbers_of_other_classes_are_accepted() -> None:
    roc = RateOfChange(("30s",), clock=Clock())
    for t, v in enumerate((np.float32(0.5), Fraction(1, 1), np.int64(2), 3, 4.0)):
        roc.update(v, t=float(t))
    assert roc.samples("30s", now=4.0) == 5
    assert roc.rate("30s", now=4.0) == pytest.approx(exact_slope([(0, 0.5), (1, 1), (2, 2), (3, 3), (4, 4)]))


def test_hostile_where_label_never_raises() -> None:
    clock = Clock(10.0)
    roc = RateOfChange(clock=clock, where=RaisingStr("wiltonos_quantum_coherence_derivative"))
    roc.update(math.nan)
    roc.update(Hostile())
    roc.update(0.5)
    clock.t = 5.0
    roc.update(0.6)  # a step back: the reset is logged without touching the label's dunders
    assert roc.resets == 1 and roc.sample_count() == 3


@pytest.mark.parametrize("t", [math.nan, math.inf, "1.0", None.__class__, Hostile(), 10**400, True], ids=_id)
def test_bad_timestamps_are_dropped(t: object, reported: list[tuple[str, str, str]]) -> None:
    roc = RateOfChange(("30s",), clock=Clock(5.0))
    roc.update(0.5, t=t)
    assert roc.sample_count() == 0 and roc.resets == 0
    assert [reason for _, reason, _ in reported] == ["bad_timestamp"]
    roc.rates(now=t)  # type: ignore[arg-type]  # a bad read time: nothing, never an exception
    assert roc.rate("30s", now=t) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("clock", [lambda: 1 / 0, lambda: "now", lambda: math.nan, lambda: Hostile()])
def test_a_broken_injected_clock_never_raises(clock, reported: list[tuple[str, str, str]]) -> None:
    roc = RateOfChange(clock=clock)
    roc.update(0.5)
    assert roc.rates() == {} and roc.rate("30s") is None and roc.sample_count() == 0
    assert reported and {reason for _, reason, _ in reported} == {"clock_error"}


def test_values_near_the_float_limit_read_as_absent(reported: list[tuple[str, str, str]]) -> None:
    roc = RateOfChange(clock=Clock())
    for i in range(10):
        roc.update(1.7e308 if i % 2 else -1.7e308, t=float(i))
    assert roc.rates(now=9.0) == {}
    assert roc.rate("30s", now=9.0) is None
    assert {reason for _, reason, _ in reported} == {"rate_overflow"}


# -- configuration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("30s", (Window("30s", 30.0),)),
        (RaisingStr("30s"), (Window("30s", 30.0),)),  # read by value, its dunders never called
        ([RaisingStr("1m")], (Window("1m", 60.0),)),
        ("30s,60s,300s", (Window("30s", 30.0), Window("60s", 60.0), Window("300s", 300.0))),
        (" 30s , 1m,5m ", (Window("30s", 30.0), Window("1m", 60.0), Window("5m", 300.0))),
        (["1h30m", "500ms"], (Window("1h30m", 5400.0), Window("500ms", 0.5))),
        ((30, 0.25, 120.0), (Window("30s", 30.0), Window("250ms", 0.25), Window("120s", 120.0))),
        (45, (Window("45s", 45.0),)),
        (iter(["30s"]), (Window("30s", 30.0),)),
    ],
    ids=_id,
)
def test_windows_parser_accepts(spec: object, expected: tuple[Window, ...]) -> None:
    assert parse_windows(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "5 min",
        "",
        " , ",
        "0s",
        "-30s",
        "30S",
        "1.5m",
        "30s,,60s",
        0,
        -5,
        math.nan,
        math.inf,
        10**400,
        0.0001234,
        True,
        None,
        b"30s",
        {"30s": 1},
        [],
        ["60s", "1m"],
        ["30s", "30s"],
        [f"{i}s" for i in range(1, 18)],
        itertools.count(1),  # an endless iterable must fail fast, not hang
        RaisingStr("30 s"),
        Hostile(),
        ["30s", Hostile()],
    ],
    ids=_id,
)
def test_windows_parser_refuses_with_the_field_and_accepted_forms(spec: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        RateOfChange(spec)
    message = str(info.value)
    assert info.value.field.startswith("windows")
    assert "windows" in message
    assert ("30s" in message and "5m" in message) or "distinct lengths" in message or "at most 16" in message


def test_windows_parser_reuses_prometheus_durations() -> None:
    assert parse_window("1m") == Window("1m", 60.0)
    assert parse_window("2h", field="x").seconds == 7200.0
    with pytest.raises(ConfigurationError, match=r"x=.2 hours. is not accepted"):
        parse_window("2 hours", field="x")
    assert rates.DEFAULT_WINDOWS == ("30s", "60s", "300s")


@pytest.mark.parametrize("cap", [0, 1, -3, True, 2.0, "512", 100_001, 10**7, None])
def test_max_samples_is_validated(cap: object) -> None:
    with pytest.raises(ConfigurationError, match="max_samples"):
        RateOfChange(max_samples=cap)  # type: ignore[arg-type]


def test_clock_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="clock"):
        RateOfChange(clock=123.0)  # type: ignore[arg-type]


def test_unknown_window_label_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        RateOfChange().rate("45s")


# -- threads ------------------------------------------------------------------------------------------------------


def test_threads_updating_while_another_reads() -> None:
    """4 writers of v = 2·t (their own clock readings) and a reader: no exception, nothing lost, slope ≈ 2."""
    roc = RateOfChange(max_samples=64)
    per_thread, writers = 5_000, 4
    errors: list[BaseException] = []
    seen: list[dict[str, float]] = []
    stop = threading.Event()

    def write() -> None:
        try:
            for _ in range(per_thread):
                roc.update(2.0 * time.monotonic())
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                seen.append(roc.rates())
                assert roc.sample_count() <= 3 * 64
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=write) for _ in range(writers)]
        reader = threading.Thread(target=read)
        reader.start()
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=20)
        stop.set()
        reader.join(timeout=20)
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    assert roc.resets == 0  # the default clock is read under the lock: never out of order
    assert roc.samples("300s") == per_thread * writers  # every update counted once
    assert seen and all(math.isfinite(v) for snapshot in seen for v in snapshot.values())
    assert roc.rate("300s") == pytest.approx(2.0, rel=0.2)  # v was read just before the lock: slope ≈ 2


# -- benchmark ----------------------------------------------------------------------------------------------------


def test_benchmark_runs_in_quick_mode() -> None:
    from benchmarks import bench_rates

    report = bench_rates.run(quick=True)
    for key in ("update_ns_explicit_t", "update_ns_clock", "read_full_ms", "full_entries", "full_bytes"):
        assert isinstance(report[key], (int, float)) and report[key] > 0, key
    assert report["full_entries"] <= 3 * DEFAULT_MAX_SAMPLES
