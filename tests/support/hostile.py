"""Hostile values shared by the attack tests: a str subclass and an object whose dunder methods raise."""

from __future__ import annotations


class RaisingStr(str):
    """A str subclass whose dunders raise: hashing, comparing, converting, measuring."""

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __len__(self) -> int:
        raise RuntimeError("len")


class Hostile:
    """An object every protocol of which raises (attribute access, len, bool, float, index, hash, repr, str)."""

    def __getattr__(self, name: str):
        raise RuntimeError(name)

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __bool__(self) -> bool:
        raise RuntimeError("bool")

    def __float__(self) -> float:
        raise RuntimeError("float")

    def __index__(self) -> int:
        raise RuntimeError("index")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")
