"""Memory (seed 003, M.1): indexer with sha256 dedupe and the orchestrator facade, instrumented by the memory flow.

Only :class:`MemoryOrchestrator` touches telemetry, through :mod:`lukhas_obs.flows.memory`: each ``add_event`` is a
``memory.add_event`` span timed into ``lukhas_memory_upsert_seconds`` and counted as indexed or as a dropped
duplicate; each ``query`` is a ``memory.query`` span timed into ``lukhas_memory_search_seconds``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from lukhas_obs_examples.lukhas_core.embedding import HashingEmbeddings
from lukhas_obs_examples.lukhas_core.store import InMemoryVectorStore, VectorDoc

from lukhas_obs.flows import memory as memory_flow


def fingerprint(text: str) -> str:
    """The dedupe key: sha256 of the text without surrounding whitespace."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


class Indexer:
    """Embeds and stores texts; the same content (by fingerprint) is stored once."""

    def __init__(self, store: InMemoryVectorStore, embeddings: HashingEmbeddings | None = None) -> None:
        self.store = store
        self.embeddings = embeddings or HashingEmbeddings(store.dim)

    def upsert(self, text: str, meta: Mapping[str, Any]) -> tuple[str, bool]:
        """Store ``text``; returns ``(doc_id, duplicate)`` where ``duplicate`` means it was already stored."""
        doc_id = fingerprint(text)
        if doc_id in self.store:
            return doc_id, True
        vec = self.embeddings.embed(text)
        self.store.add(VectorDoc(id=doc_id, text=text, embedding=vec, meta=dict(meta)))
        return doc_id, False

    def search_text(self, query: str, k: int = 10, filters: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
        """The ``k`` stored docs most similar to ``query``."""
        return self.store.search(self.embeddings.embed(query), k=k, filters=filters)


class MemoryOrchestrator:
    """Public facade kept stable for callers (the seed's API), instrumented through the memory flow helpers."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer

    def add_event(self, text: str, meta: Mapping[str, Any]) -> str:
        """Index one memory event; returns its id (the existing id when the content is a duplicate)."""
        with memory_flow.add_event(size=len(text), lane=meta.get("lane"), fold=meta.get("fold")) as event:
            doc_id, duplicate = self.indexer.upsert(text, meta)
            if duplicate:
                event.deduplicated()
            else:
                event.indexed()
        return doc_id

    def query(self, text: str, k: int = 8, filters: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
        """Search memory by text: ``[(id, score)]`` best first."""
        with memory_flow.query(k=k):
            return self.indexer.search_text(text, k=k, filters=filters)
