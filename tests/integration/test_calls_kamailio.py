"""CallManager against real peers: Kamailio (registrar/proxy, digest auth) and baresip phones.

pi-ata's two lines (alice on port 0, bob on port 1) register with Kamailio through one UDP
transport; a stand-in for each port records the call events and talks a tone into the media
leg; baresip is the far-end phone (its microphone is a tone WAV, its decoded audio is
recorded and analysed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ata.line import port as lp
from tests.integration.calls_support import (
    PortStandIn,
    account,
    baresip_phone,
    decoded_recording,
    dominant_hz,
    in_thread,
    running_manager,
)
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]

ATA_HZ = 440.0
PHONE_HZ = 1000.0


async def test_two_lines_register_through_one_transport(kamailio: Kamailio) -> None:
    async with running_manager(
        kamailio, [account(kamailio, "alice"), account(kamailio, "bob")]
    ) as manager:
        local_port = manager.endpoint.transport.local_address("udp")[1]
        for user in ("alice", "bob"):
            contacts = kamailio.contacts(user)
            assert len(contacts) == 1
            assert f"127.0.0.1:{local_port}" in contacts[0]
        assert manager.registered(0)
        assert manager.registered(1)
        assert [s["registration"] for s in manager.status()] == ["registered", "registered"]


async def test_ata_calls_baresip_audio_both_ways_ata_hangs_up(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(PHONE_HZ))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        manager.place_call(0, "port0-1", "carol")
        answered = await port.wait(lp.CallAnswered)
        assert answered.call_id == "port0-1"
        assert not port.of(lp.CallFailed)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        await port.talk("port0-1", 1.6)
        leg = manager.media("port0-1")
        assert leg is not None
        stats = leg.rtp.stats()
        assert stats.packets_sent >= 75
        assert stats.packets_received >= 50
        manager.hang_up("port0-1")
        closed = await in_thread(phone.wait_event, "CALL_CLOSED", timeout=5)
        assert closed
        assert manager.setup_times and manager.setup_times[0] < 1.0
        assert not port.of(lp.CallEnded), "our own hang-up is not echoed to the port"
    heard = port.heard_audio()
    assert abs(dominant_hz(heard[-8000:]) - PHONE_HZ) < 10, "pi-ata heard baresip's tone"
    recorded = decoded_recording(phone)
    assert len(recorded) >= 8000
    assert abs(dominant_hz(recorded[-8000:]) - ATA_HZ) < 10, "baresip heard pi-ata's tone"


async def test_ata_calls_baresip_far_end_hangs_up(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(PHONE_HZ))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        manager.place_call(0, "port0-1", "carol")
        await port.wait(lp.CallAnswered)
        await port.talk("port0-1", 0.3)
        await in_thread(phone.command, "hangup")
        ended = await port.wait(lp.CallEnded)
        assert ended.call_id == "port0-1"
        assert ended.cause == "remote-bye"
        assert manager.media("port0-1") is None
        assert not manager.calls


async def test_baresip_calls_ata_caller_id_audio_both_ways_caller_hangs_up(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(
        baresip_factory, kamailio, "1001", tone_wav(PHONE_HZ), auto=False, display="Ann Smith"
    )
    async with running_manager(
        kamailio, [account(kamailio, "alice"), account(kamailio, "bob")]
    ) as manager:
        alice = PortStandIn(manager, 0, 700.0)
        bob = PortStandIn(manager, 1, ATA_HZ)
        await in_thread(phone.command, "dial", f"sip:bob@{kamailio.host}:{kamailio.port}")
        incoming = await bob.wait(lp.IncomingCall)
        assert incoming.number == "1001"
        assert incoming.name == "Ann Smith"
        assert incoming.withheld == ""
        assert incoming.cadence is None
        await in_thread(phone.wait_event, "CALL_RINGING", timeout=5)
        manager.answer(incoming.call_id)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        await bob.talk(incoming.call_id, 1.6)
        await in_thread(phone.command, "hangup")
        ended = await bob.wait(lp.CallEnded)
        assert ended.call_id == incoming.call_id
        assert not alice.events, "the call was for bob's port only"
    assert abs(dominant_hz(bob.heard_audio()[-8000:]) - PHONE_HZ) < 10
    assert abs(dominant_hz(decoded_recording(phone)[-8000:]) - ATA_HZ) < 10


async def test_caller_cancels_before_answer(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "1001", tone_wav(PHONE_HZ), auto=False)
    async with running_manager(kamailio, [None, account(kamailio, "bob")]) as manager:
        bob = PortStandIn(manager, 1, ATA_HZ)
        await in_thread(phone.command, "dial", f"sip:bob@{kamailio.host}:{kamailio.port}")
        incoming = await bob.wait(lp.IncomingCall)
        await in_thread(phone.wait_event, "CALL_RINGING", timeout=5)
        await in_thread(phone.command, "hangup")
        ended = await bob.wait(lp.CallEnded)
        assert ended.call_id == incoming.call_id
        assert ended.cause == "cancelled"
        assert not bob.of(lp.CallAnswered)


async def test_ata_cancels_before_answer(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(PHONE_HZ), auto=False)
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        manager.place_call(0, "port0-1", "carol")
        progress = await port.wait(lp.CallProgress)
        assert progress.call_id == "port0-1"
        assert not progress.early_media
        await in_thread(phone.wait_event, "CALL_INCOMING", timeout=5)
        manager.hang_up("port0-1")
        await in_thread(phone.wait_event, "CALL_CLOSED", timeout=5)
        await asyncio.sleep(0.2)  # let the 487 arrive and the call be reaped
        assert not port.of(lp.CallAnswered)
        assert not port.of(lp.CallFailed)
        assert not manager.calls
        line = manager.lines[0]
        assert line is not None and line.agent is not None
        assert not line.agent.calls


async def test_busy_port_rejects_486(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "1001", tone_wav(PHONE_HZ), auto=False)
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        await in_thread(phone.command, "dial", f"sip:alice@{kamailio.host}:{kamailio.port}")
        incoming = await port.wait(lp.IncomingCall)
        manager.reject(incoming.call_id, 486)
        closed = await in_thread(phone.wait_event, "CALL_CLOSED", timeout=5)
        assert "486" in str(closed.get("param", "")), closed
        await asyncio.sleep(0.1)
        assert not port.of(lp.CallEnded), "the port's own reject is not echoed back"


async def test_unknown_number_fails_404_and_busy_far_end_486(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    async with running_manager(
        kamailio, [account(kamailio, "alice"), account(kamailio, "bob")]
    ) as manager:
        alice = PortStandIn(manager, 0, ATA_HZ)
        bob = PortStandIn(manager, 1, ATA_HZ)
        manager.place_call(0, "port0-1", "nobody")
        failed = await alice.wait(lp.CallFailed)
        assert (failed.call_id, failed.status) == ("port0-1", 404)
        # alice calls bob (both on pi-ata, through Kamailio); bob's port is busy
        manager.place_call(0, "port0-2", "bob")
        incoming = await bob.wait(lp.IncomingCall)
        assert incoming.number == "alice"
        manager.reject(incoming.call_id, 486)
        busy = [e for e in await _failures(alice, 2) if e.call_id == "port0-2"]
        assert busy[0].status == 486
    assert manager.media("port0-2") is None


async def _failures(port: PortStandIn, count: int) -> list[lp.CallFailed]:
    for _ in range(100):
        if len(port.of(lp.CallFailed)) >= count:
            break
        await port.wait(lp.CallFailed)
        await asyncio.sleep(0.02)
    return port.of(lp.CallFailed)


async def test_pcma_line_and_tcp_transport_both_directions(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    """A line preferring PCMA, signalling over TCP to Kamailio (baresip stays on UDP)."""
    phone = baresip_factory(
        f"<sip:carol@{kamailio.host}:{kamailio.port}>;auth_pass={kamailio.users['carol']};"
        "audio_codecs=PCMA,PCMU;ptime=20;regint=600;answermode=auto",
        tone_wav(PHONE_HZ),
    )
    phone.wait_registered()
    line = account(kamailio, "alice", codecs=("PCMA",), transport="tcp")
    async with running_manager(kamailio, [line]) as manager:
        assert "transport=tcp" in kamailio.contacts("alice")[0]
        port = PortStandIn(manager, 0, ATA_HZ)
        manager.place_call(0, "port0-1", "carol")
        await port.wait(lp.CallAnswered)
        await port.talk("port0-1", 1.2)
        leg = manager.media("port0-1")
        assert leg is not None
        assert leg.rtp.media.payload_type == 8
        manager.hang_up("port0-1")
        await in_thread(phone.wait_event, "CALL_CLOSED", timeout=5)
        assert abs(dominant_hz(port.heard_audio()[-4000:]) - PHONE_HZ) < 10
        assert abs(dominant_hz(decoded_recording(phone)[-4000:]) - ATA_HZ) < 10
        # and back: carol calls alice over the TCP flow alice registered on
        await in_thread(phone.command, "dial", f"sip:alice@{kamailio.host}:{kamailio.port}")
        incoming = await port.wait(lp.IncomingCall)
        assert incoming.number == "carol"
        manager.answer(incoming.call_id)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        await in_thread(phone.command, "hangup")
        ended = await port.wait(lp.CallEnded)
        assert ended.call_id == incoming.call_id


async def test_call_between_two_ata_lines_audio_both_ways(kamailio: Kamailio) -> None:
    """Both ends on pi-ata (hairpin through Kamailio): the two legs share a Call-ID and are
    told apart by their tags; each port hears the other's tone."""
    async with running_manager(
        kamailio, [account(kamailio, "alice"), account(kamailio, "bob")]
    ) as manager:
        alice = PortStandIn(manager, 0, 500.0)
        bob = PortStandIn(manager, 1, 1200.0)
        manager.place_call(0, "port0-1", "bob")
        incoming = await bob.wait(lp.IncomingCall)
        assert (incoming.number, incoming.name) == ("alice", "")
        await alice.wait(lp.CallProgress)
        manager.answer(incoming.call_id)
        await alice.wait(lp.CallAnswered)
        await asyncio.gather(alice.talk("port0-1", 1.2), bob.talk(incoming.call_id, 1.2))
        manager.hang_up(incoming.call_id)
        ended = await alice.wait(lp.CallEnded)
        assert ended.call_id == "port0-1"
        assert not bob.of(lp.CallEnded)
        assert not manager.calls
    assert abs(dominant_hz(alice.heard_audio()[-4000:]) - 1200.0) < 10
    assert abs(dominant_hz(bob.heard_audio()[-4000:]) - 500.0) < 10


async def test_far_end_hold_and_resume_through_reinvite(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(PHONE_HZ))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        manager.place_call(0, "port0-1", "carol")
        await port.wait(lp.CallAnswered)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        leg = manager.media("port0-1")
        assert leg is not None
        await port.talk("port0-1", 0.4)
        await in_thread(phone.command, "hold")
        for _ in range(100):
            if leg.negotiated is not None and not leg.negotiated.direction.sends:
                break
            await asyncio.sleep(0.02)
        assert leg.negotiated is not None
        assert leg.negotiated.direction.value == "recvonly", "held: we only receive"
        sent = leg.rtp.stats().packets_sent
        await port.talk("port0-1", 0.4)
        assert leg.rtp.stats().packets_sent == sent, "no RTP towards a phone that holds us"
        await in_thread(phone.command, "resume")
        for _ in range(100):
            if leg.negotiated.direction.sends:
                break
            await asyncio.sleep(0.02)
        await port.talk("port0-1", 0.4)
        assert leg.rtp.stats().packets_sent > sent + 10
        manager.hang_up("port0-1")
        await in_thread(phone.wait_event, "CALL_CLOSED", timeout=5)
