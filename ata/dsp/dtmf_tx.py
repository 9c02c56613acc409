"""DTMF generator: digits as phase-continuous dual tones at dBm0 levels, with twist.

Theory of operation
-------------------
:class:`DtmfGenerator` holds a queue of (digit, on, off) in samples and renders it frame by
frame: ``next_frame()`` returns the next 160 samples, so a digit's on/off timing is exact to the
sample whatever the frame size. Each tone's phase is computed from an absolute sample counter
(integer arithmetic modulo the sample rate), so consecutive frames join without a
discontinuity. ``level_dbm0`` is the low-group level and ``twist_db`` the high-group level
minus it (Q.23 senders: low −11, high −9 dBm0, i.e. +2 dB).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import SAMPLE_RATE, Samples, dbm0_to_amplitude, to_int16

ROW_FREQS: Final = (697.0, 770.0, 852.0, 941.0)
COL_FREQS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
DIGITS: Final = "0123456789*#ABCD"
_ROWCOL: Final = {KEYPAD[r][c]: (r, c) for r in range(4) for c in range(4)}


class DtmfError(ValueError):
    """Bad DTMF parameters or an unknown digit."""


def dtmf_frequencies(digit: str) -> tuple[float, float]:
    """(low, high) frequencies of ``digit`` (0-9, *, #, A-D)."""
    try:
        r, c = _ROWCOL[digit.upper()]
    except KeyError:
        raise DtmfError(f"not a DTMF digit: {digit!r}") from None
    return ROW_FREQS[r], COL_FREQS[c]


class DtmfGenerator:
    """Phase-continuous DTMF source: queue digits, pull 20 ms frames (``next_frame()``).

    ``level_dbm0`` is the low-group level; ``twist_db`` = high-group level − low-group level
    (Q.23 senders use about +2 dB: low −11, high −9 dBm0). Timing is in samples, exact.
    """

    def __init__(
        self,
        *,
        level_dbm0: float = -10.0,
        twist_db: float = 2.0,
        on_ms: float = 100.0,
        off_ms: float = 100.0,
        rate: int = SAMPLE_RATE,
    ) -> None:
        if level_dbm0 > 3.0 or level_dbm0 + twist_db > 3.0:
            raise DtmfError("DTMF levels above +3 dBm0 would clip")
        self.rate = rate
        self.level_dbm0 = level_dbm0
        self.twist_db = twist_db
        self.on_samples = round(on_ms * rate / 1000.0)
        self.off_samples = round(off_ms * rate / 1000.0)
        self._queue: list[tuple[str, int, int]] = []
        self._pos = 0  # samples into the head of the queue
        self._clock = 0  # absolute sample counter (phase reference)

    @property
    def busy(self) -> bool:
        return bool(self._queue)

    def clear(self) -> None:
        """Drop queued digits (a tone being played stops at the next frame)."""
        self._queue.clear()
        self._pos = 0

    def queue(
        self, digits: Iterable[str], on_ms: float | None = None, off_ms: float | None = None
    ) -> None:
        on = self.on_samples if on_ms is None else round(on_ms * self.rate / 1000.0)
        off = self.off_samples if off_ms is None else round(off_ms * self.rate / 1000.0)
        for d in digits:
            dtmf_frequencies(d)  # validates
            self._queue.append((d.upper(), on, off))

    def next_frame(self, size: int = 160) -> Samples:
        out = np.zeros(size, dtype=np.float64)
        filled = 0
        while filled < size and self._queue:
            digit, on, off = self._queue[0]
            take = min(size - filled, on + off - self._pos)
            if self._pos < on:
                k = min(take, on - self._pos)
                out[filled : filled + k] = self._tone(digit, self._clock + filled, k)
            self._pos += take
            filled += take
            if self._pos >= on + off:
                self._queue.pop(0)
                self._pos = 0
        self._clock += size
        return to_int16(out)

    def _tone(self, digit: str, start: int, count: int) -> npt.NDArray[np.float64]:
        lo, hi = dtmf_frequencies(digit)
        n = (start + np.arange(count, dtype=np.int64)) % self.rate
        a_lo = dbm0_to_amplitude(self.level_dbm0)
        a_hi = dbm0_to_amplitude(self.level_dbm0 + self.twist_db)
        w = 2.0 * np.pi / self.rate
        out: npt.NDArray[np.float64] = a_lo * np.sin(w * ((int(lo) * n) % self.rate))
        out += a_hi * np.sin(w * ((int(hi) * n) % self.rate))
        return out

    def render(
        self, digits: str, on_ms: float | None = None, off_ms: float | None = None
    ) -> Samples:
        """The whole sequence as one array (on/off per digit), from a fresh queue."""
        self.queue(digits, on_ms, off_ms)
        total = sum(on + off for _, on, off in self._queue) - self._pos
        frames = [self.next_frame(min(160, total - i)) for i in range(0, total, 160)]
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)


def dtmf_tone(
    digit: str,
    duration_s: float,
    *,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    freq_offset: float = 0.0,
    rate: int = SAMPLE_RATE,
) -> npt.NDArray[np.float64]:
    """One DTMF tone as floats (for tests and tools): optional relative ``freq_offset``."""
    lo, hi = dtmf_frequencies(digit)
    t = np.arange(round(duration_s * rate), dtype=np.float64) / rate
    f = 1.0 + freq_offset
    return dbm0_to_amplitude(level_dbm0) * np.sin(2 * np.pi * lo * f * t) + dbm0_to_amplitude(
        level_dbm0 + twist_db
    ) * np.sin(2 * np.pi * hi * f * t)
