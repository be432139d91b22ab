"""Tiered authentication T1–T5 (seed 003, I.2), instrumented by :func:`lukhas_obs.flows.identity.authenticated`.

- T1: a ΛiD bearer token (HS256 JWT, expiry enforced);
- T2: password, verified against an argon2id hash (argon2-cffi);
- T3: RFC 6238 TOTP code, each time step accepted once;
- T4: hardware key challenge-response (async, like a WebAuthn check);
- T5: biometric template similarity (mock sensor).

Every method takes a context mapping holding the credentials and returns an :class:`AuthResult`. The
instrumentation sees only the result — ``ok`` and a reason code — never the context.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

try:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the lukhas_core example needs argon2-cffi for T2 passwords: pip install 'lukhas-obs[demo]'"
    ) from exc
from lukhas_obs_examples.lukhas_core import totp
from lukhas_obs_examples.lukhas_core.factors import BiometricMatcher, ChallengeResponseVerifier
from lukhas_obs_examples.lukhas_core.tokens import TokenValidator

from lukhas_obs.flows import identity

Tier = Literal["T1", "T2", "T3", "T4", "T5"]
AuthContext = Mapping[str, Any]


@dataclass
class AuthResult:
    """Outcome of one authentication: the tier, ``ok``, and a reason code (why it failed, or how it passed)."""

    tier: Tier
    ok: bool
    reason: str = ""


@dataclass
class UserRecord:
    """What the server stores about a user: an argon2id hash, a TOTP secret, a hardware key id."""

    user: str
    password_hash: str | None
    totp_secret: bytes | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class WebAuthnVerification:
    success: bool
    error_code: str | None = None


class Tiers:
    """The five tiers over one user directory and the verifiers each tier needs."""

    def __init__(
        self,
        users: Mapping[str, UserRecord],
        tokens: TokenValidator,
        hasher: PasswordHasher,
        hardware: ChallengeResponseVerifier,
        biometrics: BiometricMatcher,
        totp_clock: Callable[[], float] | None = None,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.hasher = hasher
        self.hardware = hardware
        self.biometrics = biometrics
        self.totp_clock = totp_clock or tokens.clock
        self._dummy_hash = hasher.hash("lukhas-timing-equaliser")
        self._last_totp_step: dict[str, int] = {}
        self._totp_lock = threading.Lock()

    @identity.authenticated("T1")
    def authenticate_T1(self, ctx: AuthContext) -> AuthResult:
        """A valid, unexpired ΛiD token."""
        token = ctx.get("token")
        if not isinstance(token, str) or not token:
            return AuthResult("T1", ok=False, reason="missing_credentials")
        verification = self.tokens.verify(token)
        if not verification.ok:
            return AuthResult("T1", ok=False, reason=verification.reason)
        return AuthResult("T1", ok=True, reason="token_authenticated")

    @identity.authenticated("T2")
    def authenticate_T2(self, ctx: AuthContext) -> AuthResult:
        """The user's password against the stored argon2id hash (unknown users cost the same time)."""
        password = ctx.get("password")
        record = self.users.get(str(ctx.get("user", "")))
        if not isinstance(password, str) or not password:
            return AuthResult("T2", ok=False, reason="missing_credentials")
        if record is None:
            self._verify_password(self._dummy_hash, password)
            return AuthResult("T2", ok=False, reason="invalid_credentials")
        if not record.password_hash:
            return AuthResult("T2", ok=False, reason="missing_hash")
        reason = self._verify_password(record.password_hash, password)
        if reason:
            return AuthResult("T2", ok=False, reason=reason)
        return AuthResult("T2", ok=True, reason="password_authenticated")

    def _verify_password(self, password_hash: str, password: str) -> str:
        try:
            self.hasher.verify(password_hash, password)
        except VerifyMismatchError:
            return "invalid_credentials"
        except (VerificationError, InvalidHashError):
            return "argon2_error"
        return ""

    @identity.authenticated("T3")
    def authenticate_T3(self, ctx: AuthContext) -> AuthResult:
        """A current TOTP code of the user's secret; a time step already used is refused (replay)."""
        record = self.users.get(str(ctx.get("user", "")))
        code = ctx.get("code")
        if not isinstance(code, str) or not code:
            return AuthResult("T3", ok=False, reason="missing_credentials")
        if record is None or record.totp_secret is None:
            return AuthResult("T3", ok=False, reason="bad_totp")
        matched = totp.verify(record.totp_secret, code, at=self.totp_clock())
        if matched is None:
            return AuthResult("T3", ok=False, reason="bad_totp")
        with self._totp_lock:
            if matched <= self._last_totp_step.get(record.user, -1):
                return AuthResult("T3", ok=False, reason="bad_totp")
            self._last_totp_step[record.user] = matched
        return AuthResult("T3", ok=True, reason="totp_authenticated")

    @identity.authenticated("T4")
    async def authenticate_T4(self, ctx: AuthContext) -> AuthResult:
        """A hardware key's assertion over a challenge this server issued."""
        verification = await self._verify_webauthn(ctx)
        if not verification.success:
            return AuthResult("T4", ok=False, reason=verification.error_code or "invalid_webauthn_response")
        return AuthResult("T4", ok=True, reason="hardware_key_authenticated")

    async def _verify_webauthn(self, ctx: AuthContext) -> WebAuthnVerification:
        await asyncio.sleep(0)  # a real check would await the relying-party library / attestation service
        record = self.users.get(str(ctx.get("user", "")))
        challenge, response = ctx.get("challenge"), ctx.get("response")
        if not isinstance(challenge, bytes) or not isinstance(response, bytes):
            return WebAuthnVerification(False, "missing_credentials")
        if record is None or record.key_id is None:
            return WebAuthnVerification(False, "invalid_webauthn_response")
        if not self.hardware.verify(record.key_id, challenge, response):
            return WebAuthnVerification(False, "invalid_webauthn_response")
        return WebAuthnVerification(True)

    @identity.authenticated("T5")
    def authenticate_T5(self, ctx: AuthContext) -> AuthResult:
        """A biometric sample close enough to the user's enrolled template."""
        sample = ctx.get("sample")
        if not isinstance(sample, list) or not sample:
            return AuthResult("T5", ok=False, reason="missing_credentials")
        if not self.biometrics.verify(str(ctx.get("user", "")), sample):
            return AuthResult("T5", ok=False, reason="biometric_mismatch")
        return AuthResult("T5", ok=True, reason="biometric_authenticated")
