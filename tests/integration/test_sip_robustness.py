"""SIP robustness of the running UA against real peers on 127.0.0.1.

* **RFC 4475 over UDP**: the 49 torture messages, sent from a plain UDP socket to a
  :class:`~ata.runtime.calls.CallManager` whose line is registered at Kamailio; each answer
  (or silence) is compared with the table of ``tests/sip/test_rfc4475.py`` turned into what
  a UA sends on the wire (:func:`on_the_wire`); afterwards the UA still answers OPTIONS, the
  line is still registered and no handler error was counted.
* **Timers** (sipp as a black hole): our INVITE is retransmitted at 0, 0.5, 1.5 … 31.5 s and
  the port hears ``CallFailed(408)`` at 32 s (Timer B); our REGISTER at intervals 0.5, 1, 2,
  4, 4 s (capped at T2).
* **INVITE flood** (sipp from 127.0.0.2, not the proxy) at 200/s for 30 s: nothing rings,
  the line stays registered, a call through Kamailio still arrives afterwards, memory stays
  bounded.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ata.line import port as lp
from ata.runtime.calls import CallManager, CallPolicy
from ata.sip.message import Response
from ata.sip.parser import parse_message
from tests.integration.calls_support import PortStandIn, account, running_manager
from tests.peers.fixtures import DEFAULT_USERS
from tests.peers.kamailio import Kamailio
from tests.sip.test_rfc4475 import CASES, DATA

E = TypeVar("E")
SIPP_DIR = Path(__file__).parent / "sipp"

# The torture messages mostly address ``sip:user@example.com``: the line's user is ``user``,
# so the Request-URI/To user needs no rewriting (a UA checks the user, not the host).
LINE_USER = "user"
LINE_PASSWORD = "user-secret"

RING = "ring"  # 100/180 and IncomingCall at the port (the test then rejects it: 486)
DROP = "drop"  # no answer at all

# Where the wire answer is not the parser table's verdict: the UA's role differs from the
# profile the table checks (MSG = a UA implementing MESSAGE), or the answer comes from a
# layer the parser table does not cover.
UA_SPECIFIC: dict[str, int | str] = {
    # MESSAGE is not a method of pi-ata's UA: 501 comes before the body check (table: 415)
    "TC_MPART01": 501,
    # Accept: text/nobodyKnowsThis on an INVITE: the 200 could only carry SDP, so the UA
    # refuses before ringing with 406 (RFC 4475 §3.3.15 names 406, or 400)
    "TC_SDP01_V": 406,
}

# Rewrites of the raw bytes before sending (the Content-Length is not affected).
REWRITES: dict[str, tuple[bytes, bytes]] = {
    # RFC 2543 INVITE for "UserB": addressed to the line's user so that acceptance (it rings)
    # is what is checked, not the ghost-call gate.
    "TC_INV2543_I": (b"INVITE sip:UserB@", b"INVITE sip:user@"),
    # These reuse the top Via branch, sent-by and method of an earlier message (UNKSCM,
    # CPARAM01, ESCNULL): by RFC 3261 §17.2.3 they would be retransmissions of it, and the
    # UA rightly resends that transaction's answer to where it came from. A fresh branch
    # makes each a new request, as the RFC means them.
    "TC_NOVELSC_V": (b"branch=z9hG4bKkdjuw39234", b"branch=z9hG4bKkdjuw39234-novelsc"),
    "TC_CPARAM02_V": (b"branch=z9hG4bKkdjuw", b"branch=z9hG4bKkdjuw-cparam02"),
    "TC_REGESCRT_V": (b"branch=z9hG4bKkdjuw", b"branch=z9hG4bKkdjuw-regescrt"),
}


def on_the_wire(name: str, profile: str, expected: tuple[str, int]) -> int | str:
    """What a UA sends back for a torture message, from the parser table's verdict.

    PARSE(s): the transport answers ``s`` statelessly; REJECT(s): the UA answers ``s``; DROP
    and every response: silence (a response matching no client transaction is stray). A
    request the table accepts (OK): OPTIONS → 200; REGISTER → 501 (a UA is not a registrar);
    INVITE with a To tag → 481 (no such dialog); a new INVITE for the line's user rings.
    """
    kind, status = expected
    if name in UA_SPECIFIC:
        return UA_SPECIFIC[name]
    if kind == "parse":
        return status
    if kind == "drop":
        return DROP
    if kind == "reject":
        return status
    assert kind == "ok", name
    message = parse_message(_torture_bytes(name))
    if isinstance(message, Response):
        return DROP
    if message.method == "OPTIONS":
        return 200
    if message.method == "REGISTER":
        return 501
    assert message.method == "INVITE", name
    return 481 if message.to.tag else RING


def _torture_bytes(name: str) -> bytes:
    data = (DATA / f"{name}.dat").read_bytes()
    if name in REWRITES:
        old, new = REWRITES[name]
        assert old in data
        data = data.replace(old, new, 1)
    return data


def _status(data: bytes) -> int | None:
    m = re.match(rb"SIP/2\.0 (\d{3}) ", data)
    return int(m.group(1)) if m else None


class Port(PortStandIn):
    """The port stand-in, waiting for the n-th event of a kind."""

    async def nth(self, kind: type[E], n: int, timeout: float) -> E:
        async def arrived() -> E:
            while len(found := self.of(kind)) <= n:
                self._changed.clear()
                await self._changed.wait()
            return found[n]

        return await asyncio.wait_for(arrived(), timeout)


@dataclass
class Exchange:
    """What came back for one torture message."""

    statuses: list[int] = field(default_factory=list)
    rang: bool = False

    def outcome(self) -> int | str:
        finals = [s for s in self.statuses if s >= 200]
        provisional = [s for s in self.statuses if s < 200]
        if not self.statuses:
            return DROP
        if self.rang and 180 in provisional and finals == [486]:
            return RING
        if len(finals) == 1 and set(provisional) <= {100}:
            return finals[0]
        return f"odd: {self.statuses}"


async def _recv(sock: socket.socket, timeout: float) -> bytes | None:
    loop = asyncio.get_running_loop()
    try:
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), timeout)
    except TimeoutError:
        return None
    return bytes(data)


async def _send_torture(
    data: bytes, ua: tuple[str, int], port: Port, manager: CallManager
) -> tuple[Exchange, socket.socket]:
    """Send one message from a fresh socket; collect the answers (reject a ringing call)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sock.sendto(data, ua)
    got = Exchange()
    rung_before = len(port.of(lp.IncomingCall))
    window = 0.4  # silence this long after the last answer ends the exchange
    while (answer := await _recv(sock, window)) is not None:
        status = _status(answer)
        assert status is not None, answer[:80]
        got.statuses.append(status)
        if status == 180:
            incoming = await port.nth(lp.IncomingCall, rung_before, 3.0)
            got.rang = True
            manager.reject(incoming.call_id, 486)
        if status >= 200:
            window = 0.05  # a final answer: only a duplicate could still come
    return got, sock


def _options(sock: socket.socket, ua: tuple[str, int], n: int) -> bytes:
    host, port = sock.getsockname()
    return (
        f"OPTIONS sip:{LINE_USER}@{ua[0]}:{ua[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-after{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag=probe{n}\r\n"
        f"To: <sip:{LINE_USER}@{ua[0]}>\r\n"
        f"Call-ID: after-torture-{n}@{host}\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture
def kamailio_user(kamailio_factory: Any) -> Kamailio:
    server: Kamailio = kamailio_factory(users={**DEFAULT_USERS, LINE_USER: LINE_PASSWORD})
    return server


@pytest.mark.peers
@pytest.mark.timeout(60)
async def test_rfc4475_torture_messages_over_udp_to_a_running_ua(kamailio_user: Kamailio) -> None:
    """Each of the 49 messages from a UDP socket that is not the proxy (so the policy lets
    strangers' datagrams through: ``proxy_sources_only=False``, which also leaves the
    transport's source filter off; ``silent=False`` so a misaddressed INVITE would be 404)."""
    k = kamailio_user
    policy = CallPolicy(proxy_sources_only=False, silent=False)
    async with running_manager(k, [account(k, LINE_USER)], policy=policy) as manager:
        port = Port(manager, 0, 440.0)
        transport = manager.endpoint.transport
        ua = transport.local_address("udp")
        sockets: list[socket.socket] = []
        got: dict[str, int | str] = {}
        want: dict[str, int | str] = {}
        try:
            for _section, name, profile, expected, _why in CASES:
                want[name] = on_the_wire(name, profile, expected)
                exchange, sock = await _send_torture(_torture_bytes(name), ua, port, manager)
                sockets.append(sock)  # kept open: a 486 may be retransmitted until ACKed
                got[name] = exchange.outcome()
            # still serving: a plain OPTIONS is answered 200
            probe = sockets[-1]
            probe.sendto(_options(probe, ua, 1), ua)
            answer = await _recv(probe, 2.0)
            while answer is not None and _status(answer) == 486:  # a late 486 retransmission
                answer = await _recv(probe, 2.0)
        finally:
            for sock in sockets:
                sock.close()
        print("RFC 4475 over UDP, outcomes:", dict(Counter(map(str, got.values()))))
        mismatches = {n: (want[n], got[n]) for n in want if want[n] != got[n]}
        assert not mismatches, "(expected, got) per message: " + repr(mismatches)
        assert answer is not None and _status(answer) == 200, answer
        assert len(port.of(lp.IncomingCall)) == sum(1 for w in want.values() if w == RING)
        assert manager.registered(0)
        assert k.contacts(LINE_USER), "Kamailio still has the line's binding"
        counters = transport.counters
        assert counters.handler_errors == 0
        assert manager.counters["sink_errors"] == 0
        assert counters.dropped_rate == 0
