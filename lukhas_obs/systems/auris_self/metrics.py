"""SELF metrics export: seed 004's ``exp_prom_exporter.update_self_metrics`` and its fail-safe ``phase_c_hook_exp``.

Seed 004::

    Функция: update_self_metrics(token_id, coherence, continuity, presence, stress)
    Автоматический экспорт после каждого manager.update()
    Fail-safe: try/except блок (не ломает SELF tick при недоступности Prometheus)

("exported automatically after every manager.update(); fail-safe: a try/except block, the SELF tick never breaks
when Prometheus is unavailable"). Wiring::

    from lukhas_obs.systems.auris_self.metrics import exported, update_self_metrics

    update_self_metrics("tok-1", coherence=0.95, continuity=0.98, presence=1.0, stress=0.12)

    class SelfManager:
        @exported                      # the returned SELF state is exported after each tick, never raising
        def update(self) -> SelfState: ...

What is refused (dropped, warned about once, counted in ``lukhas_obs_dropped_measurements_total``; the caller's
tick goes on):

* a ``token_id`` that is not text, is empty or longer than :data:`MAX_TOKEN_ID_LENGTH`, holds control characters
  or lone surrogates (``metric="update_self_metrics"``, ``reason="invalid_attribute_value"``), or is **shaped like
  a credential** — a JWT, a GitHub/Slack/AWS/... token, anything the SDK's scrubber would redact
  (``metric="update_self_metrics:token_id"``, same reason, its own warning). The catalog declares ``token_id``
  non-secret so the seed's label name is accepted, and ids are exported as given; a caller passing the token itself
  instead of its id gets nothing exported, never the secret;
* a new ``token_id`` once as many are exported as the smallest cardinality limit of the four metrics
  (``cardinality_limit``; one warning for the four metrics, not four). Tokens already exported keep updating;
* a score that is not a finite number in [0.0, 1.0] (the seed's range; 0.0 and 1.0 are valid): that score alone
  is dropped (``not_a_number``, ``nan``, ``infinite``, ``out_of_range``), the others are exported.

``AURIS_METRICS_EXP=off`` (the catalog's ``switch``, read at configure) makes the four handles no-ops; nothing else
is affected.
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import lukhas_obs
from lukhas_obs import drops
from lukhas_obs.instruments import gauge
from lukhas_obs.scrubbing import Scrubber
from lukhas_obs.settings import DEFAULT_CARDINALITY_LIMIT
from lukhas_obs.slotools.replay import targets_from_catalogs
from lukhas_obs.slotools.targets import SloTargets
from lukhas_obs.systems.auris_self import SYSTEM

__all__ = [
    "FIELDS",
    "MAX_TOKEN_ID_LENGTH",
    "SELF_METRICS",
    "WHERE",
    "export_self_state",
    "exported",
    "phase_c_targets",
    "token_limit",
    "update_self_metrics",
]

SYSTEM.register()  # the catalog is known before the handles below are looked up, installed as an entry point or not

#: The seed's score fields, in the order of ``update_self_metrics``' arguments.
FIELDS: tuple[str, ...] = ("coherence", "continuity", "presence", "stress")
#: Their metrics (seed 004: ``self_coherence{token_id}`` ...).
SELF_METRICS: tuple[str, ...] = tuple(f"self_{name}" for name in FIELDS)
#: Longest ``token_id`` exported.
MAX_TOKEN_ID_LENGTH = 128
#: The ``metric`` label under which refused token ids and failing hooks are counted.
WHERE = "update_self_metrics"
#: ... a token_id shaped like a credential (its own warning), and a failing hook.
CREDENTIAL_WHERE = "update_self_metrics:token_id"
HOOK_WHERE = "self_metrics_hook"

R = TypeVar("R")

_gauges = tuple(gauge(name) for name in SELF_METRICS)
_scrubber = Scrubber()
_lock = threading.Lock()
_tokens: set[str] = set()
_tokens_for: object = None  # the configuration the admitted set belongs to (a new configure starts a new set)


def token_limit() -> int:
    """How many distinct ``token_id`` are exported: the smallest cardinality limit of the four SELF metrics."""
    telemetry = lukhas_obs.active()
    if telemetry is None:
        return DEFAULT_CARDINALITY_LIMIT
    settings = telemetry.settings
    limits = dict(settings.cardinality_limits)
    return min(limits.get(name, settings.cardinality_limit) for name in SELF_METRICS)


def _token(token_id: object) -> str | None:
    """``token_id`` as plain text, or None after reporting why it is refused."""
    if not isinstance(token_id, str):
        drops.report(WHERE, "invalid_attribute_value", f"token_id is a {type(token_id).__name__}, not text")
        return None
    text = str.__getitem__(token_id, slice(None))  # a plain str: a subclass's dunders never run
    if not 0 < len(text) <= MAX_TOKEN_ID_LENGTH or not text.isprintable():
        detail = f"token_id empty, over {MAX_TOKEN_ID_LENGTH} characters or not printable"
        drops.report(WHERE, "invalid_attribute_value", detail)
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        drops.report(WHERE, "invalid_attribute_value", "token_id holds a lone surrogate")
        return None
    if _scrubber.scrub_text(text) != text:
        detail = "token_id is shaped like a credential; pass the token's id"
        drops.report(CREDENTIAL_WHERE, "invalid_attribute_value", detail)
        return None
    return text


def _admitted(token_id: str) -> bool:
    """True when ``token_id`` is (or can become) one of the exported tokens."""
    global _tokens_for
    telemetry = lukhas_obs.active()
    with _lock:
        if telemetry is not _tokens_for:
            _tokens.clear()
            _tokens_for = telemetry
        if token_id in _tokens:
            return True
        limit = token_limit()
        if len(_tokens) >= limit:
            drops.report(WHERE, "cardinality_limit", f"limit {limit} token ids")
            return False
        _tokens.add(token_id)
        return True


def _score(metric: str, value: object) -> float | None:
    """``value`` as a float in [0, 1], or None after reporting why it is dropped."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        drops.report(metric, "not_a_number", type(value).__name__)
        return None
    try:
        number = float(value)
    except Exception:  # a hostile __float__, an int too large for a float
        drops.report(metric, "not_a_number", type(value).__name__)
        return None
    if not math.isfinite(number):
        drops.report(metric, "nan" if number != number else "infinite")
        return None
    if not 0.0 <= number <= 1.0:
        drops.report(metric, "out_of_range", "a SELF score outside [0.0, 1.0]")
        return None
    return number


def update_self_metrics(token_id: str, coherence: float, continuity: float, presence: float, stress: float) -> bool:
    """Set the four SELF gauges of ``token_id`` (seed 004); True when the token was exported. Never raises.

    Refused tokens and scores are dropped and counted (see the module docstring); valid scores of an admitted token
    are exported even when another score of the same call is refused.
    """
    try:
        text = _token(token_id)
        if text is None or not _admitted(text):
            return False
        for handle, metric, value in zip(_gauges, SELF_METRICS, (coherence, continuity, presence, stress), strict=True):
            number = _score(metric, value)
            if number is not None:
                handle.set(number, token_id=text)
        return True
    except Exception as exc:  # never into the SELF tick
        drops.report(WHERE, "internal_error", type(exc).__name__)
        return False


def phase_c_targets() -> SloTargets:
    """The catalog's Phase C ``slo_targets`` (coherence >= 0.80, continuity >= 0.90, stress <= 0.30, 10m window),
    as replay, online evaluation and the canary ladder use them; SloTargetsError if the catalog's section is bad."""
    return targets_from_catalogs(SYSTEM.catalogs, f"system {SYSTEM.name}")


def _field(state: Any, name: str) -> Any:
    if isinstance(state, Mapping):
        return state[name]
    return getattr(state, name)


def export_self_state(state: Any) -> bool:
    """The fail-safe hook: export one SELF state (a mapping or an object with ``token_id`` and the four scores).

    Runs after every ``manager.update()``; whatever goes wrong — a state without the fields, a raising property, a
    broken export — is counted (``metric="self_metrics_hook"``, ``reason="callback_error"``) and swallowed. True when
    exported.
    """
    try:
        return update_self_metrics(_field(state, "token_id"), *(_field(state, name) for name in FIELDS))
    except Exception as exc:
        drops.report(HOOK_WHERE, "callback_error", type(exc).__name__)
        return False


def exported(update: Callable[..., R]) -> Callable[..., R]:
    """Decorate a SELF tick (``manager.update``): its returned state is exported after each call.

    The tick's own result and exceptions pass through unchanged; the export can only ever return (see
    :func:`export_self_state`). A tick returning ``None`` exports nothing.
    """

    @functools.wraps(update)
    def tick(*args: Any, **kwargs: Any) -> R:
        result = update(*args, **kwargs)
        if result is not None:
            export_self_state(result)  # never raises
        return result

    return tick
