"""Local verifiers for the strong tiers: an HMAC challenge-response "hardware key" (T4) and a biometric mock (T5).

Neither needs a device: the key is a secret held by :class:`HardwareKey` (the client side) and checked by
:class:`ChallengeResponseVerifier` (the server side) with single-use, expiring challenges; the biometric matcher
compares feature vectors by cosine similarity against an enrolled template. Both compare in constant time where a
secret is involved and keep no secret in their error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from collections.abc import Callable

from lukhas_obs_examples.lukhas_core.embedding import cosine

_DOMAIN = b"lukhas-t4-assertion|"


class HardwareKey:
    """The authenticator: holds a secret and signs the server's challenges with it."""

    def __init__(self, key_id: str, secret: bytes | None = None) -> None:
        self.key_id = key_id
        self.secret = secret if secret is not None else secrets.token_bytes(32)

    def respond(self, challenge: bytes) -> bytes:
        """HMAC-SHA256 assertion over the challenge (domain-separated)."""
        return hmac.new(self.secret, _DOMAIN + challenge, hashlib.sha256).digest()


class ChallengeResponseVerifier:
    """Issues single-use challenges valid ``ttl_s`` seconds and verifies assertions against registered keys."""

    def __init__(self, ttl_s: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._keys: dict[str, bytes] = {}
        self._challenges: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def register(self, key: HardwareKey) -> None:
        """Enroll a key (its secret is copied server-side, as a WebAuthn credential's public key would be)."""
        self._keys[key.key_id] = key.secret

    def issue(self, key_id: str) -> bytes:
        """A fresh 32-byte challenge bound to ``key_id``."""
        challenge = secrets.token_bytes(32)
        with self._lock:
            self._challenges[challenge] = (key_id, self.clock() + self.ttl_s)
        return challenge

    def verify(self, key_id: str, challenge: bytes, response: bytes) -> bool:
        """True when ``response`` is ``key_id``'s assertion over an unexpired challenge issued to it (used up now)."""
        with self._lock:
            issued = self._challenges.pop(challenge, None)
        secret = self._keys.get(key_id)
        if issued is None or secret is None or issued[0] != key_id or issued[1] < self.clock():
            return False
        expected = hmac.new(secret, _DOMAIN + challenge, hashlib.sha256).digest()
        return hmac.compare_digest(expected, response)


class BiometricMatcher:
    """Cosine similarity of a probe against the enrolled template; a match needs ``threshold`` or more."""

    def __init__(self, threshold: float = 0.9) -> None:
        self.threshold = threshold
        self._templates: dict[str, list[float]] = {}

    def enroll(self, user: str, template: list[float]) -> None:
        self._templates[user] = list(template)

    def similarity(self, user: str, sample: list[float]) -> float:
        """Similarity in [-1, 1]; 0.0 for a user without a template or a sample of the wrong size."""
        template = self._templates.get(user)
        if template is None or len(template) != len(sample):
            return 0.0
        return cosine(template, sample)

    def verify(self, user: str, sample: list[float]) -> bool:
        return self.similarity(user, sample) >= self.threshold


def random_template(rng: random.Random, dim: int = 32) -> list[float]:
    """A random enrolment template (the mock "sensor" reading of a finger)."""
    return [rng.gauss(0.0, 1.0) for _ in range(dim)]


def noisy_sample(template: list[float], rng: random.Random, noise: float = 0.1) -> list[float]:
    """A new reading of the same finger: the template plus Gaussian noise."""
    return [x + rng.gauss(0.0, noise) for x in template]
