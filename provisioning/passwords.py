"""Admin password hashing: scrypt (stdlib ``hashlib.scrypt``), stored as
``scrypt$N$r$p$salt_hex$hash_hex`` in ``admin.password_hash``.

There is no default password (ETSI EN 303 645 5.1, UK PSTI): an empty hash means the web admin
asks for one on first use. N=2^14, r=8, p=1 costs 16 MiB and ~0.2 s of CPU on an x86 dev box
(more on a Pi).

Callers on an event loop use :func:`hash_password_async` / :func:`verify_password_async`: the
scrypt runs in a short-lived child interpreter (``python -I -S``, standard library only; the
password goes through a pipe, never the command line). That keeps the loop free and, just as
important on a 512 MB device, keeps scrypt's 16 MiB buffer out of the daemon: freed in the
daemon, glibc raises its mmap threshold to that size for good and the daemon then keeps
several MB of freed heap resident (measured: +4..7 MB RSS after one log-in). Where no child
can be started, an executor thread does it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import sys
from typing import Final

N: Final = 1 << 14
R: Final = 8
P: Final = 1
MIN_LENGTH: Final = 8
MAXMEM: Final = 256 * 1024 * 1024

# The child: parameters as JSON on stdin, the hex digest on stdout (hashlib only).
_CHILD: Final = (
    "import hashlib, json, sys\n"
    "a = json.load(sys.stdin)\n"
    "d = hashlib.scrypt(bytes.fromhex(a['pw']), salt=bytes.fromhex(a['salt']), n=a['n'],"
    " r=a['r'], p=a['p'], dklen=a['dklen'], maxmem=a['maxmem'])\n"
    "sys.stdout.write(d.hex())\n"
)


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=MAXMEM)


async def _scrypt_isolated(
    password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int
) -> bytes:
    """:func:`_scrypt` in a child interpreter (see the module docstring); ValueError if the
    parameters are refused."""
    args = {"pw": password.hex(), "salt": salt.hex(), "n": n, "r": r, "p": p, "dklen": dklen}
    args["maxmem"] = MAXMEM
    try:
        if not sys.executable:
            raise OSError("no interpreter to run")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _CHILD,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _scrypt, password, salt, n, r, p, dklen)
    try:
        out, _ = await proc.communicate(json.dumps(args).encode("ascii"))
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise ValueError("scrypt refused its parameters")
    return bytes.fromhex(out.decode("ascii"))


def _format(n: int, r: int, p: int, salt: bytes, digest: bytes) -> str:
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    """(n, r, p, salt, digest) of a stored hash, or None when it is malformed."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return None
    if not (2 <= n <= 1 << 20 and 1 <= r <= 32 and 1 <= p <= 16 and expected):
        return None
    return n, r, p, salt, expected


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(16)
    return _format(n, r, p, salt, _scrypt(password.encode("utf-8"), salt, n, r, p, 32))


async def hash_password_async(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """:func:`hash_password` off the event loop and out of this process's heap."""
    salt = secrets.token_bytes(16)
    digest = await _scrypt_isolated(password.encode("utf-8"), salt, n, r, p, 32)
    return _format(n, r, p, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for any malformed hash."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        digest = _scrypt(password.encode("utf-8"), salt, n, r, p, len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


async def verify_password_async(password: str, stored: str) -> bool:
    """:func:`verify_password` off the event loop and out of this process's heap."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        digest = await _scrypt_isolated(password.encode("utf-8"), salt, n, r, p, len(expected))
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
