"""The HAL ``AudioPort`` contract: one FXS port's 8 kHz voice path, clocked by the codec.

Theory of operation
-------------------
A port moves **frames**: 160 signed 16-bit samples = 20 ms at 8000 Hz, mono. Two directions:

*Capture* (line → ATA). The codec captures continuously. Each time it has a complete frame the
backend hands it to the port, which queues it (bounded, ``capture_depth`` frames) and wakes the
reader. ``await port.read_frame()`` returns the oldest queued frame and waits when none is queued,
so **the codec's sample clock paces the caller**: this coroutine is THE clock of the media path.
The media sender runs one loop iteration per returned frame (echo canceller, DTMF detector,
encode, send RTP) and advances the RTP timestamp by 160 per frame. ``await port.read_captured()``
returns the same frame with its codec frame ``index`` (0, 1, 2, ... counting every frame the codec
captured, including frames dropped on overrun) and the clock time ``at`` when it completed; use
``index * 160`` as the RTP timestamp offset so that dropped frames show up as a timestamp gap,
exactly like samples lost at a real sound card.

*Capture overrun*: the reader fell behind and the capture queue is full; the oldest frame is
dropped and counted (``capture_overruns``), so latency stays bounded by ``capture_depth``.

*Playback* (ATA → line). ``port.write_frame(frame)`` queues one frame (non-blocking, bounded at
``playback_depth``). Each codec period the backend takes the oldest queued frame; if none is
queued it plays silence: while a stream is playing (a written frame was played within the last
``idle_after`` periods) that counts as a *playback underrun* (``playback_underruns``); after that
the port is idle and silence is counted in ``frames_idle`` instead (no call, no tone: nobody
writes, and that is not an error). Writing to a
full queue drops the oldest queued frame and counts a *playback overrun*; the queue never grows
beyond its bound, so mouth-to-ear latency stays bounded. The usual pattern — write one frame per
frame read — keeps the queue at 0–1 frames: the frame written after ``read_frame()`` returned
at period *k* is played at period *k + 1* (the simulator) or after the device's prefill (ALSA).

*Device xruns*: a backend that talks to a real device (ALSA) counts the device's own overruns
and underruns in ``device_xruns`` and recovers the stream by itself; a caller only sees a gap in
``index`` (capture) or a few frames of silence (playback).

Typical media loop::

    await port.start()
    while True:
        cap = await port.read_captured()          # paced by the codec
        rtp_ts = ts0 + cap.index * FRAME_SAMPLES  # samples actually captured
        send(encode(echo_cancel(cap.samples)))
        port.write_frame(next_playout_frame())    # played one period later

``close()`` wakes readers with :class:`AudioClosedError`. Implementations: ``hal.sim.audio``
(software sample clock) and ``hal.alsa`` (pyalsaaudio). :class:`BufferedAudioPort` holds the
queues and counters; a backend only calls :meth:`BufferedAudioPort.codec_capture` and
:meth:`BufferedAudioPort.codec_playback` once per codec period, from the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = 160
FRAME_SECONDS: Final = FRAME_SAMPLES / SAMPLE_RATE  # 0.02

Frame = npt.NDArray[np.int16]


class AudioError(Exception):
    """Base class of audio port errors."""


class AudioClosedError(AudioError):
    """The port was closed; no more frames will be captured."""


class FrameSizeError(AudioError, ValueError):
    """``write_frame`` was given something other than 160 int16 samples."""


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """One captured frame with its codec frame counter and completion time."""

    samples: Frame
    index: int  # codec frame number: counts every captured frame, dropped ones too
    at: float  # clock time at which the codec completed the frame


@dataclass(frozen=True, slots=True)
class AudioStats:
    """Counters of one port (monotonic, never reset while the port lives)."""

    frames_captured: int  # frames the codec captured
    frames_read: int  # frames handed to read_frame()/read_captured()
    capture_overruns: int  # frames dropped because the reader lagged
    frames_written: int  # frames accepted by write_frame()
    frames_played: int  # frames the codec played, silence fill included
    playback_underruns: int  # periods with nothing queued while streaming: silence played
    frames_idle: int  # silent periods while idle (nothing written for idle_after periods)
    playback_overruns: int  # frames dropped because the playback queue was full
    device_xruns: int  # overruns/underruns reported by the device itself (recovered)
    capture_queued: int  # frames waiting for the reader now
    playback_queued: int  # frames waiting to be played now


@runtime_checkable
class AudioPort(Protocol):
    """One port's audio path (see the module docstring for the exact semantics)."""

    sample_rate: int
    frame_samples: int

    async def start(self) -> None: ...

    async def read_frame(self) -> Frame: ...

    async def read_captured(self) -> CapturedFrame: ...

    def write_frame(self, frame: npt.ArrayLike) -> None: ...

    def stats(self) -> AudioStats: ...

    async def close(self) -> None: ...


def silence() -> Frame:
    """A new frame of silence."""
    return np.zeros(FRAME_SAMPLES, dtype=np.int16)


def as_frame(frame: npt.ArrayLike) -> Frame:
    """Validate and copy ``frame`` into a 160-sample int16 array (FrameSizeError otherwise)."""
    a = np.asarray(frame)
    if a.shape != (FRAME_SAMPLES,):
        raise FrameSizeError(f"a frame is {FRAME_SAMPLES} samples, got shape {a.shape}")
    if a.dtype != np.int16:
        if not np.issubdtype(a.dtype, np.integer):
            raise FrameSizeError(f"a frame holds int16 samples, got dtype {a.dtype}")
        if a.size and (int(a.min()) < -32768 or int(a.max()) > 32767):
            raise FrameSizeError("sample values outside the int16 range")
    return np.array(a, dtype=np.int16, copy=True)


class BufferedAudioPort:
    """Queues, counters and asyncio wake-ups shared by every backend.

    Consumer side: the :class:`AudioPort` methods. Codec side: :meth:`codec_capture` and
    :meth:`codec_playback`, called by the backend once per period in capture-then-playback or
    playback-then-capture order (the backend documents which).
    """

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(
        self,
        *,
        capture_depth: int = 8,
        playback_depth: int = 8,
        idle_after: int = 10,
        name: str = "",
    ) -> None:
        if capture_depth < 1 or playback_depth < 1 or idle_after < 1:
            raise ValueError("queue depths and idle_after must be at least one frame")
        self._idle_after = idle_after
        self._empty_run = idle_after  # starts idle
        self.name = name
        self._capture: deque[CapturedFrame] = deque()
        self._playback: deque[Frame] = deque()
        self._capture_depth = capture_depth
        self._playback_depth = playback_depth
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._captured = 0
        self._read = 0
        self._capture_overruns = 0
        self._written = 0
        self._played = 0
        self._underruns = 0
        self._idle = 0
        self._playback_overruns = 0
        self._xruns = 0
        self._phase_shifter: Callable[[float], float] | None = None

    # --- consumer side ------------------------------------------------------------------------
    async def start(self) -> None:
        """Nothing to do for a passive port; backends override to open the device."""

    async def read_frame(self) -> Frame:
        return (await self.read_captured()).samples

    async def read_captured(self) -> CapturedFrame:
        while not self._capture:
            if self._closed:
                raise AudioClosedError(f"audio port {self.name!r} is closed")
            # One future per wait, awaited directly (no shield): a capture wakes the reader in
            # the very next loop turn, before the codec's own continuation; a cancelled reader
            # cancels only its own future.
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        self._read += 1
        return self._capture.popleft()

    def write_frame(self, frame: npt.ArrayLike) -> None:
        if self._closed:
            raise AudioClosedError(f"audio port {self.name!r} is closed")
        samples = as_frame(frame)
        if len(self._playback) >= self._playback_depth:
            self._playback.popleft()
            self._playback_overruns += 1
        self._playback.append(samples)
        self._written += 1

    def stats(self) -> AudioStats:
        return AudioStats(
            frames_captured=self._captured,
            frames_read=self._read,
            capture_overruns=self._capture_overruns,
            frames_written=self._written,
            frames_played=self._played,
            playback_underruns=self._underruns,
            frames_idle=self._idle,
            playback_overruns=self._playback_overruns,
            device_xruns=self._xruns,
            capture_queued=len(self._capture),
            playback_queued=len(self._playback),
        )

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self.mark_closed()

    def mark_closed(self) -> None:
        """Close the queues and wake readers (for backends; callers use ``await close()``)."""
        self._closed = True
        self._wake()

    # --- codec side ---------------------------------------------------------------------------
    def codec_capture(self, samples: Frame, at: float) -> None:
        """The codec completed frame number ``frames_captured`` at time ``at``."""
        frame = CapturedFrame(samples, self._captured, at)
        self._captured += 1
        if self._closed:
            return
        if len(self._capture) >= self._capture_depth:
            self._capture.popleft()
            self._capture_overruns += 1
        self._capture.append(frame)
        self._wake()

    def codec_skip(self, frames: int) -> None:
        """The codec lost ``frames`` captured frames (device overrun): advance the index."""
        self._captured += frames
        self._capture_overruns += frames

    def codec_playback(self) -> Frame:
        """The frame to play this period: the oldest queued, or silence (underrun or idle)."""
        self._played += 1
        if self._playback:
            self._empty_run = 0
            return self._playback.popleft()
        if self._empty_run < self._idle_after:
            self._underruns += 1
        else:
            self._idle += 1
        self._empty_run += 1
        return silence()

    def set_phase_shifter(self, shifter: Callable[[float], float] | None) -> None:
        """For backends: the function that carries out :meth:`advance_phase`."""
        self._phase_shifter = shifter

    def advance_phase(self, seconds: float) -> float:
        """Move this port's frame boundaries ``seconds`` earlier, once (|seconds| < 20 ms).

        Positive: the period in progress ends early — the frames captured and played in it
        are cut short by ``seconds``. Negative: it ends late — ``-seconds`` of audio are added
        (the backend decides how: a simulator moves its tick; a device re-frames its sample
        stream). Every later boundary keeps the new phase. The media layer uses it to put its
        playout ticks just after the far end's packets arrive instead of up to a period later
        (``ata.media.phase``). Returns the shift applied; 0.0 when the backend cannot move its
        frame grid.
        """
        if self._phase_shifter is None or not 0.0 < abs(seconds) < FRAME_SECONDS:
            return 0.0
        return self._phase_shifter(seconds)

    def count_device_xrun(self, n: int = 1) -> None:
        self._xruns += n

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
