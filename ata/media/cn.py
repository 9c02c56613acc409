"""RFC 3389 comfort noise: payload codec, noise generator, and the sender's silence logic.

Theory of operation
-------------------
A CN payload is one octet of noise level in −dBov (0..127), optionally followed by reflection
coefficients describing the spectrum. 0 dBov is the overload point of the codec: for G.711 a
full-scale square wave (±32124 at 16 bits), i.e. +6.18 dBm0. So a level of L −dBov is noise of
RMS ``32124 · 10^(−L/20)`` at 16 bits.

*Receiving*: :class:`NoiseGenerator` makes noise of the last received level, shaped by the
reflection coefficients when present (all-pole lattice filter, gain-normalised) and white
otherwise. It is seeded, so tests are reproducible.

*Sending* (no VAD here: the caller says whether a frame is silence): :class:`CnSender` tells
the session, per frame, whether to send audio, a CN packet, or nothing. At the start of
silence a CN packet is sent; during silence an update is sent when the level moves by more
than 3 dB or every ``refresh_frames`` (default 250 frames = 5 s), otherwise nothing (DTX).
The first audio packet after silence gets the marker bit.
"""

from __future__ import annotations

import enum
import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "CnAction",
    "CnSender",
    "NoiseGenerator",
    "build_cn",
    "level_of",
    "parse_cn",
]

DBOV_REF: Final = 32124.0
MAX_LEVEL: Final = 127


def level_of(samples: npt.NDArray[np.int16]) -> int:
    """The −dBov level (0..127) of a frame."""
    x = samples.astype(np.float64)
    rms = math.sqrt(float(np.mean(x * x))) if x.size else 0.0
    if rms <= 0.0:
        return MAX_LEVEL
    return int(min(MAX_LEVEL, max(0, round(-20.0 * math.log10(rms / DBOV_REF)))))


def build_cn(level: int, reflection: tuple[int, ...] = ()) -> bytes:
    """A CN payload: level (−dBov) and optional quantised reflection coefficients."""
    return bytes((min(max(level, 0), MAX_LEVEL),)) + bytes(c & 0xFF for c in reflection)


def parse_cn(payload: bytes) -> tuple[int, tuple[float, ...]]:
    """(level −dBov, reflection coefficients in (−1, 1)); ValueError if empty."""
    if not payload:
        raise ValueError("empty CN payload")
    level = payload[0] & 0x7F
    # RFC 3389 §3: coefficient k = (N − 127) / 128 (quantised to 8 bits, N in 0..254).
    coeffs = tuple((min(b, 254) - 127) / 128.0 for b in payload[1:13])
    return level, coeffs


class NoiseGenerator:
    """Comfort noise at a given −dBov level, optionally spectrally shaped."""

    def __init__(self, seed: int = 0x3389) -> None:
        self._seed = seed
        self._rng_made: np.random.Generator | None = None  # numpy.random on first use
        self.level = MAX_LEVEL
        self._k: tuple[float, ...] = ()
        self._state = np.zeros(0, dtype=np.float64)
        self._norm = 1.0

    def _rng(self) -> np.random.Generator:
        # Made on first use: importing numpy.random costs ~2 MiB resident, and most calls
        # never need noise.
        if self._rng_made is None:
            self._rng_made = np.random.default_rng(self._seed)
        return self._rng_made

    def set_params(self, level: int, reflection: tuple[float, ...] = ()) -> None:
        self.level = level
        if reflection != self._k:
            self._k = reflection
            self._state = np.zeros(len(reflection), dtype=np.float64)
            # An all-pole lattice of reflection coefficients k has prediction error power
            # Π(1 − k²): scale the excitation by its square root to keep output power = target.
            err = 1.0
            for k in reflection:
                err *= max(1e-4, 1.0 - k * k)
            self._norm = math.sqrt(err)

    def generate(self, n: int = 160) -> npt.NDArray[np.int16]:
        if self.level >= MAX_LEVEL:
            return np.zeros(n, dtype=np.int16)
        rms = DBOV_REF * 10.0 ** (-self.level / 20.0)
        e = self._rng().standard_normal(n)
        if self._k:
            e = self._lattice(e * self._norm)
        out: npt.NDArray[np.int16] = np.clip(np.rint(e * rms), -32768, 32767).astype(np.int16)
        return out

    def _lattice(self, e: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """All-pole lattice synthesis (stable for |k| < 1), sample by sample."""
        k = self._k
        p = len(k)
        b = self._state  # backward errors b[0..p-1] of the previous sample
        y = np.empty_like(e)
        for i, x in enumerate(e):
            f = float(x)
            for m in range(p - 1, -1, -1):
                f -= k[m] * b[m]
                if m + 1 < p:
                    b[m + 1] = b[m] + k[m] * f
            b[0] = f
            y[i] = f
        return y


class CnAction(enum.Enum):
    AUDIO = "audio"  # send this frame as audio
    CN = "cn"  # send a CN packet for this frame
    NOTHING = "nothing"  # discontinuous transmission: send nothing


class CnSender:
    """Decides audio / CN / nothing per frame given the caller's silence flag."""

    def __init__(self, *, refresh_frames: int = 250, hysteresis_db: int = 3) -> None:
        self.refresh_frames = refresh_frames
        self.hysteresis_db = hysteresis_db
        self._silent = False
        self._since = 0
        self._level = MAX_LEVEL
        self.marker_pending = False

    def decide(self, samples: npt.NDArray[np.int16], silent: bool) -> tuple[CnAction, int]:
        """(action, level) for one frame; sets ``marker_pending`` after a silence."""
        if not silent:
            if self._silent:
                self._silent = False
                self.marker_pending = True
            return CnAction.AUDIO, 0
        level = level_of(samples)
        if not self._silent:
            self._silent = True
            self._since = 0
            self._level = level
            return CnAction.CN, level
        self._since += 1
        if abs(level - self._level) > self.hysteresis_db or self._since >= self.refresh_frames:
            self._since = 0
            self._level = level
            return CnAction.CN, level
        return CnAction.NOTHING, level
