"""An in-process vector store with the seed's ``PgVectorStore`` API (upsert by id, cosine search, delete, stats)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lukhas_obs_examples.lukhas_core.embedding import cosine


@dataclass(frozen=True)
class VectorDoc:
    """One stored document: id (the content fingerprint), text, embedding and free-form metadata."""

    id: str
    text: str
    embedding: list[float]
    meta: dict[str, Any] = field(default_factory=dict)


class InMemoryVectorStore:
    """Thread-safe dict of docs; search is an exact scan (fine for thousands of docs, and deterministic)."""

    def __init__(self, dim: int = 64, table: str = "mem_store") -> None:
        self.dim = dim
        self.table = table
        self._docs: dict[str, VectorDoc] = {}
        self._lock = threading.Lock()

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def add(self, doc: VectorDoc) -> str:
        """Insert or replace ``doc`` by id; returns the id."""
        if len(doc.embedding) != self.dim:
            raise ValueError(f"embedding has {len(doc.embedding)} dimensions, store expects {self.dim}")
        with self._lock:
            self._docs[doc.id] = doc
        return doc.id

    def bulk_add(self, docs: Iterable[VectorDoc]) -> list[str]:
        """Insert many docs; returns their ids in order."""
        return [self.add(doc) for doc in docs]

    def get(self, doc_id: str) -> VectorDoc | None:
        return self._docs.get(doc_id)

    def search(
        self, embedding: list[float], k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar docs as ``[(id, cosine)]``, best first; ``filters`` match metadata by equality."""
        if k <= 0:
            return []
        with self._lock:
            docs = list(self._docs.values())
        scored = [
            (doc.id, cosine(embedding, doc.embedding)) for doc in docs if not filters or _matches(doc.meta, filters)
        ]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:k]

    def delete(self, *, id: str | None = None, where: Mapping[str, Any] | None = None) -> int:
        """Delete by id or by metadata equality; returns how many docs were removed."""
        if id is None and where is None:
            raise ValueError("delete() needs id= or where=")
        with self._lock:
            doomed = [
                doc_id
                for doc_id, doc in self._docs.items()
                if (id is None or doc_id == id) and (where is None or _matches(doc.meta, where))
            ]
            for doc_id in doomed:
                del self._docs[doc_id]
        return len(doomed)

    def stats(self) -> dict[str, Any]:
        """``{table, dim, count}``."""
        return {"table": self.table, "dim": self.dim, "count": len(self._docs)}


def _matches(meta: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(meta.get(key) == value for key, value in wanted.items())
