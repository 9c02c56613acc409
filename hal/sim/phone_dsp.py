"""The virtual phone's own small DSP: tone generation, DTMF/CAS detection, tone analysis.

Theory of operation
-------------------
This module is deliberately **independent of** ``ata.dsp`` (hal may not import ``ata``): the
virtual phone uses it to check what pi-ata sends, so a bug in pi-ata's DSP cannot hide itself
by being mirrored in the checker. It is written for clarity over speed, but vectorised per
frame so a phone costs little per 20 ms.

- Generation: :func:`tone` (sum of sines at dBm0 levels), :func:`dtmf_tone`, :func:`dtmf_sequence`.
- :class:`ToneDetector`: a streaming Goertzel bank on 102-sample blocks (12.75 ms; frequency
  resolution ≈ 78 Hz, enough for the 70 Hz DTMF spacing) over the eight DTMF frequencies and the
  two CAS / DT-AS frequencies (2130 + 2750 Hz). A block is a DTMF candidate when one row and one
  column tone stand clearly above the other tones of their group, carry at least 80 % of the
  block's energy, are at least ``min_level_dbm0`` each and within the twist limits (low group up
  to 8 dB stronger, high group up to 4 dB stronger, each with 0.5 dB of margin). Each tone is
  measured at its nominal frequency and ±1.2 % and the largest counts, so tones off by the
  ±1.5 % Q.24 requires are accepted. A tone covering only a fraction *c* of a
  block carries only *c* of its energy at the tone frequencies (the rest is silence or noise),
  so the 80 % rule also means "the block is ≥ 80 % covered". A digit is reported after two
  consecutive candidate blocks of steady level (so tones ≥ 40 ms are accepted and bursts
  ≤ 20 ms, which cannot cover two blocks by 80 %, are rejected) and ends after two blocks
  without it. CAS is reported after three consecutive CAS blocks (~38 ms of the 80–100 ms signal).
- Analysis: :func:`level_dbm0`, :func:`dominant_tones` (Hann-windowed, zero-padded FFT with
  parabolic peak interpolation; levels are sine-equivalent dBm0), :func:`on_off_segments`.

Levels follow ``ata/dsp/levels.py``'s convention (copied, not imported): a full-scale sine is
+3.14 dBm0, so a 0 dBm0 sine has peak 32767·10^(−3.14/20) ≈ 22 813.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 8000
FULL_SCALE_DBM0: Final = 3.14
ZERO_DBM0_PEAK: Final = 32767.0 * 10.0 ** (-FULL_SCALE_DBM0 / 20.0)  # ≈ 22 813

Samples = npt.NDArray[np.int16]
Floats = npt.NDArray[np.float64]

DTMF_ROWS: Final = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS: Final = ("123A", "456B", "789C", "*0#D")
CAS_FREQS: Final = (2130.0, 2750.0)
BLOCK: Final = 102


def amplitude(level_dbm0: float) -> float:
    """Peak amplitude of a sine at ``level_dbm0``."""
    return float(ZERO_DBM0_PEAK * 10.0 ** (level_dbm0 / 20.0))


def to_int16(x: npt.ArrayLike) -> Samples:
    return np.clip(np.rint(np.asarray(x, dtype=np.float64)), -32768, 32767).astype(np.int16)


def tone(
    freqs: Sequence[float],
    duration_s: float,
    level_dbm0: float | Sequence[float] = -10.0,
    *,
    rate: int = SAMPLE_RATE,
) -> Samples:
    """A sum of sines, each at ``level_dbm0`` (one level for all, or one per frequency)."""
    n = round(duration_s * rate)
    levels = [level_dbm0] * len(freqs) if isinstance(level_dbm0, int | float) else level_dbm0
    if len(levels) != len(freqs):
        raise ValueError("one level per frequency")
    t = np.arange(n, dtype=np.float64) / rate
    out = np.zeros(n, dtype=np.float64)
    for f, lv in zip(freqs, levels, strict=True):
        out += amplitude(float(lv)) * np.sin(2.0 * np.pi * f * t)
    return to_int16(out)


def dtmf_frequencies(digit: str) -> tuple[float, float]:
    for r, row in enumerate(DTMF_KEYS):
        c = row.find(digit.upper())
        if c >= 0:
            return DTMF_ROWS[r], DTMF_COLS[c]
    raise ValueError(f"not a DTMF digit: {digit!r}")


def dtmf_tone(
    digit: str, duration_s: float = 0.08, *, low_dbm0: float = -11.0, high_dbm0: float = -9.0
) -> Samples:
    """One DTMF digit (default sending levels: low group −11, high group −9 dBm0)."""
    low, high = dtmf_frequencies(digit)
    return tone((low, high), duration_s, (low_dbm0, high_dbm0))


def dtmf_sequence(
    digits: str,
    *,
    on_s: float = 0.08,
    off_s: float = 0.08,
    low_dbm0: float = -11.0,
    high_dbm0: float = -9.0,
) -> Samples:
    """Digits as tone bursts separated (and followed) by silence."""
    gap = np.zeros(round(off_s * SAMPLE_RATE), dtype=np.int16)
    parts: list[Samples] = []
    for d in digits:
        parts += [dtmf_tone(d, on_s, low_dbm0=low_dbm0, high_dbm0=high_dbm0), gap]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


# --- analysis ---------------------------------------------------------------------------------


def level_dbm0(samples: npt.ArrayLike) -> float:
    """Power of ``samples`` in dBm0 (−inf for silence or no samples)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return -math.inf
    power = float(np.mean(x * x))
    if power <= 0.0:
        return -math.inf
    return 10.0 * math.log10(power / (ZERO_DBM0_PEAK * ZERO_DBM0_PEAK / 2.0))


@dataclass(frozen=True)
class ToneComponent:
    freq_hz: float
    level_dbm0: float  # sine-equivalent level of this component


def dominant_tones(
    samples: npt.ArrayLike,
    *,
    max_tones: int = 3,
    min_level_dbm0: float = -50.0,
    within_db: float = 25.0,
    rate: int = SAMPLE_RATE,
) -> list[ToneComponent]:
    """The strongest sinusoidal components, strongest first.

    Peaks must be at least ``min_level_dbm0`` and within ``within_db`` of the strongest one, and
    at least 25 Hz apart. Accuracy: ≈ 1 Hz for 100 ms of a steady tone.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 32:
        return []
    x = x - float(np.mean(x))
    window = np.hanning(x.size)
    nfft = max(8192, 1 << (x.size - 1).bit_length())
    mag = np.abs(np.fft.rfft(x * window, nfft))
    # A sine of peak A gives a spectral peak of A·Σw/2.
    amp = mag * (2.0 / float(np.sum(window)))
    hz_per_bin = rate / nfft
    inner = amp[1:-1]
    is_peak = (inner > amp[:-2]) & (inner >= amp[2:])
    floor = amplitude(min_level_dbm0)
    candidates = np.flatnonzero(is_peak & (inner >= floor)) + 1
    order = candidates[np.argsort(amp[candidates])[::-1]]
    found: list[ToneComponent] = []
    for k in order:
        a, b, c = (math.log(max(float(amp[k + d]), 1e-12)) for d in (-1, 0, 1))
        denom = a - 2.0 * b + c
        delta = 0.5 * (a - c) / denom if denom < 0 else 0.0
        freq = (k + delta) * hz_per_bin
        peak = math.exp(b - 0.25 * (a - c) * delta)
        level = 20.0 * math.log10(peak / ZERO_DBM0_PEAK)
        if found and level < found[0].level_dbm0 - within_db:
            break
        if any(abs(freq - f.freq_hz) < 25.0 for f in found):
            continue
        found.append(ToneComponent(round(freq, 1), round(level, 2)))
        if len(found) == max_tones:
            break
    return found


def on_off_segments(
    samples: npt.ArrayLike,
    *,
    threshold_dbm0: float = -40.0,
    step_s: float = 0.01,
    rate: int = SAMPLE_RATE,
) -> list[tuple[bool, float]]:
    """Run lengths of "tone on" / "tone off" in ``step_s`` steps: [(on, seconds), ...]."""
    x = np.asarray(samples, dtype=np.float64)
    step = max(1, round(step_s * rate))
    n = x.size // step
    if n == 0:
        return []
    power = np.mean(x[: n * step].reshape(n, step) ** 2, axis=1)
    on = power > (amplitude(threshold_dbm0) ** 2) / 2.0
    runs: list[tuple[bool, float]] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or on[i] != on[start]:
            runs.append((bool(on[start]), (i - start) * step / rate))
            start = i
    return runs


# --- DTMF / CAS detection ------------------------------------------------------------------


@dataclass(frozen=True)
class DetectedDigit:
    digit: str
    at: float  # time of the end of the block that confirmed it


@dataclass(frozen=True)
class DetectedCas:
    start: float  # start of the first CAS block
    end: float  # end of the last CAS block (the tone is over)


def _bank(freqs: Iterable[float], n: int) -> npt.NDArray[np.complex128]:
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    bank: npt.NDArray[np.complex128] = np.exp(
        -2j * np.pi * np.outer(t, np.asarray(list(freqs), dtype=np.float64))
    )
    return bank


_FREQS: Final = (*DTMF_ROWS, *DTMF_COLS, *CAS_FREQS)
# Each tone is measured at its nominal frequency and ±1.2 % (the maximum counts), so a tone off
# by the ±1.5 % a receiver must accept loses almost nothing to the 78 Hz-wide Goertzel bins.
_DETUNE: Final = (1.0 - 0.012, 1.0, 1.0 + 0.012)
_BANK: Final = _bank([f * d for f in _FREQS for d in _DETUNE], BLOCK)
# The same bank as real cosine and sine halves, scaled so that c² + s² is the component energy
# |X|²·2/N directly (a real matrix product is cheaper than casting the audio to complex).
_NBANK: Final = _BANK.shape[1]
_REAL_BANK: Final = np.ascontiguousarray(
    np.concatenate([_BANK.real, _BANK.imag], axis=1) * math.sqrt(2.0 / BLOCK)
)
_ZEROS: Final = np.zeros(BLOCK, dtype=np.float64)
_ZEROS.setflags(write=False)


class ToneDetector:
    """Streaming DTMF + CAS detector. Feed contiguous audio with the time of its last sample."""

    def __init__(
        self,
        *,
        min_level_dbm0: float = -36.0,
        normal_twist_db: float = 8.5,
        reverse_twist_db: float = 4.5,
        dominance_db: float = 6.0,
        energy_fraction: float = 0.8,
    ) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._min_power = (amplitude(min_level_dbm0) ** 2) * BLOCK / 2.0
        self._normal_twist = 10.0 ** (normal_twist_db / 10.0)
        self._reverse_twist = 10.0 ** (reverse_twist_db / 10.0)
        self._dominance = 10.0 ** (dominance_db / 10.0)
        self._fraction = energy_fraction
        self._last: str | None = None
        self._last_level = 0.0
        self._run = 0
        self._current: str | None = None
        self._cas_run = 0
        self._cas_start = 0.0
        self._cas_end = 0.0
        self._no_cas = 0
        self._quiet = True

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._last, self._run, self._current = None, 0, None
        self._cas_run, self._no_cas = 0, 0
        self._quiet = True

    @property
    def quiet(self) -> bool:
        """No tone in progress and silence pending: more silence cannot produce an event."""
        return self._quiet

    def skip_silence(self, count: int) -> bool:
        """Account for ``count`` zero samples without analysing them, if :attr:`quiet`.

        Returns False (and changes nothing) when a tone is in progress: then feed the samples.
        The state afterwards is exactly what :meth:`feed` leaves: each all-zero block
        classifies as nothing at level 0.
        """
        if not self._quiet:
            return False
        total = self._pending.size + count
        nblocks = total // BLOCK
        self._pending = _ZEROS[: total - nblocks * BLOCK]
        if nblocks:
            self._run += nblocks
            self._no_cas += nblocks
            self._last_level = 0.0
        return True

    def feed(
        self, samples: npt.ArrayLike, end_at: float
    ) -> tuple[list[DetectedDigit], list[DetectedCas]]:
        raw = np.asarray(samples)
        if self._quiet and not raw.any() and self.skip_silence(raw.size):
            return [], []
        x = np.concatenate([self._pending, raw.astype(np.float64)])
        nblocks = x.size // BLOCK
        self._pending = x[nblocks * BLOCK :]
        digits: list[DetectedDigit] = []
        cas: list[DetectedCas] = []
        if nblocks == 0:
            self._update_quiet()
            return digits, cas
        blocks = x[: nblocks * BLOCK].reshape(nblocks, BLOCK)
        # Component energy as it would be in the block: |X|²·2/N (a sine of peak A → A²N/4·2/N).
        cs = blocks @ _REAL_BANK
        cs *= cs
        power = cs[:, :_NBANK] + cs[:, _NBANK:]
        powers = power.reshape(nblocks, len(_FREQS), len(_DETUNE)).max(axis=2).tolist()
        energies = np.sum(blocks * blocks, axis=1).tolist()
        for i in range(nblocks):
            block_end = end_at - (self._pending.size + (nblocks - 1 - i) * BLOCK) / SAMPLE_RATE
            self._step_dtmf(powers[i], energies[i], block_end, digits)
            self._step_cas(powers[i], energies[i], block_end, cas)
        self._update_quiet()
        return digits, cas

    def _update_quiet(self) -> None:
        self._quiet = (
            self._last is None
            and self._current is None
            and self._cas_run == 0
            and not self._pending.any()
        )

    def _classify(self, p: list[float], energy: float) -> str | None:
        # Plain floats: the group tests on four values each are cheaper than numpy calls.
        rows, cols = p[0:4], p[4:8]
        pr, pc = max(rows), max(cols)
        if pr < self._min_power or pc < self._min_power:
            return None
        if pr > pc * self._normal_twist or pc > pr * self._reverse_twist:
            return None
        r, c = rows.index(pr), cols.index(pc)  # the first maximum, as argmax
        other_r = max(rows[:r] + rows[r + 1 :])
        other_c = max(cols[:c] + cols[c + 1 :])
        if pr < other_r * self._dominance or pc < other_c * self._dominance:
            return None
        if (pr + pc) < self._fraction * energy:
            return None
        return DTMF_KEYS[r][c]

    def _step_dtmf(
        self, p: list[float], energy: float, at: float, out: list[DetectedDigit]
    ) -> None:
        d = self._classify(p, energy)
        # A run continues only with a steady level (within 3 dB): a block the tone only partly
        # covers is weaker, so a burst of ≤ 20 ms (one full block at most) never makes a run.
        level = max(p[0:4]) + max(p[4:8])
        steady = self._last_level > 0 and 0.5 <= level / self._last_level <= 2.0
        self._run = self._run + 1 if d == self._last and (d is None or steady) else 1
        self._last = d
        self._last_level = level
        if d is not None and self._run == 2 and d != self._current:
            self._current = d
            out.append(DetectedDigit(d, at))
        elif d is None and self._run >= 2:
            self._current = None

    def _step_cas(self, p: list[float], energy: float, at: float, out: list[DetectedCas]) -> None:
        lo, hi = p[8], p[9]
        present = (
            lo >= self._min_power
            and hi >= self._min_power
            and max(lo, hi) <= min(lo, hi) * 10.0**0.6  # within 6 dB of each other
            and lo + hi >= self._fraction * energy
        )
        if present:
            if self._cas_run == 0:
                self._cas_start = at - BLOCK / SAMPLE_RATE
            self._cas_run += 1
            self._cas_end = at
            self._no_cas = 0
            return
        self._no_cas += 1
        if self._cas_run >= 3 and self._no_cas >= 1:
            out.append(DetectedCas(self._cas_start, self._cas_end))
            self._cas_run = 0
        elif self._no_cas >= 2:
            self._cas_run = 0
