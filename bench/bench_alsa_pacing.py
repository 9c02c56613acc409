"""Benchmark: serve a codec from the event loop (add_reader) or from a thread (hand-off)?

DESIGN.md asks which keeps send jitter lower: polling ALSA from the asyncio loop
(``PCM.polldescriptors()`` + ``add_reader``, what ``hal.alsa`` does) or one thread per device
doing blocking reads and handing frames to the loop. No clocked ALSA device exists on the build
machines, so the codec's period interrupt is stood in for by a kernel ``timerfd`` firing at the
absolute times ``start + k × 20 ms`` (CLOCK_MONOTONIC): like a DMA period interrupt it makes a
file descriptor readable, with kernel timing.

- **loop**: the timerfd is watched with ``loop.add_reader``; the callback queues the frame on a
  ``BufferedAudioPort`` (as ``hal.alsa`` does with the capture PCM).
- **thread**: a thread blocks in ``os.read(timerfd)`` and hands each frame over with
  ``loop.call_soon_threadsafe`` (the device side — where ALSA playback would be written — runs in
  the thread, the media coroutine still on the loop).

Two latencies per frame, relative to the interrupt time: **service** (when the device side
read the period: what decides device xruns) and **delivery** (when the media coroutine's
``read_captured()`` returned: what decides RTP send jitter). Three loads: idle; a busy loop
(another task burning 3 ms of every 10 ms, like other ports and SIP); a CPU-bound Python thread
holding the GIL (like a second device thread or a logger).

Run: ``python bench/bench_alsa_pacing.py [--seconds 3 --repeats 3]`` (cases interleaved and
pooled, so a change of machine load hits both modes alike). Numbers, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import math
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from hal.audio import BufferedAudioPort

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_TIMER_ABSTIME = 1
PERIOD = 0.02


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _ts(seconds: float) -> _Timespec:
    whole = math.floor(seconds)
    return _Timespec(int(whole), round((seconds - whole) * 1e9))


def periodic_timerfd(start: float, *, nonblocking: bool) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK if nonblocking else 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "timerfd_create")
    spec = _Itimerspec(_ts(PERIOD), _ts(start))
    if libc.timerfd_settime(fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
        raise OSError(ctypes.get_errno(), "timerfd_settime")
    return int(fd)


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def run(mode: str, load: str, seconds: float) -> tuple[list[float], list[float]]:
    loop = asyncio.get_running_loop()
    port = BufferedAudioPort(capture_depth=64)
    start = time.monotonic() + 0.1
    frame = np.zeros(160, np.int16)
    service: list[float] = []
    stop = threading.Event()
    k_served = 0

    def serve(count: int, now: float) -> None:
        nonlocal k_served
        for _ in range(count):
            tick = start + k_served * PERIOD
            service.append(now - tick)
            port.codec_capture(frame, tick)
            k_served += 1

    fd = periodic_timerfd(start, nonblocking=mode == "loop")
    thread: threading.Thread | None = None
    if mode == "loop":

        def on_ready() -> None:
            try:
                data = os.read(fd, 8)
            except BlockingIOError:
                return
            serve(int.from_bytes(data, "little"), time.monotonic())

        loop.add_reader(fd, on_ready)
    else:
        handoff: Callable[[int, float], None] = serve

        def device_thread() -> None:  # the alternative under test: a blocking device thread
            while not stop.is_set():
                count = int.from_bytes(os.read(fd, 8), "little")
                loop.call_soon_threadsafe(handoff, count, time.monotonic())

        thread = threading.Thread(target=device_thread, daemon=True)
        thread.start()

    background: list[asyncio.Task[None]] = []
    hog: threading.Thread | None = None
    if load == "busy loop":

        async def other_work() -> None:
            while True:
                busy(0.003)
                await asyncio.sleep(0.007)

        background.append(asyncio.create_task(other_work()))
    elif load == "GIL thread":

        def gil_hog() -> None:  # a CPU-bound Python thread competing for the GIL
            x = 0
            while not stop.is_set():
                for i in range(10_000):
                    x ^= i

        hog = threading.Thread(target=gil_hog, daemon=True)
        hog.start()

    delivery: list[float] = []
    frames = round(seconds / PERIOD)
    for _ in range(frames):
        cap = await port.read_captured()
        delivery.append(time.monotonic() - cap.at)
    stop.set()
    for task in background:
        task.cancel()
    if mode == "loop":
        loop.remove_reader(fd)
    if thread is not None:
        thread.join(timeout=0.1)  # it wakes at the next expiry and sees the stop flag
    os.close(fd)
    if hog is not None:
        hog.join(timeout=1.0)
    return service, delivery


def pct(values: list[float]) -> str:
    ms = np.asarray(values) * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    return f"p50 {p50:6.3f}  p99 {p99:6.3f}  max {ms.max():6.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="per case and repetition")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions, pooled")
    args = ap.parse_args()
    loads, modes = ("idle", "busy loop", "GIL thread"), ("loop", "thread")
    pooled: dict[tuple[str, str], tuple[list[float], list[float]]] = {
        (load, mode): ([], []) for load in loads for mode in modes
    }
    # Interleave the cases so a change of machine load affects both modes alike.
    for _ in range(args.repeats):
        for load in loads:
            for mode in modes:
                service, delivery = asyncio.run(run(mode, load, args.seconds))
                pooled[(load, mode)][0].extend(service)
                pooled[(load, mode)][1].extend(delivery)
    total = args.seconds * args.repeats
    print(f"latency after the period interrupt, ms ({total:.0f} s per case, pooled)")
    print(f"{'load':<11} {'mode':<7} {'service (device side)':<38} delivery (media coroutine)")
    for load in loads:
        for mode in modes:
            service, delivery = pooled[(load, mode)]
            print(f"{load:<11} {mode:<7} {pct(service):<38} {pct(delivery)}")
    print("ratio thread/loop of delivery latency (p50, p99):")
    for load in loads:
        a, b = pooled[(load, "loop")][1], pooled[(load, "thread")][1]
        r50 = np.percentile(b, 50) / np.percentile(a, 50)
        r99 = np.percentile(b, 99) / np.percentile(a, 99)
        print(f"  {load:<11} {r50:6.2f} {r99:6.2f}")


if __name__ == "__main__":
    main()
