"""RFC 4226 HOTP and RFC 6238 TOTP with the standard library (hmac + hashlib), for tier T3.

Codes are compared in constant time; verification accepts ``window`` steps of clock skew either side and returns
the matched time step so a caller can refuse its reuse (replay protection).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
import time


def random_secret(length: int = 20) -> bytes:
    """A fresh shared secret (20 bytes = 160 bits, the RFC 4226 recommendation for SHA-1)."""
    return secrets.token_bytes(length)


def to_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it (base32, no padding)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def hotp(secret: bytes, counter: int, digits: int = 6, digest: str = "sha1") -> str:
    """RFC 4226: HMAC of the 8-byte counter, dynamic truncation, ``digits`` decimal digits."""
    mac = hmac.new(secret, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def totp(secret: bytes, at: float | None = None, step: int = 30, digits: int = 6, digest: str = "sha1") -> str:
    """RFC 6238: the HOTP of the current ``step``-second time slot."""
    now = time.time() if at is None else at
    return hotp(secret, int(now // step), digits, digest)


def verify(
    secret: bytes,
    code: str,
    at: float | None = None,
    step: int = 30,
    digits: int = 6,
    window: int = 1,
    digest: str = "sha1",
) -> int | None:
    """The matching time step of ``code`` within ``±window`` steps, or None. Constant-time per candidate."""
    if not isinstance(code, str) or len(code) != digits or not code.isdigit():
        return None
    now = time.time() if at is None else at
    slot = int(now // step)
    matched = None
    for candidate in range(slot - window, slot + window + 1):
        if hmac.compare_digest(hotp(secret, candidate, digits, digest), code):
            matched = candidate  # keep looping: the time taken does not depend on where the match is
    return matched
