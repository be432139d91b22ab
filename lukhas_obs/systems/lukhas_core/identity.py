"""Identity flow helpers (seed 003, I.2): tiered authentication T1…T5 without ever seeing a credential.

The helper wraps the *verification*, not the credentials: it calls a zero-argument callable (or decorates the
``authenticate_T*`` method) and only looks at the outcome it returns — ``ok`` and a ``reason`` code. Passwords,
hashes, TOTP codes, tokens and JWTs stay in the caller's closure; they never reach a span attribute, an event or a
label, and exceptions raised during verification are recorded by type only (their messages could quote input)::

    from lukhas_obs.flows import identity  # or: from lukhas_obs.systems.lukhas_core import identity

    class Tiers:
        @identity.authenticated("T2")
        def authenticate_T2(self, ctx) -> AuthResult: ...          # ctx holds the password; the helper never reads it

        @identity.authenticated("T4")
        async def authenticate_T4(self, ctx) -> AuthResult: ...

    result = identity.authenticate("T3", lambda: totp.verify(secret, code))

Measures ``lukhas_auth_latency_seconds{tier}`` for every attempt and ``lukhas_auth_failures_total{tier,reason}`` for
every negative outcome or exception. Tier and reason are enumerated in the catalog: anything else folds to ``other``,
on the labels and on the span (span ``identity.authenticate_<tier>``, attributes ``tier``, ``auth.ok``,
``auth.reason``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from opentelemetry import trace

from lukhas_obs import drops
from lukhas_obs.catalog import FOLD_VALUE, find_metric
from lukhas_obs.instruments import counter
from lukhas_obs.spans import SpanScope, enabled, timed

__all__ = ["TIERS", "AuthOutcome", "authenticate", "authenticate_async", "authenticated", "outcome"]

LATENCY_SECONDS = "lukhas_auth_latency_seconds"
FAILURES_TOTAL = "lukhas_auth_failures_total"

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


def _allowed(key: str) -> tuple[str, ...]:
    spec = find_metric(FAILURES_TOTAL).attribute(key)
    return spec.values if spec is not None and spec.values is not None else ()


#: The tiers the catalog enumerates (T1 basic … T5 biometric).
TIERS: tuple[str, ...] = _allowed("tier")
_REASONS = frozenset(_allowed("reason"))
_failures = counter(FAILURES_TOTAL)
_scopes: dict[str, SpanScope] = {}


@runtime_checkable
class AuthOutcome(Protocol):
    """Anything with ``ok`` and ``reason``, like the seed's ``AuthResult``."""

    ok: bool
    reason: str


def outcome(result: object) -> tuple[bool, str]:
    """``(ok, reason)`` of a verifier's result: an :class:`AuthOutcome`, an ``(ok, reason)`` pair, or a bool.

    Anything else counts as a failure with reason ``other``: an authentication that cannot say yes is a no. So does
    a result whose ``ok`` or ``reason`` raises when read; that is reported, never raised into the caller.
    """
    try:
        return _outcome(result)
    except Exception as exc:
        drops.report(FAILURES_TOTAL, "unreadable_result", type(exc).__name__)
        return False, FOLD_VALUE


def _outcome(result: object) -> tuple[bool, str]:
    if isinstance(result, bool):
        return result, "" if result else FOLD_VALUE
    if isinstance(result, tuple):
        if len(result) == 2 and isinstance(result[0], bool):
            return result[0], _plain(result[1])
        return False, FOLD_VALUE
    ok = getattr(result, "ok", None)
    if isinstance(ok, bool):
        return ok, _plain(getattr(result, "reason", ""))
    return False, FOLD_VALUE


def _plain(text: object) -> str:
    """``text`` as a plain str (a str subclass is copied without calling its methods); anything else ``other``."""
    return str.__str__(text) if isinstance(text, str) else FOLD_VALUE


def _fold_tier(tier: str) -> str:
    tier = _plain(tier)
    return tier if tier in TIERS else FOLD_VALUE


def _fold_reason(reason: str) -> str:
    return reason if reason in _REASONS else FOLD_VALUE


def _scope(tier: str) -> SpanScope:
    """The shared (thread-safe through :meth:`SpanScope.run`) scope of one tier."""
    scope = _scopes.get(tier)
    if scope is None:
        scope = _scopes[tier] = timed(
            LATENCY_SECONDS,
            span_name=f"identity.authenticate_{tier}",
            failures=FAILURES_TOTAL,
            redact_exceptions=True,
            tier=tier,
        )
    return scope


def _record(tier: str, result: R) -> R:
    """Put the outcome on the current (authentication) span and count a failure; return ``result`` unchanged."""
    if not enabled():  # nothing records; and the current span, if any, is not ours to annotate
        return result
    ok, reason = outcome(result)
    span = trace.get_current_span()
    span.set_attribute("auth.ok", ok)
    if not ok:
        folded = _fold_reason(reason)
        span.set_attribute("auth.reason", folded)
        _failures.add(1, tier=tier, reason=folded)
    return result


def _verify_and_record(tier: str, verify: Callable[[], R]) -> R:
    return _record(tier, verify())


async def _verify_and_record_async(tier: str, verify: Callable[[], Awaitable[R]]) -> R:
    return _record(tier, await verify())


def authenticate(tier: str, verify: Callable[[], R]) -> R:
    """Run ``verify()`` as one tier-``tier`` authentication and return its result unchanged.

    Exceptions from ``verify`` propagate unchanged after being counted as a failure (reason ``other``) and marked
    on the span by type only.
    """
    folded = _fold_tier(tier)
    return _scope(folded).run(_verify_and_record, folded, verify)


async def authenticate_async(tier: str, verify: Callable[[], Awaitable[R]]) -> R:
    """The coroutine form of :func:`authenticate` (``verify`` returns an awaitable, e.g. a WebAuthn check)."""
    folded = _fold_tier(tier)
    return await _scope(folded).run_async(_verify_and_record_async, folded, verify)


def authenticated(tier: str) -> Callable[[F], F]:
    """Decorate an ``authenticate_T*`` function or method (sync or async) returning an :class:`AuthOutcome`.

    The decorated function's arguments (the credentials) are passed through untouched and never inspected.
    """

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await authenticate_async(tier, functools.partial(fn, *args, **kwargs))

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return authenticate(tier, functools.partial(fn, *args, **kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate
