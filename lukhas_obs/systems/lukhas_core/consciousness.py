"""Consciousness flow helpers (seed 003, C.1): reflection passes and dream-FSM steps.

Wiring of ``ReflectionEngine`` and ``DreamEngine``::

    from lukhas_obs.flows import consciousness  # or: from lukhas_obs.systems.lukhas_core import consciousness

    def reflect(self, state):
        with consciousness.reflect(phase=state.phase) as reflection:
            report = self._reflect(state)
            reflection.anomalies(report.anomalies)      # counts len(report.anomalies)
        return report

    def step(self, max_time_ms=50):
        with consciousness.dream_step(phase=self.phase, max_time_ms=max_time_ms) as step:
            ...
            step.backpressure(len(self.pending) / self.capacity)

Measures ``lukhas_reflection_latency_seconds``, ``lukhas_reflection_anomalies_total`` (by the number of anomalies,
not once per reflection), ``lukhas_dream_step_seconds`` and the ``lukhas_dream_backpressure`` gauge, whose values
must lie in [0, 1]: others are dropped and reported as ``out_of_range``.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from numbers import Real

from opentelemetry import trace
from opentelemetry.trace import Span

from lukhas_obs import drops
from lukhas_obs.instruments import INT64_MAX, counter, gauge
from lukhas_obs.scopes import RecordingScope
from lukhas_obs.spans import enabled, timed

__all__ = ["DreamStep", "Reflection", "dream_step", "record_anomalies", "reflect", "set_backpressure"]

REFLECTION_SECONDS = "lukhas_reflection_latency_seconds"
ANOMALIES_TOTAL = "lukhas_reflection_anomalies_total"
DREAM_STEP_SECONDS = "lukhas_dream_step_seconds"
BACKPRESSURE = "lukhas_dream_backpressure"

_anomalies = counter(ANOMALIES_TOTAL)
_backpressure = gauge(BACKPRESSURE)


def record_anomalies(found: int | Sized) -> int:
    """Add the number of anomalies ``found`` (a count, or a collection of them) to the anomaly counter.

    Returns the count added (0 for an empty collection; a bad value — a negative or huge count, a collection whose
    ``len()`` raises — is dropped, reported and returns 0, never raising into the caller).
    """
    try:
        count = len(found) if isinstance(found, Sized) else found
    except Exception as exc:  # a hostile __len__: the caller's bug must not become an exception here
        drops.report(ANOMALIES_TOTAL, "not_a_number", type(exc).__name__)
        return 0
    if count.__class__ is int and count == 0:
        return 0
    _anomalies.add(count)  # the handle drops and reports anything unusable
    return count if count.__class__ is int and 0 < count <= INT64_MAX else 0


def set_backpressure(ratio: float) -> bool:
    """Set the dream backpressure gauge to ``ratio``; False (and nothing recorded) unless it is a number in [0, 1].

    An out-of-range ratio is a bug in the caller's arithmetic: it is dropped and reported as ``out_of_range``
    (``lukhas_obs_dropped_measurements_total``) rather than clamped, which would hide it. Never raises.
    """
    if isinstance(ratio, Real) and not isinstance(ratio, bool):
        try:
            value = float(ratio)
        except OverflowError:  # an int too large for any float (10**400): out of range by far
            value = 2.0
        except Exception:  # a hostile __float__: the handle below reports it as not a number
            value = math.nan
        if math.isfinite(value):
            if 0.0 <= value <= 1.0:
                _backpressure.set(ratio)
                return True
            if enabled():
                drops.report(BACKPRESSURE, "out_of_range", "expected a ratio in [0, 1]")
            return False
    _backpressure.set(ratio)  # the handle reports NaN, infinity, non-numbers
    return False


class Reflection:
    """What ``with reflect(...)`` hands out: report the anomalies this pass found."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def anomalies(self, found: int | Sized) -> int:
        """Count the anomalies ``found`` (an int or a collection) and note the number on the span."""
        count = record_anomalies(found)
        self.span.set_attribute("anomalies", count)
        return count


class DreamStep:
    """What ``with dream_step(...)`` hands out: report the step's backpressure ratio."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def backpressure(self, ratio: float) -> bool:
        """Set the backpressure gauge (see :func:`set_backpressure`)."""
        return set_backpressure(ratio)


_IDLE_REFLECTION = Reflection(trace.INVALID_SPAN)
_IDLE_STEP = DreamStep(trace.INVALID_SPAN)


def reflect(*, phase: str | None = None, **attributes: object) -> RecordingScope[Reflection]:
    """Span ``consciousness.reflect`` (attribute ``phase``) timed into ``lukhas_reflection_latency_seconds``."""
    # timed()'s own keywords are spelled out, so the attributes can only fill its ``**attributes``.
    span_attributes = {**attributes, "phase": phase}
    scope = timed(
        REFLECTION_SECONDS,
        span_name="consciousness.reflect",
        failures=None,
        redact_exceptions=False,
        **span_attributes,
    )
    return RecordingScope(scope, Reflection, _IDLE_REFLECTION)


def dream_step(
    *, phase: str | None = None, max_time_ms: int | None = None, **attributes: object
) -> RecordingScope[DreamStep]:
    """Span ``consciousness.dream.step`` (``phase``, ``max_time_ms``) timed into ``lukhas_dream_step_seconds``."""
    span_attributes = {**attributes, "phase": phase, "max_time_ms": max_time_ms}
    scope = timed(
        DREAM_STEP_SECONDS,
        span_name="consciousness.dream.step",
        failures=None,
        redact_exceptions=False,
        **span_attributes,
    )
    return RecordingScope(scope, DreamStep, _IDLE_STEP)
