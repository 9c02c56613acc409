"""A register-level model of the ProSLIC Si3210/Si3215 behind the fake SPI bus.

Theory of operation
-------------------
The model answers the chip's SPI protocol one chip-select frame at a time (control byte, then
data byte; bit 7 of the control byte = read), so the real driver (``hal.proslic``) runs against
it unchanged. It keeps its own reset-value table (independent of the driver's tables) and
models what the driver depends on:

- **Identification** (reg 0/1/6) and reset values (reg 8 = 0x02, 11 = 0x33, 64 = 0).
- **Indirect registers** through regs 28–31: writing 28/29 then 30 writes; writing 30 alone
  reads. IAS (reg 31 b0) stays busy for ``ias_busy_reads`` status reads; touching 28–30 while
  busy is counted in :attr:`ias_violations` (a driver bug on real silicon).
- **DC-DC and VBAT**: with reg 14 b4 clear the converter ramps VBAT (reg 82, 0.376 V/LSB)
  towards VBATH (reg 74, 1.5 V/LSB) at ``vbat_ramp_v_per_s``; with it set VBAT decays
  exponentially (``leak_tau_s``). Values are computed from the clock when read.
- **Calibration**: reg 96 reads back the started bits until ``calibration_s`` has passed, then
  0; reg 93 b7 (DC-DC calibration) likewise; reg 107 holds the result.
- **Linefeed** (reg 64): written state in b2:0, actual in b6:4; drives the
  :class:`~hal.sim.wire.TwoWire` (open, forward, reverse, ringing; DC-DC off = open).
- **Hook**: loop closure from the wire, debounced by reg 69 (1.25 ms/LSB) and detected only
  with battery applied → reg 68 b0 and IRQ 19 b1. Off-hook while ringing → after reg 70's
  debounce, ring trip: reg 68 b1, IRQ 19 b0 and, with automatic ring trip (reg 67 b0), the
  linefeed drops to forward active by itself, so the ring voltage stops.
- **Interrupts**: status 18–20 (write 1 to clear), enables 21–23, the INT pin (active low) on a
  :class:`~hal.sim.gpio_model.SimGpio` input.
- **Test verbs**: :meth:`inject_power_alarm`, :meth:`inject_chip_reset`, and the fault switches
  :attr:`present`, :attr:`no_high_voltage`, :attr:`leaky`, :attr:`calibration_stuck`,
  :attr:`ias_stuck`, :attr:`indirect_write_mask`. A RESET pin held low resets the chip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum

from hal.clock import Clock, TimerHandle
from hal.sim.gpio_model import SimGpio
from hal.sim.wire import LineDrive, LoopChange, TwoWire


class Part(Enum):
    SI3210 = "Si3210"
    SI3215 = "Si3215"
    SI3216 = "Si3216"


# Model-side reset values (datasheet view), deliberately not shared with the driver's tables.
_RESET = {
    0: 0x00,
    1: 0x00,
    6: 0x00,
    8: 0x02,
    11: 0x33,
    14: 0x10,
    64: 0x00,
    67: 0x1F,
    69: 0x0A,
    70: 0x0A,
    71: 0x01,
    72: 0x20,
    74: 0x32,
    75: 0x10,
    92: 0xFF,
    93: 0x14,
    107: 0x08,
}
_READ_ONLY = {0, 6, 31, 68, 78, 79, 80, 81, 82, 83}
_LINEFEED_DRIVE = {
    0: LineDrive.OPEN,
    1: LineDrive.FORWARD,
    2: LineDrive.FORWARD,
    3: LineDrive.OPEN,  # tip open: no loop current through a phone
    4: LineDrive.RINGING,
    5: LineDrive.REVERSE,
    6: LineDrive.REVERSE,
    7: LineDrive.OPEN,
}
_BATTERY_FEEDS = {1, 2, 5, 6}


class Si321xModel:
    """One simulated ProSLIC; attach to a :class:`~hal.sim.spi_bus.SimSpiBus` chip select."""

    spi_mode = 3

    def __init__(
        self,
        clock: Clock,
        wire: TwoWire,
        *,
        part: Part = Part.SI3215,
        revision: int = 5,
        gpio: SimGpio | None = None,
        int_pin: int | None = None,
        reset_pin: int | None = None,
    ) -> None:
        self.clock = clock
        self.wire = wire
        self.part = part
        self.revision = revision
        self.gpio = gpio
        self.int_pin = int_pin
        # fault switches (test verbs)
        self.present = True
        self.no_high_voltage = False
        self.leaky = False
        self.calibration_stuck = False
        self.ias_stuck = False
        self.indirect_write_mask = 0xFFFF  # clear bits = stuck-at-0 cells in indirect RAM
        # tunables
        self.ias_busy_reads = 2
        self.vbat_ramp_v_per_s = 750.0
        self.decay_tau_s = 2.0
        self.leak_tau_s = 0.05
        self.calibration_s = 0.25
        self.dcdc_calibration_s = 0.05
        # counters
        self.ias_violations = 0
        self.resets = 0
        self.indirect_writes = 0
        self._timers: list[TimerHandle] = []
        self._int_asserted = False
        self._dcdc_on = False
        self._vbat0 = 0.0
        self._vbat_t0 = clock.now()
        self._lcr_timer: TimerHandle | None = None
        self._rtp_timer: TimerHandle | None = None
        wire.on_loop_change(self._on_loop)
        if gpio is not None and reset_pin is not None:
            gpio.on_output(reset_pin, self._on_reset_pin)
        self._reset()

    # --- state -----
    def _reset(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        self._cancel("_lcr_timer")
        self._cancel("_rtp_timer")
        self.regs = bytearray(128)
        for reg, value in _RESET.items():
            self.regs[reg] = value
        family_bit = 0x80 if self.part is not Part.SI3210 else 0x00
        self.regs[0] = self.revision & 0x0F
        self.regs[1] = family_bit
        self.regs[6] = 0x80 if self.part is Part.SI3216 else 0x00
        self.indirect: dict[int, int] = {}
        self._control: int | None = None
        self._ida_written = False
        self._ias_reads = 0
        self._cal_until = 0.0
        self._cal_bits = 0
        self._dcdc_cal_until = 0.0
        self._lcr_target: bool | None = None
        self._set_dcdc(False, self.clock.now())  # reg 14 resets to 0x10: converter off
        self._apply_drive()
        self._update_int()

    def _on_reset_pin(self, level: bool, _at: float) -> None:
        if not level:
            self.resets += 1
            self._reset()

    @property
    def valid_indirect(self) -> set[int]:
        if self.part is Part.SI3210:
            return set(range(44))
        return set(range(10)) | set(range(13, 28)) | {64, 65, 66}

    @property
    def linefeed(self) -> int:
        """The actual linefeed state (reg 64 b6:4)."""
        return (self.regs[64] >> 4) & 0x07

    @property
    def ring_frequency_hz(self) -> float:
        """The ring oscillator frequency programmed in RING_OSC (oscillator runs at 1 kHz)."""
        coef = self.indirect.get(self._ring_ir(20, 7), 0)
        return 1000.0 * math.acos(max(-1.0, min(1.0, coef / 32768))) / (2 * math.pi)

    @property
    def ring_vrms(self) -> float:
        """The ring amplitude programmed in RING_X, in Vrms (inverse of the driver's scale)."""
        c = self.indirect.get(self._ring_ir(20, 7), 0) / 32768
        amplitude = self.indirect.get(self._ring_ir(21, 8), 0)
        if not -1.0 < c < 1.0 or amplitude == 0:
            return 0.0
        return amplitude * 96 / (8192 * math.sqrt((1 - c) / (1 + c))) / math.sqrt(2)

    def _ring_ir(self, si3210: int, si3215: int) -> int:
        return si3210 if self.part is Part.SI3210 else si3215

    @property
    def pcm_law(self) -> str:
        """ "alaw", "ulaw", "linear" or "off" from reg 1."""
        mode = self.regs[1]
        if not mode & 0x20:
            return "off"
        return {0: "alaw", 1: "ulaw", 3: "linear"}.get((mode >> 3) & 3, "reserved")

    @property
    def pcm_slots(self) -> tuple[int, int]:
        tx = self.regs[2] | (self.regs[3] & 0x03) << 8
        rx = self.regs[4] | (self.regs[5] & 0x03) << 8
        return tx // 8, rx // 8

    # --- SPI -----
    def exchange(self, mosi: int) -> int:
        if not self.present:
            return 0xFF
        if self._control is None:
            self._control = mosi
            return 0xFF
        control, self._control = self._control, None
        reg = control & 0x7F
        if control & 0x80:
            return self.read(reg)
        self.write(reg, mosi)
        return 0xFF

    def read(self, reg: int) -> int:
        now = self.clock.now()
        if reg == 31:
            if self.ias_stuck:
                return 0x01
            if self._ias_reads > 0:
                self._ias_reads -= 1
                return 0x01
            return 0x00
        if reg == 82:
            return min(0xFF, round(self._vbat_now() / 0.376))
        if reg == 96:
            return self._cal_bits if (self.calibration_stuck or now < self._cal_until) else 0
        if reg == 93:
            busy = 0x80 if (self.calibration_stuck or now < self._dcdc_cal_until) else 0
            return (self.regs[93] & 0x7F) | busy
        return self.regs[reg]

    def write(self, reg: int, value: int) -> None:
        now = self.clock.now()
        if reg in _READ_ONLY:
            return
        if reg in (28, 29, 30) and (self._ias_reads > 0 or self.ias_stuck):
            self.ias_violations += 1
        if reg in (18, 19, 20):
            self.regs[reg] &= ~value & 0xFF
            self._update_int()
            return
        if reg == 1:
            self.regs[1] = (self.regs[1] & 0x80) | (value & 0x7F)
            return
        if reg == 14:
            self._set_dcdc(not value & 0x10, now)
            self.regs[14] = value
            return
        if reg == 64:
            self.regs[64] = (value & 0x07) | ((value & 0x07) << 4)
            self._linefeed_changed()
            return
        if reg == 96:
            self._cal_bits = value
            self._cal_until = now + self.calibration_s
            return
        if reg == 93:
            self.regs[93] = value & 0x7F
            if value & 0x80:
                self._dcdc_cal_until = now + self.dcdc_calibration_s
            return
        if reg in (28, 29):
            self._ida_written = True
        self.regs[reg] = value
        if reg == 30:
            self._indirect_access(value)
        if reg in (21, 22, 23):
            self._update_int()

    def _indirect_access(self, address: int) -> None:
        self._ias_reads = self.ias_busy_reads
        if self._ida_written:
            if address in self.valid_indirect:
                value = self.regs[28] | (self.regs[29] << 8)
                self.indirect[address] = value & self.indirect_write_mask
                self.indirect_writes += 1
        else:
            value = self.indirect.get(address, 0) if address in self.valid_indirect else 0
            self.regs[28], self.regs[29] = value & 0xFF, value >> 8
        self._ida_written = False
        self.regs[20] |= 0x02  # indirect access done
        self._update_int()

    # --- DC-DC / VBAT -----
    def _vbat_now(self) -> float:
        dt = max(0.0, self.clock.now() - self._vbat_t0)
        if self._dcdc_on:
            target = 3.0 if self.no_high_voltage else self.regs[74] * 1.5
            if self._vbat0 >= target:
                return target
            return min(target, self._vbat0 + self.vbat_ramp_v_per_s * dt)
        tau = self.leak_tau_s if self.leaky else self.decay_tau_s
        return self._vbat0 * math.exp(-dt / tau)

    def _set_dcdc(self, on: bool, now: float) -> None:
        if on == self._dcdc_on:
            return
        self._vbat0 = self._vbat_now()
        self._vbat_t0 = now
        self._dcdc_on = on
        self._apply_drive()
        self._evaluate_hook()

    @property
    def vbat_v(self) -> float:
        return self._vbat_now()

    # --- line -----
    def _apply_drive(self) -> None:
        drive = _LINEFEED_DRIVE[self.linefeed] if self._dcdc_on else LineDrive.OPEN
        self.wire.set_drive(drive, self.clock.now())

    def _linefeed_changed(self) -> None:
        if self.linefeed != 4:
            self.regs[68] &= ~0x02 & 0xFF
        self._apply_drive()
        self._evaluate_hook()

    def _on_loop(self, _change: LoopChange) -> None:
        self._evaluate_hook()

    def _evaluate_hook(self) -> None:
        """Re-derive what the detectors see and (re)start their debounce timers."""
        now = self.clock.now()
        closed = self.wire.off_hook
        ringing = self.linefeed == 4 and self._dcdc_on
        if ringing:
            self._cancel("_lcr_timer")
            if closed and self._rtp_timer is None and not self.regs[68] & 0x02:
                delay = max(1, self.regs[70]) * 0.00125
                self._rtp_timer = self._call(now + delay, self._ring_trip)
            elif not closed:
                self._cancel("_rtp_timer")
            return
        self._cancel("_rtp_timer")
        sensed = closed and self._dcdc_on and self.linefeed in _BATTERY_FEEDS
        current = bool(self.regs[68] & 0x01)
        if sensed == current:
            self._cancel("_lcr_timer")
            self._lcr_target = None
            return
        if self._lcr_target is sensed and self._lcr_timer is not None:
            return
        self._cancel("_lcr_timer")
        self._lcr_target = sensed
        delay = self.regs[69] * 0.00125
        self._lcr_timer = self._call(now + delay, self._commit_loop_closure)

    def _commit_loop_closure(self) -> None:
        self._lcr_timer = None
        target, self._lcr_target = self._lcr_target, None
        if target is None:
            return
        self.regs[68] = (self.regs[68] & ~0x01 & 0xFF) | int(target)
        self.regs[19] |= 0x02
        self._update_int()

    def _ring_trip(self) -> None:
        self._rtp_timer = None
        if not (self.wire.off_hook and self.linefeed == 4):
            return
        self.regs[68] |= 0x02
        self.regs[19] |= 0x01
        if self.regs[67] & 0x01:  # automatic ring trip: straight to forward active
            self.regs[64] = 0x11
            self._apply_drive()
        self._evaluate_hook()
        self._update_int()

    # --- interrupts and faults -----
    def _update_int(self) -> None:
        asserted = any(self.regs[18 + i] & self.regs[21 + i] for i in range(3))
        if asserted == self._int_asserted:
            return
        self._int_asserted = asserted
        if self.gpio is not None and self.int_pin is not None:
            self.gpio.drive(self.int_pin, not asserted, self.clock.now())

    @property
    def int_asserted(self) -> bool:
        return self._int_asserted

    def inject_power_alarm(self, transistor: int = 1) -> None:
        """Power alarm on Q1..Q6: status bit in reg 19, and the chip opens the line."""
        if not 1 <= transistor <= 6:
            raise ValueError("transistor is 1..6")
        self.regs[19] |= 0x04 << (transistor - 1)
        self.regs[64] = 0x00
        self._apply_drive()
        self._evaluate_hook()
        self._update_int()

    def inject_chip_reset(self) -> None:
        """The chip loses its configuration (as after a brown-out or a reset pulse)."""
        self.resets += 1
        self._reset()

    # --- helpers -----
    def _call(self, at: float, action: Callable[[], None]) -> TimerHandle:
        handle = self.clock.call_at(at, action)
        self._timers.append(handle)
        if len(self._timers) > 64:  # bounded: older handles have fired long ago
            self._timers = self._timers[-16:]
        return handle

    def _cancel(self, name: str) -> None:
        handle: TimerHandle | None = getattr(self, name)
        if handle is not None:
            handle.cancel()
            setattr(self, name, None)
