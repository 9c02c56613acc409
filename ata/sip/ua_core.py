"""Shared state and helpers of :class:`ata.sip.ua.UserAgent` (split out by concern:
sending in-dialog requests, ACK/BYE/CANCEL, bookkeeping of calls, next hops)."""

from __future__ import annotations

import contextlib
import random
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace

from ata.sip.call import (
    Call,
    CallEnded,
    CallEvent,
    CallFailed,
    CallHeld,
    CallInput,
    CallResumed,
    CallState,
    MediaUpdate,
)
from ata.sip.dialog import Dialog, DialogSet
from ata.sip.digest import DigestClient
from ata.sip.errors import SipError, SipParseError
from ata.sip.message import Request, Response, error_response, make_cancel, make_response
from ata.sip.sdp import (
    AudioConfig,
    Direction,
    NegotiatedAudio,
    SdpError,
    SdpNegotiationError,
    negotiate_answer,
    parse_sdp,
)
from ata.sip.timers import DEFAULT_TIMERS, TimerConfig
from ata.sip.transaction import Address, TxKey
from ata.sip.transaction_layer import (
    TransactionLayer,
)
from ata.sip.ua_support import (
    Resolver,
    UaConfig,
    dialog_hop,
    local_via,
    out_of_dialog_hop,
)
from ata.sip.uri import URI, SipURI

SDP_ID_KEY = "sdp_session_id"
REPLACES_KEY = "replaces"  # call.extra: the handle of the call an incoming INVITE replaces


class UaCore:
    """State and helpers; see :mod:`ata.sip.ua` for the theory of operation."""

    def __init__(
        self,
        config: UaConfig,
        *,
        credentials: DigestClient | None = None,
        timers: TimerConfig = DEFAULT_TIMERS,
        new_id: Callable[[], str] | None = None,
        rand: Callable[[], float] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self._new_id = new_id or (lambda: secrets.token_hex(8))
        self._rand = rand or random.random
        self._resolver = resolver
        self.tx = TransactionLayer(timers, new_id=self._new_id)
        self.dialogs = DialogSet()
        self.calls: dict[str, Call] = {}
        self._by_dialog: dict[tuple[str, str], Call] = {}  # (Call-ID, our tag)
        self._client: dict[TxKey, tuple[Call, str]] = {}
        self._acks: OrderedDict[tuple[str, str], tuple[bytes, Address]] = OrderedDict()
        self._events: deque[CallEvent] = deque()
        self._audio = config.audio or AudioConfig(address=config.local_host, port=4000)
        self.stats: dict[str, int] = {
            "parse_errors": 0,
            "answered_errors": 0,
            "rejected": 0,
            "dropped_events": 0,
        }
        self._init_aux()

    # == hooks of the REFER / SUBSCRIBE mixins (ua_refer, ua_subscribe) ===========================

    def _init_aux(self) -> None:
        return None

    def _aux_pumped(self, now: float) -> None:
        """After every pump of transaction events, before finished calls are reaped."""
        return

    def _aux_deadlines(self) -> list[float]:
        return []

    def _aux_timers(self, now: float) -> None:
        return None

    def _aux_response(self, key: TxKey, req: Request, resp: Response, now: float) -> None:
        """A response to a client transaction no call owns (e.g. a SUBSCRIBE's)."""
        return

    def _aux_failure(self, key: TxKey, now: float) -> None:
        return None

    def _aux_request(self, req: Request, now: float) -> bool:
        """Take an inbound request before dialog routing (e.g. a subscription's NOTIFY)."""
        return False

    def _refer_response(self, call: Call, status: int, now: float) -> None:
        return None

    def _send_invite(
        self,
        handle: str,
        uri: SipURI,
        now: float,
        extra_headers: list[tuple[str, object]] | None = None,
        via_domain: bool = False,
    ) -> None:
        raise NotImplementedError  # ata.sip.ua.UserAgent

    # == helpers ==================================================================================

    def _send_in_dialog(
        self, call: Call, dialog: Dialog, req: Request, purpose: str, now: float
    ) -> None:
        try:
            key = self.tx.send_request(req, self._dialog_hop(dialog), now, self.config.transport)
        except SipError:
            return
        self._client[key] = (call, purpose)

    def _send_bye(self, call: Call, now: float) -> None:
        if call.dialog is not None:
            self._send_bye_dialog(call, call.dialog, now, purpose="bye")
            self.dialogs.remove(call.dialog)

    def _send_bye_dialog(self, call: Call, dialog: Dialog, now: float, purpose: str) -> None:
        bye = dialog.create_request("BYE", local_via(self.config))
        self._send_in_dialog(call, dialog, bye, purpose, now)

    def _send_cancel(self, call: Call, now: float) -> None:
        cancel = make_cancel(call.invite)
        try:
            key = self.tx.send_request(
                cancel,
                self._hop(call.invite.uri),
                now,
                self.config.transport,
            )
        except SipError:
            return
        self._client[key] = (call, "cancel")

    def _send_ack(self, call: Call, dialog: Dialog, now: float, cseq: int | None = None) -> None:
        via = local_via(self.config)
        via.params["branch"] = self.tx.new_branch()
        ack = dialog.create_request("ACK", via, cseq=cseq or dialog.invite_cseq)
        dest = self._dialog_hop(dialog)
        data = ack.to_bytes()
        call.ack_bytes = data
        self._acks[(call.call_id, call.local_tag)] = (data, dest)
        while len(self._acks) > 64:
            self._acks.popitem(last=False)
        self.tx.send_bytes(data, dest, self.config.transport)

    def _resend_ack(self, call: Call) -> None:
        cached = self._acks.get((call.call_id, call.local_tag))
        if cached is not None:
            self.tx.send_bytes(cached[0], cached[1], self.config.transport)

    def _early_media(self, call: Call, resp: Response) -> NegotiatedAudio | None:
        if call.local_offer is None or not resp.body or call.early_media_reported:
            return None
        try:
            media = negotiate_answer(
                call.local_offer, parse_sdp(resp.body), self._local_audio(call)
            )
        except (SdpError, SdpNegotiationError):
            return None
        call.early_media_reported = True
        call.media = media
        return media

    def _media_changed(self, call: Call, media: NegotiatedAudio, by_remote: bool) -> None:
        was_held = call.held_remote
        # The peer holds us when it no longer wants our media (sendonly/inactive offer).
        call.held_remote = not media.direction.sends and not call.held_local
        call.media = media
        self._events.append(MediaUpdate(call.handle, media))
        if call.held_remote and not was_held:
            self._events.append(CallHeld(call.handle, by_remote=by_remote))
        elif was_held and not call.held_remote:
            self._events.append(CallResumed(call.handle, by_remote=by_remote))

    def _local_audio(self, call: Call) -> AudioConfig:
        if call.held_local:
            return replace(self._audio, direction=Direction.SENDONLY)
        return self._audio

    def _respond_final(self, call: Call, status: int, now: float) -> None:
        resp = make_response(call.invite, status, to_tag=call.local_tag)
        self.dialogs.uas_response(call.invite, resp)
        with contextlib.suppress(SipParseError):  # the INVITE transaction may be gone
            self.tx.send_response(resp, now)

    def _answer(
        self,
        req: Request,
        status: int,
        now: float,
        headers: list[tuple[str, str]] | list[tuple[str, object]] | None = None,
    ) -> None:
        if req.method == "ACK":
            return
        resp = make_response(req, status, to_tag=self._new_id(), headers=headers or [])
        try:
            self.tx.send_response(resp, now)
        except SipParseError:
            self.stats["answered_errors"] += 1

    def _parse_failed(self, exc: SipParseError, addr: Address, transport: str) -> None:
        self.stats["parse_errors"] += 1
        resp = error_response(exc)
        if resp is not None:
            self.stats["answered_errors"] += 1
            self.tx.send_stateless(resp, addr, transport)

    def _end(self, call: Call, cause: str) -> None:
        if not call.ended_reported:
            call.ended_reported = True
            self._events.append(CallEnded(call.handle, cause))

    def _register(self, call: Call) -> None:
        self.calls[call.handle] = call
        self._by_dialog[(call.call_id, call.local_tag)] = call

    def _hop(self, uri: URI) -> Address:
        return out_of_dialog_hop(self.config, uri, self._resolver)

    def _dialog_hop(self, dialog: Dialog) -> Address:
        return dialog_hop(self.config, dialog, self._resolver)

    def _session_id(self) -> int:
        return int(self._rand() * 2**31) + 1

    def _sdp_id(self, call: Call) -> int:
        """The o= session id of this call: fixed for its life (RFC 3264 §8), versions grow."""
        sid = call.extra.get(SDP_ID_KEY)
        if not isinstance(sid, int):
            sid = self._session_id()
            call.extra[SDP_ID_KEY] = sid
        return sid

    def _fail(self, call: Call, status: int, reason: str) -> None:
        if call.step(CallInput.FAILURE) and not call.ended_reported:
            call.ended_reported = True
            self._events.append(CallFailed(call.handle, status, reason))

    def _reap(self) -> None:
        pending = (CallState.CALLING, CallState.RINGING, CallState.CANCELLING)
        for call in list(self.calls.values()):
            # Safety net: the INVITE transaction ended without a final answer the call could
            # use (e.g. a malformed 2xx): the call cannot progress any more.
            if call.state in pending and self.tx.transaction(call.invite_key or ()) is None:
                self._client.pop(call.invite_key or (), None)
                self._fail(call, 408, "no usable final response")
        for handle, call in list(self.calls.items()):
            if call.ended:
                del self.calls[handle]
                if self._by_dialog.get((call.call_id, call.local_tag)) is call:
                    del self._by_dialog[(call.call_id, call.local_tag)]
                self.dialogs.remove_all(call.call_id, call.local_tag)
        self.dialogs.purge_terminated()
