"""Benchmark: the simulated codec's software sample clock versus a naive sleep(0.02) loop.

Both run in the same process and the same event loop, at the same time, for ``--seconds``
(default 10). The SimCodec wakes at absolute deadlines ``start + k * 20 ms`` (MonotonicClock);
the naive loop does ``await asyncio.sleep(0.02)`` after its work, so each period is 20 ms plus
the work plus the wake-up lateness. Both do the same per-frame work (``--work-ms`` of numpy,
default 1 ms, standing in for echo canceller + encode).

Printed: interval statistics (|interval − 20 ms| percentiles), the drift after N frames
(actual elapsed − N × 20 ms), frames produced, and — for the virtual clock used by unit tests —
how many simulated frames per wall-clock second it runs, with and without a VirtualPhone.
Numbers, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from hal.clock import MonotonicClock, VirtualClock
from hal.sim.audio import SimAudioPort, SimCodec
from hal.sim.phone import VirtualPhone
from hal.sim.wire import LineDrive, TwoWire


def busy(ms: float, rng: np.random.Generator) -> None:
    """Roughly ``ms`` of CPU work (repeated small FFTs)."""
    end = time.perf_counter() + ms / 1000.0
    x = rng.standard_normal(256)
    while time.perf_counter() < end:
        np.fft.rfft(x)


def describe(name: str, stamps: list[float]) -> str:
    t = np.asarray(stamps)
    iv = np.diff(t) * 1000.0
    dev = np.abs(iv - 20.0)
    drift = (t[-1] - t[0] - 0.02 * (t.size - 1)) * 1000.0
    p50, p95, p99 = np.percentile(dev, [50, 95, 99])
    return (
        f"{name:<22} frames={t.size:5d}  |Δ−20ms| p50={p50:6.3f} p95={p95:6.3f} "
        f"p99={p99:6.3f} max={dev.max():6.3f} ms   drift={drift:+8.2f} ms"
    )


async def realtime(seconds: float, work_ms: float) -> tuple[list[float], list[float]]:
    clock = MonotonicClock()
    rng = np.random.default_rng(1)
    codec = SimCodec(clock)
    port = SimAudioPort()
    codec.connect(port, loopback=True)
    sim_stamps: list[float] = []
    naive_stamps: list[float] = []

    async def media() -> None:
        while True:
            await port.read_frame()
            sim_stamps.append(time.monotonic())
            busy(work_ms, rng)
            port.write_frame(np.zeros(160, np.int16))

    async def naive() -> None:
        while True:
            await asyncio.sleep(0.02)
            naive_stamps.append(time.monotonic())
            busy(work_ms, rng)

    codec.start()
    tasks = [asyncio.create_task(media()), asyncio.create_task(naive())]
    await asyncio.sleep(seconds)
    for t in tasks:
        t.cancel()
    await codec.stop()
    return sim_stamps, naive_stamps


async def virtual_throughput(frames: int, with_phone: bool) -> float:
    clock = VirtualClock()
    codec = SimCodec(clock)
    port = SimAudioPort()
    if with_phone:
        wire = TwoWire()
        wire.set_drive(LineDrive.FORWARD, 0.0)
        phone = VirtualPhone(wire, clock)
        codec.connect(port, phone)
    else:
        codec.connect(port, loopback=True)
    tone = (8000 * np.sin(np.arange(160) * 2 * np.pi * 440 / 8000)).astype(np.int16)

    async def media() -> None:
        for _ in range(frames):
            await port.read_frame()
            port.write_frame(tone)

    codec.start()
    t0 = time.perf_counter()
    await clock.run(media())
    elapsed = time.perf_counter() - t0
    await codec.stop()
    return frames / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--work-ms", type=float, default=1.0)
    args = ap.parse_args()
    sim, naive = asyncio.run(realtime(args.seconds, args.work_ms))
    print(f"real time, {args.seconds:.0f} s, {args.work_ms} ms of work per frame, same loop:")
    print(describe("SimCodec (deadlines)", sim))
    print(describe("naive sleep(0.02)", naive))
    expected = args.seconds / 0.02
    print(
        f"frames vs nominal {expected:.0f}: SimCodec {len(sim) / expected:.4f}, "
        f"naive {len(naive) / expected:.4f}"
    )
    for with_phone in (False, True):
        rate = asyncio.run(virtual_throughput(5000, with_phone))
        label = "with VirtualPhone" if with_phone else "loopback"
        print(
            f"virtual clock, {label:<18}: {rate:9.0f} frames/s "
            f"= {rate * 0.02:6.1f}× real time ({1e6 / rate:6.1f} µs per 20 ms frame)"
        )


if __name__ == "__main__":
    main()
