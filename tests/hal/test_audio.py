"""AudioPort contract on the simulated codec: pacing, no drift, underrun/overrun accounting."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.audio import (
    FRAME_SAMPLES,
    AudioClosedError,
    AudioPort,
    BufferedAudioPort,
    CapturedFrame,
    FrameSizeError,
)
from hal.clock import VirtualClock
from hal.sim.audio import SimAudioPort, SimCodec, hybrid_response


def ramp(k: int) -> np.ndarray:
    """A frame whose samples identify it: k*160 .. k*160+159 (mod int16)."""
    return ((np.arange(FRAME_SAMPLES) + k * FRAME_SAMPLES) % 30000).astype(np.int16)


class Echoer:
    """A minimal terminal: transmits a counter frame, stores what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[np.ndarray, float]] = []
        self.sent = 0

    def transmit_frame(self, at: float) -> np.ndarray:
        frame = ramp(self.sent)
        self.sent += 1
        return frame

    def receive_frame(self, frame: np.ndarray, at: float) -> None:
        self.heard.append((frame.copy(), at))


def test_sim_port_satisfies_the_protocol() -> None:
    assert isinstance(SimAudioPort(), AudioPort)


async def test_ten_thousand_frames_paced_exactly_without_drift() -> None:
    clock = VirtualClock(start=1234.5)
    codec = SimCodec(clock)
    port = SimAudioPort()
    codec.connect(port, loopback=True)
    got: list[CapturedFrame] = []

    async def media() -> None:
        while True:
            cap = await port.read_captured()
            got.append(cap)
            port.write_frame(cap.samples)

    codec.start()
    task = asyncio.create_task(media())
    await clock.advance(10_000 * 0.02)
    assert len(got) == 10_000
    assert [c.index for c in got] == list(range(10_000))
    # each frame completes exactly at start + (k+1)·20 ms: computed, never accumulated
    assert all(c.at == 1234.5 + (k + 1) * 0.02 for k, c in enumerate(got))
    assert got[-1].at == 1234.5 + 200.0
    st_ = port.stats()
    assert st_.frames_captured == st_.frames_read == 10_000
    assert st_.capture_overruns == 0
    assert st_.playback_overruns == 0
    assert st_.frames_played == 10_000
    # the first period has nothing queued yet: one underrun-free idle frame, then streaming
    assert st_.frames_idle == 1
    assert st_.playback_underruns == 0
    task.cancel()
    await codec.stop()


async def test_terminal_hears_played_frames_one_period_later_and_is_captured_same_period() -> None:
    clock = VirtualClock()
    codec = SimCodec(clock)
    port = SimAudioPort()
    phone = Echoer()
    codec.connect(port, phone)
    codec.start()
    caps: list[CapturedFrame] = []

    async def media() -> None:
        for k in range(50):
            caps.append(await port.read_captured())
            port.write_frame(ramp(1000 + k))

    await clock.run(media())
    # captured frame k is what the phone transmitted in period k
    assert all(np.array_equal(c.samples, ramp(k)) for k, c in enumerate(caps))
    # what the ATA wrote after reading frame k is heard in period k+1
    heard = [f for f, _ in phone.heard]
    assert not heard[0].any()
    assert all(np.array_equal(heard[k + 1], ramp(1000 + k)) for k in range(49))
    await codec.stop()


async def test_playback_underruns_counted_while_streaming_and_idle_afterwards() -> None:
    clock = VirtualClock()
    codec = SimCodec(clock)
    port = SimAudioPort(idle_after=10)
    codec.connect(port, loopback=True)
    codec.start()
    for k in range(5):
        port.write_frame(ramp(k))
    await clock.advance_to(5 * 0.02)
    assert port.stats().playback_underruns == 0
    await clock.advance_to(35 * 0.02)  # nothing written: 10 underruns, then idle
    s = port.stats()
    assert s.frames_played == 35
    assert s.playback_underruns == 10
    assert s.frames_idle == 20
    # recovery: writing again streams again without new underruns
    port.write_frame(ramp(99))
    await clock.advance_to(36 * 0.02)
    assert port.stats().playback_underruns == 10
    await codec.stop()


async def test_capture_overrun_drops_oldest_and_index_shows_the_gap() -> None:
    clock = VirtualClock()
    codec = SimCodec(clock)
    port = SimAudioPort(capture_depth=4)
    phone = Echoer()
    codec.connect(port, phone)
    codec.start()
    await clock.advance_to(10 * 0.02)  # nobody reads: 10 captured, 6 dropped
    s = port.stats()
    assert (s.frames_captured, s.capture_overruns, s.capture_queued) == (10, 6, 4)
    frames = [await port.read_captured() for _ in range(4)]
    assert [f.index for f in frames] == [6, 7, 8, 9]
    assert np.array_equal(frames[0].samples, ramp(6))
    await codec.stop()


async def test_playback_overrun_keeps_the_queue_bounded() -> None:
    port = BufferedAudioPort(playback_depth=3)
    for k in range(5):
        port.write_frame(ramp(k))
    s = port.stats()
    assert (s.frames_written, s.playback_overruns, s.playback_queued) == (5, 2, 3)
    assert np.array_equal(port.codec_playback(), ramp(2))  # the two oldest were dropped


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["read", "write", "tick"]), max_size=80))
def test_property_counters_balance(ops: list[str]) -> None:
    """Whatever the interleaving, the counters add up and the queues stay bounded."""

    async def scenario() -> None:
        port = BufferedAudioPort(capture_depth=3, playback_depth=2, idle_after=2)
        t = 0.0
        for op in ops:
            if op == "write":
                port.write_frame(ramp(0))
            elif op == "tick":
                t += 0.02
                port.codec_playback()
                port.codec_capture(ramp(1), t)
            elif port.stats().capture_queued:
                await port.read_frame()
            s = port.stats()
            assert s.capture_queued <= 3
            assert s.playback_queued <= 2
            assert s.frames_captured == s.frames_read + s.capture_overruns + s.capture_queued
            assert s.frames_written == (
                s.frames_played
                - s.playback_underruns
                - s.frames_idle
                + s.playback_overruns
                + s.playback_queued
            )

    asyncio.run(scenario())


async def test_write_frame_validates_the_frame() -> None:
    port = SimAudioPort()
    with pytest.raises(FrameSizeError):
        port.write_frame(np.zeros(159, dtype=np.int16))
    with pytest.raises(FrameSizeError):
        port.write_frame(np.zeros(160, dtype=np.float32))
    with pytest.raises(FrameSizeError):
        port.write_frame(np.full(160, 40000, dtype=np.int32))
    port.write_frame(np.zeros(160, dtype=np.int32))  # integers in range are accepted
    assert port.stats().frames_written == 1


async def test_close_wakes_a_waiting_reader() -> None:
    port = SimAudioPort()
    reader = asyncio.create_task(port.read_frame())
    await asyncio.sleep(0)
    await port.close()
    with pytest.raises(AudioClosedError):
        await reader
    with pytest.raises(AudioClosedError):
        port.write_frame(ramp(0))


async def test_loopback_delay_and_hybrid_echo() -> None:
    clock = VirtualClock()
    codec = SimCodec(clock)
    loop_port = SimAudioPort()
    codec.connect(loop_port, loopback=True, loopback_delay=3)
    echo_port = SimAudioPort()
    h = hybrid_response(erl_db=12.0, delay_samples=40)
    silent = Echoer()
    silent.transmit_frame = lambda at: np.zeros(160, dtype=np.int16)  # type: ignore[method-assign]
    codec.connect(echo_port, silent, echo=h)
    codec.start()
    rng = np.random.default_rng(3)
    signal = (rng.standard_normal(160 * 100) * 3000).astype(np.int16)

    async def drive(port: SimAudioPort, out: list[np.ndarray]) -> None:
        for k in range(100):
            port.write_frame(signal[k * 160 : (k + 1) * 160])
            out.append(await port.read_frame())

    looped: list[np.ndarray] = []
    echoed: list[np.ndarray] = []
    await clock.run(asyncio.gather(drive(loop_port, looped), drive(echo_port, echoed)))
    # loopback: frame written before tick k is captured at tick k+3
    assert np.array_equal(looped[5], signal[2 * 160 : 3 * 160])
    # echo: the captured signal equals the played signal through h, about 12 dB weaker
    played = signal.astype(np.float64)
    expected = np.convolve(played, h)[: played.size]
    got = np.concatenate(echoed).astype(np.float64)
    assert np.max(np.abs(got - expected)) <= 1.0
    erl = 10 * np.log10(np.mean(played**2) / np.mean(got**2))
    assert 10.5 < erl < 13.5
    await codec.stop()


async def test_codec_skips_ahead_after_a_stall_and_counts_it() -> None:
    clock = VirtualClock()
    codec = SimCodec(clock, max_catch_up=5)
    port = SimAudioPort(capture_depth=100)
    codec.connect(port, loopback=True)
    codec.start()
    await clock.advance(0.1)  # five normal ticks
    # a stall: the clock jumps 1 s without letting the codec task run
    clock._now += 1.0
    await clock.advance(0.02)
    assert codec.clock_slips >= 45
    indices = [f.index for f in list(port._capture)]
    assert indices[:5] == [0, 1, 2, 3, 4]
    assert indices[5] - indices[4] > 40  # the gap is visible in the frame index
    await codec.stop()


async def test_real_time_codec_delivers_frames_at_exact_deadlines() -> None:
    """Functional smoke test on the real clock (timing quality is measured by the bench)."""
    from hal.clock import MonotonicClock

    clock = MonotonicClock()
    codec = SimCodec(clock)
    port = SimAudioPort()
    codec.connect(port, loopback=True)
    codec.start()
    start = clock.now()
    frames = [await asyncio.wait_for(port.read_captured(), 2.0) for _ in range(5)]
    await codec.stop()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    # the frame times are the codec's deadlines, not the (jittery) wake-up times
    base = frames[0].at - 0.02
    assert base == pytest.approx(start, abs=0.005)
    assert [f.at - base for f in frames] == pytest.approx([0.02 * (k + 1) for k in range(5)])


async def test_link_gains_scale_each_direction() -> None:
    clock = VirtualClock()
    codec = SimCodec(clock)
    port = SimAudioPort()
    phone = Echoer()
    link = codec.connect(port, phone, tx_gain_db=-6.0, rx_gain_db=6.0)
    codec.start()
    port.write_frame(np.full(160, 1000, np.int16))
    await clock.advance_to(0.02)
    cap = await port.read_frame()
    assert np.allclose(cap, np.rint(ramp(0) * 10 ** (-6 / 20)), atol=1)
    assert np.allclose(phone.heard[0][0], 1995, atol=1)
    link.rx_gain_db = 0.0
    port.write_frame(np.full(160, 1000, np.int16))
    await clock.advance_to(0.04)
    assert np.all(phone.heard[1][0] == 1000)
    await codec.stop()


async def test_codec_crystal_offset_in_ppm() -> None:
    clock = VirtualClock()
    fast = SimCodec(clock, ppm=500.0)  # 0.05 % fast: one extra frame every 2000
    slow = SimCodec(clock, ppm=-500.0)
    fast_port, slow_port = SimAudioPort(capture_depth=10_000), SimAudioPort(capture_depth=10_000)
    fast.connect(fast_port, loopback=True)
    slow.connect(slow_port, loopback=True)
    fast.start()
    slow.start()
    await clock.advance(4000 * 0.02)
    assert fast_port.stats().frames_captured == 4002
    assert slow_port.stats().frames_captured == 3998
    await fast.stop()
    await slow.stop()
