"""The canary sampling of SELF (``AURIS_SELF_CANARY``): changed only with a reason, every change audited.

Seed 004, C3: "Безопасное изменение AURIS_SELF_CANARY" (a safe change) and "Audit log: Все изменения логируются с
причиной (для compliance)" (every change is logged with its reason). :class:`CanaryStore` holds the value in an env
file (``AURIS_SELF_CANARY=0.25``, written atomically) that the service reads at start — hence the seed's restart note
— and appends one JSON line per change to the audit log, under an exclusive file lock, so the operator API and the
ladder never interleave. A change whose audit line cannot be written is undone: no change without its record.

:func:`autotune` is seed 004's C2 ``CanaryAutoTuner.check_and_tune()``: one check of the 5 → 10 → 25 → 50 → 100 %
ladder (:mod:`lukhas_obs.slotools.canary`) against Prometheus, with the system's Phase C targets
(``slo_targets:`` of the ``auris_self`` catalog: :func:`~lukhas_obs.systems.auris_self.metrics.phase_c_targets`),
every change going through the store with its reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lukhas_obs.slotools.canary import CanaryLadder, Decision, LadderPolicy
from lukhas_obs.slotools.promapi import PrometheusClient
from lukhas_obs.slotools.targets import SloTargets
from lukhas_obs.systems.auris_self.metrics import phase_c_targets

__all__ = [
    "DEFAULT_SAMPLING",
    "ENV_VAR",
    "MAX_REASON_LENGTH",
    "CanaryChangeError",
    "CanaryStore",
    "autotune",
    "validate_change",
]

#: The variable the SELF service reads its canary sampling from (seed 004: ``export AURIS_SELF_CANARY=0.05``).
ENV_VAR = "AURIS_SELF_CANARY"
#: Sampling before any change (seed 004: "Канарейка 5% LIVE").
DEFAULT_SAMPLING = 0.05
#: Longest reason accepted.
MAX_REASON_LENGTH = 1000
#: The seed's restart note ("⚠️  Restart required: systemctl restart atlas-api").
DEFAULT_RESTART_COMMAND = "systemctl restart atlas-api"


class CanaryChangeError(ValueError):
    """A change request that is refused; ``field`` names what is wrong, the message says what is accepted."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number outside the range" if math.isfinite(value) else "a number that is not finite"
    if isinstance(value, int):
        return "a number outside the range"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def validate_change(new_sampling: object, reason: object, *, allow_zero: bool = False) -> tuple[float, str]:
    """``(sampling, reason)`` of a valid change request; CanaryChangeError otherwise.

    ``new_sampling`` must be a JSON number (not a string, not a boolean) in (0, 1] — ``allow_zero`` adds 0 (canary
    off, for the ladder's rollback to zero); ``reason`` non-empty text (after trimming) of at most
    :data:`MAX_REASON_LENGTH` characters, valid Unicode, without control characters other than newline and tab.
    """
    low = "[0, 1]" if allow_zero else "(0, 1]"
    if isinstance(new_sampling, bool) or not isinstance(new_sampling, (int, float)):
        raise CanaryChangeError("new_sampling", f"new_sampling must be a number in {low}, got {_kind(new_sampling)}")
    try:
        value = float(new_sampling)
    except OverflowError:  # an integer too large for a float
        value = math.inf
    lowest_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (math.isfinite(value) and lowest_ok and value <= 1.0):
        raise CanaryChangeError("new_sampling", f"new_sampling must be a number in {low}, got {_kind(new_sampling)}")
    if not isinstance(reason, str):
        raise CanaryChangeError("reason", f"reason is required: non-empty text, got {_kind(reason)}")
    text = str.__getitem__(reason, slice(None)).strip()
    if not text:
        raise CanaryChangeError("reason", "reason is required: non-empty text, got an empty string")
    if len(text) > MAX_REASON_LENGTH:
        raise CanaryChangeError("reason", f"reason must be at most {MAX_REASON_LENGTH} characters, got {len(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanaryChangeError("reason", "reason must be valid Unicode text (it holds a lone surrogate)") from None
    if any(not ch.isprintable() and ch not in "\n\t" for ch in text):
        raise CanaryChangeError("reason", "reason must not hold control characters (newline and tab are fine)")
    return value, text


def _parse_sampling(text: str | None) -> float | None:
    """A sampling written in an env file or variable (``0.25``), or None when it is not a fraction in [0, 1]."""
    if text is None or len(text) > 64:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


class CanaryStore:
    """The current sampling (env file, else ``$AURIS_SELF_CANARY``, else 5 %) and its audited changes."""

    def __init__(
        self,
        sampling_file: str | os.PathLike[str],
        audit_log: str | os.PathLike[str],
        environ: Mapping[str, str] | None = None,
        restart_command: str = DEFAULT_RESTART_COMMAND,
    ) -> None:
        self.sampling_file = Path(sampling_file)
        self.audit_log = Path(audit_log)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.restart_command = restart_command
        self._lock = threading.Lock()

    @property
    def note(self) -> str:
        """The restart note of every change response (seed 004)."""
        return f"⚠️  Restart required: {self.restart_command}"

    def current(self) -> float:
        """The sampling in effect after the next restart: the env file's, else the variable's, else 5 %."""
        try:
            with open(self.sampling_file, encoding="utf-8") as fh:
                text = fh.read(4096)
        except (OSError, UnicodeDecodeError):
            text = ""
        for line in text.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() == ENV_VAR:
                parsed = _parse_sampling(value)
                if parsed is not None:
                    return parsed
        parsed = _parse_sampling(self.environ.get(ENV_VAR))
        return parsed if parsed is not None else DEFAULT_SAMPLING

    def change(self, new_sampling: object, reason: object, *, source: str = "api", allow_zero: bool = False) -> dict:
        """Validate, write the new sampling, append the audit line; the seed's response document.

        CanaryChangeError for a refused request (nothing changed, nothing audited); OSError when the change could
        not be made or audited (then nothing changed either).
        """
        value, text = validate_change(new_sampling, reason, allow_zero=allow_zero)
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.audit_log, "a", encoding="utf-8") as audit:
            fcntl.flock(audit.fileno(), fcntl.LOCK_EX)  # the API and the ladder (another process) never interleave
            try:
                old = self.current()
                previous = self._read_raw()
                self._write(f"{ENV_VAR}={value!r}\n")
                record = {
                    "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "source": source,
                    "variable": ENV_VAR,
                    "old_sampling": old,
                    "new_sampling": value,
                    "reason": text,
                }
                start = audit.seek(0, os.SEEK_END)
                try:
                    audit.write(json.dumps(record, ensure_ascii=False) + "\n")
                    audit.flush()
                    os.fsync(audit.fileno())
                except OSError:
                    with contextlib.suppress(OSError):
                        audit.truncate(start)  # no half-written record of a change that did not happen
                    self._restore(previous)  # and no change without its audit record
                    raise
            finally:
                fcntl.flock(audit.fileno(), fcntl.LOCK_UN)
        return {"success": True, "old_sampling": old, "new_sampling": value, "reason": text, "note": self.note}

    def _read_raw(self) -> str | None:
        try:
            return self.sampling_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _restore(self, previous: str | None) -> None:
        with contextlib.suppress(OSError):
            if previous is None:
                self.sampling_file.unlink()
            else:
                self._write(previous)

    def _write(self, text: str) -> None:
        self.sampling_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".canary-", suffix=".tmp", dir=self.sampling_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.sampling_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def audit_records(self) -> list[dict[str, Any]]:
        """Every audit record, oldest first (for operators and tests)."""
        try:
            lines = self.audit_log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def autotune(
    client: PrometheusClient,
    store: CanaryStore,
    state_path: str | os.PathLike[str],
    *,
    targets: SloTargets | None = None,
    policy: LadderPolicy | None = None,
) -> Decision:
    """One ladder check (seed 004: ``tuner.check_and_tune()``, every 5–10 minutes); a change goes through ``store``.

    ``targets`` default to the ``auris_self`` catalog's Phase C targets. The audit reason says which way the ladder
    moved and why it can: it advances only when every target held over its window, rolls back only on a firing
    alert (the full decision, with per-target values, is in the ladder's state file).
    """

    def set_sampling(fraction: float) -> None:
        step = ladder.load_state().percent / 100  # the ladder's step before this change (persisted after it)
        if fraction > step:
            why = f"advance {_pct(step)} -> {_pct(fraction)}: every SLO target held over its window"
        else:
            why = f"rollback {_pct(step)} -> {_pct(fraction)}: an alert was firing"
        store.change(fraction, f"canary ladder {why}", source="canary-ladder", allow_zero=True)

    ladder = CanaryLadder(
        client,
        targets if targets is not None else phase_c_targets(),
        state_path=state_path,
        set_sampling=set_sampling,
        policy=policy,
    )
    return ladder.check()
