"""Call transfer for :class:`ata.sip.ua.UserAgent`: REFER received and sent (sans-IO).

Theory of operation
-------------------
**Being transferred** (the far end — a PBX, a phone's transfer key — sends REFER in a
connected call). The REFER is checked (:func:`ata.sip.refer.parse_refer_to`; 400 when bad,
491 while another transfer of the call is pending or we hold the far end — the phone is busy
with its own transfer), answered 202, and the implicit ``refer``
subscription gets its first NOTIFY (``SIP/2.0 100 Trying``). The line hears
:class:`~ata.sip.call.TransferRequested` with a fresh ``new_handle``; the driver binds media
for it and calls :meth:`UaRefer.start_transfer` (or :meth:`UaRefer.abandon_transfer`), which
sends the INVITE to the Refer-To target through our domain's next hop, carrying
``Referred-By`` and, for an attended transfer, ``Replaces``. A transfer then moves through::

    REQUESTED --start--> INVITING --2xx--> done: NOTIFY 200 (terminated), BYE the old call,
        |                    |              event CallTransferred(old, new)
        +--abandon--+        +--failure--> NOTIFY <status> (terminated); the old call goes on
                    v
              failed: NOTIFY 503

While a transfer is pending, the old call's end (the transferor's BYE often comes right after
our 202) is *deferred*: no CallEnded reaches the line unless the new call fails. The new
call's own events (ringing, answer) are reported under ``new_handle`` as usual; the driver
keeps them from the phone until :class:`~ata.sip.call.CallTransferred`.

**Transferring** (:meth:`UaRefer.transfer`): REFER in the call's dialog with ``Refer-To``
(a number in our domain, a SIP URI, or a target plus Replaces for attended transfer) and our
``Referred-By``. The 2xx/failure and the NOTIFY sipfrags become
:class:`~ata.sip.call.TransferProgress`; a final 2xx ends the call (BYE, cause
"transferred"), a failure leaves it connected.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from ata.sip.call import (
    Call,
    CallFailed,
    CallInput,
    CallState,
    CallTransferred,
    TransferProgress,
    TransferRequested,
)
from ata.sip.dialog import Dialog
from ata.sip.message import Request, make_response
from ata.sip.refer import (
    SIPFRAG,
    ReferError,
    parse_refer_to,
    referred_by,
    sipfrag,
    sipfrag_status,
    subscription_state,
)
from ata.sip.ua_core import REPLACES_KEY
from ata.sip.ua_inbound import UaInbound
from ata.sip.ua_support import ALLOW, local_contact, local_identity, local_via
from ata.sip.uri import SipURI, escape_user, parse_uri

REFER_OUT_KEY = "refer_out"
MAX_TRANSFERS = 8
START_WITHIN_S = 32.0  # a requested transfer the driver never starts is abandoned (408)


class XferState(Enum):
    REQUESTED = auto()
    INVITING = auto()
    DONE = auto()
    FAILED = auto()


@dataclass
class Transfer:
    """One REFER we act on: the old call (kept even after it is reaped) and the new one."""

    old: Call
    new_handle: str
    target: SipURI
    headers: list[tuple[str, object]]
    refer_cseq: int
    start_by: float
    state: XferState = XferState.REQUESTED
    deferred_end: str | None = None  # the old call ended meanwhile, with this cause


class UaRefer(UaInbound):
    """REFER handling (mixed into :class:`~ata.sip.ua.UserAgent`)."""

    def _init_aux(self) -> None:
        super()._init_aux()
        self._xfers: dict[str, Transfer] = {}

    def _transfers(self) -> dict[str, Transfer]:
        return self._xfers

    # == the far end transfers us ===============================================================

    def _refer_received(self, call: Call, dialog: Dialog, req: Request, now: float) -> None:
        if call.state is not CallState.CONNECTED:
            self._answer(req, 481 if call.ended else 491, now)
            return
        pending = (XferState.REQUESTED, XferState.INVITING)
        busy = any(t.old is call and t.state in pending for t in self._transfers().values())
        if busy or call.held_local or REFER_OUT_KEY in call.extra:
            # one transfer of a call at a time; and not while we hold the far end (the phone
            # is in the middle of its own transfer or consultation)
            self._answer(req, 491, now)
            return
        if len(self._transfers()) >= MAX_TRANSFERS:
            self._answer(req, 503, now, headers=[("Retry-After", "5")])
            return
        try:
            target, headers = parse_refer_to(req)
        except ReferError as exc:
            self._answer(req, exc.status, now)
            return
        headers.append(("Referred-By", referred_by(req, dialog.remote_uri)))
        ok = make_response(
            req, 202, to_tag=dialog.id.local_tag, headers=[("Contact", local_contact(self.config))]
        )
        self.tx.send_response(ok, now)
        new_handle = f"xfer-{self._new_id()}"
        xfer = Transfer(call, new_handle, target, headers, req.cseq.seq, now + START_WITHIN_S)
        self._transfers()[new_handle] = xfer
        self._notify_refer(xfer, 100, "Trying", now)
        replaces = any(name == "Replaces" for name, _ in headers)
        self._events.append(TransferRequested(call.handle, new_handle, str(target), replaces))

    def start_transfer(self, new_handle: str, now: float) -> bool:
        """Send the INVITE of a requested transfer (after :class:`TransferRequested`)."""
        xfer = self._transfers().get(new_handle)
        if xfer is None or xfer.state is not XferState.REQUESTED:
            return False
        xfer.state = XferState.INVITING
        self._send_invite(new_handle, xfer.target, now, list(xfer.headers), via_domain=True)
        ok = new_handle in self.calls
        self._check_transfers(now)
        return ok

    def abandon_transfer(self, new_handle: str, status: int, now: float) -> None:
        """We cannot place the new call (e.g. no RTP port): tell the transferor."""
        xfer = self._transfers().get(new_handle)
        if xfer is None or xfer.state is not XferState.REQUESTED:
            return
        self._transfer_failed(xfer, status, "Service Unavailable", now)

    def _notify_refer(self, xfer: Transfer, status: int, reason: str, now: float) -> None:
        dialog = xfer.old.dialog
        if dialog is None or dialog.terminated:
            return
        final = status >= 200
        state = "terminated;reason=noresource" if final else "active;expires=60"
        req = dialog.create_request(
            "NOTIFY",
            local_via(self.config),
            headers=[
                ("Event", f"refer;id={xfer.refer_cseq}"),
                ("Subscription-State", state),
                ("Content-Type", SIPFRAG),
            ],
            body=sipfrag(status, reason),
        )
        self._send_in_dialog(xfer.old, dialog, req, "notify", now)

    def _end(self, call: Call, cause: str) -> None:
        for xfer in self._transfers().values():
            if xfer.old is call and xfer.state in (XferState.REQUESTED, XferState.INVITING):
                xfer.deferred_end = cause  # reported only if the transfer fails
                return
        super()._end(call, cause)

    def _aux_deadlines(self) -> list[float]:
        waiting = [t.start_by for t in self._xfers.values() if t.state is XferState.REQUESTED]
        return super()._aux_deadlines() + waiting

    def _aux_timers(self, now: float) -> None:
        super()._aux_timers(now)
        for xfer in list(self._xfers.values()):
            if xfer.state is XferState.REQUESTED and xfer.start_by <= now:
                self._transfer_failed(xfer, 408, "Request Timeout", now)

    def _aux_pumped(self, now: float) -> None:
        super()._aux_pumped(now)
        self._check_transfers(now)

    def _check_transfers(self, now: float) -> None:
        for handle, xfer in list(self._transfers().items()):
            if xfer.state is not XferState.INVITING:
                if xfer.state in (XferState.DONE, XferState.FAILED):
                    del self._transfers()[handle]
                continue
            new = self.calls.get(handle)
            if new is not None and new.state is CallState.CONNECTED:
                self._transfer_done(xfer, now)
            elif new is None or new.ended:
                failed = next(
                    (e for e in self._events if isinstance(e, CallFailed) and e.handle == handle),
                    None,
                )
                status, reason = (failed.status, failed.reason) if failed else (487, "Ended")
                self._transfer_failed(xfer, status, reason or "Failed", now)

    def _transfer_done(self, xfer: Transfer, now: float) -> None:
        xfer.state = XferState.DONE
        old = xfer.old
        self._notify_refer(xfer, 200, "OK", now)
        if old.state is CallState.CONNECTED and old.step(CallInput.HANG_UP):
            self._send_bye(old, now)
        old.ended_reported = True  # the line hears CallTransferred instead of CallEnded
        self._events.append(CallTransferred(old.handle, xfer.new_handle))

    def _transfer_failed(self, xfer: Transfer, status: int, reason: str, now: float) -> None:
        xfer.state = XferState.FAILED
        self._notify_refer(xfer, status if status >= 300 else 500, reason, now)
        if xfer.deferred_end is not None:
            super()._end(xfer.old, xfer.deferred_end)

    # == an INVITE with Replaces took over one of our calls (RFC 3891) ========================

    def complete_replace(self, new_handle: str, now: float) -> bool:
        """After answering an incoming call with ``replaces``: end the replaced call (BYE)
        and report :class:`CallTransferred` (old, new) instead of its end."""
        new = self.calls.get(new_handle)
        if new is None or new.state is not CallState.CONNECTED:
            return False
        old = self.calls.get(str(new.extra.pop(REPLACES_KEY, "")))
        if old is None or old.ended_reported:
            return False
        if old.state is CallState.CONNECTED and old.step(CallInput.HANG_UP):
            self._send_bye(old, now)
        old.ended_reported = True
        self._events.append(CallTransferred(old.handle, new_handle))
        return True

    # == we transfer the far end ================================================================

    def transfer(self, handle: str, target: str, now: float, replaces: str = "") -> bool:
        """REFER call ``handle`` to ``target`` (a number in our domain or a SIP URI;
        ``replaces``: a full Refer-To value for attended transfer, see
        :func:`ata.sip.refer.refer_to_with_replaces`)."""
        call = self.calls.get(handle)
        if call is None or call.state is not CallState.CONNECTED or call.dialog is None:
            return False
        if replaces:
            refer_to = replaces
        elif target.lower().startswith(("sip:", "sips:")):
            refer_to = f"<{parse_uri(target)}>"
        else:
            refer_to = f"<{SipURI(self.config.domain, user=escape_user(target))}>"
        req = call.dialog.create_request(
            "REFER",
            local_via(self.config),
            headers=[
                ("Refer-To", refer_to),
                ("Referred-By", str(local_identity(self.config))),
                ("Allow", ALLOW),
            ],
        )
        call.extra[REFER_OUT_KEY] = req.cseq.seq
        self._send_in_dialog(call, call.dialog, req, "refer", now)
        return True

    def _refer_response(self, call: Call, status: int, now: float) -> None:
        if status < 200 or REFER_OUT_KEY not in call.extra:
            return
        if status >= 300:
            call.extra.pop(REFER_OUT_KEY, None)
        self._events.append(TransferProgress(call.handle, status, final=status >= 300))

    def _dialog_notify(self, call: Call, dialog: Dialog, req: Request, now: float) -> None:
        event = (req.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if event != "refer" or REFER_OUT_KEY not in call.extra:
            super()._dialog_notify(call, dialog, req, now)
            return
        self._answer(req, 200, now)
        status = sipfrag_status(req.body)
        state, _ = subscription_state(req)
        if status is None:
            if state == "terminated":
                call.extra.pop(REFER_OUT_KEY, None)
                self._events.append(TransferProgress(call.handle, 500, final=True))
            return
        final = status >= 200 or state == "terminated"
        self._events.append(TransferProgress(call.handle, status, final=final))
        if not final:
            return
        call.extra.pop(REFER_OUT_KEY, None)
        if 200 <= status < 300 and call.state is CallState.CONNECTED:
            call.step(CallInput.HANG_UP)
            self._send_bye(call, now)
            self._end(call, "transferred")
