"""``ata dsp echo-cancel``: run the line echo canceller over a far/near WAV pair."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ata.dsp.echo import EchoCanceller, erle_db
from ata.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE
from ata.dsp.wavio import WavError, read_wav, write_wav


def register(tools: Any) -> None:
    p: argparse.ArgumentParser = tools.add_parser(
        "echo-cancel", help="cancel the hybrid echo of FAR in NEAR; prints ERLE per second"
    )
    p.add_argument("--far", required=True, help="what was played to the line (8 kHz WAV)")
    p.add_argument("--near", required=True, help="what was captured from the line (8 kHz WAV)")
    p.add_argument("--tail-ms", type=float, default=20.0, help="echo tail to cover (default 20)")
    p.add_argument("--nlp", action="store_true", help="add the NLP with comfort noise")
    p.add_argument("-o", "--output", required=True, help="cancelled near end (WAV)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        far = read_wav(args.far)
        near = read_wav(args.near)
    except (OSError, WavError) as exc:
        print(f"error: {exc}")
        return 2
    n = min(far.size, near.size) // FRAME_SAMPLES * FRAME_SAMPLES
    ec = EchoCanceller(tail_ms=args.tail_ms, nlp=args.nlp)
    out = np.zeros(n, dtype=np.int16)
    for i in range(0, n, FRAME_SAMPLES):
        j = i + FRAME_SAMPLES
        out[i:j] = ec.process(near[i:j], far[i:j])
    write_wav(args.output, out)
    print("second  ERLE dB")
    for k, i in enumerate(range(0, n, SAMPLE_RATE)):
        j = min(n, i + SAMPLE_RATE)
        print(f"{k:6d}  {erle_db(near[i:j], out[i:j]):7.1f}")
    print(f"total   {erle_db(near[:n], out[:n]):7.1f}")
    return 0
