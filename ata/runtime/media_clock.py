"""Frame sources and sinks for the media path, and a software sample clock.

The frame-source protocol
-------------------------
The media loop is paced by whoever produces captured audio. A **frame source** is any object
with ``async def read_frame() -> int16[160]`` that returns the next 20 ms frame *when it has
been captured*; the awaiting is the clock. ``hal.audio.AudioPort`` is one (clocked by the codec);
:class:`SoftwareFrameClock` is the other, for the simulator, tests and benchmarks. A **frame
sink** is any object with ``write_frame(int16[160]) -> None`` (non-blocking): again
``AudioPort``, or :class:`FrameRecorder`.

Software clock
--------------
:class:`SoftwareFrameClock` releases frame *k* at the absolute monotonic deadline
``start + k × 20 ms``, waiting with ``loop.call_at`` on a future, so scheduling errors never
accumulate (no ``sleep(0.02)`` drift). If the loop was busy past a deadline, the frame is
released immediately and the next deadline is still ``start + (k+1) × 20 ms``: the clock
catches up and keeps counting samples, like a codec whose FIFO was drained late. Frame
content comes from a generator callable ``frame_at(k) -> int16[160]``.

Precision: asyncio's epoll selector rounds its timeout up to whole milliseconds, so a
``loop.call_at`` release happens 0–1 ms after its deadline; the error never accumulates. Where
Linux offers a timerfd (:mod:`hal.timerfd`) the clock sleeps on it instead and releases within
a few tenths of a millisecond (``precise=False`` keeps ``call_at``). A codec-paced
``AudioPort`` has neither limit: its wake-ups come from the device.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from hal.timerfd import scheduler_for

__all__ = [
    "FrameRecorder",
    "FrameSink",
    "FrameSource",
    "SoftwareFrameClock",
    "silence_frames",
    "tone_frames",
]

FRAME: Final = 160
PERIOD: Final = 0.02

Frame = npt.NDArray[np.int16]


class FrameSource(Protocol):
    async def read_frame(self) -> Frame:
        """The next captured 160-sample frame; returns when it has been captured."""
        ...


class FrameSink(Protocol):
    def write_frame(self, frame: Frame) -> None:
        """Queue one 160-sample frame for playback (never blocks)."""
        ...


def tone_frames(freq_hz: float, amplitude: float = 8000.0) -> Callable[[int], Frame]:
    """A generator of a continuous sine: frame k holds samples 160k .. 160k+159."""
    n = np.arange(FRAME, dtype=np.float64)
    w = 2.0 * math.pi * freq_hz / 8000.0

    def frame_at(k: int) -> Frame:
        x = amplitude * np.sin(w * (n + k * FRAME))
        out: Frame = np.rint(x).astype(np.int16)
        return out

    return frame_at


def silence_frames() -> Callable[[int], Frame]:
    zero = np.zeros(FRAME, dtype=np.int16)

    def frame_at(k: int) -> Frame:
        del k
        return zero

    return frame_at


class SoftwareFrameClock:
    """A frame source paced by absolute deadlines ``start + k·period`` on the event loop."""

    def __init__(
        self,
        frame_at: Callable[[int], Frame] | None = None,
        *,
        period: float = PERIOD,
        start: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        precise: bool = True,
    ) -> None:
        self._frame_at = frame_at or silence_frames()
        self.precise = precise  # wake on a timerfd (hal.timerfd) where there is one
        self.period = period
        self._loop = loop
        self._start = start
        self.index = 0  # frames released so far
        self.late_releases = 0  # frames released more than one period after their deadline
        self._closed = False

    @property
    def start(self) -> float | None:
        return self._start

    def deadline(self, k: int) -> float:
        if self._start is None:
            raise RuntimeError("clock not started")
        return self._start + k * self.period

    def close(self) -> None:
        self._closed = True

    async def read_frame(self) -> Frame:
        loop = self._loop or asyncio.get_running_loop()
        if self._closed:
            raise EOFError("clock closed")
        if self._start is None:
            self._start = loop.time()
        k = self.index
        deadline = self._start + (k + 1) * self.period  # frame k is complete at its end
        now = loop.time()
        if now < deadline:
            scheduler = scheduler_for(loop) if self.precise else None
            if scheduler is not None:
                await scheduler.sleep_until(deadline)
            else:
                fut: asyncio.Future[None] = loop.create_future()
                handle = loop.call_at(deadline, _wake, fut)
                try:
                    await fut
                finally:
                    handle.cancel()
        elif now > deadline + self.period:
            self.late_releases += 1
        self.index = k + 1
        return self._frame_at(k)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class FrameRecorder:
    """A frame sink keeping the last ``max_frames`` frames (bounded)."""

    def __init__(self, max_frames: int = 3000) -> None:
        self.frames: deque[Frame] = deque(maxlen=max_frames)
        self.count = 0

    def write_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.count += 1

    def samples(self) -> Frame:
        if not self.frames:
            return np.zeros(0, dtype=np.int16)
        out: Frame = np.concatenate(list(self.frames))
        return out
