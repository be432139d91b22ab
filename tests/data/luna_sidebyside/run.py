"""Run Luna's example workload on one side and print the exposition: ``python run.py seed|port STEPS SCRAPE_EVERY``.

``seed``: seed 000's own prometheus_client definitions (:mod:`seed_ops`) on a fresh default registry (the process,
platform and GC collectors removed), scraped as the seed's exporter does (``collect_all_metrics()`` then
``generate_latest()``). ``port``: :mod:`lukhas_obs.systems.luna.metrics` on lukhas-obs, scraped with
``render_exposition()`` (``collect_all_metrics`` runs as a before_collect hook).

Both sides run the same example core and workload (``lukhas_obs_examples.luna``, seed 0) with one simulated clock:
every timed operation advances it by the duration the core draws, and both libraries' timers read it, so durations,
histogram buckets and sums are exact and equal. Scrapes every ``SCRAPE_EVERY`` steps and once at the end; the last
one is printed. Run in its own process by tests/test_system_luna.py.
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
        import seed_ops

        sys.modules["lukhas_obs.systems.luna.metrics"] = seed_ops  # the example core imports its helpers from here

        def scrape() -> bytes:
            seed_ops.collect_all_metrics()
            return prometheus_client.generate_latest()
    else:
        import lukhas_obs
        import lukhas_obs.decorators

        assert hasattr(lukhas_obs.decorators, "_clock"), "lukhas_obs.decorators no longer reads its clock from _clock"
        lukhas_obs.decorators._clock = clock  # read by each wrapper when it is made: before the core is imported
        import lukhas_obs.systems.luna.metrics  # the Info is set at import, before configure

        lukhas_obs.configure(serve_metrics=False, traces_exporter="none")

        def scrape() -> bytes:
            return lukhas_obs.render_exposition()[0]

    from lukhas_obs_examples.luna.workload import LunaWorkload

    workload = LunaWorkload(seed=0, spend=clock.advance)
    for iteration in range(steps):
        workload.step(iteration)
        if scrape_every and (iteration + 1) % scrape_every == 0:
            scrape()
    sys.stdout.write(scrape().decode("utf-8"))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
