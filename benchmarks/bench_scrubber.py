"""Scrubber benchmark: time per input size for benign text and for hostile near-miss shapes, to show linear growth.

Run from the repository root::

    python -m benchmarks.bench_scrubber            # sizes 1 KB … 1 MB, best of 3 (about 15 s on 2 cores)
    python -m benchmarks.bench_scrubber --quick    # sizes 1 KB … 64 KB, one run: checks that it runs

What is timed:

- **rules, uncapped** — ``Scrubber()._apply_value_rules(text)`` (a fresh scrubber, cold caches): every value rule
  over the whole text, without the scan bound. This is what proves the patterns linear: ms/KB stays flat as the size
  grows 1000-fold, and the ``×64 KB→1 MB`` column (time at 1 MB / time at 64 KB) stays near 16, the size ratio (a
  quadratic pattern gives 256).
- **scrub_text, 1 MB** — the public path, which scans at most ``MAX_SCAN_CHARS`` (64 KiB) and cuts the rest: what a
  1 MB exception message or log line actually costs the application.

The shapes are the near misses of each rule — long runs its pattern starts on but must reject (``'a'*n``,
``'password'*n``, ``'='*n``, ``'eyJ'+'A'*n``, digit runs for the card rule, ``'://'`` with a long userinfo, ...) —
and inputs dense with real matches (``DB_PASSWORD=x`` repeated), where the cost is the per-redaction bookkeeping
(Python-level, about 2-4 µs per redaction), still linear. The ``worst case`` row is the maximum over the hostile
shapes at each size. Before this scrubber (issue 9: 16 KB took 91 ms, 100 KB 3.9 s), measured the same way:
``'eyJ-'*n`` took 19 / 75 / 340 ms at 8 / 16 / 32 KB and ``'a.'*n + '://'`` 48 / 202 / 740 ms (×4 per doubling:
quadratic, so about 6 and 12 minutes at 1 MB); benign 1 MB log lines took 96 ms (now 26 ms).

Recorded on the development machine (2 shared cores, CPython 3.11.7), best of 3, ms:

| shape | 1 KB | 16 KB | 64 KB | 256 KB | 1 MB | ms/KB at 1 MB | ×64 KB→1 MB | scrub_text 1 MB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| benign: log lines | 0.05 | 0.42 | 1.60 | 6.58 | 26.3 | 0.026 | 16.4 | 1.6 |
| benign: prose with key words | 0.06 | 0.55 | 2.09 | 8.05 | 33.2 | 0.032 | 15.9 | 2.0 |
| benign: JSON body | 0.05 | 0.39 | 1.41 | 5.54 | 23.2 | 0.023 | 16.5 | 1.4 |
| a*n | 0.06 | 0.35 | 1.29 | 5.15 | 21.9 | 0.021 | 16.9 | 1.3 |
| password*n | 0.07 | 0.98 | 3.69 | 14.6 | 60.6 | 0.059 | 16.4 | 3.8 |
| password=*n | 0.15 | 1.92 | 8.02 | 32.4 | 132.0 | 0.129 | 16.5 | 7.8 |
| DB_PASSWORD=x *n | 0.28 | 3.91 | 16.0 | 64.8 | 258.3 | 0.252 | 16.1 | 15.8 |
| '='*n | 0.04 | 0.31 | 1.14 | 4.47 | 18.5 | 0.018 | 16.2 | 1.2 |
| eyJ+A*n | 0.08 | 0.65 | 2.52 | 9.60 | 39.5 | 0.039 | 15.7 | 2.5 |
| eyJ-*n | 0.05 | 0.50 | 1.89 | 7.58 | 29.1 | 0.028 | 15.4 | 1.8 |
| eyJA.*n | 0.09 | 0.88 | 3.38 | 13.7 | 55.1 | 0.054 | 16.3 | 3.6 |
| digits | 0.06 | 0.64 | 2.42 | 9.75 | 42.2 | 0.041 | 17.4 | 2.7 |
| '1 '*n | 0.04 | 0.33 | 1.20 | 4.66 | 18.7 | 0.018 | 15.7 | 1.2 |
| '4111 '*n | 0.10 | 1.31 | 5.04 | 20.0 | 79.4 | 0.078 | 15.8 | 5.1 |
| ://+userinfo | 0.05 | 0.48 | 1.82 | 7.09 | 28.9 | 0.028 | 15.9 | 2.5 |
| 'a.'*n+'://' | 0.05 | 0.34 | 1.24 | 4.88 | 19.5 | 0.019 | 15.7 | 1.3 |
| '://a:'*n | 0.06 | 0.62 | 2.33 | 9.15 | 35.9 | 0.035 | 15.4 | 2.3 |
| Bearer *n | 0.11 | 1.43 | 6.11 | 23.8 | 101.1 | 0.099 | 16.5 | 6.0 |
| -----BEGIN*n | 0.08 | 0.88 | 3.37 | 13.4 | 53.7 | 0.052 | 15.9 | 3.5 |
| xoxb-1-*n | 0.05 | 0.41 | 1.53 | 6.15 | 24.1 | 0.023 | 15.7 | 1.5 |
| ghp_*n | 0.05 | 0.51 | 1.94 | 7.71 | 30.6 | 0.030 | 15.8 | 1.9 |
| $2a$*n | 0.06 | 0.49 | 1.82 | 7.12 | 28.4 | 0.028 | 15.7 | 1.8 |
| {"pass": "*n | 0.31 | 4.58 | 19.0 | 74.4 | 308.3 | 0.301 | 16.2 | 18.8 |
| --password *n | 0.12 | 1.46 | 5.83 | 23.2 | 93.4 | 0.091 | 16.0 | 6.0 |
| 'akey='*n | 0.33 | 4.98 | 19.9 | 78.7 | 324.7 | 0.317 | 16.3 | 19.7 |
| 'keykey'*n | 0.12 | 1.71 | 6.63 | 26.7 | 105.8 | 0.103 | 16.0 | 6.5 |
| token_type=Bearer *n | 0.13 | 1.74 | 6.81 | 26.7 | 107.4 | 0.105 | 15.8 | 6.6 |
| distinct keys k{i}key=1 | 0.54 | 7.85 | 30.5 | 116.2 | 433.6 | 0.423 | 14.2 | 29.4 |
| worst case (max over hostile shapes) | 0.54 | 7.85 | 30.5 | 116.2 | 433.6 | 0.423 | 14.2 | 29.4 |
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from lukhas_obs.scrubbing import Scrubber

KB = 1024


def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


#: Realistic text: no rule should fire, every rule has to look.
BENIGN: dict[str, Callable[[int], str]] = {
    "benign: log lines": lambda n: _fill(
        "2026-12-01T10:00:00Z INFO request GET /v1/memory/search handled in 12 ms for tier T2 (k=8, status=200)\n", n
    ),
    "benign: prose with key words": lambda n: _fill(
        "The session was refreshed after the user authenticated; the key point is that tokens are cached. ", n
    ),
    "benign: JSON body": lambda n: _fill('{"id": 1234, "name": "memory", "tags": ["a", "b"], "score": 0.97}, ', n),
}

#: Near-miss and match-dense shapes, one or more per rule (the linear-time tests use the same table).
HOSTILE: dict[str, Callable[[int], str]] = {
    "a*n": lambda n: "a" * n,
    "password*n": lambda n: _fill("password", n),
    "password=*n": lambda n: _fill("password=", n),
    "DB_PASSWORD=x *n": lambda n: _fill("DB_PASSWORD=x ", n),
    "'='*n": lambda n: "=" * n,
    "eyJ+A*n": lambda n: "eyJ" + "A" * n,
    "eyJ-*n": lambda n: _fill("eyJ-", n),
    "eyJA.*n": lambda n: _fill("eyJAAAAAAAAAAAA.", n),
    "digits": lambda n: "1" * n,
    "'1 '*n": lambda n: _fill("1 ", n),
    "'4111 '*n": lambda n: _fill("4111 ", n),
    "://+userinfo": lambda n: "https://" + _fill("a:", n) + "@",
    "'a.'*n+'://'": lambda n: _fill("a.", n) + "://",
    "'://a:'*n": lambda n: _fill("://a:", n),
    "Bearer *n": lambda n: _fill("Bearer ", n),
    "-----BEGIN*n": lambda n: _fill("-----BEGIN PRIVATE ", n) + "PRIVATE KEY-----",
    "xoxb-1-*n": lambda n: _fill("xoxb-1-", n),
    "ghp_*n": lambda n: _fill("ghp_", n),
    "$2a$*n": lambda n: _fill("$2a$", n),
    '{"pass": "*n': lambda n: _fill('{"pass": "', n),
    "--password *n": lambda n: _fill("--password ", n),
    "'akey='*n": lambda n: _fill("akey=", n),
    "'keykey'*n": lambda n: _fill("key", n),
    "token_type=Bearer *n": lambda n: _fill("token_type=Bearer ", n),
    "distinct keys k{i}key=1": lambda n: "".join(f"k{i}key=1 " for i in range(n // 8 + 1))[:n],
}


def best_of(fn: Callable[[str], object], text: str, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


def run(sizes: Sequence[int], repeats: int) -> list[tuple[str, list[float], float]]:
    """``(shape, [uncapped seconds per size], scrub_text seconds at the largest size)`` for every shape, then the
    worst case over the hostile shapes."""
    rows: list[tuple[str, list[float], float]] = []
    for name, make in {**BENIGN, **HOSTILE}.items():
        # a fresh Scrubber per call: cold caches, so repeats do not flatter a shape whose keys would all be cached
        times = [best_of(lambda text: Scrubber()._apply_value_rules(text), make(size), repeats) for size in sizes]
        public = best_of(lambda text: Scrubber().scrub_text(text), make(sizes[-1]), repeats)
        rows.append((name, times, public))
    hostile = [row for row in rows if row[0] in HOSTILE]
    worst = [max(row[1][i] for row in hostile) for i in range(len(sizes))]
    rows.append(("worst case (max over hostile shapes)", worst, max(row[2] for row in hostile)))
    return rows


def table(sizes: Sequence[int], rows: list[tuple[str, list[float], float]]) -> str:
    """The markdown table (ms; ms/KB and the growth ratio at the largest size)."""
    label = {KB: "1 KB", 4 * KB: "4 KB", 16 * KB: "16 KB", 64 * KB: "64 KB", 256 * KB: "256 KB", 1024 * KB: "1 MB"}
    head = " | ".join(label.get(s, f"{s // KB} KB") for s in sizes)
    ratio_from = sizes.index(64 * KB) if 64 * KB in sizes and sizes[-1] > 64 * KB else 0
    ratio_name = f"×{label.get(sizes[ratio_from], '')}→{label.get(sizes[-1], '')}"
    last = label.get(sizes[-1], "")
    lines = [
        f"| shape | {head} | ms/KB at {last} | {ratio_name} | scrub_text {last} |",
        "|---|" + "---:|" * (len(sizes) + 3),
    ]
    for name, times, public in rows:
        cells = " | ".join(f"{t * 1e3:.2f}" if t < 0.01 else f"{t * 1e3:.1f}" for t in times)
        per_kb = times[-1] * 1e3 / (sizes[-1] / KB)
        ratio = times[-1] / max(times[ratio_from], 1e-6)
        lines.append(f"| {name} | {cells} | {per_kb:.3f} | {ratio:.1f} | {public * 1e3:.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; exit status 1 if any shape grows clearly faster than linearly (ratio > 2× the size ratio)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scrubber", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 64 KB, one run each")
    args = parser.parse_args(argv)
    sizes = [KB, 4 * KB, 16 * KB, 64 * KB] if args.quick else [KB, 16 * KB, 64 * KB, 256 * KB, 1024 * KB]
    repeats = 1 if args.quick else 3
    rows = run(sizes, repeats)
    print(table(sizes, rows))
    if args.quick:
        return 0
    size_ratio = sizes[-1] / (64 * KB)
    superlinear = [name for name, times, _ in rows if times[-1] / max(times[2], 1e-6) > 2 * size_ratio]
    if superlinear:
        print("superlinear growth:", ", ".join(superlinear), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
