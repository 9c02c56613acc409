"""Call-progress tone generation: a tone *plan* (data) and a phase-continuous generator.

Theory of operation
-------------------
A :class:`TonePlan` is a list of :class:`Section` s played in order. A section repeats its
:class:`Step` s (each: a set of :class:`Component` frequencies, or silence, for a number of
samples) until the section's own duration has elapsed, or forever (``samples=None``). When the
last finite section ends the tone is over and the generator yields silence. This one shape
covers both Cisco ToneScript (``10(*/0/1+2)``: a 10 s section of one endless step) and
Asterisk-style tone lists (``!``-marked intro steps, then a looping remainder).

:class:`ToneGenerator` walks the plan with a sample clock: cadences are sample-exact (durations
are rounded to whole samples once, when the plan is built) and every oscillator's phase is a
function of the absolute sample index, so the waveform is continuous across frames and across
steps that keep a frequency (an integer frequency is computed with exact integer arithmetic,
so it never drifts). Levels are dBm0 per component (0 dBm0 sine = 3.14 dB below full scale);
an amplitude-modulated component (``400*25``: 400 Hz modulated by 25 Hz, depth 0.9) is scaled
so its mean power still equals its level.

The generator is pure: ``next_frame()`` returns the next 160 samples; nothing reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE, Samples, dbm0_to_amplitude, to_int16

MAX_COMPONENTS: Final = 8


class ToneError(ValueError):
    """A tone definition that cannot be played (with the reason)."""


@dataclass(frozen=True, slots=True)
class Component:
    """One sine at ``freq_hz`` and ``level_dbm0``; optional amplitude modulation."""

    freq_hz: float
    level_dbm0: float
    mod_hz: float | None = None
    mod_depth: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 < self.freq_hz < SAMPLE_RATE / 2:
            raise ToneError(f"frequency {self.freq_hz} Hz outside 0–{SAMPLE_RATE // 2} Hz")
        if not -80.0 <= self.level_dbm0 <= 3.14:
            raise ToneError(f"level {self.level_dbm0} dBm0 outside −80…+3.14 dBm0")
        if self.mod_hz is not None and not 0.0 < self.mod_hz < SAMPLE_RATE / 2:
            raise ToneError(f"modulation {self.mod_hz} Hz out of range")
        if not 0.0 <= self.mod_depth <= 1.0:
            raise ToneError("modulation depth must be within 0…1")


@dataclass(frozen=True, slots=True)
class Step:
    """``components`` (empty = silence) for ``samples`` samples (None = forever)."""

    components: tuple[Component, ...]
    samples: int | None

    def __post_init__(self) -> None:
        if self.samples is not None and self.samples < 0:
            raise ToneError("a step cannot last a negative time")
        if len(self.components) > MAX_COMPONENTS:
            raise ToneError(f"at most {MAX_COMPONENTS} frequencies per step")


@dataclass(frozen=True, slots=True)
class Section:
    """Steps repeated for ``samples`` samples (None = forever)."""

    steps: tuple[Step, ...]
    samples: int | None

    def __post_init__(self) -> None:
        if not self.steps:
            raise ToneError("a section needs at least one step")
        if self.samples is not None and self.samples < 0:
            raise ToneError("a section cannot last a negative time")
        cycle = [s.samples for s in self.steps]
        if None not in cycle and sum(c for c in cycle if c is not None) == 0:
            raise ToneError("a cadence cycle must last longer than zero")


@dataclass(frozen=True, slots=True)
class TonePlan:
    sections: tuple[Section, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.sections:
            raise ToneError("a tone needs at least one section")

    @property
    def samples(self) -> int | None:
        """Total length in samples, None if the tone never ends."""
        total = 0
        for s in self.sections:
            if s.samples is None:
                return None
            total += s.samples
        return total

    @property
    def frequencies(self) -> tuple[float, ...]:
        seen: dict[float, None] = {}
        for sec in self.sections:
            for st in sec.steps:
                for c in st.components:
                    seen[c.freq_hz] = None
        return tuple(seen)


def ms_to_samples(ms: float, rate: int = SAMPLE_RATE) -> int:
    return round(ms * rate / 1000.0)


def seconds_to_samples(s: float, rate: int = SAMPLE_RATE) -> int:
    return round(s * rate)


def steady(freqs: Sequence[float], level_dbm0: float, name: str = "") -> TonePlan:
    """A continuous tone of ``freqs`` at ``level_dbm0`` each."""
    comps = tuple(Component(f, level_dbm0) for f in freqs)
    return TonePlan((Section((Step(comps, None),), None),), name)


def cadenced(
    freqs: Sequence[float], level_dbm0: float, cadence_ms: Sequence[float], name: str = ""
) -> TonePlan:
    """``freqs`` switched on/off by ``cadence_ms`` = (on, off, on, off, ...), repeating."""
    comps = tuple(Component(f, level_dbm0) for f in freqs)
    steps = tuple(
        Step(comps if i % 2 == 0 else (), ms_to_samples(ms)) for i, ms in enumerate(cadence_ms)
    )
    return TonePlan((Section(steps, None),), name)


@dataclass(slots=True)
class _Cursor:
    section: int = 0
    step: int = 0
    in_section: int = 0
    in_step: int = 0
    done: bool = False


@dataclass(slots=True)
class ToneGenerator:
    """Plays a :class:`TonePlan`: ``next_frame() -> int16[160]``, phase-continuous."""

    plan: TonePlan
    rate: int = SAMPLE_RATE
    clock: int = 0  # samples produced so far (the phase reference)
    _cur: _Cursor = field(default_factory=_Cursor, init=False, repr=False)

    @property
    def done(self) -> bool:
        """The plan has finished (only silence follows)."""
        return self._cur.done

    def restart(self) -> None:
        """Play the plan again from its beginning (the phase clock keeps running)."""
        self._cur = _Cursor()

    def next_frame(self, size: int = FRAME_SAMPLES) -> Samples:
        return to_int16(self.next_float(size))

    def render(self, seconds: float) -> Samples:
        """The next ``seconds`` of the tone as one array."""
        return to_int16(self.next_float(seconds_to_samples(seconds, self.rate)))

    def next_float(self, size: int) -> npt.NDArray[np.float64]:
        out = np.zeros(size, dtype=np.float64)
        filled = 0
        cur = self._cur
        guard = 0
        while filled < size and not cur.done:
            sec = self.plan.sections[cur.section]
            step = sec.steps[cur.step]
            take = size - filled
            if sec.samples is not None:
                take = min(take, sec.samples - cur.in_section)
            if step.samples is not None:
                take = min(take, step.samples - cur.in_step)
            if take > 0:
                if step.components:
                    self._synth(out, filled, take, step.components)
                filled += take
                cur.in_section += take
                cur.in_step += take
                guard = 0
            else:
                guard += 1
                if guard > 4 * len(sec.steps) + 4:
                    raise ToneError("tone plan makes no progress")  # validated plans never do
            if sec.samples is not None and cur.in_section >= sec.samples:
                cur.section += 1
                cur.step = cur.in_section = cur.in_step = 0
                if cur.section >= len(self.plan.sections):
                    cur.done = True
            elif step.samples is not None and cur.in_step >= step.samples:
                cur.step = (cur.step + 1) % len(sec.steps)
                cur.in_step = 0
        self.clock += size
        return out

    def _synth(
        self,
        out: npt.NDArray[np.float64],
        offset: int,
        count: int,
        components: tuple[Component, ...],
    ) -> None:
        n = self.clock + offset + np.arange(count, dtype=np.int64)
        for c in components:
            wave = _sine(c.freq_hz, n, self.rate)
            amp = dbm0_to_amplitude(c.level_dbm0)
            if c.mod_hz is not None:
                m = c.mod_depth
                env = 1.0 + m * _sine(c.mod_hz, n, self.rate)
                wave = wave * env / math.sqrt(1.0 + m * m / 2.0)
            out[offset : offset + count] += amp * wave


_TABLES: dict[int, npt.NDArray[np.float64]] = {}


def _sine(freq: float, n: npt.NDArray[np.int64], rate: int) -> npt.NDArray[np.float64]:
    """sin(2π·f·n/rate) for absolute sample indexes ``n``.

    Integer frequencies read a one-period table at (f·n) mod rate: exact, no drift however
    long the tone runs. Other frequencies use the clock modulo 1000 s, which keeps the phase
    continuous for frequencies given to a thousandth of a hertz."""
    if float(freq).is_integer():
        table = _TABLES.get(rate)
        if table is None:
            table = np.sin(2.0 * np.pi * np.arange(rate) / rate)
            _TABLES[rate] = table
        return table[(int(freq) * (n % rate)) % rate]
    cycles = np.mod(freq * (n % (rate * 1000)).astype(np.float64) / rate, 1.0)
    return np.sin(2.0 * np.pi * cycles)
