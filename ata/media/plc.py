"""Packet loss concealment in the style of ITU-T G.711 Appendix I (pitch waveform repetition).

Theory of operation
-------------------
:class:`Plc` sees every frame that is played. Good frames go through :meth:`Plc.good`, which
keeps the last 390 samples (3 × the longest pitch period + the overlap) as history. When a
frame is missing, :meth:`Plc.conceal` synthesises one:

* on the first missing frame the pitch period is estimated by normalised cross-correlation
  of the last 20 ms against the history, over 40..120 samples (66–200 Hz), coarse search
  at 2:1 then refined;
* the synthetic signal repeats the last pitch period; after 10 ms of erasure the last two
  periods, after 20 ms the last three (the repetition buffer grows to avoid a buzzy tone);
  each wrap of the buffer is smoothed with a ¼-period triangular overlap-add;
* the first 10 ms play at full level, then the level falls linearly by 20 % per 10 ms, so it
  reaches silence at 60 ms; after that silence is returned;
* the start of the erasure is joined to the last real sample by a decaying offset correction
  (no algorithmic delay is added to good frames);
* the first good frame after an erasure is overlap-added with the continuation of the
  synthetic signal over 4 ms, plus 4 ms per further 10 ms erased (at most 10 ms).

Everything is float64 numpy on 160-sample frames; a frame costs a few tens of µs.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import FRAME_SAMPLES

__all__ = ["Plc"]

PITCH_MIN: Final = 40
PITCH_MAX: Final = 120
OVERLAP_MAX: Final = PITCH_MAX // 4
HISTORY: Final = 3 * PITCH_MAX + OVERLAP_MAX  # 390
CORR_LEN: Final = 160
ATTENUATE_START: Final = 80  # samples (10 ms) at full level
SILENT_AFTER: Final = 480  # samples (60 ms)
JOIN_SMOOTH: Final = 8  # samples (1 ms) of slope-continuous cross-fade at an erasure's start

Frame = npt.NDArray[np.int16]


class Plc:
    """G.711 Appendix I style concealment for 8 kHz, 160-sample frames."""

    __slots__ = ("_buf", "_erased", "_hist", "_periods", "_phase", "_pitch", "concealed")

    def __init__(self) -> None:
        self._hist = np.zeros(HISTORY, dtype=np.float64)
        self._erased = 0  # samples concealed in the current erasure
        self._pitch = PITCH_MAX
        self._periods = 0
        self._buf = np.zeros(PITCH_MAX, dtype=np.float64)
        self._phase = 0
        self.concealed = 0  # frames concealed since creation

    @property
    def in_erasure(self) -> bool:
        return self._erased > 0

    def reset(self) -> None:
        self._hist[:] = 0.0
        self._erased = 0

    # -- good frames ------------------------------------------------------------------------

    def good(self, frame: Frame) -> Frame:
        """Record a received frame; returns it (overlap-added if it ends an erasure)."""
        x = frame.astype(np.float64)
        if not self._erased:
            self._push(x)
            return frame
        ov = 0 if self._erased >= SILENT_AFTER else min(32 + 32 * ((self._erased - 1) // 80), 80)
        ov = min(ov, len(x))
        if ov:
            tail = self._synth(ov) * _gain(self._erased, ov)
            w = np.arange(1, ov + 1, dtype=np.float64) / (ov + 1)
            x[:ov] = x[:ov] * w + tail * (1.0 - w)
        self._erased = 0
        self._push(x)
        return _to_int16(x)

    def _push(self, x: npt.NDArray[np.float64]) -> None:
        n = len(x)
        if n >= HISTORY:
            self._hist[:] = x[-HISTORY:]
        else:
            self._hist[:-n] = self._hist[n:]
            self._hist[-n:] = x

    # -- concealment ------------------------------------------------------------------------

    def conceal(self, n: int = FRAME_SAMPLES) -> Frame:
        """A synthetic frame for a missing one."""
        self.concealed += 1
        if self._erased >= SILENT_AFTER:
            self._erased += n
            return np.zeros(n, dtype=np.int16)
        first = self._erased == 0
        join = 0.0
        if first:
            self._pitch = _find_pitch(self._hist)
            self._periods = 0
            self._set_periods(1)
            # Offset between the last real sample and the sample the periodic model puts
            # there; removed progressively over a quarter period so the join has no step.
            join = float(self._hist[-1] - self._hist[-self._pitch - 1])
        out = np.empty(n, dtype=np.float64)
        done = 0
        while done < n:
            # Grow the repetition buffer at 10 ms and 20 ms into the erasure.
            if self._erased < 80:
                boundary = 80
            elif self._erased < 160:
                boundary = 160
            else:
                boundary = self._erased + n
            step = min(n - done, boundary - self._erased)
            out[done : done + step] = self._synth(step) * _gain(self._erased, step)
            self._erased += step
            done += step
            if self._erased == 80 and self._periods < 2:
                self._set_periods(2)
            elif self._erased == 160 and self._periods < 3:
                self._set_periods(3)
        if first:
            # 1. Remove the offset between the last real sample and the sample the periodic
            #    model puts there, progressively over a quarter period (no step).
            ov = min(max(self._pitch // 4, 1), n)
            out[:ov] += join * (1.0 - np.arange(ov, dtype=np.float64) / ov)
            # 2. Cross-fade from a straight-line continuation of the real signal (last value
            #    and slope) over 1 ms, so the join has no kink either. No delay is added to
            #    good frames.
            short = min(JOIN_SMOOTH, n)
            last = float(self._hist[-1])
            slope = last - float(self._hist[-2])
            steps = np.arange(1, short + 1, dtype=np.float64)
            w = steps / (short + 1)
            out[:short] = (1.0 - w) * (last + slope * steps) + w * out[:short]
        return _to_int16(out)

    def _set_periods(self, periods: int) -> None:
        p = self._pitch
        length = p * periods
        ov = max(p // 4, 1)
        buf = self._hist[-length:].copy()
        # Make the buffer cyclically smooth: its end fades into the samples that precede its
        # start, so wrapping from the end back to the start is continuous.
        pre = self._hist[-length - ov : -length]
        w = np.arange(1, ov + 1, dtype=np.float64) / (ov + 1)
        buf[-ov:] = buf[-ov:] * (1.0 - w) + pre * w
        if self._periods == 0 or periods == 1:
            self._phase = 0
        else:
            self._phase %= length
        self._buf = buf
        self._periods = periods

    def _synth(self, n: int) -> npt.NDArray[np.float64]:
        length = len(self._buf)
        idx = (self._phase + np.arange(n)) % length
        self._phase = (self._phase + n) % length
        return self._buf[idx]


def _gain(start: int, n: int) -> npt.NDArray[np.float64]:
    """Attenuation for samples start..start+n of an erasure: 1 until 10 ms, 0 at 60 ms."""
    t = np.arange(start, start + n, dtype=np.float64)
    g = 1.0 - (t - ATTENUATE_START) / (SILENT_AFTER - ATTENUATE_START)
    return np.clip(g, 0.0, 1.0)


def _find_pitch(hist: npt.NDArray[np.float64]) -> int:
    """Pitch period in samples (40..120) maximising normalised cross-correlation.

    All lags at once: one ``np.correlate`` of the last 20 ms against the 35 ms before it, and
    the segment energies from a cumulative sum of squares.
    """
    target = hist[-CORR_LEN:]
    if float(np.dot(target, target)) <= 1e-6:
        return PITCH_MAX
    window = hist[-(CORR_LEN + PITCH_MAX) :]
    corr = np.correlate(window[: len(window) - PITCH_MIN], target, mode="valid")
    sq = np.concatenate(([0.0], np.cumsum(window * window)))
    energy = sq[CORR_LEN : CORR_LEN + len(corr)] - sq[: len(corr)]
    score = np.where(energy > 1e-6, corr / np.sqrt(np.maximum(energy, 1e-6)), -np.inf)
    # corr[i] compares the segment starting at i, i.e. lag PITCH_MAX - i.
    best = int(np.argmax(score[::-1]))  # prefer the shortest lag on ties
    return PITCH_MIN + best


def _to_int16(x: npt.NDArray[np.float64]) -> Frame:
    out: Frame = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out
