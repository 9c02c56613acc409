"""Pull-based jitter buffer with PLC, comfort noise, adaptive delay and drift control.

Theory of operation
-------------------
Decoded samples are written into a ring of 16 000 samples (2 s) at the position of their RTP
timestamp, with a parallel "present" mask; any packet size works, duplicates are recognised
because their samples are already present. The playout point ``play_ts`` is the timestamp of
the next sample to play. :meth:`JitterBuffer.pop` is called once per 20 ms playout frame (our
clock) and returns 160 samples and their :class:`FrameKind`:

* AUDIO: the samples are present (they also feed the PLC history);
* CONCEALED: they are missing; :class:`~ata.media.plc.Plc` synthesises them (fading to silence
  after 60 ms);
* COMFORT_NOISE: missing, but the far end announced silence with an RFC 3389 CN packet;
* SILENCE: nothing received yet.

The **delay** of a packet is its margin ``ts − play_ts`` at arrival. A packet with negative
margin is *late* and discarded. The **target** delay depends on the mode:

* ADAPTIVE: starts at ``min_delay_ms``; a late packet raises it by its lateness plus one frame
  (up to ``max_delay_ms``); after ``shrink_after_s`` without a late packet it falls by one
  frame (never below ``min_delay_ms``);
* MINIMUM: as ADAPTIVE with a one-frame floor, growth by the lateness only and shrinking every
  second: the lowest latency the network allows;
* FIXED: constant ``fixed_delay_ms`` (fax, modem): never adapts to jitter.

The delay is moved towards the target by *inserting* a concealed frame (play without
advancing) or *dropping* a frame (advance 320 samples, splicing with a short cross-fade). Once
per second the mean arrival margin is compared with the target; a deviation of 1.5 frames or
more is corrected one frame at a time: this is also the **drift control** between the far
end's sample clock and ours, so the buffer never grows or drains with clock drift.

When the buffer is empty and an in-order packet arrives far from the target margin (a new
talkspurt, a timestamp jump in either direction, a sender restart), the timeline is simply
re-anchored so the packet lands exactly at the target delay: nothing audible is lost, and no
timestamp jump can stall playout. A stream that keeps arriving outside the window while the
buffer still holds audio is resynchronised after two such packets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.media.cn import NoiseGenerator
from ata.media.plc import Plc
from ata.media.rtp import ts_delta

__all__ = ["FrameKind", "JitterBuffer", "JitterConfig", "JitterMode", "JitterStats"]

FRAME: Final = 160
RING: Final = 16000  # samples; a multiple of FRAME, so 160-sample reads never wrap
SPLICE: Final = 40  # cross-fade length when dropping a frame
_EVAL_FRAMES: Final = 50  # drift/adaptation evaluation every second of playout
_MIN_EVAL_PACKETS: Final = 10

Frame = npt.NDArray[np.int16]


class JitterMode(enum.Enum):
    ADAPTIVE = "adaptive"
    MINIMUM = "minimum"
    FIXED = "fixed"


class FrameKind(enum.Enum):
    AUDIO = "audio"
    CONCEALED = "concealed"
    COMFORT_NOISE = "comfort_noise"
    SILENCE = "silence"


@dataclass(frozen=True, slots=True)
class JitterConfig:
    mode: JitterMode = JitterMode.ADAPTIVE
    min_delay_ms: int = 40
    max_delay_ms: int = 300
    fixed_delay_ms: int = 100
    shrink_after_s: float = 5.0
    max_late_ms: int = 1000  # a packet later than this is "out of window", not just late
    capacity_ms: int = 1000  # furthest ahead of playout a packet may be stored


@dataclass(frozen=True, slots=True)
class JitterStats:
    delay_ms: float  # audio buffered ahead of the playout point
    target_ms: float
    mean_margin_ms: float  # mean arrival margin over the last evaluation window
    received: int  # packets stored
    late: int  # packets that arrived after their playout time
    lost: int  # frames missing at playout although later audio had arrived
    concealed: int  # frames synthesised by PLC (losses, underruns and inserts)
    discarded: int  # packets discarded (late, out of window, too early)
    duplicates: int
    inserted: int  # frames inserted to grow the delay
    dropped: int  # frames dropped to shrink the delay
    comfort_noise: int  # frames of comfort noise played
    resyncs: int  # timeline re-anchors (talkspurts, jumps, restarts)
    played: int  # frames popped


class JitterBuffer:
    """Pull-based jitter buffer for 8 kHz audio; ``pop(now)`` once per 20 ms."""

    def __init__(self, config: JitterConfig | None = None, *, seed: int = 1) -> None:
        self.config = config or JitterConfig()
        self._data = np.zeros(RING, dtype=np.int16)
        self._have = np.zeros(RING, dtype=np.bool_)
        self._plc = Plc()
        self._noise = NoiseGenerator(seed)
        self._started = False
        self._heard = False  # an audio frame was played since the last reset
        self._horizon = 0  # timestamp just after the last played audio sample
        self._prefill_until = 0
        self._silence_until = 0  # frames before this timestamp were not sent (not lost)
        self._play_ts = 0
        self._play_pos = 0
        self._newest_end = 0
        self._target = self._initial_target()
        self._pending = 0  # >0: frames to insert; <0: frames to drop
        self._last_late = 0.0
        self._last_shrink = 0.0
        self._oow = 0
        self._cn_active = False
        self._cn_ts = 0
        self._win_frames = 0
        self._win_sum = 0
        self._win_count = 0
        self._mean_margin = 0.0
        self._c = dict.fromkeys(
            (
                "received",
                "late",
                "lost",
                "discarded",
                "duplicates",
                "inserted",
                "dropped",
                "comfort_noise",
                "resyncs",
                "played",
            ),
            0,
        )

    # -- configuration ---------------------------------------------------------------------

    def _initial_target(self) -> int:
        c = self.config
        if c.mode is JitterMode.FIXED:
            return _frames(c.fixed_delay_ms)
        if c.mode is JitterMode.MINIMUM:
            return FRAME
        return _frames(c.min_delay_ms)

    def _floor(self) -> int:
        c = self.config
        if c.mode is JitterMode.MINIMUM:
            return FRAME
        return _frames(c.min_delay_ms)

    @property
    def target_samples(self) -> int:
        return self._target

    # -- input -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (new source); the target delay is kept."""
        self._have[:] = False
        self._started = False
        self._heard = False
        self._pending = 0
        self._cn_active = False
        self._oow = 0
        self._plc.reset()

    def _anchor(self, ts: int) -> None:
        """Re-anchor the timeline so that ``ts`` plays after exactly the target delay."""
        self._have[:] = False
        self._play_ts = (ts - self._target) & 0xFFFFFFFF
        self._newest_end = self._play_ts
        self._pending = 0
        self._oow = 0
        self._reset_window()
        if self._started:
            self._c["resyncs"] += 1
        self._started = True
        self._prefill_until = ts & 0xFFFFFFFF
        self._silence_until = self._play_ts

    def _buffered(self) -> int:
        return max(0, ts_delta(self._newest_end, self._play_ts))

    def put(
        self,
        timestamp: int,
        samples: Frame,
        now: float,
        *,
        in_order: bool = True,
        contiguous: bool = False,
    ) -> None:
        """Store decoded audio whose first sample has RTP ``timestamp``.

        ``in_order`` is False for a packet older than the newest one seen (reordered or
        duplicate): such a packet never re-anchors the timeline. ``contiguous`` says its
        sequence number directly follows the previous packet's: a timestamp gap before it is
        then intentional silence (DTX, hold), not loss.
        """
        n = len(samples)
        if n == 0 or n > RING // 2:
            self._c["discarded"] += 1
            return
        if not self._started:
            self._anchor(timestamp)
        if self._heard and in_order and ts_delta(self._horizon, timestamp) >= n:
            # A newer packet behind what was already played: the sender's timestamps jumped
            # backwards (or it restarted). Start a new timeline at this packet.
            self._anchor(timestamp)
            self._horizon = timestamp
        d = ts_delta(timestamp, self._play_ts)
        empty = self._buffered() == 0
        if empty and in_order and abs(d - self._target) >= FRAME:
            if d + n <= 0:
                self._on_late(-d, now)
            self._anchor(timestamp)
            d = self._target
        elif d + n <= 0:
            if -d > self.config.max_late_ms * 8:
                self._out_of_window(timestamp, in_order)
                return
            self._on_late(-d, now)
            self._c["discarded"] += 1
            return
        elif d + n > self.config.capacity_ms * 8:
            if not self._out_of_window(timestamp, in_order):
                return
            d = self._target
        self._oow = 0
        skip = 0
        if d < 0:  # partially late: keep the part still to be played
            skip = -d
            self._on_late(skip, now)
        if self._heard:
            # Never play a sample twice: anything at or before the last played sample goes,
            # unless it is so far back that it belongs to a new timeline (a jump).
            back = ts_delta(self._horizon, timestamp)
            if 0 < back <= self.config.max_late_ms * 8:
                skip = max(skip, back)
        if skip >= n:
            self._c["duplicates"] += 1
            return
        d += skip
        self._win_sum += d
        self._win_count += 1
        pos = (self._play_pos + d) % RING
        count = n - skip
        end = pos + count
        if end <= RING:
            if self._have[pos:end].all():
                self._c["duplicates"] += 1
                return
            self._data[pos:end] = samples[skip:]
            self._have[pos:end] = True
        else:
            first = RING - pos
            if self._have[pos:].all() and self._have[: end - RING].all():
                self._c["duplicates"] += 1
                return
            self._data[pos:] = samples[skip : skip + first]
            self._data[: end - RING] = samples[skip + first :]
            self._have[pos:] = True
            self._have[: end - RING] = True
        self._c["received"] += 1
        if contiguous and in_order and ts_delta(timestamp, self._newest_end) > 0:
            self._silence_until = timestamp
        end_ts = (timestamp + n) & 0xFFFFFFFF
        if ts_delta(end_ts, self._newest_end) > 0:
            self._newest_end = end_ts
        if self._cn_active and ts_delta(timestamp, self._cn_ts) > 0:
            self._cn_active = False

    def _out_of_window(self, timestamp: int, in_order: bool) -> bool:
        """Count an out-of-window packet; True when the timeline was resynchronised to it."""
        self._c["discarded"] += 1
        if not in_order:
            return False
        self._oow += 1
        if self._oow >= 2:
            self._anchor(timestamp)
            return True
        return False

    def put_cn(
        self, timestamp: int, level: int, reflection: tuple[float, ...] = (), now: float = 0.0
    ) -> None:
        """An RFC 3389 CN packet: comfort noise replaces missing audio from ``timestamp``."""
        del now
        self._noise.set_params(level, reflection)
        if not self._started:
            self._anchor(timestamp)
        self._cn_active = True
        self._cn_ts = timestamp

    def _on_late(self, lateness: int, now: float) -> None:
        self._c["late"] += 1
        self._last_late = now
        mode = self.config.mode
        if mode is JitterMode.FIXED:
            return
        # Inserts already decided will add their frames to every later margin.
        effective = lateness - max(self._pending, 0) * FRAME
        if effective <= 0:
            return
        extra = FRAME if mode is JitterMode.ADAPTIVE else 0
        wanted = min(_frames(self.config.max_delay_ms), _round_up(effective) + self._target + extra)
        if wanted > self._target:
            self._pending += (wanted - self._target) // FRAME
            self._target = wanted

    # -- output ----------------------------------------------------------------------------

    def pop(self, now: float) -> tuple[Frame, FrameKind]:
        """The next 20 ms frame to play."""
        self._c["played"] += 1
        if not self._started:
            return np.zeros(FRAME, dtype=np.int16), FrameKind.SILENCE
        self._evaluate(now)
        if self._pending > 0:
            self._pending -= 1
            self._c["inserted"] += 1
            self._reset_window()  # margins measured before the insert no longer apply
            return self._missing(count_loss=False)
        pos = self._play_pos
        have = self._have[pos : pos + FRAME]
        if self._pending < 0 and have.all() and self._have_next_frame():
            self._pending += 1
            self._c["dropped"] += 1
            self._reset_window()
            return self._drop_and_splice()
        if not have.any():
            result = self._missing(count_loss=True)
            self._advance()
            return result
        self._advance()
        frame = self._data[pos : pos + FRAME].copy()
        if not have.all():
            frame[~have] = 0
        have[:] = False
        self._heard = True
        self._horizon = self._play_ts
        return self._plc.good(frame), FrameKind.AUDIO

    def _have_next_frame(self) -> bool:
        nxt = (self._play_pos + FRAME) % RING
        return bool(self._have[nxt : nxt + FRAME].all())

    def _advance(self) -> None:
        self._play_ts = (self._play_ts + FRAME) & 0xFFFFFFFF
        self._play_pos = (self._play_pos + FRAME) % RING

    def _drop_and_splice(self) -> tuple[Frame, FrameKind]:
        a_pos = self._play_pos
        a = self._data[a_pos : a_pos + FRAME].astype(np.float64)
        self._have[a_pos : a_pos + FRAME] = False
        self._advance()
        b_pos = self._play_pos
        b = self._data[b_pos : b_pos + FRAME].astype(np.float64)
        self._have[b_pos : b_pos + FRAME] = False
        self._advance()
        self._horizon = self._play_ts
        w = np.arange(1, SPLICE + 1, dtype=np.float64) / (SPLICE + 1)
        b[:SPLICE] = b[:SPLICE] * w + a[:SPLICE] * (1.0 - w)
        out: Frame = np.clip(np.rint(b), -32768, 32767).astype(np.int16)
        return self._plc.good(out), FrameKind.AUDIO

    def _missing(self, *, count_loss: bool) -> tuple[Frame, FrameKind]:
        if self._cn_active and ts_delta(self._play_ts, self._cn_ts) >= 0:
            self._c["comfort_noise"] += 1
            return self._noise.generate(FRAME), FrameKind.COMFORT_NOISE
        if ts_delta(self._prefill_until, self._play_ts) > 0:
            # Before the anchored packet's turn: nothing is missing, the buffer is filling.
            if not self._heard:
                return np.zeros(FRAME, dtype=np.int16), FrameKind.SILENCE
        elif (
            count_loss
            and ts_delta(self._newest_end, self._play_ts) > 0
            and ts_delta(self._play_ts, self._silence_until) >= 0
        ):
            self._c["lost"] += 1
        return self._plc.conceal(FRAME), FrameKind.CONCEALED

    # -- adaptation and drift ---------------------------------------------------------------

    def _reset_window(self) -> None:
        self._win_frames = 0
        self._win_sum = 0
        self._win_count = 0

    def _evaluate(self, now: float) -> None:
        cfg = self.config
        if cfg.mode is not JitterMode.FIXED and self._target > self._floor():
            quiet = cfg.shrink_after_s if cfg.mode is JitterMode.ADAPTIVE else 1.0
            if now - max(self._last_late, self._last_shrink) >= quiet:
                self._last_shrink = now
                self._target -= FRAME
                self._pending -= 1
        self._win_frames += 1
        if self._win_frames < _EVAL_FRAMES:
            return
        if self._win_count >= _MIN_EVAL_PACKETS and self._pending == 0:
            mean = self._win_sum / self._win_count
            self._mean_margin = mean
            if mean - self._target >= 1.5 * FRAME:
                self._pending = -1
            elif self._target - mean >= FRAME:
                self._pending = 1
        self._reset_window()

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> JitterStats:
        c = self._c
        return JitterStats(
            delay_ms=self._buffered() / 8.0 if self._started else 0.0,
            target_ms=self._target / 8.0,
            mean_margin_ms=self._mean_margin / 8.0,
            received=c["received"],
            late=c["late"],
            lost=c["lost"],
            concealed=self._plc.concealed,
            discarded=c["discarded"],
            duplicates=c["duplicates"],
            inserted=c["inserted"],
            dropped=c["dropped"],
            comfort_noise=c["comfort_noise"],
            resyncs=c["resyncs"],
            played=c["played"],
        )


def _frames(ms: int) -> int:
    """Milliseconds rounded up to whole 20 ms frames, in samples (at least one frame)."""
    return max(FRAME, -(-ms * 8 // FRAME) * FRAME)


def _round_up(samples: int) -> int:
    return -(-samples // FRAME) * FRAME
