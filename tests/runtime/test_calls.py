"""CallManager pieces without external peers: host:port parsing, config wiring, the media
leg (codec switch, in-band DTMF, inert after close), and the manager's own decisions on real
loopback sockets (unconfigured port, 404 when the ghost policy is not silent, stop() hangs
up with a BYE)."""

from __future__ import annotations

import asyncio
import random
import re
import socket

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.dsp.dtmf import DigitStart, DtmfReceiver
from ata.line import port as lp
from ata.runtime.call_lines import hostport as _hostport
from ata.runtime.call_media import CallMedia
from ata.runtime.calls import CallManager, CallPolicy, LineAccount
from ata.runtime.calls_config import accounts_from_config, policy_from_config
from ata.runtime.sip_dns import SipResolver, Target
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from ata.sip.sdp import Codec, Direction, NegotiatedAudio
from provisioning.schema import Config, Line, Security
from tests.integration.calls_support import PortStandIn, RawPeer, ack_for, header, invite, sdp


@given(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
    st.one_of(st.none(), st.integers(1, 65535)),
)
def test_hostport_round_trip(host: str, port: int | None) -> None:
    text = host if port is None else f"{host}:{port}"
    assert _hostport(text) == (host, port)


def test_hostport_ipv6_and_defaults() -> None:
    assert _hostport("[2001:db8::1]:5070") == ("2001:db8::1", 5070)
    assert _hostport("[2001:db8::1]") == ("2001:db8::1", None)
    assert _hostport("2001:db8::1") == ("2001:db8::1", None)
    assert _hostport("proxy.example", 5060) == ("proxy.example", 5060)


def test_accounts_and_policy_from_config() -> None:
    config = Config(
        lines=[
            Line(proxy="sip.example:5070", user="2001", password="pw", dtmf_mode="info"),
            Line(user="2002"),  # no proxy: needs the built-in registrar's domain
            Line(enabled=False, proxy="sip.example", user="2003"),
        ],
        security=Security(restrict_source_to_proxy=False),
    )
    first, second, third = accounts_from_config(config)
    assert first is not None
    assert (first.user, first.domain, first.dtmf_mode) == ("2001", "sip.example:5070", "info")
    assert first.codecs == ("PCMU", "PCMA")
    assert second is None and third is None
    standalone = accounts_from_config(config, standalone_domain="127.0.0.1:5062")[1]
    assert standalone is not None and standalone.domain == "127.0.0.1:5062"
    assert policy_from_config(config).proxy_sources_only is False


# -- the media leg ------------------------------------------------------------------------------


def _negotiated(pt: int, name: str, remote: tuple[str, int], te: int | None) -> NegotiatedAudio:
    return NegotiatedAudio(
        codec=Codec(pt, name),
        remote_address=remote,
        remote_rtp=remote,
        telephone_event_pt=te,
        ptime=20,
        direction=Direction.SENDRECV,
    )


async def test_media_leg_applies_answer_and_sends_inband_dtmf() -> None:
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    far.setblocking(False)
    leg = await CallMedia.open(host="127.0.0.1", port_range=(47000, 47998), dtmf_mode="inband")
    try:
        assert leg.local_port % 2 == 0
        leg.apply(_negotiated(8, "PCMA", far.getsockname(), None))
        assert leg.rtp.media.payload_type == 8
        assert leg.rtp.media.config.telephone_event_pt is None
        assert leg.send_dtmf("5") == "inband"
        assert leg.send_flash() is False  # no telephone-event negotiated
        loop = asyncio.get_running_loop()
        receiver = DtmfReceiver()
        from ata.media.g711 import alaw_decode

        keys: list[str] = []
        silence = np.zeros(160, np.int16)
        for _ in range(12):
            leg.send_frame(silence)
            data = await asyncio.wait_for(loop.sock_recv(far, 2048), 2)
            assert data[1] & 0x7F == 8  # PCMA
            audio = alaw_decode(np.frombuffer(data[12:], np.uint8))
            keys += [e.digit for e in receiver.process(audio) if isinstance(e, DigitStart)]
        assert keys == ["5"]
    finally:
        await leg.close()
        far.close()
    assert leg.closed
    leg.send_frame(np.zeros(160, np.int16))  # inert after close
    assert not leg.pull_frame().any()
    assert "EN=PCMA" in leg.summary()


async def test_media_leg_rfc4733_falls_back_to_inband_without_events() -> None:
    leg = await CallMedia.open(host="127.0.0.1", port_range=(47000, 47998))
    try:
        leg.apply(_negotiated(0, "PCMU", ("127.0.0.1", 9), 96))
        assert leg.rtp.media.config.telephone_event_pt == 96
        assert leg.send_dtmf("1") == "rfc4733"
        leg.apply(_negotiated(0, "PCMU", ("127.0.0.1", 9), None))
        assert leg.send_dtmf("2") == "inband"
    finally:
        await leg.close()


# -- the manager on loopback sockets ------------------------------------------------------------


async def _manager(peer: RawPeer, policy: CallPolicy, accounts: int = 1) -> CallManager:
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0))
    acct = LineAccount(user="alice", domain=f"{peer.host}:{peer.port}", register=False)
    manager = CallManager(
        endpoint,
        [acct] + [None] * (accounts - 1),
        policy=policy,
        rtp_port_range=(47000, 47998),
        own_endpoint=True,
    )
    await manager.start()
    return manager


async def test_unconfigured_port_fails_and_unknown_user_gets_404_when_not_silent() -> None:
    peer = RawPeer()
    manager = await _manager(peer, CallPolicy(silent=False), accounts=2)
    try:
        port1 = PortStandIn(manager, 1, 440)
        manager.place_call(1, "port1-1", "123")
        failed = await port1.wait(lp.CallFailed)
        assert failed.status == 404
        ata = manager.endpoint.transport.local_address("udp")
        peer.send(invite(peer, "mallory", ata, sdp(40000)), ata)
        await peer.expect("SIP/2.0 404")
        assert manager.counters["ghost_user"] == 1
    finally:
        await manager.stop(grace=0.5)
        peer.close()


async def test_stop_hangs_up_connected_calls_with_bye() -> None:
    peer = RawPeer()
    manager = await _manager(peer, CallPolicy())
    stopped = False
    try:
        port = PortStandIn(manager, 0, 440)
        ata = manager.endpoint.transport.local_address("udp")
        inv = invite(peer, "alice", ata, sdp(40000))
        peer.send(inv, ata)
        incoming = await port.wait(lp.IncomingCall)
        manager.answer(incoming.call_id)
        ok = await peer.expect("SIP/2.0 200")
        peer.send(ack_for(peer, inv, ok), ata)
        await asyncio.sleep(0.05)
        stopping = asyncio.ensure_future(manager.stop(grace=2.0))
        bye = await peer.expect("BYE ")
        assert "X-RTP-Stat" in bye
        via = header(bye, "Via")
        reply = "\n".join(
            [
                "SIP/2.0 200 OK",
                f"Via: {via}",
                f"From: {header(bye, 'From')}",
                f"To: {header(bye, 'To')}",
                f"Call-ID: {header(bye, 'Call-ID')}",
                f"CSeq: {header(bye, 'CSeq')}",
            ]
        )
        peer.send(reply + "\r\n\r\n", ata)
        await asyncio.wait_for(stopping, 3)
        stopped = True
        assert not manager.calls
        assert re.search(r"CSeq: \d+ BYE", bye)
    finally:
        if not stopped:
            await manager.stop(grace=0.5)
        peer.close()


@pytest.mark.parametrize("status", [600, 486, 503])
async def test_failure_statuses_reach_the_port(status: int) -> None:
    peer = RawPeer()
    manager = await _manager(peer, CallPolicy())
    try:
        port = PortStandIn(manager, 0, 440)
        manager.place_call(0, "port0-1", "5550100")
        inv = await peer.expect("INVITE ")
        reply = "\n".join(
            [
                f"SIP/2.0 {status} Nope",
                f"Via: {header(inv, 'Via')}",
                f"From: {header(inv, 'From')}",
                f"To: {header(inv, 'To')};tag=x1",
                f"Call-ID: {header(inv, 'Call-ID')}",
                f"CSeq: {header(inv, 'CSeq')}",
            ]
        )
        peer.send(reply + "\r\n\r\n", manager.endpoint.transport.local_address("udp"))
        failed = await port.wait(lp.CallFailed)
        assert failed.status == (486 if status == 600 else status)
        await peer.expect("ACK ")
        assert manager.media("port0-1") is None
    finally:
        await manager.stop(grace=0.5)
        peer.close()


class _FlakyResolver(SipResolver):
    """No answer for the first lookups (DNS down at boot), then the loopback peer."""

    def __init__(self, peer: RawPeer, failures: int) -> None:
        super().__init__()
        self.peer = peer
        self.failures = failures
        self.calls = 0

    async def resolve(
        self,
        host: str,
        port: int | None = None,
        transport: str | None = None,
        *,
        secure: bool = False,
    ) -> list[Target]:
        self.calls += 1
        if self.calls <= self.failures:
            return []
        return [Target(self.peer.host, self.peer.port, "udp")]


async def test_line_without_proxy_at_start_retries_until_it_resolves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ata.runtime.calls.START_RETRY_MIN", 0.05)
    peer = RawPeer()
    resolver = _FlakyResolver(peer, failures=2)
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0), resolver=resolver)
    acct = LineAccount(user="alice", domain="proxy.invalid", register=False)
    manager = CallManager(endpoint, [acct], rtp_port_range=(47000, 47998), own_endpoint=True)
    await manager.start()  # does not raise: the line retries in the background
    try:
        line = manager.lines[0]
        assert line is not None
        assert manager.status()[0]["registration"] == "off"
        assert not manager.status()[0]["ready"]
        port = PortStandIn(manager, 0, 440)
        for _ in range(100):
            if manager.status()[0]["ready"]:
                break
            await asyncio.sleep(0.02)
        assert manager.status()[0]["ready"]
        assert resolver.calls == 3
        manager.place_call(0, "port0-1", "100")
        inv = await peer.expect("INVITE sip:100@proxy.invalid")
        assert "m=audio" in inv
        manager.hang_up("port0-1")
        assert not port.of(lp.CallFailed)
    finally:
        await manager.stop(grace=0.5)
        peer.close()


def _mutations(rng: random.Random, base: str) -> str:
    lines = base.split("\n")
    head_end = lines.index("") if "" in lines else len(lines)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(6)
        i = rng.randrange(1, max(2, head_end))
        if choice == 0 and head_end > 2:
            del lines[i]
            head_end -= 1
        elif choice == 1:
            lines[i] = lines[i] + ";tag=" + rng.choice(["", "x", "raw1", "\x00", "é"])
        elif choice == 2:
            lines[0] = rng.choice(["BYE", "CANCEL", "ACK", "INFO", "OPTIONS", "FOO", "SIP/2.0"]) + (
                " " + lines[0].split(" ", 1)[1] if " " in lines[0] else ""
            )
        elif choice == 3:
            lines.insert(i, rng.choice(["To: <sip:alice@x>;tag=t", "Call-ID: same", "CSeq: 9 BYE"]))
            head_end += 1
        elif choice == 4:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        else:
            lines[0] = "SIP/2.0 " + rng.choice(["180 Ringing", "200 OK", "487 X", "999 Y"])
    return "\n".join(lines)


async def test_mutated_requests_never_break_routing_and_calls_still_work() -> None:
    rng = random.Random(4475)
    peer = RawPeer()
    stranger = RawPeer("127.0.0.2")
    manager = await _manager(peer, CallPolicy(silent=False))
    try:
        port = PortStandIn(manager, 0, 440)
        ata = manager.endpoint.transport.local_address("udp")
        for n in range(300):
            sender = stranger if n % 3 == 0 else peer
            user = rng.choice(["alice", "bob", "", "alice;x=1"])
            text = _mutations(rng, invite(sender, user, ata, sdp(40000)))
            head, _, body = text.partition("\r\n\r\n")
            wire = head.replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\n", "\r\n")
            sender.sock.sendto(wire.encode("utf-8", "replace"), ata)
            if n % 50 == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        counters = manager.endpoint.transport.counters
        assert counters.handler_errors == 0
        for event in port.of(lp.IncomingCall):
            manager.reject(event.call_id, 486)
        # still serving: a clean call rings and is answered
        inv = invite(peer, "alice", ata, sdp(40000))
        before = len(port.of(lp.IncomingCall))
        peer.send(inv, ata)
        for _ in range(100):
            if len(port.of(lp.IncomingCall)) > before:
                break
            await asyncio.sleep(0.02)
        fresh = port.of(lp.IncomingCall)[before]
        manager.answer(fresh.call_id)
        assert manager.media(fresh.call_id) is not None
        assert counters.dropped_source == 100  # every stranger datagram, at the transport
        assert await stranger.recv(0.2) is None, "nothing leaks to a stranger"
        assert counters.handler_errors == 0
    finally:
        await manager.stop(grace=0.5)
        peer.close()
        stranger.close()


class _TableResolver(SipResolver):
    """Names to loopback peers (no DNS in tests)."""

    def __init__(self, table: dict[str, RawPeer]) -> None:
        super().__init__()
        self.table = table

    async def resolve(
        self,
        host: str,
        port: int | None = None,
        transport: str | None = None,
        *,
        secure: bool = False,
    ) -> list[Target]:
        peer = self.table.get(host)
        return [] if peer is None else [Target(peer.host, peer.port, "udp")]


async def test_outbound_proxy_carries_register_invite_and_bye() -> None:
    domain_peer, outbound = RawPeer(), RawPeer()
    resolver = _TableResolver({"sip.example": domain_peer, "ob.example": outbound})
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0), resolver=resolver)
    acct = LineAccount(
        user="alice",
        domain="sip.example",
        password="pw",
        outbound_proxy="ob.example",
        display_name="Alice A",
    )
    manager = CallManager(endpoint, [acct], rtp_port_range=(47000, 47998), own_endpoint=True)
    await manager.start()
    try:
        ata = endpoint.transport.local_address("udp")
        register = await outbound.expect("REGISTER sip:sip.example SIP/2.0")
        assert "<sip:ob.example;lr>" in header(register, "Route")
        port = PortStandIn(manager, 0, 440)
        manager.place_call(0, "port0-1", "200")
        inv = await outbound.expect("INVITE sip:200@sip.example SIP/2.0")
        assert header(inv, "From").startswith('"Alice A" <sip:alice@sip.example>')
        reply = "\n".join(
            [
                "SIP/2.0 200 OK",
                f"Via: {header(inv, 'Via')}",
                f"From: {header(inv, 'From')}",
                f"To: {header(inv, 'To')};tag=far",
                f"Call-ID: {header(inv, 'Call-ID')}",
                f"CSeq: {header(inv, 'CSeq')}",
                f"Contact: <sip:200@{domain_peer.host}:{domain_peer.port}>",
                "Content-Type: application/sdp",
            ]
        )
        outbound.send(reply + "\r\n\r\n" + sdp(40000), ata)
        await port.wait(lp.CallAnswered)
        await outbound.expect("ACK sip:200@")
        manager.hang_up("port0-1")
        bye = await outbound.expect("BYE sip:200@")
        assert "X-RTP-Stat" in bye
        assert await domain_peer.recv(0.2) is None, "nothing bypassed the outbound proxy"
    finally:
        await manager.stop(grace=0.3)
        domain_peer.close()
        outbound.close()
