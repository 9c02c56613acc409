"""CallManager against hand-written SIP on raw UDP sockets: the ghost-call gate (with lines
registered at a real Kamailio), caller identity and distinctive ring from an INVITE's
headers, 488 for an offer without a common codec, early media from a 183, and the
X-RTP-Stat header on our BYE.

The raw peer is deliberately tiny and independent of pi-ata's SIP stack: text templates and
regular expressions.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest

from ata.dsp.cadence import DISTINCTIVE
from ata.line import port as lp
from ata.media.g711 import ulaw_encode
from ata.runtime.calls import CallManager, CallPolicy, LineAccount
from ata.runtime.sip_endpoint import SipEndpoint
from ata.runtime.sip_transport import TransportConfig
from tests.integration.calls_support import (
    PortStandIn,
    RawPeer,
    account,
    ack_for,
    header,
    invite,
    running_manager,
    sdp,
)
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.timeout(60)]


# -- the ghost-call gate, with lines registered at Kamailio ------------------------------------


@pytest.mark.peers
@pytest.mark.parametrize("transport_filter", [True, False])
async def test_ghost_calls_get_no_answer_and_never_ring(
    kamailio: Kamailio, transport_filter: bool
) -> None:
    policy = CallPolicy(transport_filter=transport_filter)
    async with running_manager(
        kamailio, [account(kamailio, "alice"), account(kamailio, "bob")], policy=policy
    ) as manager:
        alice = PortStandIn(manager, 0, 440)
        bob = PortStandIn(manager, 1, 440)
        ata = manager.endpoint.transport.local_address("udp")
        stranger = RawPeer("127.0.0.2")  # loopback, but not the proxy's address
        same_ip = RawPeer("127.0.0.1")  # the proxy's IP (Kamailio runs here)
        try:
            stranger.send(invite(stranger, "alice", ata, sdp(40000)), ata)
            assert await stranger.recv(1.0) is None, "a stranger gets no response at all"
            same_ip.send(invite(same_ip, "mallory", ata, sdp(40000)), ata)
            assert await same_ip.recv(1.0) is None, "an unknown user gets no response"
            # positive control: the same request for a registered user rings
            inv = invite(same_ip, "alice", ata, sdp(40000))
            same_ip.send(inv, ata)
            await same_ip.expect("SIP/2.0 180")
            await alice.wait(lp.IncomingCall)
            manager.reject(alice.of(lp.IncomingCall)[0].call_id, 486)
            busy = await same_ip.expect("SIP/2.0 486")
            same_ip.send(ack_for(same_ip, inv, busy), ata)
        finally:
            stranger.close()
            same_ip.close()
        # dropped by the transport's source filter, or else by the manager's INVITE gate
        dropped_at_transport = manager.endpoint.transport.counters.dropped_source
        assert (dropped_at_transport, manager.counters["ghost_source"]) == (
            (1, 0) if transport_filter else (0, 1)
        )
        assert manager.counters["ghost_user"] == 1
        assert len(alice.of(lp.IncomingCall)) == 1
        assert not bob.events


# -- a raw peer as proxy and far end -----------------------------------------------------------


@asynccontextmanager
async def raw_line(**kw: object) -> AsyncIterator[tuple[CallManager, RawPeer, PortStandIn]]:
    peer = RawPeer()
    endpoint = SipEndpoint(TransportConfig(host="127.0.0.1", udp_port=0))
    acct = LineAccount(user="alice", domain=f"{peer.host}:{peer.port}", register=False, **kw)  # type: ignore[arg-type]
    manager = CallManager(
        endpoint, [acct], policy=CallPolicy(), rtp_port_range=(45000, 45999), own_endpoint=True
    )
    await manager.start()
    port = PortStandIn(manager, 0, 440)
    try:
        yield manager, peer, port
    finally:
        await manager.stop(grace=0.5)
        peer.close()


async def test_incoming_identity_cadence_answer_and_remote_bye() -> None:
    async with raw_line() as (manager, peer, port):
        ata = manager.endpoint.transport.local_address("udp")
        inv = invite(
            peer,
            "alice",
            ata,
            sdp(45500),
            'P-Asserted-Identity: "Bob Jones" <sip:+15551234567@127.0.0.1>',
            "Alert-Info: <http://127.0.0.1/ring>;info=Bellcore-dr3",
        )
        peer.send(inv, ata)
        await peer.expect("SIP/2.0 100")
        await peer.expect("SIP/2.0 180")
        incoming = await port.wait(lp.IncomingCall)
        assert (incoming.number, incoming.name) == ("+15551234567", "Bob Jones")
        assert incoming.cadence == DISTINCTIVE["r3"].segments
        manager.answer(incoming.call_id)
        ok = await peer.expect("SIP/2.0 200")
        assert "m=audio" in ok and "RTP/AVP 0" in ok
        leg = manager.media(incoming.call_id)
        assert leg is not None
        assert f"m=audio {leg.local_port} " in ok
        peer.send(ack_for(peer, inv, ok), ata)
        to = header(ok, "To")
        info = "\n".join(
            [
                f"INFO sip:alice@{ata[0]}:{ata[1]} SIP/2.0",
                f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bKinfo1",
                "Max-Forwards: 70",
                f"From: {header(inv, 'From')}",
                f"To: {to}",
                f"Call-ID: {header(inv, 'Call-ID')}",
                "CSeq: 2 INFO",
                "Content-Type: application/dtmf-relay",
            ]
        )
        peer.send(info + "\r\n\r\nSignal=#\nDuration=160\n", ata)
        await peer.expect("SIP/2.0 200")
        assert await port.wait(lp.RemoteDtmf) == lp.RemoteDtmf(incoming.call_id, "#")
        bye = (
            "\n".join(
                [
                    f"BYE sip:alice@{ata[0]}:{ata[1]} SIP/2.0",
                    f"Via: SIP/2.0/UDP {peer.host}:{peer.port};branch=z9hG4bKbye1",
                    "Max-Forwards: 70",
                    f"From: {header(inv, 'From')}",
                    f"To: {to}",
                    f"Call-ID: {header(inv, 'Call-ID')}",
                    "CSeq: 3 BYE",
                ]
            )
            + "\r\n\r\n"
        )
        peer.send(bye, ata)
        await peer.expect("SIP/2.0 200")
        ended = await port.wait(lp.CallEnded)
        assert (ended.call_id, ended.cause) == (incoming.call_id, "remote-bye")


async def test_offer_without_common_codec_is_refused_488() -> None:
    async with raw_line() as (manager, peer, port):
        ata = manager.endpoint.transport.local_address("udp")
        peer.send(invite(peer, "alice", ata, sdp(45500, "18", "a=rtpmap:18 G729/8000\n")), ata)
        await peer.expect("SIP/2.0 488")
        await asyncio.sleep(0.1)
        assert not port.events


async def test_early_media_then_answer_then_bye_carries_rtp_stats() -> None:
    async with raw_line() as (manager, peer, port):
        ata = manager.endpoint.transport.local_address("udp")
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtp.setblocking(False)
        try:
            manager.place_call(0, "port0-1", "5550100")
            inv = await peer.expect("INVITE sip:5550100@")
            offer_port = int(re.search(r"m=audio (\d+)", inv).group(1))  # type: ignore[union-attr]
            to_tag = "farend1"

            def reply(status: str, body: str = "") -> str:
                head = [
                    f"SIP/2.0 {status}",
                    f"Via: {header(inv, 'Via')}",
                    f"From: {header(inv, 'From')}",
                    f"To: {header(inv, 'To')};tag={to_tag}",
                    f"Call-ID: {header(inv, 'Call-ID')}",
                    f"CSeq: {header(inv, 'CSeq')}",
                    f"Contact: <sip:5550100@{peer.host}:{peer.port}>",
                ]
                if body:
                    head.append("Content-Type: application/sdp")
                return "\n".join(head) + "\r\n\r\n" + body

            answer_sdp = sdp(rtp.getsockname()[1])
            peer.send(reply("183 Session Progress", answer_sdp), ata)
            progress = await port.wait(lp.CallProgress)
            assert progress.early_media
            # announcement audio before the answer reaches the port's media leg
            loop = asyncio.get_running_loop()
            tone = np.rint(3000 * np.sin(2 * np.pi * 600 * np.arange(160) / 8000)).astype(np.int16)
            for seq in range(25):
                header_bytes = (
                    bytes([0x80, 0, 0, seq]) + (seq * 160).to_bytes(4, "big") + b"\0\0\0\7"
                )
                rtp.sendto(header_bytes + ulaw_encode(tone).tobytes(), ("127.0.0.1", offer_port))
            await asyncio.sleep(0.2)
            leg = manager.media("port0-1")
            assert leg is not None
            assert leg.rtp.stats().packets_received >= 20
            # the port's audio goes to the far end during early media too
            leg.send_frame(tone)
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(rtp, 2048), 2)
            assert data[1] & 0x7F == 0
            peer.send(reply("200 OK", answer_sdp), ata)
            await port.wait(lp.CallAnswered)
            ack = await peer.expect("ACK ")
            assert f";tag={to_tag}" in header(ack, "To")
            manager.hang_up("port0-1")
            bye = await peer.expect("BYE ")
            stat = header(bye, "X-RTP-Stat")
            assert re.search(r"PR=(\d+)", stat) and int(re.search(r"PR=(\d+)", stat).group(1)) >= 20  # type: ignore[union-attr]
            assert "EN=PCMU" in stat
        finally:
            rtp.close()
