"""Jitter buffer benchmark: pi-ata's JitterBuffer against speexdsp's jitter buffer.

Run: ``python bench/bench_jitter.py``. The same simulated network traces (60 s of 20 ms G.711
frames each) are played through both buffers, popped every 20 ms of *our* clock. Printed per
trace (numbers, not pass/fail):

* mean and p95 of the added delay (pop time − send time of the frame played), ms;
* frames played from real audio, concealed/missing (after the first second), late packets;
* µs per put+pop.

Reference: libspeexdsp (``jitter_buffer_*``: the adaptive buffer used by many softphones),
through ctypes with the 20 ms step. Traces:

* ``lan``: 2 ms + exp(1 ms);
* ``dsl``: 20 ms + exp(8 ms), 1 % loss;
* ``spiky``: lan, plus a 150 ms delay spike of 10 packets every 10 s;
* ``wifi``: 10 ms + Pareto(α=2.5, 5 ms) capped at 400 ms, 2 % loss;
* ``drift``: lan, far end's clock 300 ppm fast.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ata.media.jitter import FrameKind, JitterBuffer, JitterConfig, JitterMode  # noqa: E402

FRAME = 160
SECONDS = 60.0


def trace(name: str, seed: int = 1) -> list[tuple[float, float, int]]:
    """[(send time, arrival time, frame k)] for lost packets omitted, sorted by arrival."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS / 0.02)
    period = 0.02
    if name == "drift":
        period = 0.02 * (1 - 300e-6)
    send = np.arange(n) * period
    if name in ("lan", "spiky", "drift"):
        delay = 0.002 + rng.exponential(0.001, n)
        loss = np.zeros(n, bool)
        if name == "spiky":
            for start in range(250, n, 500):
                delay[start : start + 10] += np.linspace(0.150, 0.0, 10)
    elif name == "dsl":
        delay = 0.020 + rng.exponential(0.008, n)
        loss = rng.random(n) < 0.01
    elif name == "wifi":
        delay = 0.010 + np.minimum((rng.pareto(2.5, n)) * 0.005, 0.4)
        loss = rng.random(n) < 0.02
    else:
        raise ValueError(name)
    rows = [(float(send[k]), float(send[k] + delay[k]), k) for k in range(n) if not loss[k]]
    return sorted(rows, key=lambda r: r[1])


def frame_of(k: int) -> np.ndarray:
    base = (k * 37) % 20000 - 10000
    return (base + np.arange(FRAME) % 7).astype(np.int16)


def ident(frame: np.ndarray) -> int | None:
    base = int(frame[159]) - (159 % 7)
    if not np.array_equal(frame[80:], (base + np.arange(80, 160) % 7).astype(np.int16)):
        return None
    return base


Result = dict[str, float]


def run_ours(rows: list[tuple[float, float, int]], mode: JitterMode) -> Result:
    jb = JitterBuffer(JitterConfig(mode=mode))
    by_base = {(k * 37) % 20000 - 10000: k for k in range(int(SECONDS / 0.02) + 10)}
    send_of = {k: s for s, _, k in rows}
    delays = []
    missing = 0
    i = 0
    newest = -1
    t0 = time.perf_counter()
    pops = int(SECONDS / 0.02) + 20
    for p in range(pops):
        now = 0.0199 + p * 0.02
        while i < len(rows) and rows[i][1] <= now:
            _, at, k = rows[i]
            jb.put(k * FRAME, frame_of(k), at, in_order=k > newest, contiguous=k == newest + 1)
            newest = max(newest, k)
            i += 1
        frame, kind = jb.pop(now)
        if kind is FrameKind.AUDIO:
            base = ident(frame)
            k = by_base.get(base) if base is not None else None
            if k is not None and k in send_of:
                delays.append(now - send_of[k])
        elif now > 1.0 and p < pops - 20:
            missing += 1
    us = (time.perf_counter() - t0) / pops * 1e6
    s = jb.stats()
    return _summary(delays, missing, s.late, us)


def _summary(delays: list[float], missing: int, late: int, us: float) -> Result:
    d = np.array(delays) * 1000.0
    return {
        "mean_ms": float(d.mean()) if d.size else float("nan"),
        "p95_ms": float(np.percentile(d, 95)) if d.size else float("nan"),
        "played": float(d.size),
        "missing": float(missing),
        "late": float(late),
        "us": us,
    }


class _Packet(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_char_p),
        ("len", ctypes.c_uint32),
        ("timestamp", ctypes.c_uint32),
        ("span", ctypes.c_uint32),
        ("sequence", ctypes.c_uint16),
        ("user_data", ctypes.c_uint32),
    ]


def speex_runner() -> Callable[[list[tuple[float, float, int]]], Result] | None:
    name = ctypes.util.find_library("speexdsp")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.jitter_buffer_init.restype = ctypes.c_void_p
    lib.jitter_buffer_init.argtypes = [ctypes.c_int]
    lib.jitter_buffer_put.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Packet)]
    lib.jitter_buffer_get.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_Packet),
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int32),
    ]
    lib.jitter_buffer_tick.argtypes = [ctypes.c_void_p]
    lib.jitter_buffer_destroy.argtypes = [ctypes.c_void_p]

    def run(rows: list[tuple[float, float, int]]) -> Result:
        jb = lib.jitter_buffer_init(FRAME)
        send_of = {k: s for s, _, k in rows}
        delays = []
        missing = 0
        late = 0
        i = 0
        out_buf = ctypes.create_string_buffer(4 * FRAME)
        keep: list[bytes] = []
        played_max = -1
        t0 = time.perf_counter()
        pops = int(SECONDS / 0.02) + 20
        for p in range(pops):
            now = 0.0199 + p * 0.02
            while i < len(rows) and rows[i][1] <= now:
                _, _at, k = rows[i]
                payload = frame_of(k).tobytes()
                keep.append(payload)
                if k <= played_max:
                    late += 1
                pkt = _Packet(payload, len(payload), k * FRAME, FRAME, k & 0xFFFF, k)
                lib.jitter_buffer_put(jb, ctypes.byref(pkt))
                i += 1
            out = _Packet(ctypes.cast(out_buf, ctypes.c_char_p), len(out_buf), 0, 0, 0, 0)
            offset = ctypes.c_int32(0)
            ret = lib.jitter_buffer_get(jb, ctypes.byref(out), FRAME, ctypes.byref(offset))
            lib.jitter_buffer_tick(jb)
            if ret == 0:
                k = int(out.user_data)
                played_max = max(played_max, k)
                if k in send_of:
                    delays.append(now - send_of[k])
            elif now > 1.0 and p < pops - 20:
                missing += 1
            if len(keep) > 200:
                del keep[:100]
        us = (time.perf_counter() - t0) / pops * 1e6
        lib.jitter_buffer_destroy(jb)
        return _summary(delays, missing, late, us)

    return run


def main() -> None:
    speex = speex_runner()
    print(f"{SECONDS:.0f} s per trace, 20 ms frames; delay = pop time − send time")
    print(
        f"  {'trace':<7} {'buffer':<22} {'mean ms':>8} {'p95 ms':>7} {'played':>7} "
        f"{'missing':>8} {'late':>5} {'µs/frame':>9}"
    )
    for name in ("lan", "dsl", "spiky", "wifi", "drift"):
        rows = trace(name)
        results = {
            "pi-ata adaptive": run_ours(rows, JitterMode.ADAPTIVE),
            "pi-ata minimum": run_ours(rows, JitterMode.MINIMUM),
            "pi-ata fixed 100 ms": run_ours(rows, JitterMode.FIXED),
        }
        if speex is not None:
            results["speexdsp jitter buffer"] = speex(rows)
        for label, r in results.items():
            print(
                f"  {name:<7} {label:<22} {r['mean_ms']:8.1f} {r['p95_ms']:7.1f} "
                f"{r['played']:7.0f} {r['missing']:8.0f} {r['late']:5.0f} {r['us']:9.1f}"
            )
    if speex is None:
        print("  (libspeexdsp not found: reference skipped)")


if __name__ == "__main__":
    main()
