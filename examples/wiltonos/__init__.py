"""WiltonOS (seed 001) on lukhas-obs: a simulated WiltonOS writing its JSON state files, and the exporter reading them.

- :mod:`.simulator` — Φ steered softly around 0.75, loops with collapses, longevity doses; atomic state files;
- :mod:`.workload` — what ``lukhas-obs demo --system wiltonos`` runs;
- ``python -m lukhas_obs_examples.wiltonos`` (:mod:`.__main__`) — the exporter: ``/metrics`` on the built-in server,
  the state files read at every scrape (``--simulate`` also runs the simulator);
- :mod:`.bootstrap` — the seed's ``wt-metrics-bootstrap``: Prometheus config, rules, promtool tests and dashboards
  for the exporter, a local Prometheus when one is installed, the URLs.

The collector itself is :mod:`lukhas_obs.systems.wiltonos.statefiles`.
"""

from __future__ import annotations

from lukhas_obs_examples.wiltonos.simulator import WiltonosSimulator
from lukhas_obs_examples.wiltonos.workload import WiltonosWorkload

__all__ = ["WiltonosSimulator", "WiltonosWorkload"]
