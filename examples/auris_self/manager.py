"""A small simulated SELF manager: per-token SELF scores, one tick per ``update(token_id)``, heartbeats on disk.

Each token's coherence, continuity, presence and stress follow a noisy walk towards the levels of its *profile*
(``healthy``: within every Phase C target; ``stressed``: stress above 0.30 and coherence below 0.80), so a test or an
operator can move one token out of its SLOs and back. Every tick appends one heartbeat line to
``identity.jsonl`` (seed 004's ``data/identity.jsonl`` shape, what ``lukhas-obs replay`` and ``/self/health`` read)
and, through :func:`~lukhas_obs.systems.auris_self.metrics.exported`, sets the token's four SELF gauges — a broken
export never breaks the tick.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lukhas_obs.systems.auris_self.metrics import exported

__all__ = ["MAX_IDENTITY_BYTES", "PROFILES", "SelfManager", "SelfState"]

#: Levels each profile steers the scores to (coherence, continuity, presence, stress).
PROFILES: dict[str, tuple[float, float, float, float]] = {
    "healthy": (0.95, 0.97, 0.99, 0.12),
    "stressed": (0.70, 0.85, 0.90, 0.55),
}
#: identity.jsonl is rotated to identity.jsonl.1 past this size.
MAX_IDENTITY_BYTES = 16 << 20


@dataclass(frozen=True)
class SelfState:
    """One SELF tick's outcome for one token (what the hook exports and the heartbeat records)."""

    token_id: str
    coherence: float
    continuity: float
    presence: float
    stress: float


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


class SelfManager:
    """SELF state of a few tokens; :meth:`update` ticks one token (see the module docstring)."""

    def __init__(
        self,
        tokens: tuple[str, ...] = ("tok-1", "tok-2", "tok-3"),
        identity_path: str | os.PathLike[str] | None = None,
        seed: int | None = 0,
        noise: float = 0.01,
    ) -> None:
        self.rng = random.Random(seed)
        self.noise = noise
        self.identity_path = Path(identity_path) if identity_path is not None else None
        if self.identity_path is not None:
            self.identity_path.parent.mkdir(parents=True, exist_ok=True)
        self.profiles: dict[str, str | tuple[float, float, float, float]] = dict.fromkeys(tokens, "healthy")
        self.scores = {token: list(PROFILES["healthy"]) for token in tokens}
        self.ticks = 0
        self._lock = threading.Lock()

    def set_profile(self, token_id: str, profile: str | tuple[float, float, float, float]) -> None:
        """Steer ``token_id`` towards ``profile``: ``healthy``, ``stressed`` or four levels (coherence, continuity,
        presence, stress); a new token starts healthy."""
        if isinstance(profile, str) and profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)} or four levels, got {profile!r}")
        if not isinstance(profile, str) and len(profile) != len(PROFILES["healthy"]):
            raise ValueError("profile levels must be four numbers: coherence, continuity, presence, stress")
        with self._lock:
            self.profiles[token_id] = profile
            self.scores.setdefault(token_id, list(PROFILES["healthy"]))

    @exported
    def update(self, token_id: str) -> SelfState:
        """One SELF tick of ``token_id``: move its scores, write the heartbeat, return the state (then exported)."""
        with self._lock:
            profile = self.profiles.setdefault(token_id, "healthy")
            levels = PROFILES[profile] if isinstance(profile, str) else profile
            scores = self.scores.setdefault(token_id, list(PROFILES["healthy"]))
            for i, level in enumerate(levels):
                scores[i] = _clamp(scores[i] + 0.5 * (level - scores[i]) + self.rng.gauss(0.0, self.noise))
            self.ticks += 1
            state = SelfState(token_id, *(round(v, 4) for v in scores))
            self._heartbeat(state)
        return state

    def tick_all(self) -> list[SelfState]:
        """One tick of every token."""
        return [self.update(token) for token in list(self.profiles)]

    def _heartbeat(self, state: SelfState) -> None:
        if self.identity_path is None:
            return
        path = self.identity_path
        try:
            if path.exists() and path.stat().st_size > MAX_IDENTITY_BYTES:
                os.replace(path, path.with_name(path.name + ".1"))
            line = json.dumps({"kind": "heartbeat", "ts": round(time.time(), 3), **asdict(state)})
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError:
            pass  # a full disk must not stop the SELF tick; the heartbeat is lost, the scores still move
