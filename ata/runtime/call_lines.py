"""Per-line pieces of :mod:`ata.runtime.calls`: the account and policy settings, the state of
a configured line, and the line's next-hop helpers (host:port parsing, the proxy URI for the
registration, the sans-IO agent's resolver callback).

A line's domain is written ``host[:port]`` in the agent's URIs (``sip:user@host:port``); the
proxy's name is resolved once when the line starts (RFC 3263, in the runtime), so the agent's
resolver is a table lookup and the signalling path never waits for DNS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ata.media.jitter import JitterConfig
from ata.runtime.call_agent import LineAgent
from ata.runtime.call_media import CallMedia
from ata.runtime.sip_endpoint import Line
from ata.sip.registration import RegState
from ata.sip.transaction import Address
from ata.sip.uri import URI, SipURI

__all__ = [
    "CallPolicy",
    "CallRecord",
    "LineAccount",
    "LineState",
    "hostport",
    "proxy_uri",
    "resolver_for",
]


@dataclass(frozen=True)
class LineAccount:
    """One port's SIP account. ``domain`` is ``host[:port]`` of the AOR (and the registrar);
    ``proxy`` the next hop when it differs from the domain; ``outbound_proxy`` forces every
    request (in dialogs too) through ``host[:port]``."""

    user: str
    domain: str
    password: str = field(default="", repr=False)
    auth_user: str = ""
    display_name: str = ""
    proxy: str = ""
    outbound_proxy: str = ""
    transport: str = "udp"
    dtmf_mode: str = "rfc4733"
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    register: bool = True
    expires: int = 3600
    max_calls: int = 2
    mwi_subscribe: bool = False  # SUBSCRIBE message-summary after registering (ata.runtime.mwi)
    mwi_uri: str = ""  # the mailbox to subscribe to (default: the line's own AOR)
    mwi_expires: int = 3600
    jitter: JitterConfig = field(default_factory=JitterConfig)  # receive jitter buffer
    phase_alignment: bool = True  # ata.media.phase


@dataclass(frozen=True)
class CallPolicy:
    """Ghost-call protection for incoming INVITEs (see the module docstring)."""

    proxy_sources_only: bool = True
    require_registration: bool = True
    silent: bool = True  # strangers get no response at all
    # With proxy_sources_only: also make the transport drop every datagram from elsewhere
    # (so not even a malformed one is answered 400). Needs a proxy that record-routes (or an
    # outbound proxy): a far end's in-dialog requests sent straight to us would be dropped.
    transport_filter: bool = True


@dataclass
class CallRecord:
    """One call as the manager tracks it."""

    call_id: str  # the port's name for it (the agent's handle)
    port: int
    incoming: bool
    media: CallMedia | None = None
    sip_call_id: str = ""
    port_told: bool = False  # IncomingCall delivered
    local_end: bool = False  # the port hung up / rejected: do not echo the end back
    ended: bool = False
    setup_started: float = 0.0
    answered_at: float | None = None
    dtmf_sent: list[str] = field(default_factory=list)
    transfer_of: str = ""  # a transfer leg the port does not know yet (ata.runtime.call_transfer)
    consult: str = ""  # our attended transfer of this call hands the far end to this call's


@dataclass
class LineState:
    """A configured port: account, agent, registration and next hops."""

    port: int
    account: LineAccount
    agent: LineAgent | None = None
    registration: Line | None = None
    proxy: Address | None = None
    trusted: frozenset[str] = frozenset()
    local: Address = ("127.0.0.1", 5060)
    message_waiting: bool | None = None  # last message-summary state heard (None: never)


def hostport(text: str, default_port: int | None = None) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else default_port
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, default_port


def proxy_uri(acc: LineAccount) -> SipURI | None:
    hop = acc.outbound_proxy or acc.proxy
    if not hop:
        return None
    host, port = hostport(hop)
    return SipURI(host, port=port)


def resolver_for(line: LineState) -> Callable[[URI], Address | None]:
    domain_host, _ = hostport(line.account.domain)
    hop_host, _ = hostport(line.account.proxy or line.account.domain)

    def resolve(uri: URI) -> Address | None:
        # Our domain (written "host:port" in the agent's URIs) and the proxy's name are
        # pre-resolved at start; other names are not looked up in the signalling path.
        if isinstance(uri, SipURI):
            host, _ = hostport(uri.host_bare)
            if host in (domain_host, hop_host, line.account.domain):
                return line.proxy
        return None

    return resolve


def line_status(line: LineState | None, calls: Iterable[CallRecord]) -> dict[str, Any]:
    """One port's registration state and calls, for the API ({} for a port without SIP)."""
    if line is None:
        return {}
    reg = line.registration
    return {
        "sip_user": line.account.user,
        "ready": line.agent is not None,  # proxy resolved, calls possible
        "registration": reg.registration.state.value if reg is not None else "off",
        "message_waiting": line.message_waiting,  # None: no message-summary heard yet
        "calls": [
            {"call_id": r.call_id, "incoming": r.incoming, "ended": r.ended}
            for r in calls
            if r.port == line.port
        ],
    }


def line_registered(line: LineState) -> bool:
    if line.registration is None:
        return False
    return line.registration.registration.state in (RegState.REGISTERED, RegState.REFRESHING)
