"""Ring cadences as data: per country, Bellcore distinctive rings r1–r8, Alert-Info mapping.

Theory of operation
-------------------
A :class:`RingCadence` is ``segments=((on_s, off_s), ...)`` repeated until ``max_s`` (None =
until answered or cancelled); the line layer (``ata.line.ringer``) and the HAL ring driver
consume exactly that tuple. Sources of cadences:

- :func:`country_ring` — the national bell cadence from :mod:`ata.dsp.tone_tables`;
- :data:`DISTINCTIVE` — Bellcore / Telcordia GR-506 style distinctive rings r1–r8 with the
  Cisco SPA default RingScripts (``Ring1_Cadence`` … ``Ring8_Cadence``);
- :func:`ring_from_script` — any Cisco RingScript (``60(.8/.4,.8/4)``);
- :func:`cadence_for_alert_info` — the SIP ``Alert-Info`` header of an incoming INVITE:
  ``<http://127.0.0.1/Bellcore-dr2>``, ``<…/Bellcore-r3>``, ``info=alert-internal``,
  ``info=ring5``, RFC 7462 URNs (``<urn:alert:source:internal>``). Unknown values give None
  (ring the default cadence), never an error: the header is remote input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ata.dsp.tone_tables import ring_cadence_ms
from ata.dsp.tonescript import ToneScriptError, parse_ringscript


@dataclass(frozen=True, slots=True)
class RingCadence:
    segments: tuple[tuple[float, float], ...]
    max_s: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.segments or any(on <= 0 or off < 0 for on, off in self.segments):
            raise ValueError("a ring cadence needs (on, off) pairs with on > 0 and off ≥ 0")

    @property
    def period_s(self) -> float:
        return sum(on + off for on, off in self.segments)

    def is_ringing(self, t_s: float) -> bool:
        """Whether the bell rings ``t_s`` seconds after the cadence started."""
        if t_s < 0 or (self.max_s is not None and t_s >= self.max_s):
            return False
        t = t_s % self.period_s
        for on, off in self.segments:
            if t < on:
                return True
            t -= on + off
            if t < 0:
                return False
        return False


def ring_from_script(script: str, name: str = "") -> RingCadence:
    """Cisco RingScript (first section) → :class:`RingCadence`; '*' times are refused."""
    sections = parse_ringscript(script)
    sec = sections[0]
    segs: list[tuple[float, float]] = []
    for on, off, _ in sec.segments:
        if on is None or off is None:
            raise ToneScriptError("ring cadence: '*' on/off times are not allowed for ringing")
        if on <= 0:
            raise ToneScriptError("ring cadence: each ring needs an on-time > 0")
        segs.append((on, off))
    return RingCadence(tuple(segs), sec.duration_s, name or script)


def country_ring(code: str) -> RingCadence:
    ms = ring_cadence_ms(code)
    pairs = tuple((ms[i] / 1000.0, ms[i + 1] / 1000.0) for i in range(0, len(ms) - 1, 2))
    return RingCadence(pairs, None, f"{code}:ring")


# Cisco SPA defaults Ring1..Ring8 (Bellcore distinctive ringing r1..r8).
RING_SCRIPTS: Final = {
    "r1": "60(2/4)",
    "r2": "60(.8/.4,.8/4)",
    "r3": "60(.4/.2,.4/.2,.8/4)",
    "r4": "60(.3/.2,1/.2,.3/4)",
    "r5": "1(.5/.5)",
    "r6": "60(.2/.4,.2/.4,.2/4)",
    "r7": "60(.4/.2,.4/.2,.4/4)",
    "r8": "60(.25/9.75)",
}
DISTINCTIVE: Final[dict[str, RingCadence]] = {
    k: ring_from_script(v, k) for k, v in RING_SCRIPTS.items()
}

# Common Alert-Info names (Polycom/Asterisk "info=" values, RFC 7462 URNs) → Bellcore ring.
ALERT_NAMES: Final = {
    "alert-external": "r1",
    "alert-internal": "r2",
    "alert-group": "r3",
    "alert-priority": "r4",
    "alert-autoanswer": "r5",
    "alert-emergency": "r4",
    "normal": "r1",
    "internal": "r2",
    "external": "r1",
    "urn:alert:service:normal": "r1",
    "urn:alert:source:internal": "r2",
    "urn:alert:source:external": "r1",
    "urn:alert:priority:high": "r4",
    "urn:alert:priority:low": "r8",
    "urn:alert:service:call-waiting": "r6",
}

_BELLCORE: Final = re.compile(r"bellcore-d?r([1-8])\b", re.IGNORECASE)
_RING_N: Final = re.compile(r"\bring-?([1-8])\b", re.IGNORECASE)


def distinctive_name(alert_info: str) -> str | None:
    """'r1'…'r8' named by an Alert-Info header value, None when it names none we know."""
    text = alert_info.strip()[:512]
    m = _BELLCORE.search(text)
    if m:
        return f"r{m.group(1)}"
    for token in re.split(r"[<>,;\s]+", text.lower()):
        if not token:
            continue
        value = token.split("=", 1)[1] if token.startswith("info=") else token
        if value in ALERT_NAMES:
            return ALERT_NAMES[value]
        m = _RING_N.fullmatch(value)
        if m:
            return f"r{m.group(1)}"
    return None


def cadence_for_alert_info(alert_info: str | None) -> RingCadence | None:
    """The distinctive cadence an Alert-Info header asks for, or None for the default."""
    if not alert_info:
        return None
    name = distinctive_name(alert_info)
    return DISTINCTIVE[name] if name else None
