"""Simulated GPIO: a backend with test verbs, and a GPIO-level model of the AG1171 module.

Theory of operation
-------------------
:class:`SimGpio` implements :class:`hal.gpio.GpioBackend` (after gpiozero's mock pins, but
passed explicitly). Each pin has a level, the driver's edge callbacks and the model's
listeners. Drivers ``output()``/``input()`` pins as on real hardware; models watch outputs
(:meth:`SimGpio.on_output`) and drive inputs (:meth:`SimGpio.drive`), stamping every edge with
the simulated time, so edge callbacks get the same (level, timestamp) a gpiod edge event gives.

:class:`Ag1171Model` is the Silvertel Ag1171 / KS0835F module seen from its three pins and the
pair: RM (ring mode, in), F/R (forward/reverse, in), SHK (switch hook, out). It drives a
:class:`hal.sim.wire.TwoWire`:

- RM low: battery feed, polarity from F/R (high = forward).
- RM high and F/R toggling: ring voltage. The model measures the toggle half-periods and reports
  ``RINGING`` once two consecutive half-periods fall in the 10–60 Hz band (a 20/25 Hz ring at
  50 % duty); it drops back to DC feed when the toggling stops for longer than 60 ms (a timer),
  or at once when RM goes low. The measured frequency is kept in :attr:`ring_frequency_hz`.
- SHK follows the loop (high = off-hook) after a small detection delay, with optional contact
  chatter (a test verb) for the driver's software debounce to cope with. The module keeps
  ringing into an off-hook phone until the host drops RM: ring trip is the driver's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hal.clock import Clock, TimerHandle
from hal.gpio import EdgeCallback, InputLine, OutputLine, Pull
from hal.sim.wire import LineDrive, LoopChange, TwoWire

PinListener = Callable[[bool, float], None]


@dataclass
class _Pin:
    level: bool = False
    edge_callbacks: list[EdgeCallback] = field(default_factory=list)
    listeners: list[PinListener] = field(default_factory=list)
    driven: bool = False  # an input level was set by a model
    history: list[tuple[bool, float]] = field(default_factory=list)


class _SimOutput:
    def __init__(self, gpio: SimGpio, pin: int) -> None:
        self._gpio = gpio
        self._pin = pin

    def set(self, value: bool) -> None:
        self._gpio._set_output(self._pin, value)


class _SimInput:
    def __init__(self, gpio: SimGpio, pin: int) -> None:
        self._gpio = gpio
        self._pin = pin

    def get(self) -> bool:
        return self._gpio.level(self._pin)


class SimGpio:
    """A simulated GPIO controller (implements :class:`hal.gpio.GpioBackend`)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._pins: dict[int, _Pin] = {}
        self.closed = False

    def _pin(self, pin: int) -> _Pin:
        return self._pins.setdefault(pin, _Pin())

    # --- driver side (GpioBackend) -----
    def output(self, pin: int, initial: bool = False) -> OutputLine:
        self._set_output(pin, initial)
        return _SimOutput(self, pin)

    def input(
        self, pin: int, *, pull: Pull = Pull.NONE, on_edge: EdgeCallback | None = None
    ) -> InputLine:
        p = self._pin(pin)
        if not p.driven:
            p.level = pull is Pull.UP
        if on_edge is not None:
            p.edge_callbacks.append(on_edge)
        return _SimInput(self, pin)

    def close(self) -> None:
        self.closed = True
        for p in self._pins.values():
            p.edge_callbacks.clear()

    def _set_output(self, pin: int, value: bool) -> None:
        p = self._pin(pin)
        if p.level == value and p.history:
            return
        p.level = value
        now = self.clock.now()
        p.history.append((value, now))
        for listener in list(p.listeners):
            listener(value, now)

    # --- model / test side -----
    def level(self, pin: int) -> bool:
        return self._pin(pin).level

    def on_output(self, pin: int, listener: PinListener) -> None:
        """Call ``listener(level, at)`` whenever the driver changes output ``pin``."""
        self._pin(pin).listeners.append(listener)

    def drive(self, pin: int, level: bool, at: float | None = None) -> None:
        """Set input ``pin`` as the outside world would; edge callbacks fire on a change."""
        p = self._pin(pin)
        p.driven = True
        if p.level == level:
            return
        p.level = level
        stamp = self.clock.now() if at is None else at
        p.history.append((level, stamp))
        for callback in list(p.edge_callbacks):
            callback(level, stamp)

    def history(self, pin: int) -> list[tuple[bool, float]]:
        return list(self._pin(pin).history)


RING_BAND_HALF_PERIOD_S = (1 / 120, 1 / 20)  # half-periods of a 10–60 Hz toggle
RING_STOP_S = 0.06  # no toggle for this long: ringing has stopped


class Ag1171Model:
    """The AG1171 / KS0835F module behind three simulated GPIO pins."""

    def __init__(
        self,
        gpio: SimGpio,
        wire: TwoWire,
        *,
        rm_pin: int,
        fr_pin: int,
        shk_pin: int,
        shk_delay_s: float = 0.002,
    ) -> None:
        self.gpio = gpio
        self.wire = wire
        self.clock = gpio.clock
        self.rm_pin, self.fr_pin, self.shk_pin = rm_pin, fr_pin, shk_pin
        self.shk_delay_s = shk_delay_s
        self.chatter: tuple[float, ...] = ()  # test verb: SHK bounce pattern (durations, s)
        self.ring_frequency_hz = 0.0
        self.ringing = False
        self._last_toggle: float | None = None
        self._last_half: float | None = None
        self._stop_timer: TimerHandle | None = None
        self._shk_timer: TimerHandle | None = None
        gpio.on_output(rm_pin, self._on_rm)
        gpio.on_output(fr_pin, self._on_fr)
        gpio.drive(shk_pin, False, self.clock.now())
        wire.on_loop_change(self._on_loop)
        self._update(self.clock.now())

    # --- pins -----
    def _on_rm(self, level: bool, at: float) -> None:
        if not level:
            self._stop_ringing()
        self._update(at)

    def _on_fr(self, _level: bool, at: float) -> None:
        if not self.gpio.level(self.rm_pin):
            self._update(at)
            return
        if self._last_toggle is not None:
            half = at - self._last_toggle
            lo, hi = RING_BAND_HALF_PERIOD_S
            if lo <= half <= hi and self._last_half is not None and lo <= self._last_half <= hi:
                self.ringing = True
                self.ring_frequency_hz = 1.0 / (half + self._last_half)
            self._last_half = half
        self._last_toggle = at
        if self._stop_timer is not None:
            self._stop_timer.cancel()
        self._stop_timer = self.clock.call_at(at + RING_STOP_S, self._toggling_stopped)
        self._update(at)

    def _toggling_stopped(self) -> None:
        self._stop_ringing()
        self._update(self.clock.now())

    def _stop_ringing(self) -> None:
        self.ringing = False
        self._last_toggle = None
        self._last_half = None
        if self._stop_timer is not None:
            self._stop_timer.cancel()
            self._stop_timer = None

    def _update(self, at: float) -> None:
        if self.ringing:
            drive = LineDrive.RINGING
        else:
            drive = LineDrive.FORWARD if self.gpio.level(self.fr_pin) else LineDrive.REVERSE
        self.wire.set_drive(drive, at)

    # --- loop -----
    def _on_loop(self, change: LoopChange) -> None:
        if self._shk_timer is not None:
            self._shk_timer.cancel()
        at = change.at + self.shk_delay_s
        level = change.off_hook
        # Chatter: the SHK output flips back and forth for the given durations before settling.
        for duration in self.chatter:
            self._schedule_shk(at, level)
            level = not level
            at += duration
        self._shk_timer = self._schedule_shk(at, change.off_hook)

    def _schedule_shk(self, at: float, level: bool) -> TimerHandle:
        return self.clock.call_at(at, lambda: self.gpio.drive(self.shk_pin, level, at))
