"""Configured line settings reach the line state machine and the hook classifier."""

from __future__ import annotations

from ata.line.port import FlashMode
from ata.line.ringer import CallerIdTiming
from ata.runtime.daemon import hook_windows, port_settings
from ata.runtime.port_dsp import CallerIdMethod, CountryDsp
from hal.hook import DigitCoding
from provisioning.schema import HookFlash, Line, PulseDialing


def test_line_config_maps_to_port_settings_and_hook_windows() -> None:
    line = Line(
        dial_plan="(1xxx|911S0)",
        ring_cadence="60(.8/.4,.8/4)",
        hook_flash=HookFlash(min_ms=150, max_ms=700, action="relay"),
        pulse_dialing=PulseDialing(coding="sweden"),
        polarity_reversal=True,
        disconnect_ms=600,
        caller_id="v23",
    )
    dsp = CountryDsp(country="de", cid_method=CallerIdMethod(line.caller_id))
    settings = port_settings(line, dsp)
    assert settings.dial_plan.text == "(1xxx|911S0)"
    assert settings.ring_cadence == ((0.8, 0.4), (0.8, 4.0))
    assert settings.flash_mode is FlashMode.RELAY
    assert settings.polarity_on_answer is True
    assert settings.cpc_on_far_hangup_s == 0.6
    assert settings.caller_id_timing is CallerIdTiming.BEFORE_RING
    assert 0.3 < settings.caller_id_burst_s < 1.5
    windows = hook_windows(line)
    assert (windows.flash_min_s, windows.flash_max_s) == (0.15, 0.7)
    assert windows.coding is DigitCoding.SWEDEN


def test_flash_transfer_mode_and_mwi_account() -> None:
    from ata.runtime.calls_config import account_for

    line = Line(
        proxy="pbx.example.com",
        user="1001",
        mwi_subscribe=True,
        mwi_uri="sip:*97@pbx.example.com",
        hook_flash=HookFlash(action="transfer"),
    )
    assert port_settings(line, CountryDsp()).flash_mode is FlashMode.TRANSFER
    account = account_for(line)
    assert account is not None
    assert (account.mwi_subscribe, account.mwi_uri) == (True, "sip:*97@pbx.example.com")


def test_defaults_ignore_flash_and_keep_polarity() -> None:
    settings = port_settings(Line(), CountryDsp())
    assert settings.flash_mode is FlashMode.IGNORE
    assert settings.polarity_on_answer is False
    assert settings.cpc_on_far_hangup_s == 0.0
    assert settings.caller_id_timing is CallerIdTiming.AFTER_FIRST_RING


async def test_jitter_buffer_settings_reach_the_call_media() -> None:
    from ata.media.jitter import JitterMode
    from ata.runtime.call_media import CallMedia
    from ata.runtime.calls_config import account_for
    from provisioning.schema import JitterBuffer

    line = Line(
        proxy="pbx.example.com",
        user="1001",
        jitter_buffer=JitterBuffer(mode="minimum", max_delay_ms=120, phase_alignment=False),
    )
    account = account_for(line)
    assert account is not None
    assert account.jitter.mode is JitterMode.MINIMUM
    assert account.jitter.max_delay_ms == 120
    assert account.phase_alignment is False
    media = await CallMedia.open(
        host="127.0.0.1",
        port_range=(40000, 40100),
        jitter=account.jitter,
        align=account.phase_alignment,
    )
    try:
        session = media.rtp.media
        assert session.jitter.config.mode is JitterMode.MINIMUM
        assert not session.aligner.active
    finally:
        await media.close()
    default = account_for(Line(proxy="pbx.example.com", user="1001"))
    assert default is not None and default.phase_alignment
    assert default.jitter.mode is JitterMode.ADAPTIVE


def test_a_bad_jitter_buffer_mode_is_refused_with_its_field() -> None:
    from provisioning.validate import validate_data

    config, errors = validate_data({"lines": [{"jitter_buffer": {"mode": "huge"}}]})
    assert config is None
    assert any("jitter_buffer.mode" in str(e) for e in errors), errors


async def test_codec_frames_lost_become_an_rtp_timestamp_gap() -> None:
    import asyncio
    import itertools
    import socket
    import struct

    import numpy as np

    from ata.runtime.call_media import CallMedia
    from ata.sip.sdp import Codec, Direction, NegotiatedAudio

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    media = await CallMedia.open(host="127.0.0.1", port_range=(40200, 40300))
    try:
        media.apply(
            NegotiatedAudio(
                codec=Codec(0, "PCMU", 8000),
                remote_address=receiver.getsockname(),
                remote_rtp=receiver.getsockname(),
                telephone_event_pt=101,
                ptime=20,
                direction=Direction.SENDRECV,
            )
        )
        for index in (7, 8, 9, 12, 13):  # the codec lost frames 10 and 11
            media.send_frame(np.zeros(160, np.int16), frame_index=index)
        await asyncio.sleep(0.05)
        stamps = []
        while True:
            try:
                data = receiver.recv(2048)
            except BlockingIOError:
                break
            stamps.append(struct.unpack("!I", data[4:8])[0])
    finally:
        await media.close()
        receiver.close()
    steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
    assert steps == [160, 160, 480, 160]
