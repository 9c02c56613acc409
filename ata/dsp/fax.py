"""Fax and modem tone detection: CNG, CED/ANS (± phase reversals, ± 15 Hz AM), V.21 preamble.

Theory of operation
-------------------
The ATA watches the line in both directions during a call. When a fax or modem shows up it must
switch the media path to pass-through (fixed jitter buffer, no comfort noise) and, *only* for a
2100 Hz answer tone with phase reversals (ANS/ or ANSam/, G.165/G.168), disable the echo
canceller. Three signals are recognised:

- **CNG** (T.30 calling tone): 1100 Hz ± 38 Hz bursts of 0.5 s (±15 %) every 3 s. Reported when
  a burst of the right length ends (:class:`CallingTone`).
- **CED / ANS** (V.25 / V.8 answer tone): 2100 Hz ± 15 Hz for 2.6–4 s, optionally with a 180°
  phase reversal every 450 ± 25 ms and/or 20 % amplitude modulation at 15 Hz (ANSam).
  Reported after 500 ms of steady tone (:class:`AnswerTone`, with ``phase_reversals`` and
  ``amplitude_modulated``) and reported again, upgraded, when the first phase reversal is seen
  later. :attr:`FaxToneDetector.disable_echo_canceller` follows the reversals.
- **V.21 preamble** (T.30 HDLC flags at 300 bit/s, channel 2: mark 1650 Hz = 1, space
  1850 Hz = 0): reported after four flags (:class:`V21Preamble`).

Tones are analysed in 5 ms sub-blocks with :class:`BlockDft` (absolute phase reference): a tone
is present in a sub-block when its bin holds most of the sub-block's energy, at least −43 dBm0;
its frequency comes from the phase advance between sub-blocks; a phase reversal is a π jump
of the 2100 Hz phase across three sub-blocks while the tone stays present on both sides.
V.21 is demodulated per sample: mix to 1750 Hz, a 16-sample moving average (its nulls at
multiples of 500 Hz remove the 3500 Hz image), instantaneous frequency sign = bit; a flag
stream is a run pattern of six marks then two spaces (``…0111111001111110…``), so the
detector counts runs of the right lengths (26.7 samples per bit) rather than recovering a
bit clock.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.goertzel import BlockDft, dbm0_to_power
from ata.dsp.levels import SAMPLE_RATE

SUB: Final = 40
_F_CNG: Final = 1100.0
_F_ANS: Final = 2100.0
_BIT: Final = SAMPLE_RATE / 300.0  # samples per V.21 bit (26.67)
_MA: Final = 16  # V.21 moving-average length
_LAG: Final = 8  # V.21 frequency discriminator lag (samples)
FRAME: Final = 160


@dataclass(frozen=True, slots=True)
class CallingTone:
    """A CNG burst (1100 Hz) of the right length ended."""

    start_sample: int
    end_sample: int
    detected_at: int


@dataclass(frozen=True, slots=True)
class AnswerTone:
    """A 2100 Hz answer tone (CED/ANS/ANSam); re-sent when reversals are first seen."""

    start_sample: int
    detected_at: int
    phase_reversals: bool
    amplitude_modulated: bool

    @property
    def name(self) -> str:
        base = "ANSam" if self.amplitude_modulated else "ANS"
        return base + ("/" if self.phase_reversals else "")


@dataclass(frozen=True, slots=True)
class AnswerToneEnded:
    start_sample: int
    end_sample: int


@dataclass(frozen=True, slots=True)
class V21Preamble:
    """HDLC flags at 300 bit/s on V.21 channel 2 (T.30 preamble)."""

    start_sample: int
    detected_at: int
    flags: int


FaxEvent = CallingTone | AnswerTone | AnswerToneEnded | V21Preamble


@dataclass(slots=True)
class _ToneTrack:
    """Run of sub-blocks in which one tone is present."""

    start: int = -1  # sub-block index of the run start, −1 = no run
    last: int = -1  # last sub-block with the tone
    misses: int = 0


class FaxToneDetector:
    """Streaming detector: ``process(samples) -> [FaxEvent, ...]`` (sample clock from 0)."""

    def __init__(self, *, min_level_dbm0: float = -43.0) -> None:
        self._dft = BlockDft((_F_CNG, _F_ANS), SUB)
        self._min_power = dbm0_to_power(min_level_dbm0)
        self._pending = np.zeros(0, dtype=np.float64)
        self._sub = 0  # sub-blocks analysed
        self._cng = _ToneTrack()
        self._ans = _ToneTrack()
        self._ans_reported = False
        self._ans_history: list[complex] = []  # 2100 Hz bins of the current run
        self._reversals: list[int] = []
        self._am = False
        self.disable_echo_canceller = False
        self._report_pending = False  # reversals seen after the first report: report again
        # V.21 state
        self._n = 0  # samples consumed by the V.21 demodulator
        self._mix_tail = np.zeros(_MA, dtype=np.complex128)
        self._prev = np.zeros(_LAG, dtype=np.complex128)
        self._bit = -1  # current hard decision (1 mark, 0 space, −1 no carrier)
        self._run_start = 0
        self._flags = 0
        self._flags_start = 0
        self._v21_reported = False
        # Mixer phase for 1750 Hz repeats every 32 samples (1750·32/8000 = 7 cycles).
        k = np.arange(32)
        self._lo = np.exp(-2j * np.pi * 1750.0 * k / SAMPLE_RATE)
        t = np.arange(FRAME) / SAMPLE_RATE
        self._band = np.exp(-2j * np.pi * np.outer((1650.0, 1750.0, 1850.0), t))

    def process(self, samples: npt.ArrayLike) -> list[FaxEvent]:
        x = np.asarray(samples, dtype=np.float64)
        events: list[FaxEvent] = []
        self._v21(x, events)
        if self._pending.shape[0]:
            x = np.concatenate((self._pending, x))
        whole = x.shape[0] // SUB * SUB
        self._pending = x[whole:].copy()
        if whole:
            self._tones(x[:whole], events)
        return events

    # -- CNG and answer tone -------------------------------------------------------------------

    def _tones(self, x: npt.NDArray[np.float64], events: list[FaxEvent]) -> None:
        n = x.shape[0] // SUB
        z = self._dft.analyse(x)
        r = x.reshape(n, SUB)
        energy = np.einsum("ij,ij->i", r, r)
        power = np.abs(z) ** 2 * (2.0 / (SUB * SUB))  # sine power per bin
        share = power / np.maximum(energy / SUB, 1e-9)[:, None]
        loud = energy / SUB >= self._min_power
        if self._cng.start < 0 and self._ans.start < 0 and not (loud & (share >= 0.7).any(1)).any():
            self._sub += n  # nothing started and nothing to start: skip the per-block walk
            return
        for i in range(n):
            b = self._sub
            self._sub += 1
            e = float(energy[i]) / SUB
            cng = e >= self._min_power and float(share[i, 0]) >= 0.7
            ans = e >= self._min_power and float(share[i, 1]) >= 0.7
            self._track_cng(b, cng, events)
            self._track_ans(b, ans, complex(z[i, 1]), events)

    def _track_cng(self, b: int, present: bool, events: list[FaxEvent]) -> None:
        t = self._cng
        if present:
            if t.start < 0:
                t.start = b
            t.last, t.misses = b, 0
            return
        if t.start < 0:
            return
        t.misses += 1
        if t.misses < 4:  # 20 ms hangover
            return
        dur_ms = (t.last + 1 - t.start) * SUB * 1000 / SAMPLE_RATE
        if 375.0 <= dur_ms <= 700.0:
            events.append(CallingTone(t.start * SUB, (t.last + 1) * SUB, (b + 1) * SUB))
        t.start = -1

    def _track_ans(self, b: int, present: bool, z: complex, events: list[FaxEvent]) -> None:
        t = self._ans
        if present or (t.start >= 0 and t.misses < 2 and abs(z) > 0.0):
            # A reversal dents one sub-block: tolerate two weak ones inside a run.
            if t.start < 0:
                t.start, self._ans_history, self._reversals = b, [], []
                self._ans_reported, self._am = False, False
            if present:
                t.last, t.misses = b, 0
            else:
                t.misses += 1
            self._ans_history.append(z)
            if len(self._ans_history) > 400:  # a stuck tone must not grow memory
                del self._ans_history[:-200]
            self._check_reversal(b)
            self._check_report(b, events)
            return
        if t.start < 0:
            return
        if self._ans_reported:
            events.append(AnswerToneEnded(t.start * SUB, (t.last + 1) * SUB))
        t.start, t.misses = -1, 0
        self._ans_history = []

    def _check_reversal(self, b: int) -> None:
        h = self._ans_history
        if len(h) < 8:
            return
        # Typical per-sub-block phase step (frequency offset) from earlier sub-blocks.
        steps = [cmath.phase(h[k] * h[k - 1].conjugate()) for k in range(len(h) - 7, len(h) - 3)]
        step = sorted(steps)[len(steps) // 2]
        if abs(step) > 2 * math.pi * 25.0 * SUB / SAMPLE_RATE:
            return  # not within 2100 ± 25 Hz
        jump = cmath.phase(h[-1] * h[-4].conjugate() * cmath.exp(-3j * step))
        if abs(abs(jump) - math.pi) < 0.6 and (not self._reversals or b - self._reversals[-1] > 40):
            self._reversals.append(b)
            if self._ans_reported and not self.disable_echo_canceller:
                self.disable_echo_canceller = True
                self._report_pending = True

    def _check_report(self, b: int, events: list[FaxEvent]) -> None:
        t = self._ans
        run_ms = (b + 1 - t.start) * SUB * 1000 / SAMPLE_RATE
        if not self._ans_reported and run_ms >= 500.0 and self._on_frequency():
            self._am = self._modulated()
            self._ans_reported = True
            self.disable_echo_canceller = bool(self._reversals)
            events.append(AnswerTone(t.start * SUB, (b + 1) * SUB, bool(self._reversals), self._am))
        elif self._report_pending:
            self._report_pending = False
            events.append(AnswerTone(t.start * SUB, (b + 1) * SUB, True, self._am))

    def _on_frequency(self) -> bool:
        """The tone is 2100 ± 25 Hz (V.25: ± 15 Hz), from the median phase step."""
        h = self._ans_history[-60:]
        steps = sorted(cmath.phase(h[k] * h[k - 1].conjugate()) for k in range(1, len(h)))
        if not steps:
            return False
        hz = steps[len(steps) // 2] * SAMPLE_RATE / (2 * math.pi * SUB)
        return abs(hz) <= 25.0

    def _modulated(self) -> bool:
        """ANSam: the 2100 Hz envelope carries ≥ 10 % of 15 Hz modulation."""
        env = np.abs(np.asarray(self._ans_history[-80:]))
        if env.shape[0] < 60:
            return False
        med = float(np.median(env))
        env = np.minimum(env, 1.5 * med)
        low = env < 0.6 * med  # sub-blocks dented by a phase reversal
        env[low] = med
        t = np.arange(env.shape[0]) * SUB / SAMPLE_RATE
        c = np.abs(np.mean((env - env.mean()) * np.exp(-2j * np.pi * 15.0 * t)))
        return bool(2.0 * c / max(float(env.mean()), 1e-9) >= 0.1)

    # -- V.21 channel 2 preamble -------------------------------------------------------------

    def _v21(self, x: npt.NDArray[np.float64], events: list[FaxEvent]) -> None:
        count = x.shape[0]
        if count == 0:
            return
        idx = (self._n + np.arange(count)) % 32
        if count == FRAME and self._bit == -1:
            # Gate: demodulate only when the 1650/1850 Hz band carries a good part of the power.
            band = np.abs(self._band @ x) ** 2 * (2.0 / (FRAME * FRAME))
            frame_power = float(x @ x) / FRAME
            if frame_power < self._min_power or float(band.sum()) < 0.2 * frame_power:
                self._mix_tail = x[-_MA:] * self._lo[idx[-_MA:]]
                self._prev = np.zeros(_LAG, dtype=np.complex128)
                self._run_start = self._n + count
                self._n += count
                return
        mixed = np.concatenate((self._mix_tail, x * self._lo[idx]))
        csum = np.cumsum(mixed)
        base = np.concatenate(([0j], csum[:-_MA]))
        y = (csum[_MA - 1 :] - base)[1:]  # moving sums ending at each new sample
        self._mix_tail = mixed[-_MA:]
        # Phase advance over 8 samples (±0.63 rad at ±100 Hz): averaging over 8 samples keeps
        # the residual 3400/3600 Hz image from flipping the sign.
        ext = np.concatenate((self._prev, y))
        self._prev = ext[-_LAG:]
        inst = np.angle(y * np.conj(ext[:-_LAG]))  # −: 1650 Hz (mark), +: 1850 Hz (space)
        # Carrier present: the band around 1750 Hz holds most of the power.
        mag2 = np.abs(y) ** 2 / (_MA * _MA / 4.0)  # ≈ sine power in band
        local = np.convolve(x * x, np.ones(_MA) / _MA, mode="same")
        carrier = (mag2 >= 0.5 * local) & (mag2 >= self._min_power)
        bits = np.where(carrier, (inst < 0).astype(np.int64), -1)
        change = np.flatnonzero(np.diff(np.concatenate(([self._bit], bits))))
        for pos in change.tolist():
            self._run_end(self._n + pos, int(bits[pos]), events)
        self._n += count

    def _run_end(self, at: int, new_bit: int, events: list[FaxEvent]) -> None:
        length = at - self._run_start
        old = self._bit
        self._bit, self._run_start = new_bit, at
        nbits = round(length / _BIT)
        if length < _BIT * 0.5:
            return  # glitch: keep counting (a short blip does not break the pattern)
        if old == 1 and nbits == 6:
            if self._flags == 0:
                self._flags_start = at - length - round(_BIT)
            self._flags += 1
            if self._flags >= 4 and not self._v21_reported:
                self._v21_reported = True
                events.append(V21Preamble(self._flags_start, at, self._flags))
        elif old == 0 and nbits in (1, 2):
            pass
        else:
            self._flags = 0
            if old == -1 and length > _BIT * 8:
                self._v21_reported = False  # carrier gone for a while: re-arm
