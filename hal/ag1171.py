"""``Ag1171Line``: the :class:`hal.line.Line` contract on a Silvertel Ag1171 / KS0835F module.

Theory of operation
-------------------
The module has three control pins: RM (ring mode, output), F/R (forward/reverse, output: high =
forward) and SHK (switch hook, input: high = off-hook). Audio is analog and goes through a codec
(I2S or USB), which is the audio HAL's business.

- **Feed**: F/R selects the polarity. The module has no open-loop state and no separate
  on-hook-transmission mode (its audio path is always on), so ``Feed.OPEN`` and
  :meth:`Ag1171Line.power_denial` are not available: they are logged and counted in
  :attr:`Ag1171Line.unsupported` and the feed is left as it is.
- **Ringing**: ``ring(True)`` raises RM and toggles F/R at the ring frequency (50 % duty) on
  absolute deadlines ``start + k·T/2`` from the clock; ``ring(False)`` drops RM and restores F/R.
- **Hook**: every SHK edge is delivered raw (:class:`~hal.line.HookTransition` with the gpiod
  kernel timestamp) for the runtime's classifier; the driver also runs the shared
  :class:`~hal.hook.HookClassifier` itself, for the debounce only, so that :attr:`off_hook` is
  debounced and **ring trip** acts on a confirmed off-hook: RM drops at once (debounce ≈ 8 ms,
  well inside one ring cycle) and ``ring(True)`` is refused while the phone is off-hook.
"""

from __future__ import annotations

import logging

from hal.clock import Clock, TimerHandle
from hal.gpio import GpioBackend, InputLine, OutputLine, Pull
from hal.hook import HookClassifier, HookWindows
from hal.line import EventSink, Feed, Gains, HookTransition

log = logging.getLogger(__name__)


class Ag1171Line:
    """One FXS port on an AG1171/KS0835F module (implements :class:`hal.line.Line`)."""

    def __init__(
        self,
        gpio: GpioBackend,
        clock: Clock,
        *,
        rm_pin: int,
        fr_pin: int,
        shk_pin: int,
        port: int = 0,
        ring_frequency_hz: float = 25.0,
        shk_active_high: bool = True,
        windows: HookWindows | None = None,
    ) -> None:
        if not 10.0 <= ring_frequency_hz <= 60.0:
            raise ValueError(f"ring frequency {ring_frequency_hz} Hz is outside 10–60 Hz")
        self._gpio = gpio
        self.clock = clock
        self._pins = (rm_pin, fr_pin, shk_pin)
        self._port = port
        self.ring_frequency_hz = ring_frequency_hz
        self._shk_active_high = shk_active_high
        self._classifier = HookClassifier(windows)
        self._rm: OutputLine | None = None
        self._fr: OutputLine | None = None
        self._shk: InputLine | None = None
        self._feed = Feed.FORWARD
        self._ringing = False
        self._fr_level = True
        self._toggle_k = 0
        self._ring_start = 0.0
        self._ring_timer: TimerHandle | None = None
        self._hook_timer: TimerHandle | None = None
        self._sink: EventSink | None = None
        self._opened = False
        self.unsupported = 0

    # --- Line properties ---------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def pins(self) -> tuple[int, int, int]:
        """(RM, F/R, SHK) GPIO numbers."""
        return self._pins

    @property
    def feed(self) -> Feed:
        return Feed.RINGING if self._ringing else self._feed

    @property
    def off_hook(self) -> bool:
        return self._classifier.off_hook

    @property
    def ringing(self) -> bool:
        return self._ringing

    # --- lifecycle ---------------------------------------------------------------
    async def open(self) -> None:
        rm_pin, fr_pin, shk_pin = self._pins
        if self._rm is None:
            self._rm = self._gpio.output(rm_pin, False)
            self._fr = self._gpio.output(fr_pin, True)
            self._shk = self._gpio.input(shk_pin, pull=Pull.DOWN, on_edge=self._on_shk)
        self._opened = True
        self._feed = Feed.FORWARD
        self._set_fr(True)
        assert self._shk is not None  # noqa: S101
        off_hook = self._shk.get() == self._shk_active_high
        self._classifier = HookClassifier(self._classifier.windows, off_hook=off_hook)

    async def close(self) -> None:
        self.ring(False)
        if self._hook_timer is not None:
            self._hook_timer.cancel()
        self._opened = False

    def set_event_sink(self, sink: EventSink | None) -> None:
        self._sink = sink

    # --- control -----------------------------------------------------------------
    def set_feed(self, feed: Feed) -> None:
        if feed is Feed.RINGING:
            self.ring(True)
            return
        if feed is Feed.OPEN:
            self.unsupported += 1
            log.warning("port %d: the AG1171 cannot open the loop; feed unchanged", self._port)
            return
        self.ring(False)
        self._feed = feed
        self._set_fr(not feed.reversed)

    def ring(self, on: bool) -> bool:
        if on:
            if not self._opened:
                return False
            if self.off_hook:
                log.info("port %d: refusing to ring an off-hook phone", self._port)
                return False
            if not self._ringing:
                self._ringing = True
                assert self._rm is not None  # noqa: S101
                self._rm.set(True)
                self._ring_start = self.clock.now()
                self._toggle_k = 0
                self._schedule_toggle()
            return True
        if self._ringing:
            self._ringing = False
            if self._ring_timer is not None:
                self._ring_timer.cancel()
                self._ring_timer = None
            assert self._rm is not None  # noqa: S101
            self._rm.set(False)
            self._set_fr(not self._feed.reversed)
        return False

    def set_polarity(self, reverse: bool) -> None:
        feed = self._feed.with_polarity(reverse)
        if self._ringing:
            self._feed = feed
        else:
            self.set_feed(feed)

    async def power_denial(self, seconds: float) -> None:
        self.unsupported += 1
        log.warning(
            "port %d: the AG1171 cannot deny power (%.1f s CPC not sent)", self._port, seconds
        )

    def set_gains(self, gains: Gains) -> Gains:
        """The module has no gain control: gains belong to the codec / audio path."""
        return Gains(0.0, 0.0)

    # --- ringing -------------------------------------------------------------------
    def _schedule_toggle(self) -> None:
        half = 0.5 / self.ring_frequency_hz
        self._toggle_k += 1
        deadline = self._ring_start + self._toggle_k * half
        self._ring_timer = self.clock.call_at(deadline, self._toggle)

    def _toggle(self) -> None:
        if not self._ringing:
            return
        self._set_fr(not self._fr_level)
        self._schedule_toggle()

    def _set_fr(self, level: bool) -> None:
        self._fr_level = level
        if self._fr is not None:
            self._fr.set(level)

    # --- hook ----------------------------------------------------------------------
    def _on_shk(self, level: bool, at: float) -> None:
        off_hook = level == self._shk_active_high
        if self._sink is not None:
            self._sink(HookTransition(off_hook, at))
        self._classifier.handle_transition(off_hook, at)
        self._after_classifier()

    def _hook_timer_fired(self) -> None:
        self._hook_timer = None
        self._classifier.handle_timer(self.clock.now())
        self._after_classifier()

    def _after_classifier(self) -> None:
        self._classifier.events()  # only the debounce is used here; the runtime classifies
        if self._classifier.off_hook and self._ringing:
            log.debug("port %d: ring trip", self._port)
            self.ring(False)
        if self._hook_timer is not None:
            self._hook_timer.cancel()
            self._hook_timer = None
        deadline = self._classifier.get_timer()
        if deadline is not None:
            self._hook_timer = self.clock.call_at(deadline, self._hook_timer_fired)
