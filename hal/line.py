"""The HAL ``Line`` contract: one FXS port's DC feed, ringing, polarity and hook events.

Theory of operation
-------------------
A ``Line`` is what pi-ata's line layer sees of one FXS port, whatever the SLIC behind it (a
ProSLIC Si3210/Si3215 on SPI, an AG1171 module on three GPIOs, the simulator). It offers:

- **Feed control**: :meth:`Line.set_feed` with a :class:`Feed` (open, forward/reverse active,
  on-hook transmission for caller ID in either polarity, ringing). :meth:`Line.set_polarity`
  flips the current feed's polarity; :meth:`Line.power_denial` opens the loop for a while
  (CPC / "K-break") and restores the previous feed.
- **Ringing**: :meth:`Line.ring` switches the ring voltage on or off. The *cadence* is not the
  driver's business: pi-ata's line layer (``ata.line.ringer``) calls ``ring(True)`` and
  ``ring(False)`` from cadence data. The driver owns **ring trip**: when the phone goes off hook
  while ringing, the driver stops the ring voltage at once (within one ring cycle), puts the
  line into forward active feed and delivers the off-hook :class:`HookTransition`. ``ring(True)``
  into an off-hook phone is refused (returns ``False``; ringing never restarts into a handset
  at someone's ear).
- **Events**: raw hook transitions with the most precise timestamp the hardware offers (SLIC
  interrupt service time, gpiod kernel edge timestamp, simulated time), plus alarms
  (:class:`LineAlarm`: power alarm, chip reset, recovery). Delivery is a callback registered with
  :meth:`Line.set_event_sink`; drivers call it from the asyncio loop thread (gpiod edge fds are
  watched with ``loop.add_reader``; the simulator calls it synchronously from simulated time),
  so a sink may touch loop-owned state directly and must not block. A sink that prefers an
  async iterator can push into an ``asyncio.Queue`` (see :class:`EventQueue`).
- **Classification** is not the driver's business either: raw transitions go through the one
  shared, sans-IO :class:`hal.hook.HookClassifier`, which debounces and turns on-hook intervals
  into :class:`OffHook`, :class:`OnHook`, :class:`Flash` and :class:`PulseDigit` using
  configurable windows. Every driver therefore classifies identically.

Timestamps are seconds on the monotonic clock the runtime's event loop uses
(``time.monotonic()``, which is also gpiod's default edge clock), or simulated seconds.

Waiting drivers (VBAT ramp, calibration, power-denial pulse) ``await`` a :class:`WaitClock`
passed in, never ``time.sleep``; the simulator passes an accelerated clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable


class Feed(Enum):
    """The DC state of the line (what the SLIC's linefeed register selects)."""

    OPEN = "open"  # no battery (power denial, port disabled)
    FORWARD = "forward"  # forward active: normal talk/idle battery
    REVERSE = "reverse"  # reverse active: polarity reversed (answer supervision, CID alert)
    ON_HOOK_TX = "on_hook_tx"  # forward on-hook transmission (audio path on while on-hook: CID)
    ON_HOOK_TX_REVERSE = "on_hook_tx_reverse"  # reverse on-hook transmission
    RINGING = "ringing"  # ring voltage applied (normally use Line.ring instead)

    @property
    def reversed(self) -> bool:
        return self in (Feed.REVERSE, Feed.ON_HOOK_TX_REVERSE)

    def with_polarity(self, reverse: bool) -> Feed:
        """The same feed with the given polarity (OPEN and RINGING have none)."""
        pairs = {
            Feed.FORWARD: Feed.REVERSE,
            Feed.ON_HOOK_TX: Feed.ON_HOOK_TX_REVERSE,
        }
        forward = {v: k for k, v in pairs.items()}
        if self in pairs:
            return pairs[self] if reverse else self
        if self in forward:
            return self if reverse else forward[self]
        return self


# --- raw events (what drivers deliver) -------------------------------------------------------


@dataclass(frozen=True)
class HookTransition:
    """A raw hook edge as the hardware reported it (not debounced by pi-ata yet)."""

    off_hook: bool
    at: float


class AlarmKind(Enum):
    POWER_ALARM = "power_alarm"  # SLIC power transistor alarm; the chip opened the line
    CHIP_RESET = "chip_reset"  # the SLIC lost its configuration (brown-out, reset pulse)
    RECOVERED = "recovered"  # the driver re-initialised the port after an alarm or reset
    FAILED = "failed"  # the port is out of service (alarm limit reached, re-init failed)


@dataclass(frozen=True)
class LineAlarm:
    kind: AlarmKind
    at: float
    detail: str = ""


LineEvent = HookTransition | LineAlarm
EventSink = Callable[[LineEvent], None]

# --- classified events (what hal.hook.HookClassifier produces) -------------------------------


@dataclass(frozen=True)
class OffHook:
    at: float


@dataclass(frozen=True)
class OnHook:
    """Hang-up: the line stayed on-hook longer than the flash window (``at`` = when it went)."""

    at: float


@dataclass(frozen=True)
class Flash:
    at: float  # when the phone came back off-hook
    duration: float  # the on-hook interval


@dataclass(frozen=True)
class PulseDigit:
    digit: str  # "0".."9"
    pulses: int
    at: float  # when the digit was recognised complete (after the inter-digit pause)


HookEvent = OffHook | OnHook | Flash | PulseDigit


# --- gains -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gains:
    """Analog gains in dB. ``tx`` = phone → network (capture), ``rx`` = network → phone."""

    tx_db: float = 0.0
    rx_db: float = 0.0


# --- the waiting clock drivers need -----------------------------------------------------------


@runtime_checkable
class WaitClock(Protocol):
    """The minimum a driver needs to wait: read the time, sleep until a deadline.

    ``hal.clock`` provides the monotonic (asyncio) and simulated implementations; any object
    with these two methods works.
    """

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class LoopClock:
    """A :class:`WaitClock` on the running asyncio loop's monotonic time."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


# --- the contract ------------------------------------------------------------------------------


@runtime_checkable
class Line(Protocol):
    """One FXS port. Methods other than ``open``/``close``/``power_denial`` do not wait."""

    @property
    def port(self) -> int:
        """Zero-based port number on its board."""
        ...

    @property
    def feed(self) -> Feed:
        """The feed last selected (RINGING while the ring voltage is on)."""
        ...

    @property
    def off_hook(self) -> bool:
        """The current (hardware-debounced where the SLIC does it) hook state."""
        ...

    @property
    def ringing(self) -> bool: ...

    async def open(self) -> None:
        """Bring the port up (chip init, calibration) and leave it in forward active feed.

        Raises a :class:`hal.errors.HalError` subclass naming what failed.
        """
        ...

    async def close(self) -> None:
        """Stop ringing, open the line, release hardware resources."""
        ...

    def set_event_sink(self, sink: EventSink | None) -> None:
        """Register the callback that receives :data:`LineEvent` objects (one sink per line)."""
        ...

    def set_feed(self, feed: Feed) -> None:
        """Select the DC feed. ``Feed.RINGING`` is the same as ``ring(True)``."""
        ...

    def ring(self, on: bool) -> bool:
        """Ring voltage on/off. Returns whether it is on now; refuses (False) while off-hook."""
        ...

    def set_polarity(self, reverse: bool) -> None:
        """Flip the current feed to reverse (True) or forward (False) polarity."""
        ...

    async def power_denial(self, seconds: float) -> None:
        """Open the loop for ``seconds`` (CPC disconnect signal), then restore the feed."""
        ...

    def set_gains(self, gains: Gains) -> Gains:
        """Apply analog gains; returns the gains actually set (hardware steps)."""
        ...


class EventQueue:
    """An event sink that turns callbacks into an async iterator (for consumers that prefer it).

    ``line.set_event_sink(q.put)`` then ``async for event in q``. The queue is bounded; when a
    consumer stalls, the oldest events are dropped and counted in :attr:`dropped`.
    """

    def __init__(self, maxsize: int = 256) -> None:
        self._queue: asyncio.Queue[LineEvent] = asyncio.Queue(maxsize)
        self.dropped = 0

    def put(self, event: LineEvent) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventQueue:
        return self

    async def __anext__(self) -> LineEvent:
        return await self._queue.get()
