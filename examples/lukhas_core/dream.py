"""Dream engine (seed 003, C.1): a strict FSM that consolidates queued items into memory, reporting backpressure.

Legal transitions only: ``IDLE → ENTERING → DREAMING (→ DREAMING …) → EXITING → IDLE``; anything else raises
:class:`IllegalTransitionError` naming the phase and what is allowed from it. Each :meth:`DreamEngine.step` is one
``consciousness.dream.step`` span timed into ``lukhas_dream_step_seconds``, and sets ``lukhas_dream_backpressure``
to the fraction of the consolidation queue still occupied (0 = drained, 1 = full).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Literal

from lukhas_obs_examples.lukhas_core.memory import MemoryOrchestrator

from lukhas_obs.flows import consciousness as consciousness_flow

Phase = Literal["IDLE", "ENTERING", "DREAMING", "EXITING"]

#: phase → phases reachable from it.
LEGAL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "IDLE": ("ENTERING",),
    "ENTERING": ("DREAMING",),
    "DREAMING": ("DREAMING", "EXITING"),
    "EXITING": ("IDLE",),
}


class IllegalTransitionError(RuntimeError):
    """A dream FSM transition the state machine does not allow."""

    def __init__(self, current: str, target: str, action: str) -> None:
        allowed = ", ".join(LEGAL_TRANSITIONS.get(current, ())) or "nothing"
        super().__init__(
            f"dream FSM: cannot {action} in phase {current} ({current} → {target}); legal from {current}: {allowed}"
        )
        self.current = current
        self.target = target


class DreamEngine:
    """Queue items with :meth:`submit`; ``enter``, ``step`` (any number of times), ``exit``."""

    def __init__(self, memory: MemoryOrchestrator | None = None, capacity: int = 32, batch: int = 4) -> None:
        if capacity < 1 or batch < 1:
            raise ValueError("capacity and batch must be >= 1")
        self.memory = memory
        self.capacity = capacity
        self.batch = batch
        self.phase: Phase = "IDLE"
        self.pending: deque[str] = deque()
        self.consolidated = 0
        self.reason = ""

    @property
    def backpressure(self) -> float:
        """Occupied fraction of the queue, in [0, 1]."""
        return len(self.pending) / self.capacity

    def submit(self, item: str) -> bool:
        """Queue ``item`` for consolidation; False (rejected) when the queue is full."""
        if len(self.pending) >= self.capacity:
            return False
        self.pending.append(item)
        return True

    def _transition(self, target: Phase, action: str) -> None:
        if target not in LEGAL_TRANSITIONS[self.phase]:
            raise IllegalTransitionError(self.phase, target, action)
        self.phase = target

    def enter(self, reason: str, context: dict[str, Any] | None = None) -> None:
        """IDLE → ENTERING."""
        self._transition("ENTERING", "enter")
        self.reason = reason

    def step(self, max_time_ms: int = 50) -> int:
        """ENTERING/DREAMING → DREAMING: consolidate up to ``batch`` items within ``max_time_ms``; returns how many."""
        with consciousness_flow.dream_step(phase=self.phase, max_time_ms=max_time_ms) as step:
            self._transition("DREAMING", "step")
            deadline = time.perf_counter() + max_time_ms / 1000.0
            done = 0
            while self.pending and done < self.batch and time.perf_counter() < deadline:
                item = self.pending.popleft()
                if self.memory is not None:
                    self.memory.add_event(item, {"fold": "dream"})
                done += 1
            self.consolidated += done
            step.backpressure(self.backpressure)
        return done

    def exit(self) -> None:
        """DREAMING → EXITING → IDLE (artifacts are flushed in between)."""
        self._transition("EXITING", "exit")
        self._transition("IDLE", "exit")
