"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760), client and server side.

Theory of operation
-------------------
*Client.* A 401 carries ``WWW-Authenticate`` and a 407 ``Proxy-Authenticate`` header fields,
possibly several (one per algorithm, RFC 8760 §2.4). :func:`parse_challenge` turns one header
value into a :class:`DigestChallenge`; :func:`select_challenge` picks the strongest one we
support (SHA-512-256 > SHA-256 > MD5; a ``-sess`` variant ranks with its base). A
:class:`DigestClient` holds one line's credentials and the nonce counters: every answer to the
same nonce increments ``nc`` (RFC 7616 §3.4), so a cached nonce can be re-used on the next
request (pre-emptive credentials). ``qop=auth`` is preferred, ``auth-int`` (hash of the body) is
used when it is the only one offered, and a challenge without ``qop`` gets the RFC 2069 answer.
:meth:`DigestClient.authorize` returns the header name and value to add.

A second challenge for a realm we just answered, without ``stale=true``, means the server
rejected the credentials: :meth:`DigestClient.rejected` tells the caller so (wrong password),
instead of looping. ``stale=true`` means only the nonce expired: answer again with the new one.

*Server.* :class:`NonceIssuer` makes nonces that need no server state: ``base64url(timestamp ||
salt || HMAC-SHA256(secret, timestamp || salt || realm))``. A nonce whose MAC verifies but is
older than the lifetime is *stale* (re-challenge with ``stale=true``: the client knew the
password); a bad MAC is *invalid*. Replayed ``nc`` values are refused through a bounded table
of the highest ``nc`` seen per nonce. :class:`DigestServer` issues challenges and checks
``Authorization`` values against a password (or HA1) lookup. Time is always an argument;
comparisons of secrets use :func:`hmac.compare_digest`. Nothing here logs or ``repr``-s a
password or a response.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from ata.sip.errors import SipError, SipParseError
from ata.sip.headers import parse_challenge as _parse_auth_params
from ata.sip.syntax import quote


class DigestError(SipError):
    """A Digest challenge or credentials value that cannot be used (status 400 for a server)."""

    status = 400


# name (upper case) -> (hashlib name, is session variant, strength rank)
_ALGORITHMS: Final[dict[str, tuple[str, bool, int]]] = {
    "MD5": ("md5", False, 1),
    "MD5-SESS": ("md5", True, 1),
    "SHA-256": ("sha256", False, 2),
    "SHA-256-SESS": ("sha256", True, 2),
    "SHA-512-256": ("sha512_256", False, 3),
    "SHA-512-256-SESS": ("sha512_256", True, 3),
}
_CANONICAL: Final[dict[str, str]] = {
    "MD5": "MD5",
    "MD5-SESS": "MD5-sess",
    "SHA-256": "SHA-256",
    "SHA-256-SESS": "SHA-256-sess",
    "SHA-512-256": "SHA-512-256",
    "SHA-512-256-SESS": "SHA-512-256-sess",
}
SUPPORTED_ALGORITHMS: Final = tuple(_CANONICAL.values())
MAX_NONCE_COUNT: Final = 0xFFFFFFFF


def _available(hash_name: str) -> bool:
    try:
        hashlib.new(hash_name, usedforsecurity=False)
    except ValueError:
        return False
    return True


def _algorithm_key(name: str | None) -> str:
    return (name or "MD5").upper()


def algorithm_supported(name: str | None) -> bool:
    spec = _ALGORITHMS.get(_algorithm_key(name))
    return spec is not None and _available(spec[0])


def _hash(algorithm: str, text: str | bytes) -> str:
    spec = _ALGORITHMS.get(_algorithm_key(algorithm))
    if spec is None:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.new(spec[0], data, usedforsecurity=False).hexdigest()


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """H(username:realm:password) — the stored credential (not yet the ``-sess`` form)."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1); ``ha1`` as from :func:`compute_ha1`."""
    key = _algorithm_key(algorithm)
    if key not in _ALGORITHMS:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    if _ALGORITHMS[key][1]:
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        ha2 = _hash(algorithm, f"{method}:{uri}:{_hash(algorithm, body)}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop in ("auth", "auth-int"):
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")


# ---------------------------------------------------------------------------------------------
# Client side


@dataclass(frozen=True)
class DigestChallenge:
    """One Digest challenge from a 401 (``proxy=False``) or a 407 (``proxy=True``)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False
    proxy: bool = False

    @property
    def strength(self) -> int:
        return _ALGORITHMS[_algorithm_key(self.algorithm)][2]

    @property
    def supported(self) -> bool:
        return algorithm_supported(self.algorithm) and (
            not self.qop or "auth" in self.qop or "auth-int" in self.qop
        )

    @property
    def request_header(self) -> str:
        """The header that carries the answer: ``Authorization`` or ``Proxy-Authorization``."""
        return "Proxy-Authorization" if self.proxy else "Authorization"


def parse_challenge(value: str, *, proxy: bool = False) -> DigestChallenge:
    """Parse one ``WWW-Authenticate``/``Proxy-Authenticate`` value; raises :class:`DigestError`.

    The algorithm name is kept canonical; an unknown algorithm is kept verbatim (the challenge
    then reports ``supported == False`` and :func:`select_challenge` skips it).
    """
    try:
        parsed = _parse_auth_params(value)
    except SipParseError as exc:
        raise DigestError(f"malformed challenge: {exc.reason}") from exc
    if parsed.scheme.lower() != "digest":
        raise DigestError(f"not a Digest challenge (scheme {parsed.scheme!r})")
    params = parsed.params
    realm = params.get("realm")
    nonce = params.get("nonce")
    if realm is None or nonce is None:
        raise DigestError("challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5")
    algorithm = _CANONICAL.get(algorithm.upper(), algorithm)
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        userhash=params.get("userhash", "").lower() == "true",
        proxy=proxy,
    )


def parse_challenges(values: Iterable[str], *, proxy: bool = False) -> list[DigestChallenge]:
    """All parseable Digest challenges among ``values`` (others, e.g. Basic, are skipped)."""
    found: list[DigestChallenge] = []
    for value in values:
        try:
            found.append(parse_challenge(value, proxy=proxy))
        except DigestError:
            continue
    return found


def select_challenge(challenges: Iterable[DigestChallenge]) -> DigestChallenge | None:
    """The strongest supported challenge per realm order of appearance (RFC 8760 §2.4).

    Among challenges of the first realm seen, the strongest algorithm wins; ties keep the
    server's order (the server lists its preference first).
    """
    usable = [c for c in challenges if c.supported]
    if not usable:
        return None
    realm = usable[0].realm
    same_realm = [c for c in usable if c.realm == realm]
    best = same_realm[0]
    for candidate in same_realm[1:]:
        if candidate.strength > best.strength:
            best = candidate
    return best


def _default_cnonce() -> str:
    return secrets.token_hex(8)


@dataclass
class DigestClient:
    """One set of credentials and the per-nonce counters (one per SIP line).

    ``cnonce_factory`` may be replaced for deterministic tests.
    """

    username: str
    password: str = field(repr=False)
    cnonce_factory: Callable[[], str] = field(default=_default_cnonce, repr=False)
    max_nonces: int = 16
    _counts: OrderedDict[tuple[str, str], int] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _answered: dict[tuple[bool, str], str] = field(default_factory=dict, init=False, repr=False)

    def next_nc(self, challenge: DigestChallenge) -> int:
        """Increment and return the nonce count for ``challenge``'s nonce (1 on first use)."""
        key = (challenge.realm, challenge.nonce)
        count = self._counts.pop(key, 0) + 1
        if count > MAX_NONCE_COUNT:
            count = 1
        self._counts[key] = count
        while len(self._counts) > self.max_nonces:
            self._counts.popitem(last=False)
        return count

    def authorize(
        self, challenge: DigestChallenge, method: str, uri: str, body: bytes = b""
    ) -> tuple[str, str]:
        """Answer ``challenge`` for a request: returns ``(header name, header value)``."""
        if not challenge.supported:
            raise DigestError(f"unsupported challenge (algorithm {challenge.algorithm})")
        algorithm = challenge.algorithm
        qop: str | None = None
        if "auth" in challenge.qop:
            qop = "auth"
        elif "auth-int" in challenge.qop:
            qop = "auth-int"
        username = self.username
        if challenge.userhash:
            username = _hash(algorithm, f"{self.username}:{challenge.realm}")
        ha1 = compute_ha1(algorithm, self.username, challenge.realm, self.password)
        parts = [
            f"username={quote(username)}",
            f"realm={quote(challenge.realm)}",
            f"nonce={quote(challenge.nonce)}",
            f"uri={quote(uri)}",
        ]
        sess = _ALGORITHMS[_algorithm_key(algorithm)][1]
        nc_text = ""
        cnonce = ""
        if qop is not None or sess:
            cnonce = self.cnonce_factory()
        if qop is not None:
            nc_text = f"{self.next_nc(challenge):08x}"
        response = compute_response(
            algorithm=algorithm,
            ha1=ha1,
            nonce=challenge.nonce,
            method=method,
            uri=uri,
            qop=qop,
            nc=nc_text,
            cnonce=cnonce,
            body=body,
        )
        parts.append(f"response={quote(response)}")
        parts.append(f"algorithm={algorithm}")
        if cnonce:
            parts.append(f"cnonce={quote(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quote(challenge.opaque)}")
        if qop is not None:
            parts.append(f"qop={qop}")
            parts.append(f"nc={nc_text}")
        if challenge.userhash:
            parts.append("userhash=true")
        self._answered[(challenge.proxy, challenge.realm)] = challenge.nonce
        return challenge.request_header, "Digest " + ", ".join(parts)

    def rejected(self, challenge: DigestChallenge) -> bool:
        """True when ``challenge`` follows our own answer for its realm and is not stale.

        That is the server refusing the credentials (wrong user or password): stop retrying.
        Call it *before* :meth:`authorize` for the new challenge.
        """
        return (challenge.proxy, challenge.realm) in self._answered and not challenge.stale

    def reset(self) -> None:
        """Forget answered realms (e.g. after a success or on a new registration attempt)."""
        self._answered.clear()


# ---------------------------------------------------------------------------------------------
# Server side


class NonceState(enum.Enum):
    VALID = "valid"
    STALE = "stale"
    INVALID = "invalid"


_STAMP: Final = struct.Struct(">Q8s")
_MAC_LEN: Final = 16


class NonceIssuer:
    """Stateless, HMAC-signed, time-stamped nonces (plus a bounded ``nc`` replay table)."""

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: float = 300.0,
        salt_factory: Callable[[], bytes] | None = None,
        max_tracked: int = 4096,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("nonce secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime = lifetime
        self._salt = salt_factory or (lambda: secrets.token_bytes(8))
        self._max_tracked = max_tracked
        self._seen_nc: OrderedDict[str, int] = OrderedDict()

    def _mac(self, stamp: bytes, realm: str) -> bytes:
        digest = hmac.new(self._secret, stamp + realm.encode("utf-8"), hashlib.sha256).digest()
        return digest[:_MAC_LEN]

    def issue(self, now: float, realm: str) -> str:
        """A fresh nonce for ``realm`` at time ``now`` (seconds, any monotonic epoch)."""
        salt = self._salt()[:8].ljust(8, b"\0")
        stamp = _STAMP.pack(max(0, int(now * 1000)), salt)
        return base64.urlsafe_b64encode(stamp + self._mac(stamp, realm)).decode("ascii")

    def check(self, nonce: str, now: float, realm: str) -> NonceState:
        """VALID, STALE (authentic but older than the lifetime, or from the future) or INVALID."""
        if len(nonce) != 44:
            return NonceState.INVALID
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return NonceState.INVALID
        if len(raw) != _STAMP.size + _MAC_LEN:
            return NonceState.INVALID
        stamp, mac = raw[: _STAMP.size], raw[_STAMP.size :]
        if not hmac.compare_digest(mac, self._mac(stamp, realm)):
            return NonceState.INVALID
        issued_ms, _salt = _STAMP.unpack(stamp)
        age = now - issued_ms / 1000.0
        if age < -1.0 or age > self.lifetime:
            return NonceState.STALE
        return NonceState.VALID

    def accept_nc(self, nonce: str, nc: int) -> bool:
        """Record ``nc`` for ``nonce``; False when it does not exceed the last one (replay)."""
        last = self._seen_nc.pop(nonce, 0)
        if nc <= last:
            self._seen_nc[nonce] = last
            return False
        self._seen_nc[nonce] = nc
        while len(self._seen_nc) > self._max_tracked:
            self._seen_nc.popitem(last=False)
        return True


@dataclass(frozen=True)
class DigestCredentials:
    """A parsed ``Authorization``/``Proxy-Authorization`` value (the response is not repr-ed)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str = field(repr=False)
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str = ""
    cnonce: str = ""
    opaque: str | None = None
    userhash: bool = False


def parse_credentials(value: str) -> DigestCredentials:
    """Parse an ``Authorization`` value; raises :class:`DigestError` (answer 400)."""
    try:
        parsed = _parse_auth_params(value)
    except SipParseError as exc:
        raise DigestError(f"malformed credentials: {exc.reason}") from exc
    if parsed.scheme.lower() != "digest":
        raise DigestError("not Digest credentials")
    p = parsed.params
    missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in p]
    if missing:
        raise DigestError(f"credentials without {', '.join(missing)}")
    qop = p.get("qop")
    if qop is not None:
        qop = qop.lower()
        nc = p.get("nc", "")
        if qop not in ("auth", "auth-int") or "cnonce" not in p:
            raise DigestError("bad qop or missing cnonce")
        if len(nc) != 8 or any(c not in "0123456789abcdefABCDEF" for c in nc):
            raise DigestError("bad nc")
    algorithm = p.get("algorithm", "MD5")
    return DigestCredentials(
        username=p["username"],
        realm=p["realm"],
        nonce=p["nonce"],
        uri=p["uri"],
        response=p["response"],
        algorithm=_CANONICAL.get(algorithm.upper(), algorithm),
        qop=qop,
        nc=p.get("nc", ""),
        cnonce=p.get("cnonce", ""),
        opaque=p.get("opaque"),
        userhash=p.get("userhash", "").lower() == "true",
    )


class AuthOutcome(enum.Enum):
    OK = "ok"
    STALE = "stale"  # re-challenge with stale=true
    FAILED = "failed"  # wrong password / unknown user / replay: re-challenge (or 403)
    MALFORMED = "malformed"  # answer 400


@dataclass(frozen=True)
class AuthResult:
    outcome: AuthOutcome
    username: str | None = None
    reason: str = ""


class DigestServer:
    """Challenges and verifies Digest credentials for one realm (the embedded registrar).

    ``lookup(username)`` returns the user's password, or None for an unknown user.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        lifetime: float = 300.0,
        salt_factory: Callable[[], bytes] | None = None,
    ) -> None:
        self.realm = realm
        self.algorithms = tuple(_CANONICAL.get(a.upper(), a) for a in algorithms)
        for name in self.algorithms:
            if not algorithm_supported(name):
                raise ValueError(f"unsupported digest algorithm {name!r}")
        self.nonces = NonceIssuer(secret, lifetime=lifetime, salt_factory=salt_factory)

    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        """Header values for a 401/407, one per algorithm, strongest first, same nonce."""
        nonce = self.nonces.issue(now, self.realm)
        values = []
        for algorithm in self.algorithms:
            parts = [
                f"realm={quote(self.realm)}",
                f"nonce={quote(nonce)}",
                f"algorithm={algorithm}",
                'qop="auth"',
            ]
            if stale:
                parts.append("stale=true")
            values.append("Digest " + ", ".join(parts))
        return values

    def verify(
        self,
        value: str,
        method: str,
        lookup: Callable[[str], str | None],
        now: float,
        *,
        body: bytes = b"",
        request_uri: str | None = None,
    ) -> AuthResult:
        """Check one ``Authorization`` value for ``method`` at ``now``."""
        try:
            creds = parse_credentials(value)
        except DigestError as exc:
            return AuthResult(AuthOutcome.MALFORMED, reason=exc.reason)
        if creds.realm != self.realm:
            return AuthResult(AuthOutcome.FAILED, creds.username, "wrong realm")
        if creds.algorithm not in self.algorithms:
            return AuthResult(AuthOutcome.FAILED, creds.username, "algorithm not offered")
        if creds.userhash:
            return AuthResult(AuthOutcome.FAILED, creds.username, "userhash not offered")
        if request_uri is not None and creds.uri != request_uri:
            return AuthResult(AuthOutcome.MALFORMED, creds.username, "uri mismatch")
        password = lookup(creds.username)
        if password is None:
            return AuthResult(AuthOutcome.FAILED, creds.username, "unknown user")
        state = self.nonces.check(creds.nonce, now, self.realm)
        if state is NonceState.INVALID:
            return AuthResult(AuthOutcome.FAILED, creds.username, "nonce not ours")
        expected = compute_response(
            algorithm=creds.algorithm,
            ha1=compute_ha1(creds.algorithm, creds.username, self.realm, password),
            nonce=creds.nonce,
            method=method,
            uri=creds.uri,
            qop=creds.qop,
            nc=creds.nc,
            cnonce=creds.cnonce,
            body=body,
        )
        if not hmac.compare_digest(expected.encode("ascii"), creds.response.lower().encode()):
            return AuthResult(AuthOutcome.FAILED, creds.username, "wrong response")
        if state is NonceState.STALE:
            return AuthResult(AuthOutcome.STALE, creds.username, "nonce expired")
        if creds.qop is not None and not self.nonces.accept_nc(creds.nonce, int(creds.nc, 16)):
            return AuthResult(AuthOutcome.STALE, creds.username, "nonce count replayed")
        return AuthResult(AuthOutcome.OK, creds.username)
