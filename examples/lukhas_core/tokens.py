"""ΛiD tokens (seed 003, I.1): aliases with a CRC, and HS256 JWTs with expiry and constant-time signature checks.

Deliberately small and strict: only ``alg=HS256`` is accepted (no ``none``, no algorithm confusion), the signature is
compared with :func:`hmac.compare_digest`, ``exp`` is required and enforced against an injectable clock, and every
failure maps to one stable reason code (``malformed_token``, ``bad_signature``, ``expired``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SecretProvider = Callable[[str], bytes]
Clock = Callable[[], float]


def make_alias(realm: str, zone: str, major: int = 1) -> str:
    """A ΛiD alias ``lid#realm/zone/vN.<uuid>-<crc32>``."""
    core = f"lid#{realm}/{zone}/v{major}.{uuid.uuid4().hex}"
    return f"{core}-{zlib.crc32(core.encode('utf-8')) & 0xFFFFFFFF:08x}"


def verify_crc(alias: str) -> bool:
    """True when the alias's CRC suffix matches its body."""
    body, sep, crc_hex = alias.rpartition("-")
    if not sep:
        return False
    try:
        return (zlib.crc32(body.encode("utf-8")) & 0xFFFFFFFF) == int(crc_hex, 16)
    except ValueError:
        return False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


class TokenGenerator:
    """Issues HS256 JWTs signed with the secret of ``kid``, valid for ``ttl_s`` seconds."""

    def __init__(self, secrets: SecretProvider, kid: str = "kid-1", ttl_s: int = 3600, clock: Clock = time.time):
        self.secrets = secrets
        self.kid = kid
        self.ttl_s = ttl_s
        self.clock = clock

    def create(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """``{alias, jwt, kid, exp}`` for ``claims`` (``iat``/``exp`` are set here)."""
        now = int(self.clock())
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        payload = {**claims, "iat": now, "exp": now + self.ttl_s}
        signing_input = f"{_b64url(_json(header))}.{_b64url(_json(payload))}"
        signature = hmac.new(self.secrets(self.kid), signing_input.encode("ascii"), hashlib.sha256).digest()
        alias = make_alias(str(claims.get("realm", "public")), str(claims.get("zone", "default")))
        return {"alias": alias, "jwt": f"{signing_input}.{_b64url(signature)}", "kid": self.kid, "exp": payload["exp"]}


@dataclass(frozen=True)
class Verification:
    """Result of :meth:`TokenValidator.verify`: ``ok`` and the claims, or a failure ``reason`` code."""

    ok: bool
    claims: dict[str, Any] | None = None
    reason: str = ""


class TokenValidator:
    """Verifies HS256 JWTs issued by :class:`TokenGenerator` (``leeway_s`` tolerates small clock skew)."""

    def __init__(self, secrets: SecretProvider, clock: Clock = time.time, leeway_s: int = 0) -> None:
        self.secrets = secrets
        self.clock = clock
        self.leeway_s = leeway_s

    def verify(self, jwt: str) -> Verification:
        """Check structure, algorithm, signature (constant time), then expiry — in that order."""
        try:
            header_b64, payload_b64, signature_b64 = jwt.split(".")
            header = json.loads(_b64url_decode(header_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, AttributeError, binascii.Error):
            return Verification(False, reason="malformed_token")
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(header.get("kid"), str):
            return Verification(False, reason="malformed_token")
        try:
            secret = self.secrets(header["kid"])
        except KeyError:
            return Verification(False, reason="bad_signature")
        expected = hmac.new(secret, f"{header_b64}.{payload_b64}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            return Verification(False, reason="bad_signature")
        try:
            claims = json.loads(_b64url_decode(payload_b64))
        except (ValueError, binascii.Error):
            return Verification(False, reason="malformed_token")
        exp = claims.get("exp") if isinstance(claims, dict) else None
        if not isinstance(exp, int):
            return Verification(False, reason="malformed_token")
        if exp + self.leeway_s <= self.clock():
            return Verification(False, reason="expired")
        return Verification(True, claims=claims)
