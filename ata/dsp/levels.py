"""Signal levels and frame constants shared by the DSP, media and simulator code.

Level convention (ITU-T G.711 / G.168 practice, as spandsp uses): a full-scale 16-bit sine
is +3.14 dBm0, so a 0 dBm0 sine has peak amplitude 32767·10^(-3.14/20) ≈ 22 813 and RMS
≈ 16 131. ``dbm0_to_amplitude`` gives the peak of a sine at a level; ``rms_dbm0`` measures
any signal's power in dBm0.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = 160  # 20 ms
FRAME_MS: Final = 20
FULL_SCALE_DBM0: Final = 3.14
_FULL_SCALE: Final = 32767.0

Samples = npt.NDArray[np.int16]
FloatSamples = npt.NDArray[np.float64]


def dbm0_to_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (16-bit scale) of a sine wave at ``level_dbm0``."""
    return float(_FULL_SCALE * 10.0 ** ((level_dbm0 - FULL_SCALE_DBM0) / 20.0))


def rms_dbm0(samples: npt.ArrayLike) -> float:
    """Power of ``samples`` in dBm0 (−inf for silence)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return -math.inf
    power = float(np.mean(x * x))
    if power <= 0.0:
        return -math.inf
    # A sine of peak A has mean power A²/2; full-scale sine ↔ FULL_SCALE_DBM0.
    return FULL_SCALE_DBM0 + 10.0 * math.log10(power / (_FULL_SCALE * _FULL_SCALE / 2.0))


def to_int16(x: npt.ArrayLike) -> Samples:
    """Round and saturate float samples to int16."""
    a = np.rint(np.asarray(x, dtype=np.float64))
    return np.clip(a, -32768, 32767).astype(np.int16)
