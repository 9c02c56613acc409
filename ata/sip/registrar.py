"""Embedded registrar, location service and stateless proxy core (standalone mode), sans-IO.

Theory of operation
-------------------
In standalone mode pi-ata is its own SIP server: phones (its own lines, or any SIP phone on
the LAN) register with it and call each other through it. :class:`RegistrarCore` takes one
parsed message plus the :class:`Flow` it arrived on and returns :data:`Action` s — a
:class:`Reply` sent back on that flow, or a :class:`Forward` to a next hop. The runtime
(:mod:`ata.runtime.sip_registrar`) does the I/O and DNS.

*Registrar* (RFC 3261 §10.3): REGISTER for our domain is Digest-authenticated
(:class:`ata.sip.digest.DigestServer`, 401 with ``stale=true`` for an expired nonce; the
authenticated user must be the To user, else 403). Contacts are added, refreshed or removed
(``expires=0``, ``Contact: *``); an expiry below ``min_expires`` gets 423 with Min-Expires,
above ``max_expires`` is lowered. A REGISTER without Contact is a query. The 200 lists every
binding with its remaining time. The last answer per (Call-ID, CSeq, branch) is cached so a
retransmitted REGISTER gets the same response (no nonce-count replay flap).

*Location service*: :class:`LocationService` — per user at most ``max_bindings`` bindings,
each remembering the flow it was registered over (source address, transport, connection), so
requests reach phones behind NAT and over their own TCP connection.

*Proxy* (stateless, RFC 3261 §16.11 — documented limitation: no forking, no 100 Trying, no
failover to a second contact; retransmissions are end-to-end): requests get Max-Forwards
checked (483) and decremented, our Route entries removed (loose routing), our Via pushed with
a branch derived from the incoming branch (so a retransmission and its CANCEL/ACK get the
same one). Initial requests from our users need Proxy-Authorization (407); strangers may only
call our users (no open relay: 403). The Request-URI of our domain is looked up: unknown user
→ 404, known but not registered → 480, else the request goes to the best binding (highest q,
newest). Dialog-creating requests are record-routed (two Record-Route entries when the
transport changes, RFC 5658). Responses have our Via removed and go to the next Via
(``received``/``rport`` honoured).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from ata.sip.digest import AuthOutcome, DigestServer
from ata.sip.errors import SipError
from ata.sip.headers import MAGIC_COOKIE, Via
from ata.sip.message import Request, Response, make_response
from ata.sip.uri import SipURI

RECORD_ROUTED: Final = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})
NO_AUTH: Final = frozenset({"ACK", "CANCEL", "BYE", "PRACK"})
RESPONSE_CACHE: Final = 512

Address = tuple[str, int]


@dataclass(frozen=True)
class Flow:
    """How a message reached us: transport, remote address, stream connection id."""

    transport: str
    address: Address
    connection: int | None = None


@dataclass(frozen=True)
class Reply:
    response: Response
    flow: Flow


@dataclass(frozen=True)
class Forward:
    """Send ``message`` to ``host``/``port`` (None: resolve by RFC 3263) over ``transport``."""

    message: Request | Response
    host: str
    port: int | None
    transport: str
    flow: Flow | None = None  # an existing flow to reuse (registered contact)


Action = Reply | Forward


@dataclass
class Binding:
    uri: SipURI
    expires_at: float
    call_id: str
    cseq: int
    flow: Flow
    q: float = 1.0
    updated: float = 0.0


class LocationService:
    """Bindings per user with expiry; bounded per user."""

    def __init__(self, max_bindings: int = 10) -> None:
        self.max_bindings = max_bindings
        self._bindings: dict[str, list[Binding]] = {}

    def expire(self, now: float) -> None:
        for user in list(self._bindings):
            alive = [b for b in self._bindings[user] if b.expires_at > now]
            if alive:
                self._bindings[user] = alive
            else:
                del self._bindings[user]

    def lookup(self, user: str, now: float) -> list[Binding]:
        """Live bindings of ``user``, best first (highest q, then most recently updated)."""
        alive = [b for b in self._bindings.get(user, []) if b.expires_at > now]
        return sorted(alive, key=lambda b: (-b.q, -b.updated))

    def find(self, user: str, uri: SipURI) -> Binding | None:
        for binding in self._bindings.get(user, []):
            if _same_contact(binding.uri, uri):
                return binding
        return None

    def put(self, user: str, binding: Binding) -> bool:
        """Add or replace a binding; False when the user has too many already."""
        bindings = self._bindings.setdefault(user, [])
        for index, existing in enumerate(bindings):
            if _same_contact(existing.uri, binding.uri):
                bindings[index] = binding
                return True
        if len(bindings) >= self.max_bindings:
            return False
        bindings.append(binding)
        return True

    def remove(self, user: str, uri: SipURI | None = None) -> None:
        if uri is None:
            self._bindings.pop(user, None)
            return
        kept = [b for b in self._bindings.get(user, []) if not _same_contact(b.uri, uri)]
        if kept:
            self._bindings[user] = kept
        else:
            self._bindings.pop(user, None)

    def next_expiry(self) -> float | None:
        times = [b.expires_at for bs in self._bindings.values() for b in bs]
        return min(times) if times else None

    def users(self) -> list[str]:
        return list(self._bindings)


def _same_contact(a: SipURI, b: SipURI) -> bool:
    return (
        a.scheme.lower() == b.scheme.lower()
        and a.user == b.user
        and a.host_bare.lower() == b.host_bare.lower()
        and (a.port or 5060) == (b.port or 5060)
        and (a.transport or "udp") == (b.transport or "udp")
    )


@dataclass(frozen=True)
class RegistrarConfig:
    """``domain`` is the SIP domain and realm; ``local`` maps transport → our (host, port)."""

    domain: str
    users: Mapping[str, str] = field(repr=False)
    secret: bytes = field(repr=False)
    local: Mapping[str, Address] = field(default_factory=dict)
    aliases: frozenset[str] = frozenset()
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_bindings: int = 10
    authenticate_requests: bool = True
    nonce_lifetime: float = 300.0
    # MD5 only by default: older phones fail on any challenge with another algorithm
    # (baresip 1.0/libre answers ENOSYS even when an MD5 one is also offered); set
    # ("SHA-256", "MD5") when every phone is RFC 8760-aware (pi-ata's client is).
    algorithms: tuple[str, ...] = ("MD5",)


class RegistrarCore:
    """Registrar + location service + stateless proxy; see the module docstring."""

    def __init__(self, config: RegistrarConfig) -> None:
        self.config = config
        self.digest = DigestServer(
            config.domain,
            config.secret,
            algorithms=config.algorithms,
            lifetime=config.nonce_lifetime,
        )
        self.location = LocationService(config.max_bindings)
        self._cache: OrderedDict[tuple[str, int, str], Response] = OrderedDict()
        self.stats: dict[str, int] = {
            "registers": 0,
            "challenges": 0,
            "auth_failures": 0,
            "forwarded_requests": 0,
            "forwarded_responses": 0,
            "not_found": 0,
            "unavailable": 0,
            "dropped": 0,
        }

    # -- identity ------------------------------------------------------------------------

    def _is_our_domain(self, host: str) -> bool:
        host = host.strip("[]").lower()
        return host == self.config.domain.lower() or host in self.config.aliases

    def _for_our_domain(self, uri: SipURI) -> bool:
        """Addressed to a user of our domain (not to a contact that shares the domain's IP)."""
        return self._is_our_domain(uri.host) and (uri.port is None or self._is_us(uri))

    def _is_us(self, uri: SipURI) -> bool:
        host = uri.host_bare.lower()
        port = uri.port or (5061 if uri.secure else 5060)
        for local_host, local_port in self.config.local.values():
            if host == local_host.lower() and port == local_port:
                return True
        return f"{host}:{port}" in self.config.aliases

    def get_timer(self) -> float | None:
        return self.location.next_expiry()

    def handle_timer(self, now: float) -> None:
        self.location.expire(now)

    # -- entry point ---------------------------------------------------------------------

    def handle(self, message: Request | Response, flow: Flow, now: float) -> list[Action]:
        """Process one message; never raises for bad input (answers 400 or drops)."""
        try:
            if isinstance(message, Response):
                return self._response(message)
            # the headers everything below relies on must be readable: else 400 here
            _ = (message.cseq, message.call_id, message.from_, message.to, message.top_via)
            return self._request(message, flow, now)
        except SipError as exc:
            if isinstance(message, Request) and message.method != "ACK":
                try:
                    return [
                        Reply(
                            make_response(message, exc.status if exc.status >= 400 else 400), flow
                        )
                    ]
                except SipError:
                    pass
            self.stats["dropped"] += 1
            return []

    # -- registrar -----------------------------------------------------------------------

    def _reply(self, request: Request, flow: Flow, status: int, **kwargs: object) -> list[Action]:
        response = make_response(request, status, to_tag=_to_tag(request), **kwargs)  # type: ignore[arg-type]
        return [Reply(response, flow)]

    def _register(self, request: Request, flow: Flow, now: float) -> list[Action]:
        self.stats["registers"] += 1
        key = (request.call_id, request.cseq.seq, request.top_via.branch or "")
        cached = self._cache.get(key)
        if cached is not None:
            return [Reply(cached, flow)]
        actions = self._register_uncached(request, flow, now)
        for action in actions:
            if isinstance(action, Reply):
                self._cache[key] = action.response
                while len(self._cache) > RESPONSE_CACHE:
                    self._cache.popitem(last=False)
        return actions

    def _authenticate(
        self, request: Request, flow: Flow, now: float, proxy: bool
    ) -> tuple[str | None, list[Action]]:
        """(authenticated user, []) or (None, the challenge/answer to send)."""
        name = "Proxy-Authorization" if proxy else "Authorization"
        challenge_header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        status = 407 if proxy else 401
        values = [
            v
            for v in request.headers.get_all(name)
            if f'realm="{self.config.domain}"' in v or f"realm={self.config.domain}" in v
        ]
        stale = False
        for value in values[:1]:
            result = self.digest.verify(
                value, request.method, self.config.users.get, now, body=request.body
            )
            if result.outcome is AuthOutcome.OK:
                return result.username, []
            if result.outcome is AuthOutcome.MALFORMED:
                return None, self._reply(request, flow, 400)
            if result.outcome is AuthOutcome.STALE:
                stale = True
            else:
                self.stats["auth_failures"] += 1
        self.stats["challenges"] += 1
        headers = [(challenge_header, v) for v in self.digest.challenges(now, stale=stale)]
        return None, self._reply(request, flow, status, headers=headers)

    def _register_uncached(self, request: Request, flow: Flow, now: float) -> list[Action]:
        uri = request.uri
        if not isinstance(uri, SipURI) or not self._is_our_domain(uri.host):
            return self._reply(request, flow, 404, reason="Not Our Domain")
        to_uri = request.to.uri
        if not isinstance(to_uri, SipURI) or to_uri.user is None:
            return self._reply(request, flow, 404)
        aor_user = to_uri.user_decoded or ""
        if aor_user not in self.config.users or not self._is_our_domain(to_uri.host):
            return self._reply(request, flow, 404)
        user, challenge = self._authenticate(request, flow, now, proxy=False)
        if user is None:
            return challenge
        if user != aor_user:
            return self._reply(request, flow, 403, reason="Wrong User For This AOR")
        header_expires = request.expires
        default = header_expires if header_expires is not None else self.config.default_expires
        if request.contact_star:
            if header_expires != 0:
                return self._reply(request, flow, 400, reason="Contact * needs Expires: 0")
            self.location.remove(aor_user)
            return self._bindings_reply(request, flow, aor_user, now)
        changes: list[tuple[SipURI, int]] = []
        for contact in request.contacts:
            if not isinstance(contact.uri, SipURI):
                return self._reply(request, flow, 400, reason="Contact must be a SIP URI")
            expires = contact.expires if contact.expires is not None else default
            if 0 < expires < self.config.min_expires:
                return self._reply(
                    request, flow, 423, headers=[("Min-Expires", self.config.min_expires)]
                )
            changes.append((contact.uri, min(expires, self.config.max_expires)))
        cseq = request.cseq.seq
        for contact_uri, expires in changes:
            existing = self.location.find(aor_user, contact_uri)
            if (
                existing is not None
                and existing.call_id == request.call_id
                and existing.cseq >= cseq
            ):
                return self._reply(request, flow, 500, reason="Out Of Order CSeq")
            if expires == 0:
                self.location.remove(aor_user, contact_uri)
                continue
            binding = Binding(contact_uri, now + expires, request.call_id, cseq, flow, 1.0, now)
            if not self.location.put(aor_user, binding):
                return self._reply(request, flow, 403, reason="Too Many Registrations")
        return self._bindings_reply(request, flow, aor_user, now)

    def _bindings_reply(self, request: Request, flow: Flow, user: str, now: float) -> list[Action]:
        contacts = [
            ("Contact", f"<{b.uri}>;expires={max(0, int(b.expires_at - now))}")
            for b in self.location.lookup(user, now)
        ]
        return self._reply(request, flow, 200, headers=contacts)

    # -- proxy: requests -----------------------------------------------------------------

    def _request(self, request: Request, flow: Flow, now: float) -> list[Action]:
        uri = request.uri
        if request.method == "REGISTER":
            return self._register(request, flow, now)
        if request.method == "ACK" and request.to.tag == _to_tag(request):
            return []  # the ACK for one of our own final answers (401/407/404/480...)
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0:
            if request.method == "ACK":
                return []
            return self._reply(request, flow, 483)
        routes = request.routes
        popped = 0
        while popped < len(routes) and isinstance(routes[popped].uri, SipURI):
            route_uri = routes[popped].uri
            if not (isinstance(route_uri, SipURI) and self._is_us(route_uri)):
                break
            popped += 1
        if isinstance(uri, SipURI) and self._is_us(uri) and uri.user is None:
            if request.method == "OPTIONS":
                return self._reply(request, flow, 200, headers=[("Allow", "OPTIONS, REGISTER")])
            if request.method != "ACK":
                return self._reply(request, flow, 405, headers=[("Allow", "OPTIONS, REGISTER")])
            return []
        initial = request.to.tag is None
        if not isinstance(uri, SipURI):
            return [] if request.method == "ACK" else self._reply(request, flow, 416)
        target: SipURI = uri
        authenticated = False
        if initial and request.method not in NO_AUTH and self.config.authenticate_requests:
            from_uri = request.from_.uri
            if (
                isinstance(from_uri, SipURI)
                and self._is_our_domain(from_uri.host)
                and (from_uri.user_decoded or "") in self.config.users
            ):
                user, challenge = self._authenticate(request, flow, now, proxy=True)
                if user is None:
                    return challenge
                authenticated = True
        binding: Binding | None = None
        hop = target
        if popped < len(routes):
            next_route = routes[popped].uri
            hop = next_route if isinstance(next_route, SipURI) else target
        elif initial and self._for_our_domain(target) and target.user is not None:
            user = target.user_decoded
            if user is None or user not in self.config.users:
                self.stats["not_found"] += 1
                return [] if request.method == "ACK" else self._reply(request, flow, 404)
            found = self.location.lookup(user, now)
            if not found:
                self.stats["unavailable"] += 1
                return [] if request.method == "ACK" else self._reply(request, flow, 480)
            binding = found[0]
            target = hop = binding.uri
        if (
            initial
            and request.method not in NO_AUTH
            and self.config.authenticate_requests
            and not authenticated
            and binding is None
        ):
            return self._reply(request, flow, 403, reason="Relaying Denied")
        if binding is None and self._is_us(hop):
            return [] if request.method == "ACK" else self._reply(request, flow, 482)
        return [self._forward(request, flow, target, hop, binding, popped, initial)]

    def _forward(
        self,
        request: Request,
        flow: Flow,
        target: SipURI,
        hop: SipURI,
        binding: Binding | None,
        popped: int,
        initial: bool,
    ) -> Forward:
        out = Request(request.method, target, request.headers.copy(), request.body)
        headers = out.headers
        if popped:
            remaining = request.routes[popped:]
            headers.remove("Route")
            for route in remaining:
                headers.add("Route", route)
        if initial:
            kept = [
                v
                for v in headers.get_all("Proxy-Authorization")
                if f'realm="{self.config.domain}"' not in v
            ]
            headers.remove("Proxy-Authorization")
            for value in kept:
                headers.add("Proxy-Authorization", value)
        max_forwards = request.max_forwards
        headers.set("Max-Forwards", (max_forwards if max_forwards is not None else 71) - 1)
        port: int | None
        if binding is not None:
            transport = binding.flow.transport
            host, port = binding.flow.address  # UDP: the NAT mapping the REGISTER came from
            if transport != "udp":  # stream: reuse the flow; if it is gone, dial the Contact
                host, port = binding.uri.host_bare, binding.uri.port
        else:
            transport = (hop.transport or ("tls" if hop.secure else "udp")).lower()
            host, port = hop.maddr or hop.host_bare, hop.port
        if initial and request.method in RECORD_ROUTED:
            self._record_route(out, flow.transport, transport)
        local_host, local_port = self._local(transport)
        branch = self._branch(request)
        headers.insert_first(
            "Via",
            Via(transport.upper(), _bracket(local_host), local_port, {"branch": branch}),
        )
        self.stats["forwarded_requests"] += 1
        return Forward(out, host, port, transport, binding.flow if binding else None)

    def _local(self, transport: str) -> Address:
        local = self.config.local
        if transport in local:
            return local[transport]
        if local:
            return next(iter(local.values()))
        return (self.config.domain, 5060)

    def _rr_uri(self, transport: str) -> str:
        host, port = self._local(transport)
        params = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{_bracket(host)}:{port}{params};lr>"

    def _record_route(self, out: Request, inbound: str, outbound: str) -> None:
        if inbound != outbound:
            out.headers.insert_first("Record-Route", self._rr_uri(inbound))
        out.headers.insert_first("Record-Route", self._rr_uri(outbound))

    def _branch(self, request: Request) -> str:
        via = request.top_via
        seed = "|".join(
            (
                via.branch or "",
                via.host,
                str(via.port),
                request.call_id,
                str(request.cseq.seq),
                request.from_.tag or "",
                request.to.tag or "",
                "ack2xx" if request.method == "ACK" and request.to.tag else "",
            )
        )
        digest = hashlib.sha256(seed.encode("utf-8", "surrogateescape")).hexdigest()
        return MAGIC_COOKIE + "-pa-" + digest[:24]

    # -- proxy: responses ----------------------------------------------------------------

    def _response(self, response: Response) -> list[Action]:
        vias = response.vias
        if len(vias) < 2:
            self.stats["dropped"] += 1
            return []
        top = vias[0]
        if not (top.branch or "").startswith(MAGIC_COOKIE + "-pa-"):
            self.stats["dropped"] += 1
            return []
        out = Response(response.status, response.reason, response.headers.copy(), response.body)
        out.headers.remove("Via")
        for via in vias[1:]:
            out.headers.add("Via", via)
        nxt = vias[1]
        host = (nxt.received or nxt.host).strip("[]")
        port = nxt.rport or nxt.port or (5061 if nxt.transport == "TLS" else 5060)
        self.stats["forwarded_responses"] += 1
        return [Forward(out, host, port, nxt.transport.lower())]


def _to_tag(request: Request) -> str:
    digest = hashlib.sha256(
        f"{request.call_id}|{request.from_.tag}".encode("utf-8", "surrogateescape")
    )
    return "pa" + digest.hexdigest()[:10]


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
