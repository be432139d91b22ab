"""Multiprocess mode in a serving process: the merge of every worker's file, handed to the metric readers.

:class:`MergedView` wraps one :class:`~lukhas_obs.multiprocess.MultiprocessCollector`. The runtime gives it to the
:class:`~lukhas_obs._compat.metric_producer.Publisher`, whose pull readers (the Prometheus reader behind
``/metrics`` and :func:`lukhas_obs.render_exposition`) then show the merged metrics instead of this process's own
aggregation. The self-telemetry gauge ``lukhas_obs_multiprocess_processes{process_state}`` says how many processes
contributed to that same collection: its callback runs first in a collection (the SDK calls callbacks before
handing the data to the reader), merges, and leaves the result for the reader's merge on the same thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import Metric
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from lukhas_obs.multiprocess.merge import Collected, CollectStats, MultiprocessCollector

__all__ = ["PROCESSES_METRIC", "MergedView", "register_self_metrics"]

#: The self-telemetry gauge of multiprocess mode (catalog ``lukhas_obs_self``).
PROCESSES_METRIC = "lukhas_obs_multiprocess_processes"
#: A merge made by the gauge's callback is used by the reader's merge only this soon after (same collection).
_CACHE_S = 2.0


class MergedView:
    """The merged metrics of ``directory``'s files, under ``resource`` and ``scope``; never raises."""

    def __init__(
        self,
        directory: str,
        *,
        resource: Resource | None,
        scope: InstrumentationScope,
        compact_interval: float | None = 60.0,
    ) -> None:
        self.directory = directory
        self.collector = MultiprocessCollector(
            directory, resource=resource, scope=scope, compact_interval=compact_interval
        )
        #: What the last collection read (how many processes contributed).
        self.stats = CollectStats()
        self._pending = threading.local()

    def _collect(self, time_unix_nano: int | None) -> Collected:
        collected = self.collector.collect(time_unix_nano=time_unix_nano)
        self.stats = collected.stats
        return collected

    def metrics(self, time_unix_nano: int) -> list[Metric]:
        """The merged metrics now (the ones the self-metric callback just merged, in the same collection)."""
        pending = getattr(self._pending, "value", None)
        self._pending.value = None
        if pending is not None and time.monotonic() - pending[0] < _CACHE_S:
            collected = pending[1]
        else:
            collected = self._collect(time_unix_nano)
        data = collected.metrics_data
        if data is None:
            return []
        return [metric for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics]

    def observe_processes(self) -> Iterable[tuple[float, Mapping[str, object]]]:
        """The self-metric's callback: merge now (kept for this collection's reader) and count the processes."""
        collected = self._collect(None)
        self._pending.value = (time.monotonic(), collected)
        stats = collected.stats
        return [
            (stats.live, {"process_state": "live"}),
            (stats.dead, {"process_state": "dead"}),
            (stats.archived_processes, {"process_state": "archived"}),
        ]


_registered = False
_lock = threading.Lock()


def register_self_metrics() -> None:
    """Register the processes gauge's callback once per process; it reads the active configuration's view."""
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
    try:
        from lukhas_obs.instruments import observable_gauge

        observable_gauge(PROCESSES_METRIC).observe(_observe)
    except Exception:  # pragma: no cover - the catalog ships this metric
        pass


def _observe() -> Iterable[tuple[float, Mapping[str, object]]]:
    from lukhas_obs import _state

    telemetry: Any = _state.current.telemetry
    view = getattr(telemetry, "multiprocess", None)
    if not isinstance(view, MergedView):
        return []
    return view.observe_processes()
