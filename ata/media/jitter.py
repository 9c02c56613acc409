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

**Delay model.** For every in-order audio packet the buffer records its *transit*
``arrival·8000 − timestamp`` (samples, against a reference fixed when the timeline starts):
the far end's timestamps and our clock, so clock offset and drift are inside it. At a pop,
the frame at ``play_ts`` is due; a packet is on time when ``transit ≤ P`` with
``P = now·8000 − play_ts``, the *playout offset*. The **goal** for ``P`` comes from the recent
transits (the window holds the last 10 s):

* ADAPTIVE: the 99th percentile of the last 10 s, at least the smallest of the last three
  transits (so a step increase is followed within three packets), plus 10 ms; starts at
  ``initial_delay_ms`` and shrinks at most one frame per ``shrink_after_s``;
* MINIMUM: the 95th percentile of the last 3 s, no guard, shrinking up to five frames a
  second: the lowest latency the network allows;
* FIXED: the fastest packet of the window plus ``fixed_delay_ms`` (fax, modem): constant delay
  above the network's floor, no adaptation to jitter. With ``plc=False`` (modem/fax
  pass-through) missing audio is silence rather than a synthesised waveform.

Always clamped to ``min_delay_ms``..``max_delay_ms`` above the fastest packet. Each pop compares
``P`` with the goal: below it, a concealed frame is *inserted* (play without advancing, so ``P``
grows by a frame); more than a frame and 5 ms above it, a frame is *dropped* (advance 320
samples, splicing audio with a short cross-fade, or simply skipping during silence). Because
the transits carry the far end's clock, this is also the **drift control**: a fast far end
lowers the transits, the goal follows, frames are dropped; the buffer never grows or drains.

**Timeline changes.** When the buffer is empty and an in-order packet arrives away from where
the goal would put it (a new talkspurt after DTX, a late packet after an underrun), playout is
re-anchored on it. A transit that jumps by more than a second between in-order packets, or a
newer packet behind what was already played, is a new timeline (timestamp jump either way,
sender restart): the window restarts and playout re-anchors at once, so no jump can stall
playout. Packets far outside the window while audio is buffered are discarded; two in a row
resynchronise.
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
_WINDOW: Final = 500  # transits kept: 10 s of 20 ms packets
_MIN_WINDOW: Final = 150  # MINIMUM mode looks at the last 3 s
_GUARD: Final = 80.0  # samples (10 ms) added to the ADAPTIVE estimate
_HYSTERESIS: Final = 12.0  # samples (1.5 ms) above goal + one frame before a frame is dropped
_GOAL_EVERY: Final = 50  # pops between goal updates (1 s)
_SETTLED: Final = 25  # transits needed before the goal counts as measured (slack reported)
_JUMP: Final = 8000.0  # a transit change of more than 1 s is a new timeline
_CATCH_UP: Final = 1600.0  # 200 ms above the goal: skip at once instead of frame by frame

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
    initial_delay_ms: int = 40  # before any jitter is known (MINIMUM starts at one frame)
    min_delay_ms: int = 0  # floor of the delay above the fastest recent packet
    max_delay_ms: int = 300
    fixed_delay_ms: int = 100
    shrink_after_s: float = 1.0  # ADAPTIVE: at most one dropped frame per this interval
    max_late_ms: int = 1000  # a packet later than this is "out of window", not just late
    capacity_ms: int = 1000  # furthest ahead of playout a packet may be stored
    plc: bool = True  # False (fax/modem pass-through): missing audio is played as silence


def quantile(values: npt.NDArray[np.float64], q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation) through ``np.partition``.

    The same number, but ``np.quantile`` imports ``numpy.ma`` on first use (1.3 MiB resident,
    and ~14 ms inside whichever 20 ms media tick first calls it).
    """
    n = int(values.size)
    if n == 0:
        raise ValueError("quantile of no values")
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    part = np.partition(values, (lo, hi))
    return float(part[lo] + (part[hi] - part[lo]) * (pos - lo))


class TransitWindow:
    """The last ``size`` transit values (samples), for quantiles and minima."""

    def __init__(self, size: int = 500) -> None:
        self._v = np.zeros(size, dtype=np.float64)
        self._i = 0
        self.count = 0
        self.last: list[float] = []

    def reset(self) -> None:
        self._i = 0
        self.count = 0
        self.last = []

    def add(self, value: float) -> None:
        self._v[self._i] = value
        self._i = (self._i + 1) % len(self._v)
        self.count = min(self.count + 1, len(self._v))
        self.last.append(value)
        if len(self.last) > 3:
            del self.last[0]

    def recent(self, n: int) -> npt.NDArray[np.float64]:
        n = min(n, self.count)
        idx = (self._i - n + np.arange(n)) % len(self._v)
        out: npt.NDArray[np.float64] = self._v[idx]
        return out


@dataclass(frozen=True, slots=True)
class JitterStats:
    delay_ms: float  # playout delay above the fastest recent packet (P − base)
    target_ms: float  # goal for that delay
    buffered_ms: float  # audio stored ahead of the playout point
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
        self._window = TransitWindow(_WINDOW)
        self._started = False
        self._heard = False  # an audio frame was played since the last reset
        self._horizon = 0  # timestamp just after the last played audio sample
        self._prefill_until = 0
        self._silence_until = 0  # frames before this timestamp were not sent (not lost)
        self._play_ts = 0
        self._play_pos = 0
        self._newest_end = 0
        self._t_ref = 0.0  # (arrival time, timestamp) reference of the current timeline
        self._ts_ref = 0
        self._last_transit: float | None = None
        self._goal = 0.0  # wanted playout offset P (samples)
        self._base = 0.0  # fastest recent transit
        self._p = 0.0  # playout offset at the last pop
        self._last_drop = -1e9
        self._pops_since_goal = 0
        self._oow = 0
        self._cn_active = False
        self._cn_ts = 0
        # After a pop that played received audio in its turn (no insert, drop or catch-up):
        # how far the playout offset was above the goal, in samples, i.e. how much earlier
        # this pop could have happened with the same packets on time (``ata.media.phase``).
        self.slack: float | None = None
        self._settled = False  # the goal has been computed from measured transits
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

    # -- timeline --------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (new source)."""
        self._have[:] = False
        self._started = False
        self._heard = False
        self._cn_active = False
        self._oow = 0
        self._window.reset()
        self._last_transit = None
        self._plc.reset()

    def _initial_delay(self) -> float:
        cfg = self.config
        if cfg.mode is JitterMode.FIXED:
            return float(cfg.fixed_delay_ms * 8)
        if cfg.mode is JitterMode.MINIMUM:
            return float(FRAME)
        return float(max(cfg.initial_delay_ms, cfg.min_delay_ms) * 8)

    def _new_timeline(self, ts: int, now: float) -> None:
        """A new sender timeline starts with this packet (start, jump, restart)."""
        if self._started:
            self._c["resyncs"] += 1
        self._t_ref = now
        self._ts_ref = ts
        self._window.reset()
        self._last_transit = None
        self._base = 0.0
        self._goal = self._initial_delay()
        self._settled = False
        self._heard = False if not self._started else self._heard
        self._anchor(ts, int(self._goal))

    def _anchor(self, ts: int, margin: int) -> None:
        """Playout continues so that ``ts`` is played ``margin`` samples from now."""
        self._have[:] = False
        self._play_ts = (ts - margin) & 0xFFFFFFFF
        self._newest_end = self._play_ts
        self._oow = 0
        self._started = True
        self._prefill_until = ts & 0xFFFFFFFF
        self._silence_until = self._play_ts

    def _transit(self, ts: int, now: float) -> float:
        return (now - self._t_ref) * 8000.0 - ts_delta(ts, self._ts_ref)

    def _buffered(self) -> int:
        return max(0, ts_delta(self._newest_end, self._play_ts))

    # -- input -----------------------------------------------------------------------------

    def put(
        self,
        timestamp: int,
        samples: Frame,
        now: float,
        *,
        in_order: bool = True,
        contiguous: bool = False,
    ) -> None:
        """Store decoded audio whose first sample has RTP ``timestamp``, arrived at ``now``.

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
            self._new_timeline(timestamp, now)
        transit = self._transit(timestamp, now)
        if in_order:
            jumped = self._last_transit is not None and abs(transit - self._last_transit) > _JUMP
            behind = self._heard and ts_delta(self._horizon, timestamp) >= n
            if jumped or behind:
                self._new_timeline(timestamp, now)
                self._horizon = timestamp
                transit = 0.0
            self._last_transit = transit
        if self._last_transit is None or abs(transit - self._last_transit) <= _JUMP:
            # Reordered and late packets count too: they are the ones the delay must cover.
            self._window.add(transit)
        d = ts_delta(timestamp, self._play_ts)
        want = max(int(self._goal - transit), 0)
        if self._buffered() == 0 and in_order and abs(d - want) >= FRAME:
            if d + n <= 0:
                self._on_late()
            self._anchor(timestamp, want)
            d = want
        elif d + n <= 0:
            if -d > self.config.max_late_ms * 8:
                self._out_of_window(timestamp, now, in_order)
                return
            self._on_late()
            self._c["discarded"] += 1
            return
        elif d + n > self.config.capacity_ms * 8:
            if not self._out_of_window(timestamp, now, in_order):
                return
            d = ts_delta(timestamp, self._play_ts)
        self._oow = 0
        skip = 0
        if d < 0:  # partially late: keep the part still to be played
            skip = -d
            self._on_late()
        if self._heard:
            # Never play a sample twice: anything at or before the last played sample goes.
            back = ts_delta(self._horizon, timestamp)
            if 0 < back <= self.config.max_late_ms * 8:
                skip = max(skip, back)
        if skip >= n:
            self._c["duplicates"] += 1
            return
        d += skip
        self._store(timestamp, samples, d, skip, in_order=in_order, contiguous=contiguous)

    def _store(
        self, timestamp: int, samples: Frame, d: int, skip: int, *, in_order: bool, contiguous: bool
    ) -> None:
        n = len(samples)
        pos = (self._play_pos + d) % RING
        end = pos + n - skip
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

    def _out_of_window(self, timestamp: int, now: float, in_order: bool) -> bool:
        """Count an out-of-window packet; True when the timeline was restarted on it."""
        self._c["discarded"] += 1
        if not in_order:
            return False
        self._oow += 1
        if self._oow >= 2:
            self._new_timeline(timestamp, now)
            self._window.add(0.0)
            self._last_transit = 0.0
            return True
        return False

    def put_cn(
        self, timestamp: int, level: int, reflection: tuple[float, ...] = (), now: float = 0.0
    ) -> None:
        """An RFC 3389 CN packet: comfort noise replaces missing audio from ``timestamp``."""
        self._noise.set_params(level, reflection)
        if not self._started:
            self._new_timeline(timestamp, now)
        self._cn_active = True
        self._cn_ts = timestamp

    def _on_late(self) -> None:
        self._c["late"] += 1
        self._update_goal()

    # -- delay goal ------------------------------------------------------------------------

    def _update_goal(self) -> None:
        w = self._window
        if w.count == 0:
            return
        cfg = self.config
        if cfg.mode is JitterMode.MINIMUM:
            recent = w.recent(_MIN_WINDOW)
        else:
            recent = w.recent(_WINDOW)
        base = float(recent.min())
        self._base = base
        if cfg.mode is JitterMode.FIXED:
            self._goal = base + cfg.fixed_delay_ms * 8
            return
        if cfg.mode is JitterMode.MINIMUM:
            estimate = quantile(recent, 0.95)
        else:
            estimate = max(quantile(recent, 0.99), min(w.last)) + _GUARD
        low = base + cfg.min_delay_ms * 8
        high = base + cfg.max_delay_ms * 8
        self._goal = min(max(estimate, low), high)
        self._settled = w.count >= _SETTLED

    # -- output ----------------------------------------------------------------------------

    def pop(self, now: float) -> tuple[Frame, FrameKind]:
        """The next 20 ms frame to play."""
        self._c["played"] += 1
        self.slack = None
        if not self._started:
            return np.zeros(FRAME, dtype=np.int16), FrameKind.SILENCE
        self._pops_since_goal += 1
        if self._pops_since_goal >= _GOAL_EVERY:
            self._pops_since_goal = 0
            self._update_goal()
        p = (now - self._t_ref) * 8000.0 - ts_delta(self._play_ts, self._ts_ref)
        err = p - self._goal
        if err >= _CATCH_UP:
            # Far behind (the caller stalled, or a burst arrived): jump, do not crawl.
            p -= self._skip(int(err // FRAME))
            err = p - self._goal
        self._p = p
        if err < 0 and self._heard:
            self._c["inserted"] += 1
            return self._missing(count_loss=False)
        if err >= FRAME + _HYSTERESIS and now - self._last_drop >= self._drop_interval():
            dropped = self._try_drop()
            if dropped is not None:
                self._last_drop = now
                return dropped
        frame, kind = self._play_next()
        if kind is FrameKind.AUDIO and self._settled:
            self.slack = err
        return frame, kind

    def _skip(self, frames: int) -> int:
        """Discard ``frames`` frames at the playout point; returns the samples skipped."""
        if frames * FRAME >= RING:
            self._have[:] = False
        else:
            pos = self._play_pos
            for _ in range(frames):
                self._have[pos : pos + FRAME] = False
                pos = (pos + FRAME) % RING
        self._play_ts = (self._play_ts + frames * FRAME) & 0xFFFFFFFF
        self._play_pos = (self._play_pos + frames * FRAME) % RING
        self._c["dropped"] += frames
        return frames * FRAME

    def _drop_interval(self) -> float:
        if self.config.mode is JitterMode.MINIMUM:
            return 0.2
        if self.config.mode is JitterMode.FIXED:
            return 1.0
        return self.config.shrink_after_s

    def _play_next(self) -> tuple[Frame, FrameKind]:
        pos = self._play_pos
        have = self._have[pos : pos + FRAME]
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

    def _try_drop(self) -> tuple[Frame, FrameKind] | None:
        """Skip one frame: splice two present frames, or skip one during silence."""
        a_pos = self._play_pos
        b_pos = (a_pos + FRAME) % RING
        a_have = self._have[a_pos : a_pos + FRAME]
        b_have = self._have[b_pos : b_pos + FRAME]
        if a_have.all() and b_have.all():
            self._c["dropped"] += 1
            return self._drop_and_splice()
        if not a_have.any() and not b_have.any() and self._buffered() == 0:
            self._c["dropped"] += 1
            self._advance()
            result = self._missing(count_loss=False)
            self._advance()
            return result
        return None

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
        self._heard = True
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
        if not self.config.plc:
            return np.zeros(FRAME, dtype=np.int16), FrameKind.CONCEALED
        return self._plc.conceal(FRAME), FrameKind.CONCEALED

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> JitterStats:
        c = self._c
        started = self._started and self._window.count > 0
        return JitterStats(
            delay_ms=max(0.0, self._p - self._base) / 8.0 if started else 0.0,
            target_ms=max(0.0, self._goal - self._base) / 8.0 if started else 0.0,
            buffered_ms=self._buffered() / 8.0 if self._started else 0.0,
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
