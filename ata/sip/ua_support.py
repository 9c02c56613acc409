"""Support for :mod:`ata.sip.ua`: line configuration, what we advertise, local addresses,
next-hop choice, and small body parsers (DTMF relay, message summary). Pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ata.sip.dialog import Dialog
from ata.sip.digest import DigestClient, DigestError, parse_challenges, select_challenge
from ata.sip.errors import SipError
from ata.sip.headers import CSeq, NameAddr, Via
from ata.sip.message import Request, Response
from ata.sip.sdp import AudioConfig
from ata.sip.transaction import Address
from ata.sip.uri import URI, SipURI, escape_user
from ata.sip.validate import Profile

ALLOW: Final = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REFER"
UA_PROFILE: Final = Profile(
    methods=frozenset(
        {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "NOTIFY", "REFER"}
    ),
    supported=frozenset({"replaces"}),
    accept=("application/sdp",),
)
SDP: Final = "application/sdp"


@dataclass(frozen=True)
class UaConfig:
    """One line's identity and local transport address."""

    user: str
    domain: str
    local_host: str
    local_port: int = 5060
    transport: str = "udp"
    display_name: str = ""
    outbound_proxy: Address | None = None
    audio: AudioConfig | None = None  # default: PCMU/PCMA on local_host:4000
    user_agent: str = "pi-ata"
    check_request_uri: bool = True
    max_calls: int = 4
    max_auth_attempts: int = 2
    extra: dict[str, str] = field(default_factory=dict)


Resolver = Callable[[URI], Address | None]


def addressed_to(cfg: UaConfig, req: Request) -> bool:
    """Is this INVITE for our user (Request-URI or To user)? Ghost-call protection."""
    uri = req.uri
    if isinstance(uri, SipURI) and uri.user_decoded == cfg.user:
        return True
    to_uri = req.to.uri
    return isinstance(to_uri, SipURI) and to_uri.user_decoded == cfg.user


def accepts_sdp(req: Request) -> bool:
    """Can our answer (an SDP body) satisfy the request's Accept? No Accept, or one without
    any media range, means SDP (RFC 3261 §20.1); else a range must cover application/sdp."""
    ranges = [
        item.split(";", 1)[0].strip().lower()
        for value in req.headers.get_all("Accept")
        for item in value.split(",")
    ]
    ranges = [r for r in ranges if r]
    return not ranges or any(r in (SDP, "application/*", "*/*") for r in ranges)


def local_via(cfg: UaConfig) -> Via:
    """Our Via (no branch: the transaction layer adds one), asking for rport."""
    return Via(cfg.transport.upper(), cfg.local_host, cfg.local_port, {"rport": None})


def local_contact(cfg: UaConfig) -> NameAddr:
    params: dict[str, str | None] = {}
    if cfg.transport != "udp":
        params["transport"] = cfg.transport
    uri = SipURI(cfg.local_host, user=escape_user(cfg.user), port=cfg.local_port, params=params)
    return NameAddr(uri)


def local_identity(cfg: UaConfig) -> NameAddr:
    """Our address of record for From."""
    uri = SipURI(cfg.domain, user=escape_user(cfg.user))
    return NameAddr(uri, cfg.display_name or None)


def address_of(uri: URI, resolver: Resolver | None) -> Address:
    """(host, port) of a URI whose host is an IP literal, else through ``resolver``."""
    if isinstance(uri, SipURI):
        host = uri.maddr or uri.host_bare
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return host, uri.port or (5061 if uri.secure else 5060)
    if resolver is not None:
        found = resolver(uri)
        if found is not None:
            return found
    raise SipError(f"cannot resolve next hop {uri}", 503)


def out_of_dialog_hop(cfg: UaConfig, uri: URI, resolver: Resolver | None) -> Address:
    if cfg.outbound_proxy is not None:
        return cfg.outbound_proxy
    return address_of(uri, resolver)


def dialog_hop(cfg: UaConfig, dialog: Dialog, resolver: Resolver | None) -> Address:
    if cfg.outbound_proxy is not None:
        return cfg.outbound_proxy
    target = dialog.route_set[0].uri if dialog.route_set else dialog.remote_target
    return address_of(target, resolver)


def authorized_retry(req: Request, resp: Response, creds: DigestClient, via: Via) -> Request | None:
    """The request again with credentials for ``resp``'s 401/407 challenge (new CSeq, new
    branch), or None when we cannot or must not answer (unsupported, or already refused)."""
    proxy = resp.status == 407
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    try:
        challenge = select_challenge(parse_challenges(resp.headers.get_all(name), proxy=proxy))
        if challenge is None or creds.rejected(challenge):
            return None
        auth = creds.authorize(challenge, req.method, str(req.uri), req.body)
    except DigestError:
        return None
    retry = Request(req.method, req.uri, body=req.body)
    retry.headers.add("Via", via)
    for fname, value in req.headers:
        if fname.lower() not in ("via", "v", "cseq", "authorization", "proxy-authorization"):
            retry.headers.add(fname, value)
    retry.headers.add("CSeq", CSeq(req.cseq.seq + 1, req.method))
    retry.headers.add(*auth)
    return retry


def message_summary(req: Request) -> tuple[bool, str] | None:
    """(messages waiting, text) for an RFC 3842 message-summary NOTIFY, else None."""
    if not (req.headers.get("Event") or "").lower().startswith("message-summary"):
        return None
    text = req.body.decode("utf-8", "replace")
    waiting = any(
        line.split(":", 1)[1].strip().lower().startswith("yes")
        for line in text.splitlines()
        if line.lower().startswith("messages-waiting:")
    )
    return waiting, text[:512]


def dtmf_relay(req: Request) -> tuple[str, int]:
    """(key, duration ms) from an application/dtmf-relay INFO body; ("", 0) otherwise."""
    ctype = req.content_type
    if ctype is None or ctype.mime != "application/dtmf-relay":
        return "", 0
    key, duration = "", 250
    for line in req.body.decode("ascii", "replace").splitlines():
        name, _, value = line.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "signal" and len(value) == 1 and value in "0123456789*#ABCDabcd":
            key = value.upper()
        elif name == "duration" and value.isdigit() and len(value) < 6:
            duration = int(value)
    return key, duration
