"""A hostile far end: random mixes of valid audio, jumps, restarts, spoofing and garbage.

Whatever arrives, MediaSession never raises, always plays 160 int16 samples per pull, keeps
its event queue and buffers bounded, and plays the real stream again once it is clean.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ata.media.cn import build_cn
from ata.media.dtmf import build_event
from ata.media.rtcp import build_rr, build_sr
from ata.media.rtp import build_rtp
from ata.media.session import MediaConfig, MediaSession
from tests.media.helpers import A, B, dominant_freq, tone

EVIL = ("203.0.113.66", 6666)


class HostileFarEnd(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.s = MediaSession(MediaConfig(local_ssrc=0x1234, remote_rtp=A, rtcp_min_interval=0.5))
        self.now = 100.0
        self.seq = 1000
        self.ts = 0xFFFF0000
        self.ssrc = 0xAAAA
        self.k = 0
        self.last_real = self.now
        for _ in range(3):
            self.s.receive_rtp(self._audio(), A, self.now)
            self.tick()

    def _audio(self, addr=A, pt: int = 0) -> bytes:
        payload = np.full(160, 0xFF, np.uint8).tobytes()
        data = build_rtp(pt, self.seq, self.ts, self.ssrc, payload)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 160) & 0xFFFFFFFF
        return data

    @rule(n=st.integers(1, 10))
    def audio(self, n: int) -> None:
        for _ in range(n):
            self.s.receive_rtp(self._audio(), A, self.now)
            self.last_real = self.now
            self.tick()

    @rule(jump=st.sampled_from([2**31, -(2**31), 3001, -3001, 70000, -101]))
    def seq_jump(self, jump: int) -> None:
        self.seq = (self.seq + jump) & 0xFFFF

    @rule(jump=st.integers(-(2**32), 2**32))
    def ts_jump(self, jump: int) -> None:
        self.ts = (self.ts + jump) & 0xFFFFFFFF

    @rule(ssrc=st.integers(0, 2**32 - 1))
    def restart(self, ssrc: int) -> None:
        self.ssrc = ssrc

    @rule(n=st.integers(1, 30))
    def spoof(self, n: int) -> None:
        before = self.s.remote_rtp
        for i in range(n):
            self.s.receive_rtp(build_rtp(0, i, i * 160, 0x666, bytes(160)), EVIL, self.now)
        if self.s.remote_rtp != before:
            # Only ever after 10 consecutive packets, and only if the far end went quiet.
            assert n >= 10
            assert self.now - self.last_real >= 1.0

    @rule(data=st.binary(max_size=200))
    def garbage(self, data: bytes) -> None:
        self.s.receive_rtp(data, A, self.now)
        self.s.receive_rtcp(data, B, self.now)

    @rule(pt=st.integers(0, 127))
    def any_pt(self, pt: int) -> None:
        self.s.receive_rtp(self._audio(pt=pt), A, self.now)

    @rule(event=st.integers(0, 255), end=st.booleans(), duration=st.integers(0, 0xFFFF))
    def dtmf(self, event: int, end: bool, duration: int) -> None:
        payload = build_event(event, end, 10, duration)
        self.s.receive_rtp(build_rtp(101, self.seq, self.ts, self.ssrc, payload), A, self.now)
        self.seq = (self.seq + 1) & 0xFFFF

    @rule(level=st.integers(0, 255), extra=st.binary(max_size=20))
    def cn(self, level: int, extra: bytes) -> None:
        payload = build_cn(min(level, 127)) + extra
        self.s.receive_rtp(build_rtp(13, self.seq, self.ts, self.ssrc, payload), A, self.now)
        self.seq = (self.seq + 1) & 0xFFFF

    @rule(lsr=st.integers(0, 2**32 - 1), dlsr=st.integers(0, 2**32 - 1))
    def rtcp(self, lsr: int, dlsr: int) -> None:
        from ata.media.rtcp import ReportBlock

        block = ReportBlock(0x1234, 255, -5, 99, 2**32 - 1, lsr, dlsr)
        self.s.receive_rtcp(build_sr(self.ssrc, 2**63, 5, 6, 7, [block]), B, self.now)
        self.s.receive_rtcp(build_rr(self.ssrc, [block]), B, self.now)

    @rule(dt=st.floats(0.0, 3.0))
    def pause(self, dt: float) -> None:
        self.now += dt
        self.tick()

    def tick(self) -> None:
        self.now += 0.02
        frame = self.s.pull_frame(self.now)
        assert frame.dtype == np.int16
        assert frame.shape == (160,)
        self.s.send_frame(tone(500.0, 160, start=160 * self.k), self.now)
        self.k += 1
        t = self.s.get_timer()
        if t is not None and t <= self.now:
            self.s.handle_timer(self.now)

    @invariant()
    def bounded(self) -> None:
        st_ = self.s.stats()
        assert st_.jitter_buffer.delay_ms <= 2000
        assert len(self.s._events) <= 256
        assert st_.latch_switches <= 1 + st_.foreign_packets

    def teardown(self) -> None:
        # After the storm, a clean stream from the far end plays again.
        s = self.s
        self.ssrc ^= 0x5A5A
        self.now += 1.5  # if a spoofer was latched, it has gone quiet now
        out = []
        for k in range(100):
            self.now += 0.02
            data = build_rtp(0, self.seq, self.ts, self.ssrc, _tone_ulaw(k))
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + 160) & 0xFFFFFFFF
            s.receive_rtp(data, A, self.now)
            out.append(s.pull_frame(self.now + 0.01))
        assert s.remote_rtp == A
        x = np.concatenate(out[-50:])
        assert abs(dominant_freq(x) - 1000.0) < 10


def _tone_ulaw(k: int) -> bytes:
    from ata.media.g711 import ulaw_encode

    return ulaw_encode(tone(1000.0, 160, start=160 * k)).tobytes()


TestHostileFarEnd = HostileFarEnd.TestCase
TestHostileFarEnd.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
