"""Calls as the phone line sees them: states, events, caller identity (sans-IO).

Theory of operation
-------------------
A :class:`Call` is one phone call on a line, outgoing or incoming, driven by the
:class:`~ata.sip.ua.UserAgent`. Its life is a transition table over :class:`CallState`::

    outgoing:  CALLING --18x--> RINGING --2xx--> CONNECTED --BYE--> TERMINATING --> ENDED
                  |  \\__2xx_____________________^     ^  \\--BYE from peer / no ACK--> ENDED
                  +--hang up--> CANCELLING --487--> ENDED (2xx crossing CANCEL: ACK + BYE)
                  +--300-699 / timeout--> ENDED
    incoming:  INCOMING --answer--> CONNECTED ;  INCOMING --reject / CANCEL--> ENDED

Every transition the UA performs goes through :func:`Call.step`, which refuses inputs the
table does not list (the UA then ignores the command or message). What the line layer hears
are the events below; each carries the call's ``handle`` (the name the line gave it, or
``in-…`` for incoming calls).

Caller identity (:func:`caller_identity`): P-Asserted-Identity (trusted network) first, then
Remote-Party-ID, then From; ``Privacy: id``/``user``, RPID ``privacy=full`` or an anonymous
From make the number withheld ("private"); a URI without a user gives "unavailable".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final

from ata.sip.dialog import Dialog
from ata.sip.errors import SipParseError
from ata.sip.headers import NameAddr, parse_name_addr
from ata.sip.message import Request
from ata.sip.sdp import NegotiatedAudio, SessionDescription
from ata.sip.syntax import split_top
from ata.sip.uri import AbsoluteURI, SipURI


class CallState(Enum):
    CALLING = auto()
    RINGING = auto()
    CANCELLING = auto()
    INCOMING = auto()
    CONNECTED = auto()
    TERMINATING = auto()
    ENDED = auto()


class CallInput(Enum):
    PROVISIONAL = auto()
    SUCCESS = auto()
    FAILURE = auto()
    TIMEOUT = auto()
    HANG_UP = auto()  # local hang up (CANCEL before answer, BYE after)
    ANSWER = auto()
    REJECT = auto()
    REMOTE_CANCEL = auto()
    REMOTE_BYE = auto()


C = CallState
N = CallInput
CALL_TABLE: Final[dict[tuple[CallState, CallInput], CallState]] = {
    (C.CALLING, N.PROVISIONAL): C.RINGING,
    (C.CALLING, N.SUCCESS): C.CONNECTED,
    (C.CALLING, N.FAILURE): C.ENDED,
    (C.CALLING, N.TIMEOUT): C.ENDED,
    (C.CALLING, N.HANG_UP): C.CANCELLING,
    (C.RINGING, N.PROVISIONAL): C.RINGING,
    (C.RINGING, N.SUCCESS): C.CONNECTED,
    (C.RINGING, N.FAILURE): C.ENDED,
    (C.RINGING, N.TIMEOUT): C.ENDED,
    (C.RINGING, N.HANG_UP): C.CANCELLING,
    (C.CANCELLING, N.PROVISIONAL): C.CANCELLING,
    (C.CANCELLING, N.SUCCESS): C.TERMINATING,
    (C.CANCELLING, N.FAILURE): C.ENDED,
    (C.CANCELLING, N.TIMEOUT): C.ENDED,
    (C.INCOMING, N.ANSWER): C.CONNECTED,
    (C.INCOMING, N.REJECT): C.ENDED,
    (C.INCOMING, N.HANG_UP): C.ENDED,
    (C.INCOMING, N.REMOTE_CANCEL): C.ENDED,
    (C.INCOMING, N.TIMEOUT): C.ENDED,
    (C.CONNECTED, N.HANG_UP): C.TERMINATING,
    (C.CONNECTED, N.REMOTE_BYE): C.ENDED,
    (C.CONNECTED, N.TIMEOUT): C.TERMINATING,
    (C.TERMINATING, N.SUCCESS): C.ENDED,
    (C.TERMINATING, N.FAILURE): C.ENDED,
    (C.TERMINATING, N.TIMEOUT): C.ENDED,
    (C.TERMINATING, N.REMOTE_BYE): C.ENDED,
}


# -- events for the line layer ------------------------------------------------------------------


@dataclass(frozen=True)
class CallIncoming:
    handle: str
    number: str
    name: str
    withheld: str = ""  # "private" / "unavailable" when no number may be shown
    alert_info: tuple[str, ...] = ()  # raw Alert-Info values (distinctive ring)
    offer: bool = True  # False: the INVITE had no SDP (we offer in the 200)
    replaces: str = ""  # handle of our connected call this one replaces (RFC 3891): answer
    # it without ringing, then ``complete_replace``


@dataclass(frozen=True)
class CallRinging:
    handle: str


@dataclass(frozen=True)
class CallEarlyMedia:
    handle: str
    media: NegotiatedAudio


@dataclass(frozen=True)
class CallAnswered:
    handle: str


@dataclass(frozen=True)
class MediaUpdate:
    """Where and how to send/receive RTP now (after every offer/answer)."""

    handle: str
    media: NegotiatedAudio


@dataclass(frozen=True)
class CallHeld:
    handle: str
    by_remote: bool


@dataclass(frozen=True)
class CallResumed:
    handle: str
    by_remote: bool


@dataclass(frozen=True)
class CallFailed:
    """An outgoing call that never connected: ``status`` is the final response (408 timeout)."""

    handle: str
    status: int
    reason: str = ""


@dataclass(frozen=True)
class CallEnded:
    """``cause``: local, remote-bye, cancelled, no-ack, timeout, rejected, transport."""

    handle: str
    cause: str


@dataclass(frozen=True)
class DtmfReceived:
    """A key relayed by SIP INFO (application/dtmf-relay)."""

    handle: str
    key: str
    duration_ms: int


@dataclass(frozen=True)
class MessageWaiting:
    """RFC 3842 message-summary NOTIFY."""

    waiting: bool
    summary: str


@dataclass(frozen=True)
class TransferRequested:
    """The far end REFERred call ``handle`` to ``target`` (RFC 3515): we answered 202 and
    NOTIFY 100. The driver binds media for the new call ``new_handle`` and calls
    ``start_transfer`` (or ``abandon_transfer``)."""

    handle: str
    new_handle: str
    target: str
    replaces: bool = False  # attended transfer (Refer-To carries Replaces)


@dataclass(frozen=True)
class CallTransferred:
    """The transfer of ``old_handle`` succeeded: ``new_handle`` is connected and replaces it
    (the old call is over; no CallEnded follows for it)."""

    old_handle: str
    new_handle: str


@dataclass(frozen=True)
class TransferProgress:
    """A transfer *we* asked for (our REFER): ``status`` from the 2xx/failure to the REFER or
    from a NOTIFY sipfrag; ``final`` when the outcome is known (2xx: the call then ends
    with cause "transferred")."""

    handle: str
    status: int
    final: bool = False


CallEvent = (
    CallIncoming
    | CallRinging
    | CallEarlyMedia
    | CallAnswered
    | MediaUpdate
    | CallHeld
    | CallResumed
    | CallFailed
    | CallEnded
    | DtmfReceived
    | MessageWaiting
    | TransferRequested
    | CallTransferred
    | TransferProgress
)


class CallDirection(Enum):
    OUTGOING = auto()
    INCOMING = auto()


@dataclass
class Call:
    """State of one call (owned by the UserAgent)."""

    handle: str
    direction: CallDirection
    call_id: str
    local_tag: str
    state: CallState
    invite: Request
    dialog: Dialog | None = None
    invite_key: tuple[str, ...] | None = None  # client or server INVITE transaction
    local_offer: SessionDescription | None = None  # our outstanding offer
    remote_offer: SessionDescription | None = None
    media: NegotiatedAudio | None = None
    session_version: int = 1
    held_local: bool = False
    held_remote: bool = False
    hang_up_pending: bool = False  # hang up asked before any provisional (cannot CANCEL yet)
    auth_attempts: int = 0
    ack_bytes: bytes | None = None
    ended_reported: bool = False
    glare_retry_at: float | None = None
    glare_hold: bool | None = None
    early_media_reported: bool = False
    ringing_reported: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def step(self, inp: CallInput) -> bool:
        """Apply ``inp``; False (and no change) if the table does not allow it."""
        nxt = CALL_TABLE.get((self.state, inp))
        if nxt is None:
            return False
        self.state = nxt
        return True

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED


# -- caller identity ----------------------------------------------------------------------------


def _number_of(addr: NameAddr) -> str:
    uri = addr.uri
    if isinstance(uri, SipURI):
        return uri.user_decoded or ""
    if isinstance(uri, AbsoluteURI) and uri.scheme.lower() == "tel":
        return uri.opaque.split(";", 1)[0]
    return ""


def _first(request: Request, name: str) -> NameAddr | None:
    for value in request.headers.get_all(name):
        for part in split_top(value, ","):
            try:
                return parse_name_addr(part)
            except SipParseError:
                continue
    return None


def caller_identity(request: Request) -> tuple[str, str, str]:
    """(number, name, withheld) for an incoming INVITE; see the module docstring."""
    privacy = {p.strip().lower() for v in request.headers.get_all("Privacy") for p in v.split(";")}
    source = _first(request, "P-Asserted-Identity")
    rpid = _first(request, "Remote-Party-ID")
    if source is None and rpid is not None:
        source = rpid
        if (rpid.params.get("privacy") or "").lower() in ("full", "name", "uri"):
            privacy.add("id")
    if source is None:
        source = request.from_
    number = _number_of(source)
    name = source.display_name or ""
    if not name and source is not request.from_:
        name = request.from_.display_name or ""
    anonymous = number.lower() in ("anonymous", "restricted", "unknown") or (
        isinstance(source.uri, SipURI) and source.uri.host.lower() == "anonymous.invalid"
    )
    if privacy & {"id", "user", "header"} or anonymous:
        return "", "" if anonymous else name, "private"
    if not number:
        return "", name, "unavailable"
    return number, name, ""
