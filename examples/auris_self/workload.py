"""The ``lukhas-obs demo`` workload for ``--system auris_self``: SELF ticks of three tokens, exported after each.

Every step ticks every token (``SelfManager.tick_all``): the scores move, a heartbeat line goes to
``identity.jsonl`` in a temporary directory (kept after the demo, so ``lukhas-obs replay <path> --system auris_self``
can read it; the summary prints the path), and the fail-safe hook sets ``self_coherence``, ``self_continuity``,
``self_presence`` and ``self_stress`` per ``token_id``. Token ``tok-3`` is stressed for 20 steps of every 60 (stress
above 0.30, coherence below 0.80), so the Phase C alerts and SLO targets have something to show. Step 0 puts data
into every metric of the ``auris_self`` catalog.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lukhas_obs_examples.auris_self.manager import SelfManager


class AurisSelfWorkload:
    """One iteration = one SELF tick of every token (see the module docstring)."""

    def __init__(self, seed: int | None = 0, data_dir: str | None = None) -> None:
        directory = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="auris-demo-"))
        self.identity_path = directory / "identity.jsonl"
        self.manager = SelfManager(identity_path=self.identity_path, seed=seed)

    def step(self, iteration: int) -> None:
        """Tick every token; ``tok-3`` is stressed during steps 40–59 of every 60."""
        self.manager.set_profile("tok-3", "stressed" if iteration % 60 >= 40 else "healthy")
        self.manager.tick_all()

    def summary(self) -> dict[str, Any]:
        return {"ticks": self.manager.ticks, "heartbeats": str(self.identity_path)}
