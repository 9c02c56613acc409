"""RtpSession paced by the HAL's simulated codec (the real AudioPort contract).

A phone on a simulated port says 440 Hz; the far end (another RtpSession on the software
clock) says 1 kHz. The simulated codec runs 300 ppm fast, so the far end's jitter buffer must
control drift; the phone must hear the far end's tone and the far end the phone's.
"""

from __future__ import annotations

import asyncio

import numpy as np

from ata.media.session import MediaConfig
from ata.runtime.media_clock import FrameRecorder, SoftwareFrameClock, tone_frames
from ata.runtime.rtp_session import RtpSession
from hal.clock import MonotonicClock
from hal.sim.audio import SimAudioPort, SimCodec
from tests.media.helpers import dominant_freq


class Phone:
    def __init__(self) -> None:
        self.say = tone_frames(440.0)
        self.k = 0
        self.heard = FrameRecorder()

    def transmit_frame(self, at: float) -> np.ndarray:
        del at
        self.k += 1
        return self.say(self.k - 1)

    def receive_frame(self, frame: np.ndarray, at: float) -> None:
        del at
        self.heard.write_frame(frame)


async def test_session_on_simulated_audio_port() -> None:
    port = SimAudioPort()
    phone = Phone()
    codec = SimCodec(MonotonicClock(), ppm=300.0)
    codec.connect(port, phone)
    ata = await RtpSession.open(MediaConfig(local_ssrc=0xA7A, remote_rtp=None))
    far = await RtpSession.open(MediaConfig(local_ssrc=0xFA2, remote_rtp=ata.local_rtp))
    ata.media.set_remote(far.local_rtp)
    await port.start()
    codec.start()
    far_heard = FrameRecorder()
    try:
        await asyncio.gather(
            ata.run(port, port, frames=100),
            far.run(SoftwareFrameClock(tone_frames(1000.0)), far_heard, frames=100),
        )
    finally:
        await codec.stop()
        await ata.close()
        await far.close()
    assert abs(dominant_freq(phone.heard.samples()[-4000:]) - 1000.0) < 5
    assert abs(dominant_freq(far_heard.samples()[-4000:]) - 440.0) < 5
    assert ata.stats().packets_sent == 100
    assert far.stats().lost == 0
