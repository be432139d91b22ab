"""Run pForge's example workload on one side and print the exposition: ``python run.py seed|port STEPS SCRAPE_EVERY``.

``seed``: seed 002's own prometheus_client definitions (:mod:`seed_registry`) on a fresh default registry (the
process, platform and GC collectors removed), scraped with ``generate_latest()``. ``port``:
:mod:`lukhas_obs.systems.pforge.metrics_collector` on lukhas-obs, scraped with ``render_exposition()``. Both run the
same orchestrator (``lukhas_obs_examples.pforge``, seed 0) with one simulated clock, so tick durations are exact and
equal. Run in its own process by tests/test_system_pforge.py.
"""

from __future__ import annotations

import sys
from pathlib import Path


class Clock:
    """A clock that moves only when told: ``advance(seconds)``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def main(side: str, steps: int, scrape_every: int) -> None:
    clock = Clock()
    if side == "seed":
        import prometheus_client
        import prometheus_client.context_managers

        for collector in (prometheus_client.PROCESS_COLLECTOR, prometheus_client.PLATFORM_COLLECTOR,
                          prometheus_client.GC_COLLECTOR):  # fmt: skip
            prometheus_client.REGISTRY.unregister(collector)
        prometheus_client.context_managers.default_timer = clock
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import seed_registry

        sys.modules["lukhas_obs.systems.pforge.metrics_collector"] = seed_registry

        def scrape() -> bytes:
            return prometheus_client.generate_latest()
    else:
        import lukhas_obs
        import lukhas_obs.decorators

        assert hasattr(lukhas_obs.decorators, "_clock"), "lukhas_obs.decorators no longer reads its clock from _clock"
        lukhas_obs.decorators._clock = clock  # read by each wrapper when it is made: before the orchestrator imports
        lukhas_obs.configure(serve_metrics=False, traces_exporter="none")

        def scrape() -> bytes:
            return lukhas_obs.render_exposition()[0]

    from lukhas_obs_examples.pforge.workload import PForgeWorkload

    workload = PForgeWorkload(seed=0, spend=clock.advance)
    for iteration in range(steps):
        workload.step(iteration)
        if scrape_every and (iteration + 1) % scrape_every == 0:
            scrape()
    sys.stdout.write(scrape().decode("utf-8"))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
