"""Playout phase alignment: the aligner's decisions, and the whole loop on a simulated codec.

The loop test is real: a far end on its own software clock sends a 1 kHz tone over UDP at a
chosen phase against our simulated codec's ticks; our RtpSession plays it into a looped-back
SimAudioPort and sends what the loop captured back. With the phase unaligned, every packet
waits most of a period in the jitter buffer; after the aligner has moved the port's frame grid
the buffering delay is the aligner's margin, and the tone still comes back clean.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ata.media.jitter import JitterConfig, JitterMode
from ata.media.phase import AlignerConfig, PlayoutAligner
from ata.media.session import MediaConfig, MediaSession
from ata.runtime.media_clock import FrameRecorder, SoftwareFrameClock, tone_frames
from ata.runtime.rtp_session import RtpSession
from hal.audio import BufferedAudioPort
from hal.clock import MonotonicClock
from hal.sim.audio import SimAudioPort, SimCodec
from tests.media.helpers import dominant_freq


def _feed(aligner: PlayoutAligner, slacks: list[float | None], t0: float = 0.0) -> float:
    now = t0
    for slack in slacks:
        aligner.observe(slack, now)
        now += 0.02
    return now


def test_a_settled_window_asks_for_the_slack_above_the_margin() -> None:
    aligner = PlayoutAligner(AlignerConfig(margin_ms=2.0, window=25))
    _feed(aligner, [120.0] * 24 + [100.0])  # 100 samples = 12.5 ms is the smallest
    assert aligner.take_request() == pytest.approx(0.0105)
    assert aligner.take_request() == 0.0  # taken once


def test_a_pop_without_slack_restarts_the_window() -> None:
    aligner = PlayoutAligner(AlignerConfig(window=25))
    _feed(aligner, [100.0] * 20 + [None] + [100.0] * 20)
    assert aligner.take_request() == 0.0
    _feed(aligner, [100.0] * 5)
    assert aligner.take_request() > 0.0


def test_small_excess_is_left_alone_and_later_moves_need_the_larger_threshold() -> None:
    config = AlignerConfig(margin_ms=2.0, first_threshold_ms=2.0, threshold_ms=5.0, window=10)
    aligner = PlayoutAligner(config)
    _feed(aligner, [8.0 * 3.5] * 10)  # 1.5 ms above the margin
    assert aligner.take_request() == 0.0
    now = _feed(aligner, [8.0 * 10.0] * 10)
    request = aligner.take_request()
    assert request == pytest.approx(0.008)
    aligner.applied(request, now)
    # Held off for hold_off_s, then a 4 ms excess is below the later threshold, 6 ms is not.
    now = _feed(aligner, [8.0 * 20.0] * 10, now)
    assert aligner.take_request() == 0.0
    now = _feed(aligner, [8.0 * 6.0] * 10, now + 2.0)
    assert aligner.take_request() == 0.0
    _feed(aligner, [8.0 * 8.0] * 10, now)
    assert aligner.take_request() == pytest.approx(0.006)
    assert aligner.advances == 1 and aligner.advanced_ms == pytest.approx(8.0)


def test_advance_is_capped_below_a_frame_and_stops_when_the_port_cannot_move() -> None:
    aligner = PlayoutAligner(AlignerConfig(window=5))
    _feed(aligner, [170.0] * 5)
    assert aligner.take_request() == pytest.approx(0.018)
    aligner.applied(0.0, 1.0)  # the backend has no movable grid
    assert not aligner.active
    _feed(aligner, [170.0] * 50, 10.0)
    assert aligner.take_request() == 0.0


def test_fixed_mode_never_aligns() -> None:
    fixed = MediaSession(MediaConfig(local_ssrc=1, jitter=JitterConfig(mode=JitterMode.FIXED)))
    assert not fixed.aligner.active
    assert MediaSession(MediaConfig(local_ssrc=1)).aligner.active


def test_a_port_without_a_movable_grid_applies_nothing() -> None:
    port = BufferedAudioPort()
    assert port.advance_phase(0.01) == 0.0
    sim = SimAudioPort()
    SimCodec(MonotonicClock()).connect(sim, loopback=True)
    assert sim.advance_phase(0.0) == 0.0
    assert sim.advance_phase(0.025) == 0.0  # not below one frame
    assert sim.advance_phase(0.005) == pytest.approx(0.005)


@pytest.mark.parametrize("mode", [JitterMode.MINIMUM, JitterMode.ADAPTIVE])
async def test_loop_moves_its_frame_grid_to_the_far_ends_phase(mode: JitterMode) -> None:
    codec = SimCodec(MonotonicClock())
    port = SimAudioPort(name="loop")
    link = codec.connect(port, loopback=True)
    ata = await RtpSession.open(MediaConfig(local_ssrc=0xA7A, jitter=JitterConfig(mode=mode)))
    far = await RtpSession.open(MediaConfig(local_ssrc=0xFA2, remote_rtp=ata.local_rtp))
    ata.media.set_remote(far.local_rtp)
    await port.start()
    codec.start()
    loop = asyncio.get_running_loop()
    # The far end's frames complete 4 ms after our ticks: unaligned, each waits ~16 ms.
    far_clock = SoftwareFrameClock(tone_frames(1000.0), start=loop.time() + 0.004)
    heard = FrameRecorder()
    # ADAPTIVE's goal keeps settling for a few seconds (p99 + guard over a 10 s window); the
    # aligner follows it at most every hold_off_s, so it needs the longer run.
    frames = 120 if mode is JitterMode.MINIMUM else 260
    try:
        await asyncio.gather(
            ata.run(port, port, frames=frames), far.run(far_clock, heard, frames=frames)
        )
    finally:
        await codec.stop()
        await ata.close()
        await far.close()
    stats = ata.stats()
    jb = stats.jitter_buffer
    config = AlignerConfig()
    assert link.advanced_s == pytest.approx(stats.phase_advanced_ms / 1000.0)
    if mode is JitterMode.MINIMUM:
        # One move, by the 16 ms wait less the margin (give or take the far end's jitter).
        assert stats.phase_advances == 1
        assert 10.0 < stats.phase_advanced_ms < 16.0
        assert jb.delay_ms - jb.target_ms < config.margin_ms + 1.5
    else:
        assert stats.phase_advances >= 1
        assert jb.delay_ms - jb.target_ms < config.margin_ms + config.threshold_ms + 1.0
    assert jb.lost == 0 and jb.inserted == 0
    # The tone went round the loop intact.
    assert abs(dominant_freq(heard.samples()[-3200:]) - 1000.0) < 5
    assert float(np.std(heard.samples()[-3200:].astype(np.float64))) > 3000.0
