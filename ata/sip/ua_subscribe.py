"""Subscriptions for :class:`ata.sip.ua.UserAgent`: SUBSCRIBE, refresh, NOTIFY (sans-IO).

Theory of operation
-------------------
:meth:`UaSubscribe.subscribe_mwi` opens a ``message-summary`` subscription (RFC 3842) to the
line's own address of record (or a given mailbox URI) through the line's next hop; the life
cycle is the table of :mod:`ata.sip.subscription`. The SUBSCRIBE's responses come back through
the transaction layer as responses no call owns (``_aux_response``); a 401/407 is answered
once with the line's credentials, 423 is retried with Min-Expires, "no such service"
answers (489, 404, ...) stop the subscription quietly, other failures retry later. A NOTIFY
whose Call-ID and To tag are the subscription's is taken before dialog routing
(``_aux_request``, so one arriving before the 2xx is accepted too), answered 200, and a
message-summary body becomes :class:`~ata.sip.call.MessageWaiting`. Refresh and retry
deadlines join the UA's timer (``_aux_deadlines``).
"""

from __future__ import annotations

import contextlib

from ata.sip.call import MessageWaiting
from ata.sip.dialog import Dialog
from ata.sip.errors import SipError, SipRequestRejected
from ata.sip.headers import CSeq, NameAddr
from ata.sip.message import Request, Response
from ata.sip.refer import subscription_state
from ata.sip.subscription import SubInput, Subscription, SubState, outcome_of
from ata.sip.subscription import outcome_of_termination as termination
from ata.sip.transaction import TxKey
from ata.sip.ua_refer import UaRefer
from ata.sip.ua_support import (
    authorized_retry,
    local_contact,
    local_identity,
    local_via,
    message_summary,
)
from ata.sip.uri import SipURI, escape_user

MWI_EVENT = "message-summary"
MWI_ACCEPT = "application/simple-message-summary"
MAX_SUBSCRIPTIONS = 4


class UaSubscribe(UaRefer):
    """Subscriptions (mixed into :class:`~ata.sip.ua.UserAgent`)."""

    def _init_aux(self) -> None:
        super()._init_aux()
        self.subscriptions: dict[str, Subscription] = {}  # by Call-ID
        self._sub_client: dict[TxKey, Subscription] = {}

    # == commands =================================================================================

    def subscribe_mwi(
        self, now: float, uri: SipURI | None = None, expires: int = 3600
    ) -> Subscription | None:
        """Subscribe to message-summary for ``uri`` (default: our AOR); None when at the cap."""
        target = uri or SipURI(self.config.domain, user=escape_user(self.config.user))
        return self.subscribe(MWI_EVENT, MWI_ACCEPT, target, now, expires=expires)

    def subscribe(
        self, event: str, accept: str, uri: SipURI, now: float, *, expires: int = 3600
    ) -> Subscription | None:
        for call_id, old in list(self.subscriptions.items()):
            if old.state is SubState.STOPPED and old.key is None:
                del self.subscriptions[call_id]  # forget finished ones (bounded state)
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            return None
        sub = Subscription(
            event,
            accept,
            uri,
            call_id=f"{self._new_id()}@{self.config.local_host}",
            from_tag=self._new_id(),
            expires=expires,
        )
        self.subscriptions[sub.call_id] = sub
        sub.step(SubInput.START)
        self._send_subscribe(sub, now)
        return sub

    def stop_subscriptions(self, now: float) -> None:
        """Un-subscribe (Expires: 0) every active subscription; stop the others."""
        for sub in self.subscriptions.values():
            if sub.state is SubState.ACTIVE and sub.dialog is not None:
                sub.expires = 0
                self._send_subscribe(sub, now)
            sub.step(SubInput.STOP)
            sub.timer_at = None

    # == sending =================================================================================

    def _send_subscribe(self, sub: Subscription, now: float) -> None:
        cfg = self.config
        headers: list[tuple[str, object]] = [
            ("Event", sub.event),
            ("Accept", sub.accept),
            ("Expires", sub.expires),
        ]
        dialog = sub.dialog
        if dialog is not None:
            req = dialog.create_request("SUBSCRIBE", local_via(cfg), headers=headers)
        else:
            req = Request(
                "SUBSCRIBE",
                sub.uri,
                [
                    ("Via", local_via(cfg)),
                    ("Max-Forwards", 70),
                    ("From", local_identity(cfg).with_tag(sub.from_tag)),
                    ("To", NameAddr(sub.uri)),
                    ("Call-ID", sub.call_id),
                    ("CSeq", CSeq(sub.cseq + 1, "SUBSCRIBE")),
                    ("Contact", local_contact(cfg)),
                    *headers,
                    ("User-Agent", cfg.user_agent),
                ],
            )
        self._send_sub_request(sub, req, now)

    def _send_sub_request(self, sub: Subscription, req: Request, now: float) -> None:
        sub.cseq = req.cseq.seq
        try:
            hop = self._dialog_hop(sub.dialog) if sub.dialog is not None else self._hop(sub.uri)
            key = self.tx.send_request(req, hop, now, self.config.transport)
        except SipError:
            self._sub_failed(sub, 503, now)
            return
        sub.key = key
        self._sub_client[key] = sub

    # == responses and timers ====================================================================

    def _aux_response(self, key: TxKey, req: Request, resp: Response, now: float) -> None:
        sub = self._sub_client.get(key)
        if sub is None:
            super()._aux_response(key, req, resp, now)
            return
        if resp.status < 200:
            return
        del self._sub_client[key]
        sub.key = None
        sub.last_status = resp.status
        if sub.state is SubState.STOPPED:
            return
        if resp.status < 300:
            self._sub_ok(sub, req, resp, now)
        elif resp.status in (401, 407) and self._sub_auth(sub, req, resp, now):
            return
        elif resp.status == 423 and (resp.headers.get("Min-Expires") or "").isdigit():
            sub.expires = min(int(resp.headers.get("Min-Expires") or "0"), 86400)
            self._send_subscribe(sub, now)
        elif resp.status == 481 and sub.dialog is not None:
            sub.dialog = None  # the notifier forgot us: a new subscription
            self._send_subscribe(sub, now)
        else:
            self._sub_failed(sub, resp.status, now)

    def _sub_ok(self, sub: Subscription, req: Request, resp: Response, now: float) -> None:
        sub.auth_attempts = 0
        if sub.dialog is None and resp.to.tag:
            with contextlib.suppress(ValueError):
                sub.dialog = Dialog.from_uac(req, resp)
        elif sub.dialog is not None:
            sub.dialog.receive_response(req, resp)
        granted_text = resp.headers.get("Expires") or ""
        granted = int(granted_text) if granted_text.isdigit() else sub.expires
        if granted == 0:
            sub.step(SubInput.STOP)
            sub.timer_at = None
            return
        if sub.state is SubState.SUBSCRIBING:
            sub.step(SubInput.SUCCESS)
        sub.timer_at = now + sub.refresh_delay(granted)

    def _sub_auth(self, sub: Subscription, req: Request, resp: Response, now: float) -> bool:
        creds = self.credentials
        if creds is None or sub.auth_attempts >= self.config.max_auth_attempts:
            return False
        if sub.auth_attempts == 0:
            creds.reset()
        retry = authorized_retry(req, resp, creds, local_via(self.config))
        if retry is None:
            return False
        sub.auth_attempts += 1
        if sub.dialog is not None:
            sub.dialog.local_seq = retry.cseq.seq
        self._send_sub_request(sub, retry, now)
        return True

    def _sub_failed(self, sub: Subscription, status: int, now: float) -> None:
        sub.last_status = status
        if sub.step(outcome_of(status)) and sub.state is SubState.WAITING:
            sub.dialog = None
            sub.timer_at = now + sub.retry_s
        elif sub.state is SubState.STOPPED:
            sub.timer_at = None

    def _aux_failure(self, key: TxKey, now: float) -> None:
        sub = self._sub_client.pop(key, None)
        if sub is None:
            super()._aux_failure(key, now)
            return
        sub.key = None
        self._sub_failed(sub, 408, now)

    def _aux_deadlines(self) -> list[float]:
        own = [s.timer_at for s in self.subscriptions.values() if s.timer_at is not None]
        return super()._aux_deadlines() + own

    def _aux_timers(self, now: float) -> None:
        super()._aux_timers(now)
        for sub in list(self.subscriptions.values()):
            if sub.timer_at is not None and sub.timer_at <= now:
                sub.timer_at = None
                if sub.step(SubInput.TIMER):
                    self._send_subscribe(sub, now)

    # == NOTIFY ==================================================================================

    def _aux_request(self, req: Request, now: float) -> bool:
        if req.method != "NOTIFY":
            return super()._aux_request(req, now)
        sub = self.subscriptions.get(req.call_id)
        if sub is None or req.to.tag != sub.from_tag:
            return super()._aux_request(req, now)
        event = (req.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if event != sub.event:
            self._answer(req, 489, now)
            return True
        dialog = sub.dialog
        if dialog is not None and req.from_.tag == dialog.id.remote_tag:
            try:
                dialog.receive_request(req)
            except SipRequestRejected as rej:
                self._answer(req, rej.status, now, headers=rej.extra_headers)
                return True
        self._answer(req, 200, now)
        sub.notifies += 1
        summary = message_summary(req) if sub.event == "message-summary" else None
        if summary is not None:
            self._events.append(MessageWaiting(*summary))
        state, params = subscription_state(req)
        if state == "terminated" and sub.state is not SubState.STOPPED:
            self._sub_terminated(sub, params, now)
        return True

    def _sub_terminated(self, sub: Subscription, params: dict[str, str], now: float) -> None:
        sub.dialog = None
        retry_after = params.get("retry-after")
        inp = termination(params.get("reason", ""), retry_after)
        if sub.key is not None:  # a refresh is in flight: let its answer decide
            return
        if not sub.step(inp):
            return
        if inp is SubInput.RESUBSCRIBE:
            self._send_subscribe(sub, now)
        elif sub.state is SubState.WAITING:
            delay = float(retry_after) if retry_after and retry_after.isdigit() else sub.retry_s
            sub.timer_at = now + delay
        else:
            sub.timer_at = None
