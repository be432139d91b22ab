"""``python -m lukhas_obs_examples.wiltonos.bootstrap``: seed 001's ``./wt-metrics-bootstrap`` (start the stack).

1. writes, under ``--out`` (default ``./wiltonos-metrics``), everything Prometheus needs for the exporter: its
   ``prometheus.yml`` (one scrape job for the exporter every 5 s, so dΦ/dt over 30 s has six samples; the rule
   file), the Soft-Steer rules and their promtool tests, and the seed's two Grafana dashboards — all generated from
   the ``wiltonos`` catalog, so they name exactly what the exporter serves;
2. starts a local Prometheus on that config when one is installed (``prometheus`` on PATH, or ``--prometheus-binary``),
   in the background, its PID in ``<out>/prometheus.pid``; one already started from the same directory is told to
   reload instead (SIGHUP, as the seed's ``kill -HUP``). With ``--start-exporter`` it also starts the exporter
   (``python -m lukhas_obs_examples.wiltonos``; ``--simulate`` for the simulated WiltonOS);
3. prints the URLs (Prometheus, its alerts and targets pages, the exporter's ``/metrics``) and how to stop.

``--stop`` stops what a bootstrap of the same ``--out`` started (by the PIDs it wrote, after checking that each PID
is still that process). ``--no-start`` only writes the files. Grafana is not started (import the dashboard JSON).
Everything binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from lukhas_obs.catalog import register_yaml
from lukhas_obs.generate import generate
from lukhas_obs.generate.output import DASHBOARDS_DIR, RULES_DIR, TESTS_DIR, write_files
from lukhas_obs.systems.wiltonos import SYSTEM

__all__ = ["BootstrapOptions", "main", "register_cli", "run_bootstrap", "stop_stack", "write_stack"]

DEFAULT_OUT = "wiltonos-metrics"
JOB = "wiltonos"
PROMETHEUS_PID = "prometheus.pid"
EXPORTER_PID = "exporter.pid"


@dataclass
class BootstrapOptions:
    """What the bootstrap was asked to do (the command-line flags)."""

    out: str = DEFAULT_OUT
    exporter: str = "127.0.0.1:9109"
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9090
    scrape_interval: str = "5s"
    start: bool = True
    prometheus_binary: str | None = None
    start_exporter: bool = False
    state_dir: str | None = None
    simulate: bool = False
    stop: bool = False
    ready_timeout: float = 30.0


def _host_port(text: str, field: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{field} must be HOST:PORT with a port from 1 to 65535, got {text[:80]!r}")
    return host, int(port)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_stack(out: Path, exporter: str, scrape_interval: str = "5s") -> dict[str, list[Path]]:
    """Write ``prometheus.yml``, the rules, their promtool tests and the dashboards under ``out``; the paths by kind."""
    _host_port(exporter, "--exporter")
    catalogs = [register_yaml(path) for path in SYSTEM.catalogs]
    written = write_files(out, generate(["rules", "tests", "dashboards"], catalogs))
    rules = sorted(p for p in written if p.parent == out / RULES_DIR)
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": "10s"},
        "rule_files": [str(p.resolve()) for p in rules],
        "scrape_configs": [
            {"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [exporter]}]},
        ],
    }
    config_path = out / "prometheus.yml"
    config_path.write_text(
        "# Written by python -m lukhas_obs_examples.wiltonos.bootstrap (seed 001's wt-metrics-bootstrap).\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return {
        "config": [config_path],
        "rules": rules,
        "tests": sorted(p for p in written if p.parent == out / TESTS_DIR),
        "dashboards": sorted(p for p in written if p.parent == out / DASHBOARDS_DIR),
    }


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read(64 * 1024)
    except OSError:
        return b""


def _running(pid_file: Path, marker: str) -> int | None:
    """The PID in ``pid_file`` if that process is alive and its command line holds ``marker`` (not a reused PID)."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    if pid <= 1 or marker.encode() not in _cmdline(pid):
        return None
    return pid


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # our own child when started by this process
            if waited == pid:
                return
        except ChildProcessError:
            pass
        if not _cmdline(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_stack(out: Path, stream: TextIO | None = None) -> int:
    """Stop the Prometheus and exporter a bootstrap of ``out`` started (PIDs checked against their command lines)."""
    stream = stream or sys.stdout
    markers = {PROMETHEUS_PID: str((out / "prometheus.yml").resolve()), EXPORTER_PID: "lukhas_obs_examples.wiltonos"}
    for name, marker in markers.items():
        pid = _running(out / name, marker)
        if pid is None:
            print(f"{name.split('.')[0]}: not running", file=stream)
        else:
            _stop_pid(pid)
            print(f"{name.split('.')[0]}: stopped (pid {pid})", file=stream)
        (out / name).unlink(missing_ok=True)
    return 0


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def _spawn(argv: list[str], log: Path, pid_file: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        proc = subprocess.Popen(  # detached: the stack outlives this command, like the seed's script
            argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    pid_file.write_text(f"{proc.pid}\n", encoding="ascii")
    return proc


def _start_prometheus(options: BootstrapOptions, out: Path, binary: str, stream: TextIO) -> str | None:
    """Start (or reload) Prometheus; its base URL, or None after printing why it did not come up."""
    config = (out / "prometheus.yml").resolve()
    base = f"http://{options.prometheus_host}:{options.prometheus_port}"
    running = _running(out / PROMETHEUS_PID, str(config))
    if running is not None:
        os.kill(running, signal.SIGHUP)  # the seed's `kill -HUP $(pgrep prometheus)`, aimed at our own PID
        print(f"prometheus: already running (pid {running}); told it to reload {config.name}", file=stream)
        return base
    log = out / "prometheus.log"
    proc = _spawn(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={(out / 'data').resolve()}",
            f"--web.listen-address={options.prometheus_host}:{options.prometheus_port}",
            "--web.enable-lifecycle",
        ],
        log,
        out / PROMETHEUS_PID,
    )
    deadline = time.monotonic() + options.ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"prometheus: exited with {proc.returncode} before it was ready; {log}:\n{_tail(log)}", file=stream)
            (out / PROMETHEUS_PID).unlink(missing_ok=True)
            return None
        if _ready(f"{base}/-/ready"):
            print(f"prometheus: started (pid {proc.pid}), log {log}", file=stream)
            return base
        time.sleep(0.25)
    print(f"prometheus: not ready after {options.ready_timeout:g}s (pid {proc.pid}); {log}:\n{_tail(log)}", file=stream)
    return base


def _start_exporter(options: BootstrapOptions, out: Path, stream: TextIO) -> None:
    host, port = _host_port(options.exporter, "--exporter")
    if _running(out / EXPORTER_PID, "lukhas_obs_examples.wiltonos") is not None:
        print("exporter: already running", file=stream)
        return
    state_dir = options.state_dir or str(out / "state")
    argv = [sys.executable, "-m", "lukhas_obs_examples.wiltonos", "--state-dir", state_dir, "--host", host,
            "--port", str(port)] + (["--simulate"] if options.simulate else [])  # fmt: skip
    proc = _spawn(argv, out / "exporter.log", out / EXPORTER_PID)
    metrics = f"http://{host}:{port}/metrics"
    deadline = time.monotonic() + options.ready_timeout
    while time.monotonic() < deadline and proc.poll() is None and not _ready(metrics):
        time.sleep(0.25)
    state = "started" if proc.poll() is None else f"exited with {proc.returncode}"
    print(f"exporter: {state} (pid {proc.pid}), state files in {state_dir}, log {out / 'exporter.log'}", file=stream)


def run_bootstrap(options: BootstrapOptions, stream: TextIO | None = None) -> int:
    """Write the stack, start what is installed, print the URLs; exit code 0 (1 when Prometheus failed to start)."""
    stream = stream or sys.stdout
    out = Path(options.out)
    if options.stop:
        return stop_stack(out, stream)
    try:
        _host_port(options.exporter, "--exporter")
    except ValueError as exc:
        print(f"wt-metrics-bootstrap: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if options.prometheus_port == 0:
        options.prometheus_port = _free_port(options.prometheus_host)
    files = write_stack(out, options.exporter, options.scrape_interval)
    print(f"WiltonOS metrics stack in {out.resolve()}", file=stream)
    print(f"  config:     {files['config'][0]}", file=stream)
    print(f"  rules:      {', '.join(str(p) for p in files['rules'])}", file=stream)
    tests = files["tests"][0].parent if files["tests"] else out
    print(f"  promtool:   cd {tests} && promtool test rules *_rules_test.yml", file=stream)
    code = 0
    base: str | None = None
    if options.start:
        if options.start_exporter:
            _start_exporter(options, out, stream)
        binary = options.prometheus_binary or shutil.which("prometheus")
        if binary is None:
            print("prometheus: not installed (Debian: apt-get install -y prometheus); run it with", file=stream)
            print(f"  prometheus --config.file={files['config'][0]} --storage.tsdb.path={out / 'data'}", file=stream)
        else:
            base = _start_prometheus(options, out, binary, stream)
            code = 0 if base is not None else 1
    if base is None:
        base = f"http://{options.prometheus_host}:{options.prometheus_port}"
    host, port = _host_port(options.exporter, "--exporter")
    print(f"  Prometheus: {base}", file=stream)
    print(f"  Alerts:     {base}/alerts", file=stream)
    print(f"  Targets:    {base}/targets", file=stream)
    print(f"  Metrics:    http://{host}:{port}/metrics", file=stream)
    if not options.start_exporter:
        print(f"              (start the exporter: python -m lukhas_obs_examples.wiltonos --host {host} --port {port}"
              " --state-dir DIR)", file=stream)  # fmt: skip
    dashboards = ", ".join(p.name for p in files["dashboards"])
    print(f"  Grafana:    not started; import {dashboards} from {out / DASHBOARDS_DIR}", file=stream)
    if options.start:
        print(f"  Stop:       python -m lukhas_obs_examples.wiltonos.bootstrap --stop --out {out}", file=stream)
    return code


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"directory to write into (default ./{DEFAULT_OUT})")
    parser.add_argument("--exporter", default="127.0.0.1:9109", help="HOST:PORT of the exporter (127.0.0.1:9109)")
    parser.add_argument("--prometheus-host", default="127.0.0.1", help="bind address of Prometheus (127.0.0.1)")
    parser.add_argument("--prometheus-port", type=int, default=9090, help="port of Prometheus (9090; 0 picks one)")
    parser.add_argument("--scrape-interval", default="5s", help="how often Prometheus scrapes the exporter (5s)")
    parser.add_argument("--prometheus-binary", default=None, help="the prometheus binary (default: on PATH)")
    parser.add_argument("--no-start", dest="start", action="store_false", help="only write the files")
    parser.add_argument("--start-exporter", action="store_true", help="also start the exporter in the background")
    parser.add_argument("--state-dir", default=None, help="the exporter's state directory (default <out>/state)")
    parser.add_argument("--simulate", action="store_true", help="the started exporter runs the simulated WiltonOS")
    parser.add_argument("--stop", action="store_true", help="stop what a bootstrap of --out started, then exit")


def _options(args: argparse.Namespace) -> BootstrapOptions:
    return BootstrapOptions(
        out=args.out,
        exporter=args.exporter,
        prometheus_host=args.prometheus_host,
        prometheus_port=args.prometheus_port,
        scrape_interval=args.scrape_interval,
        start=args.start,
        prometheus_binary=args.prometheus_binary,
        start_exporter=args.start_exporter,
        state_dir=args.state_dir,
        simulate=args.simulate,
        stop=args.stop,
    )


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs wiltonos bootstrap`` to the command line."""
    wiltonos = sub.add_parser("wiltonos", help="WiltonOS tools (seed 001)")
    commands = wiltonos.add_subparsers(dest="wiltonos_command", required=True)
    bootstrap = commands.add_parser(
        "bootstrap", help="write the Prometheus config and rules for the exporter, start Prometheus, print the URLs"
    )
    _add_arguments(bootstrap)
    bootstrap.set_defaults(handler=lambda args: run_bootstrap(_options(args)))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lukhas_obs_examples.wiltonos.bootstrap [flags]``."""
    parser = argparse.ArgumentParser(prog="wt-metrics-bootstrap", description=(__doc__ or "").split("\n")[0])
    _add_arguments(parser)
    return run_bootstrap(_options(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
