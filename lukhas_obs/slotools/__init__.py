"""SLO toolkit: targets, heartbeat replay, a Prometheus HTTP API client, online evaluation and a canary ladder.

- :mod:`.targets`: the ``slo_targets:`` model (field/metric, aggregate, comparison, threshold, window);
- :mod:`.replay`: ``lukhas-obs replay FILE``: averages, p50/p95/p99 and PASS/FAIL of JSON-lines heartbeats;
- :mod:`.promapi`: a bounded client of the Prometheus HTTP API (query, query_range, alerts, rules);
- :mod:`.evaluate`: the same targets evaluated online (``avg_over_time``, ``quantile_over_time``,
  ``histogram_quantile``);
- :mod:`.canary`: ``lukhas-obs canary``: the 5 → 10 → 25 → 50 → 100 % ladder steered by targets and alerts.

See docs/SLO-TOOLKIT.md.
"""

from __future__ import annotations

import argparse

from lukhas_obs.slotools import canary, replay
from lukhas_obs.slotools.canary import CanaryLadder, Decision, LadderPolicy, LadderState, decide
from lukhas_obs.slotools.evaluate import Evaluation, TargetResult, evaluate
from lukhas_obs.slotools.promapi import Alert, PrometheusClient, PrometheusError
from lukhas_obs.slotools.replay import ReplayReport, run_replay
from lukhas_obs.slotools.targets import SloTarget, SloTargets, SloTargetsError, load_targets, load_targets_file

__all__ = [
    "Alert",
    "CanaryLadder",
    "Decision",
    "Evaluation",
    "LadderPolicy",
    "LadderState",
    "PrometheusClient",
    "PrometheusError",
    "ReplayReport",
    "SloTarget",
    "SloTargets",
    "SloTargetsError",
    "TargetResult",
    "decide",
    "evaluate",
    "load_targets",
    "load_targets_file",
    "register_cli",
    "run_replay",
]


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs replay`` and ``lukhas-obs canary`` to the command line."""
    replay.register_cli(sub)
    canary.register_cli(sub)
