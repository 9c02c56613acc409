"""ALSA backend of the HAL ``AudioPort`` (pyalsaaudio, imported lazily).

Theory of operation
-------------------
One :class:`AlsaAudioDevice` owns a capture and a playback PCM (8000 Hz, S16_LE, ``channels``
interleaved channels; the Pi's I2S needs 2, one per FXS port of a two-port HAT) and exposes one
:class:`AlsaAudioPort` per channel (``device.ports[i]``), each a
:class:`hal.audio.BufferedAudioPort` with the contract documented in :mod:`hal.audio`.

**Device pacing** (the default, real hardware): both PCMs are opened non-blocking and the
capture PCM's ``polldescriptors()`` are watched with the asyncio loop's ``add_reader`` — no
thread. When the codec has captured data the callback reads everything available and serves it.

**Serving a read** (both pacing modes, :meth:`AlsaAudioDevice._serve`): the interleaved samples
are split by channel and pushed into that channel's :class:`hal.framing.ChannelFramer`, which
cuts them into 160-sample frames on the channel's *own* frame grid (any period size works).
Each completed frame goes to its port (``codec_capture``) and the port's playback frame
(``codec_playback``: its queue or silence) to the framer's playback queue; then exactly as many
sample-frames as were read are written to the playback PCM, each channel's from its queue.
Capture therefore clocks playback: both directions run at the codec's own rate and never drift
apart. At start the playback PCM is prefilled with silence (:attr:`prefill_samples`): a margin
of ``playback_prefill − 1`` frames before each write, which is also the playback latency.
Device xruns (pyalsaaudio returns ``-EPIPE`` and re-prepares the stream) are counted in
``device_xruns``; after a capture overrun each port's frame index jumps by the estimated number
of lost frames and its framer restarts its grid; after a playback underrun the prefill is
written again.

**Phase** (:meth:`hal.audio.BufferedAudioPort.advance_phase`): each port's shifter moves its
channel's grid by ``round(seconds × 8000)`` samples (see :mod:`hal.framing`: the frame in
progress is cut short with a repeat of the previous frame's tail, or lengthened by discarding
samples; the playback queue drops or repeats what keeps its latency against the ticks). The
port learns of a frame only when the period holding its last sample is read, so the time
resolution of a move is the ALSA period, and a move is rounded onto the read grid (whole
periods when the period divides 160; advances round down, retards away from zero): a boundary
left between two reads would only make each frame older when it is delivered
(``phase_step=1`` re-cuts at sample resolution anyway). With ``period_frames=160`` (20 ms, the
default) no tick can come earlier: ``advance_phase`` returns 0.0 and the media layer stops
asking. A board that wants the latency gain of playout phase alignment (:mod:`ata.media.phase`)
sets a smaller period — 40 frames = 5 ms steps (the board file's ``[audio] period_frames``),
at four loop wake-ups per 20 ms (measured: ~11 µs of Python per read and 2 ports on x86-64).

Why no thread: the loop-polled design needs none, keeps every port callback on the loop
thread (so ``BufferedAudioPort`` needs no locks), and its wake-up is the kernel's period
interrupt. The alternative — one thread per device doing blocking reads and handing frames to
the loop — was measured by ``bench/bench_alsa_pacing.py`` with a kernel timerfd standing in for
the codec's period interrupt (no clocked ALSA device exists on the build machines): the median
latency to the media coroutine is the same (0.15–0.4 ms idle or with a busy loop), but the
thread hand-off has the worse tail (p99 1.6–3.6× the loop's, e.g. 8.4 vs 5.3 ms with a busy
loop), since the woken thread must win the GIL and then wake the loop again. A CPU-bound
Python thread delays both by the 5 ms GIL switch interval, another reason to avoid threads.
Re-run the bench on the Pi to confirm.

**Clock pacing** (``clock=``): for unclocked userspace plugins (``type null`` capture returns
silence at once, ``type file`` playback writes to a file, whose poll descriptor — /dev/full — the
loop cannot watch): a task reads and serves one period per ``start + k × period`` deadline of
the given :class:`hal.clock.Clock` (``period = period_frames / 8000``: 20 ms for 160 frames).
Used by the tests (with alsa-lib's real plugins underneath) and usable for plugin chains
without a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import select
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hal.alsa_pcm import AlsaDeviceError, Pcm, PcmFactory, alsaaudio_pcm
from hal.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, BufferedAudioPort
from hal.clock import Clock
from hal.framing import ChannelFramer

log = logging.getLogger(__name__)


class AlsaAudioPort(BufferedAudioPort):
    """One channel of an :class:`AlsaAudioDevice`.

    ``start()`` starts the device (idempotent); ``close()`` closes this port, and the device
    once all of its ports are closed (two FXS ports share one stereo I2S device).
    """

    def __init__(self, device: AlsaAudioDevice, channel: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.device = device
        self.channel = channel

    @property
    def framer(self) -> ChannelFramer:
        """This channel's frame grid, playback queue and their counters."""
        return self.device.framers[self.channel]

    async def start(self) -> None:
        await self.device.start()

    async def close(self) -> None:
        self.mark_closed()
        if all(p.closed for p in self.device.ports):
            await self.device.close()


class AlsaAudioDevice:
    """A full-duplex ALSA PCM pair serving one AudioPort per channel.

    ``period_frames``: the ALSA period (and the ``clock=`` tick), in sample-frames: the time
    resolution of ``advance_phase`` (160 = 20 ms; 40 = 5 ms steps for playout phase
    alignment). ``playback_prefill``: the playback margin in 20 ms frames plus one (2 = 20 ms
    of silence ahead of every write, whatever the period; see :attr:`prefill_samples`).
    ``periods``: the ALSA buffer in periods (default: 80 ms, at least 4 periods).
    ``phase_step``: phase moves are rounded to this many samples (default: the period's grain,
    so every move moves the ticks; 1: re-cut at sample resolution, see :mod:`hal.framing`).
    ``framers[ch]`` holds each channel's grid and counters (``short_samples`` etc.).
    """

    def __init__(
        self,
        capture_device: str = "default",
        playback_device: str | None = None,
        *,
        channels: int = 1,
        period_frames: int = FRAME_SAMPLES,
        periods: int | None = None,
        playback_prefill: int = 2,
        clock: Clock | None = None,
        capture_depth: int = 8,
        playback_depth: int = 8,
        phase_step: int | None = None,
        pcm_factory: PcmFactory = alsaaudio_pcm,
    ) -> None:
        if periods is None:  # an 80 ms buffer (at least 4 periods) whatever the period
            periods = max(4, -(-4 * FRAME_SAMPLES // max(1, period_frames)))
        if channels < 1 or period_frames < 1 or periods < 2 or playback_prefill < 0:
            raise ValueError("need channels ≥ 1, period ≥ 1, periods ≥ 2, prefill ≥ 0")
        self.capture_device = capture_device
        self.playback_device = playback_device or capture_device
        self.channels = channels
        self.period_frames = period_frames
        self.periods = periods
        self.playback_prefill = playback_prefill
        if self.prefill_samples + period_frames > period_frames * periods:
            raise ValueError(
                f"a prefill of {self.prefill_samples} frames and a period do not fit in a "
                f"buffer of {periods} × {period_frames} frames: raise periods"
            )
        self.clock = clock
        self._factory = pcm_factory
        self.framers = [
            ChannelFramer(period=period_frames, step=phase_step) for _ in range(channels)
        ]
        self.ports = [
            AlsaAudioPort(
                self,
                ch,
                capture_depth=capture_depth,
                playback_depth=playback_depth,
                name=f"{capture_device}#{ch}",
            )
            for ch in range(channels)
        ]
        for port, framer in zip(self.ports, self.framers, strict=True):
            port.set_phase_shifter(_shifter(framer))
        self._capture: Pcm | None = None
        self._playback: Pcm | None = None
        self._partial = b""  # bytes of an incomplete sample-frame (never expected from ALSA)
        self._sample_bytes = 2 * channels
        self._watched: list[tuple[int, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self._last_capture_at: list[float | None] = [None] * channels
        self._loop: asyncio.AbstractEventLoop | None = None
        self.samples_read = 0  # sample-frames (one sample per channel) captured
        self.samples_written = 0  # sample-frames accepted by the playback PCM
        self.playback_blocked = 0  # playback writes refused (buffer full)
        self.playback_dropped = 0  # sample-frames the playback PCM did not accept

    @property
    def prefill_samples(self) -> int:
        """Silence written ahead at start: a margin of ``playback_prefill − 1`` frames."""
        return max(0, (self.playback_prefill - 1) * FRAME_SAMPLES + self.period_frames)

    @property
    def running(self) -> bool:
        return self._capture is not None

    async def start(self) -> None:
        if self._capture is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._capture = self._factory(
            "capture", self.capture_device, self.channels, self.period_frames, self.periods
        )
        try:
            self._playback = self._factory(
                "playback", self.playback_device, self.channels, self.period_frames, self.periods
            )
            self._prefill()
            if self.clock is None:
                self._watch(self._capture)
                # A prepared capture stream starts on its first read attempt (pyalsaaudio has
                # no start()); until it runs, its descriptor never becomes readable.
                self._on_readable()
            else:
                self._task = self._loop.create_task(self._paced(self.clock), name="alsa-paced")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        loop = self._loop
        for fd, is_reader in self._watched:
            if loop is not None:
                if is_reader:
                    loop.remove_reader(fd)
                else:
                    loop.remove_writer(fd)
        self._watched.clear()
        for pcm in (self._capture, self._playback):
            if pcm is not None:
                pcm.close()
        self._capture = self._playback = None
        for port in self.ports:
            port.mark_closed()

    # --- pacing -------------------------------------------------------------------------------
    def _watch(self, pcm: Pcm) -> None:
        if self._loop is None:
            raise AlsaDeviceError("the device is not started")
        for fd, mask in pcm.polldescriptors():
            is_reader = bool(mask & (select.POLLIN | select.POLLPRI)) or not mask & select.POLLOUT
            try:
                if is_reader:
                    self._loop.add_reader(fd, self._on_readable)
                else:
                    self._loop.add_writer(fd, self._on_readable)
            except (PermissionError, ValueError) as exc:
                raise AlsaDeviceError(
                    f"ALSA device {self.capture_device!r} cannot be polled by the event loop "
                    f"({exc}); an unclocked plugin needs clock= pacing"
                ) from exc
            self._watched.append((fd, is_reader))

    def _on_readable(self) -> None:
        """The capture PCM has data: read all of it and serve every complete frame."""
        pcm = self._capture
        if pcm is None:
            return
        chunks: list[bytes] = []
        for _ in range(64):  # bounded: never spin if a device keeps returning data
            n, data = pcm.read()
            if n == -errno.EPIPE:  # serve what was read before the gap, then restart the grids
                self._serve(b"".join(chunks))
                chunks.clear()
                self._capture_overrun()
                continue
            if n <= 0:
                break
            chunks.append(data)
        self._serve(b"".join(chunks))

    async def _paced(self, clock: Clock) -> None:
        start = clock.now()
        period = self.period_frames / SAMPLE_RATE
        k = 0
        while self._capture is not None:
            k += 1
            await clock.sleep_until(start + k * period)
            n, data = self._capture.read()
            if n == -errno.EPIPE:
                self._capture_overrun()
            elif n > 0:
                self._serve(data)

    def _serve(self, data: bytes) -> None:
        """Frame what was read, per channel, and write exactly as many sample-frames back."""
        if self._partial:
            data, self._partial = self._partial + data, b""
        whole = len(data) - len(data) % self._sample_bytes
        if whole < len(data):
            data, self._partial = data[:whole], data[whole:]
        if not data:
            return
        now = self._now()
        samples = np.frombuffer(data, dtype="<i2").reshape(-1, self.channels)
        n = samples.shape[0]
        self.samples_read += n
        out = np.empty((n, self.channels), dtype="<i2")
        for ch, (port, framer) in enumerate(zip(self.ports, self.framers, strict=True)):
            for frame in framer.push(samples[:, ch]):
                port.codec_capture(frame, now)
                self._last_capture_at[ch] = now
                framer.queue_playback(port.codec_playback())
            out[:, ch] = framer.take(n)
        self._write(out.tobytes(), n)

    def _write(self, data: bytes, n: int) -> None:
        pcm = self._playback
        if pcm is None:
            return
        written = pcm.write(data)
        if written == -errno.EPIPE:
            for port in self.ports:
                port.count_device_xrun()
            log.warning("ALSA playback underrun on %s; refilling", self.playback_device)
            self._prefill()
            written = pcm.write(data)
        if written == 0:
            self.playback_blocked += 1
        written = max(0, min(written, n))
        self.samples_written += written
        self.playback_dropped += n - written

    def _prefill(self) -> None:
        if self._playback is None or not self.prefill_samples:
            return
        self._playback.write(bytes(self._sample_bytes * self.prefill_samples))

    def _capture_overrun(self) -> None:
        """The capture stream overran and was re-prepared: samples were lost, per channel."""
        now = self._now()
        lost = 0
        for ch, (port, framer) in enumerate(zip(self.ports, self.framers, strict=True)):
            last = self._last_capture_at[ch]
            lost = 0 if last is None else max(0, round((now - last) / FRAME_SECONDS) - 1)
            port.count_device_xrun()
            port.codec_skip(lost)
            framer.restart()
        self._partial = b""
        log.warning("ALSA capture overrun on %s (~%d frames lost)", self.capture_device, lost)

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else _loop_time(self._loop)


def open_alsa_ports(
    specs: Sequence[tuple[str, int]], *, min_channels: int = 1, **device_options: Any
) -> tuple[list[AlsaAudioPort], list[AlsaAudioDevice]]:
    """One port per ``(device, channel)`` spec, in order (e.g. from the board's port table).

    Specs naming the same device share one :class:`AlsaAudioDevice` with ``channels`` = the
    highest channel used + 1, but at least ``min_channels`` (pass 2 for the Pi's I2S, which
    only runs stereo, even for a one-port HAT). The devices are returned too; start them (or
    any of their ports) from the event loop.
    """
    highest: dict[str, int] = {}
    for device, channel in specs:
        if channel < 0:
            raise ValueError(f"negative audio channel for {device!r}")
        highest[device] = max(highest.get(device, 0), channel)
    devices = {
        name: AlsaAudioDevice(name, channels=max(top + 1, min_channels), **device_options)
        for name, top in highest.items()
    }
    ports = [devices[device].ports[channel] for device, channel in specs]
    return ports, list(devices.values())


def _shifter(framer: ChannelFramer) -> Callable[[float], float]:
    """The port's phase shifter: re-frame its channel by whole samples (seconds → samples)."""

    def shift(seconds: float) -> float:
        return framer.shift(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE

    return shift


def _loop_time(loop: asyncio.AbstractEventLoop | None) -> float:
    return loop.time() if loop is not None else 0.0


__all__ = [
    "AlsaAudioDevice",
    "AlsaAudioPort",
    "AlsaDeviceError",
    "Pcm",
    "PcmFactory",
    "alsaaudio_pcm",
    "open_alsa_ports",
]
