"""Luna (seed 000) on lukhas-obs: a small Luna core instrumented only through :mod:`lukhas_obs.systems.luna.metrics`.

- :mod:`.core` — φ calculator, fractal consciousness, fractal memory with its Redis, and the MCP tools;
- :mod:`.app` — the seed's Prometheus exporter: a Flask app with ``/metrics`` (port 8000) and ``/health``;
- :mod:`.workload` — what ``lukhas-obs demo --system luna`` runs.

Run the exporter with ``python -m lukhas_obs_examples.luna`` (Flask: the ``luna`` extra), or the demo on the SDK's
built-in ``/metrics`` with ``lukhas-obs demo --system luna``.
"""

from __future__ import annotations

from lukhas_obs_examples.luna.core import FakeRedis, FractalConsciousness, LunaCore, MemoryCore, PhiCalculator
from lukhas_obs_examples.luna.workload import LunaWorkload

__all__ = ["FakeRedis", "FractalConsciousness", "LunaCore", "LunaWorkload", "MemoryCore", "PhiCalculator"]
