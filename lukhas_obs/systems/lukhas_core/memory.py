"""Memory flow helpers (seed 003, M.1): ``memory.add_event`` and ``memory.query`` spans with their latencies.

Wiring of ``MemoryOrchestrator``::

    from lukhas_obs.flows import memory  # or: from lukhas_obs.systems.lukhas_core import memory

    def add_event(self, text, meta):
        with memory.add_event(size=len(text), lane=meta.get("lane"), fold=meta.get("fold")) as event:
            doc_id, duplicate = self.indexer.upsert(text, meta)
            event.deduplicated() if duplicate else event.indexed()
        return doc_id

    def query(self, text, k=8, filters=None):
        with memory.query(k=k):
            return self.indexer.search_text(text, k=k, filters=filters)

Measures ``lukhas_memory_upsert_seconds`` (add_event), ``lukhas_memory_search_seconds`` (query),
``lukhas_memory_docs_total`` (docs indexed) and ``lukhas_memory_dedup_dropped_total`` (duplicates dropped).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span

from lukhas_obs.instruments import counter
from lukhas_obs.scopes import RecordingScope
from lukhas_obs.spans import SpanScope, timed

__all__ = ["MemoryEvent", "add_event", "docs_indexed", "duplicates_dropped", "query"]

UPSERT_SECONDS = "lukhas_memory_upsert_seconds"
SEARCH_SECONDS = "lukhas_memory_search_seconds"
DOCS_TOTAL = "lukhas_memory_docs_total"
DEDUP_DROPPED_TOTAL = "lukhas_memory_dedup_dropped_total"

_docs = counter(DOCS_TOTAL)
_dedup = counter(DEDUP_DROPPED_TOTAL)


def docs_indexed(count: int = 1) -> None:
    """Count ``count`` documents written to the store (``lukhas_memory_docs_total``)."""
    _docs.add(count)


def duplicates_dropped(count: int = 1) -> None:
    """Count ``count`` documents dropped as duplicates (``lukhas_memory_dedup_dropped_total``)."""
    _dedup.add(count)


class MemoryEvent:
    """What ``with add_event(...)`` hands out: say whether the event was indexed or dropped as a duplicate."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def indexed(self, count: int = 1) -> None:
        """The event produced ``count`` new documents."""
        docs_indexed(count)

    def deduplicated(self, count: int = 1) -> None:
        """The event was (``count`` events were) dropped because the content is already stored."""
        duplicates_dropped(count)


_IDLE = MemoryEvent(trace.INVALID_SPAN)


def add_event(
    *, size: int | None = None, lane: str | None = None, fold: str | None = None, **attributes: object
) -> RecordingScope[MemoryEvent]:
    """Span ``memory.add_event`` timed into ``lukhas_memory_upsert_seconds``; yields a :class:`MemoryEvent`.

    ``size`` becomes ``mem.meta.size`` (the seed records the text length); ``lane``/``fold`` come from the event's
    metadata and are span attributes only — never labels, so they cannot explode the series count.
    """
    span_attributes = {**attributes, "mem.meta.size": size, "lane": lane, "fold": fold}
    # timed()'s own keywords are spelled out, so ``**span_attributes`` can only fill its ``**attributes`` (an
    # attribute named like one of them is a TypeError at the call, as it always was for ``span_name``).
    scope = timed(
        UPSERT_SECONDS, span_name="memory.add_event", failures=None, redact_exceptions=False, **span_attributes
    )
    return RecordingScope(scope, MemoryEvent, _IDLE)


def query(*, k: int | None = None, **attributes: object) -> SpanScope:
    """Span ``memory.query`` (attribute ``k``) timed into ``lukhas_memory_search_seconds``; yields the span."""
    return timed(SEARCH_SECONDS, span_name="memory.query", failures=None, redact_exceptions=False, k=k, **attributes)
