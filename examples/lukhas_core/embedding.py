"""A deterministic hashing embedding and cosine similarity, in pure Python.

Stands in for an embedding provider: texts sharing words and character trigrams get similar vectors, the same text
always gets the same vector (across processes: blake2b, not Python's salted ``hash``), and no model is needed.
"""

from __future__ import annotations

import hashlib
import math
import re

_TOKEN_RE = re.compile(r"[a-z0-9]+")


class HashingEmbeddings:
    """Feature hashing of words and character trigrams into ``dim`` signed buckets, L2-normalised."""

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ValueError("dim must be >= 2")
        self.dim = dim

    def embed(self, text: str) -> list[float]:
        """The unit vector of ``text`` (all zeros for text without letters or digits)."""
        vec = [0.0] * self.dim
        for feature in _features(text):
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % self.dim
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec))
        return [v / norm for v in vec] if norm else vec


def _features(text: str) -> list[str]:
    words = _TOKEN_RE.findall(text.lower())
    grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    return words + grams


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors of equal length (0.0 when either is all zeros)."""
    if len(a) != len(b):
        raise ValueError(f"dimension mismatch: {len(a)} != {len(b)}")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
