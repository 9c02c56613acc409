"""Call-progress tones and ring cadences by country (data).

Figures: frequencies and cadences as tabulated in Asterisk's ``indications.conf`` sample and the
ITU-T "Various tones used in national networks" annex (Q.35 supplement), US Precise Tone Plan
levels; see /work/shared/facts/line-signalling.md. Tones are written as tone lists
(``f1+f2/on_ms,0/off_ms``; ``!`` = play once; ``f*m`` = f amplitude-modulated by m; see
:func:`ata.dsp.tonescript.parse_tonelist`).

Tone kinds: dial, busy, ringback, congestion (reorder), callwaiting, stutter (message-waiting
dial tone) and howler (receiver off-hook). Levels are per frequency in dBm0: each country has a
default; the US plan sets its own per kind. ``tone_plan(cc, kind)`` builds the playable plan;
``ring_cadence_ms(cc)`` gives the bell cadence (the line layer turns it into ring/pause).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ata.dsp.tones import TonePlan
from ata.dsp.tonescript import parse_tonelist

TONE_KINDS: Final = ("dial", "busy", "ringback", "congestion", "callwaiting", "stutter", "howler")

# Receiver off-hook (ROH) "howler", US: four frequencies, 0.1 s on/off, loud.
_HOWLER: Final = "1400+2060+2450+2600/100,0/100"


def _stutter(base: str, f: str) -> str:
    """Six 100 ms blips, then steady ``base`` (the common message-waiting dial tone)."""
    return ",".join([f"!{f}/100,!0/100"] * 6) + f",{base}"


@dataclass(frozen=True, slots=True)
class CountryTones:
    code: str
    name: str
    ring_cadence_ms: tuple[int, ...]
    dial: str
    busy: str
    ringback: str
    congestion: str
    callwaiting: str
    stutter: str
    howler: str = _HOWLER
    level_dbm0: float = -13.0  # per frequency, unless ``levels`` says otherwise
    levels: dict[str, float] = field(default_factory=dict)

    def tone(self, kind: str) -> str:
        if kind not in TONE_KINDS:
            raise KeyError(f"unknown tone kind {kind!r}; known: {', '.join(TONE_KINDS)}")
        text: str = getattr(self, kind)
        return text

    def level(self, kind: str) -> float:
        return self.levels.get(kind, self.level_dbm0)


def _c(
    code: str,
    name: str,
    ring: tuple[int, ...],
    dial: str,
    busy: str,
    ringback: str,
    congestion: str,
    callwaiting: str,
    stutter: str | None = None,
    *,
    level: float = -13.0,
    levels: dict[str, float] | None = None,
) -> CountryTones:
    f = dial.split("/")[0].split(",")[0].lstrip("!")
    return CountryTones(
        code=code,
        name=name,
        ring_cadence_ms=ring,
        dial=dial,
        busy=busy,
        ringback=ringback,
        congestion=congestion,
        callwaiting=callwaiting,
        stutter=stutter if stutter is not None else _stutter(dial, f),
        level_dbm0=level,
        levels=levels or {},
    )


_US_LEVELS: Final = {
    "dial": -13.0,
    "stutter": -13.0,
    "ringback": -19.0,
    "busy": -24.0,
    "congestion": -24.0,
    "callwaiting": -13.0,
    "howler": -19.0,
}
_EU: Final = (1000, 4000)
_UK_RING: Final = (400, 200, 400, 2000)

COUNTRIES: Final[dict[str, CountryTones]] = {
    c.code: c
    for c in (
        _c("at", "Austria", (1000, 5000), "420", "420/400,0/400", "420/1000,0/5000",
           "420/200,0/200", "420/40,0/1960", "380+420"),
        _c("au", "Australia", _UK_RING, "413+438", "425/375,0/375",
           "413+438/400,0/200,413+438/400,0/2000", "425/375,0/375,420/375,0/375",
           "425/200,0/200,425/200,0/4400", "413+438/100,0/40"),
        _c("be", "Belgium", (1000, 3000), "425", "425/500,0/500", "425/1000,0/3000",
           "425/167,0/167", "1400/175,0/175,1400/175,0/3500", "425/1000,0/250"),
        _c("bg", "Bulgaria", _EU, "425", "425/500,0/500", "425/1000,0/4000", "425/250,0/250",
           "425/150,0/150,425/150,0/4000", "425/1500,0/100"),
        _c("br", "Brazil", _EU, "425", "425/250,0/250", "425/1000,0/4000",
           "425/250,0/250,425/750,0/250", "425/50,0/1000", "350+440"),
        _c("ch", "Switzerland", _EU, "425", "425/500,0/500", "425/1000,0/4000",
           "425/200,0/200", "425/200,0/200,425/200,0/4000", "425+340/1100,0/1100"),
        _c("cl", "Chile", (1000, 3000), "400", "400/500,0/500", "400/1000,0/3000",
           "400/200,0/200", "400/250,0/8750"),
        _c("cn", "China", _EU, "450", "450/350,0/350", "450/1000,0/4000", "450/700,0/700",
           "450/400,0/4000", "450+425"),
        _c("cz", "Czech Republic", _EU, "425/330,0/330,425/660,0/660", "425/330,0/330",
           "425/1000,0/4000", "425/165,0/165", "425/330,0/9000", "425/450,0/50"),
        _c("de", "Germany", _EU, "425", "425/480,0/480", "425/1000,0/4000", "425/240,0/240",
           "425/200,0/200,425/200,0/5000", "425+400", level=-16.0),
        _c("dk", "Denmark", _EU, "425", "425/500,0/500", "425/1000,0/4000", "425/200,0/200",
           "425/200,0/600,425/200,0/3000", "425/450,0/50"),
        _c("ee", "Estonia", _EU, "425", "425/300,0/300", "425/1000,0/4000", "425/200,0/200",
           "950/650,0/325,950/325,0/30,1400/1300,0/2600"),
        _c("es", "Spain", (1500, 3000), "425", "425/200,0/200", "425/1500,0/3000",
           "425/200,0/200,425/200,0/200,425/200,0/600", "425/175,0/175,425/175,0/3500"),
        _c("fi", "Finland", _EU, "425", "425/300,0/300", "425/1000,0/4000", "425/200,0/200",
           "425/150,0/150,425/150,0/8000", "425/650,0/25"),
        _c("fr", "France", (1500, 3500), "440", "440/500,0/500", "440/1500,0/3500",
           "440/250,0/250", "440/300,0/10000"),
        _c("gr", "Greece", _EU, "425/200,0/300,425/700,0/800", "425/300,0/300",
           "425/1000,0/4000", "425/200,0/200", "425/150,0/150,425/150,0/8000", "425/650,0/25"),
        _c("hu", "Hungary", (1250, 3750), "425", "425/300,0/300", "425/1250,0/3750",
           "425/300,0/300", "425/40,0/1960", "350+375+400"),
        _c("id", "Indonesia", _EU, "425", "425/500,0/500", "425/1000,0/4000", "425/250,0/250",
           "425/150,0/150,425/150,0/10000"),
        _c("il", "Israel", (1000, 3000), "414", "414/500,0/500", "414/1000,0/3000",
           "414/250,0/250", "414/100,0/100,414/100,0/100,414/600,0/3000"),
        _c("in", "India", _UK_RING, "400*25", "400/750,0/750",
           "400*25/400,0/200,400*25/400,0/2000", "400/250,0/250",
           "400/200,0/100,400/200,0/7500"),
        _c("it", "Italy", _EU, "425/200,0/200,425/600,0/1000", "425/500,0/500",
           "425/1000,0/4000", "425/200,0/200", "425/400,0/100,425/250,0/100,425/150,0/14000",
           "470/400,425/400"),
        _c("jp", "Japan", (1000, 2000), "400", "400/500,0/500", "400*15/1000,0/2000",
           "400/500,0/500", "400*16/500,0/8000"),
        _c("lt", "Lithuania", _EU, "425", "425/350,0/350", "425/1000,0/4000", "425/200,0/200",
           "425/150,0/150,425/150,0/4000"),
        _c("mx", "Mexico", (2000, 4000), "425", "425/250,0/250", "425/1000,0/4000",
           "425/250,0/250", "425/200,0/600,425/200,0/10000"),
        _c("my", "Malaysia", (2000, 4000), "425", "425/500,0/500",
           "425/400,0/200,425/400,0/2000", "425/500,0/500", "425/100,0/4000"),
        _c("nl", "Netherlands", _EU, "425", "425/500,0/500", "425/1000,0/4000",
           "425/250,0/250", "425/500,0/9500", "425/500,0/50"),
        _c("no", "Norway", _EU, "425", "425/500,0/500", "425/1000,0/4000", "425/200,0/200",
           "425/200,0/600,425/200,0/10000", "470/400,425/400"),
        _c("nz", "New Zealand", _UK_RING, "400", "400/500,0/500",
           "400+450/400,0/200,400+450/400,0/2000", "400/250,0/250",
           "!400/200,!0/3000,!400/200,!0/3000,!400/200,!0/3000,!400/200,0"),
        _c("ph", "Philippines", _EU, "425", "480+620/500,0/500", "425+480/1000,0/4000",
           "480+620/250,0/250", "440/300,0/10000"),
        _c("pl", "Poland", _EU, "425", "425/500,0/500", "425/1000,0/4000", "425/500,0/500",
           "425/150,0/150,425/150,0/4000"),
        _c("pt", "Portugal", (1000, 5000), "425", "425/500,0/500", "425/1000,0/5000",
           "425/200,0/200", "440/300,0/10000"),
        _c("ru", "Russia", _EU, "425", "425/350,0/350", "425/1000,0/4000", "425/175,0/175",
           "425/200,0/5000"),
        _c("se", "Sweden", (1000, 5000), "425", "425/250,0/250", "425/1000,0/5000",
           "425/250,0/750", "425/200,0/500,425/200,0/9100"),
        _c("sg", "Singapore", _UK_RING, "425", "425/750,0/750",
           "425*24/400,0/200,425*24/400,0/2000", "425/250,0/250",
           "425*24/300,0/200,425*24/300,0/3200"),
        _c("th", "Thailand", _EU, "400*50", "400/500,0/500", "420/1000,0/5000",
           "400/300,0/300", "1000/400,0/10000,1000/400"),
        _c("tw", "Taiwan", _EU, "350+440", "480+620/500,0/500", "440+480/1000,0/2000",
           "480+620/250,0/250", "350+440/250,0/250,350+440/250,0/3250"),
        _c("uk", "United Kingdom", _UK_RING, "350+440", "400/375,0/375",
           "400+450/400,0/200,400+450/400,0/2000", "400/400,0/350,400/225,0/525",
           "400/100,0/4000", "350+440/750,440/750"),
        _c("us", "United States", (2000, 4000), "350+440", "480+620/500,0/500",
           "440+480/2000,0/4000", "480+620/250,0/250", "440/300,0/10000",
           levels=_US_LEVELS),
        _c("ve", "Venezuela", _EU, "425", "425/500,0/500", "425/1000,0/4000", "425/250,0/250",
           "400+450/300,0/6000"),
        _c("za", "South Africa", _UK_RING, "400*33", "400/500,0/500",
           "400*33/400,0/200,400*33/400,0/2000", "400/250,0/250",
           "400*33/250,0/250,400*33/250,0/250,400*33/250,0/250,400*33/250,0/250", "350+440"),
    )
}  # fmt: skip

ALIASES: Final = {"gb": "uk", "ca": "us", "na": "us"}


class UnknownCountryError(KeyError):
    """No tone table for that country code."""


def country(code: str) -> CountryTones:
    cc = code.strip().lower()
    cc = ALIASES.get(cc, cc)
    try:
        return COUNTRIES[cc]
    except KeyError:
        raise UnknownCountryError(
            f"no tone table for country {code!r}; known: {', '.join(sorted(COUNTRIES))}"
        ) from None


def tone_plan(code: str, kind: str, *, level_dbm0: float | None = None) -> TonePlan:
    """The playable plan for ``kind`` in country ``code`` (level override optional)."""
    c = country(code)
    level = c.level(kind) if level_dbm0 is None else level_dbm0
    return parse_tonelist(c.tone(kind), level, name=f"{c.code}:{kind}")


def ring_cadence_ms(code: str) -> tuple[int, ...]:
    """Ring on/off pattern in ms (on, off[, on, off ...]), repeating."""
    return country(code).ring_cadence_ms
