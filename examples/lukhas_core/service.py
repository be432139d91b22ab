"""The LUKHΛS-like core service: memory, reflection, dream and identity wired together, as one object.

Telemetry lives in the components (through the flow helpers only); this module just builds them, enrolls users and
issues tokens. Every clock is injectable so tests and the demo can move time (token expiry, TOTP steps).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from lukhas_obs_examples.lukhas_core import totp
from lukhas_obs_examples.lukhas_core.dream import DreamEngine
from lukhas_obs_examples.lukhas_core.factors import (
    BiometricMatcher,
    ChallengeResponseVerifier,
    HardwareKey,
    random_template,
)
from lukhas_obs_examples.lukhas_core.memory import Indexer, MemoryOrchestrator
from lukhas_obs_examples.lukhas_core.reflection import ReflectionEngine
from lukhas_obs_examples.lukhas_core.store import InMemoryVectorStore
from lukhas_obs_examples.lukhas_core.tiers import PasswordHasher, Tiers, UserRecord  # argon2 import, with a hint
from lukhas_obs_examples.lukhas_core.tokens import TokenGenerator, TokenValidator

#: Key id of the signing secret tokens are issued with.
KID = "kid-1"


def demo_password_hasher() -> PasswordHasher:
    """argon2id at the OWASP minimum (19 MiB, 2 iterations, 1 lane): realistic cost, quick enough for a demo."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass
class Enrollment:
    """The client side of one enrolled user: what the user knows, has and is."""

    user: str
    password: str
    totp_secret: bytes
    hardware_key: HardwareKey
    biometric_template: list[float]


class LukhasCore:
    """Memory orchestrator, reflection engine, dream engine and the five authentication tiers."""

    def __init__(
        self,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        dim: int = 64,
        token_ttl_s: int = 3600,
    ) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self._secrets = {KID: secrets.token_bytes(32)}
        self.memory = MemoryOrchestrator(Indexer(InMemoryVectorStore(dim)))
        self.reflection = ReflectionEngine()
        self.dream = DreamEngine(self.memory)
        self.hasher = hasher or demo_password_hasher()
        self.tokens = TokenGenerator(self.secret, kid=KID, ttl_s=token_ttl_s, clock=clock)
        self.validator = TokenValidator(self.secret, clock=clock)
        self.hardware = ChallengeResponseVerifier(clock=clock)
        self.biometrics = BiometricMatcher()
        self.users: dict[str, UserRecord] = {}
        self.tiers = Tiers(self.users, self.validator, self.hasher, self.hardware, self.biometrics, totp_clock=clock)

    def secret(self, kid: str) -> bytes:
        """The signing secret of ``kid`` (KeyError for an unknown key id)."""
        return self._secrets[kid]

    def enroll(self, user: str, password: str) -> Enrollment:
        """Register ``user`` for every tier; returns the client-side material (password, TOTP secret, key, template)."""
        key = HardwareKey(f"key-{user}")
        template = random_template(self.rng)
        record = UserRecord(user, self.hasher.hash(password), totp.random_secret(), key.key_id)
        self.users[user] = record
        self.hardware.register(key)
        self.biometrics.enroll(user, template)
        return Enrollment(user, password, record.totp_secret or b"", key, template)

    def issue_token(self, user: str, ttl_s: int | None = None) -> str:
        """A ΛiD JWT for ``user`` (``ttl_s`` overrides the default lifetime; negative gives an expired token)."""
        generator = self.tokens
        if ttl_s is not None:
            generator = TokenGenerator(self.secret, kid=KID, ttl_s=ttl_s, clock=self.clock)
        return str(generator.create({"sub": user, "realm": "lukhas", "zone": "core"})["jwt"])
