"""Jitter buffer: steady state, adaptation, modes, drift, jumps, CN, and invariants under
random reordering / loss / duplication (hypothesis stateful)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ata.media.cn import level_of
from ata.media.jitter import FrameKind, JitterBuffer, JitterConfig, JitterMode

TS0 = 0xFFFF_F000  # wraps during every test


def frame_of(k: int) -> np.ndarray:
    """Frame k: a ramp whose tail identifies k (PLC/splice only touch the first 80 samples)."""
    base = (k * 37) % 20000 - 10000
    return (base + np.arange(160) % 7).astype(np.int16)


def ident(frame: np.ndarray) -> int | None:
    base = int(frame[159]) - (159 % 7)
    if not np.array_equal(frame[80:], (base + np.arange(80, 160) % 7).astype(np.int16)):
        return None
    return base


def simulate(
    jb: JitterBuffer,
    frames: int,
    *,
    period: float = 0.02,
    delay=lambda k: 0.005,
    t0: float = 50.0,
    ts_of=lambda k: (TS0 + 160 * k) & 0xFFFFFFFF,
    pops: int | None = None,
):
    """Packets sent every ``period`` (far clock), popped every 20 ms (our clock)."""
    arrivals = sorted((t0 + k * period + delay(k), k) for k in range(frames))
    newest = -1
    kinds = []
    out = []
    i = 0
    n_pops = pops if pops is not None else int(frames * period / 0.02) + 10
    for p in range(n_pops):
        now = t0 + 0.0199 + p * 0.02
        while i < len(arrivals) and arrivals[i][0] <= now:
            at, k = arrivals[i]
            jb.put(ts_of(k), frame_of(k), at, in_order=k > newest)
            newest = max(newest, k)
            i += 1
        f, kind = jb.pop(now)
        kinds.append(kind)
        out.append(f)
    return out, kinds


def _ids(out, kinds) -> list[int | None]:
    return [ident(f) for f, k in zip(out, kinds, strict=True) if k is FrameKind.AUDIO]


def _k_of(ids: list[int | None]) -> list[int]:
    lookup = {(k * 37) % 20000 - 10000: k for k in range(5000)}
    return [lookup[i] for i in ids if i is not None]


def test_steady_stream_plays_in_order_and_settles_low() -> None:
    jb = JitterBuffer()
    out, kinds = simulate(jb, 300, pops=300)
    ks = _k_of(_ids(out, kinds))
    # In order, nothing repeated; the 40 ms start-up delay is reduced by dropping frames
    # (one per second at most), never by concealment.
    assert ks == sorted(set(ks))
    s = jb.stats()
    assert s.dropped in range(1, 4)
    assert len(ks) >= 300 - 3 - 3
    assert s.concealed == 0
    assert s.lost == 0
    assert s.late == 0
    assert s.target_ms <= 15  # 1 ms of jitter: 99th percentile + 10 ms guard
    assert s.delay_ms <= 40
    assert kinds[0] is FrameKind.SILENCE


def test_adaptive_grows_on_late_packets_and_shrinks_slowly() -> None:
    spikes = set(range(100, 106))  # 6 packets held up 100 ms, once

    def delay(k: int) -> float:
        return 0.105 if k in spikes else 0.005

    jb = JitterBuffer(JitterConfig(mode=JitterMode.ADAPTIVE, shrink_after_s=2.0))
    simulate(jb, 150, delay=delay, pops=112)
    s = jb.stats()
    assert s.late >= 1
    assert s.delay_ms >= 80  # re-anchored on the late burst: the delay grew to cover it
    assert s.lost == 0
    jb2 = JitterBuffer(JitterConfig(mode=JitterMode.ADAPTIVE, shrink_after_s=2.0))
    out, kinds = simulate(jb2, 1500, delay=delay)
    s2 = jb2.stats()
    # Afterwards the delay comes back down, one frame per 2 s at most.
    assert s2.delay_ms <= 40
    assert 4 <= s2.dropped <= 16
    ks = _k_of(_ids(out, kinds))
    assert ks == sorted(set(ks))  # never repeats or goes back


def test_fixed_mode_keeps_its_delay_and_minimum_mode_is_lowest() -> None:
    fixed = JitterBuffer(JitterConfig(mode=JitterMode.FIXED, fixed_delay_ms=100))
    simulate(fixed, 300, delay=lambda k: 0.105 if k == 50 else 0.005)
    fs = fixed.stats()
    assert fs.target_ms == pytest.approx(100, abs=1)
    assert 95 <= fs.delay_ms <= 125
    minimum = JitterBuffer(JitterConfig(mode=JitterMode.MINIMUM))
    rng = random.Random(5)
    simulate(minimum, 500, pops=500, delay=lambda k: 0.005 + rng.random() * 0.03)
    adaptive = JitterBuffer()
    rng = random.Random(5)
    simulate(adaptive, 500, pops=500, delay=lambda k: 0.005 + rng.random() * 0.03)
    assert minimum.stats().target_ms < adaptive.stats().target_ms
    assert minimum.stats().late >= adaptive.stats().late


def test_drift_fast_far_clock_is_dropped_not_buffered() -> None:
    jb = JitterBuffer()
    # Far end 1000 ppm fast (a bad crystal): 120 ms more audio than we play in 2 minutes.
    simulate(jb, 6000, period=0.02 * (1 - 1e-3))
    s = jb.stats()
    assert s.dropped >= 5
    assert s.delay_ms < 60
    assert s.buffered_ms < 80


def test_drift_slow_far_clock_is_filled_by_inserts() -> None:
    jb = JitterBuffer()
    _, kinds = simulate(jb, 6000, period=0.02 * (1 + 1e-3))
    s = jb.stats()
    assert s.inserted >= 5
    assert s.lost == 0
    assert s.late == 0
    assert s.delay_ms < 60
    assert kinds[-40:-15].count(FrameKind.AUDIO) == 25


def test_timestamp_jumps_both_directions_recover() -> None:
    for jump in (2**31, -(2**31) + 160, 48_000, -48_000):
        jb = JitterBuffer()

        def ts_of(k: int, jump: int = jump) -> int:
            return (TS0 + 160 * k + (jump if k >= 100 else 0)) & 0xFFFFFFFF

        out, kinds = simulate(jb, 200, ts_of=ts_of)
        tail = kinds[120:205]
        assert tail.count(FrameKind.AUDIO) >= 80, jump
        ids = [
            ident(f) for f, k in zip(out[120:], kinds[120:], strict=True) if k is FrameKind.AUDIO
        ]
        assert ids[-1] == (199 * 37) % 20000 - 10000


def test_comfort_noise_fills_silence() -> None:
    jb = JitterBuffer()
    for k in range(20):
        jb.put((TS0 + 160 * k) & 0xFFFFFFFF, frame_of(k), 10.0 + 0.02 * k)
        jb.pop(10.0 + 0.02 * k + 0.01)
    jb.put((TS0 + 160 * 20) & 0xFFFFFFFF, np.zeros(0, np.int16), 10.4)  # ignored: empty
    jb.put_cn((TS0 + 160 * 20) & 0xFFFFFFFF, 50, (), 10.4)
    kinds = []
    frames = []
    for p in range(30):
        f, kind = jb.pop(10.41 + 0.02 * p)
        kinds.append(kind)
        frames.append(f)
    assert kinds.count(FrameKind.COMFORT_NOISE) >= 25
    noise = np.concatenate(
        [f for f, k in zip(frames, kinds, strict=True) if k is FrameKind.COMFORT_NOISE]
    )
    assert abs(level_of(noise) - 50) <= 1
    assert jb.stats().lost == 0


def test_random_network_plays_in_order() -> None:
    rng = random.Random(7)
    jb = JitterBuffer()
    out, kinds = simulate(jb, 1500, delay=lambda k: 0.005 + rng.expovariate(1 / 0.015))
    ids = [ident(f) for f, k in zip(out, kinds, strict=True) if k is FrameKind.AUDIO]
    assert all(
        b > a or b < -9000 for a, b in itertools.pairwise(ids) if a is not None and b is not None
    )
    assert len(ids) > 1300


class JitterMachine(RuleBasedStateMachine):
    """Random put/pop/dup/loss/reorder: pop never fails, audio plays in send order, once."""

    def __init__(self) -> None:
        super().__init__()
        self.jb = JitterBuffer(JitterConfig(mode=JitterMode.ADAPTIVE))
        self.k = 0
        self.now = 0.0
        self.flight: list[int] = []
        self.delivered: list[int] = []
        self.last_played = -1

    @rule()
    def send(self) -> None:
        self.flight.append(self.k)
        self.k += 1

    @precondition(lambda self: self.flight)
    @rule(i=st.integers(0, 50))
    def deliver(self, i: int) -> None:
        k = self.flight.pop(i % len(self.flight))
        newest = max(self.delivered, default=-1)
        self.jb.put((TS0 + 160 * k) & 0xFFFFFFFF, frame_of(k), self.now, in_order=k > newest)
        self.delivered.append(k)

    @precondition(lambda self: self.delivered)
    @rule(i=st.integers(0, 50))
    def duplicate(self, i: int) -> None:
        k = self.delivered[i % len(self.delivered)]
        self.jb.put((TS0 + 160 * k) & 0xFFFFFFFF, frame_of(k), self.now, in_order=False)

    @precondition(lambda self: self.flight)
    @rule()
    def lose(self) -> None:
        self.flight.pop(0)

    @rule()
    def pop(self) -> None:
        self.now += 0.02
        frame, kind = self.jb.pop(self.now)
        assert frame.dtype == np.int16
        assert frame.shape == (160,)
        if kind is FrameKind.AUDIO:
            base = ident(frame)
            if base is not None:
                k = next(j for j in range(self.k) if (j * 37) % 20000 - 10000 == base)
                assert k > self.last_played
                self.last_played = k

    @invariant()
    def bounded(self) -> None:
        s = self.jb.stats()
        assert s.delay_ms <= 1000
        assert 0 <= s.target_ms <= 300


TestJitterMachine = JitterMachine.TestCase
TestJitterMachine.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)


def _play_ptime(samples_per_packet: int) -> tuple[np.ndarray, np.ndarray, JitterBuffer]:
    rng = random.Random(3)
    signal = (np.arange(160 * 400) * 13 % 20011 - 10000).astype(np.int16)
    jb = JitterBuffer()
    period = samples_per_packet / 8000
    packets = len(signal) // samples_per_packet
    arrivals = sorted((1.0 + k * period + 0.002 + rng.random() * 0.01, k) for k in range(packets))
    out = []
    i = 0
    for p in range(380):
        now = 1.0 + 0.0199 + p * 0.02
        while i < len(arrivals) and arrivals[i][0] <= now:
            _, k = arrivals[i]
            chunk = signal[k * samples_per_packet : (k + 1) * samples_per_packet]
            jb.put((TS0 + k * samples_per_packet) & 0xFFFFFFFF, chunk, now)
            i += 1
        out.append(jb.pop(now)[0])
    return signal, np.concatenate(out), jb


def test_other_packet_sizes_play_bit_exact() -> None:
    for spp in (80, 240):  # 10 ms and 30 ms packets against 20 ms playout
        signal, out, jb = _play_ptime(spp)
        # Once settled, a long stretch of output is exactly a stretch of the input.
        block = out[-250 * 160 : -20 * 160]
        view = np.lib.stride_tricks.sliding_window_view(signal, 16)
        start = int(np.flatnonzero((view == block[:16]).all(axis=1))[0])
        assert np.array_equal(block, signal[start : start + len(block)]), spp
        assert jb.stats().lost == 0
        assert jb.stats().late == 0


def test_plc_can_be_disabled_for_modems() -> None:
    received = [k for k in range(100) if k not in (40, 41)]  # frames 40 and 41 lost
    jb2 = JitterBuffer(JitterConfig(mode=JitterMode.FIXED, fixed_delay_ms=60, plc=False))
    arrivals = {k: 50.0 + k * 0.02 + 0.005 for k in received}
    out = []
    kinds = []
    for p in range(100):
        now = 50.0 + 0.0199 + p * 0.02
        for k in [k for k, at in arrivals.items() if at <= now]:
            jb2.put((TS0 + 160 * k) & 0xFFFFFFFF, frame_of(k), arrivals.pop(k))
        f, kind = jb2.pop(now)
        out.append(f)
        kinds.append(kind)
    concealed = [f for f, k in zip(out, kinds, strict=True) if k is FrameKind.CONCEALED]
    assert len(concealed) == 2
    assert all(not f.any() for f in concealed)
    assert jb2.stats().lost == 2
