"""A phone on pi-ata calls a baresip phone through Kamailio, end to end at the phone: the dial
plan's substitution reaches the Request-URI, audio flows both ways, the phone's DTMF arrives
at baresip as RFC 4733, and either side can hang up. And baresip calls the phone: distinctive
cadence, caller ID with number and display name, answer, audio both ways; a caller who gives
up before the answer stops the ringing and leaves the line idle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from ata.runtime.daemon import Daemon
from tests.integration.calls_support import (
    baresip_phone,
    daemon_on_kamailio,
    decoded_recording,
    dominant_hz,
    in_thread,
    port_state,
)
from tests.peers.baresip import Baresip
from tests.peers.kamailio import Kamailio

pytestmark = [pytest.mark.peers, pytest.mark.timeout(90)]


@pytest_asyncio.fixture
async def daemon(kamailio: Kamailio) -> AsyncIterator[Daemon]:
    async with daemon_on_kamailio(kamailio, (47000, 47998), display_name="Kitchen") as d:
        yield d


state = port_state


async def test_phone_calls_baresip_with_substitution_audio_and_dtmf(
    daemon: Daemon,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    far = baresip_phone(baresip_factory, kamailio, "1003", tone_wav(1000))
    phone = daemon.phone(1)
    assert phone is not None
    phone.off_hook()
    await phone.wait_for(lambda: False, 0.4)
    await phone.dtmf_dial("3")  # "(<:100>x)": 3 becomes 1003
    assert await phone.wait_for(lambda: state(daemon) == "connected", 8.0)
    established = await in_thread(far.wait_event, "CALL_ESTABLISHED", timeout=5)
    assert "1001" in str(established.get("peeruri", "")), established
    phone.play_tone((700.0,), 2.5, -12.0)
    await phone.wait_for(lambda: False, 1.0)
    heard = [round(t.freq_hz) for t in phone.dominant_tones(0.4)]
    assert any(abs(f - 1000) < 10 for f in heard), heard
    await phone.wait_for(lambda: False, 1.6)
    await phone.dtmf_dial("5")
    started = await in_thread(far.wait_event, "CALL_DTMF_START", timeout=5)
    assert started.get("param") == "5", started
    phone.on_hook()  # the phone hangs up
    await in_thread(far.wait_event, "CALL_CLOSED", timeout=5)
    recording = decoded_recording(far)
    assert abs(dominant_hz(recording[-24000:-4000]) - 700) < 15


async def test_baresip_calls_the_phone_which_hears_cadence_caller_id_and_far_hang_up(
    daemon: Daemon,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    far = baresip_phone(baresip_factory, kamailio, "1002", tone_wav(1000), display="Ann Smith")
    phone = daemon.phone(1)
    assert phone is not None
    await in_thread(far.command, "dial", f"sip:1001@{kamailio.host}:{kamailio.port}")
    assert await phone.wait_for(lambda: phone.ring_count >= 2, 12.0), "rings twice"
    on = phone.rings[0].duration
    assert abs(on - 2.0) < 0.1, on
    cid = phone.caller_ids[-1]
    assert (cid.number, cid.name) == ("1002", "Ann Smith")
    phone.off_hook()
    assert await phone.wait_for(lambda: state(daemon) == "connected", 5.0)
    phone.play_tone((700.0,), 2.0, -12.0)
    await phone.wait_for(lambda: False, 1.2)
    heard = [round(t.freq_hz) for t in phone.dominant_tones(0.4)]
    assert any(abs(f - 1000) < 10 for f in heard), heard
    await in_thread(far.command, "hangup")  # the far end hangs up: reorder
    assert await phone.wait_for(lambda: state(daemon) == "disconnected", 5.0)
    await phone.wait_for(lambda: False, 0.8)
    tones = [round(t.freq_hz) for t in phone.dominant_tones(0.5)]
    assert any(abs(f - 480) < 8 for f in tones), tones
    phone.on_hook()
    recording = decoded_recording(far)
    assert np.abs(recording).max() > 1000


async def test_caller_gives_up_before_answer(
    daemon: Daemon,
    kamailio: Kamailio,
    baresip_factory: Callable[..., Baresip],
    tone_wav: Callable[..., Path],
) -> None:
    far = baresip_phone(baresip_factory, kamailio, "1004", tone_wav(1000))
    phone = daemon.phone(1)
    assert phone is not None
    await in_thread(far.command, "dial", f"sip:1001@{kamailio.host}:{kamailio.port}")
    assert await phone.wait_for(lambda: phone.ringing, 8.0)
    await in_thread(far.command, "hangup")
    assert await phone.wait_for(lambda: not phone.ringing and state(daemon) == "idle", 5.0)
    rings = phone.ring_count
    await phone.wait_for(lambda: False, 5.0)
    assert phone.ring_count == rings, "ringing never restarts"
