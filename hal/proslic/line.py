"""``ProSlicLine``: the :class:`hal.line.Line` contract on one Si3210/Si3215.

Theory of operation
-------------------
The line owns one :class:`~hal.proslic.chip.ProSlicChip`. After :meth:`ProSlicLine.open`
(full chip bring-up) it reacts to the chip's interrupts: from the INT pin's falling edge
(timestamped by gpiod or the simulator) or, without an INT pin, from a poll every 16 ms as
wctdm does. Servicing reads IRQ status 1–3 and writes the bits back to clear them, then:

- **ring trip** (reg 19 b0) while ringing: the chip's automatic ring trip has already removed
  the ring voltage; the driver writes the active feed at once (the on-hook-transmission feed
  becomes the matching active one), clears ``ringing`` and delivers ``HookTransition(True)``.
- **loop closure** (reg 19 b1): reg 68 b0 is the hardware-debounced hook state; a change is
  delivered as a :class:`~hal.line.HookTransition` stamped with the interrupt time.
- **power alarm** (reg 19 b2–b7): the chip opened the line. The driver re-arms (rewrites the
  feed) up to ``power_alarm_limit`` times, reporting each as a :class:`~hal.line.LineAlarm`;
  beyond that it shuts the port down and reports ``FAILED``.

A health check every second reads reg 8: the driver writes 0 there at init, so reading the reset
value 0x02 means the chip was reset behind our back (brown-out, reset line). The driver then
re-initialises it, restores the feed and reports ``CHIP_RESET`` then ``RECOVERED`` (or
``FAILED``). Ringing is software-cadenced: :meth:`ProSlicLine.ring` switches linefeed 4 on and
off as pi-ata's ringer commands, and refuses to ring an off-hook phone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hal.clock import Clock, TimerHandle
from hal.errors import HalError, PowerAlarmError
from hal.gpio import GpioBackend, InputLine, Pull
from hal.line import AlarmKind, EventSink, Feed, Gains, HookTransition, LineAlarm, LineEvent
from hal.proslic.chip import ChipInfo, ProSlicChip, ProSlicConfig
from hal.proslic.registers import (
    HOOK_OFF,
    IRQ2_LOOP_CLOSURE,
    IRQ2_POWER_ALARMS,
    IRQ2_RING_TRIP,
    Linefeed,
    Reg,
)
from hal.spi import SpiPort

log = logging.getLogger(__name__)

FEED_TO_LINEFEED: dict[Feed, Linefeed] = {
    Feed.OPEN: Linefeed.OPEN,
    Feed.FORWARD: Linefeed.FORWARD_ACTIVE,
    Feed.REVERSE: Linefeed.REVERSE_ACTIVE,
    Feed.ON_HOOK_TX: Linefeed.FORWARD_OHT,
    Feed.ON_HOOK_TX_REVERSE: Linefeed.REVERSE_OHT,
    Feed.RINGING: Linefeed.RINGING,
}
ACTIVE_AFTER_TRIP = {Feed.ON_HOOK_TX: Feed.FORWARD, Feed.ON_HOOK_TX_REVERSE: Feed.REVERSE}


class ProSlicLine:
    """One FXS port on a ProSLIC (implements :class:`hal.line.Line`)."""

    def __init__(
        self,
        spi: SpiPort,
        clock: Clock,
        *,
        port: int = 0,
        config: ProSlicConfig | None = None,
        gpio: GpioBackend | None = None,
        int_pin: int | None = None,
        poll_interval_s: float = 0.016,
        health_interval_s: float = 1.0,
    ) -> None:
        self.chip = ProSlicChip(spi, clock, port=port)
        self.clock = clock
        self.config = config or ProSlicConfig()
        self._port = port
        self._gpio = gpio
        self._int_pin = int_pin
        self._int_requested = False
        self._int_line: InputLine | None = None
        self._poll_interval = poll_interval_s
        self._health_interval = health_interval_s
        self._feed = Feed.OPEN
        self._ringing = False
        self._off_hook = False
        self._opened = False
        self._failed = False
        self._sink: EventSink | None = None
        self._timers: dict[str, TimerHandle] = {}
        self._recovery: asyncio.Task[None] | None = None
        self._servicing = False
        self._again = False
        self.power_alarms = 0
        self.recoveries = 0
        self.spi_errors = 0
        self.info: ChipInfo | None = None

    # --- Line properties -----
    @property
    def port(self) -> int:
        return self._port

    @property
    def feed(self) -> Feed:
        return Feed.RINGING if self._ringing else self._feed

    @property
    def off_hook(self) -> bool:
        return self._off_hook

    @property
    def ringing(self) -> bool:
        return self._ringing

    @property
    def failed(self) -> bool:
        return self._failed

    # --- lifecycle -----
    async def open(self) -> None:
        self.info = await self.chip.initialize(self.config)
        self._opened, self._failed, self._ringing = True, False, False
        self.power_alarms = 0
        self._feed = Feed.FORWARD
        self._write_feed(Feed.FORWARD)
        self._off_hook = bool(self.chip.read(Reg.HOOK_STATUS) & HOOK_OFF)
        if self._gpio is not None and self._int_pin is not None and not self._int_requested:
            self._int_line = self._gpio.input(
                self._int_pin, pull=Pull.UP, on_edge=self._on_int_edge
            )
            self._int_requested = True
        if not self._int_requested:
            self._arm("poll", self._poll_interval, self._poll)
        self._arm("health", self._health_interval, self._health)

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._recovery is not None:
            self._recovery.cancel()
        if self._opened:
            self._ringing = False
            self._write_feed(Feed.OPEN)
            self.chip.write(Reg.POWER_DOWN, 0x10)
        self._opened = False

    def set_event_sink(self, sink: EventSink | None) -> None:
        self._sink = sink

    # --- control -----
    def set_feed(self, feed: Feed) -> None:
        if feed is Feed.RINGING:
            self.ring(True)
            return
        was_open = self._feed is Feed.OPEN
        self._feed = feed
        self._ringing = False
        if self._usable():
            self._write_feed(feed)
            if was_open and feed is not Feed.OPEN:
                self._recheck_hook()

    def _recheck_hook(self) -> None:
        """After an open interval, read the hook once the loop detector has settled again."""
        settle = self.chip.read(Reg.LCR_DEBOUNCE) * 0.00125 + 0.01

        def check() -> None:
            self._timers.pop("recheck", None)
            if self._usable():
                self._update_hook(
                    bool(self.chip.read(Reg.HOOK_STATUS) & HOOK_OFF), self.clock.now()
                )

        self._timers["recheck"] = self.clock.call_at(self.clock.now() + settle, check)

    def ring(self, on: bool) -> bool:
        if on:
            if not self._usable():
                return False
            if self._off_hook:
                log.info("port %d: refusing to ring an off-hook phone", self._port)
                return False
            if not self._ringing:
                self._ringing = True
                self._write_feed(Feed.RINGING)
            return True
        if self._ringing:
            self._ringing = False
            if self._usable():
                self._write_feed(self._feed)
        return False

    def set_polarity(self, reverse: bool) -> None:
        feed = self._feed.with_polarity(reverse)
        if self._ringing:
            self._feed = feed
        else:
            self.set_feed(feed)

    async def power_denial(self, seconds: float) -> None:
        restore = self._feed
        self.ring(False)
        self.set_feed(Feed.OPEN)
        await self.clock.sleep_until(self.clock.now() + seconds)
        if self._feed is Feed.OPEN:  # nobody changed the feed meanwhile
            self.set_feed(restore)

    def set_gains(self, gains: Gains) -> Gains:
        return self.chip.set_gains(gains)

    # --- interrupts -----
    def _on_int_edge(self, level: bool, at: float) -> None:
        if not level:  # INT is active low
            self.service_interrupts(at)

    def service_interrupts(self, at: float) -> None:
        """Read, clear and act on the chip's interrupt status (also callable by polling)."""
        if not self._opened:
            return
        if self._servicing:  # a nested INT edge from our own register writes
            self._again = True
            return
        self._servicing = True
        try:
            # INT is a level: an event that arrives between reading and clearing the status keeps
            # it low without a new falling edge, so service until it is released (bounded).
            for _ in range(8):
                self._again = False
                self._service_once(at)
                released = self._int_line is None or self._int_line.get()
                if not self._again and released:
                    break
        except OSError as exc:  # spidev transfer failed: count it, the next edge/poll retries
            self.spi_errors += 1
            log.error("port %d: SPI error while servicing interrupts: %s", self._port, exc)
        finally:
            self._servicing = False

    def _service_once(self, at: float) -> None:
        chip = self.chip
        status = [chip.read(r) for r in (Reg.IRQ_STATUS_1, Reg.IRQ_STATUS_2, Reg.IRQ_STATUS_3)]
        for reg, value in zip(
            (Reg.IRQ_STATUS_1, Reg.IRQ_STATUS_2, Reg.IRQ_STATUS_3), status, strict=True
        ):
            if value:
                chip.write(reg, value)
        s2 = status[1]
        if s2 & IRQ2_POWER_ALARMS:
            self._power_alarm(s2 & IRQ2_POWER_ALARMS, at)
        if s2 & IRQ2_RING_TRIP and self._ringing:
            self._ring_trip(at)
        if s2 & IRQ2_LOOP_CLOSURE or not self._int_requested:
            self._update_hook(bool(chip.read(Reg.HOOK_STATUS) & HOOK_OFF), at)

    def _ring_trip(self, at: float) -> None:
        self._ringing = False
        self._feed = ACTIVE_AFTER_TRIP.get(self._feed, self._feed)
        if self._feed is Feed.OPEN:
            self._feed = Feed.FORWARD
        self._write_feed(self._feed)
        log.debug("port %d: ring trip", self._port)
        self._update_hook(True, at)

    def _update_hook(self, off_hook: bool, at: float) -> None:
        if self._feed is Feed.OPEN and not self._ringing:
            # No battery, no loop current: the detector reads on-hook whatever the phone does.
            # The true state is read again when the feed comes back (_recheck_hook).
            return
        if off_hook == self._off_hook:
            return
        self._off_hook = off_hook
        if off_hook and self._ringing:
            # Off-hook reported by loop closure before the ring-trip bit: same treatment.
            self._ringing = False
            self._feed = ACTIVE_AFTER_TRIP.get(self._feed, self._feed)
            self._write_feed(self._feed)
        self._emit(HookTransition(off_hook, at))

    def _power_alarm(self, bits: int, at: float) -> None:
        self.power_alarms += 1
        transistors = [f"Q{i + 1}" for i in range(6) if bits & (0x04 << i)]
        detail = f"power alarm {', '.join(transistors)} ({self.power_alarms})"
        log.warning("port %d: %s", self._port, detail)
        self._emit(LineAlarm(AlarmKind.POWER_ALARM, at, detail))
        if self.power_alarms > self.config.power_alarm_limit:
            error = PowerAlarmError(
                f"{self.power_alarms} power alarms (limit {self.config.power_alarm_limit}): "
                "port shut down",
                port=self._port,
            )
            self._shut_down(at, str(error))
            return
        self._ringing = False
        self._write_feed(self._feed)  # re-arm: the chip opened the line

    def _shut_down(self, at: float, reason: str) -> None:
        self._failed = True
        self._ringing = False
        try:
            self.chip.write(Reg.IRQ_ENABLE_2, IRQ2_RING_TRIP | IRQ2_LOOP_CLOSURE)
            self._write_feed(Feed.OPEN)
            self.chip.write(Reg.POWER_DOWN, 0x10)
        except OSError as exc:
            log.error("port %d: cannot shut the SLIC down: %s", self._port, exc)
        log.error("port %d: out of service: %s", self._port, reason)
        self._emit(LineAlarm(AlarmKind.FAILED, at, reason))

    # --- health and recovery -----
    def check_health(self, now: float) -> bool:
        """True if the chip still holds our configuration; starts recovery otherwise."""
        if not self._opened or self._recovery is not None or self._failed:
            return True
        if not self.chip.is_fresh():
            return True
        log.warning("port %d: the SLIC was reset; re-initialising", self._port)
        self._emit(LineAlarm(AlarmKind.CHIP_RESET, now, "reg 8 reads its reset value"))
        self._recovery = asyncio.get_running_loop().create_task(self._recover())
        return False

    async def _recover(self) -> None:
        feed, self._ringing = self._feed, False
        try:
            self.info = await self.chip.initialize(self.config)
        except HalError as exc:
            self._shut_down(self.clock.now(), f"re-initialisation failed: {exc}")
            return
        finally:
            self._recovery = None
        self.recoveries += 1
        self._feed = feed
        self._write_feed(feed)
        self._emit(LineAlarm(AlarmKind.RECOVERED, self.clock.now(), "re-initialised"))
        self._recheck_hook()  # the phone may have hung up while the chip was down

    # --- internals -----
    def _usable(self) -> bool:
        return self._opened and not self._failed and self._recovery is None

    def _write_feed(self, feed: Feed) -> None:
        self.chip.write(Reg.LINEFEED, FEED_TO_LINEFEED[feed])

    def _emit(self, event: LineEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _arm(self, name: str, interval: float, action: Callable[[float], None]) -> None:
        """Run ``action(now)`` every ``interval`` on absolute deadlines (start + k·interval)."""
        deadline = self.clock.now() + interval

        def fire() -> None:
            nonlocal deadline
            if not self._opened:
                return
            action(self.clock.now())
            deadline = max(deadline + interval, self.clock.now())
            self._timers[name] = self.clock.call_at(deadline, fire)

        self._timers[name] = self.clock.call_at(deadline, fire)

    def _poll(self, now: float) -> None:
        if self._usable():
            self.service_interrupts(now)

    def _health(self, now: float) -> None:
        self.check_health(now)
