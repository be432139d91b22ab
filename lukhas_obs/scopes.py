"""A span scope whose ``with`` hands out a small flow recorder instead of the raw span.

Flow helpers need to report what happened inside the block (a duplicate, three anomalies, a backpressure ratio)
without callers touching metric handles. The recorder is made per entry while telemetry is on; when it is off a
shared idle recorder (whose methods are no-ops through the handles) is returned, so nothing is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span

from lukhas_obs.spans import SpanScope

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class RecordingScope(Generic[R]):
    """Context manager (sync and async) yielding a recorder; as a decorator it only opens the span and times."""

    __slots__ = ("_idle", "_make", "_scope")

    def __init__(self, scope: SpanScope, make: Callable[[Span], R], idle: R) -> None:
        self._scope = scope
        self._make = make
        self._idle = idle

    def __repr__(self) -> str:
        return f"<RecordingScope {self._scope.name!r}>"

    @property
    def scope(self) -> SpanScope:
        """The underlying span/timing scope."""
        return self._scope

    def __enter__(self) -> R:
        span = self._scope.__enter__()
        return self._idle if span is trace.INVALID_SPAN else self._make(span)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._scope.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> R:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        return self._scope(fn)
