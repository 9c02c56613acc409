"""The whole chain: the daemon on the simulated board with the CallManager as its call side
(``sip_calls``), a virtual phone on port 1, Kamailio, and baresip as the far end.
The phone dials by DTMF, talks a tone, hears baresip's tone; baresip calls back and the phone
rings with caller ID."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ata.runtime.daemon import Daemon, DaemonOptions
from ata.runtime.sip_calls import sip_calls
from provisioning.schema import Config, Line, Network
from tests.integration.calls_support import (
    baresip_phone,
    decoded_recording,
    dominant_hz,
    in_thread,
)
from tests.peers import free_port
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(90)]


async def test_virtual_phone_calls_baresip_and_is_called_back(
    kamailio: Kamailio, baresip_factory: Callable[..., Baresip], tone_wav: Callable[..., Path]
) -> None:
    far = baresip_phone(baresip_factory, kamailio, "1001", tone_wav(1000), display="Far End")
    config = Config(
        network=Network(local_port=free_port(), rtp_port_min=46000, rtp_port_max=46998),
        lines=[
            Line(
                proxy=f"{kamailio.host}:{kamailio.port}",
                user="alice",
                password=kamailio.users["alice"],
                dial_plan="(1xxx)",
            )
        ],
    )
    daemon = Daemon(config, sip_calls, options=DaemonOptions(api_port=0, freeze_gc=False))
    await daemon.start()
    try:
        manager = daemon.calls
        assert manager is not None
        for _ in range(100):
            if manager.status()[0]["registration"]["state"] == "registered":
                break
            await asyncio.sleep(0.05)
        assert manager.status()[0]["registration"]["state"] == "registered"
        phone = daemon.phone(1)
        assert phone is not None
        # outgoing: off hook, dial 1001 by DTMF, baresip answers automatically
        phone.off_hook()
        await asyncio.sleep(0.3)
        await phone.dtmf_dial("1001")
        await in_thread(far.wait_event, "CALL_ESTABLISHED", timeout=10)
        t = np.arange(8000 * 3) / 8000.0
        phone.speak(np.rint(6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
        await asyncio.sleep(2.0)
        heard = phone.recording(1.0)
        phone.on_hook()
        await in_thread(far.wait_event, "CALL_CLOSED", timeout=10)
        assert abs(dominant_hz(heard) - 1000) < 10, "the phone heard baresip's tone"
        for _ in range(50):
            records = daemon.call_log.recent(1)
            if records and records[0]["rtp"]:
                break
            await asyncio.sleep(0.02)
        assert records[0]["direction"] == "out" and records[0]["number"] == "1001"
        assert records[0]["rtp"]["packets_received"] > 50, records[0]
        assert abs(dominant_hz(decoded_recording(far)[-8000:]) - 440) < 10
        # incoming: baresip calls alice, the phone rings with caller ID, goes off hook
        await asyncio.sleep(0.5)
        await in_thread(far.command, "dial", f"sip:alice@{kamailio.host}:{kamailio.port}")
        assert await phone.wait_for_ring(5.0)
        cid = await phone.wait_for_caller_id(8.0)
        assert cid is not None
        assert cid.number == "1001"
        assert cid.name == "Far End"
        phone.off_hook()
        await in_thread(far.wait_event, "CALL_ESTABLISHED", timeout=10)
        await in_thread(far.command, "hangup")
        for _ in range(100):
            if daemon.ports[0].status().state != "connected":
                break
            await asyncio.sleep(0.05)
        assert daemon.ports[0].status().state != "connected"
        phone.on_hook()
    finally:
        await daemon.stop()
