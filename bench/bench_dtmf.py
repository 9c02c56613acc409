"""DTMF receiver benchmark: pi-ata vs spandsp's dtmf_rx (ctypes), and multimon-ng where it applies.

Run: ``python bench/bench_dtmf.py [--speech-minutes 30] [--trials 48] [--baseline REV]
[--cost-only]``

Prints
1. cost in µs per 20 ms frame on the same audio (silence, speech, continuous DTMF, DTMF in
   noise): mean (best of the repetitions), median and 99th percentile per frame, and the ratio to
   spandsp. ``--baseline REV`` also times ``ata/dsp/dtmf.py`` as it was at git revision REV
   (loaded from ``git show`` into a temporary module), interleaved with the current one in the
   same run, and checks both report the same events;
2. detection tables, all after a G.711 µ-law round trip: sensitivity (level per tone),
   frequency offset, twist, white-noise SNR, tone/burst duration, and talk-off counts on an
   espeak-ng speech corpus, dial tone + speech, and synthetic music chords.
Numbers, not pass/fail.
"""

from __future__ import annotations

import argparse
import ctypes.util
import difflib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.dsp.dtmf import DIGITS, DtmfReceiver, decode_digits, dtmf_tone  # noqa: E402
from ata.dsp.levels import dbm0_to_amplitude  # noqa: E402
from tests.dsp.dtmf_support import (  # noqa: E402
    SpanDspDtmf,
    add_noise,
    multimon_decode,
    music_chords,
    spandsp_decode,
    speech_corpus,
    ulaw_round_trip,
)

Decoder = Callable[[np.ndarray], str]


def build(digits: str, on: float, off: float, rng: np.random.Generator, **kw: float) -> np.ndarray:
    snr = kw.pop("snr", None)
    parts = [np.zeros(int(rng.integers(0, 400)))]
    tones = []
    for d in digits:
        t = dtmf_tone(d, on, **kw)
        tones.append(t)
        parts += [t, np.zeros(round(off * 8000))]
    x = np.concatenate([*parts, np.zeros(800)])
    if snr is not None:
        power = float(np.mean(np.concatenate(tones) ** 2))
        x = add_noise(x, snr, power, rng)
    return ulaw_round_trip(x)


def score(expected: str, got: str) -> int:
    """Digits detected correctly, in order (extra/doubled digits don't count)."""
    m = difflib.SequenceMatcher(None, expected, got, autojunk=False)
    return sum(b.size for b in m.get_matching_blocks())


def frame_costs(fn: Callable[[np.ndarray], object], x: np.ndarray) -> np.ndarray:
    """µs spent by ``fn`` on each 20 ms frame of ``x``."""
    frames = [x[i : i + 160] for i in range(0, x.shape[0] - 159, 160)]
    costs = np.empty(len(frames))
    clock = time.perf_counter_ns
    for k, f in enumerate(frames):
        t0 = clock()
        fn(f)
        costs[k] = clock() - t0
    return costs / 1000.0


def summary(runs: list[np.ndarray]) -> tuple[float, float, float]:
    """Mean (best run), median and 99th percentile (median over runs) in µs per frame."""
    return (
        min(float(r.mean()) for r in runs),
        float(np.median([np.median(r) for r in runs])),
        float(np.median([np.percentile(r, 99) for r in runs])),
    )


def load_baseline(rev: str) -> ModuleType:
    """``ata/dsp/dtmf.py`` as of git revision ``rev``, imported as a separate module."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:ata/dsp/dtmf.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench_dtmf_base_")) / "dtmf_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("dtmf_baseline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dtmf_baseline"] = module
    spec.loader.exec_module(module)
    return module


def events_of(receiver_type: type, x: np.ndarray) -> list[str]:
    rx = receiver_type()
    out: list[str] = []
    for i in range(0, x.shape[0] - 159, 160):
        out += [repr(e) for e in rx.process(x[i : i + 160])]
    return out


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  " + "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--speech-minutes", type=float, default=30.0)
    ap.add_argument("--trials", type=int, default=48, help="digits per table cell")
    ap.add_argument("--repeat", type=int, default=5, help="timing repetitions per input")
    ap.add_argument("--baseline", metavar="REV", help="also time dtmf.py as of git revision REV")
    ap.add_argument("--cost-only", action="store_true", help="skip the detection tables")
    args = ap.parse_args()
    lib = ctypes.util.find_library("spandsp")
    mm = shutil.which("multimon-ng") and shutil.which("sox")
    have_speech = bool(shutil.which("espeak-ng") and shutil.which("sox"))
    print(f"spandsp: {lib or 'missing'}; multimon-ng: {'yes' if mm else 'missing'}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_dtmf_"))

    decoders: dict[str, Decoder] = {"pi-ata": decode_digits}
    if lib:
        decoders["spandsp"] = lambda x: spandsp_decode(lib, x)
    if mm:
        decoders["multimon"] = lambda x: multimon_decode(x, tmp)
    names = list(decoders)
    rng = np.random.default_rng(2026)
    n = args.trials
    seq = (DIGITS * (n // 16 + 1))[:n]

    # 1. cost per frame -------------------------------------------------------------------
    speech = (
        [x for _, x in speech_corpus(args.speech_minutes * 60, seed=2026)] if have_speech else []
    )
    speech_audio = np.concatenate(speech) if speech else music_chords(60.0)
    dtmf_audio = build(DIGITS * 20, 0.05, 0.05, rng)
    noisy_audio = build(DIGITS * 20, 0.05, 0.05, rng, snr=20.0)
    silence = np.zeros(8000 * 20, dtype=np.int16)
    base = load_baseline(args.baseline) if args.baseline else None
    rows = []
    for label, audio in (
        ("silence", silence),
        ("speech" if speech else "music", speech_audio[: 8000 * 120]),
        ("DTMF 50/50 ms", dtmf_audio),
        ("DTMF 50/50 ms, SNR 20 dB", noisy_audio),
    ):
        if base is not None and events_of(base.DtmfReceiver, audio) != events_of(
            DtmfReceiver, audio
        ):
            print(f"WARNING: baseline {args.baseline} and current differ on {label}")
        ours_runs: list[np.ndarray] = []
        base_runs: list[np.ndarray] = []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            ours_runs.append(frame_costs(DtmfReceiver().process, audio))
            if base is not None:
                base_runs.append(frame_costs(base.DtmfReceiver().process, audio))
        ours = summary(ours_runs)
        row = [label, *(f"{v:.1f}" for v in ours)]
        if base is not None:
            ref_b = summary(base_runs)
            row += [*(f"{v:.1f}" for v in ref_b), f"{ref_b[0] / ours[0]:.2f}x"]
        if lib:
            theirs = []
            for _ in range(args.repeat):
                ref = SpanDspDtmf(lib)
                theirs.append(frame_costs(ref.feed, audio))
                ref.close()
            t_mean = summary(theirs)[0]
            row += [f"{t_mean:.1f}", f"{ours[0] / t_mean:.1f}x"]
        rows.append(row)
    hdr = ["audio", "pi-ata mean", "median", "p99"]
    if base is not None:
        hdr += [f"{args.baseline} mean", "median", "p99", "speed-up"]
    hdr += ["spandsp mean", "ratio"] if lib else []
    table(f"Cost per 20 ms frame, µs ({args.repeat} runs; mean = best run)", hdr, rows)
    if args.cost_only:
        shutil.rmtree(tmp, ignore_errors=True)
        return 0

    # 2. detection tables -------------------------------------------------------------------
    def cell(**kw: float) -> list[str]:
        x = build(seq, kw.pop("on", 0.05), kw.pop("off", 0.05), rng, **kw)
        return [f"{score(seq, decoders[k](x))}/{n}" for k in names]

    table(
        "Sensitivity: level per tone (dBm0), 50 ms on / 50 ms off",
        ["dBm0", *names],
        [
            [f"{lv:+.0f}", *cell(level_dbm0=lv)]
            for lv in (-10, -20, -30, -36, -40, -42, -44, -46, -50)
        ],
    )
    table(
        "Frequency offset (both groups), −10 dBm0 — accept ±1.5 %, reject ±3.5 %",
        ["offset %", *names],
        [
            [f"{o * 100:+.1f}", *cell(freq_offset=o)]
            for o in (-0.05, -0.035, -0.025, -0.015, 0.0, 0.015, 0.025, 0.035, 0.05)
        ],
    )
    table(
        "Twist (high − low, dB; low group at −10 dBm0 or lower) — accept −8 … +4",
        ["twist dB", *names],
        [
            [f"{t:+.0f}", *cell(twist_db=t, level_dbm0=-10.0 - max(0.0, t))]
            for t in (-12, -10, -8, -4, 0, 2, 4, 6, 8)
        ],
    )
    table(
        "White noise: SNR (DTMF power / noise power in 0–4 kHz), −10 dBm0",
        ["SNR dB", *names],
        [[f"{s:.0f}", *cell(snr=s)] for s in (0, 3, 6, 9, 12, 20)],
    )
    table(
        "Duration: tone on (ms) with 100 ms gaps — Q.24: ≤ 20 ms reject, ≥ 40 ms accept",
        ["on ms", *names],
        [
            [f"{d * 1000:.0f}", *cell(on=d, off=0.1)]
            for d in (0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.045)
        ],
    )
    table(
        "Gap (ms) between 45 ms tones — 40 ms gap must separate digits",
        ["gap ms", *names],
        [[f"{g * 1000:.0f}", *cell(on=0.045, off=g)] for g in (0.02, 0.03, 0.04, 0.05)],
    )

    # 3. talk-off ---------------------------------------------------------------------------
    rows = []
    if speech:
        minutes = sum(x.shape[0] for x in speech) / 8000 / 60
        counts = dict.fromkeys(names, 0)
        for x in speech:
            for k in names:
                counts[k] += len(decoders[k](x))
        rows.append(
            [
                f"speech {minutes:.0f} min",
                *(f"{counts[k]} ({counts[k] / minutes:.3f}/min)" for k in names),
            ]
        )
        both = np.concatenate(speech[:60]).astype(np.float64)
        t = np.arange(both.shape[0]) / 8000
        dial = dbm0_to_amplitude(-13.0) * (
            np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t)
        )
        mixed = ulaw_round_trip(both + dial)
        rows.append(
            [
                f"dial tone + speech {both.shape[0] / 8000 / 60:.0f} min",
                *(str(len(decoders[k](mixed))) for k in names),
            ]
        )
    music = music_chords(300.0)
    rows.append(["music chords 5 min", *(str(len(decoders[k](music))) for k in names)])
    table("Talk-off: false digits", ["material", *names], rows)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
