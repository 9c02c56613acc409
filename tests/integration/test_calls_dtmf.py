"""DTMF both ways between pi-ata's CallManager and a real baresip, through Kamailio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ata.line import port as lp
from tests.dsp.dtmf_support import multimon_decode
from tests.integration.calls_support import (
    PortStandIn,
    account,
    baresip_phone,
    decoded_recording,
    in_thread,
    running_manager,
)
from tests.peers import require_binary
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(60)]


async def test_rfc4733_dtmf_both_ways(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(1000))
    async with running_manager(kamailio, [account(kamailio, "alice")]) as manager:
        port = PortStandIn(manager, 0, 440)
        manager.place_call(0, "port0-1", "carol")
        await port.wait(lp.CallAnswered)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        talking = asyncio.ensure_future(port.talk("port0-1", 2.0))
        await asyncio.sleep(0.3)
        manager.send_dtmf("port0-1", "5")
        started = await in_thread(phone.wait_event, "CALL_DTMF_START", timeout=5)
        await in_thread(phone.command, "sndcode", "7")
        remote = await port.wait(lp.RemoteDtmf, timeout=5)
        await talking
        leg = manager.media("port0-1")
        assert leg is not None
        stats = leg.rtp.stats()
        manager.hang_up("port0-1")
    assert stats.dtmf_received >= 1, "the key came as RFC 4733 telephone-events"
    assert stats.dtmf_sent >= 1
    assert remote == lp.RemoteDtmf("port0-1", "7")
    assert started.get("param") == "5", started


async def test_info_dtmf_to_baresip(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(1000))
    async with running_manager(kamailio, [account(kamailio, "alice", dtmf_mode="info")]) as manager:
        port = PortStandIn(manager, 0, 440)
        manager.place_call(0, "port0-1", "carol")
        await port.wait(lp.CallAnswered)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        talking = asyncio.ensure_future(port.talk("port0-1", 1.0))
        manager.send_dtmf("port0-1", "9")
        started = await in_thread(phone.wait_event, "CALL_DTMF_START", timeout=5)
        await talking
        leg = manager.media("port0-1")
        assert leg is not None
        assert leg.rtp.stats().dtmf_sent == 0, "no telephone-event in INFO mode"
        manager.hang_up("port0-1")
    assert started.get("param") == "9", started


async def test_inband_dtmf_heard_by_baresip_decoded_by_multimon(
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
    tmp_path: Path,
) -> None:
    require_binary("multimon-ng")
    require_binary("sox")
    phone = baresip_phone(baresip_factory, kamailio, "carol", tone_wav(1000))
    async with running_manager(
        kamailio, [account(kamailio, "alice", dtmf_mode="inband")]
    ) as manager:
        port = PortStandIn(manager, 0, 440)
        manager.place_call(0, "port0-1", "carol")
        await port.wait(lp.CallAnswered)
        await in_thread(phone.wait_event, "CALL_ESTABLISHED", timeout=5)
        talking = asyncio.ensure_future(port.talk("port0-1", 1.6))
        await asyncio.sleep(0.3)
        for key in "47#":
            manager.send_dtmf("port0-1", key)
        await talking
        manager.hang_up("port0-1")
        await in_thread(phone.wait_event, "CALL_CLOSED", timeout=5)
    assert not [e for e in phone.events if e.get("type") == "CALL_DTMF_START"]
    assert multimon_decode(decoded_recording(phone), tmp_path) == "47#"
