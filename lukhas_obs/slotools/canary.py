"""A canary ladder steered by SLO targets and alerts: 5 → 10 → 25 → 50 → 100 % (seed 004, C2 auto-tune).

Every check (:meth:`CanaryLadder.check`) reads the firing alerts (``/api/v1/alerts``), evaluates every target at one
instant (:mod:`lukhas_obs.slotools.evaluate`), and returns a :class:`Decision` with its reason:

1. **rollback** when any alert is firing (pending ones do not count; ``alert_pattern`` narrows which alert names
   count, default: every alert, as the seed's "откат при любом SELF/Stability alert"). The seed does not say where
   to: the default goes back to the **first step** (5 %), ``rollback_to="zero"`` goes to 0 % (canary off). Already
   there: hold, saying which alerts fire;
2. **hold** when the alerts cannot be read, at the last step, when the current step has not yet been held for
   ``min_dwell`` (default: the longest target window, so an advance is never justified by data from before the last
   change), or when any target did not pass: failed, no data / too few samples, or Prometheus could not answer;
3. **advance** one step when every target held over its window.

:func:`decide` is the pure decision function (state, evaluation, alerts, time in; decision out), tested on its own.
The ladder applies a changing decision through ``set_sampling(fraction)`` (0.05 for 5 %, the seed's
``AURIS_SELF_CANARY`` form), then persists the step to a JSON state file with an atomic rename. The callback is
called with an absolute value, so a crash between the two is harmless: the next check repeats the same change.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from lukhas_obs.catalog.slo import duration_seconds, is_duration
from lukhas_obs.errors import ConfigurationError, redact_text
from lukhas_obs.slotools._io import atomic_write_text
from lukhas_obs.slotools.evaluate import Evaluation, TargetResult, evaluate
from lukhas_obs.slotools.promapi import Alert, PrometheusClient, PrometheusError
from lukhas_obs.slotools.targets import SloTargets, SloTargetsError

__all__ = [
    "DEFAULT_STEPS",
    "CanaryLadder",
    "CanaryOptions",
    "CanaryStateError",
    "Decision",
    "LadderPolicy",
    "LadderState",
    "decide",
    "register_cli",
    "run_canary",
    "sampling_file_writer",
]

#: The ladder, in percent (seed 004: "5% → 10% → 25% → 50% → 100%").
DEFAULT_STEPS: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 100.0)
#: Seconds between checks in the CLI's loop (seed 004: "Вызывать каждые 5-10 минут").
DEFAULT_INTERVAL = 300.0
#: Largest state file read.
_MAX_STATE_BYTES = 64 * 1024
_STATE_VERSION = 1


class CanaryStateError(ValueError):
    """The state file exists but does not hold a ladder state (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class LadderPolicy:
    """How the ladder moves. ``min_dwell`` None: the longest target window; ``alert_pattern``: a regex the
    ``alertname`` must match in full for the alert to count (None: every firing alert)."""

    steps: tuple[float, ...] = DEFAULT_STEPS
    rollback_to: str = "first"
    min_dwell: float | None = None
    alert_pattern: str | None = None

    def __post_init__(self) -> None:
        steps = self.steps
        if (
            not steps
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s <= 100 for s in steps)
            or any(b <= a for a, b in itertools.pairwise(steps))
        ):
            raise ConfigurationError("steps", steps, "increasing percentages in (0, 100], e.g. 5,10,25,50,100")
        if self.rollback_to not in ("first", "zero"):
            raise ConfigurationError("rollback_to", self.rollback_to, "one of: first, zero")
        if self.min_dwell is not None and not (
            isinstance(self.min_dwell, (int, float)) and math.isfinite(self.min_dwell) and self.min_dwell >= 0
        ):
            raise ConfigurationError("min_dwell", self.min_dwell, "a non-negative number of seconds")
        if self.alert_pattern is not None:
            try:
                re.compile(self.alert_pattern)
            except (re.error, TypeError):
                raise ConfigurationError("alert_pattern", self.alert_pattern, "a regular expression") from None

    @property
    def rollback_percent(self) -> float:
        """Where a firing alert sends the ladder: the first step, or 0."""
        return 0.0 if self.rollback_to == "zero" else float(self.steps[0])

    def next_step(self, percent: float) -> float | None:
        """The first step above ``percent`` (None at or above the last)."""
        return next((float(s) for s in self.steps if s > percent), None)

    def counts(self, alert: Alert) -> bool:
        """Whether a firing ``alert`` triggers a rollback under this policy."""
        return alert.firing and (self.alert_pattern is None or re.fullmatch(self.alert_pattern, alert.name) is not None)


@dataclass(frozen=True)
class LadderState:
    """Where the ladder is: ``percent`` since ``changed_at`` (Unix seconds); the last decision, for operators."""

    percent: float
    changed_at: float
    last_decision: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {
            "version": _STATE_VERSION,
            "percent": self.percent,
            "sampling": round(self.percent / 100, 6),
            "changed_at": self.changed_at,
            "last_decision": self.last_decision,
        }
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class Decision:
    """One decision: ``action`` advance / hold / rollback, from ``current`` to ``next`` percent, and why."""

    action: str
    current: float
    next: float
    reason: str
    at: float
    results: tuple[TargetResult, ...] = ()
    firing: tuple[str, ...] = ()
    applied: bool = False
    persisted: bool = False

    @property
    def changes(self) -> bool:
        return self.next != self.current

    def to_dict(self) -> dict[str, Any]:
        """The seed's shape (``action``, ``next_canary`` as a fraction) plus percents, reason and target results."""
        return {
            "action": self.action,
            "current_canary": round(self.current / 100, 6),
            "next_canary": round(self.next / 100, 6),
            "current_percent": self.current,
            "next_percent": self.next,
            "reason": self.reason,
            "at": self.at,
            "firing_alerts": list(self.firing),
            "targets": [r.to_dict() for r in self.results],
            "applied": self.applied,
            "persisted": self.persisted,
        }


def _pct(value: float) -> str:
    return f"{value:g}%"


def decide(
    state: LadderState,
    policy: LadderPolicy,
    *,
    evaluation: Evaluation | None,
    alerts: Sequence[Alert] | None,
    now: float,
    dwell: float,
    problem: str = "",
) -> Decision:
    """The ladder's decision for ``state`` given the alerts and the evaluation (pure: no I/O).

    ``alerts`` None means they could not be read and ``evaluation`` None that the targets could not be evaluated;
    ``problem`` says why. ``dwell`` is the seconds a step must be held before advancing.
    """
    current = state.percent
    results = evaluation.results if evaluation is not None else ()

    def out(action: str, nxt: float, reason: str, firing: tuple[str, ...] = ()) -> Decision:
        return Decision(action, current, nxt, reason, now, results, firing)

    if alerts is None:
        return out("hold", current, f"cannot read alerts, holding at {_pct(current)}: {problem or 'unknown'}")
    firing = tuple(sorted({a.name or "<unnamed>" for a in alerts if policy.counts(a)}))
    if firing:
        shown = ", ".join(firing[:10]) + (f" and {len(firing) - 10} more" if len(firing) > 10 else "")
        target = policy.rollback_percent
        if current > target:
            where = "the first step" if policy.rollback_to == "first" else "0 (canary off)"
            return out("rollback", target, f"alert firing: {shown}; rolling back to {where}, {_pct(target)}", firing)
        return out("hold", current, f"alert firing: {shown}; already at {_pct(current)}", firing)
    nxt = policy.next_step(current)
    if nxt is None:
        return out("hold", current, f"at the last step ({_pct(current)})")
    waits: list[str] = []
    held_for = now - state.changed_at
    if held_for < dwell:
        waits.append(f"{_pct(current)} held for {max(held_for, 0):.0f}s of the {dwell:.0f}s required")
    if evaluation is None:
        waits.append(f"cannot evaluate the targets: {problem or 'unknown'}")
    elif not results:
        waits.append("no targets to evaluate")
    else:
        for status, label in (("fail", "failed"), ("no_data", "insufficient data"), ("error", "cannot evaluate")):
            for r in evaluation.by_status(status):
                waits.append(f"{label}: {r.reason}")
    if waits:
        return out("hold", current, "holding at " + _pct(current) + ": " + "; ".join(waits))
    held = "; ".join(r.reason for r in results)
    return out("advance", nxt, f"every SLO target held over its window ({held}); advancing to {_pct(nxt)}")


def _problem(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, PrometheusError) else f"{type(exc).__name__}: {exc}"
    return redact_text(text[:500])


class CanaryLadder:
    """Checks, decides, applies and persists (see the module docstring).

    ``set_sampling`` receives the new fraction (0.05 … 1.0) when a decision changes the step; if it raises, the step
    is not persisted and the decision says so (the next check tries again). ``clock`` returns Unix seconds.
    """

    def __init__(
        self,
        client: PrometheusClient,
        targets: SloTargets,
        *,
        state_path: str | os.PathLike[str],
        set_sampling: Callable[[float], Any] | None = None,
        policy: LadderPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        offline = [t.name for t in targets.targets if not t.metric]
        if offline:
            raise ConfigurationError(
                "targets", offline, "targets that all name a metric (the ladder evaluates every target online)"
            )
        self.client = client
        self.targets = targets
        self.state_path = os.fspath(state_path)
        self.set_sampling = set_sampling
        self.policy = policy or LadderPolicy()
        self.clock = clock

    @property
    def dwell(self) -> float:
        """Seconds a step must be held before advancing."""
        if self.policy.min_dwell is not None:
            return float(self.policy.min_dwell)
        return self.targets.longest_window_seconds

    def load_state(self) -> LadderState:
        """The persisted state; without a state file, the first step since now."""
        try:
            with open(self.state_path, "rb") as fh:
                raw = fh.read(_MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return LadderState(float(self.policy.steps[0]), self.clock())
        where = f"canary state file {self.state_path}"
        fix = "; fix it or delete it (the ladder then starts at the first step)"
        if len(raw) > _MAX_STATE_BYTES:
            raise CanaryStateError(f"{where} is larger than {_MAX_STATE_BYTES} bytes{fix}")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except Exception:
            raise CanaryStateError(f"{where} is not JSON{fix}") from None
        if not isinstance(doc, dict) or doc.get("version") != _STATE_VERSION:
            raise CanaryStateError(f"{where} is not a version {_STATE_VERSION} canary state{fix}")
        percent, changed = doc.get("percent"), doc.get("changed_at")
        for name, value, low, high in (("percent", percent, 0, 100), ("changed_at", changed, 0, math.inf)):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and low <= value <= high):  # type: ignore[arg-type,operator]
                bound = "in [0, 100]" if name == "percent" else ">= 0"
                raise CanaryStateError(f"{where}: {name} must be a finite number {bound}{fix}")
        last = doc.get("last_decision")
        return LadderState(float(percent), float(changed), last if isinstance(last, dict) else {})  # type: ignore[arg-type]

    def check(self) -> Decision:
        """One check: alerts, evaluation, decision; a changing decision is applied and persisted."""
        state = self.load_state()
        now = self.clock()
        problem = ""
        alerts: tuple[Alert, ...] | None
        try:
            alerts = self.client.alerts()
        except PrometheusError as exc:
            alerts, problem = None, _problem(exc)
        evaluation: Evaluation | None = evaluate(self.client, self.targets, at=now) if alerts is not None else None
        decision = decide(
            state, self.policy, evaluation=evaluation, alerts=alerts, now=now, dwell=self.dwell, problem=problem
        )
        return self._apply(state, decision)

    def _apply(self, state: LadderState, decision: Decision) -> Decision:
        new_state = state
        if decision.changes:
            try:
                if self.set_sampling is not None:
                    self.set_sampling(round(decision.next / 100, 6))
            except Exception as exc:
                reason = f"{decision.reason}; set_sampling failed ({_problem(exc)}), staying at {_pct(state.percent)}"
                decision = replace(decision, reason=reason, applied=False)
            else:
                decision = replace(decision, applied=True)
                new_state = LadderState(decision.next, decision.at)
        summary = {k: v for k, v in decision.to_dict().items() if k != "targets"}
        new_state = replace(new_state, last_decision={**summary, "persisted": True})
        try:
            atomic_write_text(self.state_path, new_state.to_json())
        except OSError as exc:
            reason = f"{decision.reason}; state file {self.state_path} not written ({exc.strerror or exc})"
            return replace(decision, reason=reason, persisted=False)
        return replace(decision, persisted=True)


# ------------------------------------------------------------------------------------------------------------ CLI


def _read_secret_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(what, path, f"a readable UTF-8 file ({reason})") from None
    return text.strip()


def sampling_file_writer(path: str, variable: str | None = None) -> Callable[[float], None]:
    """A ``set_sampling`` that writes ``0.25`` (or ``NAME=0.25``) to ``path`` atomically (an env file, a ConfigMap)."""
    if variable is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        raise ConfigurationError("sampling_var", variable, "an environment variable name (letters, digits, '_')")

    def write(fraction: float) -> None:
        atomic_write_text(path, (f"{variable}={fraction!r}" if variable else repr(fraction)) + "\n")

    return write


def _steps(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("must be comma-separated percentages, e.g. 5,10,25,50,100") from None


def _duration(text: str) -> float:
    if is_duration(text):
        return duration_seconds(text)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError("must be seconds or a Prometheus duration such as 30s, 10m")
    return value


@dataclass
class CanaryOptions:
    """What ``lukhas-obs canary`` was asked to do."""

    prometheus: str
    state: str = "canary-state.json"
    once: bool = False
    interval: float = DEFAULT_INTERVAL
    policy: LadderPolicy = field(default_factory=LadderPolicy)
    timeout: float = 10.0
    bearer_token_file: str | None = None
    basic_auth_file: str | None = None
    sampling_file: str | None = None
    sampling_var: str | None = None
    json: bool = False


def _client(options: CanaryOptions) -> PrometheusClient:
    bearer = _read_secret_file(options.bearer_token_file, "bearer_token_file") if options.bearer_token_file else None
    basic = None
    if options.basic_auth_file:
        user, sep, password = _read_secret_file(options.basic_auth_file, "basic_auth_file").partition(":")
        if not sep:
            raise ConfigurationError("basic_auth_file", options.basic_auth_file, "a file holding user:password")
        basic = (user, password)
    return PrometheusClient(options.prometheus, timeout=options.timeout, bearer_token=bearer, basic_auth=basic)


def run_canary(
    options: CanaryOptions,
    targets: SloTargets,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the ladder once (``--once``) or every ``interval`` seconds until ``stop`` (SIGINT/SIGTERM in the CLI).

    ``targets`` is the targets source, resolved by the caller. Prints one line (or one JSON document with
    ``--json``) per decision. Exit 0 when every decision was applied and persisted, 4 when one was not.
    """
    out = out or sys.stdout
    ladder = CanaryLadder(
        _client(options),
        targets,
        state_path=options.state,
        set_sampling=sampling_file_writer(options.sampling_file, options.sampling_var)
        if options.sampling_file
        else None,
        policy=options.policy,
    )
    stop = stop or threading.Event()
    code = 0
    while True:
        decision = ladder.check()
        if options.json:
            out.write(json.dumps(decision.to_dict(), allow_nan=False) + "\n")
        else:
            move = f"{_pct(decision.current)} -> {_pct(decision.next)}" if decision.changes else _pct(decision.current)
            out.write(f"canary: {decision.action.upper()} {move}: {decision.reason}\n")
        out.flush()
        if (decision.changes and not decision.applied) or not decision.persisted:
            code = 4
        if options.once or stop.wait(options.interval):
            return code


def _handler(args: argparse.Namespace) -> int:
    from lukhas_obs.slotools.replay import targets_from_args

    try:
        targets = targets_from_args(args)
        if targets is None:  # pragma: no cover - argparse requires --targets or --system
            raise SloTargetsError("canary", ["give --targets FILE or --system NAME"])
    except OSError as exc:
        source = args.targets or f"the catalogs of system {args.system}"
        print(f"lukhas-obs canary: cannot read {source}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2
    except SloTargetsError as exc:
        print(f"lukhas-obs canary: error: {exc}", file=sys.stderr)
        return 2
    options = CanaryOptions(
        prometheus=args.prometheus,
        state=args.state,
        once=args.once,
        interval=args.interval,
        policy=LadderPolicy(
            steps=args.steps, rollback_to=args.rollback_to, min_dwell=args.min_dwell, alert_pattern=args.alert_name
        ),
        timeout=args.timeout,
        bearer_token_file=args.bearer_token_file,
        basic_auth_file=args.basic_auth_file,
        sampling_file=args.sampling_file,
        sampling_var=args.sampling_var,
        json=args.json,
    )
    stop = threading.Event()
    previous = {}
    if not args.once:
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_canary(options, targets, stop=stop)
    except CanaryStateError as exc:
        print(f"lukhas-obs canary: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lukhas-obs canary`` to the command line."""
    parser = sub.add_parser(
        "canary",
        help="steer a canary ladder (5 -> 10 -> 25 -> 50 -> 100 %%) by SLO targets and firing alerts in Prometheus",
        description="Advance one step when every SLO target held over its window, hold when data is missing or a "
        "target fails, roll back on any firing alert. State persists in --state (atomic JSON).",
    )
    parser.add_argument("--prometheus", required=True, metavar="URL", help="Prometheus base URL (http://host:9090)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--targets", metavar="FILE", help="YAML file with a slo_targets: section")
    source.add_argument("--system", metavar="NAME", help="use the slo_targets: of this system's catalogs (auris_self)")
    parser.add_argument("--once", action="store_true", help="one check, then exit (for cron); default: loop")
    parser.add_argument("--state", default="canary-state.json", help="state file (default ./canary-state.json)")
    parser.add_argument(
        "--interval", type=_duration, default=DEFAULT_INTERVAL, help="seconds or duration between checks (300)"
    )
    parser.add_argument("--steps", type=_steps, default=DEFAULT_STEPS, help="ladder percentages (5,10,25,50,100)")
    parser.add_argument(
        "--rollback-to", choices=("first", "zero"), default="first", help="on a firing alert: first step or 0 (first)"
    )
    parser.add_argument(
        "--min-dwell", type=_duration, default=None, help="hold a step at least this long (default: longest window)"
    )
    parser.add_argument("--alert-name", default=None, metavar="REGEX", help="only alerts whose name matches count")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per Prometheus request (10)")
    parser.add_argument("--bearer-token-file", default=None, metavar="FILE", help="file holding a bearer token")
    parser.add_argument("--basic-auth-file", default=None, metavar="FILE", help="file holding user:password")
    parser.add_argument("--sampling-file", default=None, metavar="PATH", help="write the new fraction here (atomic)")
    parser.add_argument("--sampling-var", default=None, metavar="NAME", help="write NAME=fraction (an env file)")
    parser.add_argument("--json", action="store_true", help="one JSON document per decision")
    parser.set_defaults(handler=_handler)
