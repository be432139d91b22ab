"""Reflection (seed 003, C.1): a drift EMA over awareness signals, reporting anomalies, instrumented by the flow.

Each :meth:`ReflectionEngine.reflect` is one ``consciousness.reflect`` span timed into
``lukhas_reflection_latency_seconds``; the anomalies it finds are added, by number, to
``lukhas_reflection_anomalies_total``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lukhas_obs.flows import consciousness as consciousness_flow

StatePhase = Literal["IDLE", "AWARE", "REFLECT", "DREAM"]

#: Anomaly codes a reflection can report (stable strings: dashboards and tests rely on them).
DRIFT_SPIKE = "drift_spike"
DRIFT_SUSTAINED = "drift_sustained"
LOW_COHERENCE = "low_coherence"


@dataclass
class ConsciousnessState:
    """The state reflected upon; ``context`` carries this tick's signals (``drift``, ``coherence``)."""

    phase: StatePhase = "IDLE"
    ts_ms: int = 0
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReflectionReport:
    """Outcome of one reflection pass."""

    schema_version: str = "1.0"
    coherence_score: float = 0.0
    drift_ema: float = 0.0
    anomalies: list[str] = field(default_factory=list)


class ReflectionEngine:
    """Exponential moving average of drift with three anomaly rules.

    - ``drift_spike``: this tick's drift exceeds ``spike_threshold`` (a sudden jump);
    - ``drift_sustained``: the EMA exceeds ``ema_threshold`` (drift that does not go away);
    - ``low_coherence``: the coherence signal is below ``coherence_floor``.
    """

    def __init__(
        self,
        alpha: float = 0.3,
        spike_threshold: float = 0.8,
        ema_threshold: float = 0.5,
        coherence_floor: float = 0.4,
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.spike_threshold = spike_threshold
        self.ema_threshold = ema_threshold
        self.coherence_floor = coherence_floor
        self.drift_ema = 0.0

    def reflect(self, state: ConsciousnessState) -> ReflectionReport:
        """Update the drift EMA from ``state.context`` and report what looks wrong."""
        with consciousness_flow.reflect(phase=state.phase) as reflection:
            report = self._evaluate(state)
            reflection.anomalies(report.anomalies)
        return report

    def _evaluate(self, state: ConsciousnessState) -> ReflectionReport:
        drift = float(state.context.get("drift", 0.0))
        coherence = float(state.context.get("coherence", 1.0))
        self.drift_ema = self.alpha * drift + (1.0 - self.alpha) * self.drift_ema
        anomalies: list[str] = []
        if drift > self.spike_threshold:
            anomalies.append(DRIFT_SPIKE)
        if self.drift_ema > self.ema_threshold:
            anomalies.append(DRIFT_SUSTAINED)
        if coherence < self.coherence_floor:
            anomalies.append(LOW_COHERENCE)
        return ReflectionReport(coherence_score=coherence, drift_ema=self.drift_ema, anomalies=anomalies)
