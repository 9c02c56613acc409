"""Admin authentication: first-start password, sessions, CSRF tokens, login rate limiting.

Theory of operation
-------------------
- **No default password** (ETSI EN 303 645 5.1, UK PSTI). The password's scrypt hash lives in
  ``config.admin.password_hash`` (:mod:`provisioning.passwords`), so a provisioning profile can
  set it too. When the hash is empty at start-up, :func:`generate_password` makes a random
  per-device password (about 80 bits, grouped for reading off a console); the web admin stores
  its hash through the backend and announces the clear text **once** on the console and in the
  log. That message is the one documented exception to "no secrets in logs": it is how the owner
  learns the password, and the hash replaces it at once, so it is never shown again.
- **Sessions** (:class:`Sessions`): a random 256-bit token in a cookie (HttpOnly,
  SameSite=Strict, Secure over TLS) mapping to a :class:`Session` that holds its own CSRF token.
  Idle timeout and absolute lifetime; at most :data:`MAX_SESSIONS` (the oldest is dropped).
  A session is bound to the password hash it logged in with: when the hash changes (on the
  Password page, or by provisioning) every other session ends.
- **CSRF**: every state-changing request (POST) carries the session's token, as the form field
  ``csrf`` or the ``X-CSRF-Token`` header; a missing or wrong one is 403. The login form uses a
  double-submit token (cookie + field) since no session exists yet.
- **Rate limiting** (:class:`LoginLimiter`): per source address, the first
  :data:`FREE_FAILURES` failures cost nothing; each further one locks the address out for
  ``BACKOFF_BASE_S * 2**k`` seconds (1, 2, 4, ... up to :data:`BACKOFF_MAX_S`). A success
  clears the address; the table is bounded (oldest entries forgotten).

Time is an argument everywhere (``now``, seconds on any monotonic clock), so tests drive it.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

FREE_FAILURES: Final = 5
BACKOFF_BASE_S: Final = 1.0
BACKOFF_MAX_S: Final = 900.0
MAX_TRACKED_ADDRESSES: Final = 4096

SESSION_IDLE_S: Final = 1800.0
SESSION_MAX_S: Final = 12 * 3600.0
MAX_SESSIONS: Final = 32

# No look-alike characters (0/O, 1/l/I) so the password reads off a serial console reliably.
_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"


def generate_password(groups: int = 4, group_len: int = 4) -> str:
    """A random password like ``k7mq-2xzp-dh4a-9wre`` (4x4 from 31 symbols: ~79 bits)."""
    return "-".join(
        "".join(secrets.choice(_ALPHABET) for _ in range(group_len)) for _ in range(groups)
    )


def tokens_equal(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Session:
    csrf: str
    created: float
    last_seen: float
    credential: str = ""  # the password hash the session logged in with


class Sessions:
    """The logged-in admin sessions, in memory (a daemon restart logs everybody out)."""

    def __init__(self, idle_s: float = SESSION_IDLE_S, max_s: float = SESSION_MAX_S) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, now: float, credential: str = "") -> tuple[str, Session]:
        self.expire(now)
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        token = secrets.token_urlsafe(32)
        session = Session(
            csrf=secrets.token_urlsafe(32), created=now, last_seen=now, credential=credential
        )
        self._sessions[token] = session
        return token, session

    def get(self, token: str | None, now: float, credential: str | None = None) -> Session | None:
        """The live session of ``token``; ``None`` (and the session ends) when it expired or,
        given ``credential``, when the password changed since it logged in (e.g. by a
        provisioning profile)."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if (
            now - session.last_seen > self.idle_s
            or now - session.created > self.max_s
            or (credential is not None and not tokens_equal(session.credential, credential))
        ):
            del self._sessions[token]
            return None
        session.last_seen = now
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def end_all_except(self, keep: str | None) -> None:
        for token in [t for t in self._sessions if t != keep]:
            del self._sessions[token]

    def expire(self, now: float) -> None:
        for token in [
            t
            for t, s in self._sessions.items()
            if now - s.last_seen > self.idle_s or now - s.created > self.max_s
        ]:
            del self._sessions[token]


@dataclass
class _Failures:
    count: int
    locked_until: float


class LoginLimiter:
    """Failed-login accounting per source address with exponential back-off."""

    def __init__(
        self,
        free_failures: int = FREE_FAILURES,
        base_s: float = BACKOFF_BASE_S,
        max_s: float = BACKOFF_MAX_S,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        self.free_failures = free_failures
        self.base_s = base_s
        self.max_s = max_s
        self.max_addresses = max_addresses
        self._by_address: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, address: str, now: float) -> float:
        """Seconds the address must still wait before trying again (0 = may try now)."""
        entry = self._by_address.get(address)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - now)

    def failure(self, address: str, now: float) -> float:
        """Record a failed attempt; return the lock-out it earns (0 while still free)."""
        entry = self._by_address.pop(address, None) or _Failures(0, 0.0)
        entry.count += 1
        excess = entry.count - self.free_failures
        delay = 0.0 if excess < 0 else min(self.max_s, self.base_s * 2.0 ** min(excess, 30))
        entry.locked_until = now + delay
        self._by_address[address] = entry  # most recent last
        while len(self._by_address) > self.max_addresses:
            self._by_address.popitem(last=False)
        return delay

    def success(self, address: str) -> None:
        self._by_address.pop(address, None)

    def failures(self, address: str) -> int:
        entry = self._by_address.get(address)
        return entry.count if entry else 0
