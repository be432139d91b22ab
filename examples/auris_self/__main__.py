"""``python -m lukhas_obs_examples.auris_self``: the example SELF service on uvicorn.

Ticks three SELF tokens every ``--tick`` seconds (heartbeats in ``<data-dir>/identity.jsonl``) and serves
``GET /self/health``, ``POST /self/canary`` and ``GET /metrics/exp`` on ``--host``/``--port`` (127.0.0.1:8000).
The canary sampling lives in ``<data-dir>/canary.env``, its audit log in ``<data-dir>/canary-audit.jsonl``. Set
``AURIS_OPERATOR_TOKEN`` to require ``Authorization: Bearer <token>`` on ``POST /self/canary``;
``AURIS_METRICS_EXP=off`` turns the SELF metrics off (``/metrics/exp`` then answers with no samples). SIGINT/SIGTERM
stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import lukhas_obs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGINT/SIGTERM (uvicorn handles them); exit code 0."""
    parser = argparse.ArgumentParser(prog="python -m lukhas_obs_examples.auris_self", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", default="data", help="heartbeats, canary env file and audit log (./data)")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between SELF ticks (1)")
    args = parser.parse_args(argv)
    if not args.tick > 0:
        parser.error("--tick must be > 0")

    import uvicorn
    from lukhas_obs_examples.auris_self.api import create_app
    from lukhas_obs_examples.auris_self.canary import CanaryStore
    from lukhas_obs_examples.auris_self.manager import SelfManager
    from lukhas_obs_examples.auris_self.service import AurisSelf

    data = Path(args.data_dir)
    lukhas_obs.configure(service="atlas-api", serve_metrics=False, traces_exporter="none")
    manager = SelfManager(identity_path=data / "identity.jsonl", seed=None)
    context = AurisSelf(data / "identity.jsonl", CanaryStore(data / "canary.env", data / "canary-audit.jsonl"))
    stop = threading.Event()

    def ticks() -> None:
        while not stop.wait(args.tick):
            manager.tick_all()

    ticker = threading.Thread(target=ticks, name="self-ticks", daemon=True)
    ticker.start()
    # uvicorn stops on SIGINT/SIGTERM, restores the handlers it found and raises the signal again: with these
    # handlers in place that second delivery is a no-op, so the telemetry is flushed and the exit code is 0
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, _frame: received.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
    try:
        uvicorn.run(create_app(context, os.environ.get("AURIS_OPERATOR_TOKEN") or None), host=args.host,
                    port=args.port, log_level="warning")  # fmt: skip
    finally:
        stop.set()
        ticker.join(timeout=5)
        lukhas_obs.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
