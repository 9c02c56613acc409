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
import gc
import itertools
import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ata.line import port as lp
from ata.runtime.calls import CallManager, CallPolicy, LineAccount
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from ata.sip.message import Response
from ata.sip.parser import parse_message
from tests.integration.calls_support import (
    PortStandIn,
    account,
    baresip_phone,
    in_thread,
    running_manager,
)
from tests.peers import free_port, require_binary
from tests.peers.baresip import Baresip
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
    """The port stand-in, stamping each event's wall-clock arrival, waiting for the n-th
    event of a kind."""

    def __init__(self, manager: CallManager, port: int, tone_hz: float) -> None:
        super().__init__(manager, port, tone_hz)
        self.stamps: list[float] = []

    def __call__(self, event: lp.Event) -> None:
        self.stamps.append(time.time())
        super().__call__(event)

    def stamp_of(self, event: lp.Event) -> float:
        return self.stamps[self.events.index(event)]

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
    data: bytes, ua: tuple[str, int], port: Port, manager: CallManager, silence: bool
) -> tuple[Exchange, socket.socket]:
    """Send one message from a fresh socket; collect the answers (reject a ringing call).
    Silence ends the exchange: 0.4 s when none is expected, else 2 s until a final answer
    (then 50 ms for a duplicate), so a slow machine is not mistaken for a drop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    sock.sendto(data, ua)
    got = Exchange()
    rung_before = len(port.of(lp.IncomingCall))
    window = 0.4 if silence else 2.0
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
                exchange, sock = await _send_torture(
                    _torture_bytes(name), ua, port, manager, silence=want[name] == DROP
                )
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


# == timers, with sipp as a black hole ==========================================================

INVITE_TIMES = (0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5)  # T1·2ⁿ until Timer B (RFC 3261 §17.1.1)
TIMER_B = 32.0
NON_INVITE_INTERVALS = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0)  # min(T1·2ⁿ, T2)
TOLERANCE = 0.060
TRACE_ENTRY = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\r?\n"
    r"UDP message received \[\d+\] bytes :\r?\n\r?\n([A-Z]+) ",
    re.MULTILINE,
)


def _arrivals(trace: Path, method: str) -> list[float]:
    """Wall-clock arrival times of ``method`` requests in a sipp ``-trace_msg`` file."""
    from datetime import datetime

    text = trace.read_text(errors="replace") if trace.exists() else ""
    return [
        datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        for stamp, found in TRACE_ENTRY.findall(text)
        if found == method
    ]


async def _wait_bound(port: int, timeout: float = 5.0) -> None:
    """Until something (sipp) has bound UDP ``port`` on 127.0.0.1."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return
        await asyncio.sleep(0.05)  # sipp is starting: poll its port
    raise AssertionError(f"sipp did not bind port {port}")


def _black_hole(sipp: str, method: str, port: int, workdir: Path) -> tuple[Any, Path]:
    trace = workdir / f"blackhole-{method}.log"
    proc = subprocess.Popen(
        [sipp, "-sf", str(SIPP_DIR / f"blackhole_{method}.xml"), "-i", "127.0.0.1",
         "-p", str(port), "-m", "1", "-nr", "-timeout", "45", "-nostdin",
         "-trace_msg", "-message_file", str(trace)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, trace


def _stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.peers
@pytest.mark.timeout(75)
async def test_invite_and_register_retransmit_on_rfc3261_timers_to_a_black_hole(
    tmp_path: Path,
) -> None:
    """Two lines on one endpoint: line 1 calls through a sipp that never answers (not even
    100), line 2 registers at another. INVITE at 0, 0.5, 1.5 … 31.5 s and CallFailed(408)
    at Timer B = 32 s; REGISTER every 0.5, 1, 2, then 4 s (T2) until Timer F."""
    sipp = require_binary("sipp")
    invite_port, register_port = free_port(also_tcp=False), free_port(also_tcp=False)
    invite_hole, invite_trace = _black_hole(sipp, "invite", invite_port, tmp_path)
    register_hole, register_trace = _black_hole(sipp, "register", register_port, tmp_path)
    try:
        await _wait_bound(invite_port)
        await _wait_bound(register_port)
        accounts = [
            LineAccount(user="1001", domain=f"127.0.0.1:{invite_port}", register=False),
            LineAccount(user="1002", domain=f"127.0.0.1:{register_port}", password="pw"),
        ]
        endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0))
        manager = CallManager(endpoint, accounts, rtp_port_range=(45000, 45999), own_endpoint=True)
        port = Port(manager, 0, 440.0)
        await manager.start()
        try:
            manager.place_call(0, "into-the-hole", "2000")
            failed = await port.wait(lp.CallFailed, TIMER_B + 5.0)
            failed_at = port.stamp_of(failed)
        finally:
            await manager.stop(grace=0.5)
        await asyncio.to_thread(invite_hole.wait, 5)
    finally:
        _stop(invite_hole)
        _stop(register_hole)
    invites = _arrivals(invite_trace, "INVITE")
    registers = _arrivals(register_trace, "REGISTER")
    assert len(invites) == len(INVITE_TIMES), invites
    offsets = [t - invites[0] for t in invites]
    deviations = [o - want for o, want in zip(offsets, INVITE_TIMES, strict=True)]
    failed_after = failed_at - invites[0]
    print(
        "INVITE offsets (s):",
        [round(o, 3) for o in offsets],
        "max deviation (ms):",
        round(1000 * max(map(abs, deviations)), 1),
        "CallFailed after (s):",
        round(failed_after, 3),
    )
    assert all(abs(d) <= TOLERANCE for d in deviations), deviations
    assert (failed.status, port.of(lp.CallProgress)) == (408, [])
    assert abs(failed_after - TIMER_B) <= 0.3, failed_after
    intervals = [b - a for a, b in itertools.pairwise(registers)]
    reg_deviations = [i - want for i, want in zip(intervals, NON_INVITE_INTERVALS, strict=False)]
    print(
        "REGISTER intervals (s):",
        [round(i, 3) for i in intervals],
        "max deviation (ms):",
        round(1000 * max(map(abs, reg_deviations)), 1),
    )
    assert len(intervals) >= 6, registers  # 0.5, 1, 2, 4, 4, 4 … (more within the 32 s)
    assert all(abs(d) <= TOLERANCE for d in reg_deviations), reg_deviations


# == INVITE flood from a stranger ===============================================================

FLOOD_RATE = 200  # INVITE/s
FLOOD_SECONDS = 30  # with the transport's source filter (the default policy)
RSS_MARGIN_KB = 20 * 1024


def _rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert m is not None
    return int(m.group(1))


def _flood(sipp: str, ua: tuple[str, int], total: int, workdir: Path) -> Any:
    return subprocess.Popen(
        [sipp, "-sf", str(SIPP_DIR / "invite_flood.xml"), f"{ua[0]}:{ua[1]}",
         "-s", "1001", "-i", "127.0.0.2", "-p", str(free_port(also_tcp=False)),
         "-r", str(FLOOD_RATE), "-m", str(total), "-nr", "-nostdin",
         "-timeout", str(total // FLOOD_RATE + 15)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.peers
@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("transport_filter", "seconds"),
    [(True, FLOOD_SECONDS), (False, 10)],
    ids=["source-filter-30s", "rate-limit-and-gate-10s"],
)
async def test_invite_flood_from_a_stranger_changes_nothing(
    transport_filter: bool,
    seconds: int,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """sipp from 127.0.0.2 (not the proxy) sends INVITEs for the line's user at 200/s for
    30 s against the default ghost-call policy (the transport drops strangers' datagrams),
    and for 10 s with the transport filter off (the per-source rate limit, then the call
    manager's gate drop them). Nothing rings, no state is kept, the line keeps registering
    (expires 10 s: it refreshes through the flood) and a call through Kamailio still arrives
    afterwards; RSS stays within a bound of the baseline."""
    sipp = require_binary("sipp")
    phone = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(1000.0), auto=False)
    line = account(kamailio, "1001", expires=10)
    policy = CallPolicy(transport_filter=transport_filter)
    async with running_manager(kamailio, [line], policy=policy) as manager:
        port = Port(manager, 0, 440.0)
        transport = manager.endpoint.transport
        agent = manager.lines[0].agent if manager.lines[0] is not None else None
        assert agent is not None
        ua = transport.local_address("udp")
        gc.collect()
        rss_before = _rss_kb()
        total = FLOOD_RATE * seconds

        def strangers() -> int:  # INVITEs from 127.0.0.2 dropped so far, wherever
            c = transport.counters
            return c.dropped_source + c.dropped_rate + manager.counters["ghost_source"]

        flood = _flood(sipp, ua, total, tmp_path)
        loop = asyncio.get_running_loop()
        samples: list[tuple[float, int]] = []
        registered_throughout = True
        rss_peak = rss_before
        try:
            while flood.poll() is None:
                await asyncio.sleep(0.25)  # sampling the counters while the loop serves
                samples.append((loop.time(), strangers()))
                registered_throughout &= manager.registered(0)
                rss_peak = max(rss_peak, _rss_kb())
        finally:
            _stop(flood)
        sipp_err = flood.stderr.read().decode(errors="replace") if flood.stderr else ""
        assert flood.returncode == 0, sipp_err[-2000:]
        await asyncio.sleep(0.3)  # the last datagrams in flight
        gc.collect()
        rss_after = _rss_kb()
        dropped = strangers()
        moving = [t for (t, n), (_, m) in itertools.pairwise(samples) if m > n]
        rate = dropped / (moving[-1] - moving[0] + 0.25) if len(moving) > 1 else 0.0
        # nothing reached a line: no ringing, no answer, no transaction or dialog kept
        # every INVITE sipp sent was counted (a long stall of a loaded machine could let the
        # kernel's socket buffer overflow: tolerate 2 %)
        assert 0.98 * total <= dropped <= total, (dropped, total)
        if transport_filter:
            assert transport.counters.dropped_source == dropped
        else:  # the bucket lets 50/s (burst 100) through to the gate, which drops them
            assert transport.counters.dropped_source == 0
            assert 0 < manager.counters["ghost_source"] < total / 2
        assert port.events == []
        assert manager.counters["calls_in"] == 0
        assert len(agent.tx) == 0 and not agent.calls and not manager.calls
        assert registered_throughout and manager.registered(0)
        assert kamailio.contacts("1001"), "refreshed through the flood (expires 10 s)"
        # the proxy's calls still get through
        await in_thread(phone.command, "dial", f"sip:1001@{kamailio.host}:{kamailio.port}")
        incoming = await port.wait(lp.IncomingCall)
        assert incoming.number == "1002"
        manager.answer(incoming.call_id)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        await in_thread(phone.command, "hangup")
        await port.wait(lp.CallEnded)
        gc.collect()
        rss_end = _rss_kb()
        print(
            f"flood ({'source filter' if transport_filter else 'no filter'}): {dropped} "
            f"INVITEs at {rate:.0f}/s: source-filtered {transport.counters.dropped_source}, "
            f"rate-limited {transport.counters.dropped_rate}, dropped at the call gate "
            f"{manager.counters['ghost_source']}; RSS kB before {rss_before}, peak "
            f"{rss_peak}, after flood {rss_after}, after a call {rss_end}"
        )
        assert rate >= 0.95 * FLOOD_RATE
        assert rss_after - rss_before < RSS_MARGIN_KB
        assert rss_end - rss_before < RSS_MARGIN_KB
        assert transport.counters.handler_errors == 0
