"""A small LUKHΛS-like core service (seed 003 scaffolds) instrumented only through :mod:`lukhas_obs.flows`.

- :mod:`.memory` — in-process vector store, sha256 dedupe, cosine search (:mod:`.embedding`, :mod:`.store`);
- :mod:`.reflection` — drift EMA and anomaly reports; :mod:`.dream` — the dream FSM with backpressure;
- :mod:`.tokens`, :mod:`.totp`, :mod:`.factors`, :mod:`.tiers` — ΛiD JWTs and the T1–T5 authentication tiers;
- :mod:`.service` — everything wired together; :mod:`.workload` — what ``lukhas-obs demo`` runs.

Run it with ``lukhas-obs demo`` (the default ``--system lukhas_core``) or ``python -m lukhas_obs_examples.lukhas_core``.
"""

from __future__ import annotations

from lukhas_obs_examples.lukhas_core.dream import DreamEngine, IllegalTransitionError
from lukhas_obs_examples.lukhas_core.memory import Indexer, MemoryOrchestrator, fingerprint
from lukhas_obs_examples.lukhas_core.reflection import ConsciousnessState, ReflectionEngine, ReflectionReport
from lukhas_obs_examples.lukhas_core.service import Enrollment, LukhasCore, demo_password_hasher
from lukhas_obs_examples.lukhas_core.tiers import AuthResult, Tiers
from lukhas_obs_examples.lukhas_core.tokens import TokenGenerator, TokenValidator
from lukhas_obs_examples.lukhas_core.workload import LukhasCoreWorkload

__all__ = [
    "AuthResult",
    "ConsciousnessState",
    "DreamEngine",
    "Enrollment",
    "IllegalTransitionError",
    "Indexer",
    "LukhasCore",
    "LukhasCoreWorkload",
    "MemoryOrchestrator",
    "ReflectionEngine",
    "ReflectionReport",
    "Tiers",
    "TokenGenerator",
    "TokenValidator",
    "demo_password_hasher",
    "fingerprint",
]
