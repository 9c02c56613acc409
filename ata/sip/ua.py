"""The user agent core of one SIP line: calls over transactions and dialogs (sans-IO).

Theory of operation
-------------------
:class:`UserAgent` glues the :class:`~ata.sip.transaction_layer.TransactionLayer`, the
:class:`~ata.sip.dialog.DialogSet`, SDP offer/answer (:mod:`ata.sip.sdp`) and digest
authentication (:mod:`ata.sip.digest`) into phone calls (:mod:`ata.sip.call`).

Driver contract (same as every sans-IO core): feed datagrams/stream frames with
``receive(data, addr, now, transport)``; send everything ``datagrams_to_send()`` returns; arm a
timer for ``get_timer()`` and call ``handle_timer(now)``; read ``next_event()`` until None. The
line layer commands with ``place_call``, ``answer``, ``reject``, ``hang_up``, ``hold``,
``resume``.

Inbound requests: malformed → 400 (or dropped when unanswerable), counted in ``stats``; then
RFC 3261 §8.2 checks (:func:`ata.sip.validate.validate_request`), then the dialog
(481 when a To tag matches nothing), then the method. An incoming INVITE is checked against
our user (ghost-call protection, 404), its Accept (406 when SDP is not acceptable), the
call cap (486) and its SDP (400/488) before the phone rings; a 180 is sent at once.
Outgoing INVITEs carry an SDP offer; a 401/407 is answered once with credentials; a 2xx is
ACKed (again for each retransmission); a hang-up before any provisional waits for one to
CANCEL (RFC 3261 §9.1); a 2xx that crosses our CANCEL is ACKed and BYEd. Hold and resume
are re-INVITEs with ``sendonly``/``sendrecv``; a 491 schedules the §14.1 retry.
Re-INVITE/UPDATE offers from the peer are answered and reported as hold/resume.

Next hop: the outbound proxy when configured, else the first Route or the remote target,
which must be an IP literal unless a ``resolver`` callback is given (DNS lives in the runtime).
"""

from __future__ import annotations

from dataclasses import replace

from ata.sip.call import (
    Call,
    CallAnswered,
    CallDirection,
    CallEarlyMedia,
    CallEvent,
    CallFailed,
    CallHeld,
    CallInput,
    CallResumed,
    CallRinging,
    CallState,
    MediaUpdate,
)
from ata.sip.errors import SipError, SipParseError, SipRequestRejected
from ata.sip.headers import CSeq, NameAddr
from ata.sip.message import Request, Response, make_response
from ata.sip.parser import parse_message
from ata.sip.sdp import (
    Direction,
    SdpError,
    SdpNegotiationError,
    make_answer,
    make_offer,
    negotiate_answer,
    parse_sdp,
)
from ata.sip.transaction import Address, Outgoing
from ata.sip.transaction_layer import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    ServerGaveUp,
    StrayResponse,
    TransactionLimitError,
    TransactionTimeout,
    TransportFailed,
)
from ata.sip.ua_core import SDP_ID_KEY
from ata.sip.ua_subscribe import UaSubscribe
from ata.sip.ua_support import (
    ALLOW,
    SDP,
    UaConfig,
    authorized_retry,
    local_contact,
    local_identity,
    local_via,
)
from ata.sip.uri import SipURI, escape_user

__all__ = ["UaConfig", "UserAgent"]


class UserAgent(UaSubscribe):
    """See the module docstring."""

    # == driver API =============================================================================

    def receive(self, data: bytes, addr: Address, now: float, transport: str = "udp") -> None:
        """Feed one datagram (or one frame from :class:`~ata.sip.parser.StreamFramer`)."""
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self._parse_failed(exc, addr, transport)
            return
        self.receive_message(msg, addr, now, transport)

    def receive_message(
        self, msg: Request | Response, addr: Address, now: float, transport: str = "udp"
    ) -> None:
        try:
            self.tx.receive(msg, addr, now, transport)
        except SipParseError as exc:
            exc.is_request = isinstance(msg, Request)
            exc.headers = msg.headers
            self._parse_failed(exc, addr, transport)
        self._pump(now)

    def next_event(self) -> CallEvent | None:
        return self._events.popleft() if self._events else None

    def datagrams_to_send(self) -> list[Outgoing]:
        return self.tx.datagrams_to_send()

    def get_timer(self) -> float | None:
        deadlines = [c.glare_retry_at for c in self.calls.values() if c.glare_retry_at is not None]
        tx_deadline = self.tx.get_timer()
        if tx_deadline is not None:
            deadlines.append(tx_deadline)
        deadlines += self._aux_deadlines()
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        self.tx.handle_timer(now)
        for call in list(self.calls.values()):
            if call.glare_retry_at is not None and call.glare_retry_at <= now:
                call.glare_retry_at = None
                if call.state is CallState.CONNECTED:
                    self._reinvite(call, hold=bool(call.glare_hold), now=now)
        self._aux_timers(now)
        self._pump(now)

    # == line commands ==========================================================================

    def place_call(self, handle: str, number: str, now: float) -> None:
        uri = SipURI(self.config.domain, user=escape_user(number))
        self._send_invite(handle, uri, now)

    def _send_invite(
        self,
        handle: str,
        uri: SipURI,
        now: float,
        extra_headers: list[tuple[str, object]] | None = None,
        via_domain: bool = False,
    ) -> None:
        """A new outgoing call to ``uri`` (``via_domain``: sent to our domain's next hop
        whatever the URI's host, e.g. a transfer target)."""
        cfg = self.config
        active = [c for c in self.calls.values() if not c.ended]
        if handle in self.calls or len(active) >= cfg.max_calls:
            self._events.append(CallFailed(handle, 503, "Too many calls"))
            return
        call_id = f"{self._new_id()}@{cfg.local_host}"
        tag = self._new_id()
        sdp_id = self._session_id()
        offer = make_offer(self._audio, session_id=sdp_id, session_version=1)
        request = Request(
            "INVITE",
            uri,
            [
                ("Via", local_via(self.config)),
                ("Max-Forwards", 70),
                ("From", local_identity(self.config).with_tag(tag)),
                ("To", NameAddr(uri)),
                ("Call-ID", call_id),
                ("CSeq", CSeq(1, "INVITE")),
                ("Contact", local_contact(self.config)),
                ("Allow", ALLOW),
                ("User-Agent", cfg.user_agent),
                ("Content-Type", SDP),
                *(extra_headers or []),
            ],
            offer.to_bytes(),
        )
        call = Call(handle, CallDirection.OUTGOING, call_id, tag, CallState.CALLING, request)
        call.local_offer = offer
        call.extra[SDP_ID_KEY] = sdp_id
        try:
            dest = self._hop(SipURI(cfg.domain) if via_domain else uri)
            key = self.tx.send_request(request, dest, now, cfg.transport)
        except (TransactionLimitError, SipError) as exc:
            self._events.append(CallFailed(handle, exc.status, exc.reason))
            return
        call.invite_key = key
        self._register(call)
        self._client[key] = (call, "invite")

    def answer(self, handle: str, now: float) -> bool:
        call = self.calls.get(handle)
        if call is None or call.state is not CallState.INCOMING:
            return False
        body = b""
        media = None
        try:
            if call.remote_offer is not None:
                answer, media = make_answer(
                    call.remote_offer,
                    self._audio,
                    session_id=self._sdp_id(call),
                    session_version=call.session_version,
                )
                body = answer.to_bytes()
            else:
                offer = make_offer(self._audio, session_id=self._sdp_id(call), session_version=1)
                call.local_offer = offer
                body = offer.to_bytes()
        except (SdpError, SdpNegotiationError) as exc:
            self._respond_final(call, exc.status, now)
            call.step(CallInput.REJECT)
            self._end(call, "rejected")
            return False
        headers: list[tuple[str, object]] = [
            ("Contact", local_contact(self.config)),
            ("Allow", ALLOW),
            ("Content-Type", SDP),
        ]
        ok = make_response(call.invite, 200, to_tag=call.local_tag, headers=headers, body=body)
        call.dialog = self.dialogs.uas_response(call.invite, ok)
        self.tx.send_response(ok, now)
        call.step(CallInput.ANSWER)
        if media is not None:
            call.media = media
            self._events.append(MediaUpdate(handle, media))
        return True

    def reject(self, handle: str, status: int, now: float) -> bool:
        call = self.calls.get(handle)
        if call is None or call.state is not CallState.INCOMING or not 300 <= status <= 699:
            return False
        self._respond_final(call, status, now)
        call.step(CallInput.REJECT)
        self._end(call, "rejected")
        return True

    def hang_up(self, handle: str, now: float) -> bool:
        call = self.calls.get(handle)
        if call is None or call.ended:
            return False
        state = call.state
        if state is CallState.INCOMING:
            return self.reject(handle, 603, now)
        if not call.step(CallInput.HANG_UP):
            return False
        if state is CallState.CALLING:
            call.hang_up_pending = True  # CANCEL once a provisional arrives (§9.1)
        elif state is CallState.RINGING:
            self._send_cancel(call, now)
        elif state is CallState.CONNECTED:
            self._send_bye(call, now)
        self._end(call, "local")
        return True

    def hold(self, handle: str, now: float) -> bool:
        return self._hold_or_resume(handle, True, now)

    def resume(self, handle: str, now: float) -> bool:
        return self._hold_or_resume(handle, False, now)

    # == event pump =============================================================================

    def _pump(self, now: float) -> None:
        while (ev := self.tx.next_event()) is not None:
            try:
                self._dispatch(ev, now)
            except (SipParseError, SipRequestRejected):
                # A message that reached a transaction but lacks what the TU needs (e.g. no
                # Call-ID on a stray response): drop it, count it, keep serving.
                self.stats["dropped_events"] += 1
        self._aux_pumped(now)
        self._reap()

    def _dispatch(self, ev: Event, now: float) -> None:
        if isinstance(ev, RequestReceived):
            self._on_request(ev.request, ev.addr, now)
        elif isinstance(ev, ResponseReceived):
            entry = self._client.get(ev.key)
            if entry is not None:
                self._on_response(entry[0], entry[1], ev.request, ev.response, now)
            else:
                self._aux_response(ev.key, ev.request, ev.response, now)
        elif isinstance(ev, CancelReceived):
            self._on_cancel(ev.invite_key, now)
        elif isinstance(ev, AckReceived):
            self._on_ack(ev.request)
        elif isinstance(ev, TransactionTimeout | TransportFailed):
            entry = self._client.pop(ev.key, None)
            if entry is not None:
                cause = "timeout" if isinstance(ev, TransactionTimeout) else "transport"
                self._on_failure(entry[0], entry[1], cause, now)
            else:
                self._aux_failure(ev.key, now)
        elif isinstance(ev, AckTimeout):
            call = self._by_dialog.get((ev.response.call_id, ev.response.to.tag or ""))
            if call is not None and call.state is CallState.CONNECTED:
                call.step(CallInput.TIMEOUT)
                self._send_bye(call, now)
                self._end(call, "no-ack")
        elif isinstance(ev, ServerGaveUp):
            call = next((c for c in self.calls.values() if c.invite_key == ev.key), None)
            if call is not None and call.state is CallState.INCOMING:
                call.step(CallInput.TIMEOUT)
                self._end(call, "timeout")
        elif isinstance(ev, StrayResponse):
            self._on_stray(ev.response)

    # == responses to our requests ==============================================================

    def _on_response(
        self, call: Call, purpose: str, req: Request, resp: Response, now: float
    ) -> None:
        if purpose == "invite":
            self._invite_response(call, req, resp, now)
        elif purpose in ("hold", "resume"):
            self._reinvite_response(call, purpose, req, resp, now)
        elif purpose == "bye" and resp.status >= 200:
            call.step(CallInput.SUCCESS if resp.status < 300 else CallInput.FAILURE)
        elif purpose == "refer":
            self._refer_response(call, resp.status, now)

    def _invite_response(self, call: Call, req: Request, resp: Response, now: float) -> None:
        status = resp.status
        if status == 100:
            return
        if status < 200:
            dialog = self.dialogs.uac_response(req, resp)
            if call.dialog is None:
                call.dialog = dialog
            if call.state is CallState.CANCELLING:
                if call.hang_up_pending:
                    call.hang_up_pending = False
                    self._send_cancel(call, now)
                return
            call.step(CallInput.PROVISIONAL)
            media = self._early_media(call, resp)
            if media is not None:
                self._events.append(CallEarlyMedia(call.handle, media))
            elif not call.ringing_reported:
                call.ringing_reported = True
                self._events.append(CallRinging(call.handle))
            return
        if status < 300:
            self._invite_success(call, req, resp, now)
            return
        self.dialogs.uac_response(req, resp)
        if status in (401, 407) and self._retry_with_auth(call, req, resp, now):
            return
        self._client.pop(call.invite_key or (), None)
        if call.step(CallInput.FAILURE) and not call.ended_reported:
            call.ended_reported = True
            self._events.append(CallFailed(call.handle, status, resp.reason))

    def _invite_success(self, call: Call, req: Request, resp: Response, now: float) -> None:
        dialog = self.dialogs.uac_response(req, resp)
        if dialog is None:  # a 2xx without To tag cannot make a dialog (nor be ACKed)
            self._fail(call, 502, "2xx without To tag")
            return
        if (
            call.dialog is not None
            and dialog is not call.dialog
            and call.state
            in (
                CallState.CONNECTED,
                CallState.TERMINATING,
            )
        ):
            self._send_ack(call, dialog, now)  # a second fork answered: ACK it and BYE it
            self._send_bye_dialog(call, dialog, now, purpose="fork-bye")
            return
        if call.state in (CallState.CONNECTED, CallState.TERMINATING) and call.ack_bytes:
            self._resend_ack(call)
            return
        call.dialog = dialog
        self._send_ack(call, dialog, now)
        media = None
        if call.local_offer is not None and resp.body:
            try:
                media = negotiate_answer(
                    call.local_offer, parse_sdp(resp.body), self._local_audio(call)
                )
            except (SdpError, SdpNegotiationError):
                media = None
        if call.state is CallState.CANCELLING:
            call.step(CallInput.SUCCESS)
            self._send_bye(call, now)
            return
        call.step(CallInput.SUCCESS)
        call.local_offer = None
        if media is None:
            call.step(CallInput.HANG_UP)
            self._send_bye(call, now)
            call.ended_reported = True
            self._events.append(CallFailed(call.handle, 488, "No usable SDP answer"))
            return
        self._events.append(CallAnswered(call.handle))
        call.media = media
        self._events.append(MediaUpdate(call.handle, media))

    def _retry_with_auth(self, call: Call, req: Request, resp: Response, now: float) -> bool:
        if self.credentials is None or call.auth_attempts >= self.config.max_auth_attempts:
            return False
        if call.auth_attempts == 0:
            # A challenge that opens a call is never a refusal of *this* call's answer, even
            # if the realm was answered in an earlier call (DigestClient.rejected memory).
            self.credentials.reset()
        retry = authorized_retry(req, resp, self.credentials, local_via(self.config))
        if retry is None:
            return False
        call.auth_attempts += 1
        self._client.pop(call.invite_key or (), None)
        try:
            key = self.tx.send_request(retry, self._hop(retry.uri), now, self.config.transport)
        except SipError:
            return False
        call.invite, call.invite_key = retry, key
        self._client[key] = (call, "invite")
        return True

    def _reinvite_response(
        self, call: Call, purpose: str, req: Request, resp: Response, now: float
    ) -> None:
        dialog = call.dialog
        if dialog is None or resp.status < 200:
            return
        dialog.receive_response(req, resp)
        if resp.status == 491:
            call.glare_retry_at = now + dialog.glare_retry_delay(self._rand())
            call.glare_hold = purpose == "hold"
            return
        if resp.status >= 300:
            call.local_offer = None
            return
        self._send_ack(call, dialog, now, cseq=req.cseq.seq)
        offer, call.local_offer = call.local_offer, None
        call.held_local = purpose == "hold"
        if offer is not None and resp.body:
            try:
                media = negotiate_answer(offer, parse_sdp(resp.body), self._local_audio(call))
            except (SdpError, SdpNegotiationError):
                return
            call.media = media
            self._events.append(MediaUpdate(call.handle, media))
        event = CallHeld if purpose == "hold" else CallResumed
        self._events.append(event(call.handle, by_remote=False))

    def _on_failure(self, call: Call, purpose: str, cause: str, now: float) -> None:
        if purpose == "invite":
            if call.state is CallState.RINGING and cause == "timeout":
                self._send_cancel(call, now)  # Timer C: stop the far end ringing (§16.8)
            if call.step(CallInput.TIMEOUT) and not call.ended_reported:
                call.ended_reported = True
                self._events.append(CallFailed(call.handle, 408, cause))
        elif purpose in ("hold", "resume") and call.state is CallState.CONNECTED:
            call.step(CallInput.TIMEOUT)
            self._send_bye(call, now)
            self._end(call, cause)
        elif purpose == "bye":
            call.step(CallInput.TIMEOUT)
        elif purpose == "refer":
            self._refer_response(call, 408, now)

    def _on_stray(self, resp: Response) -> None:
        if resp.cseq.method == "INVITE" and 200 <= resp.status < 300:
            cached = self._acks.get((resp.call_id, resp.from_.tag or ""))
            if cached is not None:
                self.tx.send_bytes(cached[0], cached[1], self.config.transport)

    # == hold / resume ===========================================================================

    def _hold_or_resume(self, handle: str, hold: bool, now: float) -> bool:
        call = self.calls.get(handle)
        if call is None or call.state is not CallState.CONNECTED or call.dialog is None:
            return False
        if call.dialog.pending_invite_out or call.dialog.pending_invite_in:
            call.glare_retry_at = now + call.dialog.glare_retry_delay(self._rand())
            call.glare_hold = hold
            return True
        self._reinvite(call, hold, now)
        return True

    def _reinvite(self, call: Call, hold: bool, now: float) -> None:
        dialog = call.dialog
        if dialog is None:
            return
        call.session_version += 1
        # The call's own audio (a subclass may keep one per call), with the hold direction.
        direction = Direction.SENDONLY if hold else Direction.SENDRECV
        audio = replace(self._local_audio(call), direction=direction)
        offer = make_offer(
            audio, session_id=self._sdp_id(call), session_version=call.session_version
        )
        call.local_offer = offer
        req = dialog.create_request(
            "INVITE",
            local_via(self.config),
            headers=[("Allow", ALLOW), ("Content-Type", SDP)],
            body=offer.to_bytes(),
        )
        self._send_in_dialog(call, dialog, req, "hold" if hold else "resume", now)
