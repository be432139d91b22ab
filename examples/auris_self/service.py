"""The operator API's logic, framework-free: ``GET /self/health`` and ``POST /self/canary`` (seed 004, C3).

:func:`self_health` builds the seed's document from the heartbeat file (through :mod:`lukhas_obs.slotools.replay`,
so the averages and SLO status are those ``lukhas-obs replay FILE --system auris_self`` prints) and the canary store;
:func:`canary_request` validates a change request body and applies it. :mod:`.api` puts both on FastAPI routes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lukhas_obs_examples.auris_self.canary import CanaryChangeError, CanaryStore

from lukhas_obs.slotools.replay import DEFAULT_COUNT, read_heartbeats
from lukhas_obs.slotools.targets import SloTargets
from lukhas_obs.systems.auris_self.metrics import phase_c_targets

__all__ = ["HEALTH_MAX_BYTES", "MAX_BODY_BYTES", "AurisSelf", "canary_request", "self_enabled", "self_health"]

#: At most this much of the end of the heartbeat file is read per health request (a lower bound is then reported).
HEALTH_MAX_BYTES = 8 << 20
#: Largest ``POST /self/canary`` body read.
MAX_BODY_BYTES = 16 * 1024
_OFF = frozenset({"off", "false", "0", "no", "disabled"})


def self_enabled(environ: Any = os.environ) -> bool:
    """``AURIS_SELF`` is not off (seed 004: ``export AURIS_SELF=on``; unset counts as on)."""
    return str(environ.get("AURIS_SELF", "on")).strip().lower() not in _OFF


@dataclass
class AurisSelf:
    """What the operator API works on: the heartbeat file, the canary store, the Phase C targets."""

    identity_path: Path
    store: CanaryStore
    targets: SloTargets = field(default_factory=lambda: phase_c_targets())
    count: int = DEFAULT_COUNT
    environ: Any = field(default_factory=lambda: os.environ)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def self_health(context: AurisSelf) -> dict[str, Any]:
    """The seed's ``GET /self/health`` document: enabled, canary sampling, heartbeats, averages, SLO status.

    Averages and SLO status are over the last ``count`` heartbeats (50, as the replay script). ``heartbeat_count`` is
    every heartbeat in the file; when the file is larger than :data:`HEALTH_MAX_BYTES`, only its end is read and
    ``heartbeat_count_is_lower_bound`` is true. A missing file: no heartbeats, every SLO false.
    """
    targets = context.targets
    fields = targets.fields
    partial = False
    try:
        with open(context.identity_path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > HEALTH_MAX_BYTES:
                fh.seek(size - HEALTH_MAX_BYTES)
                fh.readline()  # the first, cut line
                partial = True
            report = read_heartbeats(fh, fields, context.count, source=str(context.identity_path))
    except FileNotFoundError:
        report = None
    stats = {s.name: s for s in report.fields} if report is not None else {}
    status = {}
    for target in targets.offline():
        field_stats = stats.get(target.field)
        actual = field_stats.get(target.aggregate) if field_stats is not None else math.nan
        status[f"{target.name}_slo"] = bool(not math.isnan(actual) and target.holds(actual))
    last = report.last_heartbeat if report is not None else {}
    document: dict[str, Any] = {
        "enabled": self_enabled(context.environ),
        "canary_sampling": context.store.current(),
        "heartbeat_count": report.total if report is not None else 0,
        "last_heartbeat": {"kind": "heartbeat", **last} if last else None,
        "averages": {name: _number(stats[name].avg) if name in stats else None for name in fields},
        "slo_status": status,
    }
    if partial:
        document["heartbeat_count_is_lower_bound"] = True
    return document


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def canary_request(context: AurisSelf, body: bytes, source: str = "api") -> tuple[int, dict[str, Any]]:
    """``(status, document)`` for a ``POST /self/canary`` body ``{"new_sampling": 0.25, "reason": "..."}``.

    200 with the seed's response on success; 400 for a body that is not a JSON object or is too large; 422 when a
    field is missing, unknown or invalid (``new_sampling`` in (0, 1], a non-empty ``reason``); 500 when the change
    could not be written or audited (then nothing changed). Values are never echoed in errors.
    """
    if len(body) > MAX_BODY_BYTES:
        return 400, {"success": False, "error": f"the body must be at most {MAX_BODY_BYTES} bytes"}
    try:
        request = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except Exception:
        return 400, {"success": False, "error": "the body must be a JSON object"}
    if not isinstance(request, dict):
        return 400, {"success": False, "error": "the body must be a JSON object"}
    unknown = sorted(k for k in request if k not in ("new_sampling", "reason"))
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5])
        return 422, {"success": False, "error": f"unknown field {shown}; accepted: new_sampling, reason"}
    missing = [k for k in ("new_sampling", "reason") if k not in request]
    if missing:
        return 422, {"success": False, "error": f"missing field {', '.join(missing)}", "field": missing[0]}
    try:
        document = context.store.change(request["new_sampling"], request["reason"], source=source)
    except CanaryChangeError as exc:
        return 422, {"success": False, "error": str(exc), "field": exc.field}
    except OSError as exc:
        return 500, {"success": False, "error": f"the change could not be written or audited ({type(exc).__name__})"}
    return 200, document
