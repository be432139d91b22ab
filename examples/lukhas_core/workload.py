"""The ``lukhas-obs demo`` workload for ``--system lukhas_core``: drive the core service like its users would.

Every step exercises every flow — memory upserts (some of them duplicates) and searches, a reflection (every fifth
one with injected anomalies), a full dream cycle with a varying queue, and all five authentication tiers — plus one
negative authentication path, in rotation: wrong password, expired token, bad TOTP, tampered token, forged hardware
key response, biometric mismatch. Step 0 alone puts data into every metric of the ``lukhas_core`` catalog.

Time is simulated (one TOTP step per iteration) so TOTP codes are never replays and token expiry is deterministic.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lukhas_obs_examples.lukhas_core import totp
from lukhas_obs_examples.lukhas_core.factors import noisy_sample, random_template
from lukhas_obs_examples.lukhas_core.reflection import ConsciousnessState
from lukhas_obs_examples.lukhas_core.service import LukhasCore
from lukhas_obs_examples.lukhas_core.tiers import AuthResult

from lukhas_obs.spans import span

if TYPE_CHECKING:
    from argon2 import PasswordHasher

CORPUS = (
    "the guardian reviewed the reflection log",
    "memory consolidation finished during the dream phase",
    "user ada authenticated with a hardware key",
    "drift in the awareness signal returned to baseline",
    "a new fold was opened for the candidate lane",
    "search latency stayed under the hundred millisecond budget",
    "the dream engine drained its consolidation queue",
    "identity tokens were rotated with a fresh signing key",
)
QUERIES = ("dream consolidation", "hardware key", "drift baseline", "latency budget", "signing key rotation")
NEGATIVE_PATHS = ("wrong_password", "expired_token", "bad_totp", "tampered_token", "forged_key", "biometric_mismatch")


class SimulatedClock:
    """Wall-clock start, advanced explicitly: each ``advance`` moves past one TOTP time step."""

    def __init__(self, start: float, tick_s: float = 31.0) -> None:
        self.now = start
        self.tick_s = tick_s

    def __call__(self) -> float:
        return self.now

    def advance(self) -> None:
        self.now += self.tick_s


class LukhasCoreWorkload:
    """One iteration = one tick of the core: memory, reflection, dream, identity (see the module docstring)."""

    def __init__(self, seed: int | None = 0, hasher: PasswordHasher | None = None, anomaly_every: int = 5) -> None:
        self.rng = random.Random(seed)
        self.clock = SimulatedClock(time.time())
        self.core = LukhasCore(hasher=hasher, clock=self.clock, seed=seed)
        self.user = self.core.enroll("ada", password=f"correct horse {self.rng.getrandbits(64):x}")
        self.anomaly_every = anomaly_every
        self.counts: Counter[str] = Counter()

    def step(self, iteration: int) -> None:
        """Run one tick inside a ``lukhas_core.tick`` span, so each tick is one trace."""
        self.clock.advance()
        with span("lukhas_core.tick", iteration=iteration):
            self._memory(iteration)
            self._reflect(iteration)
            self._dream(iteration)
            self._authenticate(iteration)

    def summary(self) -> dict[str, Any]:
        stats = self.core.memory.indexer.store.stats()
        return {"docs": stats["count"], **dict(sorted(self.counts.items()))}

    # -- flows ----------------------------------------------------------------------------------------------------

    def _memory(self, iteration: int) -> None:
        memory = self.core.memory
        text = f"{CORPUS[iteration % len(CORPUS)]} (tick {iteration})"
        meta = {"lane": "candidate", "fold": f"fold-{iteration % 3}"}
        memory.add_event(text, meta)
        if iteration % 3 == 0:  # a replayed event: same content again → dropped as a duplicate
            memory.add_event(text, meta)
            self.counts["duplicates"] += 1
        memory.query(self.rng.choice(QUERIES), k=self.rng.choice((3, 5, 8)))

    def _reflect(self, iteration: int) -> None:
        injected = iteration % self.anomaly_every == 0
        signals = (
            {"drift": 0.95, "coherence": 0.2}
            if injected
            else {"drift": abs(self.rng.gauss(0.15, 0.08)), "coherence": self.rng.uniform(0.6, 1.0)}
        )
        report = self.core.reflection.reflect(ConsciousnessState(phase="REFLECT", context=signals))
        self.counts["anomalies"] += len(report.anomalies)

    def _dream(self, iteration: int) -> None:
        dream = self.core.dream
        for n in range(self.rng.randint(0, 9)):
            dream.submit(f"dream fragment {iteration}.{n}")
        dream.enter("tick", {})
        for _ in range(self.rng.randint(1, 2)):
            dream.step(max_time_ms=20)
        dream.exit()
        self.counts["dream_cycles"] += 1

    def _authenticate(self, iteration: int) -> None:
        core, user, rng = self.core, self.user, self.rng
        tiers = core.tiers
        now = self.clock()
        results = [
            tiers.authenticate_T1({"token": core.issue_token(user.user)}),
            tiers.authenticate_T2({"user": user.user, "password": user.password}),
            tiers.authenticate_T3({"user": user.user, "code": totp.totp(user.totp_secret, at=now)}),
            self._t4(user.hardware_key.respond),
            tiers.authenticate_T5({"user": user.user, "sample": noisy_sample(user.biometric_template, rng, 0.1)}),
        ]
        path = NEGATIVE_PATHS[iteration % len(NEGATIVE_PATHS)]
        if path == "wrong_password":
            results.append(tiers.authenticate_T2({"user": user.user, "password": "hunter2"}))
        elif path == "expired_token":
            results.append(tiers.authenticate_T1({"token": core.issue_token(user.user, ttl_s=-60)}))
        elif path == "bad_totp":
            wrong = str((int(totp.totp(user.totp_secret, at=now)) + 1) % 1_000_000).zfill(6)
            results.append(tiers.authenticate_T3({"user": user.user, "code": wrong}))
        elif path == "tampered_token":
            header, payload, signature = core.issue_token(user.user).split(".")
            results.append(tiers.authenticate_T1({"token": f"{header}.{payload}x.{signature}"}))
        elif path == "forged_key":
            results.append(self._t4(lambda challenge: bytes(32)))
        else:
            results.append(tiers.authenticate_T5({"user": user.user, "sample": random_template(rng)}))
        for result in results:
            self.counts["auth_ok" if result.ok else "auth_failed"] += 1

    def _t4(self, respond: Callable[[bytes], bytes]) -> AuthResult:
        challenge = self.core.hardware.issue(self.user.hardware_key.key_id)
        ctx = {"user": self.user.user, "challenge": challenge, "response": respond(challenge)}
        return asyncio.run(self.core.tiers.authenticate_T4(ctx))
