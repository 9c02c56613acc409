"""Non-linear processor (residual echo suppressor) with comfort noise, after the echo canceller.

Theory of operation
-------------------
After linear cancellation a little residual echo remains (about −50 dB on the test hybrid, more
while the filter converges or the path changes). G.168's NLP removes it in the frames that hold
only echo: far end talking, no near-end speech (the canceller's double-talk decision) and the
canceller already removing most of the input (output ≥ ``min_erle_db`` below the input), plus a
short hangover for the echo tail after the far end stops. Those frames are replaced by comfort
noise at the level of the line's background noise, so the far end does not hear the line
"switch off" (noise pumping).

The background level is a minimum-statistics estimate: the smoothed output power of the
canceller (before the NLP), tracked downwards at once and upwards slowly (+2 dB/s), which
ignores speech bursts. The comfort noise is white noise through a two-tap average (line noise is
mostly low-frequency), from a seeded generator, so the output is deterministic.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import dbm0_to_amplitude

_RISE_PER_FRAME: Final = 10 ** (2.0 / 10 / 50)  # +2 dB per second
_FLOOR_POWER: Final = dbm0_to_amplitude(-90.0) ** 2 / 2.0
_HANGOVER_FRAMES: Final = 3


class ComfortNoiseNlp:
    """``process(out, near_pow, out_pow, far_active, double_talk) -> frame``."""

    def __init__(self, *, min_erle_db: float = 6.0, seed: int = 0x5EED) -> None:
        self.min_ratio = 10 ** (min_erle_db / 10)
        self._seed = seed
        self._rng_made: np.random.Generator | None = None  # numpy.random on first use
        self._noise_pow = dbm0_to_amplitude(-70.0) ** 2 / 2.0
        self._smooth: float | None = None  # no estimate before the first pass-through frame
        self._lp = 0.0
        self._hang = 0
        self.active = False
        self.frames_suppressed = 0

    def _rng(self) -> np.random.Generator:
        # Made on first use: importing numpy.random costs ~2 MiB resident, and most calls
        # never need noise.
        if self._rng_made is None:
            self._rng_made = np.random.default_rng(self._seed)
        return self._rng_made

    @property
    def noise_dbm0(self) -> float:
        """Current background noise estimate."""
        return 3.14 + 10.0 * math.log10(self._noise_pow / (32767.0**2 / 2.0))

    def process(
        self,
        out: npt.NDArray[np.float64],
        near_pow: float,
        out_pow: float,
        far_active: bool,
        double_talk: bool,
    ) -> npt.NDArray[np.float64]:
        echo_only = far_active and not double_talk and out_pow * self.min_ratio < near_pow
        if echo_only:
            self._hang = _HANGOVER_FRAMES
        elif self._hang > 0 and not double_talk:
            self._hang -= 1
            echo_only = True
        else:
            self._hang = 0
        self.active = echo_only
        # Minimum statistics over the canceller's output (once converged, echo-only frames are
        # background noise plus a little residual; speech frames are ignored by the minimum).
        power = max(out_pow, _FLOOR_POWER)
        if self._smooth is None:
            self._smooth = self._noise_pow = power
        self._smooth = 0.7 * self._smooth + 0.3 * power
        self._noise_pow = min(self._smooth, self._noise_pow * _RISE_PER_FRAME)
        if not echo_only:
            return out
        self.frames_suppressed += 1
        return self._comfort_noise(out.size)

    def _comfort_noise(self, n: int) -> npt.NDArray[np.float64]:
        # Two-tap average of white noise (zero at 4 kHz, power σ²/2), continuous across frames.
        w = self._rng().standard_normal(n + 1)
        w[0] = self._lp
        self._lp = float(w[-1])
        y = w[1:] + w[:-1]
        return y * math.sqrt(self._noise_pow / 2.0)
