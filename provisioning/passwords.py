"""Admin password hashing: scrypt (stdlib ``hashlib.scrypt``), stored as
``scrypt$N$r$p$salt_hex$hash_hex`` in ``admin.password_hash``.

There is no default password (ETSI EN 303 645 5.1, UK PSTI): an empty hash means the web admin
asks for one on first use. N=2^14, r=8, p=1 costs 16 MiB and ~0.2 s of CPU on an x86 dev box
(more on a Pi): callers on an event loop run it in an executor thread (provisioning.web.server).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

N: Final = 1 << 14
R: Final = 8
P: Final = 1
MIN_LENGTH: Final = 8


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for any malformed hash."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
        if not (2 <= n <= 1 << 20 and 1 <= r <= 32 and 1 <= p <= 16 and expected):
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


def password_problem(password: str) -> str | None:
    """Why a new admin password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if password.strip() != password or not password.isprintable():
        return "must not start/end with spaces or contain control characters"
    return None
