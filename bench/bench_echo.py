"""Echo canceller bench: pi-ata's MDF canceller vs libspeexdsp on the same synthetic hybrid.

Prints per-frame cost (µs per 20 ms frame: mean of the best run, median and 99th percentile
over the runs, and the p99 of the frames after the first 2 s, i.e. once converged) and ERLE
curves (echo / residual echo, per 0.5 s) for a composite-source-like far end and espeak-ng
speech (if installed). The runs of all cancellers are interleaved, so they share the load.
Run: .venv/bin/python bench/bench_echo.py [--repeat 5] [--baseline REV]
``--baseline REV`` adds ``ata/dsp/echo.py`` as of git revision REV (via ``git show``) and checks
that its output is bit-identical to the current one.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ata.dsp.echo import EchoCanceller, erle_db
from ata.dsp.levels import dbm0_to_amplitude, to_int16
from tests.dsp.echo_model import espeak_speech, hybrid_response, synthetic_speech
from tests.dsp.speex_ref import SpeexEcho

ROOT = Path(__file__).resolve().parent.parent
H = hybrid_response(10.0)


def load_baseline(rev: str) -> ModuleType:
    """``ata/dsp/echo.py`` as of git revision ``rev``, imported as a separate module."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:ata/dsp/echo.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench_echo_base_")) / "echo_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("echo_baseline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["echo_baseline"] = module
    spec.loader.exec_module(module)
    return module


def run(far: np.ndarray, canceller: object) -> tuple[list[float], np.ndarray, np.ndarray]:
    """ERLE curve, per-frame cost (µs) and the output."""
    far = to_int16(far)
    n = far.size // 160 * 160
    far = far[:n]
    echo = np.convolve(far.astype(float), H)[:n]
    noise = np.random.default_rng(3).normal(0, dbm0_to_amplitude(-65) / np.sqrt(2), n)
    near = to_int16(echo + noise)
    out = np.zeros(n, np.int16)
    proc = canceller.process  # type: ignore[attr-defined]
    clock = time.perf_counter_ns
    costs = np.zeros(n // 160)
    for k, i in enumerate(range(0, n, 160)):
        t0 = clock()
        out[i : i + 160] = proc(near[i : i + 160], far[i : i + 160])
        costs[k] = clock() - t0
    costs /= 1000.0
    res = out - (near - echo)
    curve = [erle_db(echo[i : i + 4000], res[i : i + 4000]) for i in range(0, n - 3999, 4000)]
    return curve, costs, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="timing runs per canceller")
    ap.add_argument("--baseline", metavar="REV", help="also run echo.py as of git revision REV")
    args = ap.parse_args()
    base = load_baseline(args.baseline) if args.baseline else None
    signals = {"css-like": synthetic_speech(10.0, seed=2)}
    sp = espeak_speech(
        "The quick brown fox jumps over the lazy dog. Please call me back when you get this "
        "message, my number is five five five one two three four. Thank you and goodbye."
    )
    if sp is not None:
        signals["espeak"] = sp
    for name, far in signals.items():
        print(f"== far end: {name} ({far.size / 8000:.1f} s), ERLE dB per 0.5 s")
        makers: dict[str, Callable[[], object]] = {
            "pi-ata tail 20 ms": lambda: EchoCanceller(tail_ms=20),
            "pi-ata tail 40 ms": lambda: EchoCanceller(tail_ms=40),
        }
        if base is not None:
            b = base.EchoCanceller
            makers[f"{args.baseline} tail 20 ms"] = functools.partial(b, tail_ms=20)
            makers[f"{args.baseline} tail 40 ms"] = functools.partial(b, tail_ms=40)
        makers["speexdsp 160/256"] = lambda: SpeexEcho(160, 256)
        makers["speexdsp 160/160"] = lambda: SpeexEcho(160, 160)
        runs: dict[str, list[np.ndarray]] = {k: [] for k in makers}
        curves: dict[str, list[float]] = {}
        outs: dict[str, np.ndarray] = {}
        for _ in range(args.repeat):  # interleaved: every canceller sees the same load
            for label, make in makers.items():
                curves[label], costs, outs[label] = run(far, make())
                runs[label].append(costs)
        rows = {}
        for label, costs_list in runs.items():
            curve = curves[label]
            mean = min(float(c.mean()) for c in costs_list)
            med = float(np.median([np.median(c) for c in costs_list]))
            p99 = float(np.median([np.percentile(c, 99) for c in costs_list]))
            p99_late = float(np.median([np.percentile(c[100:], 99) for c in costs_list]))
            rows[label] = (curve, mean)
            steady = float(np.mean(curve[8:])) if len(curve) > 8 else float("nan")
            print(
                f"{label:20s} mean {mean:5.1f} median {med:5.1f} p99 {p99:5.1f} "
                f"(after 2 s {p99_late:5.1f}) µs/frame  steady {steady:5.1f} dB  curve "
                + " ".join(f"{c:5.1f}" for c in curve[:12])
            )
        if base is not None:
            for tail in (20, 40):
                same = np.array_equal(
                    outs[f"pi-ata tail {tail} ms"], outs[f"{args.baseline} tail {tail} ms"]
                )
                print(f"tail {tail} ms: output identical to {args.baseline}: {same}")
        ours = rows["pi-ata tail 20 ms"]
        spx = rows["speexdsp 160/256"]
        diff = np.mean(ours[0][8:]) - np.mean(spx[0][8:])
        print(
            f"ratio cost pi-ata/speexdsp: {ours[1] / spx[1]:.2f}; steady ERLE diff {diff:+.1f} dB"
        )


if __name__ == "__main__":
    main()
