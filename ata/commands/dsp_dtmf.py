"""``ata dsp dtmf-decode IN.wav`` and ``ata dsp dtmf-gen``: DTMF receiver and generator on WAVs."""

from __future__ import annotations

import argparse
from typing import Any

from ata.dsp.dtmf import DigitEnd, DigitStart, DtmfError, DtmfGenerator, DtmfReceiver
from ata.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE
from ata.dsp.wavio import WavError, read_wav, write_wav


def register(tools: Any) -> None:
    p: argparse.ArgumentParser = tools.add_parser(
        "dtmf-decode", help="print the DTMF digits in an 8 kHz WAV (PCM16, µ-law or A-law)"
    )
    p.add_argument("wav", help="input WAV file")
    p.add_argument("-v", "--verbose", action="store_true", help="also list start/end times")
    p.set_defaults(handler=run_decode)
    g: argparse.ArgumentParser = tools.add_parser("dtmf-gen", help="write DTMF digits to a WAV")
    g.add_argument("digits", help="digits to send: 0-9 * # A-D")
    g.add_argument("-o", "--output", required=True, help="output WAV (8 kHz PCM16)")
    g.add_argument("--level", type=float, default=-10.0, help="low-group level, dBm0")
    g.add_argument("--twist", type=float, default=2.0, help="high minus low group level, dB")
    g.add_argument("--on-ms", type=float, default=100.0, help="tone duration")
    g.add_argument("--off-ms", type=float, default=100.0, help="pause after each tone")
    g.set_defaults(handler=run_gen)


def run_decode(args: argparse.Namespace) -> int:
    try:
        samples = read_wav(args.wav)
    except (OSError, WavError) as exc:
        print(f"ata dsp dtmf-decode: {exc}")
        return 1
    rx = DtmfReceiver()
    events = []
    for i in range(0, samples.shape[0], FRAME_SAMPLES):
        events += rx.process(samples[i : i + FRAME_SAMPLES])
    events += rx.finish()
    print("".join(ev.digit for ev in events if isinstance(ev, DigitStart)))
    if args.verbose:
        for ev in events:
            if isinstance(ev, DigitEnd):
                print(
                    f"{ev.digit} {ev.start_sample / SAMPLE_RATE:.4f}s"
                    f" .. {ev.sample / SAMPLE_RATE:.4f}s ({ev.duration_s * 1000:.1f} ms)"
                )
    return 0


def run_gen(args: argparse.Namespace) -> int:
    try:
        gen = DtmfGenerator(level_dbm0=args.level, twist_db=args.twist)
        audio = gen.render(args.digits, args.on_ms, args.off_ms)
    except DtmfError as exc:
        print(f"ata dsp dtmf-gen: {exc}")
        return 2
    write_wav(args.output, audio)
    return 0
