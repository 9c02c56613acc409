"""Sans-IO registration client for one line (RFC 3261 §10, RFC 3581, RFC 5626 keep-alive).

Theory of operation
-------------------
A :class:`Registration` keeps one line registered with its registrar. It builds REGISTER
requests (one Call-ID for the line's lifetime, CSeq incremented per request, §10.2.4); the
driver hands them to the transaction layer (which retransmits and times out) and feeds back
what happened: :meth:`receive_response` for a final response, :meth:`request_failed` for a
timeout or transport error. Time is always an argument; the driver re-arms one timer at
:meth:`get_timer` and calls :meth:`handle_timer`.

States (transition table :data:`TRANSITIONS`)::

    IDLE --start--> REGISTERING --2xx--> REGISTERED --refresh due--> REFRESHING --2xx--+
                      |   ^                  ^                          |               |
                      |   +---retry due--- FAILED <--failure------------+               |
                      +--credentials rejected--> AUTH_FAILED --retry due (long)--+      |
                                                 REGISTERED <-----------------------------+
    any --stop--> UNREGISTERING (REGISTER expires=0) --final/timeout--> STOPPED

Within an attempt, a 401/407 is answered with Digest credentials (strongest algorithm offered,
see :mod:`ata.sip.digest`) and a 423 with the registrar's Min-Expires; neither changes the
state. A challenge after *fresh* credentials that is not ``stale=true`` means the password is
wrong: AUTH_FAILED, ``status`` 401/407, retried only after ``retry_after_auth_failure``. Other
failures retry with exponential backoff from ``retry_interval`` (``retry_after_forbidden``
after a 403; a 503's Retry-After is honoured). The last challenge is kept and answered
pre-emptively on refreshes (nonce count incremented).

Refresh happens at half the granted expiry, or ``refresh_margin`` before it when that is
earlier, never sooner than a quarter of it (:func:`refresh_delay`). The
granted expiry is our Contact's ``expires`` in the 2xx, else the Expires header, else what we
asked for. NAT: the 2xx's top Via ``received``/``rport`` tell us our public address; when it
differs from the Contact, the Contact is rewritten and a new REGISTER sent at once (the old
binding is removed in the same request). Keep-alive: every ``keepalive_interval`` while
registered, a :class:`KeepAliveDue` event (CRLF, sent by the driver) or an OPTIONS request;
``keepalive_max_lost`` unanswered OPTIONS in a row start a new registration.

Observability: ``state``, ``status`` and ``reason`` of the last final response,
``expires_at``, :meth:`time_to_refresh`, and :class:`StateChanged` events.
"""

from __future__ import annotations

import enum
import random
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ata.sip.digest import (
    DigestChallenge,
    DigestClient,
    DigestError,
    parse_challenges,
    select_challenge,
)
from ata.sip.errors import SipParseError
from ata.sip.fields import Headers
from ata.sip.headers import MAGIC_COOKIE, CSeq, NameAddr, Via
from ata.sip.message import Request, Response
from ata.sip.uri import SipURI

MAX_AUTH_ROUNDS: Final = 3
USER_AGENT: Final = "pi-ata"


class RegState(enum.Enum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    REFRESHING = "refreshing"
    FAILED = "failed"
    AUTH_FAILED = "auth_failed"
    UNREGISTERING = "unregistering"
    STOPPED = "stopped"


class RegInput(enum.Enum):
    START = "start"
    SUCCESS = "success"
    FAILURE = "failure"
    AUTH_REJECTED = "auth_rejected"
    REFRESH_DUE = "refresh_due"
    RETRY_DUE = "retry_due"
    STOP = "stop"


_S, _I = RegState, RegInput
TRANSITIONS: Final[dict[tuple[RegState, RegInput], RegState]] = {
    (_S.IDLE, _I.START): _S.REGISTERING,
    (_S.STOPPED, _I.START): _S.REGISTERING,
    (_S.REGISTERING, _I.SUCCESS): _S.REGISTERED,
    (_S.REGISTERING, _I.FAILURE): _S.FAILED,
    (_S.REGISTERING, _I.AUTH_REJECTED): _S.AUTH_FAILED,
    (_S.REGISTERED, _I.REFRESH_DUE): _S.REFRESHING,
    (_S.REGISTERED, _I.FAILURE): _S.FAILED,
    (_S.REFRESHING, _I.SUCCESS): _S.REGISTERED,
    (_S.REFRESHING, _I.FAILURE): _S.FAILED,
    (_S.REFRESHING, _I.AUTH_REJECTED): _S.AUTH_FAILED,
    (_S.FAILED, _I.RETRY_DUE): _S.REGISTERING,
    (_S.AUTH_FAILED, _I.RETRY_DUE): _S.REGISTERING,
    (_S.IDLE, _I.STOP): _S.STOPPED,
    (_S.REGISTERING, _I.STOP): _S.UNREGISTERING,
    (_S.REGISTERED, _I.STOP): _S.UNREGISTERING,
    (_S.REFRESHING, _I.STOP): _S.UNREGISTERING,
    (_S.FAILED, _I.STOP): _S.STOPPED,
    (_S.AUTH_FAILED, _I.STOP): _S.STOPPED,
    (_S.UNREGISTERING, _I.SUCCESS): _S.STOPPED,
    (_S.UNREGISTERING, _I.FAILURE): _S.STOPPED,
    (_S.UNREGISTERING, _I.AUTH_REJECTED): _S.STOPPED,
}


@dataclass(frozen=True)
class RegistrationConfig:
    """One line's registration settings.

    ``aor`` is the address of record (``sip:user@domain``); ``registrar`` the Request-URI
    (``sip:domain``, default: the AOR's domain); ``outbound_proxy`` (``sip:proxy``) adds a
    loose Route header — the driver sends to it. ``auth_username`` defaults to the AOR's user.
    """

    aor: SipURI
    password: str = field(repr=False)
    auth_username: str | None = None
    registrar: SipURI | None = None
    outbound_proxy: SipURI | None = None
    display_name: str | None = None
    expires: int = 3600
    refresh_margin: float = 32.0
    retry_interval: float = 30.0
    retry_max: float = 1800.0
    retry_after_forbidden: float = 1200.0
    retry_after_auth_failure: float = 1200.0
    keepalive: str | None = None  # None, "crlf" or "options"
    keepalive_interval: float = 15.0
    keepalive_max_lost: int = 3
    nat_learning: bool = True
    user_agent: str = USER_AGENT

    @property
    def request_uri(self) -> SipURI:
        if self.registrar is not None:
            return self.registrar
        return SipURI(host=self.aor.host, port=self.aor.port, scheme=self.aor.scheme)


@dataclass(frozen=True)
class StateChanged:
    old: RegState
    new: RegState
    status: int | None
    reason: str


@dataclass(frozen=True)
class KeepAliveDue:
    """Send a CRLF keep-alive towards the registrar/outbound proxy now."""


@dataclass(frozen=True)
class BindingsReported:
    """The registrar's answer to a query: every contact bound to the AOR."""

    contacts: tuple[NameAddr, ...]


RegistrationEvent = StateChanged | KeepAliveDue | BindingsReported


class Purpose(enum.Enum):
    REGISTER = "register"
    UNREGISTER = "unregister"
    QUERY = "query"
    OPTIONS = "options"


def refresh_delay(granted: float, margin: float) -> float:
    """When to refresh a binding granted for ``granted`` s: at half of it, or ``margin`` s
    before expiry when that is earlier, but never sooner than a quarter (or 1 s)."""
    return max(min(granted / 2.0, granted - margin), granted / 4.0, 1.0)


def _new_id() -> str:
    return secrets.token_hex(8)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Registration:
    """One line's registration; see the module docstring."""

    def __init__(
        self,
        config: RegistrationConfig,
        local: tuple[str, int],
        transport: str = "udp",
        *,
        new_id: Callable[[], str] = _new_id,
        rng: random.Random | None = None,
    ) -> None:
        if config.aor.user is None:
            raise ValueError("the address of record needs a user part")
        self.config = config
        self.transport = transport.lower()
        self.local = local
        self.contact_address = local  # host/port written in the Contact (NAT-corrected)
        self._new_id = new_id
        self._rng = rng or random.Random()
        self.call_id = f"{new_id()}@pi-ata"
        self.from_tag = new_id()
        self.cseq = self._rng.randint(1, 10000)
        self.auth = DigestClient(config.auth_username or config.aor.user, config.password)
        self.state = RegState.IDLE
        self.status: int | None = None
        self.reason = ""
        self.expires = config.expires
        self.expires_at: float | None = None
        self.granted: int | None = None
        self.failures = 0
        self.keepalive_lost = 0
        self.keepalives_answered = 0
        self._deadline: float | None = None  # refresh or retry
        self._keepalive_at: float | None = None
        self._out: list[Request] = []
        self._events: deque[RegistrationEvent] = deque()
        self._pending: dict[int, Purpose] = {}  # CSeq number -> what it was for
        self._challenges: dict[bool, DigestChallenge] = {}  # proxy? -> last challenge
        self._auth_rounds = 0
        # (proxy?, realm) answered with credentials from a challenge in this very attempt
        self._fresh: set[tuple[bool, str]] = set()
        self._stale_contacts: list[tuple[str, int]] = []

    # -- observability -------------------------------------------------------------------

    def time_to_refresh(self, now: float) -> float | None:
        """Seconds until the next REGISTER (refresh or retry), None when none is planned."""
        return None if self._deadline is None else max(0.0, self._deadline - now)

    @property
    def registered(self) -> bool:
        return self.state in (RegState.REGISTERED, RegState.REFRESHING)

    # -- sans-IO interface ---------------------------------------------------------------

    def requests_to_send(self) -> list[Request]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> RegistrationEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [t for t in (self._deadline, self._keepalive_at) if t is not None]
        return min(times) if times else None

    def owns(self, message: Request | Response) -> bool:
        """True when ``message`` belongs to this registration (same Call-ID)."""
        try:
            return message.call_id == self.call_id
        except SipParseError:
            return False

    def purpose_of(self, cseq: int) -> Purpose | None:
        return self._pending.get(cseq)

    def start(self, now: float) -> None:
        self._input(RegInput.START, None, "")
        self._begin_attempt(now)

    def stop(self, now: float) -> None:
        """Un-REGISTER (expires=0) when registered or registering, else just stop."""
        self._keepalive_at = None
        self._deadline = None
        was = self.state
        self._input(RegInput.STOP, None, "stopping")
        if self.state is RegState.UNREGISTERING and was is not RegState.UNREGISTERING:
            self._auth_rounds = 0
            self._fresh.clear()
            self._send(Purpose.UNREGISTER)

    def query(self, now: float) -> None:
        """Ask the registrar for the current bindings (REGISTER without Contact)."""
        self._auth_rounds = 0
        self._fresh.clear()
        self._send(Purpose.QUERY)

    def update_local_address(self, local: tuple[str, int], now: float) -> None:
        """The transport's local address changed (new connection, new interface)."""
        if local == self.local:
            return
        self.local = local
        if self.contact_address != local:
            self._stale_contacts.append(self.contact_address)
        self.contact_address = local
        if self.registered:
            self._begin_attempt(now)

    def handle_timer(self, now: float) -> None:
        if self._keepalive_at is not None and now >= self._keepalive_at:
            self._keepalive_at = now + self.config.keepalive_interval
            if self.config.keepalive == "options":
                self._send(Purpose.OPTIONS)
            elif self.config.keepalive == "crlf":
                self._events.append(KeepAliveDue())
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            if self.state is RegState.REGISTERED:
                self._input(RegInput.REFRESH_DUE, None, "refresh")
                self._begin_attempt(now)
            elif self.state in (RegState.FAILED, RegState.AUTH_FAILED):
                self._input(RegInput.RETRY_DUE, None, "retry")
                self._begin_attempt(now)

    def receive_response(self, response: Response, now: float) -> None:
        """A response to one of our requests (provisional ones are ignored)."""
        if response.status < 200:
            return
        try:
            cseq = response.cseq
        except SipParseError:
            return
        purpose = self._pending.get(cseq.seq)
        expected = "OPTIONS" if purpose is Purpose.OPTIONS else "REGISTER"
        if purpose is None or cseq.method != expected:
            return
        del self._pending[cseq.seq]
        if purpose is Purpose.REGISTER and self.state in (
            RegState.UNREGISTERING,
            RegState.STOPPED,
        ):
            return  # a late answer to a REGISTER sent before stop(): the un-REGISTER decides
        if purpose is Purpose.OPTIONS:
            self.keepalive_lost = 0  # any answer proves the path is alive
            self.keepalives_answered += 1
            return
        status = response.status
        if status in (401, 407):
            self._on_challenge(response, purpose, now)
        elif status == 423 and purpose is not Purpose.QUERY:
            self._on_interval_too_brief(response, purpose, now)
        elif 200 <= status < 300:
            self._remember(status, response.reason)
            self._on_success(response, purpose, now)
        else:
            self._remember(status, response.reason)
            self._on_failure(status, response, purpose, now)

    def request_failed(self, cseq: int, now: float, status: int = 408, reason: str = "") -> None:
        """The request with CSeq ``cseq`` timed out (408) or could not be sent (503)."""
        purpose = self._pending.pop(cseq, None)
        if purpose is None:
            return
        if purpose is Purpose.OPTIONS:
            self.keepalive_lost += 1
            if self.keepalive_lost >= self.config.keepalive_max_lost and self.registered:
                self._remember(status, reason or "keep-alive lost")
                self.failures += 1
                self._input(RegInput.FAILURE, status, self.reason)
                self._schedule_retry(now, self.config.retry_interval / 10)
            return
        if purpose is Purpose.REGISTER and self.state in (
            RegState.UNREGISTERING,
            RegState.STOPPED,
        ):
            return
        self._remember(status, reason or ("Request Timeout" if status == 408 else "No route"))
        self._on_failure(status, None, purpose, now)

    # -- internals -----------------------------------------------------------------------

    def _remember(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason

    def _input(self, inp: RegInput, status: int | None, reason: str) -> None:
        new = TRANSITIONS.get((self.state, inp))
        if new is None or new is self.state:
            return
        old, self.state = self.state, new
        self._events.append(StateChanged(old, new, status, reason))

    def _begin_attempt(self, now: float) -> None:
        self._auth_rounds = 0
        self._fresh.clear()
        self._send(Purpose.REGISTER)

    def _contact_uri(self, address: tuple[str, int] | None = None) -> SipURI:
        host, port = address or self.contact_address
        params: dict[str, str | None] = {}
        if self.transport != "udp":
            params["transport"] = self.transport
        scheme = "sips" if self.transport == "tls" and self.config.aor.secure else "sip"
        return SipURI(
            host=_bracket(host), user=self.config.aor.user, port=port, scheme=scheme, params=params
        )

    def _build(self, purpose: Purpose) -> Request:
        cfg = self.config
        self.cseq += 1
        method = "OPTIONS" if purpose is Purpose.OPTIONS else "REGISTER"
        via = Via(
            self.transport.upper(),
            _bracket(self.local[0]),
            self.local[1],
            {"branch": MAGIC_COOKIE + self._new_id(), "rport": None},
        )
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", 70)
        if cfg.outbound_proxy is not None:
            headers.add("Route", f"<{cfg.outbound_proxy.with_params(lr=None)}>")
        aor = SipURI(host=cfg.aor.host, user=cfg.aor.user, port=cfg.aor.port, scheme=cfg.aor.scheme)
        headers.add("From", NameAddr(aor, cfg.display_name, {"tag": self.from_tag}))
        headers.add("To", NameAddr(aor, cfg.display_name))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", CSeq(self.cseq, method))
        if purpose is Purpose.REGISTER:
            contacts = [f"<{self._contact_uri()}>"]
            contacts += [f"<{self._contact_uri(old)}>;expires=0" for old in self._stale_contacts]
            headers.add("Contact", ", ".join(contacts))
            headers.add("Expires", self.expires)
        elif purpose is Purpose.UNREGISTER:
            headers.add("Contact", f"<{self._contact_uri()}>")
            headers.add("Expires", 0)
        headers.add("User-Agent", cfg.user_agent)
        request = Request(method, cfg.request_uri, headers)
        for challenge in list(self._challenges.values()):
            try:
                name, value = self.auth.authorize(challenge, method, str(request.uri))
            except DigestError:
                del self._challenges[challenge.proxy]
                continue
            request.headers.add(name, value)
        return request

    def _send(self, purpose: Purpose) -> None:
        request = self._build(purpose)
        self._pending[self.cseq] = purpose
        for old in sorted(self._pending)[:-8]:  # only the newest few can still be answered
            del self._pending[old]
        self._out.append(request)

    def _on_challenge(self, response: Response, purpose: Purpose, now: float) -> None:
        proxy = response.status == 407
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        challenge = select_challenge(parse_challenges(response.headers.get_all(name), proxy=proxy))
        self._auth_rounds += 1
        if (
            challenge is None
            or ((challenge.proxy, challenge.realm) in self._fresh and not challenge.stale)
            or self._auth_rounds > MAX_AUTH_ROUNDS
        ):
            self._remember(response.status, response.reason)
            if challenge is None:
                self.reason = f"{response.reason} (no usable Digest challenge)"
            self._challenges.pop(proxy, None)
            if purpose is Purpose.QUERY:
                return
            self._input(RegInput.AUTH_REJECTED, response.status, self.reason)
            if self.state is RegState.AUTH_FAILED:
                self._stop_keepalive()
                self.expires_at = None
                self._deadline = now + self.config.retry_after_auth_failure
            return
        self._challenges[proxy] = challenge
        self._fresh.add((challenge.proxy, challenge.realm))
        self._send(purpose)

    def _on_interval_too_brief(self, response: Response, purpose: Purpose, now: float) -> None:
        value = (response.headers.get("Min-Expires") or "").strip()
        minimum = int(value) if value.isdigit() and len(value) < 10 else None
        if minimum is None or minimum <= self.expires:
            self._remember(423, response.reason)
            self._on_failure(423, response, purpose, now)
            return
        self.expires = minimum
        self._send(purpose)

    def _granted(self, response: Response) -> int:
        mine = self._contact_uri()
        try:
            contacts = response.contacts
        except SipParseError:
            contacts = []
        for contact in contacts:
            uri = contact.uri
            if (
                isinstance(uri, SipURI)
                and uri.host_bare == mine.host_bare
                and (uri.port or 5060) == (mine.port or 5060)
                and uri.user == mine.user
                and contact.expires is not None
            ):
                return contact.expires
        try:
            header = response.expires
        except SipParseError:
            header = None
        return header if header is not None else self.expires

    def _learn_nat(self, response: Response) -> bool:
        """Rewrite the Contact from the Via's received/rport; True when it changed."""
        if not self.config.nat_learning:
            return False
        try:
            via = response.top_via
        except SipParseError:
            return False
        if via.received is None and via.rport is None:
            return False
        learned = (
            (via.received or self.contact_address[0]).strip("[]"),
            via.rport or self.contact_address[1],
        )
        if learned == self.contact_address:
            return False
        self._stale_contacts.append(self.contact_address)
        self.contact_address = learned
        return True

    def _on_success(self, response: Response, purpose: Purpose, now: float) -> None:
        self.failures = 0
        if purpose is Purpose.QUERY:
            try:
                contacts = tuple(response.contacts)
            except SipParseError:
                contacts = ()
            self._events.append(BindingsReported(contacts))
            return
        if purpose is Purpose.UNREGISTER:
            self.expires_at = None
            self._input(RegInput.SUCCESS, response.status, response.reason)
            return
        if self._learn_nat(response):
            self._begin_attempt(now)
            return
        self._stale_contacts.clear()
        granted = self._granted(response)
        self.granted = granted
        if granted <= 0:
            self._remember(response.status, "registrar removed our binding")
            self.failures += 1
            self._input(RegInput.FAILURE, response.status, self.reason)
            self._schedule_retry(now, None)
            return
        self.expires_at = now + granted
        self._deadline = now + refresh_delay(granted, self.config.refresh_margin)
        self._input(RegInput.SUCCESS, response.status, response.reason)
        if self.config.keepalive and self._keepalive_at is None:
            self._keepalive_at = now + self.config.keepalive_interval

    def _on_failure(
        self, status: int, response: Response | None, purpose: Purpose, now: float
    ) -> None:
        if purpose is Purpose.QUERY:
            return
        if purpose is Purpose.UNREGISTER:
            self._input(RegInput.FAILURE, status, self.reason)
            return
        self.failures += 1
        self._input(RegInput.FAILURE, status, self.reason)
        retry_after = None
        if response is not None and status in (500, 503, 603):
            head = (response.headers.get("Retry-After") or "").split(";")[0].strip()
            if head.isdigit() and len(head) < 8:
                retry_after = float(head)
        if status == 403:
            retry_after = self.config.retry_after_forbidden
        self._schedule_retry(now, retry_after)

    def _schedule_retry(self, now: float, fixed: float | None) -> None:
        self._stop_keepalive()
        self.expires_at = None
        if fixed is not None:
            delay = fixed
        else:
            base = self.config.retry_interval * (2 ** min(max(self.failures - 1, 0), 10))
            delay = min(self.config.retry_max, base) * (0.8 + 0.4 * self._rng.random())
        self._deadline = now + delay

    def _stop_keepalive(self) -> None:
        self._keepalive_at = None
        self.keepalive_lost = 0
