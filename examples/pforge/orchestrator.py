"""A small pForge orchestrator (seed 002's consumers of ``metrics_collector``): agents solving a puzzle, tick by tick.

The puzzle is a board of positions, each empty (a gap, E(t)), holding the right piece, or holding a wrong one (a
misfit, M(t)). Each :meth:`Orchestrator.tick`:

- ``PlacerAgent`` instances fill gaps, sometimes with the wrong piece, spending LLM tokens with a vendor;
- a ``FixerAgent`` replaces misfits and counts each patch it applies (``PATCHES_APPLIED``, as in the seed's §6);
- the efficiency E (share of right pieces) and entropy H (Shannon entropy of right/misfit/gap, in bits) are
  recomputed and published with ``update_state_gauges(state)``;
- the tick itself is timed into ``TICK_DURATION``.

Everything is deterministic for a seed; ``spend(seconds)`` is called with the time a tick "takes" (a no-op by
default, a test clock's ``advance`` for exact durations).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from lukhas_obs.systems.pforge.metrics_collector import (
    PATCHES_APPLIED,
    PFORGE_TOKENS_USED_TOTAL,
    track_tick,
    update_state_gauges,
)

VENDORS = ("openai", "anthropic", "mistral")
EMPTY, RIGHT, WRONG = 0, 1, 2


def no_time(seconds: float) -> None:
    """The default ``spend``: a tick takes no simulated time."""


@dataclass
class PuzzleState:
    """What ``update_state_gauges`` reads: E, H, the gaps and misfits, and the active agents per type."""

    efficiency: float = 0.0
    entropy: float = 0.0
    gaps: int = 0
    misfits: int = 0
    agents_active: dict[str, int] = field(default_factory=dict)


def entropy_bits(counts: tuple[int, ...]) -> float:
    """Shannon entropy, in bits, of the distribution ``counts``."""
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c) if total else 0.0


class Orchestrator:
    """Runs the agents over a board of ``size`` positions; :meth:`tick` is one round."""

    def __init__(self, size: int = 64, seed: int | None = 0, spend: Callable[[float], None] = no_time) -> None:
        self.rng = random.Random(seed)
        self.spend = spend
        self.size = size
        self.board = [EMPTY] * size
        self.ticks = 0
        self.state = self._measure()
        update_state_gauges(self.state)

    def _measure(self) -> PuzzleState:
        gaps = self.board.count(EMPTY)
        misfits = self.board.count(WRONG)
        right = self.size - gaps - misfits
        placers = min(4, 1 + gaps // 12)
        return PuzzleState(
            efficiency=round(right / self.size, 6),
            entropy=round(entropy_bits((right, misfits, gaps)), 6),
            gaps=gaps,
            misfits=misfits,
            agents_active={"PlacerAgent": placers if gaps else 0, "FixerAgent": 1 if misfits else 0},
        )

    @track_tick
    def tick(self) -> PuzzleState:
        """One round: placers fill gaps, the fixer patches misfits, the state gauges are updated."""
        rng = self.rng
        self.spend(rng.choice((0.004, 0.02, 0.06, 0.2, 0.6, 1.8, 6.0)))
        for _ in range(self.state.agents_active.get("PlacerAgent", 0)):
            gaps = [i for i, cell in enumerate(self.board) if cell == EMPTY]
            if not gaps:
                break
            position = rng.choice(gaps)
            self.board[position] = RIGHT if rng.random() < 0.7 else WRONG
            PFORGE_TOKENS_USED_TOTAL.add(rng.randint(200, 2500), vendor=rng.choice(VENDORS))
        misfits = [i for i, cell in enumerate(self.board) if cell == WRONG]
        if misfits and rng.random() < 0.8:
            self.board[rng.choice(misfits)] = RIGHT
            PATCHES_APPLIED.add()
            PFORGE_TOKENS_USED_TOTAL.add(rng.randint(100, 900), vendor="anthropic")
        if self.ticks % 17 == 16:  # a regression: a right piece knocked out (E drops, for the alert)
            right = [i for i, cell in enumerate(self.board) if cell == RIGHT]
            if right:
                self.board[rng.choice(right)] = EMPTY
        self.ticks += 1
        self.state = self._measure()
        update_state_gauges(self.state)
        return self.state

    def reset(self) -> None:
        """Start a new puzzle (the board empties; E back to 0)."""
        self.board = [EMPTY] * self.size
        self.state = self._measure()
        update_state_gauges(self.state)
