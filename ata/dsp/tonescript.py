"""Parsers for tone and ring scripts: Cisco ToneScript / RingScript and Asterisk tone lists.

Theory of operation
-------------------
Cisco ToneScript (SPA/ATA provisioning): ``FreqScript;Z1[;Z2...]``

- ``FreqScript`` = ``F1@L1[,F2@L2 ...]``: up to six frequencies in Hz with levels in dBm0;
- each section ``Zi`` = ``D(on/off/f[+f...][,on/off/f ...])``: played for ``D`` seconds
  (``*`` = forever), cycling through its cadence segments; ``on``/``off`` are seconds (``*`` =
  forever), ``f`` are 1-based indexes into the FreqScript. After the last finite section the
  tone stops. Example: ``350@-19,440@-19;2(.1/.1/1+2);10(*/0/1+2)`` (stutter, then steady).

Cisco RingScript: ``D(on/off[,on/off ...])[;...]`` (no frequencies), e.g. ``60(.8/.4,.8/4)``.

Asterisk ``indications.conf`` tone list: ``[!]f1[+f2|*f2][/ms],...`` (``0`` = silence, ``*``
= amplitude modulation, ``!`` = play once): the ``!`` steps form an intro, the rest loops.

Errors raise :class:`ToneScriptError` naming the offending part and why, so a provisioning
validator can show ``Dial_Tone: section 2 segment 1: 'x' is not a number`` and refuse the
profile instead of playing garbage.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from ata.dsp.levels import SAMPLE_RATE
from ata.dsp.tones import Component, Section, Step, ToneError, TonePlan

MAX_FREQS: Final = 6
MAX_SECTIONS: Final = 8
MAX_SEGMENTS: Final = 8
MAX_SCRIPT_LEN: Final = 512
_NUMBER: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class ToneScriptError(ToneError):
    """A malformed tone or ring script."""


@dataclass(frozen=True, slots=True)
class Cadence:
    """One section of a script: duration (s, None = forever) and its (on, off, freqs) parts."""

    duration_s: float | None
    segments: tuple[tuple[float | None, float | None, tuple[int, ...]], ...]


def _number(text: str, what: str) -> float:
    t = text.strip()
    if not _NUMBER.match(t):
        raise ToneScriptError(f"{what}: {t!r} is not a number")
    value = float(t)
    if not math.isfinite(value):
        raise ToneScriptError(f"{what}: {t!r} is not finite")
    return value


def _seconds(text: str, what: str) -> float | None:
    if text.strip() == "*":
        return None
    value = _number(text, what)
    if value < 0 or value > 86400:
        raise ToneScriptError(f"{what}: {value} s is outside 0…86400 s")
    return value


def _sections(text: str, *, with_freqs: bool, nfreqs: int) -> list[Cadence]:
    out: list[Cadence] = []
    parts = text.split(";")
    if len(parts) > MAX_SECTIONS:
        raise ToneScriptError(f"at most {MAX_SECTIONS} sections, got {len(parts)}")
    for si, part in enumerate(parts, 1):
        where = f"section {si}"
        m = re.fullmatch(r"\s*([^()\s]+)\s*\(([^()]*)\)\s*", part)
        if m is None:
            raise ToneScriptError(f"{where}: expected 'duration(on/off{'/freqs' * with_freqs})'")
        duration = _seconds(m.group(1), f"{where} duration")
        segs: list[tuple[float | None, float | None, tuple[int, ...]]] = []
        items = m.group(2).split(",")
        if len(items) > MAX_SEGMENTS:
            raise ToneScriptError(f"{where}: at most {MAX_SEGMENTS} cadence segments")
        for gi, item in enumerate(items, 1):
            w = f"{where} segment {gi}"
            fields = item.split("/")
            if len(fields) != (3 if with_freqs else 2):
                shape = "on/off/freqs" if with_freqs else "on/off"
                raise ToneScriptError(f"{w}: expected {shape}, got {item.strip()!r}")
            on = _seconds(fields[0], f"{w} on-time")
            off = _seconds(fields[1], f"{w} off-time")
            freqs: tuple[int, ...] = ()
            if with_freqs:
                idx: list[int] = []
                for f in fields[2].split("+"):
                    n = _number(f, f"{w} frequency index")
                    if not n.is_integer() or not 1 <= n <= nfreqs:
                        raise ToneScriptError(
                            f"{w}: frequency index {f.strip()!r} not in 1…{nfreqs}"
                        )
                    idx.append(int(n) - 1)
                freqs = tuple(idx)
            segs.append((on, off, freqs))
        cycle = [x for on, off, _ in segs for x in (on, off)]
        if None not in cycle and sum(x for x in cycle if x is not None) <= 0:
            raise ToneScriptError(f"{where}: the cadence lasts zero seconds")
        out.append(Cadence(duration, tuple(segs)))
    return out


def _samples(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * SAMPLE_RATE)


def parse_tonescript(script: str, name: str = "") -> TonePlan:
    """Cisco ToneScript → :class:`TonePlan`."""
    if not script or len(script) > MAX_SCRIPT_LEN:
        raise ToneScriptError(f"a tone script must be 1…{MAX_SCRIPT_LEN} characters")
    head, sep, rest = script.partition(";")
    if not sep:
        raise ToneScriptError("expected 'freqs;cadence', e.g. '350@-19,440@-19;10(*/0/1+2)'")
    comps: list[Component] = []
    for i, item in enumerate(head.split(","), 1):
        f, at, lvl = item.partition("@")
        if not at:
            raise ToneScriptError(f"frequency {i}: expected 'Hz@dBm0', got {item.strip()!r}")
        freq = _number(f, f"frequency {i}")
        level = _number(lvl, f"frequency {i} level")
        try:
            comps.append(Component(freq, level))
        except ToneError as exc:
            raise ToneScriptError(f"frequency {i}: {exc}") from None
    if len(comps) > MAX_FREQS:
        raise ToneScriptError(f"at most {MAX_FREQS} frequencies, got {len(comps)}")
    sections: list[Section] = []
    for cad in _sections(rest, with_freqs=True, nfreqs=len(comps)):
        steps: list[Step] = []
        for on, off, idx in cad.segments:
            tone = tuple(comps[i] for i in idx)
            if on is None or on > 0:
                steps.append(Step(tone, _samples(on)))
            if off is None or off > 0:
                steps.append(Step((), _samples(off)))
        if cad.duration_s == 0:
            continue
        sections.append(Section(tuple(steps), _samples(cad.duration_s)))
    if not sections:
        raise ToneScriptError("every section lasts zero seconds")
    return TonePlan(tuple(sections), name)


def parse_ringscript(script: str) -> list[Cadence]:
    """Cisco RingScript → its sections (ring on/off times in seconds)."""
    if not script or len(script) > MAX_SCRIPT_LEN:
        raise ToneScriptError(f"a ring script must be 1…{MAX_SCRIPT_LEN} characters")
    return _sections(script, with_freqs=False, nfreqs=0)


def parse_tonelist(text: str, level_dbm0: float, name: str = "") -> TonePlan:
    """Asterisk-style tone list → :class:`TonePlan` (every frequency at ``level_dbm0``)."""
    intro: list[Step] = []
    loop: list[Step] = []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ToneScriptError("empty tone list")
    for item in items:
        once = item.startswith("!")
        body = item[1:] if once else item
        freqs, slash, dur = body.partition("/")
        samples = round(_number(dur, f"{item!r} duration") * SAMPLE_RATE / 1000) if slash else None
        comps: list[Component] = []
        if "*" in freqs:
            carrier, _, mod = freqs.partition("*")
            comps.append(Component(_number(carrier, item), level_dbm0, mod_hz=_number(mod, item)))
        else:
            for f in freqs.split("+"):
                hz = _number(f, f"{item!r} frequency")
                if hz > 0:
                    comps.append(Component(hz, level_dbm0))
        step = Step(tuple(comps), samples)
        (intro if once and not loop else loop).append(step)
    sections: list[Section] = []
    if intro:
        total = 0
        for s in intro:
            if s.samples is None:
                sections.append(Section(tuple(intro[: intro.index(s) + 1]), None))
                return TonePlan(tuple(sections), name)
            total += s.samples
        sections.append(Section(tuple(intro), total))
    if loop:
        sections.append(Section(tuple(loop), None))
    return TonePlan(tuple(sections), name)
