"""pForge (seed 002) on lukhas-obs: an orchestrator instrumented only through the central registry
:mod:`lukhas_obs.systems.pforge.metrics_collector`.

- :mod:`.orchestrator` — agents solving a puzzle, tick by tick (``update_state_gauges``, patches, tokens);
- :mod:`.app` — the server: FastAPI with the ``/metrics`` router behind its bearer auth;
- :mod:`.workload` — what ``lukhas-obs demo --system pforge`` runs.

Run the server with ``PFORGE_SCRAPE_TOKEN=... python -m lukhas_obs_examples.pforge`` (FastAPI and uvicorn: the
``pforge`` extra), or the demo on the SDK's built-in ``/metrics`` with ``lukhas-obs demo --system pforge``.
"""

from __future__ import annotations

from lukhas_obs_examples.pforge.orchestrator import Orchestrator, PuzzleState, entropy_bits
from lukhas_obs_examples.pforge.workload import PForgeWorkload

__all__ = ["Orchestrator", "PForgeWorkload", "PuzzleState", "entropy_bits"]
