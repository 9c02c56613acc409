"""The transaction layer: matching, the TU event queue, one timer heap, hard caps (sans-IO).

Theory of operation
-------------------
The driver feeds every parsed message with ``receive(msg, addr, now, transport)``, hands the
TU's requests and responses down with ``send_request`` / ``send_response``, sends whatever
``datagrams_to_send()`` returns, and re-arms one timer at ``get_timer()``, calling
``handle_timer(now)`` when it is due. The TU reads ``next_event()`` until None.

Matching (RFC 3261 §17.1.3, §17.2.3):

* a response matches the client transaction of its top Via ``branch`` and CSeq method; none
  → :class:`StrayResponse` (a retransmitted 2xx to INVITE after the transaction ended: the TU
  re-sends its ACK) — counted in ``stats``;
* a request with an RFC 3261 branch (``z9hG4bK`` plus something) matches on branch, sent-by
  and method (ACK counts as INVITE); without one (RFC 2543 peers, RFC 4475 §3.2.1) on
  Request-URI, From tag, Call-ID, CSeq number, top Via and method;
* an ACK matching no transaction is the ACK for a 2xx: it stops the UAS core's 2xx
  retransmission and reaches the TU as :class:`AckReceived`;
* a CANCEL is answered here (200 if it matches a live INVITE server transaction, else 481)
  and, when the INVITE is still unanswered, reported as :class:`CancelReceived` — the TU then
  sends 487 for the INVITE.

2xx retransmission (RFC 3261 §13.3.1.4 with RFC 6026): a 2xx to an INVITE handed to
``send_response`` is resent at T1, 2·T1 … capped at T2 until the ACK arrives, or for 64·T1,
after which :class:`AckTimeout` tells the TU to end the dialog (BYE).

Hard caps: at most ``max_transactions`` live transactions; a new request beyond it is
answered 503 with Retry-After statelessly, a new client request raises
:class:`TransactionLimitError`. Every transaction state ends by a timer (B/F/H/L/M/guard), so
state is reclaimed within 64·T1 after traffic stops (plus D=32 s on UDP for an INVITE client
that got a failure).
"""

from __future__ import annotations

import heapq
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ata.sip.errors import SipError, SipParseError
from ata.sip.headers import MAGIC_COOKIE, Via
from ata.sip.message import Request, Response, make_response
from ata.sip.timers import DEFAULT_TIMERS, TimerConfig
from ata.sip.transaction import (
    Address,
    Outgoing,
    Transaction,
    TransactionSink,
    TxInput,
    TxKey,
    TxKind,
    TxState,
)

DEFAULT_MAX_TRANSACTIONS: Final = 1023


class NoTransactionError(SipParseError):
    """``send_response`` found no server transaction (it ended, or the response is not for a
    request we received). A :class:`SipParseError` subclass for existing handlers."""


class TransactionLimitError(SipError):
    """Too many live transactions: the request was not sent (treat like a local 503)."""

    status = 503


# -- events for the TU ------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestReceived:
    """A new request (not a retransmission). Answer it with ``send_response``."""

    request: Request
    addr: Address
    transport: str
    key: TxKey


@dataclass(frozen=True)
class CancelReceived:
    """A CANCEL matched the pending INVITE ``invite_key``: answer that INVITE with 487."""

    cancel: Request
    invite: Request
    invite_key: TxKey


@dataclass(frozen=True)
class AckReceived:
    """An ACK for a 2xx (end-to-end; the dialog layer consumes it)."""

    request: Request
    addr: Address


@dataclass(frozen=True)
class ResponseReceived:
    """A response for client transaction ``key`` (2xx retransmissions included)."""

    response: Response
    request: Request
    key: TxKey


@dataclass(frozen=True)
class TransactionTimeout:
    """Timer B/F (or C) fired: the TU treats it as a 408 response."""

    request: Request
    key: TxKey


@dataclass(frozen=True)
class TransportFailed:
    request: Request
    key: TxKey


@dataclass(frozen=True)
class ServerGaveUp:
    """No ACK for our 300-699 (Timer H) or the TU never answered (guard timer)."""

    request: Request
    key: TxKey


@dataclass(frozen=True)
class AckTimeout:
    """Our 2xx to an INVITE was never ACKed within 64·T1: end the dialog (BYE)."""

    response: Response


@dataclass(frozen=True)
class StrayResponse:
    """A response that matches no client transaction."""

    response: Response
    addr: Address


Event = (
    RequestReceived
    | CancelReceived
    | AckReceived
    | ResponseReceived
    | TransactionTimeout
    | TransportFailed
    | ServerGaveUp
    | AckTimeout
    | StrayResponse
)


class _Timed(Protocol):
    deadlines: dict[str, float]

    def timer_fired(self, name: str, now: float) -> None: ...


class _Pending2xx:
    """UAS core retransmission of a 2xx to INVITE until the ACK comes."""

    def __init__(self, layer: TransactionLayer, response: Response, addr: Address, tp: str):
        self.layer = layer
        self.response = response
        self.data = response.to_bytes()
        self.addr = addr
        self.transport = tp
        self.interval = layer.timers.t1
        self.deadlines: dict[str, float] = {}
        self.retransmissions = 0

    def start(self, now: float) -> None:
        self.layer._send_raw(Outgoing(self.data, self.addr, self.transport))
        self._arm("G2XX", now + self.interval)
        self._arm("H2XX", now + self.layer.timers.h)

    def _arm(self, name: str, deadline: float) -> None:
        self.deadlines[name] = deadline
        self.layer.schedule(self, name, deadline)

    def timer_fired(self, name: str, now: float) -> None:
        if name not in self.deadlines:
            return
        del self.deadlines[name]
        if name == "G2XX":
            self.retransmissions += 1
            self.layer._send_raw(Outgoing(self.data, self.addr, self.transport))
            self.interval = min(self.interval * 2, self.layer.timers.t2)
            self._arm("G2XX", now + self.interval)
        else:
            self.deadlines.clear()
            self.layer._ack_wait_over(self, acked=False)


def _sent_by(via: Via) -> str:
    return f"{via.host.lower()}:{via.port if via.port is not None else ''}"


def server_key(request: Request) -> TxKey:
    """The server transaction a request belongs to (ACK matches its INVITE)."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.rfc3261_branch:
        assert via.branch is not None  # noqa: S101 - rfc3261_branch implies it
        return ("s", via.branch, _sent_by(via), method)
    return (
        "s2543",
        str(request.uri),
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.seq),
        _sent_by(via),
        via.branch or "",
        method,
    )


def client_key(branch: str, method: str) -> TxKey:
    return ("c", branch, "INVITE" if method == "ACK" else method)


class TransactionLayer(TransactionSink):
    """All transactions of one UA; see the module docstring."""

    def __init__(
        self,
        timers: TimerConfig = DEFAULT_TIMERS,
        max_transactions: int = DEFAULT_MAX_TRANSACTIONS,
        new_id: Callable[[], str] | None = None,
        auto_trying: bool = True,
    ) -> None:
        self.timers = timers
        self.max_transactions = max_transactions
        self.auto_trying = auto_trying
        self._new_id = new_id or (lambda: secrets.token_hex(8))
        self._tx: dict[TxKey, Transaction] = {}
        self._pending_2xx: dict[tuple[str, int], _Pending2xx] = {}
        self._events: deque[Event] = deque()
        self._out: list[Outgoing] = []
        self._heap: list[tuple[float, int, _Timed, str]] = []
        self._seq = 0
        self.stats: dict[str, int] = {
            "requests": 0,
            "responses": 0,
            "retransmissions_absorbed": 0,
            "stray_responses": 0,
            "dropped_responses": 0,
            "rejected_full": 0,
            "cancel_481": 0,
        }

    # -- public API ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tx)

    def transaction(self, key: TxKey) -> Transaction | None:
        return self._tx.get(key)

    def new_branch(self) -> str:
        return MAGIC_COOKIE + self._new_id()

    def send_request(
        self, request: Request, addr: Address, now: float, transport: str = "udp"
    ) -> TxKey:
        """Start a client transaction. The request must carry a top Via; a missing branch
        is filled in. ACK for a 2xx is not a transaction: use :meth:`send_stateless`."""
        if request.method == "ACK":
            raise ValueError("ACK for a 2xx is sent with send_stateless")
        if len(self._tx) >= self.max_transactions:
            raise TransactionLimitError("too many transactions", 503)
        via = request.top_via
        if not via.rfc3261_branch:
            params = dict(via.params)
            params["branch"] = self.new_branch()
            new_via = Via(via.transport, via.host, via.port, params, via.protocol)
            vias = request.headers.values("Via")
            request.headers.set("Via", new_via)  # keeps the position of the first Via
            for rest in vias[1:]:
                request.headers.add("Via", rest)
            via = new_via
        assert via.branch is not None  # noqa: S101
        key = client_key(via.branch, request.method)
        kind = TxKind.INVITE_CLIENT if request.method == "INVITE" else TxKind.NON_INVITE_CLIENT
        tx = Transaction(kind, key, request, addr, transport, self.timers, now, self)
        self._tx[key] = tx
        tx.start(now)
        return key

    def send_response(self, response: Response, now: float) -> None:
        """Hand the TU's response to its server transaction (found from Via/CSeq)."""
        request_like = response.cseq.method
        via = response.top_via
        key: TxKey | None = None
        if via.rfc3261_branch and via.branch is not None:
            key = ("s", via.branch, _sent_by(via), request_like)
        tx = self._tx.get(key) if key is not None else None
        if tx is not None and tx.request.cseq != response.cseq:
            tx = None  # same branch, another request (its method differs from its CSeq's)
        if tx is None:
            tx = self._find_2543(response) or self._find_mismatched(response)
        if tx is None:
            raise NoTransactionError("no server transaction for this response", 500)
        if response.status >= 200 and response.status < 300 and request_like == "INVITE":
            self._start_2xx(response, tx, now)
        tx.send_response(response, now)

    def send_stateless(
        self, msg: Request | Response, addr: Address, transport: str = "udp"
    ) -> None:
        """Send outside any transaction (ACK for 2xx, stateless answers)."""
        self._send_raw(Outgoing(msg.to_bytes(), addr, transport.lower()))

    def send_bytes(self, data: bytes, addr: Address, transport: str = "udp") -> None:
        """Send pre-serialized bytes outside any transaction (a cached ACK)."""
        self._send_raw(Outgoing(data, addr, transport.lower()))

    def receive(
        self, msg: Request | Response, addr: Address, now: float, transport: str = "udp"
    ) -> None:
        """Feed one parsed message (raises only SipParseError for a request missing the
        headers matching needs; the driver answers it 400 / drops it)."""
        if isinstance(msg, Response):
            self._receive_response(msg, addr, now)
        else:
            self._receive_request(msg, addr, now, transport.lower())

    def transport_error(self, key: TxKey, now: float) -> None:
        tx = self._tx.get(key)
        if tx is not None:
            tx.transport_error(now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def datagrams_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        heap = self._heap
        while heap:
            deadline, _, obj, name = heap[0]
            if obj.deadlines.get(name) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, obj, name = heapq.heappop(heap)
            if obj.deadlines.get(name) == deadline:
                obj.timer_fired(name, now)

    # -- receive paths ---------------------------------------------------------------------

    def _receive_response(self, resp: Response, addr: Address, now: float) -> None:
        self.stats["responses"] += 1
        if len(resp.vias) != 1:
            self.stats["dropped_responses"] += 1
            return
        branch = resp.top_via.branch
        tx = self._tx.get(client_key(branch, resp.cseq.method)) if branch else None
        if tx is None:
            self.stats["stray_responses"] += 1
            self._events.append(StrayResponse(resp, addr))
            return
        tx.receive_response(resp, now)

    def _receive_request(self, req: Request, addr: Address, now: float, tp: str) -> None:
        self.stats["requests"] += 1
        key = server_key(req)
        tx = self._tx.get(key)
        if tx is not None:
            tx.receive_request(req, now)
            return
        if req.method == "ACK":
            pending = self._pending_2xx.get((req.call_id, req.cseq.seq))
            if pending is not None:
                pending.deadlines.clear()
                self._ack_wait_over(pending, acked=True)
            self._events.append(AckReceived(req, addr))
            return
        if len(self._tx) >= self.max_transactions:
            self.stats["rejected_full"] += 1
            busy = make_response(req, 503, headers=[("Retry-After", "5")])
            self._send_raw(Outgoing(busy.to_bytes(), addr, tp))
            return
        kind = TxKind.INVITE_SERVER if req.method == "INVITE" else TxKind.NON_INVITE_SERVER
        tx = Transaction(kind, key, req, addr, tp, self.timers, now, self)
        self._tx[key] = tx
        tx.start(now)
        if req.method == "CANCEL":
            self._cancel(req, tx, now)
            return
        if kind is TxKind.INVITE_SERVER and self.auto_trying:
            tx.send_response(make_response(req, 100), now)
        self._events.append(RequestReceived(req, addr, tp, key))

    def _cancel(self, cancel: Request, tx: Transaction, now: float) -> None:
        invite_key = (*server_key(cancel)[:-1], "INVITE")
        invite_tx = self._tx.get(invite_key)
        if invite_tx is None or invite_tx.terminated:
            self.stats["cancel_481"] += 1
            tx.send_response(make_response(cancel, 481, to_tag=self._new_id()), now)
            return
        to_tag = None
        if invite_tx.last_response is not None:
            to_tag = invite_tx.last_response.to.tag
        tx.send_response(make_response(cancel, 200, to_tag=to_tag), now)
        if invite_tx.state is TxState.PROCEEDING:
            self._events.append(CancelReceived(cancel, invite_tx.request, invite_key))

    def _find_2543(self, response: Response) -> Transaction | None:
        for tx in self._tx.values():
            if (
                not tx.is_client
                and tx.key[0] == "s2543"
                and tx.request.call_id == response.call_id
                and tx.request.cseq == response.cseq
            ):
                return tx
        return None

    def _find_mismatched(self, response: Response) -> Transaction | None:
        """The server transaction of a request whose CSeq method is not its method (RFC 4475
        §3.1.2.17/18, answered 400/501): its key holds the request's method, the response
        carries only the CSeq's."""
        via = response.top_via
        for tx in self._tx.values():
            if tx.is_client:
                continue
            request = tx.request
            try:
                if (
                    request.method != request.cseq.method
                    and request.cseq == response.cseq
                    and request.top_via.branch == via.branch
                    and _sent_by(request.top_via) == _sent_by(via)
                ):
                    return tx
            except SipParseError:  # a live transaction of a request without CSeq
                continue
        return None

    # -- 2xx retransmission ----------------------------------------------------------------

    def _start_2xx(self, response: Response, tx: Transaction, now: float) -> None:
        ident = (response.call_id, response.cseq.seq)
        old = self._pending_2xx.pop(ident, None)
        if old is not None:
            old.deadlines.clear()
        pending = _Pending2xx(self, response, tx.addr, tx.transport)
        self._pending_2xx[ident] = pending
        # The first copy is sent by the transaction (ACCEPTED); we only retransmit.
        pending.deadlines["G2XX"] = now + pending.interval
        self.schedule(pending, "G2XX", now + pending.interval)
        pending.deadlines["H2XX"] = now + self.timers.h
        self.schedule(pending, "H2XX", now + self.timers.h)

    def _ack_wait_over(self, pending: _Pending2xx, acked: bool) -> None:
        ident = (pending.response.call_id, pending.response.cseq.seq)
        if self._pending_2xx.get(ident) is pending:
            del self._pending_2xx[ident]
        if not acked:
            self._events.append(AckTimeout(pending.response))

    # -- TransactionSink -------------------------------------------------------------------

    def _send_raw(self, out: Outgoing) -> None:
        self._out.append(out)

    def send(self, out: Outgoing) -> None:
        self._out.append(out)

    def schedule(self, tx: _Timed, name: str, deadline: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, tx, name))
        if len(self._heap) > 8 * (len(self._tx) + len(self._pending_2xx)) + 1024:
            self._heap = [e for e in self._heap if e[2].deadlines.get(e[3]) == e[0]]
            heapq.heapify(self._heap)

    def to_tu(self, tx: Transaction, msg: Request | Response | None) -> None:
        if isinstance(msg, Response):
            self._events.append(ResponseReceived(msg, tx.request, tx.key))
        elif isinstance(msg, Request):
            pending = self._pending_2xx.get((msg.call_id, msg.cseq.seq))
            if pending is not None:
                pending.deadlines.clear()
                self._ack_wait_over(pending, acked=True)
            self._events.append(AckReceived(msg, tx.addr))

    def timed_out(self, tx: Transaction) -> None:
        self._events.append(TransactionTimeout(tx.request, tx.key))

    def gave_up(self, tx: Transaction) -> None:
        self._events.append(ServerGaveUp(tx.request, tx.key))

    def transport_failed(self, tx: Transaction) -> None:
        self._events.append(TransportFailed(tx.request, tx.key))

    def terminated(self, tx: Transaction) -> None:
        if self._tx.get(tx.key) is tx:
            del self._tx[tx.key]

    def absorbed(self, tx: Transaction, inp: TxInput) -> None:
        self.stats["retransmissions_absorbed"] += 1
