"""SIP dialogs (RFC 3261 §12, §13.2.2.4, §14), sans-IO.

Theory of operation
-------------------
A dialog is the peer-to-peer relationship an INVITE (or SUBSCRIBE/REFER) sets up, identified by
Call-ID, local tag and remote tag. It holds the local and remote sequence numbers, the remote
target (the peer's Contact) and the route set (Record-Route: in the request's order for the UAS,
reversed for the UAC). States and transitions (a table, like the transactions)::

    (none) --1xx with To tag--> EARLY --2xx--> CONFIRMED --BYE sent/received--> TERMINATED
                 \\--2xx------------------------^   EARLY --300-699 / CANCELled--> TERMINATED

:class:`Dialog` builds in-dialog requests (§12.2.1.1: loose routing keeps the remote target in
the Request-URI and the route set in Route; a strict first hop moves the target to the end of
Route), numbers them (CSeq local+1; ACK and CANCEL reuse the INVITE's), checks incoming
ones (§12.2.2: a CSeq lower than the remote one → 500) and refreshes the remote target from
Contact on INVITE/UPDATE/NOTIFY and their 2xx.

Re-INVITE glare (§14.1): a re-INVITE that arrives while ours is pending is answered 491; one
that arrives while we have not answered the previous one gets 500 with Retry-After (§14.2).
When our re-INVITE gets 491, :meth:`Dialog.glare_retry_delay` gives the wait: 2.1–4 s if we
own the Call-ID (we sent the initial INVITE), else 0–2 s, in 10 ms steps.

:class:`DialogSet` finds the dialog of a message (requests: local = To tag; responses:
local = From tag), creates UAC dialogs from 1xx/2xx (one per To tag: forking), UAS dialogs
from our 1xx/2xx, answers 481 for in-dialog requests that match nothing, and caps the count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Final

from ata.sip.errors import SipRequestRejected
from ata.sip.fields import Headers
from ata.sip.headers import CSeq, NameAddr, Via
from ata.sip.message import Request, Response
from ata.sip.uri import URI, SipURI

TARGET_REFRESH: Final = frozenset({"INVITE", "UPDATE", "NOTIFY", "SUBSCRIBE", "REFER"})
DEFAULT_MAX_DIALOGS: Final = 511


class DialogState(Enum):
    EARLY = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class DialogInput(Enum):
    PROVISIONAL = auto()  # 101-199 with a To tag (sent or received)
    SUCCESS = auto()  # 2xx to the dialog-creating request
    FAILURE = auto()  # 300-699 to the dialog-creating request (early dialogs only)
    BYE = auto()  # BYE sent or received


DIALOG_TABLE: Final[dict[tuple[DialogState, DialogInput], DialogState]] = {
    (DialogState.EARLY, DialogInput.PROVISIONAL): DialogState.EARLY,
    (DialogState.EARLY, DialogInput.SUCCESS): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogInput.FAILURE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.BYE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.SUCCESS): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.PROVISIONAL): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.BYE): DialogState.TERMINATED,
}


@dataclass(frozen=True)
class DialogId:
    call_id: str
    local_tag: str
    remote_tag: str


@dataclass
class Dialog:
    """One dialog; see the module docstring. Build with :meth:`from_uac` / :meth:`from_uas`."""

    id: DialogId
    state: DialogState
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: URI
    route_set: list[NameAddr]
    local_seq: int | None
    remote_seq: int | None
    local_contact: NameAddr
    is_uac: bool
    secure: bool = False
    invite_cseq: int | None = None  # CSeq of the INVITE the ACK must reuse
    pending_invite_out: bool = False  # our (re-)INVITE has no final response yet
    pending_invite_in: bool = False  # we have not answered their (re-)INVITE yet
    extra: dict[str, object] = field(default_factory=dict)

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """UAC side (§12.1.2): from our request and a 1xx-with-tag or 2xx response."""
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if not remote_tag or not local_tag:
            raise ValueError("a dialog needs both tags")
        contacts = response.contacts
        target: URI = contacts[0].uri if contacts else request.uri
        state = DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY
        contact_values = request.headers.values("Contact")
        local_contact = request.contacts[0] if contact_values else request.from_
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            state=state,
            local_uri=request.from_,
            remote_uri=response.to,
            remote_target=target,
            route_set=list(reversed(response.record_routes)),
            local_seq=request.cseq.seq,
            remote_seq=None,
            local_contact=local_contact,
            is_uac=True,
            secure=isinstance(request.uri, SipURI) and request.uri.secure,
            invite_cseq=request.cseq.seq if request.method == "INVITE" else None,
            pending_invite_out=request.method == "INVITE" and response.status < 200,
        )

    @classmethod
    def from_uas(cls, request: Request, response: Response) -> Dialog:
        """UAS side (§12.1.1): from the request and our 1xx/2xx (which carries our tag)."""
        local_tag = response.to.tag
        remote_tag = request.from_.tag
        if not local_tag:
            raise ValueError("our response must carry a To tag")
        contacts = request.contacts
        target: URI = contacts[0].uri if contacts else request.from_.uri
        state = DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY
        local_contact = response.contacts[0] if response.headers.values("Contact") else response.to
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag or ""),
            state=state,
            local_uri=response.to,
            remote_uri=request.from_,
            remote_target=target,
            route_set=list(request.record_routes),
            local_seq=None,
            remote_seq=request.cseq.seq,
            local_contact=local_contact,
            is_uac=False,
            secure=isinstance(request.uri, SipURI) and request.uri.secure,
            invite_cseq=request.cseq.seq if request.method == "INVITE" else None,
            pending_invite_in=request.method == "INVITE" and response.status < 200,
        )

    # -- state -----------------------------------------------------------------------------

    def _input(self, inp: DialogInput) -> None:
        self.state = DIALOG_TABLE.get((self.state, inp), self.state)

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    # -- building requests -------------------------------------------------------------------

    def next_cseq(self) -> int:
        self.local_seq = (self.local_seq or 0) + 1
        return self.local_seq

    def _uri_and_routes(self) -> tuple[URI, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].uri
        if isinstance(first, SipURI) and first.lr:
            return self.remote_target, [str(r) for r in self.route_set]
        # Strict router (RFC 2543): first route becomes the Request-URI (§12.2.1.1).
        uri: URI = first
        if isinstance(first, SipURI):
            uri = first.copy()
            uri.headers = []
            for name in ("method", "maddr", "ttl", "transport", "lr"):
                uri.params.pop(name, None)
        routes = [str(r) for r in self.route_set[1:]]
        routes.append(f"<{self.remote_target}>")
        return uri, routes

    def create_request(
        self,
        method: str,
        via: Via,
        *,
        headers: Iterable[tuple[str, object]] = (),
        body: bytes = b"",
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request (re-INVITE, UPDATE, BYE, INFO, NOTIFY, REFER, ACK, ...).

        ``via`` is our Via (the transaction layer fills in a branch if it has none). ACK reuses
        the INVITE's CSeq number; every other method takes the next local CSeq.
        """
        if method == "ACK":
            seq = cseq if cseq is not None else (self.invite_cseq or self.local_seq or 1)
        elif cseq is not None:
            seq = cseq
        else:
            seq = self.next_cseq()
        uri, routes = self._uri_and_routes()
        out = Headers()
        out.add("Via", via)
        out.add("Max-Forwards", 70)
        for route in routes:
            out.add("Route", route)
        out.add("From", self.local_uri.with_tag(self.id.local_tag))
        remote = self.remote_uri
        out.add("To", remote.with_tag(self.id.remote_tag) if self.id.remote_tag else remote)
        out.add("Call-ID", self.id.call_id)
        out.add("CSeq", CSeq(seq, method))
        if method in TARGET_REFRESH:
            out.add("Contact", f"<{self.local_contact.uri}>")
        for name, value in headers:
            out.add(name, value)
        if method == "INVITE":
            self.invite_cseq = seq
            self.pending_invite_out = True
        elif method == "BYE":
            self._input(DialogInput.BYE)
        return Request(method, uri, out, body)

    def create_ack(
        self, via: Via, *, body: bytes = b"", headers: Iterable[tuple[str, object]] = ()
    ) -> Request:
        """ACK for a 2xx to our (re-)INVITE (§13.2.2.4): same CSeq number, new branch."""
        return self.create_request("ACK", via, headers=headers, body=body)

    def glare_retry_delay(self, unit_random: float) -> float:
        """§14.1 wait before retrying a re-INVITE that got 491 (``unit_random`` in [0, 1))."""
        steps = int(unit_random * 1000) % 1000
        if self.is_uac:  # we generated the Call-ID
            return 2.1 + (steps % 191) * 0.01
        return (steps % 201) * 0.01

    # -- incoming ------------------------------------------------------------------------

    def receive_request(self, request: Request) -> None:
        """Check and absorb an in-dialog request (§12.2.2); raises SipRequestRejected."""
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq < self.remote_seq:
                raise SipRequestRejected(500, "CSeq out of order")
            if request.method == "INVITE":
                if self.pending_invite_out:
                    raise SipRequestRejected(491, "Request Pending")
                if self.pending_invite_in and seq != self.remote_seq:
                    raise SipRequestRejected(500, "Previous INVITE pending", [("Retry-After", "5")])
                self.pending_invite_in = True
            self.remote_seq = seq
        if request.method in TARGET_REFRESH:
            contacts = request.contacts
            if contacts:
                self.remote_target = contacts[0].uri
        if request.method == "BYE":
            self._input(DialogInput.BYE)

    def sent_response(self, request: Request, response: Response) -> None:
        """Record our response to an in-dialog or dialog-creating request."""
        if request.method == "INVITE" and response.status >= 200:
            self.pending_invite_in = False
        if request.cseq.seq != self.invite_cseq or request.method != "INVITE":
            return
        if 100 < response.status < 200:
            self._input(DialogInput.PROVISIONAL)
        elif response.status < 300:
            self._input(DialogInput.SUCCESS)
        elif self.state is DialogState.EARLY:
            self._input(DialogInput.FAILURE)

    def receive_response(self, request: Request, response: Response) -> None:
        """Update from a response to a request we sent in (or to create) this dialog."""
        if request.method == "INVITE" and response.status >= 200:
            self.pending_invite_out = False
        if not 100 < response.status < 300:
            early = request.method == "INVITE" and self.state is DialogState.EARLY
            if early and response.status >= 300:
                self._input(DialogInput.FAILURE)
            return
        was_early = self.state is DialogState.EARLY
        if request.method in TARGET_REFRESH:
            contacts = response.contacts
            if contacts:
                self.remote_target = contacts[0].uri
        if response.status >= 200 and request.method == "INVITE":
            if was_early and self.is_uac:
                # §12.1.2: the route set is fixed by the 2xx, not the provisional.
                self.route_set = list(reversed(response.record_routes))
            self._input(DialogInput.SUCCESS)
        elif request.method == "INVITE":
            self._input(DialogInput.PROVISIONAL)


class DialogSet:
    """All dialogs of a UA, with matching and a hard cap."""

    def __init__(self, max_dialogs: int = DEFAULT_MAX_DIALOGS) -> None:
        self.max_dialogs = max_dialogs
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def _add(self, dialog: Dialog) -> Dialog:
        existing = self._dialogs.get(dialog.id)
        if existing is not None:
            return existing
        if len(self._dialogs) >= self.max_dialogs:
            raise SipRequestRejected(503, "Too many dialogs", [("Retry-After", "10")])
        self._dialogs[dialog.id] = dialog
        return dialog

    def remove(self, dialog: Dialog) -> None:
        if self._dialogs.get(dialog.id) is dialog:
            del self._dialogs[dialog.id]

    def remove_all(self, call_id: str, local_tag: str) -> int:
        """Forget every dialog (early forks included) of one call."""
        gone = [k for k in self._dialogs if k.call_id == call_id and k.local_tag == local_tag]
        for key in gone:
            del self._dialogs[key]
        return len(gone)

    def purge_terminated(self) -> int:
        dead = [d for d in self._dialogs.values() if d.terminated]
        for d in dead:
            del self._dialogs[d.id]
        return len(dead)

    # -- matching ------------------------------------------------------------------------

    def match_request(self, request: Request) -> Dialog | None:
        """The dialog an incoming request belongs to (local tag = To tag)."""
        to_tag = request.to.tag
        if not to_tag:
            return None
        return self._dialogs.get(DialogId(request.call_id, to_tag, request.from_.tag or ""))

    def match_response(self, response: Response) -> Dialog | None:
        """The dialog a response to our request belongs to (local tag = From tag)."""
        from_tag, to_tag = response.from_.tag, response.to.tag
        if not from_tag or not to_tag:
            return None
        return self._dialogs.get(DialogId(response.call_id, from_tag, to_tag))

    def route_request(self, request: Request) -> Dialog | None:
        """Match an in-dialog request and run the §12.2.2 checks.

        Returns None for an out-of-dialog request (no To tag). Raises
        :class:`SipRequestRejected` with 481 when a To tag matches no dialog (the caller drops
        an ACK instead of answering it), or with 500/491 from :meth:`Dialog.receive_request`.
        """
        if not request.to.tag:
            return None
        dialog = self.match_request(request)
        if dialog is None or (dialog.terminated and request.method not in ("ACK", "BYE")):
            raise SipRequestRejected(481, "Call/Transaction Does Not Exist")
        dialog.receive_request(request)
        return dialog

    # -- creation ------------------------------------------------------------------------

    def uac_response(self, request: Request, response: Response) -> Dialog | None:
        """Feed a response to a dialog-creating request we sent; returns its dialog.

        1xx with a To tag creates an early dialog (one per tag: forking), 2xx confirms or
        creates, 300-699 terminates every early dialog of the request.
        """
        if response.status >= 300:
            for d in list(self._dialogs.values()):
                if (
                    d.is_uac
                    and d.id.call_id == request.call_id
                    and d.id.local_tag == request.from_.tag
                    and d.state is DialogState.EARLY
                ):
                    d.receive_response(request, response)
                    self.remove(d)
            return None
        if response.status == 100 or not response.to.tag:
            return None
        dialog = self.match_response(response)
        if dialog is None:
            return self._add(Dialog.from_uac(request, response))
        dialog.receive_response(request, response)
        return dialog

    def uas_response(self, request: Request, response: Response) -> Dialog | None:
        """Record our 1xx/2xx to a dialog-creating request; returns the (new) dialog."""
        if response.status == 100 or not response.to.tag:
            return None
        dialog_id = DialogId(request.call_id, response.to.tag, request.from_.tag or "")
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            if response.status >= 300:
                return None
            return self._add(Dialog.from_uas(request, response))
        dialog.sent_response(request, response)
        if dialog.terminated:
            self.remove(dialog)
        return dialog
