"""Requests from the network for :class:`ata.sip.ua.UserAgent`: validation, new calls,
in-dialog requests (BYE, re-INVITE/UPDATE offers, INFO DTMF), CANCEL, ACK, NOTIFY."""

from __future__ import annotations

from ata.sip.call import (
    Call,
    CallDirection,
    CallIncoming,
    CallInput,
    CallState,
    DtmfReceived,
    MessageWaiting,
    caller_identity,
)
from ata.sip.dialog import Dialog
from ata.sip.errors import SipParseError, SipRequestRejected
from ata.sip.message import Request, make_response
from ata.sip.refer import parse_replaces
from ata.sip.sdp import (
    SdpError,
    SdpNegotiationError,
    SessionDescription,
    make_answer,
    make_offer,
    negotiate_answer,
    parse_sdp,
)
from ata.sip.transaction import Address, TxKey
from ata.sip.transaction_layer import (
    server_key,
)
from ata.sip.ua_core import REPLACES_KEY, UaCore
from ata.sip.ua_support import (
    ALLOW,
    SDP,
    UA_PROFILE,
    accepts_sdp,
    addressed_to,
    dtmf_relay,
    local_contact,
    message_summary,
)
from ata.sip.validate import validate_request


class UaInbound(UaCore):
    """Inbound request handling (mixed into :class:`~ata.sip.ua.UserAgent`)."""

    # == inbound requests =======================================================================

    def _on_request(self, req: Request, addr: Address, now: float) -> None:
        try:
            validate_request(req, UA_PROFILE)
            if self._aux_request(req, now):
                return
            dialog = self.dialogs.route_request(req)
        except SipRequestRejected as rej:
            self.stats["rejected"] += 1
            self._answer(req, rej.status, now, headers=rej.extra_headers)
            return
        except SipParseError as exc:
            self.stats["rejected"] += 1
            self._answer(req, exc.status, now)
            return
        if dialog is not None:
            self._in_dialog(dialog, req, now)
            return
        method = req.method
        if method == "INVITE":
            self._incoming_invite(req, now)
        elif method == "OPTIONS":
            self._answer(req, 200, now, headers=[("Allow", ALLOW), ("Accept", SDP)])
        elif method == "NOTIFY":
            self._notify(req, now)
        elif method == "REFER":
            self._answer(req, 403, now)  # only a party to one of our calls may transfer it
        else:
            self._answer(req, 481, now)

    def _incoming_invite(self, req: Request, now: float) -> None:
        cfg = self.config
        if cfg.check_request_uri and not addressed_to(self.config, req):
            self._answer(req, 404, now)
            return
        replaces = ""
        if req.headers.get("Replaces") is not None:
            replaces = self._replaced_call(req, now)
            if not replaces:
                return
        if not accepts_sdp(req):  # RFC 4475 §3.3.15: our 200 could only carry SDP
            self._answer(req, 406, now, headers=[("Accept", SDP)])
            return
        active = [c for c in self.calls.values() if not c.ended]
        if self._merged(req, active):
            self._answer(req, 482, now)  # §8.2.2.2: the same INVITE by another path
            return
        if len(active) >= cfg.max_calls:
            self._answer(req, 486, now)
            return
        offer: SessionDescription | None = None
        if req.body:
            try:
                offer = parse_sdp(req.body)
                make_answer(offer, self._audio, session_id=1, session_version=1)
            except (SdpError, SdpNegotiationError) as exc:
                self._answer(req, exc.status, now)
                return
        tag = self._new_id()
        handle = f"in-{tag}"
        call = Call(handle, CallDirection.INCOMING, req.call_id, tag, CallState.INCOMING, req)
        call.remote_offer = offer
        call.invite_key = server_key(req)
        if replaces:
            call.extra[REPLACES_KEY] = replaces
        self._register(call)
        ringing = make_response(
            req, 180, to_tag=tag, headers=[("Contact", local_contact(self.config))]
        )
        try:
            call.dialog = self.dialogs.uas_response(req, ringing)
        except SipRequestRejected as rej:  # dialog cap reached
            call.state = CallState.ENDED
            call.ended_reported = True
            self._answer(req, rej.status, now, headers=rej.extra_headers)
            return
        self.tx.send_response(ringing, now)
        number, name, withheld = caller_identity(req)
        alert = tuple(req.headers.values("Alert-Info"))
        self._events.append(
            CallIncoming(handle, number, name, withheld, alert, offer is not None, replaces)
        )

    def _replaced_call(self, req: Request, now: float) -> str:
        """The handle of the connected call an INVITE with Replaces takes over (RFC 3891),
        else "" after answering 400 (malformed) or 481 (no such confirmed dialog)."""
        parsed = parse_replaces(req.headers.get("Replaces") or "")
        if parsed is None:
            self._answer(req, 400, now)
            return ""
        call_id, to_tag, from_tag, early_only = parsed
        old = self._by_dialog.get((call_id, to_tag))
        dialog = old.dialog if old is not None else None
        if old is None or dialog is None or dialog.id.remote_tag != from_tag:
            self._answer(req, 481, now)
            return ""
        if early_only or old.state is not CallState.CONNECTED:
            self._answer(req, 486 if early_only else 481, now)
            return ""
        return old.handle

    @staticmethod
    def _merged(req: Request, active: list[Call]) -> bool:
        """Another copy (different branch) of an INVITE we are already handling."""
        from_tag = req.from_.tag
        for call in active:
            old = call.invite
            if (
                call.direction is CallDirection.INCOMING
                and old.call_id == req.call_id
                and old.from_.tag == from_tag
                and old.cseq == req.cseq
            ):
                return True
        return False

    def _in_dialog(self, dialog: Dialog, req: Request, now: float) -> None:
        call = self._by_dialog.get((dialog.id.call_id, dialog.id.local_tag))
        method = req.method
        if call is None:
            self._answer(req, 481, now)
            return
        if method == "BYE":
            self._answer(req, 200, now)
            if call.step(CallInput.REMOTE_BYE):
                self._end(call, "remote-bye")
            self.dialogs.remove(dialog)
        elif method in ("INVITE", "UPDATE"):
            self._remote_offer(call, dialog, req, now)
        elif method == "INFO":
            self._answer(req, 200, now)
            key, duration = dtmf_relay(req)
            if key:
                self._events.append(DtmfReceived(call.handle, key, duration))
        elif method == "REFER":
            self._refer_received(call, dialog, req, now)
        elif method == "NOTIFY":
            self._dialog_notify(call, dialog, req, now)
        elif method == "OPTIONS":
            self._answer(req, 200, now, headers=[("Allow", ALLOW)])
        else:
            self._answer(req, 405, now, headers=[("Allow", ALLOW)])

    def _remote_offer(self, call: Call, dialog: Dialog, req: Request, now: float) -> None:
        headers: list[tuple[str, object]] = [
            ("Contact", local_contact(self.config)),
            ("Allow", ALLOW),
        ]
        if req.body or req.method == "INVITE":
            call.session_version += 1
        local = self._local_audio(call)
        media = None
        if req.body:
            try:
                offer = parse_sdp(req.body)
                answer, media = make_answer(
                    offer,
                    local,
                    session_id=self._sdp_id(call),
                    session_version=call.session_version,
                )
            except (SdpError, SdpNegotiationError) as exc:
                resp = make_response(req, exc.status, to_tag=dialog.id.local_tag)
                dialog.sent_response(req, resp)
                self.tx.send_response(resp, now)
                return
            body = answer.to_bytes()
        elif req.method == "UPDATE":  # no offer: a session refresh (RFC 4028); plain 200
            ok = make_response(req, 200, to_tag=dialog.id.local_tag, headers=headers)
            dialog.sent_response(req, ok)
            self.tx.send_response(ok, now)
            return
        else:
            offer_sdp = make_offer(
                local, session_id=self._sdp_id(call), session_version=call.session_version
            )
            call.local_offer = offer_sdp
            body = offer_sdp.to_bytes()
        headers.append(("Content-Type", SDP))
        ok = make_response(req, 200, to_tag=dialog.id.local_tag, headers=headers, body=body)
        dialog.sent_response(req, ok)
        self.tx.send_response(ok, now)
        if media is not None:
            self._media_changed(call, media, by_remote=True)

    def _refer_received(self, call: Call, dialog: Dialog, req: Request, now: float) -> None:
        self._answer(req, 405, now, headers=[("Allow", ALLOW)])  # see ua_refer

    def _dialog_notify(self, call: Call, dialog: Dialog, req: Request, now: float) -> None:
        self._answer(req, 200, now, headers=[("Allow", ALLOW)])

    def _notify(self, req: Request, now: float) -> None:
        self._answer(req, 200, now)
        summary = message_summary(req)
        if summary is not None:
            self._events.append(MessageWaiting(*summary))

    def _on_cancel(self, invite_key: TxKey, now: float) -> None:
        for call in self.calls.values():
            if call.invite_key == invite_key and call.state is CallState.INCOMING:
                self._respond_final(call, 487, now)
                call.step(CallInput.REMOTE_CANCEL)
                self._end(call, "cancelled")
                return

    def _on_ack(self, ack: Request) -> None:
        call = self._by_dialog.get((ack.call_id, ack.to.tag or ""))
        if call is None or call.local_offer is None or not ack.body:
            return
        offer, call.local_offer = call.local_offer, None
        try:
            media = negotiate_answer(offer, parse_sdp(ack.body), self._local_audio(call))
        except (SdpError, SdpNegotiationError):
            return
        self._media_changed(call, media, by_remote=True)
