"""Publishing an :class:`~lukhas_obs.aggregation.Aggregator` to the OTel SDK's metric readers (the one seam).

opentelemetry-sdk 1.45 has no ``MetricProducer`` (upstream issue #4768, PR #5419). Until it ships, this module
makes every reader of a ``MeterProvider`` (the Prometheus reader, periodic OTLP readers, in-memory readers) receive
the aggregator's metrics as if the SDK had aggregated them itself:

- each reader's ``_receive_metrics`` gets an instance-attribute wrapper that merges the aggregator's metrics for
  that reader's slot into the ``MetricsData`` the SDK collected, then calls the reader's own method;
- the SDK calls ``_receive_metrics`` only when it has data, so one observable "anchor" gauge is registered in a
  private scope (:data:`ANCHOR_SCOPE`); its point (which also carries the collection's timestamp) and its scope are
  stripped again, and when nothing else is left the reader is not called at all, as without the anchor;
- merged output follows the SDK's own ordering rule (instruments in first-measurement order, scopes in the order of
  their first instrument): when a metric gets its first series, the number of instruments already in each reader's
  SDK storage is noted, and the aggregator's metrics are interleaved with the SDK's accordingly (a metric of the
  same scope joins the SDK's ``ScopeMetrics`` for it). If the storage cannot be read, ours come first.
- resource and schema URL come from the SDK's data.

Moving to ``MetricProducer`` later: implement ``produce()`` with :meth:`Aggregator.collect` and drop the anchor
and the wrapper; nothing outside this file changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from time import time_ns
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from lukhas_obs.aggregation import Aggregator, MetricState

__all__ = ["ANCHOR_NAME", "ANCHOR_SCOPE", "Publisher", "UnsupportedConfiguration", "install"]

_log = logging.getLogger("lukhas_obs")

#: The private scope and instrument that make the SDK collect (and call ``_receive_metrics``) every time.
ANCHOR_SCOPE = "lukhas_obs.aggregation.anchor"
ANCHOR_NAME = "lukhas_obs.aggregation.anchor"
# A non-empty context without a span: the SDK's trace-based exemplar filter never samples the anchor, so it draws
# no random numbers (an empty Context is falsy and the SDK would use the collector thread's current context).
_ANCHOR_CONTEXT = Context({"lukhas_obs.aggregation.anchor": True})


class UnsupportedConfiguration(ValueError):
    """The provider or a reader asks for something the aggregation cannot reproduce (use the plain SDK path)."""


class Publisher:
    """The installed seam between one aggregator and one provider's readers. :meth:`uninstall` removes it."""

    def __init__(
        self,
        provider: MeterProvider,
        aggregator: Aggregator,
        readers: Sequence[MetricReader],
        scope: InstrumentationScope,
    ) -> None:
        self.provider = provider
        self.aggregator = aggregator
        self.readers = tuple(readers)
        self.scope = scope
        self._anchor_scope = InstrumentationScope(ANCHOR_SCOPE)
        self._originals: list[Any] = []
        self._slot_locks = [threading.Lock() for _ in self.readers]
        #: Per metric: how many instruments each reader's SDK storage held when it got its first series.
        self._positions: dict[MetricState, tuple[int, ...]] = {}
        self._active = True
        #: Multiprocess mode: ``merged(time_unix_nano)`` gives the merge of every process's file, which replaces the
        #: aggregator's metrics for the readers whose slots are in ``merged_slots`` (pull readers: /metrics).
        self.merged: Callable[[int], list[Metric]] | None = None
        self.merged_slots: frozenset[int] = frozenset()

    # -- set-up ---------------------------------------------------------------------------------------------------

    def _install(self) -> None:
        self.aggregator.on_new_metric(self._note_position)
        for state in self.aggregator.active:  # metrics that already have series (none when installed first)
            self._note_position(state)
        meter = self.provider.get_meter(ANCHOR_SCOPE)
        meter.create_observable_gauge(ANCHOR_NAME, callbacks=[self._anchor])
        for slot, reader in enumerate(self.readers):
            original = reader._receive_metrics
            self._originals.append(original)
            reader._receive_metrics = self._wrapper(slot, original)  # type: ignore[method-assign]

    def uninstall(self) -> None:
        """Restore every reader's own ``_receive_metrics``; the anchor stops producing points."""
        self._active = False
        for reader in self.readers:
            with contextlib.suppress(AttributeError):
                del reader._receive_metrics  # the class's method shows through again

    def _anchor(self, options: CallbackOptions) -> Iterable[Observation]:
        if not self._active:
            return []
        return [Observation(0, None, _ANCHOR_CONTEXT)]

    def _storage_order(self, reader: MetricReader) -> dict[Any, Any] | None:
        """The reader's SDK storage: instrument → view matches, in first-measurement order (None if unreadable)."""
        try:
            storages = self.provider._measurement_consumer._reader_storages
            return storages[reader]._instrument_view_instrument_matches
        except Exception:
            return None

    def _note_position(self, state: MetricState) -> None:
        positions = []
        for reader in self.readers:
            order = self._storage_order(reader)
            positions.append(-1 if order is None else len(order))
        self._positions[state] = tuple(positions)

    # -- collection -----------------------------------------------------------------------------------------------

    def _wrapper(self, slot: int, original: Any) -> Any:
        def receive(metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
            if self._active:
                try:
                    with self._slot_locks[slot]:
                        merged = self.merge(slot, metrics_data)
                except Exception as exc:  # never break the reader: hand on the SDK's data, minus the anchor
                    _log.warning("lukhas_obs: merging aggregated metrics failed: %s", type(exc).__name__)
                    try:
                        from lukhas_obs import drops

                        drops.report("lukhas_obs.aggregation", "internal_error", type(exc).__name__)
                    except Exception:  # pragma: no cover
                        pass
                    merged = self._strip_only(metrics_data)
                if merged is None:
                    return None
                metrics_data = merged
            return original(metrics_data, timeout_millis=timeout_millis, **kwargs)

        receive.__wrapped__ = original  # type: ignore[attr-defined]
        return receive

    def _strip_only(self, metrics_data: MetricsData) -> MetricsData | None:
        out = []
        for rm in metrics_data.resource_metrics:
            scopes = [sm for sm in rm.scope_metrics if sm.scope != self._anchor_scope]
            if scopes:
                out.append(ResourceMetrics(resource=rm.resource, scope_metrics=scopes, schema_url=rm.schema_url))
        return MetricsData(resource_metrics=out) if out else None

    def merge(self, slot: int, metrics_data: MetricsData) -> MetricsData | None:
        """The SDK's ``metrics_data`` for reader ``slot`` with the aggregator's metrics merged in (anchor removed);
        None when there is nothing at all (the SDK would not have called the reader)."""
        resource_metrics = list(metrics_data.resource_metrics)
        if not resource_metrics:
            return None
        rm = resource_metrics[0]  # the SDK produces exactly one ResourceMetrics per collection
        collected_at = None
        sdk_scopes: list[ScopeMetrics] = []
        for sm in rm.scope_metrics:
            if sm.scope == self._anchor_scope:
                for metric in sm.metrics:
                    points = metric.data.data_points
                    if metric.name == ANCHOR_NAME and points:
                        collected_at = points[0].time_unix_nano
                rest = [m for m in sm.metrics if m.name != ANCHOR_NAME]
                if rest:  # someone else's instrument in our private scope: keep it
                    sdk_scopes.append(ScopeMetrics(scope=sm.scope, metrics=rest, schema_url=sm.schema_url))
            else:
                sdk_scopes.append(sm)
        at = collected_at if collected_at is not None else time_ns()
        ours: list[tuple[MetricState | None, Metric]]
        if self.merged is not None and slot in self.merged_slots:
            ours = [(None, metric) for metric in self.merged(at)]
        else:
            ours = list(self.aggregator.collect(slot, at))
        if not ours:
            scopes = sdk_scopes
        elif not sdk_scopes:
            metrics = [m for _, m in ours]
            scopes = [ScopeMetrics(scope=self.scope, metrics=metrics, schema_url=self.scope.schema_url or "")]
        else:
            scopes = self._interleave(slot, sdk_scopes, ours)
        if not scopes:
            return None
        merged_rm = ResourceMetrics(resource=rm.resource, scope_metrics=scopes, schema_url=rm.schema_url)
        return MetricsData(resource_metrics=[merged_rm, *resource_metrics[1:]])

    def _interleave(
        self, slot: int, sdk_scopes: list[ScopeMetrics], ours: list[tuple[MetricState | None, Metric]]
    ) -> list[ScopeMetrics]:
        """Order SDK and own metrics as one SDK storage would have (see the module docstring)."""
        order = self._storage_order(self.readers[slot])
        index: dict[tuple[Any, str], int] = {}
        if order is not None:
            for i, instrument in enumerate(list(order)):
                index.setdefault((instrument.instrumentation_scope, instrument.name), i)
        # (position, 1 for SDK / 0 for ours at the same position, tie-break, scope, schema_url, metric)
        entries: list[tuple[int, int, int, InstrumentationScope, str, Metric]] = []
        unknown = len(index) + 1
        for s_i, sm in enumerate(sdk_scopes):
            for m_i, metric in enumerate(sm.metrics):
                position = index.get((sm.scope, metric.name), unknown)
                entries.append((position, 1, s_i * 1_000_000 + m_i, sm.scope, sm.schema_url, metric))
        for seq, (state, metric) in enumerate(ours):
            # a merged metric (multiprocess mode) has no state here: it comes first, in the merge's order
            position = -1 if state is None else self._positions.get(state, (-1,) * len(self.readers))[slot]
            entries.append((position, 0, seq, self.scope, self.scope.schema_url or "", metric))
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        grouped: dict[InstrumentationScope, ScopeMetrics] = {}
        for _, _, _, scope, schema_url, metric in entries:
            existing = grouped.get(scope)
            if existing is None:
                grouped[scope] = ScopeMetrics(scope=scope, metrics=[metric], schema_url=schema_url)
            else:
                existing.metrics.append(metric)  # type: ignore[attr-defined]
        return list(grouped.values())


def install(
    meter_provider: MeterProvider,
    aggregator: Aggregator,
    *,
    scope_name: str,
    scope_version: str | None = None,
    scope_schema_url: str | None = None,
    scope_attributes: dict[str, Any] | None = None,
    cardinality_limit: int | None = None,
) -> Publisher:
    """Publish ``aggregator`` to every reader of ``meter_provider`` under the scope ``scope_name``/``scope_version``
    (the scope ``meter_provider.get_meter(scope_name, scope_version)`` would have).

    Call it right after building the provider, before any series is created: it binds one aggregator slot per
    reader of the provider, in the provider's order (the order the SDK offers exemplars in, so random draws
    match), and the provider's exemplar filter. A reader added later with ``add_metric_reader`` is not served
    (it would also see the anchor gauge): build the provider with all its readers.

    Raises :class:`UnsupportedConfiguration` naming the reader and what it asks for when the output could not be
    identical (DELTA temporality, a non-default aggregation, views, or a reader cardinality limit below
    ``cardinality_limit``); the caller then records through the SDK instead.
    """
    chosen = tuple(getattr(meter_provider, "_metric_readers", ()) or ())
    for reader in chosen:
        reason = Aggregator.unsupported_reason(reader)
        if reason is not None:
            raise UnsupportedConfiguration(reason)
        if cardinality_limit is not None and not Aggregator.supports(reader, cardinality_limit):
            raise UnsupportedConfiguration(
                f"{type(reader).__name__} has a cardinality limit below {cardinality_limit} attribute sets"
            )
    try:
        config = meter_provider._sdk_config
        views = tuple(config.views or ())
        exemplar_filter = config.exemplar_filter
    except AttributeError as exc:
        raise UnsupportedConfiguration(f"this MeterProvider has no SDK configuration ({exc})") from None
    if views:
        raise UnsupportedConfiguration(f"the MeterProvider has {len(views)} view(s); views are not supported")
    aggregator.bind(len(chosen), exemplar_filter)
    scope = InstrumentationScope(scope_name, scope_version, scope_schema_url, scope_attributes)
    publisher = Publisher(meter_provider, aggregator, chosen, scope)
    publisher._install()
    return publisher
