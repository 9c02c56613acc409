"""Call transfer (REFER) against real peers: Kamailio (registrar/proxy, record-routing) and
baresip phones.

pi-ata's line alice talks to baresip "1002"; 1002 transfers alice to baresip "1003" with
baresip's own ``transfer`` command (REFER through Kamailio). pi-ata must answer 202, report
progress in NOTIFYs, call 1003 through Kamailio (digest), end the old call, and move its port
to the new call: the port hears ``CallReplaced`` and audio flows with 1003. And the other
way: pi-ata REFERs 1002 to 1003 (``CallManager.transfer``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ata.line import port as lp
from ata.runtime.daemon import Daemon
from tests.integration.calls_support import (
    PortStandIn,
    account,
    baresip_phone,
    daemon_on_kamailio,
    decoded_recording,
    dominant_hz,
    in_thread,
    port_state,
    running_manager,
)
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]

ATA_HZ = 440.0
TRANSFEROR_HZ = 700.0
TARGET_HZ = 1300.0


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition of the manager's state (test code) for up to ``timeout`` s."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


async def _connected_to(
    manager_port: PortStandIn, phone: Baresip, number: str, call_id: str = "port0-1"
) -> None:
    manager_port.manager.place_call(0, call_id, number)
    await manager_port.wait(lp.CallAnswered)
    await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)


async def test_far_end_transfers_us_blind(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    transferor = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(TRANSFEROR_HZ))
    target = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(TARGET_HZ))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        await _connected_to(port, transferor, "1002")
        await port.talk("port0-1", 0.4)
        reply = await in_thread(
            transferor.command, "transfer", f"sip:1003@{kamailio.host}:{kamailio.port}"
        )
        assert reply.get("ok", True) is not False, reply
        replaced = await port.wait(lp.CallReplaced, timeout=8)
        assert replaced.old_call_id == "port0-1"
        new_id = replaced.new_call_id
        await in_thread(target.wait_event, "CALL_ESTABLISHED", timeout=5)
        # the old call is over at the transferor, without the port hearing about it
        await in_thread(transferor.wait_event, "CALL_CLOSED", timeout=5)
        assert "port0-1" not in manager.calls
        assert not port.of(lp.CallEnded) and not port.of(lp.CallFailed)
        assert manager.counters["transfers_in"] == 1
        # the port talks on the new leg: audio both ways with the target
        port.heard.clear()
        await port.talk(new_id, 1.6)
        leg = manager.media(new_id)
        assert leg is not None and leg.rtp.stats().packets_received >= 50
        manager.hang_up(new_id)
        await in_thread(target.wait_event, "CALL_CLOSED", timeout=5)
    heard = port.heard_audio()
    assert abs(dominant_hz(heard[-8000:]) - TARGET_HZ) < 10, "pi-ata hears the target"
    recorded = decoded_recording(target)
    assert abs(dominant_hz(recorded[-8000:]) - ATA_HZ) < 10, "the target hears pi-ata"


async def test_transfer_to_nobody_reports_the_failure(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    transferor = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(TRANSFEROR_HZ))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        await _connected_to(port, transferor, "1002")
        # 1004 is a known user but not registered: Kamailio answers our INVITE 404
        await in_thread(transferor.command, "transfer", f"sip:1004@{kamailio.host}:{kamailio.port}")
        await until(lambda: manager.counters.get("transfers_failed", 0) > 0)
        assert manager.counters.get("transfers_failed") == 1
        assert not port.of(lp.CallReplaced)
        # baresip 1.0 learns the outcome from our NOTIFY sipfrag, then hangs up the call
        # itself; the port hears that end (after the failure, not before it)
        ended = await port.wait(lp.CallEnded, timeout=5)
        assert ended == lp.CallEnded("port0-1", "remote-bye")
    assert "transfer failed: 404" in transferor.log_tail()


async def test_we_transfer_the_far_end(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    transferee = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(TRANSFEROR_HZ))
    target = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(TARGET_HZ))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, ATA_HZ)
        await _connected_to(port, transferee, "1002")
        assert manager.transfer("port0-1", "1003")
        # baresip places the call to the target (it says so with CALL_INCOMING at 1003)
        await in_thread(target.wait_event, "CALL_ESTABLISHED", timeout=8)
        await until(lambda: "port0-1" not in manager.calls)
        assert "port0-1" not in manager.calls, "our call ended once the transfer succeeded"
        assert manager.counters["transfers_out"] == 1
        assert not port.of(lp.CallEnded), "the port (on-hook after a transfer) hears nothing"


# -- end to end at the phone (the daemon on the simulated board) -------------------------------


@pytest_asyncio.fixture
async def daemon(kamailio: Kamailio) -> AsyncIterator[Daemon]:
    async with daemon_on_kamailio(kamailio, (46000, 46998)) as d:
        yield d


state = port_state


def _calls_of(d: Daemon) -> list[dict[str, Any]]:
    """The SIP calls pi-ata still has (from the daemon's status of port 1)."""
    status = d.calls.status() if d.calls is not None else []
    return [c for c in status[0].get("calls", []) if not c.get("ended")] if status else []


async def test_phone_is_transferred_and_hears_the_new_party(
    daemon: Daemon,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    transferor = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(TRANSFEROR_HZ))
    target = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(TARGET_HZ))
    phone = daemon.phone(1)
    assert phone is not None
    phone.off_hook()
    await phone.wait_for(lambda: False, 0.4)
    await phone.dtmf_dial("2")  # 1002
    assert await phone.wait_for(lambda: state(daemon) == "connected", 8.0)
    await in_thread(transferor.wait_event, "CALL_ESTABLISHED", timeout=5)
    await phone.wait_for(lambda: False, 0.8)
    heard = [round(t.freq_hz) for t in phone.dominant_tones(0.4)]
    assert any(abs(f - TRANSFEROR_HZ) < 10 for f in heard), heard
    first_call = daemon.ports[0].machine.call_id
    await in_thread(transferor.command, "transfer", f"sip:1003@{kamailio.host}:{kamailio.port}")
    await in_thread(target.wait_event, "CALL_ESTABLISHED", timeout=8)
    assert await phone.wait_for(lambda: daemon.ports[0].machine.call_id != first_call, 5.0)
    assert state(daemon) == "connected"
    phone.play_tone((ATA_HZ,), 2.0, -12.0)
    await phone.wait_for(lambda: False, 1.2)
    heard = [round(t.freq_hz) for t in phone.dominant_tones(0.4)]
    assert any(abs(f - TARGET_HZ) < 10 for f in heard), heard
    await phone.wait_for(lambda: False, 1.0)
    phone.on_hook()
    await in_thread(target.wait_event, "CALL_CLOSED", timeout=5)
    recording = decoded_recording(target)
    assert abs(dominant_hz(recording[-16000:-4000]) - ATA_HZ) < 15, "the target hears the phone"


def wait_event_from(phone: Baresip, kind: str, peer: str, timeout: float = 8.0) -> dict[str, Any]:
    """The next baresip event ``kind`` whose peer URI names ``peer`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = phone.wait_event(kind, timeout=left)
        if peer in str(event.get("peeruri", "")):
            return event
    raise TimeoutError(f"no {kind} from {peer}")


async def _phone_talks_to_1002(daemon: Daemon, transferee: Baresip) -> None:
    machine = daemon.ports[0].machine
    machine.update_settings(replace(machine.settings, flash_mode=lp.FlashMode.TRANSFER))
    phone = daemon.phone(1)
    assert phone is not None
    phone.off_hook()
    await phone.wait_for(lambda: False, 0.4)
    await phone.dtmf_dial("2")  # 1002
    assert await phone.wait_for(lambda: state(daemon) == "connected", 8.0)
    await in_thread(transferee.wait_event, "CALL_ESTABLISHED", timeout=5)
    await phone.flash(300.0)
    assert await phone.wait_for(lambda: state(daemon) == "transfer_dialing", 3.0)
    await phone.wait_for(lambda: False, 0.5)
    heard = [round(t.freq_hz) for t in phone.dominant_tones(0.3)]
    assert any(abs(f - 350) < 8 for f in heard), heard  # dial tone while the far end is held
    await phone.dtmf_dial("1003")
    assert await phone.wait_for(lambda: state(daemon) == "consulting", 3.0)


async def test_phone_blind_transfer_hang_up_while_the_target_rings(
    daemon: Daemon,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    transferee = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(TRANSFEROR_HZ))
    target = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(TARGET_HZ), auto=False)
    await _phone_talks_to_1002(daemon, transferee)
    await in_thread(wait_event_from, target, "CALL_INCOMING", "1001")  # our consultation
    phone = daemon.phone(1)
    assert phone is not None
    assert len(_calls_of(daemon)) == 2  # the held call and the consultation
    phone.on_hook()  # while it rings: blind transfer
    await in_thread(wait_event_from, target, "CALL_INCOMING", "1002")  # the transferee calls
    assert await phone.wait_for(lambda: state(daemon) == "idle", 2.0)
    assert not phone.ringing
    await in_thread(target.command, "accept")
    await in_thread(wait_event_from, target, "CALL_ESTABLISHED", "1002")
    # 1002 reports the 200 in its NOTIFY: pi-ata's held call ends ("transferred")
    assert await phone.wait_for(lambda: not _calls_of(daemon), 5.0)


async def test_phone_attended_transfer_flash_dial_talk_hang_up(
    daemon: Daemon,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    transferee = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(TRANSFEROR_HZ))
    target = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(TARGET_HZ))
    await _phone_talks_to_1002(daemon, transferee)
    phone = daemon.phone(1)
    assert phone is not None
    await in_thread(wait_event_from, target, "CALL_ESTABLISHED", "1001")  # consultation
    await phone.wait_for(lambda: False, 1.0)
    heard = [round(t.freq_hz) for t in phone.dominant_tones(0.4)]
    assert any(abs(f - TARGET_HZ) < 10 for f in heard), heard  # talking to the target
    phone.on_hook()  # attended transfer: REFER with Replaces to 1002
    await in_thread(wait_event_from, target, "CALL_ESTABLISHED", "1002")
    # baresip 1.0 ignores Replaces; pi-ata ends the consultation itself once 1002 reports 200
    await in_thread(wait_event_from, target, "CALL_CLOSED", "1001")
    assert await phone.wait_for(lambda: state(daemon) == "idle", 2.0)


async def test_attended_transfer_with_replaces_between_three_lines(kamailio: Kamailio) -> None:
    """alice (port 0) talks to carol (port 2), consults bob (port 1), then REFERs carol to bob
    with Replaces: carol INVITEs bob through Kamailio, bob's line matches Replaces to its call
    with alice and takes it over without ringing; carol and bob talk; alice is out."""
    accounts = [account(kamailio, u) for u in ("alice", "bob", "carol")]
    async with running_manager(kamailio, accounts) as manager:
        alice, bob, carol = (PortStandIn(manager, i, hz) for i, hz in enumerate((440, 700, 1300)))
        manager.place_call(2, "port2-1", "alice")
        ring = await alice.wait(lp.IncomingCall)
        manager.answer(ring.call_id)
        await carol.wait(lp.CallAnswered)
        manager.place_call(0, "port0-2", "bob")
        ring_bob = await bob.wait(lp.IncomingCall)
        manager.answer(ring_bob.call_id)
        await alice.wait(lp.CallAnswered)
        assert manager.attended_transfer(ring.call_id, "port0-2")
        carol_moved = await carol.wait(lp.CallReplaced, timeout=8)
        bob_moved = await bob.wait(lp.CallReplaced, timeout=8)
        assert carol_moved.old_call_id == "port2-1"
        assert bob_moved.old_call_id == ring_bob.call_id
        assert len(bob.of(lp.IncomingCall)) == 1, "the replacing call did not ring"
        await until(lambda: ring.call_id not in manager.calls and "port0-2" not in manager.calls)
        assert not alice.of(lp.CallEnded) and not bob.of(lp.CallEnded)
        assert not carol.of(lp.CallEnded)
        assert manager.counters["replaced"] == 1
        await asyncio.gather(
            carol.talk(carol_moved.new_call_id, 1.2), bob.talk(bob_moved.new_call_id, 1.2)
        )
        assert abs(dominant_hz(carol.heard_audio()[-4000:]) - 700) < 10, "carol hears bob"
        assert abs(dominant_hz(bob.heard_audio()[-4000:]) - 1300) < 10, "bob hears carol"
