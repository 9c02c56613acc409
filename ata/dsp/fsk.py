"""Phase-continuous binary FSK at 1200 bit/s (Bell 202 and V.23) with UART framing.

Theory of operation
-------------------
*Modulator.* A phase accumulator runs across calls, so consecutive bits (and consecutive calls)
never jump in phase. Bit boundaries fall on fractional sample times (8000/1200 = 6⅔ samples per
bit); a running bit clock, also kept across calls, decides which bit each sample belongs to.

*Demodulator.* Non-coherent correlation receiver:

1. a linear-phase FIR band-pass (about 300 Hz outside the two tones) removes out-of-band noise,
   hum and the echo of ringing;
2. the signal is mixed with the mark and with the space frequency and each product is summed
   over one bit period (a sliding integrate-and-dump, i.e. a matched filter for a tone bit);
3. the soft bit is ``(|M|² − |S|²) / (|M|² + |S|²)``: +1 for mark, −1 for space, independent
   of the level, so one receiver works from 0 to −45 dBm0;
4. a UART finds each start bit as a mark→space crossing (interpolated to a fraction of a
   sample), checks the start bit at its centre, samples the 8 data bits (LSB first) and the stop
   bit at their centres, and resynchronises on every character, so sender clock offsets and
   inter-character gaps do not matter.

Each character reports how many mark bits preceded it (``idle_bits``), which is how the caller
ID layer finds the start of a message after the channel seizure and mark signal. A carrier
detector (in-band power over a threshold) gates the UART; losing the carrier resets the idle
count.

Everything is numpy on whole blocks; state carried between blocks is a few arrays of history,
so feeding 160-sample frames and feeding a whole file give the same characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import SAMPLE_RATE, FloatSamples, dbm0_to_amplitude


@dataclass(frozen=True)
class FskSpec:
    """An FSK modem: mark (binary 1) and space (binary 0) frequencies and the bit rate."""

    name: str
    mark_hz: float
    space_hz: float
    baud: float = 1200.0


BELL202: Final = FskSpec("bell202", 1200.0, 2200.0)
V23: Final = FskSpec("v23", 1300.0, 2100.0)


class FskModulator:
    """Phase-continuous FSK modulator producing float samples (16-bit scale)."""

    def __init__(self, spec: FskSpec, level_dbm0: float = -13.5) -> None:
        self.spec = spec
        self.amplitude = dbm0_to_amplitude(level_dbm0)
        self._phase = 0.0  # radians, carried across calls
        self._bit_clock = 0  # next sample's position into the next bit, in 1/SAMPLE_RATE bits

    def modulate(self, bits: npt.ArrayLike) -> FloatSamples:
        """Modulate a sequence of 0/1 bits; returns however many samples they span."""
        b = np.asarray(bits, dtype=np.int8).ravel()
        if b.size == 0:
            return np.zeros(0)
        # Exact integer bit timing: positions in units of 1/SAMPLE_RATE of a bit.
        baud = round(self.spec.baud)
        span = b.size * SAMPLE_RATE - self._bit_clock
        n_samples = max(0, -(-span // baud))
        idx = (self._bit_clock + np.arange(n_samples, dtype=np.int64) * baud) // SAMPLE_RATE
        freq = np.where(b[idx] != 0, self.spec.mark_hz, self.spec.space_hz)
        step = 2.0 * np.pi * freq / SAMPLE_RATE
        phases = self._phase + np.cumsum(step) - step
        out = self.amplitude * np.sin(phases)
        if n_samples:
            self._phase = float((phases[-1] + step[-1]) % (2.0 * np.pi))
        self._bit_clock = self._bit_clock + n_samples * baud - b.size * SAMPLE_RATE
        return np.asarray(out, dtype=np.float64)


def uart_bits(data: bytes, *, stop_bits: int = 1) -> npt.NDArray[np.int8]:
    """Asynchronous framing: per byte one start bit (0), 8 data bits LSB first, stop bits (1)."""
    if not data:
        return np.zeros(0, dtype=np.int8)
    arr = np.frombuffer(data, dtype=np.uint8)
    bits = ((arr[:, None] >> np.arange(8)) & 1).astype(np.int8)
    frame = np.concatenate(
        [np.zeros((arr.size, 1), np.int8), bits, np.ones((arr.size, stop_bits), np.int8)], axis=1
    )
    return frame.ravel()


def _lowpass(cutoff_hz: float, taps: int) -> npt.NDArray[np.float64]:
    n = np.arange(taps) - (taps - 1) / 2.0
    h = 2.0 * cutoff_hz / SAMPLE_RATE * np.sinc(2.0 * cutoff_hz / SAMPLE_RATE * n)
    return np.asarray(h * np.hamming(taps), dtype=np.float64)


def bandpass_taps(low_hz: float, high_hz: float, taps: int = 31) -> npt.NDArray[np.float64]:
    """Windowed-sinc linear-phase band-pass FIR (odd length)."""
    return _lowpass(high_hz, taps) - _lowpass(low_hz, taps)


@dataclass(frozen=True)
class FskChar:
    """One received character."""

    value: int
    framing_ok: bool
    idle_bits: float  # mark bits (carrier on) between the previous character and this one
    start: float  # sample index (since the demodulator began) of the start bit edge


_FIR_TAPS: Final = 31
_CARRIER_ON_DBM0: Final = -46.0  # in-band power that counts as carrier
_KEEP: Final = 160  # soft samples kept behind the UART read position


class FskDemodulator:
    """Streaming FSK receiver: ``push(samples)`` returns the characters completed so far."""

    def __init__(self, spec: FskSpec, *, carrier_dbm0: float = _CARRIER_ON_DBM0) -> None:
        self.spec = spec
        lo = min(spec.mark_hz, spec.space_hz) - 350.0
        hi = max(spec.mark_hz, spec.space_hz) + 350.0
        self._fir = bandpass_taps(lo, hi, _FIR_TAPS)
        self._spb = SAMPLE_RATE / spec.baud
        self._win = round(self._spb)
        self._hist = np.zeros(_FIR_TAPS - 1 + self._win - 1)
        self._n_in = 0  # samples consumed so far
        # Soft decisions and carrier flags, indexed from self._base.
        self._soft = np.zeros(0)
        self._carrier = np.zeros(0, dtype=bool)
        self._base = 0
        self._pos = 0.0  # absolute sample index from which to look for the next start bit
        self._idle_from: float | None = None  # absolute time the current mark run began
        amp = dbm0_to_amplitude(carrier_dbm0)
        self._carrier_thr = (amp * self._win / 2.0) ** 2  # |M|²+|S|² of a tone at that level
        self._wm = 2.0 * np.pi * spec.mark_hz / SAMPLE_RATE
        self._ws = 2.0 * np.pi * spec.space_hz / SAMPLE_RATE
        self.framing_errors = 0
        # Group delay from input sample to soft output: FIR + centred bit integrator.
        self.delay = (_FIR_TAPS - 1) / 2.0 + (self._win - 1) / 2.0

    def _soft_block(self, x: FloatSamples) -> tuple[FloatSamples, npt.NDArray[np.bool_]]:
        buf = np.concatenate([self._hist, x])
        self._hist = buf[-self._hist.size :].copy()
        y = np.convolve(buf, self._fir, mode="valid")  # len = x.size + win - 1
        # Absolute index of y[0] (as input sample index) for coherent mixing phases.
        n0 = self._n_in - (self._win - 1)
        n = n0 + np.arange(y.size)
        cm = y * np.exp(-1j * ((self._wm * n) % (2 * np.pi)))
        cs = y * np.exp(-1j * ((self._ws * n) % (2 * np.pi)))
        k = np.ones(self._win)
        sm = np.convolve(cm, k, mode="valid")
        ss = np.convolve(cs, k, mode="valid")
        pm = sm.real**2 + sm.imag**2
        ps = ss.real**2 + ss.imag**2
        tot = pm + ps
        soft = (pm - ps) / (tot + 1e-9)
        self._n_in += x.size
        return soft, tot > self._carrier_thr

    def push(self, samples: npt.ArrayLike) -> list[FskChar]:
        x = np.asarray(samples, dtype=np.float64).ravel()
        if x.size == 0:
            return []
        soft, carrier = self._soft_block(x)
        self._soft = np.concatenate([self._soft, soft])
        self._carrier = np.concatenate([self._carrier, carrier])
        out = self._uart()
        # Trim history that the UART can no longer need.
        drop = int(self._pos) - self._base - _KEEP
        if drop > 0:
            self._soft = self._soft[drop:]
            self._carrier = self._carrier[drop:]
            self._base += drop
        return out

    def _at(self, t: float) -> float:
        """Soft value at absolute (fractional) time t, linearly interpolated."""
        i = t - self._base
        i0 = math.floor(i)
        f = i - i0
        s = self._soft
        return float(s[i0] * (1.0 - f) + s[i0 + 1] * f)

    def _carrier_at(self, t: float) -> bool:
        """Whether the carrier detector was on at absolute time t."""
        i = round(t) - self._base
        return 0 <= i < self._carrier.size and bool(self._carrier[i])

    def _uart(self) -> list[FskChar]:
        out: list[FskChar] = []
        s, c = self._soft, self._carrier
        spb = self._spb
        end = self._base + s.size  # first absolute index not yet available
        need = 9.5 * spb + 2.0
        while True:
            start_i = max(math.ceil(self._pos) - self._base, 1)
            if start_i >= s.size:
                break
            seg = s[start_i:]
            prev = s[start_i - 1 : -1]
            cand = np.flatnonzero((seg < 0) & (prev >= 0) & c[start_i:])
            # Carrier lost anywhere before the candidate: the mark run restarts.
            off = np.flatnonzero(~c[start_i:])
            if cand.size == 0:
                if off.size:
                    self._idle_from = None
                # Keep waiting from the last sample (it may become an edge's "prev").
                self._pos = float(self._base + s.size - 1)
                if self._idle_from is None:
                    on = np.flatnonzero(c[start_i:])
                    if on.size and (not off.size or on[-1] > off[-1]):
                        first_on = on[0] if not off.size else off[-1] + 1
                        self._idle_from = float(self._base + start_i + first_on)
                break
            i = start_i + int(cand[0])
            if off.size and off[0] < cand[0]:
                self._idle_from = float(self._base + start_i + int(off[off < cand[0]][-1]) + 1)
            a, b = float(s[i - 1]), float(s[i])
            edge = self._base + (i - 1) + a / (a - b)
            if edge + need >= end:
                self._pos = float(self._base + i - 1)
                break
            if self._at(edge + 0.5 * spb) >= 0.0:  # glitch, not a start bit
                self._pos = float(self._base + i + 1)
                continue
            if not self._carrier_at(edge + 9.5 * spb):
                # The carrier ended inside this "character": the drop from mark to silence at
                # the end of a burst looks like a start bit; it is not one.
                self._pos = float(self._base + i + 1)
                continue
            value = 0
            for k in range(8):
                if self._at(edge + (k + 1.5) * spb) > 0.0:
                    value |= 1 << k
            stop_ok = self._at(edge + 9.5 * spb) > 0.0
            idle_from = self._idle_from if self._idle_from is not None else edge
            idle = max(0.0, (edge - idle_from) / spb)
            out.append(FskChar(value, stop_ok, idle, edge))
            if not stop_ok:
                self.framing_errors += 1
            self._idle_from = edge + 10.0 * spb
            self._pos = edge + 9.0 * spb
        return out
