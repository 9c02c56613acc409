"""DTMF receiver (Q.23/Q.24) with sub-frame timing (the generator lives in ``dtmf_tx``).

Theory of operation
-------------------
*Analysis.* The line audio is cut into 5 ms sub-blocks (40 samples). A :class:`BlockDft` gives,
per sub-block, the complex bins of the eight DTMF frequencies with an absolute phase reference.
Every 5 ms a 20 ms analysis window (the last four sub-blocks) is evaluated from them:

- *coherent* power ``|Z1+Z2|²`` (Z1, Z2 = the two 10 ms halves) has a 50 Hz bin width; it picks
  the strongest row and column and checks that no other tone of the same group comes close
  (relative peak);
- the *phase step* ``arg(Z2·conj(Z1))`` measures each tone's frequency offset to ±50 Hz with a
  resolution of a few Hz: tones within ±2.5 % of nominal pass (Q.24: operate within ±1.5 %,
  never beyond ±3.5 %);
- the *offset-tolerant* power ``(|Z1|+|Z2|)²`` (the coherent sum re-centred on the measured
  frequency) gives each tone's level, the twist, and the share of the window's total power that
  the two tones carry. Speech and music rarely put ≥ 60 % of their energy into two exact DTMF
  frequencies; a partially covered window only carries its coverage's share, so that test also
  measures duration.

*Decision.* A window is a candidate for digit *d* when all of the tests pass (strict limits);
after that, windows passing relaxed limits keep the candidate (and later the active digit)
alive, so noise does not split or drop a tone (hysteresis). The per-window states form a small
table-driven machine (``_TABLE``): IDLE → PENDING on a strict candidate; PENDING → ON (the
digit *start* event) once ``on_windows`` consecutive windows agree, at least
``strict_windows`` of them strictly, and the tone measured from the sub-block amplitudes has
lasted ``min_on_ms`` (30 ms: Q.24 rejects ≤ 20 ms bursts and accepts ≥ 40 ms tones); ON →
ENDING on a missing window; ENDING → IDLE after ``off_windows`` misses (the digit *end* event)
or back to ON. A 40 ms gap yields several empty windows, so two digits separated by it are both
reported, while a single noisy window inside a tone cannot double it.

*Talk-off.* Before a start is reported, two checks reject speech and music that happen to
put two harmonics on a DTMF pair: both tones must have kept one frequency (within
``max_glide_hz``) over the windows lying wholly inside the tone, and after subtracting the two
fitted tones from the latest window no other spectral line may exceed ``max_residual_line_db``
of the window energy (voiced speech and chords leave other harmonics; DTMF leaves noise).

*Timing.* Start and end are located to about a millisecond from the per-sub-block tone
amplitudes: a sub-block the tone only partly covers carries a proportional amplitude. Events
carry absolute sample positions (the receiver's own sample clock; the caller maps it to time or
to RTP timestamps), so an RFC 4733 sender can stamp the event with the true start.

Cost (bench/bench_dtmf.py, x86-64, mean per 20 ms frame): ~1.5 µs quiet, ~11 µs speech,
~27 µs while digits arrive back to back (50 ms on / 50 ms off; the frame that confirms a digit
costs ~50 µs, as the edge fits and talk-off checks run once per digit). The frame path keeps
its bins in preallocated buffers, vectorises the four windows' sums and moduli, and does the
per-window tests on plain floats.
"""

from __future__ import annotations

import cmath
import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.dtmf_tx import (
    COL_FREQS,
    DIGITS,
    KEYPAD,
    ROW_FREQS,
    DtmfError,
    DtmfGenerator,
    dtmf_frequencies,
    dtmf_tone,
)
from ata.dsp.goertzel import dbm0_to_power, power_to_dbm0
from ata.dsp.levels import SAMPLE_RATE

__all__ = [
    "COL_FREQS",
    "DIGITS",
    "KEYPAD",
    "ROW_FREQS",
    "DigitEnd",
    "DigitStart",
    "DtmfConfig",
    "DtmfError",
    "DtmfEvent",
    "DtmfGenerator",
    "DtmfReceiver",
    "decode_digits",
    "dtmf_frequencies",
    "dtmf_tone",
]

_DIGIT_OF: Final = tuple(KEYPAD[r][c] for r in range(4) for c in range(4))

SUB: Final = 40  # sub-block (hop) length, 5 ms
WINDOW_SUBS: Final = 4  # analysis window: 4 sub-blocks = 20 ms
_N: Final = SUB * WINDOW_SUBS
FRAME: Final = SUB * WINDOW_SUBS  # the receiver works on 20 ms frames
_HIST_FRAMES: Final = 6  # frames of audio kept for locating edges (120 ms)
_PERIOD: Final = 50  # block-start phases repeat every 50 frames for integer frequencies
_ONES: Final = np.ones(SUB)
# Earlier sub-blocks needed: 3 for the first window, 2 more for its 10 ms-earlier twin.
_TAIL: Final = 5
_ZERO_TAIL: Final = np.zeros((_TAIL, 8), dtype=np.complex128)
_SCALE: Final = 2.0 / (_N * _N)  # |Z|² of a 160-sample window to sine power
_HANN: Final = np.hanning(_N)
_HANN_GAIN: Final = float(np.sum(_HANN**2))  # normalises the residual-line test


@dataclass(frozen=True, slots=True)
class DtmfConfig:
    """Receiver limits. Defaults meet Q.24 with margin (see the module docstring)."""

    min_level_dbm0: float = -45.0  # per tone
    low_stronger_db: float = 10.0  # accept low group up to this much stronger ("8 dB" spec)
    high_stronger_db: float = 6.0  # accept high group up to this much stronger ("4 dB" spec)
    freq_tolerance: float = 0.02  # relative; Q.24 accept 1.5 %, reject 3.5 %
    min_share: float = 0.65  # two tones' share of window power to start a digit
    hold_share: float = 0.45  # share needed to keep a candidate or active digit on
    relative_peak_db: float = 8.0  # runner-up of a group at least this far below the peak
    hold_relative_peak_db: float = 6.0  # ... to keep a digit on
    max_residual_line_db: float = -17.0  # strongest other spectral line vs window energy
    max_glide_hz: float = 4.0  # frequency drift allowed within a tone (speech glides more)
    on_windows: int = 4  # consecutive candidate windows to accept (5 ms hops) ...
    strict_windows: int = 3  # ... of which at least this many pass the strict limits
    min_on_ms: float = 30.0  # measured tone duration needed (Q.24: ≤ 20 ms no, ≥ 40 ms yes)
    off_windows: int = 2  # consecutive missing windows to end


@dataclass(frozen=True, slots=True)
class DigitStart:
    """A digit was recognised; ``sample`` is where the tone began (receiver sample clock)."""

    digit: str
    sample: int
    detected_at: int  # sample clock when the decision was made
    level_low_dbm0: float
    level_high_dbm0: float


@dataclass(frozen=True, slots=True)
class DigitEnd:
    """A digit ended; ``sample`` is the first sample after the tone."""

    digit: str
    start_sample: int
    sample: int
    detected_at: int

    @property
    def duration_samples(self) -> int:
        return self.sample - self.start_sample

    @property
    def duration_s(self) -> float:
        return self.duration_samples / SAMPLE_RATE


DtmfEvent = DigitStart | DigitEnd


class _State(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; skip Enum's Python-level hash

    IDLE = "idle"
    PENDING = "pending"
    ON = "on"
    ENDING = "ending"


class _In(enum.Enum):
    __hash__ = object.__hash__
    NONE = "none"  # no candidate in this window
    SAME = "same"  # candidate (or held) digit equal to the current one
    OTHER = "other"  # candidate for a different digit


class _Act(enum.Enum):
    NOTHING = 0
    BEGIN = 1  # new pending candidate
    COUNT = 2  # one more candidate window
    HOLD = 3  # digit stays on
    MISS = 4  # one more missing window while on
    END = 5  # end the digit and go idle
    END_BEGIN = 6  # end the digit and start a new candidate
    DROP = 7  # forget the pending candidate


_TABLE: Final[dict[tuple[_State, _In], _Act]] = {
    (_State.IDLE, _In.NONE): _Act.NOTHING,
    (_State.IDLE, _In.SAME): _Act.BEGIN,
    (_State.IDLE, _In.OTHER): _Act.BEGIN,
    (_State.PENDING, _In.NONE): _Act.DROP,
    (_State.PENDING, _In.SAME): _Act.COUNT,
    (_State.PENDING, _In.OTHER): _Act.BEGIN,
    (_State.ON, _In.NONE): _Act.MISS,
    (_State.ON, _In.SAME): _Act.HOLD,
    (_State.ON, _In.OTHER): _Act.END_BEGIN,
    (_State.ENDING, _In.NONE): _Act.MISS,
    (_State.ENDING, _In.SAME): _Act.HOLD,
    (_State.ENDING, _In.OTHER): _Act.END_BEGIN,
}


# Plain-name aliases of the members for the per-window path: an Enum attribute lookup costs
# about 0.1 µs in Python 3.11, a module global a tenth of that.
_IDLE, _PENDING, _ON, _ENDING = _State.IDLE, _State.PENDING, _State.ON, _State.ENDING
_NONE, _SAME, _OTHER = _In.NONE, _In.SAME, _In.OTHER
_NOTHING, _BEGIN, _COUNT, _HOLD = _Act.NOTHING, _Act.BEGIN, _Act.COUNT, _Act.HOLD
_MISS, _END_BEGIN, _DROP = _Act.MISS, _Act.END_BEGIN, _Act.DROP


class DtmfReceiver:
    """Streaming DTMF detector: ``process(samples) -> [DigitStart | DigitEnd, ...]``.

    Works on 20 ms frames (160 samples; other sizes are buffered into frames). The receiver
    keeps its own sample clock from 0: event positions are sample indices into the stream.
    """

    def __init__(self, config: DtmfConfig | None = None) -> None:
        c = config or DtmfConfig()
        if c.on_windows < 2 or c.off_windows < 1:
            raise DtmfError("on_windows must be ≥ 2 and off_windows ≥ 1")
        self.config = c
        freqs = np.asarray(ROW_FREQS + COL_FREQS)
        n = np.arange(SUB, dtype=np.float64)
        arg = 2.0 * np.pi * np.outer(n, freqs) / SAMPLE_RATE
        basis = np.empty((SUB, 16))
        basis[:, 0::2], basis[:, 1::2] = np.cos(arg), -np.sin(arg)
        self._basis = basis  # real matrix whose products view as complex bins
        # Block-start phase for each of the 4 sub-blocks of frame k; period 50 frames (1 s).
        k = np.arange(_PERIOD * WINDOW_SUBS, dtype=np.float64).reshape(_PERIOD, WINDOW_SUBS, 1)
        self._phase = np.exp(-2j * np.pi * k * SUB * freqs / SAMPLE_RATE)
        # Thresholds in raw units: tone amplitude sums A = |Z1|+|Z2| (power = A²·2/N²) and
        # window energy E = Σx² over 160 samples (power = E/N).
        scale = _SCALE
        self._min_a2 = dbm0_to_power(c.min_level_dbm0) / scale
        self._share_on = c.min_share / (scale * _N)  # (Ar²+Ac²) ≥ share_on · E
        self._share_hold = c.hold_share / (scale * _N)
        self._low_ratio = 10.0 ** (c.low_stronger_db / 10.0)
        self._high_ratio = 10.0 ** (c.high_stronger_db / 10.0)
        self._peak_ratio = 10.0 ** (-c.relative_peak_db / 10.0)
        self._peak_ratio_hold = 10.0 ** (-c.hold_relative_peak_db / 10.0)
        self._quiet = 2.0 * dbm0_to_power(c.min_level_dbm0) * _N  # window energy floor
        step = 2.0 * np.pi * freqs * c.freq_tolerance * (_N // 2) / SAMPLE_RATE
        self._max_step = step.tolist()
        self._max_step_hold = (step * 1.2).tolist()
        self._max_line = 10.0 ** (c.max_residual_line_db / 10.0)
        self._max_spread = 2.0 * np.pi * c.max_glide_hz * (_N // 2) / SAMPLE_RATE
        self._min_on = round(c.min_on_ms * SAMPLE_RATE / 1000.0)
        # Least-squares fit of each digit's two tones to a sub-block: amplitudes free of the
        # cross-group leakage and negative-frequency image a 40-sample DFT bin suffers from.
        fits = []
        for r in range(4):
            for col in range(4):
                f = np.asarray((ROW_FREQS[r], COL_FREQS[col]))
                w = 2.0 * np.pi * np.outer(n, f) / SAMPLE_RATE
                basis4 = np.concatenate((np.cos(w), np.sin(w)), axis=1)  # 40×4
                fits.append(np.linalg.pinv(basis4))
        self._fit = np.asarray(fits)  # 16×4×40
        # Per-frame work buffers (the frame path allocates almost nothing): the last 9
        # sub-blocks' bins (5 earlier + this frame's 4) as 9×16 reals viewed as 9×8 complex,
        # then the 10 ms sums h (rows 0–7) and the 20 ms sums zs (rows 8–13), and their moduli.
        self._zb = np.zeros((_TAIL + WINDOW_SUBS, 16))
        self._zc = self._zb.view(np.complex128)
        self._znew = self._zc[_TAIL:]
        self._hz = np.zeros((14, 8), dtype=np.complex128)
        self._ab = np.zeros((14, 8))
        self._best_of = self._ab[10:14].reshape(WINDOW_SUBS, 2, 4)  # |zs| of the 4 windows
        self._nrow = np.arange(_N, dtype=np.float64)[None, :]
        self._resid_basis = np.zeros((4, _N))
        self._bins = np.fft.rfftfreq(_N, 1.0 / SAMPLE_RATE)
        self._bins_l: list[float] = self._bins.tolist()
        self._first_line = int(np.argmax(self._bins > 250.0))
        self._bin_hz = float(self._bins[1])
        self._clear()

    def _clear(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._zb.fill(0.0)
        self._zeroed = True  # the bin history is all zeros (quiet audio)
        self._prev_e = (0.0, 0.0, 0.0)  # energies of the last 3 sub-blocks
        self._tail_energy = 0.0  # their sum
        self._power_cache: tuple[tuple[int, int], npt.NDArray[np.float64]] = (
            (-1, -1),
            np.zeros((0, 2)),
        )
        self._frames: deque[npt.NDArray[np.float64]] = deque(
            [np.zeros(FRAME)] * _HIST_FRAMES, maxlen=_HIST_FRAMES
        )  # recent audio, to locate digit edges when an event fires
        self._frame_no = 0
        self._state = _IDLE
        self._digit = -1
        self._count = 0
        self._strict = 0  # windows of the pending run that passed the strict limits
        self._misses = 0
        self._first_window = 0  # sub-block clock of the first candidate window's end
        self._last_window = 0  # ... of the last window that held the digit
        self._start_sample = 0
        self._ref = (1.0, 1.0)  # |Z|² per sub-block of the row / column tone when fully on
        self._last_levels = (0.0, 0.0)  # raw tone powers of the last candidate window
        self._last_steps = (0.0, 0.0)  # phase steps (rad per 10 ms) of that window
        self._last_share = 0.0  # share of the window's power in the two tones
        self._steps: list[tuple[int, float, float]] = []  # (window end, steps) while pending

    @property
    def samples_seen(self) -> int:
        return self._frame_no * FRAME + self._pending.shape[0]

    @property
    def active_digit(self) -> str | None:
        """The digit currently on (after its start event), else None."""
        if self._state in (_ON, _ENDING):
            return _DIGIT_OF[self._digit]
        return None

    @property
    def active_start_sample(self) -> int | None:
        """Where the digit now on began (for RFC 4733 durations), else None."""
        return self._start_sample if self._state in (_ON, _ENDING) else None

    def reset(self) -> None:
        """Forget everything (e.g. on hook); the sample clock restarts at 0."""
        self._clear()

    def process(self, samples: npt.ArrayLike) -> list[DtmfEvent]:
        x = np.asarray(samples)
        if x.shape[0] == FRAME and not self._pending.shape[0]:
            return self._frame(x.astype(np.float64))
        x = np.concatenate((self._pending, x.astype(np.float64)))
        whole = x.shape[0] // FRAME * FRAME
        self._pending = x[whole:].copy()
        events: list[DtmfEvent] = []
        for i in range(0, whole, FRAME):
            events += self._frame(x[i : i + FRAME])
        return events

    def finish(self) -> list[DtmfEvent]:
        """End of stream: flush the partial frame and close a digit that is still on."""
        pad = (-self._pending.shape[0]) % FRAME + 2 * FRAME
        return self.process(np.zeros(pad))

    # -- one 20 ms frame: four 5 ms windows ---------------------------------------------------

    def _frame(self, xf: npt.NDArray[np.float64]) -> list[DtmfEvent]:
        if self._state is _IDLE and float(xf @ xf) + self._tail_energy < self._quiet:
            # Quiet frame: no window ending in it can hold a digit. Its bins are below every
            # threshold, so zeros stand in for them in the history.
            if not self._zeroed:
                self._zb.fill(0.0)
                self._zeroed = True
            self._prev_e = (0.0, 0.0, 0.0)
            self._tail_energy = 0.0
            self._frames.append(xf)
            self._frame_no += 1
            return []
        self._zeroed = False
        r = xf.reshape(WINDOW_SUBS, SUB)
        zb = self._zb
        zb[:_TAIL] = zb[WINDOW_SUBS:]  # keep the last 5 sub-blocks' bins
        z = (r @ self._basis).view(np.complex128)
        np.multiply(z, self._phase[self._frame_no % _PERIOD], out=self._znew)
        e0, e1, e2, e3 = ((r * r) @ _ONES).tolist()
        p1, p2, p3 = self._prev_e
        self._prev_e = (e1, e2, e3)
        self._tail_energy = e1 + e2 + e3
        self._frames.append(xf)
        base = self._frame_no * WINDOW_SUBS
        self._frame_no += 1
        events: list[DtmfEvent] = []
        # Energy of the four 20 ms windows ending at this frame's sub-block boundaries.
        tot = (
            p1 + p2 + p3 + e0,
            p2 + p3 + e0 + e1,
            p3 + e0 + e1 + e2,
            e0 + e1 + e2 + e3,
        )
        if self._state in (_IDLE, _PENDING) and max(tot) < self._quiet:
            self._state, self._digit = _IDLE, -1
            return events  # nothing loud enough to be a pair of tones
        zc, hz = self._zc, self._hz
        np.add(zc[:-1], zc[1:], out=hz[:8])  # 10 ms half-window sums h
        np.add(hz[:6], hz[2:8], out=hz[8:])  # coherent 20 ms bins zs: two hops back .. now
        np.abs(hz, out=self._ab)
        self._windows(tot, base, events)
        return events

    def _windows(self, tot: tuple[float, ...], base: int, events: list[DtmfEvent]) -> None:
        """Test the frame's four windows in turn and step the state machine with each."""
        best = self._best_of.argmax(axis=2).tolist()
        ab = self._ab.tolist()  # rows 2–7: |h| of the halves; rows 10–13: |zs| of the windows
        min_a2 = self._min_a2
        share_hold = self._share_hold
        floor = 0.6 * share_hold
        zs: list[list[complex]] | None = None
        for i in range(WINDOW_SUBS):
            row, col = best[i]
            col += 4
            m1, m2 = ab[2 + i], ab[4 + i]
            ar, ac = m1[row] + m2[row], m1[col] + m2[col]  # |Z1|+|Z2|: an upper bound
            ar, ac = ar * ar, ac * ac
            total = tot[i]
            if ar < min_a2 or ac < min_a2 or ar + ac < floor * total:
                if self._state is not _IDLE:
                    self._step(-1, -1, base + i + 1, events)
                continue
            if zs is None:
                zs = self._hz[8:].tolist()
                max_hold = self._max_step_hold
            # Frequency offset: phase advance of the 20 ms bin between windows 10 ms apart.
            z0, z2 = zs[i], zs[i + 2]
            step_r = cmath.phase(z2[row] * z0[row].conjugate())
            step_c = cmath.phase(z2[col] * z0[col].conjugate())
            code = relaxed = -1
            if abs(step_r) <= max_hold[row] and abs(step_c) <= max_hold[col]:
                code, relaxed = self._levels(row, col, ab[10 + i], total, step_r, step_c)
            self._step(code, relaxed, base + i + 1, events)

    def _levels(
        self, row: int, col: int, coh: list[float], total: float, step_r: float, step_c: float
    ) -> tuple[int, int]:
        """Digit code passing the strict (start) and relaxed (hold) limits, −1 for none."""
        # The coherent 20 ms amplitude leaks least between groups; undo its loss for a tone
        # off nominal by the measured phase step (exact for a steady tone).
        cr, cc = coh[row], coh[col]
        pr = (cr / max(math.cos(0.5 * step_r), 0.3)) ** 2
        pc = (cc / max(math.cos(0.5 * step_c), 0.3)) ** 2
        min_a2 = self._min_a2
        if pr < min_a2 or pc < min_a2 or pr + pc < self._share_hold * total:
            return -1, -1
        if pr > pc * self._low_ratio or pc > pr * self._high_ratio:
            return -1, -1
        # Relative peak: the runner-up of each group, as a power ratio to the winner.
        peak_r = (sorted(coh[:4])[-2] / cr) ** 2 if cr > 0.0 else 1.0
        peak_c = (sorted(coh[4:])[-2] / cc) ** 2 if cc > 0.0 else 1.0
        hold = self._peak_ratio_hold
        if peak_r > hold or peak_c > hold:
            return -1, -1
        code = row * 4 + col - 4
        self._last_levels = (pr, pc)
        self._last_steps = (step_r, step_c)
        self._last_share = (pr + pc) * _SCALE * _N / max(total, 1e-9)
        peak, max_step = self._peak_ratio, self._max_step
        strict = (
            pr + pc >= self._share_on * total
            and peak_r <= peak
            and peak_c <= peak
            and abs(step_r) <= max_step[row]
            and abs(step_c) <= max_step[col]
        )
        return (code if strict else -1), code

    # -- the state machine -------------------------------------------------------------------

    def _step(self, code: int, relaxed: int, window_end: int, events: list[DtmfEvent]) -> None:
        if self._digit >= 0 and self._digit in (code, relaxed):
            inp = _SAME
        elif code >= 0:
            inp = _OTHER
        else:
            inp = _NONE
        act = _TABLE[(self._state, inp)]
        if act is _HOLD:
            self._state, self._misses, self._last_window = _ON, 0, window_end
        elif act is _NOTHING:
            return
        elif act is _MISS:
            self._misses += 1
            self._state = _ENDING
            if self._misses >= self.config.off_windows:
                self._end(window_end, events)
                self._state, self._digit = _IDLE, -1
        elif act is _COUNT:
            self._count += 1
            self._strict += code >= 0
            self._steps.append((window_end, *self._last_steps))
            if self._count >= self.config.on_windows and self._strict >= self.config.strict_windows:
                self._confirm(window_end, events)
        elif act is _BEGIN:
            self._begin(code, window_end)
        elif act is _DROP:
            self._state, self._digit = _IDLE, -1
        elif act is _END_BEGIN:
            self._end(window_end, events)
            self._begin(code, window_end)

    def _begin(self, code: int, window_end: int) -> None:
        self._state, self._digit, self._count, self._strict = _PENDING, code, 1, 1
        self._first_window = window_end
        self._steps = [(window_end, *self._last_steps)]

    def _tone_power(self) -> tuple[npt.NDArray[np.float64], int]:
        """Per recent sub-block: fitted power of the row and column tone (columns 0, 1), and
        the sub-block clock of the first row."""
        key = (self._frame_no, self._digit)
        if self._power_cache[0] != key:
            blocks = np.concatenate(self._frames).reshape(-1, SUB)
            coef = blocks @ self._fit[self._digit].T  # cos_r, cos_c, sin_r, sin_c
            coef *= coef
            self._power_cache = (key, coef[:, :2] + coef[:, 2:])
        power = self._power_cache[1]
        return power, self._frame_no * WINDOW_SUBS - power.shape[0]

    def _history(self) -> tuple[list[float], int]:
        """Per recent sub-block: coverage² (tone power over the fully-on power), and the
        sub-block clock of the first entry."""
        power, first = self._tone_power()
        lo, hi = self._ref
        # With a large twist the weaker tone's fit is the noisier one: trust the stronger.
        if lo > 4.0 * hi:
            ratio: list[float] = (power[:, 0] / lo).tolist()
        elif hi > 4.0 * lo:
            ratio = (power[:, 1] / hi).tolist()
        else:
            ratio = np.minimum(power[:, 0] / lo, power[:, 1] / hi).tolist()
        return ratio, first

    def _confirm(self, window_end: int, events: list[DtmfEvent]) -> None:
        power, first = self._tone_power()
        newest = window_end - 1 - first
        r0, r1, r2, r3 = power[newest - WINDOW_SUBS + 1 : newest + 1].tolist()
        self._ref = (max(r0[0], r1[0], r2[0], r3[0], 1e-9), max(r0[1], r1[1], r2[1], r3[1], 1e-9))
        ratio, _ = self._history()
        # Walk back from the newest sub-block while the tone covers the sub-blocks, then
        # forward: the run's length is the tone's duration so far.
        lowest = max(1, self._first_window - 1 - first - WINDOW_SUBS - 1)
        j = newest
        while j > lowest and ratio[j - 1] >= 0.25:
            j -= 1
        start = (first + _start_of(ratio, j)) * SUB
        k = j
        while k < newest and ratio[k + 1] >= 0.25:
            k += 1
        if k < newest:  # the tone already stopped: was it long enough?
            end = (first + _end_of(ratio, k, newest)) * SUB
            if end - start < self._min_on:
                return
        elif (first + newest + 1) * SUB - start < self._min_on:
            return  # still on but not yet long enough: decide at the next window
        # A residual line can only exceed the limit if the residual holds enough power.
        tonal = self._last_share < 0.95 and self._tonal_residual(window_end)
        if not self._steady(start) or tonal:
            self._state, self._digit = _IDLE, -1  # speech or music, not a DTMF pair
            return
        self._start_sample = max(0, round(start))
        self._state, self._misses, self._last_window = _ON, 0, window_end
        pr, pc = self._last_levels
        low, high = power_to_dbm0(max(pr, 1e-9) * _SCALE), power_to_dbm0(max(pc, 1e-9) * _SCALE)
        events.append(
            DigitStart(
                digit=_DIGIT_OF[self._digit],
                sample=self._start_sample,
                detected_at=window_end * SUB,
                level_low_dbm0=round(low, 2),
                level_high_dbm0=round(high, 2),
            )
        )

    def _steady(self, start: float) -> bool:
        """Both tones kept one frequency over the windows lying wholly inside the tone."""
        span = 2 * SUB + _N  # a phase step compares windows 10 ms apart: 30 ms of signal
        inside = [(r, c) for end, r, c in self._steps if end * SUB - span >= start - SUB // 2]
        if len(inside) < 2:
            return True
        rows = [r for r, _ in inside]
        cols = [c for _, c in inside]
        lim = self._max_spread
        return max(rows) - min(rows) <= lim and max(cols) - min(cols) <= lim

    def _tonal_residual(self, window_end: int) -> bool:
        """After removing the two tones (at their measured frequencies) from the latest
        window, does a strong spectral line remain? Voiced speech and music leave other
        harmonics; DTMF leaves noise."""
        back = (self._frame_no * WINDOW_SUBS - window_end) * SUB  # samples after the window
        frames = min(len(self._frames), -(-(back + _N) // FRAME))
        hist = np.concatenate([self._frames[-k] for k in range(frames, 0, -1)])
        end = hist.shape[0] - back
        x = hist[end - _N : end]
        if x.shape[0] != _N:
            return False
        r, c = divmod(self._digit, 4)
        sr, sc = self._last_steps
        fr = ROW_FREQS[r] + sr * SAMPLE_RATE / (np.pi * _N)
        fc = COL_FREQS[c] + sc * SAMPLE_RATE / (np.pi * _N)
        w = self._nrow * np.asarray(((fr,), (fc,)))
        w *= 2.0 * np.pi
        w /= SAMPLE_RATE
        rows = self._resid_basis  # cos_r, cos_c, sin_r, sin_c as rows: 4×160
        np.cos(w, out=rows[:2])
        np.sin(w, out=rows[2:])
        # 4×4 normal equations, solved in plain floats (np.linalg.solve costs ~12 µs here).
        coef = _solve_spd4((rows @ rows.T).tolist(), (rows @ x).tolist())
        resid = x - np.asarray(coef) @ rows
        resid *= _HANN
        spec = np.abs(np.fft.rfft(resid))
        spec *= spec
        lines: list[float] = spec.tolist()
        # Lines within 110 Hz of either tone (and at or below 250 Hz) do not count.
        bins, step = self._bins_l, self._bin_hz
        for f in (fr, fc):
            k0 = max(0, int((f - 110.0) / step) - 1)
            for k in range(k0, min(len(bins), int((f + 110.0) / step) + 2)):
                if abs(bins[k] - f) <= 110.0:
                    lines[k] = 0.0
        total = float(np.dot(x, x)) * _HANN_GAIN
        return bool(max(lines[self._first_line :]) > self._max_line * total)

    def _end(self, window_end: int, events: list[DtmfEvent]) -> None:
        if self._state not in (_ON, _ENDING):
            return
        ratio, first = self._history()
        now = window_end - 1 - first
        last = self._last_window - 1 - first
        j = min(now, last + 2)
        lo = max(0, last - WINDOW_SUBS)
        while j > lo and ratio[j] < 0.25:
            j -= 1
        end = max(self._start_sample + 1, round((first + _end_of(ratio, j, now)) * SUB))
        events.append(
            DigitEnd(
                digit=_DIGIT_OF[self._digit],
                start_sample=self._start_sample,
                sample=end,
                detected_at=window_end * SUB,
            )
        )


def _solve_spd4(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve ``a·x = b`` for a symmetric positive definite 4×4 ``a`` (Cholesky, a = L·Lᵀ)."""
    (a00, a01, a02, a03), (_, a11, a12, a13), (_, _, a22, a23), (_, _, _, a33) = a
    l00 = math.sqrt(a00)
    l10, l20, l30 = a01 / l00, a02 / l00, a03 / l00
    l11 = math.sqrt(a11 - l10 * l10)
    l21 = (a12 - l20 * l10) / l11
    l31 = (a13 - l30 * l10) / l11
    l22 = math.sqrt(a22 - l20 * l20 - l21 * l21)
    l32 = (a23 - l30 * l20 - l31 * l21) / l22
    l33 = math.sqrt(a33 - l30 * l30 - l31 * l31 - l32 * l32)
    b0, b1, b2, b3 = b
    y0 = b0 / l00  # forward: L·y = b
    y1 = (b1 - l10 * y0) / l11
    y2 = (b2 - l20 * y0 - l21 * y1) / l22
    y3 = (b3 - l30 * y0 - l31 * y1 - l32 * y2) / l33
    x3 = y3 / l33  # back: Lᵀ·x = y
    x2 = (y2 - l32 * x3) / l22
    x1 = (y1 - l21 * x2 - l31 * x3) / l11
    x0 = (y0 - l10 * x1 - l20 * x2 - l30 * x3) / l00
    return [x0, x1, x2, x3]


def _cover(ratio: float) -> float:
    """Fraction of a sub-block covered by a tone whose |Z|² is ``ratio`` of a full block."""
    return math.sqrt(min(1.0, max(0.0, ratio)))


def _start_of(ratio: list[float], j: int) -> float:
    """Tone start, in sub-blocks, given ``j`` = the first sub-block of the run."""
    c = _cover(ratio[j])
    if c < 0.9:  # j itself is partly covered: the tone began inside it
        return j + 1 - c
    before = _cover(ratio[j - 1]) if j > 0 else 0.0
    return j - (before if before >= 0.2 else 0.0)


def _end_of(ratio: list[float], k: int, newest: int) -> float:
    """Tone end, in sub-blocks, given ``k`` = the last sub-block of the run."""
    c = _cover(ratio[k])
    if c < 0.9:
        return k + c
    after = _cover(ratio[k + 1]) if k < newest else 0.0
    return k + 1 + (after if after >= 0.2 else 0.0)


def decode_digits(samples: npt.ArrayLike, config: DtmfConfig | None = None) -> str:
    """All digits in ``samples``, in order (one per DigitStart)."""
    rx = DtmfReceiver(config)
    x = np.asarray(samples)
    events = [*rx.process(x), *rx.finish()]
    return "".join(ev.digit for ev in events if isinstance(ev, DigitStart))
