"""``ata dsp tone``: render a call-progress tone (country table or Cisco ToneScript) to a WAV."""

from __future__ import annotations

import argparse
from typing import Any

from ata.dsp.tone_tables import COUNTRIES, TONE_KINDS, UnknownCountryError, tone_plan
from ata.dsp.tones import ToneError, ToneGenerator
from ata.dsp.tonescript import parse_tonescript
from ata.dsp.wavio import write_wav


def register(tools: Any) -> None:
    p: argparse.ArgumentParser = tools.add_parser(
        "tone", help="write a call-progress tone (by country, or a Cisco ToneScript) to a WAV"
    )
    p.add_argument("--country", default="us", help=f"country code ({', '.join(sorted(COUNTRIES))})")
    p.add_argument("--tone", choices=TONE_KINDS, default="dial", help="which tone")
    p.add_argument("--script", help="Cisco ToneScript, e.g. '350@-19,440@-19;10(*/0/1+2)'")
    p.add_argument("--level", type=float, help="override the level per frequency, dBm0")
    p.add_argument("--seconds", type=float, default=5.0, help="length of the output")
    p.add_argument("-o", "--output", required=True, help="output WAV (8 kHz PCM16)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.seconds <= 3600:
        print("ata dsp tone: --seconds must be within 0…3600")
        return 2
    try:
        if args.script:
            plan = parse_tonescript(args.script, name="script")
        else:
            plan = tone_plan(args.country, args.tone, level_dbm0=args.level)
    except (ToneError, UnknownCountryError) as exc:
        print(f"ata dsp tone: {exc}")
        return 2
    write_wav(args.output, ToneGenerator(plan).render(args.seconds))
    return 0
