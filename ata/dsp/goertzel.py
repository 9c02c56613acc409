"""Phase-referenced block DFT at a few fixed frequencies (a vectorised Goertzel bank).

Theory of operation
-------------------
A Goertzel filter evaluates one DFT bin with a per-sample recursion; in numpy the same numbers
come out faster as one matrix product per batch of blocks. :class:`BlockDft` cuts the sample
stream into blocks of ``block`` samples and returns, for every block and every frequency ``f``,

    Z[b, k] = Σ_n x[n] · exp(−j·2π·f_k·n / fs)      (n = absolute sample index inside block b)

i.e. the phase is referenced to the absolute sample clock, not to the start of each block. That
makes the blocks *composable*: summing consecutive blocks gives the DFT of the longer window
(coherent, narrow band), and the phase step between blocks measures the frequency offset of a
tone from ``f_k`` (Δf = Δφ · fs / (2π · block)). Receivers (DTMF, fax tones) build their
decisions from these two views.

The absolute phase is taken from a table indexed by the block counter modulo a period, so it is
exact for integer frequencies and never drifts, however long the stream runs. The object is
pure: feed samples in, get arrays out; the sample counter is its only state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import FULL_SCALE_DBM0, SAMPLE_RATE

Complex = npt.NDArray[np.complex128]
Floats = npt.NDArray[np.float64]

# |Z|² of a full-block sine of peak A is (A·N/2)²; its power is A²/2. A 0 dBm0 sine has
# A = 32767·10^(−3.14/20), so power_dbm0 = 10·log10(2|Z|²/N² / P0) with P0 = A0²/2.
_P0: Final = (32767.0 * 10.0 ** (-FULL_SCALE_DBM0 / 20.0)) ** 2 / 2.0


def power_to_dbm0(power: float) -> float:
    """Mean power (sample² units, as from :func:`mean_square`) to dBm0."""
    if power <= 0.0:
        return -math.inf
    return 10.0 * math.log10(power / _P0)


def dbm0_to_power(level_dbm0: float) -> float:
    """Mean power (sample²) of a sine at ``level_dbm0``."""
    return float(_P0 * 10.0 ** (level_dbm0 / 10.0))


class BlockDft:
    """Streaming block DFT at ``freqs`` with an absolute phase reference.

    ``analyse(x)`` takes any number of whole blocks (``len(x) % block == 0``) and returns the
    complex bins ``Z`` with shape ``(len(x) // block, len(freqs))``.
    """

    def __init__(self, freqs: Sequence[float], block: int, *, rate: int = SAMPLE_RATE) -> None:
        if block <= 0 or not freqs:
            raise ValueError("BlockDft needs a positive block length and at least one frequency")
        self.freqs = tuple(float(f) for f in freqs)
        self.block = block
        self.rate = rate
        f = np.asarray(self.freqs, dtype=np.float64)
        n = np.arange(block, dtype=np.float64)
        self._basis: Complex = np.exp(-2j * np.pi * np.outer(n, f) / rate)
        # Phase of each block start, exp(−j·2π·f·block·b/rate), periodic in b when f is integral.
        period = _phase_period(self.freqs, block, rate)
        b = np.arange(period, dtype=np.float64)
        self._period = period
        self._phase: Complex = np.exp(-2j * np.pi * np.outer(b * block, f) / rate)
        self._block_index = 0

    @property
    def blocks_done(self) -> int:
        """How many blocks have been analysed since the start (the block clock)."""
        return self._block_index

    def analyse(self, x: npt.NDArray[np.float64]) -> Complex:
        count = x.shape[0] // self.block
        if count * self.block != x.shape[0]:
            raise ValueError(f"BlockDft.analyse needs whole blocks of {self.block} samples")
        z: Complex = x.reshape(count, self.block) @ self._basis
        start = self._block_index % self._period
        if start + count <= self._period:
            z *= self._phase[start : start + count]
        else:
            idx = (start + np.arange(count)) % self._period
            z *= self._phase[idx]
        self._block_index += count
        return z


def _phase_period(freqs: Sequence[float], block: int, rate: int) -> int:
    """Block count after which all block-start phases repeat (capped for non-integers)."""
    period = 1
    for f in freqs:
        if float(f).is_integer():
            step = (int(f) * block) % rate
            p = rate // math.gcd(step, rate) if step else 1
            period = period * p // math.gcd(period, p)
        else:
            return 1 << 16  # fractional frequency: a long table keeps the drift negligible
        if period > 1 << 16:
            return 1 << 16
    return period


def mean_square(x: npt.NDArray[np.float64]) -> float:
    return float(np.dot(x, x) / max(1, x.shape[0]))
