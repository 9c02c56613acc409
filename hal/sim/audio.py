"""The simulated codec: a software sample clock joining the ATA's AudioPort to a virtual phone.

Theory of operation
-------------------
A real FXS HAT has a PCM codec whose crystal paces the voice path. :class:`SimCodec` plays that
part in software: one task wakes at the absolute deadlines ``start + k * 20 ms`` of a
:class:`hal.clock.Clock` (real time for integration, a :class:`hal.clock.VirtualClock` for unit
tests) — never ``sleep(0.02)`` after the last wake-up, so lateness never turns into drift. If the
task wakes more than ``max_catch_up`` periods late (the machine stalled), it skips ahead and
counts the lost periods in ``clock_slips``; the ports' frame index jumps accordingly, like a
real capture overrun.

At each tick ``k`` (time ``t = start + (k + 1) * 20 ms``, the end of period ``k``) every
:class:`SimAudioLink` does, in this order (steps 1–4 are :meth:`SimAudioLink.capture`, run for
every link first; then the codec yields once to the event loop so the ATA's readers run, as
they would on real hardware where the phone is another device; then step 5,
:meth:`SimAudioLink.deliver`, for every link):

1. ``played = port.codec_playback()`` — the frame the ATA queued (or silence, counted);
2. ``spoken = terminal.transmit_frame(t)`` — what the phone sends into the line this period
   (its DTMF, speech, CAS acknowledgement; silence when on-hook);
3. ``captured = gain_tx·spoken + echo(played) (+ noise)`` — the hybrid echo is an FIR
   impulse response applied to the played signal with continuous state across frames (for the
   echo-canceller tests); in **loopback** mode ``captured = played`` delayed by
   ``loopback_delay`` periods (for latency benchmarks) and no terminal is needed;
4. ``port.codec_capture(captured, t)`` — wakes the ATA's ``read_frame()``;
5. ``terminal.receive_frame(gain_rx·played, t)`` — the phone hears what was played.

``tx_gain_db``/``rx_gain_db`` stand for the SLIC's analogue gains (a board wires them to what
``Line.set_gains`` returned); the echo is taken from the played signal before the rx gain.

The path always carries audio towards the phone, on-hook too: on-hook transmission (caller ID
FSK before/between rings) needs it, and the phone decides what it can hear (its caller ID
receiver listens on-hook; a dead line — no battery — or ring voltage reads as silence).
Latency: a frame written by the ATA after ``read_frame()`` returned at tick ``k`` is played and
heard at tick ``k + 1``; what the phone says at tick ``k`` is captured at tick ``k``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hal.audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, BufferedAudioPort, Frame
from hal.clock import Clock

log = logging.getLogger(__name__)

ZERO_DBM0_PEAK = 32767.0 * 10.0 ** (-3.14 / 20.0)


class AudioTerminal(Protocol):
    """The line side of a link: a virtual phone (or any test fixture)."""

    def transmit_frame(self, at: float) -> Frame:
        """The 160 samples the terminal sends into the line in the period ending at ``at``."""
        ...

    def receive_frame(self, frame: Frame, at: float) -> None:
        """The 160 samples the terminal hears in the period ending at ``at``."""
        ...


class SimAudioPort(BufferedAudioPort):
    """The ATA-side :class:`hal.audio.AudioPort` of a simulated port (fed by a SimCodec)."""


def hybrid_response(
    *, erl_db: float = 12.0, delay_samples: int = 16, taps: int = 64, seed: int = 7
) -> npt.NDArray[np.float64]:
    """A plausible 2-wire hybrid echo path: a decaying, sign-alternating burst after a delay.

    The response is scaled so a white signal comes back ``erl_db`` weaker (echo return loss).
    """
    if delay_samples < 0 or taps < 1:
        raise ValueError("delay must be ≥ 0 and taps ≥ 1")
    rng = np.random.default_rng(seed)
    n = np.arange(taps, dtype=np.float64)
    body = rng.standard_normal(taps) * np.exp(-n / (taps / 5.0))
    h = np.concatenate([np.zeros(delay_samples), body])
    h *= 10.0 ** (-erl_db / 20.0) / math.sqrt(float(np.sum(h * h)))
    return h


class _Fir:
    """Streaming FIR filter (state carried across frames)."""

    def __init__(self, taps: npt.NDArray[np.float64]) -> None:
        self._h = np.asarray(taps, dtype=np.float64)
        self._state = np.zeros(max(0, self._h.size - 1), dtype=np.float64)

    def __call__(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        ext = np.concatenate([self._state, x])
        y: npt.NDArray[np.float64] = np.convolve(ext, self._h, "valid")
        if self._state.size:
            self._state = ext[-self._state.size :]
        return y


def _saturate(x: npt.NDArray[np.float64]) -> Frame:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


@dataclass
class LinkStats:
    ticks: int = 0
    clipped_samples: int = 0  # captured samples that saturated int16


class SimAudioLink:
    """One port's analogue path: ATA port ⇄ phone, with optional echo, noise or loopback."""

    def __init__(
        self,
        port: BufferedAudioPort,
        terminal: AudioTerminal | None = None,
        *,
        echo: npt.ArrayLike | None = None,
        noise_dbm0: float | None = None,
        loopback: bool = False,
        loopback_delay: int = 0,
        seed: int = 1,
        tx_gain_db: float = 0.0,
        rx_gain_db: float = 0.0,
    ) -> None:
        if terminal is None and not loopback:
            raise ValueError("a link needs a terminal unless it is a loopback")
        if loopback_delay < 0:
            raise ValueError("loopback_delay must be ≥ 0")
        self.port = port
        self.terminal = terminal
        self.loopback = loopback
        # Analogue gains of the SLIC (set them from Line.set_gains' result): tx = phone → ATA
        # (applied to what the phone sends), rx = ATA → phone (applied to what the phone hears).
        self.tx_gain_db = tx_gain_db
        self.rx_gain_db = rx_gain_db
        self.stats = LinkStats()
        self._echo = _Fir(np.asarray(echo, dtype=np.float64)) if echo is not None else None
        self._noise_rms = (
            None
            if noise_dbm0 is None
            else ZERO_DBM0_PEAK / math.sqrt(2.0) * 10 ** (noise_dbm0 / 20)
        )
        # numpy.random costs ~2 MiB resident: only links with line noise load it.
        self._rng = np.random.default_rng(seed) if noise_dbm0 is not None else None
        self._delay: deque[Frame] = deque(
            np.zeros(FRAME_SAMPLES, dtype=np.int16) for _ in range(loopback_delay)
        )
        self.taps: list[Callable[[Frame, Frame, float], None]] = []  # (played, captured, at)
        self._played: Frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._captured: Frame = self._played
        # Frame grid (set by the SimCodec): period k ends at origin + (k + 1) * period.
        self._origin = 0.0
        self._k = 0
        self._period = FRAME_SECONDS
        self.advanced_s = 0.0  # total phase shift applied (s; negative: retarded)
        port.set_phase_shifter(self.advance_phase)

    def _grid(self, origin: float, k: int, period: float) -> None:
        self._origin, self._k, self._period = origin - self.advanced_s, k, period

    @property
    def next_deadline(self) -> float:
        """End of the period being captured now."""
        return self._origin + (self._k + 1) * self._period

    def advance_phase(self, seconds: float) -> float:
        """End the current period ``seconds`` early (negative: late); later boundaries follow.

        The model of re-framing a port's sample stream: the period in progress is shortened
        or lengthened once (its frame still has 160 samples; the phone side cannot tell).
        Returns the shift applied: at most 90 % of a period either way. Exact when called from
        the port's frame loop (the codec plans its next wake-up after the ATA has run); called
        at another time an advance takes effect from the next tick, which is then late.
        """
        limit = 0.9 * self._period
        seconds = min(max(-limit, seconds), limit)
        self._origin -= seconds
        self.advanced_s += seconds
        return seconds

    def tick(self, at: float) -> None:
        """One whole codec period: :meth:`capture` then :meth:`deliver`."""
        self.capture(at)
        self.deliver(at)

    def capture(self, at: float) -> None:
        """The ATA side of period ending at ``at``: play the queued frame, capture the line."""
        played = self.port.codec_playback()
        self._played = played
        terminal = None if self.loopback else self.terminal
        if terminal is None:
            self._delay.append(played)
            captured_f = self._delay.popleft().astype(np.float64)
        else:
            spoken = terminal.transmit_frame(at)
            if (
                self._echo is None
                and self._noise_rms is None
                and spoken.dtype == np.int16
                and not spoken.any()
            ):
                # A silent phone on a clean line (on-hook, or listening): nothing to mix.
                self._captured = spoken
                self.port.codec_capture(spoken, at)
                return
            captured_f = spoken.astype(np.float64)
            if self.tx_gain_db:
                captured_f *= 10.0 ** (self.tx_gain_db / 20.0)
        if self._echo is not None:
            captured_f = captured_f + self._echo(played.astype(np.float64))
        if self._noise_rms is not None and self._rng is not None:
            captured_f = captured_f + self._rng.normal(0.0, self._noise_rms, FRAME_SAMPLES)
        self.stats.clipped_samples += int(np.count_nonzero(np.abs(captured_f) > 32767.5))
        captured = _saturate(captured_f)
        self._captured = captured
        self.port.codec_capture(captured, at)

    def deliver(self, at: float) -> None:
        """The phone side of the same period: the terminal hears what was played; taps see it."""
        played, captured = self._played, self._captured
        terminal = None if self.loopback else self.terminal
        if terminal is not None:
            heard = played
            if self.rx_gain_db:
                heard = _saturate(played.astype(np.float64) * 10.0 ** (self.rx_gain_db / 20.0))
            terminal.receive_frame(heard, at)
        for tap in self.taps:
            tap(played, captured, at)
        self.stats.ticks += 1


class SimCodec:
    """A software sample clock ticking every attached link each 20 ms (absolute deadlines).

    Every link keeps its own frame grid ``origin + (k + 1) * period``; all start on the codec's
    grid. :meth:`SimAudioLink.advance_phase` (reached through the port's ``advance_phase``)
    moves one link's grid earlier, once — the model of a driver that re-frames its port's
    sample stream (see :meth:`hal.audio.BufferedAudioPort.advance_phase`). The codec task
    sleeps until the earliest link deadline, captures every due link, yields once so the ATA
    runs, then delivers to the phones.
    """

    def __init__(self, clock: Clock, *, max_catch_up: int = 10, ppm: float = 0.0) -> None:
        if not -10_000.0 < ppm < 10_000.0:
            raise ValueError("ppm must be within ±10000")
        self.clock = clock
        # A real crystal is off by some ppm: the period is 20 ms × (1 − ppm·10⁻⁶), i.e. a codec
        # with ppm > 0 runs fast (for jitter-buffer / clock-skew tests). 0 = exact.
        self.period = FRAME_SECONDS * (1.0 - ppm * 1e-6)
        self.links: list[SimAudioLink] = []
        self.ticks = 0  # wake-ups that ticked at least one link
        self.clock_slips = 0
        self.tick_times: deque[float] = deque(maxlen=4096)  # wake-up times, for benchmarks
        self.lateness: deque[float] = deque(maxlen=4096)  # wake-up − deadline (s), benchmarks
        self._max_catch_up = max_catch_up
        self._task: asyncio.Task[None] | None = None
        self._start = 0.0

    def connect(
        self,
        port: BufferedAudioPort,
        terminal: AudioTerminal | None = None,
        *,
        echo: npt.ArrayLike | None = None,
        noise_dbm0: float | None = None,
        loopback: bool = False,
        loopback_delay: int = 0,
        seed: int = 1,
        tx_gain_db: float = 0.0,
        rx_gain_db: float = 0.0,
    ) -> SimAudioLink:
        """Join ``port`` to ``terminal`` (see :class:`SimAudioLink`) and tick it from now on."""
        link = SimAudioLink(
            port,
            terminal,
            echo=echo,
            noise_dbm0=noise_dbm0,
            loopback=loopback,
            loopback_delay=loopback_delay,
            seed=seed,
            tx_gain_db=tx_gain_db,
            rx_gain_db=rx_gain_db,
        )
        return self.attach(link)

    def attach(self, link: SimAudioLink) -> SimAudioLink:
        if self.running:
            elapsed = max(0.0, self.clock.now() - self._start)
            link._grid(self._start, int(elapsed / self.period), self.period)
        else:
            link._grid(self._start, 0, self.period)
        self.links.append(link)
        return link

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._start = self.clock.now()
        for link in self.links:
            link._grid(self._start, 0, self.period)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-codec")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        idle_k = 0
        while True:
            if not self.links:
                idle_k += 1
                await self.clock.sleep_until(self._start + idle_k * self.period)
                continue
            # Computed after the previous tick's ATA work ran (it may have advanced a grid).
            deadline = min(link.next_deadline for link in self.links)
            await self.clock.sleep_until(deadline)
            now = self.clock.now()
            due = [link for link in self.links if link.next_deadline <= now]
            for link in due:
                behind = int((now - link.next_deadline) / self.period)
                if behind > self._max_catch_up:
                    self.clock_slips += behind
                    link.port.codec_skip(behind)
                    log.warning("sim codec %d periods late; skipped them", behind)
                    link._k += behind
            self.tick_times.append(now)
            self.lateness.append(now - deadline)
            for link in due:
                link.capture(link.next_deadline)
            # The ATA and the phones are separate devices: let the ATA's readers (woken by
            # the captures) run before the phones analyse what they heard, as on hardware.
            await asyncio.sleep(0)
            for link in due:
                link.deliver(link.next_deadline)
                link._k += 1
            self.ticks += 1


__all__ = [
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "AudioTerminal",
    "LinkStats",
    "SimAudioLink",
    "SimAudioPort",
    "SimCodec",
    "hybrid_response",
]
