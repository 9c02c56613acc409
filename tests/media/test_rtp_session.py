"""Real UDP sockets on 127.0.0.1: two RtpSessions exchange tones, RTCP reports flow."""

from __future__ import annotations

import asyncio

import numpy as np

from ata.media.events import RemoteBye, RtcpReportReceived
from ata.media.session import MediaConfig
from ata.runtime.media_clock import FrameRecorder, SoftwareFrameClock, tone_frames
from ata.runtime.rtp_session import RtpSession
from tests.media.helpers import dominant_freq


async def test_two_sessions_exchange_tones_and_rtcp() -> None:
    events_a: list[object] = []
    events_b: list[object] = []
    a = await RtpSession.open(
        MediaConfig(local_ssrc=0xA, remote_rtp=None, rtcp_min_interval=0.4, payload_type=0),
        on_event=events_a.append,
    )
    b = await RtpSession.open(
        MediaConfig(local_ssrc=0xB, remote_rtp=a.local_rtp, rtcp_min_interval=0.4, payload_type=0),
        on_event=events_b.append,
    )
    a.media.set_remote(b.local_rtp)
    rec_a, rec_b = FrameRecorder(), FrameRecorder()
    clock = asyncio.get_running_loop().time() + 0.01
    src_a = SoftwareFrameClock(tone_frames(1000.0), start=clock)
    src_b = SoftwareFrameClock(tone_frames(440.0), start=clock)
    await asyncio.gather(a.run(src_a, rec_a, frames=75), b.run(src_b, rec_b, frames=75))
    # a heard b (440 Hz), b heard a (1 kHz): skip the first frames (jitter buffer filling).
    heard_by_a = rec_a.samples()[-8000:]
    heard_by_b = rec_b.samples()[-8000:]
    assert abs(dominant_freq(heard_by_a) - 440.0) < 5
    assert abs(dominant_freq(heard_by_b) - 1000.0) < 5
    sa, sb = a.stats(), b.stats()
    assert sa.packets_sent == 75
    assert sb.packets_received >= 70
    assert sa.lost == 0
    assert sb.lost == 0
    assert sa.jitter_ms < 20
    assert sb.jitter_ms < 20
    assert sa.rtcp_received >= 1
    assert sb.rtcp_received >= 1
    reports = [e for e in events_a + events_b if isinstance(e, RtcpReportReceived)]
    assert reports
    assert all(r.cumulative_lost == 0 and r.fraction_lost == 0 for r in reports)
    assert all(r.jitter_ms < 20 for r in reports)
    rtts = [r.rtt_ms for r in reports if r.rtt_ms is not None]
    assert rtts
    assert max(rtts) < 100  # loopback; generous for a loaded CI box
    assert sa.jitter_buffer.concealed <= 10
    summary = await a.close("done")
    assert summary.startswith("PS=75,")
    await asyncio.sleep(0.05)
    assert any(isinstance(e, RemoteBye) and e.ssrc == 0xA for e in events_b)
    await b.close()


async def test_sdp_offer_answer_drives_the_session() -> None:
    from ata.runtime.rtp_session import media_config
    from ata.sip.sdp import AudioConfig, Direction, make_answer, make_offer

    far = await RtpSession.open(MediaConfig(local_ssrc=0xF, remote_rtp=None))
    # The far end offers PCMA first; we answer from our config.
    offer = make_offer(
        AudioConfig(far.local_rtp[0], far.local_rtp[1], codecs=("PCMA", "PCMU")),
        session_id=1,
        session_version=1,
    )
    _, negotiated = make_answer(
        offer, AudioConfig("127.0.0.1", 40000), session_id=2, session_version=1
    )
    ata = await RtpSession.open(media_config(negotiated, local_ssrc=0xA, cname="ata@test"))
    assert ata.media.payload_type == 8
    assert ata.media.remote_rtp == far.local_rtp
    # Hold from the far end (it offers sendonly): we stop sending, keep receiving.
    hold = make_offer(
        AudioConfig(
            far.local_rtp[0], far.local_rtp[1], codecs=("PCMA",), direction=Direction.SENDONLY
        ),
        session_id=1,
        session_version=2,
    )
    _, held = make_answer(hold, AudioConfig("127.0.0.1", 40000), session_id=2, session_version=2)
    ata.apply(held)
    assert ata.media.send_frame(np.zeros(160, np.int16), 1.0) == []
    ata.apply(negotiated)
    assert len(ata.media.send_frame(np.zeros(160, np.int16), 1.02)) == 1
    await ata.close()
    await far.close()
