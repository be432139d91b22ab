"""``lukhas-obs demo``: run a workload through the SDK, serve ``/metrics``, write traces, stop cleanly on a signal.

A workload is named by ``--system``; each one is a class with ``step(iteration)`` that performs one unit of work
through lukhas-obs handles and spans. The runner owns pacing, progress, signals and the final flush, so workloads stay
free of operational code.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, cast

import lukhas_obs
from lukhas_obs.errors import redact_text


class Workload(Protocol):
    """One unit of demo work per ``step``; ``summary`` returns a few numbers worth printing at the end."""

    def step(self, iteration: int) -> None: ...

    def summary(self) -> dict[str, Any]: ...


def load_workload(system: str) -> Workload:
    """Instantiate the demo workload of ``system`` (from the systems registry); ValueError lists the known ones."""
    from lukhas_obs.systems import systems

    known = {name: s for name, s in systems().items() if s.workload}
    if system not in known:
        raise ValueError(f"unknown --system {system!r}; expected one of: {', '.join(known)}")
    return cast(Workload, known[system].load_workload())


@dataclass
class DemoOptions:
    system: str = "lukhas_core"
    duration: float = 60.0
    iterations: int | None = None
    host: str | None = None
    port: int | None = None
    traces_file: str | None = None
    otlp_endpoint: str | None = None
    otlp_protocol: str | None = None
    pace: float = 0.02
    #: Serve the local viewer (``lukhas-obs view``'s page) on the demo's own live data; its port (None: 9191).
    view: bool = False
    view_port: int | None = None


def run_demo(options: DemoOptions, out: TextIO = sys.stderr) -> int:
    """Run the demo until ``duration`` seconds, ``iterations`` steps, or SIGINT/SIGTERM; flush; return 0.

    A trace file named explicitly (``--traces-file``) is always written, also alongside ``--otlp-endpoint``; without
    ``--traces-file`` an OTLP endpoint replaces the default file, as with ``configure()``.
    """
    telemetry = lukhas_obs.configure(
        prometheus_host=options.host,
        prometheus_port=options.port,
        traces_file=options.traces_file,
        otlp_endpoint=options.otlp_endpoint,
        otlp_protocol=options.otlp_protocol,
        metric_export_interval=5.0 if options.otlp_endpoint else None,
    )
    workload = load_workload(options.system)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    settings = telemetry.settings
    destinations = [
        redact_text(settings.otlp_traces.endpoint) if name == "otlp" and settings.otlp_traces else
        settings.traces_file if name == "file" else name
        for name in settings.traces_exporters
    ]  # fmt: skip
    traces_to = " + ".join(destinations) or "nowhere"
    print(f"lukhas-obs demo: system={options.system} service={settings.service} lane={settings.lane}", file=out)
    print(f"  metrics: {telemetry.metrics_url or 'not served (see warning above)'}", file=out)
    print(f"  traces:  {traces_to}", file=out)
    viewer = None
    if options.view:
        from lukhas_obs.viewer import DEFAULT_PORT, start_viewer

        viewer = start_viewer(port=DEFAULT_PORT if options.view_port is None else options.view_port, interval=1.0)
        print(f"  viewer:  {viewer.url if viewer else 'not served (see warning above)'}", file=out)
    limit = "until Ctrl-C" if not options.duration else f"for {options.duration:g}s"
    if options.iterations:
        limit += f" or {options.iterations} iterations"
    print(f"  running {limit}; Ctrl-C or SIGTERM stops, flushes and exits 0", file=out)

    started = time.monotonic()
    iteration = 0
    last_report = started
    try:
        while not stop.is_set():
            if options.iterations is not None and iteration >= options.iterations:
                break
            if options.duration and time.monotonic() - started >= options.duration:
                break
            workload.step(iteration)
            iteration += 1
            now = time.monotonic()
            if now - last_report >= 2.0:
                last_report = now
                print(f"  [{now - started:6.1f}s] iterations={iteration}", file=out, flush=True)
            if options.pace:
                stop.wait(options.pace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if viewer is not None:
            viewer.stop()
        flushed = telemetry.shutdown()
    extra = " ".join(f"{k}={v}" for k, v in workload.summary().items())
    elapsed = time.monotonic() - started
    print(f"done: {iteration} iterations in {elapsed:.1f}s {extra}; telemetry flushed={flushed}", file=out)
    return 0


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs demo`` to the command line."""
    demo = sub.add_parser("demo", help="run a demo workload: /metrics served in-process, traces to a local file")
    demo.add_argument("--system", default="lukhas_core", help="which system's workload to run (default lukhas_core)")
    demo.add_argument("--duration", type=_non_negative, default=60.0, help="seconds to run; 0 = until Ctrl-C (60)")
    demo.add_argument("--iterations", type=int, default=None, help="stop after N iterations")
    demo.add_argument("--host", default=None, help="bind address for /metrics (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=None, help="port for /metrics (default 9109; 0 picks a free one)")
    demo.add_argument("--traces-file", default=None, help="OTLP/JSON-lines trace file (default ./lukhas-traces.jsonl)")
    demo.add_argument("--otlp-endpoint", default=None, help="send traces and metrics to this OTLP collector URL")
    demo.add_argument("--otlp-protocol", default=None, help="grpc or http (default http, i.e. http/protobuf)")
    demo.add_argument("--view", action="store_true", help="also serve the local viewer (dashboards, traces)")
    demo.add_argument("--view-port", type=int, default=None, help="port of the viewer (default 9191; 0 picks one)")
    demo.set_defaults(
        handler=lambda args: run_demo(
            DemoOptions(
                system=args.system,
                duration=args.duration,
                iterations=args.iterations,
                host=args.host,
                port=args.port,
                traces_file=args.traces_file,
                otlp_endpoint=args.otlp_endpoint,
                otlp_protocol=args.otlp_protocol,
                view=args.view,
                view_port=args.view_port,
            )
        )
    )
