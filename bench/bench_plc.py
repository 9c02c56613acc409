"""PLC benchmark: pi-ata's G.711 Appendix I style concealment against spandsp's plc.c.

Run: ``python bench/bench_plc.py``. Speech comes from espeak-ng (resampled to 8 kHz by sox);
frames are dropped at random (the same pattern for every method) and the concealed signal is
compared with the original. Printed (numbers, not pass/fail), per loss rate:

* SNR over the concealed frames only and over the whole signal (dB, higher is better);
* the kink at the start and at the end of each erasure (straight-line prediction error
  across the boundary, relative to the original's average; ≈1 is as smooth as speech);
* µs per concealed frame.

References in the same run: spandsp ``plc_rx``/``plc_fillin`` (libspandsp2, through ctypes),
zero fill, and repeating the previous frame.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.dsp.wavio import read_wav  # noqa: E402
from ata.media.plc import Plc  # noqa: E402

TEXT = (
    "The quick brown fox jumps over the lazy dog. Please call Stella and ask her to bring "
    "these things with her from the store: six spoons of fresh snow peas, five thick slabs "
    "of blue cheese, and maybe a snack for her brother Bob."
)
FRAME = 160


def speech() -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        out = Path(tmp) / "speech8k.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), TEXT], check=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True)
        x = read_wav(out)
    n = len(x) // FRAME * FRAME
    return x[:n]


Conceal = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]


def ours(x: np.ndarray, lost: np.ndarray) -> tuple[np.ndarray, float]:
    plc = Plc()
    out = []
    t = 0.0
    for k, gone in enumerate(lost):
        if gone:
            t0 = time.perf_counter()
            out.append(plc.conceal())
            t += time.perf_counter() - t0
        else:
            out.append(plc.good(x[k * FRAME : (k + 1) * FRAME]))
    return np.concatenate(out), t / max(1, int(lost.sum())) * 1e6


def spandsp_factory() -> Conceal | None:
    name = ctypes.util.find_library("spandsp")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.plc_init.restype = ctypes.c_void_p
    lib.plc_init.argtypes = [ctypes.c_void_p]
    lib.plc_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.plc_fillin.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.plc_free.argtypes = [ctypes.c_void_p]

    def conceal(x: np.ndarray, lost: np.ndarray) -> tuple[np.ndarray, float]:
        state = lib.plc_init(None)
        out = []
        t = 0.0
        ptr_t = ctypes.POINTER(ctypes.c_int16)
        for k, gone in enumerate(lost):
            buf = np.ascontiguousarray(x[k * FRAME : (k + 1) * FRAME].copy())
            ptr = buf.ctypes.data_as(ptr_t)
            if gone:
                t0 = time.perf_counter()
                lib.plc_fillin(state, ptr, FRAME)
                t += time.perf_counter() - t0
            else:
                lib.plc_rx(state, ptr, FRAME)
            out.append(buf)
        lib.plc_free(state)
        return np.concatenate(out), t / max(1, int(lost.sum())) * 1e6

    return conceal


def zero_fill(x: np.ndarray, lost: np.ndarray) -> tuple[np.ndarray, float]:
    y = x.copy()
    for k in np.flatnonzero(lost):
        y[k * FRAME : (k + 1) * FRAME] = 0
    return y, 0.0


def repeat_previous(x: np.ndarray, lost: np.ndarray) -> tuple[np.ndarray, float]:
    y = x.copy()
    prev = np.zeros(FRAME, np.int16)
    for k, gone in enumerate(lost):
        if gone:
            y[k * FRAME : (k + 1) * FRAME] = prev
        else:
            prev = y[k * FRAME : (k + 1) * FRAME]
    return y, 0.0


def snr(ref: np.ndarray, y: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    err = y.astype(np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-9)))


def join_error(ref: np.ndarray, y: np.ndarray, lost: np.ndarray) -> tuple[float, float]:
    """Kink at the start / end of each erasure: |y[b] − (2y[b−1] − y[b−2])| (the error of a
    straight-line prediction across the boundary), relative to the same quantity averaged
    over the original signal. ≈1: as smooth as speech itself; ≫1: a click."""
    r = ref.astype(np.float64)
    yf = y.astype(np.float64)
    base = float(np.mean(np.abs(r[2:] - 2 * r[1:-1] + r[:-2])))
    frames = len(lost)

    def kink(b: int) -> float:
        return abs(yf[b] - 2 * yf[b - 1] + yf[b - 2])

    starts = [kink(k * FRAME) for k in np.flatnonzero(lost) if k > 0 and not lost[k - 1]]
    ends = [
        kink((k + 1) * FRAME) for k in np.flatnonzero(lost) if k + 1 < frames and not lost[k + 1]
    ]
    return float(np.mean(starts)) / base, float(np.mean(ends)) / base


def main() -> None:
    x = speech()
    frames = len(x) // FRAME
    print(f"speech: espeak-ng, {len(x) / 8000:.1f} s at 8 kHz, {frames} frames")
    methods: dict[str, Conceal] = {"pi-ata Plc": ours}
    sp = spandsp_factory()
    if sp is not None:
        methods["spandsp plc"] = sp
    else:
        print("  (libspandsp not found: reference skipped)")
    methods["repeat previous"] = repeat_previous
    methods["zero fill"] = zero_fill
    rng = np.random.default_rng(42)
    head = f"  {'loss':>5} {'method':<16} {'SNR lost':>9} {'SNR all':>8}"
    print(head + f" {'kink start':>10} {'kink end':>9} {'µs/frame':>9}")
    for rate in (0.02, 0.05, 0.10, 0.20):
        lost = rng.random(frames) < rate
        lost[:5] = False
        mask = np.repeat(lost, FRAME)
        for name, fn in methods.items():
            y, us = fn(x, lost)
            k0, k1 = join_error(x, y, lost)
            print(
                f"  {rate:5.0%} {name:<16} {snr(x[mask], y[mask]):9.2f} {snr(x, y):8.2f} "
                f"{k0:10.2f} {k1:9.2f} {us:9.1f}"
            )


if __name__ == "__main__":
    main()
