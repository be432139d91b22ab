"""The on-disk layout shared by the writer (:mod:`.store`) and the reader (:mod:`.merge`).

One file per process (and one or a few archive files), native byte order, everything 8-byte aligned::

    header (128 bytes)
      0  magic  b"LKOBSMP\\0"          8s
      8  version                      u32   (1)
     12  byte-order mark 0x01020304   u32   (a file from another architecture is skipped)
     16  committed                    u64   end of the published records; written last, after a record is complete
     24  pid                          u64   0 for an archive
     32  start ticks                  u64   field 22 of /proc/<pid>/stat (pid reuse check), 0 if unknown
     40  created                      u64   time_ns() at creation (an archive: the newest absorbed file's)
     48  instance id                  16s   random; names the file and lets archives say what they absorbed
     64  boot id                      16s   /proc/sys/kernel/random/boot_id (a file from another boot is dead)
     80  flags                        u32   1 archive, 2 closed (the store was closed: treated as a dead process)
     84  chunk size                   u32
    records, from offset 128 up to ``committed``; each starts with (size u32, type u16, kind u16):
      PAD      (8 bytes or more)      skip ``size`` bytes (the unused tail of a chunk)
      METRIC   + metric id u32, text length u32, created u64, then JSON {name, description, unit, kind, bounds,
               mode, exemplars}
      SERIES   + metric id u32, text length u32, created u64, then the attribute set as canonical JSON, padding to
               8, then the slot (float64 words; see :func:`slot_words`)
      INCLUDES + 0, text length, 0, then a JSON list of the instance ids (hex) an archive absorbed

Slots (word offsets; ``d`` float64, ``q`` int64 through a second cast of the same bytes):

    counter, updown_counter   [0] value d                      + counters: one exemplar (7 words)
    histogram                 [0] sum d, [1] min d, [2] max d, [3] exemplars written q, [4 + i] count of bucket i q
                              + one exemplar per bucket
    gauge, info               [0] value d (NaN: not set / not current), [1] time_ns of the last set q
    exemplar (7 words)        [0] seq_a q, [1] trace id high q, [2] trace id low q, [3] span id q, [4] value d,
                              [5] time_ns q, [6] seq_b q   (the writer stores seq_b first and seq_a last; a reader
                              that sees seq_a != seq_b read a torn exemplar and ignores it; seq 0: none)

Why float64 words for values: one ``memoryview(...).cast('d')`` store per update, no struct packing on the hot path.
Integers are exact up to 2**53 (9,007,199,254,740,992); see docs/MULTIPROCESS.md for what happens above. Bucket
counts are int64 words (exact; and integers merge about twice as fast as floats).
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

MAGIC = b"LKOBSMP\x00"
VERSION = 1
BYTE_ORDER_MARK = 0x01020304
HEADER = struct.Struct("=8sIIQQQQ16s16sII")
HEADER_SIZE = 128
COMMITTED_WORD = 2  # header offset 16 as a u64 index
FLAGS_OFFSET = 80
FLAG_ARCHIVE = 1
FLAG_CLOSED = 2

RECORD = struct.Struct("=IHHIIQ")  # size, type, kind, metric id, text length, created
PREFIX = struct.Struct("=IHH")
RECORD_SIZE = RECORD.size  # 24

PAD, METRIC, SERIES, INCLUDES = 1, 2, 3, 4
RECORD_TYPES = frozenset((PAD, METRIC, SERIES, INCLUDES))

#: Kind codes in the record prefix (the catalog spelling is in the METRIC text too).
KIND_CODES: dict[str, int] = {"counter": 1, "updown_counter": 2, "histogram": 3, "gauge": 4, "info": 5}
KIND_NAMES: dict[int, str] = {v: k for k, v in KIND_CODES.items()}

#: How gauges from several processes merge (docs/MULTIPROCESS.md, "Merge rules").
GAUGE_MODES: tuple[str, ...] = ("last", "sum", "min", "max", "per_process")

EXEMPLAR_WORDS = 7
HIST_HEAD = 4  # sum, min, max, exemplar writes
EXEMPLAR_WRITES = 3  # histograms: how many exemplars were written (the reader skips the area while 0)
MAX_TEXT = 1 << 20  # a METRIC or SERIES text longer than this is a corrupt record

INT_EXACT = 1 << 53
_U64 = (1 << 64) - 1


def align8(n: int) -> int:
    return (n + 7) & ~7


def slot_words(kind: str, nbounds: int, exemplars: bool) -> int:
    """The number of 8-byte words of one series' slot."""
    if kind == "histogram":
        buckets = nbounds + 1
        return HIST_HEAD + buckets + (EXEMPLAR_WORDS * buckets if exemplars else 0)
    if kind == "counter":
        return 1 + (EXEMPLAR_WORDS if exemplars else 0)
    if kind == "updown_counter":
        return 1
    return 2  # gauge, info


def exemplar_base(kind: str, nbounds: int) -> int:
    """Word offset of the first exemplar in a slot (counters and histograms)."""
    return HIST_HEAD + nbounds + 1 if kind == "histogram" else 1


def canonical_attributes(attributes: Any) -> str:
    """The attribute set as canonical JSON: an object with its keys sorted, ASCII only (every other character
    escaped, so any ``str`` round-trips, even one with a lone surrogate), ``true``/``1``/``1.0`` kept apart.

    Values are what a handle admits (str, bool, int64, finite float); anything else raises TypeError/ValueError.
    """
    items = sorted(attributes.items())
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError("attribute keys must be str")
        cls = value.__class__
        if cls is float:
            if not math.isfinite(value):
                raise ValueError("attribute values must be finite")
        elif cls not in (str, bool, int):
            raise TypeError(f"attribute values must be str, bool, int or float, not {cls.__name__}")
    return json.dumps(dict(items), ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def attributes_key(attributes: dict[str, Any]) -> frozenset[tuple[str, type, Any]]:
    """The identity of an attribute set: (key, value class, value), as the aggregation and the SDK key series."""
    return frozenset([(k, v.__class__, v) for k, v in attributes.items()])


def metric_text(
    name: str, description: str, unit: str, kind: str, bounds: Any, mode: str, exemplars: bool
) -> str:
    document = {
        "name": name,
        "description": description,
        "unit": unit,
        "kind": kind,
        "bounds": None if bounds is None else list(bounds),
        "mode": mode,
        "exemplars": bool(exemplars),
    }
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def to_signed(value: int) -> int:
    """An unsigned 64-bit id as the int64 the slot's ``q`` view stores."""
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    return value & _U64


def number(value: float) -> float | int:
    """A merged value as the SDK would hold it: an int when it is integral and exact in float64, else the float."""
    if -INT_EXACT <= value <= INT_EXACT and value == int(value):
        return int(value)
    return value
