"""``python -m lukhas_obs_examples.wiltonos``: the WiltonOS exporter (seed 001's ``quantum_ratio_exporter.py``).

Serves ``/metrics`` (and ``/health``) on the SDK's built-in server and reads the state files of ``--state-dir`` at
every scrape. ``--simulate`` also runs the simulated WiltonOS, writing those files every ``--interval`` seconds.
SIGINT/SIGTERM stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

import lukhas_obs
from lukhas_obs.systems.wiltonos.statefiles import StateFileCollector


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lukhas_obs_examples.wiltonos", description="WiltonOS state-file exporter (/metrics)."
    )
    parser.add_argument("--state-dir", default="wiltonos-state", help="directory of the JSON state files")
    parser.add_argument("--host", default="127.0.0.1", help="bind address of /metrics (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9109, help="port of /metrics (default 9109; 0 picks one)")
    parser.add_argument("--simulate", action="store_true", help="also run the simulated WiltonOS")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between simulator ticks (1)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: never)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter until a signal (or ``--duration``); exit code 0."""
    args = build_parser().parse_args(argv)
    if not (args.interval > 0):
        print("--interval must be > 0", file=sys.stderr)
        return 2
    telemetry = lukhas_obs.configure(
        service="wiltonos-exporter", prometheus_host=args.host, prometheus_port=args.port, traces_exporter="none"
    )
    simulator = None
    if args.simulate:
        from lukhas_obs_examples.wiltonos.simulator import WiltonosSimulator

        simulator = WiltonosSimulator(args.state_dir, seed=None)
        simulator.write()
    collector = StateFileCollector(args.state_dir).install()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"wiltonos exporter: metrics {telemetry.metrics_url or 'not served (see warning above)'}", flush=True)
    print(f"  state files: {collector.paths['quantum']} and {collector.paths['longevity']}", flush=True)
    try:
        waited = 0.0
        while not stop.is_set():
            if simulator is not None:
                simulator.step()
            if stop.wait(args.interval):
                break
            waited += args.interval
            if args.duration and waited >= args.duration:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        collector.close()
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
