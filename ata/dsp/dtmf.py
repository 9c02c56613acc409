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

Cost (bench/bench_dtmf.py, x86-64): ~2 µs per quiet frame, ~15 µs per speech frame, ~35 µs
per frame while digits are being received (the edge fits and talk-off checks run once per
digit).
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
        self._clear()

    def _clear(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._tail = np.zeros((_TAIL, 8), dtype=np.complex128)
        self._prev_e = np.zeros(WINDOW_SUBS, dtype=np.float64)
        self._tail_energy = 0.0  # energy of the last 3 sub-blocks
        self._power_cache: tuple[tuple[int, int], npt.NDArray[np.float64]] = (
            (-1, -1),
            _ZERO_TAIL.real,
        )
        self._frames: deque[npt.NDArray[np.float64]] = deque(
            [np.zeros(FRAME)] * _HIST_FRAMES, maxlen=_HIST_FRAMES
        )  # recent audio, to locate digit edges when an event fires
        self._frame_no = 0
        self._state = _State.IDLE
        self._digit = -1
        self._count = 0
        self._strict = 0  # windows of the pending run that passed the strict limits
        self._misses = 0
        self._first_window = 0  # sub-block clock of the first candidate window's end
        self._last_window = 0  # ... of the last window that held the digit
        self._start_sample = 0
        self._ref = np.ones(2)  # |Z|² per sub-block of the row / column tone when fully on
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
        if self._state in (_State.ON, _State.ENDING):
            return _DIGIT_OF[self._digit]
        return None

    @property
    def active_start_sample(self) -> int | None:
        """Where the digit now on began (for RFC 4733 durations), else None."""
        return self._start_sample if self._state in (_State.ON, _State.ENDING) else None

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
        if self._state is _State.IDLE and float(xf @ xf) + self._tail_energy < self._quiet:
            # Quiet frame: no window ending in it can hold a digit. Its bins are below every
            # threshold, so zeros stand in for them in the history.
            self._tail = _ZERO_TAIL
            self._prev_e = np.zeros(WINDOW_SUBS)
            self._tail_energy = 0.0
            self._frames.append(xf)
            self._frame_no += 1
            return []
        r = xf.reshape(WINDOW_SUBS, SUB)
        z = (r @ self._basis).view(np.complex128) * self._phase[self._frame_no % _PERIOD]
        e = (r * r) @ _ONES
        ec = np.concatenate((self._prev_e[1:], e))
        zc = np.concatenate((self._tail, z))  # 5 earlier sub-blocks + this frame's 4
        self._tail, self._prev_e = zc[-_TAIL:], e
        self._tail_energy = float(e[1] + e[2] + e[3])
        self._frames.append(xf)
        base = self._frame_no * WINDOW_SUBS
        self._frame_no += 1
        events: list[DtmfEvent] = []
        total = ec[:-3] + ec[1:-2] + ec[2:-1] + ec[3:]
        if self._state in (_State.IDLE, _State.PENDING) and float(total.max()) < self._quiet:
            self._state, self._digit = _State.IDLE, -1
            return events  # nothing loud enough to be a pair of tones
        h = zc[:-1] + zc[1:]  # 10 ms half-window sums
        mag = np.abs(h[2:])
        amp = mag[:-2] + mag[2:]  # |Z1|+|Z2| of this frame's four windows
        zs = h[:-2] + h[2:]  # coherent 20 ms bins: windows two hops back .. this frame's last
        coh = np.abs(zs[2:])
        best = coh.reshape(WINDOW_SUBS, 2, 4).argmax(axis=2).tolist()
        amp_l, coh_l, tot_l = amp.tolist(), coh.tolist(), total.tolist()
        min_a2, floor = self._min_a2, 0.6 * self._share_hold
        zs_l: list[list[complex]] | None = None
        for i in range(WINDOW_SUBS):
            row, col = best[i]
            a = amp_l[i]
            ar, ac = a[row], a[col + 4]  # |Z1|+|Z2| ≥ the tone amplitude: an upper bound
            ar, ac = ar * ar, ac * ac
            if ar < min_a2 or ac < min_a2 or ar + ac < floor * tot_l[i]:
                if self._state is not _State.IDLE:
                    self._step(-1, -1, base + i + 1, events)
                continue
            if zs_l is None:
                zs_l = zs.tolist()
            code, relaxed = self._window(i, row, col + 4, coh_l[i], tot_l[i], zs_l)
            self._step(code, relaxed, base + i + 1, events)
        return events

    def _window(
        self,
        i: int,
        row: int,
        col: int,
        coh: list[float],
        total: float,
        zs: list[list[complex]],
    ) -> tuple[int, int]:
        """Digit code passing the strict (start) and relaxed (hold) limits, −1 for none."""
        # Frequency offset: phase advance of the 20 ms bin between windows 10 ms apart.
        step_r = cmath.phase(zs[i + 2][row] * zs[i][row].conjugate())
        step_c = cmath.phase(zs[i + 2][col] * zs[i][col].conjugate())
        if abs(step_r) > self._max_step_hold[row] or abs(step_c) > self._max_step_hold[col]:
            return -1, -1
        # The coherent 20 ms amplitude leaks least between groups; undo its loss for a tone
        # off nominal by the measured phase step (exact for a steady tone).
        cr, cc = coh[row], coh[col]
        pr = (cr / max(math.cos(0.5 * step_r), 0.3)) ** 2
        pc = (cc / max(math.cos(0.5 * step_c), 0.3)) ** 2
        if pr < self._min_a2 or pc < self._min_a2 or pr + pc < self._share_hold * total:
            return -1, -1
        if pr > pc * self._low_ratio or pc > pr * self._high_ratio:
            return -1, -1
        # Relative peak: the runner-up of each group, as a power ratio to the winner.
        peak_r = (sorted(coh[:4])[-2] / cr) ** 2 if cr > 0.0 else 1.0
        peak_c = (sorted(coh[4:])[-2] / cc) ** 2 if cc > 0.0 else 1.0
        if peak_r > self._peak_ratio_hold or peak_c > self._peak_ratio_hold:
            return -1, -1
        code = row * 4 + col - 4
        self._last_levels = (pr, pc)
        self._last_steps = (step_r, step_c)
        self._last_share = (pr + pc) * _SCALE * _N / max(total, 1e-9)
        strict = (
            pr + pc >= self._share_on * total
            and peak_r <= self._peak_ratio
            and peak_c <= self._peak_ratio
            and abs(step_r) <= self._max_step[row]
            and abs(step_c) <= self._max_step[col]
        )
        return (code if strict else -1), code

    # -- the state machine -------------------------------------------------------------------

    def _step(self, code: int, relaxed: int, window_end: int, events: list[DtmfEvent]) -> None:
        if self._digit >= 0 and self._digit in (code, relaxed):
            inp = _In.SAME
        elif code >= 0:
            inp = _In.OTHER
        else:
            inp = _In.NONE
        act = _TABLE[(self._state, inp)]
        if act is _Act.NOTHING:
            return
        if act is _Act.BEGIN:
            self._begin(code, window_end)
        elif act is _Act.DROP:
            self._state, self._digit = _State.IDLE, -1
        elif act is _Act.COUNT:
            self._count += 1
            self._strict += code >= 0
            self._steps.append((window_end, *self._last_steps))
            if self._count >= self.config.on_windows and self._strict >= self.config.strict_windows:
                self._confirm(window_end, events)
        elif act is _Act.HOLD:
            self._state, self._misses, self._last_window = _State.ON, 0, window_end
        elif act is _Act.MISS:
            self._misses += 1
            self._state = _State.ENDING
            if self._misses >= self.config.off_windows:
                self._end(window_end, events)
                self._state, self._digit = _State.IDLE, -1
        elif act is _Act.END_BEGIN:
            self._end(window_end, events)
            self._begin(code, window_end)

    def _begin(self, code: int, window_end: int) -> None:
        self._state, self._digit, self._count, self._strict = _State.PENDING, code, 1, 1
        self._first_window = window_end
        self._steps = [(window_end, *self._last_steps)]

    def _tone_power(self) -> tuple[npt.NDArray[np.float64], int]:
        """Per recent sub-block: fitted power of the row and column tone (columns 0, 1), and
        the sub-block clock of the first row."""
        key = (self._frame_no, self._digit)
        if self._power_cache[0] != key:
            blocks = np.concatenate(self._frames).reshape(-1, SUB)
            coef = blocks @ self._fit[self._digit].T  # cos_r, cos_c, sin_r, sin_c
            self._power_cache = (key, coef[:, :2] ** 2 + coef[:, 2:] ** 2)
        power = self._power_cache[1]
        return power, self._frame_no * WINDOW_SUBS - power.shape[0]

    def _history(self) -> tuple[list[float], int]:
        """Per recent sub-block: coverage² (tone power over the fully-on power), and the
        sub-block clock of the first entry."""
        power, first = self._tone_power()
        zz = power / self._ref
        lo, hi = float(self._ref[0]), float(self._ref[1])
        # With a large twist the weaker tone's fit is the noisier one: trust the stronger.
        if lo > 4.0 * hi:
            ratio: npt.NDArray[np.float64] = zz[:, 0]
        elif hi > 4.0 * lo:
            ratio = zz[:, 1]
        else:
            ratio = np.min(zz, axis=1)
        return ratio.tolist(), first

    def _confirm(self, window_end: int, events: list[DtmfEvent]) -> None:
        power, first = self._tone_power()
        newest = window_end - 1 - first
        recent = power[newest - WINDOW_SUBS + 1 : newest + 1]
        self._ref = np.maximum(recent.max(axis=0), 1e-9)
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
            self._state, self._digit = _State.IDLE, -1  # speech or music, not a DTMF pair
            return
        self._start_sample = max(0, round(start))
        self._state, self._misses, self._last_window = _State.ON, 0, window_end
        low, high = (power_to_dbm0(max(p, 1e-9) * _SCALE) for p in self._last_levels)
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
        hist = np.concatenate(self._frames)
        end = hist.shape[0] - (self._frame_no * WINDOW_SUBS - window_end) * SUB
        x = hist[end - _N : end]
        if x.shape[0] != _N:
            return False
        r, c = divmod(self._digit, 4)
        sr, sc = self._last_steps
        f = np.asarray(
            (
                ROW_FREQS[r] + sr * SAMPLE_RATE / (np.pi * _N),
                COL_FREQS[c] + sc * SAMPLE_RATE / (np.pi * _N),
            )
        )
        w = 2.0 * np.pi * np.outer(np.arange(_N), f) / SAMPLE_RATE
        basis = np.concatenate((np.cos(w), np.sin(w)), axis=1)
        coef = np.linalg.solve(basis.T @ basis, basis.T @ x)  # 4×4 normal equations
        resid = x - basis @ coef
        spec = np.abs(np.fft.rfft(resid * _HANN)) ** 2
        bins = np.fft.rfftfreq(_N, 1.0 / SAMPLE_RATE)
        keep = (np.abs(bins[:, None] - f[None, :]) > 110.0).all(axis=1) & (bins > 250.0)
        total = float(np.dot(x, x)) * _HANN_GAIN
        return bool(spec[keep].max() > self._max_line * total)

    def _end(self, window_end: int, events: list[DtmfEvent]) -> None:
        if self._state not in (_State.ON, _State.ENDING):
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
