"""AURIS SELF (seed 004) on lukhas-obs: a simulated SELF manager, the operator API and the canary ladder.

- :mod:`.manager` — per-token SELF scores, one tick per ``update(token_id)``, heartbeats in ``identity.jsonl``, each
  tick exported through the fail-safe hook;
- :mod:`.canary` — the audited canary sampling (``AURIS_SELF_CANARY``) and ``autotune`` (the ladder);
- :mod:`.service` and :mod:`.api` — ``GET /self/health``, ``POST /self/canary``, ``GET /metrics/exp`` (FastAPI);
- :mod:`.workload` — what ``lukhas-obs demo --system auris_self`` runs;
- ``python -m lukhas_obs_examples.auris_self`` — the service on uvicorn.

The metrics helpers themselves are :mod:`lukhas_obs.systems.auris_self.metrics`.
"""

from __future__ import annotations

from lukhas_obs_examples.auris_self.manager import SelfManager, SelfState
from lukhas_obs_examples.auris_self.workload import AurisSelfWorkload

__all__ = ["AurisSelfWorkload", "SelfManager", "SelfState"]
