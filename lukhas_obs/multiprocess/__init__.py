"""Multiprocess mode: each pre-fork worker keeps its series in a memory-mapped file of its own; one ``/metrics``
merges them.

- :class:`ProcessStore` (:mod:`.store`): this process's file, opened after fork, and recorders for the catalog
  kinds (counter, updown_counter, histogram, gauge with a merge mode, info);
- :func:`collect` / :class:`MultiprocessCollector` (:mod:`.merge`): every file of the directory merged into one
  ``MetricsData`` plus :class:`CollectStats` (how many processes contributed); :func:`compact` folds dead workers'
  files into one archive.

docs/MULTIPROCESS.md describes the file layout, the merge rules, dead workers and the limits.
"""

from __future__ import annotations

from lukhas_obs.multiprocess.merge import (
    Collected,
    CollectStats,
    CompactResult,
    MultiprocessCollector,
    collect,
    compact,
    process_alive,
)
from lukhas_obs.multiprocess.store import GAUGE_MODES, KINDS, ProcessStore, StoreMetric

__all__ = [
    "GAUGE_MODES",
    "KINDS",
    "CollectStats",
    "Collected",
    "CompactResult",
    "MultiprocessCollector",
    "ProcessStore",
    "StoreMetric",
    "collect",
    "compact",
    "process_alive",
]
