"""SIP transactions (RFC 3261 §17, with the RFC 6026 Accepted state), sans-IO.

Theory of operation
-------------------
A transaction is a request plus every response to it, including retransmissions. There are
four machines — INVITE client, non-INVITE client, INVITE server, non-INVITE server — each
written as a transition table ``{(state, input): (next state, actions)}``. Inputs are received
responses (client), retransmitted requests and ACKs (server), responses handed down by the
transaction user (server), timer expiries and transport errors. An input with no entry in the
table is absorbed (a retransmission in a final state, a late response) — never an error.

Actions are small verbs run in order: send or resend a message, pass a message to the TU,
arm/re-arm/cancel a timer, report a timeout or transport error. Transactions never read a
clock: the :class:`~ata.sip.transaction_layer.TransactionLayer` passes ``now`` in, keeps every
armed deadline in one heap and calls :meth:`Transaction.timer_fired` when one is due.

Client INVITE::

    CALLING --1xx--> PROCEEDING --2xx--> ACCEPTED --M--> TERMINATED
       |  A: resend, double (no cap)  |        2xx retransmissions go to the TU (it re-ACKs)
       |  B: timeout (408)            +--300-699--> COMPLETED (send ACK) --D--> TERMINATED
       +--2xx / 300-699 as from PROCEEDING          C: no final after 3 min in PROCEEDING

Client non-INVITE: TRYING --1xx--> PROCEEDING --final--> COMPLETED --K--> TERMINATED;
E resends at min(2^n T1, T2) (T2 in PROCEEDING), F times out.

Server INVITE: PROCEEDING (100 Trying sent at once) --TU 2xx--> ACCEPTED --L--> TERMINATED;
--TU 300-699--> COMPLETED (G resends, H gives up) --ACK--> CONFIRMED --I--> TERMINATED.
Retransmitted INVITEs get the last response again; in ACCEPTED they are absorbed (the UAS
core retransmits the 2xx, see :class:`~ata.sip.transaction_layer.TransactionLayer`).

Server non-INVITE: TRYING --TU 1xx--> PROCEEDING --TU final--> COMPLETED --J--> TERMINATED;
retransmitted requests get the last response again.

On a reliable transport A, E, G are never armed and D, I, J, K are zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from ata.sip.fields import Headers
from ata.sip.headers import CSeq
from ata.sip.message import Request, Response
from ata.sip.timers import TimerConfig

Address = tuple[str, int]
TxKey = tuple[str, ...]


class TxKind(Enum):
    INVITE_CLIENT = auto()
    NON_INVITE_CLIENT = auto()
    INVITE_SERVER = auto()
    NON_INVITE_SERVER = auto()


class TxState(Enum):
    CALLING = auto()
    TRYING = auto()
    PROCEEDING = auto()
    ACCEPTED = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class TxInput(Enum):
    RESP_1XX = auto()
    RESP_2XX = auto()
    RESP_FINAL = auto()  # 300-699 (client INVITE), 200-699 (client non-INVITE)
    REQUEST = auto()  # retransmitted request (server)
    ACK = auto()  # ACK matching an INVITE server transaction
    TU_1XX = auto()
    TU_2XX = auto()
    TU_FINAL = auto()  # 300-699 (INVITE server), 200-699 (non-INVITE server)
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_C = auto()
    TIMER_D = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_J = auto()
    TIMER_K = auto()
    TIMER_L = auto()
    TIMER_M = auto()
    TIMER_GUARD = auto()
    TRANSPORT_ERROR = auto()


class Act(Enum):
    RESEND_REQUEST = auto()
    SEND_RESPONSE = auto()  # the response the TU just gave (and remember it)
    RESEND_RESPONSE = auto()  # the last response sent
    SEND_ACK = auto()  # ACK for a 300-699 response (client INVITE)
    RESEND_ACK = auto()
    TO_TU = auto()  # pass the received response / ACK to the TU
    TIMEOUT = auto()  # report a timeout (408) to the TU
    GAVE_UP = auto()  # server: no ACK / TU never answered
    TRANSPORT_FAILED = auto()
    ARM_A = auto()  # A: first T1, doubled on each firing (no cap)
    ARM_E = auto()  # E: T1, doubled up to T2
    ARM_E_T2 = auto()  # E in PROCEEDING: T2
    ARM_G = auto()  # G: T1, doubled up to T2
    STOP_A = auto()
    STOP_E = auto()
    STOP_G = auto()
    ARM_B = auto()
    ARM_C = auto()
    ARM_D = auto()
    ARM_F = auto()
    ARM_H = auto()
    ARM_I = auto()
    ARM_J = auto()
    ARM_K = auto()
    ARM_L = auto()
    ARM_M = auto()
    ARM_GUARD = auto()
    STOP_ALL = auto()


S = TxState
I = TxInput  # noqa: E741 - table shorthand
Table = dict[tuple[TxState, TxInput], tuple[TxState, tuple[Act, ...]]]

INVITE_CLIENT_TABLE: Final[Table] = {
    (S.CALLING, I.TIMER_A): (S.CALLING, (Act.RESEND_REQUEST, Act.ARM_A)),
    (S.CALLING, I.TIMER_B): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.CALLING, I.RESP_1XX): (S.PROCEEDING, (Act.STOP_A, Act.ARM_C, Act.TO_TU)),
    (S.CALLING, I.RESP_2XX): (S.ACCEPTED, (Act.STOP_ALL, Act.ARM_M, Act.TO_TU)),
    (S.CALLING, I.RESP_FINAL): (S.COMPLETED, (Act.STOP_ALL, Act.SEND_ACK, Act.ARM_D, Act.TO_TU)),
    (S.CALLING, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.PROCEEDING, I.RESP_1XX): (S.PROCEEDING, (Act.ARM_C, Act.TO_TU)),
    (S.PROCEEDING, I.RESP_2XX): (S.ACCEPTED, (Act.STOP_ALL, Act.ARM_M, Act.TO_TU)),
    (S.PROCEEDING, I.RESP_FINAL): (
        S.COMPLETED,
        (Act.STOP_ALL, Act.SEND_ACK, Act.ARM_D, Act.TO_TU),
    ),
    (S.PROCEEDING, I.TIMER_C): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.ACCEPTED, I.RESP_2XX): (S.ACCEPTED, (Act.TO_TU,)),
    (S.ACCEPTED, I.TIMER_M): (S.TERMINATED, ()),
    (S.COMPLETED, I.RESP_FINAL): (S.COMPLETED, (Act.RESEND_ACK,)),
    (S.COMPLETED, I.TIMER_D): (S.TERMINATED, ()),
}

NON_INVITE_CLIENT_TABLE: Final[Table] = {
    (S.TRYING, I.TIMER_E): (S.TRYING, (Act.RESEND_REQUEST, Act.ARM_E)),
    (S.TRYING, I.TIMER_F): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.TRYING, I.RESP_1XX): (S.PROCEEDING, (Act.ARM_E_T2, Act.TO_TU)),
    (S.TRYING, I.RESP_FINAL): (S.COMPLETED, (Act.STOP_ALL, Act.ARM_K, Act.TO_TU)),
    (S.TRYING, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.PROCEEDING, I.TIMER_E): (S.PROCEEDING, (Act.RESEND_REQUEST, Act.ARM_E_T2)),
    (S.PROCEEDING, I.TIMER_F): (S.TERMINATED, (Act.TIMEOUT,)),
    (S.PROCEEDING, I.RESP_1XX): (S.PROCEEDING, (Act.TO_TU,)),
    (S.PROCEEDING, I.RESP_FINAL): (S.COMPLETED, (Act.STOP_ALL, Act.ARM_K, Act.TO_TU)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.COMPLETED, I.TIMER_K): (S.TERMINATED, ()),
}

INVITE_SERVER_TABLE: Final[Table] = {
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (Act.RESEND_RESPONSE,)),
    (S.PROCEEDING, I.TU_1XX): (S.PROCEEDING, (Act.SEND_RESPONSE,)),
    (S.PROCEEDING, I.TU_2XX): (S.ACCEPTED, (Act.STOP_ALL, Act.SEND_RESPONSE, Act.ARM_L)),
    (S.PROCEEDING, I.TU_FINAL): (
        S.COMPLETED,
        (Act.STOP_ALL, Act.SEND_RESPONSE, Act.ARM_G, Act.ARM_H),
    ),
    (S.PROCEEDING, I.TIMER_GUARD): (S.TERMINATED, (Act.GAVE_UP,)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.ACCEPTED, I.TU_2XX): (S.ACCEPTED, (Act.SEND_RESPONSE,)),
    (S.ACCEPTED, I.ACK): (S.ACCEPTED, (Act.TO_TU,)),
    (S.ACCEPTED, I.TIMER_L): (S.TERMINATED, ()),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (Act.RESEND_RESPONSE,)),
    (S.COMPLETED, I.TIMER_G): (S.COMPLETED, (Act.RESEND_RESPONSE, Act.ARM_G)),
    (S.COMPLETED, I.ACK): (S.CONFIRMED, (Act.STOP_ALL, Act.ARM_I)),
    (S.COMPLETED, I.TIMER_H): (S.TERMINATED, (Act.GAVE_UP,)),
    (S.COMPLETED, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.CONFIRMED, I.TIMER_I): (S.TERMINATED, ()),
}

NON_INVITE_SERVER_TABLE: Final[Table] = {
    (S.TRYING, I.TU_1XX): (S.PROCEEDING, (Act.SEND_RESPONSE,)),
    (S.TRYING, I.TU_2XX): (S.COMPLETED, (Act.STOP_ALL, Act.SEND_RESPONSE, Act.ARM_J)),
    (S.TRYING, I.TU_FINAL): (S.COMPLETED, (Act.STOP_ALL, Act.SEND_RESPONSE, Act.ARM_J)),
    (S.TRYING, I.TIMER_GUARD): (S.TERMINATED, (Act.GAVE_UP,)),
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (Act.RESEND_RESPONSE,)),
    (S.PROCEEDING, I.TU_1XX): (S.PROCEEDING, (Act.SEND_RESPONSE,)),
    (S.PROCEEDING, I.TU_2XX): (S.COMPLETED, (Act.STOP_ALL, Act.SEND_RESPONSE, Act.ARM_J)),
    (S.PROCEEDING, I.TU_FINAL): (S.COMPLETED, (Act.STOP_ALL, Act.SEND_RESPONSE, Act.ARM_J)),
    (S.PROCEEDING, I.TIMER_GUARD): (S.TERMINATED, (Act.GAVE_UP,)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (Act.RESEND_RESPONSE,)),
    (S.COMPLETED, I.TIMER_J): (S.TERMINATED, ()),
    (S.COMPLETED, I.TRANSPORT_ERROR): (S.TERMINATED, (Act.TRANSPORT_FAILED,)),
}

TABLES: Final[dict[TxKind, Table]] = {
    TxKind.INVITE_CLIENT: INVITE_CLIENT_TABLE,
    TxKind.NON_INVITE_CLIENT: NON_INVITE_CLIENT_TABLE,
    TxKind.INVITE_SERVER: INVITE_SERVER_TABLE,
    TxKind.NON_INVITE_SERVER: NON_INVITE_SERVER_TABLE,
}

_TIMER_INPUT: Final[dict[str, TxInput]] = {
    "A": I.TIMER_A, "B": I.TIMER_B, "C": I.TIMER_C, "D": I.TIMER_D, "E": I.TIMER_E,
    "F": I.TIMER_F, "G": I.TIMER_G, "H": I.TIMER_H, "I": I.TIMER_I, "J": I.TIMER_J,
    "K": I.TIMER_K, "L": I.TIMER_L, "M": I.TIMER_M, "GUARD": I.TIMER_GUARD,
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# what a transaction reports (the layer turns these into TU events / datagrams)


@dataclass(frozen=True)
class Outgoing:
    """Bytes to send to ``addr`` over ``transport`` (``"udp"``, ``"tcp"``, ``"tls"``)."""

    data: bytes
    addr: Address
    transport: str
    key: TxKey | None = None


def make_ack(invite: Request, response: Response) -> Request:
    """ACK for a 300-699 response to ``invite`` (RFC 3261 §17.1.1.3): same branch."""
    headers = Headers()
    invite.top_via  # noqa: B018 - raises SipParseError when there is no usable Via
    headers.add_derived("Via", invite.headers.values("Via")[0])  # same top Via, same branch
    headers.copy_from(invite.headers, "Route")
    headers.copy_from(invite.headers, "From")
    headers.copy_from(response.headers, "To")
    headers.copy_from(invite.headers, "Call-ID")
    headers.add("CSeq", CSeq(invite.cseq.seq, "ACK"))
    headers.add("Max-Forwards", 70)
    return Request("ACK", invite.uri, headers)


class Transaction:
    """One transaction. Created and driven by the transaction layer."""

    def __init__(
        self,
        kind: TxKind,
        key: TxKey,
        request: Request,
        addr: Address,
        transport: str,
        timers: TimerConfig,
        now: float,
        sink: TransactionSink,
    ) -> None:
        self.kind = kind
        self.key = key
        self.request = request
        self.addr = addr
        self.transport = transport.lower()
        self.reliable = self.transport != "udp"
        self.timers = timers
        self.sink = sink
        self.created = now
        self.state = {
            TxKind.INVITE_CLIENT: S.CALLING,
            TxKind.NON_INVITE_CLIENT: S.TRYING,
            TxKind.INVITE_SERVER: S.PROCEEDING,
            TxKind.NON_INVITE_SERVER: S.TRYING,
        }[kind]
        self.deadlines: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._due: float | None = None  # deadline of the timer being handled
        self._request_bytes = request.to_bytes() if kind in _CLIENT_KINDS else b""
        self._ack_bytes: bytes | None = None
        self.last_response: Response | None = None
        self._last_response_bytes: bytes | None = None
        self.retransmissions = 0
        self._table = TABLES[kind]

    # -- entry points used by the layer ------------------------------------------------------

    @property
    def is_client(self) -> bool:
        return self.kind in _CLIENT_KINDS

    @property
    def terminated(self) -> bool:
        return self.state is S.TERMINATED

    def start(self, now: float) -> None:
        """Client: send the request and arm A/B (INVITE) or E/F (non-INVITE).
        Server: arm the guard timer."""
        if self.kind is TxKind.INVITE_CLIENT:
            self._send(self._request_bytes)
            if not self.reliable:
                self._interval["A"] = self.timers.a
                self._arm("A", now + self.timers.a)
            self._arm("B", now + self.timers.b)
        elif self.kind is TxKind.NON_INVITE_CLIENT:
            self._send(self._request_bytes)
            if not self.reliable:
                self._interval["E"] = self.timers.e
                self._arm("E", now + self.timers.e)
            self._arm("F", now + self.timers.f)
        elif self.kind is TxKind.INVITE_SERVER:
            self._arm("GUARD", now + self.timers.invite_server_guard)
        else:
            self._arm("GUARD", now + self.timers.server_guard)

    def receive_response(self, response: Response, now: float) -> None:
        if response.status < 200:
            inp = I.RESP_1XX
        elif response.status < 300 and self.kind is TxKind.INVITE_CLIENT:
            inp = I.RESP_2XX
        else:
            inp = I.RESP_FINAL
        self._step(inp, now, response)

    def receive_request(self, request: Request, now: float) -> None:
        self._step(I.ACK if request.method == "ACK" else I.REQUEST, now, request)

    def send_response(self, response: Response, now: float) -> None:
        if response.status < 200:
            inp = I.TU_1XX
        elif response.status < 300:
            inp = I.TU_2XX
        else:
            inp = I.TU_FINAL
        self._step(inp, now, response)

    def timer_fired(self, name: str, now: float) -> None:
        if self.deadlines.get(name) is None:
            return
        self._due = self.deadlines.pop(name)
        try:
            self._step(_TIMER_INPUT[name], now, None)
        finally:
            self._due = None

    def transport_error(self, now: float) -> None:
        self._step(I.TRANSPORT_ERROR, now, None)

    # -- machinery -------------------------------------------------------------------------

    def _step(self, inp: TxInput, now: float, msg: Request | Response | None) -> None:
        entry = self._table.get((self.state, inp))
        if entry is None:
            self.sink.absorbed(self, inp)
            return
        next_state, actions = entry
        self.state = next_state
        for act in actions:
            self._do(act, now, msg)
        if next_state is S.TERMINATED:
            self.deadlines.clear()
            self.sink.terminated(self)

    def _arm(self, name: str, deadline: float) -> None:
        self.deadlines[name] = deadline
        self.sink.schedule(self, name, deadline)

    def _arm_after(self, name: str, delay: float, now: float) -> None:
        self._arm(name, now + delay)

    def _backoff(self, name: str, now: float, cap: float | None) -> None:
        if self.reliable:
            return
        interval = self._interval.get(name, self.timers.t1) * 2
        if cap is not None:
            interval = min(interval, cap)
        self._interval[name] = interval
        # From the deadline that fired, not from a late "now": lateness does not add up
        # over the retransmissions (absolute schedule 0.5, 1.5, 3.5 … s).
        base = self._due if self._due is not None and self._due <= now else now
        self._arm(name, max(base + interval, now))

    def _send(self, data: bytes) -> None:
        self.sink.send(Outgoing(data, self.addr, self.transport, self.key))

    def _do(self, act: Act, now: float, msg: Request | Response | None) -> None:
        t = self.timers
        if act is Act.RESEND_REQUEST:
            self.retransmissions += 1
            self._send(self._request_bytes)
        elif act is Act.SEND_RESPONSE:
            assert isinstance(msg, Response)  # noqa: S101 - table guarantees it
            self.last_response = msg
            self._last_response_bytes = msg.to_bytes()
            self._send(self._last_response_bytes)
        elif act is Act.RESEND_RESPONSE:
            if self._last_response_bytes is not None:
                self.retransmissions += 1
                self._send(self._last_response_bytes)
        elif act is Act.SEND_ACK:
            assert isinstance(msg, Response)  # noqa: S101
            self._ack_bytes = make_ack(self.request, msg).to_bytes()
            self._send(self._ack_bytes)
        elif act is Act.RESEND_ACK:
            if self._ack_bytes is not None:
                self._send(self._ack_bytes)
        elif act is Act.TO_TU:
            self.sink.to_tu(self, msg)
        elif act is Act.TIMEOUT:
            self.sink.timed_out(self)
        elif act is Act.GAVE_UP:
            self.sink.gave_up(self)
        elif act is Act.TRANSPORT_FAILED:
            self.sink.transport_failed(self)
        elif act is Act.ARM_A:
            self._backoff("A", now, None)
        elif act is Act.ARM_E:
            self._backoff("E", now, t.t2)
        elif act is Act.ARM_E_T2:
            if not self.reliable:
                self._interval["E"] = t.t2
                self._arm("E", now + t.t2)
        elif act is Act.ARM_G:
            if not self.reliable:
                first = "G" not in self._interval
                if first:
                    self._interval["G"] = t.g
                    self._arm("G", now + t.g)
                else:
                    self._backoff("G", now, t.t2)
        elif act is Act.STOP_A:
            self.deadlines.pop("A", None)
        elif act is Act.STOP_E:
            self.deadlines.pop("E", None)
        elif act is Act.STOP_G:
            self.deadlines.pop("G", None)
        elif act is Act.STOP_ALL:
            self.deadlines.clear()
        else:
            name, delay = self._fixed_timer(act)
            self._arm_after(name, delay, now)

    def _fixed_timer(self, act: Act) -> tuple[str, float]:
        t = self.timers
        rel = self.reliable
        return {
            Act.ARM_B: ("B", t.b),
            Act.ARM_C: ("C", t.timer_c),
            Act.ARM_D: ("D", t.d(rel)),
            Act.ARM_F: ("F", t.f),
            Act.ARM_H: ("H", t.h),
            Act.ARM_I: ("I", t.i(rel)),
            Act.ARM_J: ("J", t.j(rel)),
            Act.ARM_K: ("K", t.k(rel)),
            Act.ARM_L: ("L", t.l),
            Act.ARM_M: ("M", t.m),
            Act.ARM_GUARD: ("GUARD", t.server_guard),
        }[act]


_CLIENT_KINDS: Final = frozenset({TxKind.INVITE_CLIENT, TxKind.NON_INVITE_CLIENT})


class TransactionSink:
    """What a transaction calls back into (implemented by the transaction layer)."""

    def send(self, out: Outgoing) -> None:
        raise NotImplementedError

    def schedule(self, tx: Transaction, name: str, deadline: float) -> None:
        raise NotImplementedError

    def to_tu(self, tx: Transaction, msg: Request | Response | None) -> None:
        raise NotImplementedError

    def timed_out(self, tx: Transaction) -> None:
        raise NotImplementedError

    def gave_up(self, tx: Transaction) -> None:
        raise NotImplementedError

    def transport_failed(self, tx: Transaction) -> None:
        raise NotImplementedError

    def terminated(self, tx: Transaction) -> None:
        raise NotImplementedError

    def absorbed(self, tx: Transaction, inp: TxInput) -> None:
        raise NotImplementedError
