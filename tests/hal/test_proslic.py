"""The real ProSLIC driver against the Si321x register model (fake SPI bus, simulated clock)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hal.clock import VirtualClock
from hal.errors import (
    CalibrationTimeoutError,
    IndirectRegisterError,
    LeakTestError,
    NoChipError,
    NoHighVoltageError,
)
from hal.hook import HookClassifier
from hal.line import AlarmKind, Feed, Gains, HookTransition, Line, LineAlarm, LineEvent, PulseDigit
from hal.proslic import PcmFormat, ProSlicConfig, ProSlicLine
from hal.proslic.registers import INDIRECT_BY_NAME, Family, ring_oscillator
from hal.sim.gpio_model import SimGpio
from hal.sim.slic_model import Part, Si321xModel
from hal.sim.spi_bus import SimSpiBus
from hal.sim.wire import DriveChange, LineDrive, TwoWire

INT_PIN = 25


@dataclass
class Rig:
    clock: VirtualClock
    wire: TwoWire
    model: Si321xModel
    line: ProSlicLine
    bus: SimSpiBus
    events: list[LineEvent] = field(default_factory=list)
    drives: list[DriveChange] = field(default_factory=list)

    def hooks(self) -> list[HookTransition]:
        return [e for e in self.events if isinstance(e, HookTransition)]

    def alarms(self) -> list[AlarmKind]:
        return [e.kind for e in self.events if isinstance(e, LineAlarm)]


def make_rig(
    part: Part = Part.SI3215, *, use_int: bool = True, config: ProSlicConfig | None = None
) -> Rig:
    clock = VirtualClock(start=100.0)
    wire = TwoWire()
    gpio = SimGpio(clock)
    bus = SimSpiBus()
    model = Si321xModel(clock, wire, part=part, gpio=gpio, int_pin=INT_PIN if use_int else None)
    bus.attach(0, model)
    line = ProSlicLine(
        bus.port(0),
        clock,
        port=0,
        config=config,
        gpio=gpio if use_int else None,
        int_pin=INT_PIN if use_int else None,
    )
    rig = Rig(clock, wire, model, line, bus)
    line.set_event_sink(rig.events.append)
    wire.on_drive_change(rig.drives.append)
    return rig


async def opened(part: Part = Part.SI3215, **kwargs: object) -> Rig:
    rig = make_rig(part, **kwargs)  # type: ignore[arg-type]
    await rig.clock.run(rig.line.open())
    return rig


# --- bring-up -----


async def test_init_brings_the_si3215_up() -> None:
    rig = await opened()
    m = rig.model
    assert isinstance(rig.line, Line)
    assert rig.line.info is not None
    assert rig.line.info.part == "Si3215"
    assert rig.line.info.family is Family.SI3215
    assert m.linefeed == 1
    assert rig.wire.drive is LineDrive.FORWARD
    assert m.regs[8] == 0x00  # configured (the "was I reset?" marker)
    assert m.vbat_v > 70.0
    assert m.ias_violations == 0
    rco, rngx = ring_oscillator(20.0, 45.0)
    assert m.indirect[INDIRECT_BY_NAME["RING_OSC"].address_3215] == rco  # type: ignore[index]
    assert m.indirect[INDIRECT_BY_NAME["RING_X"].address_3215] == rngx  # type: ignore[index]
    assert m.indirect[22] == 0x8000  # LOOP_CLOSURE_FILTER restored after power-up (3215 addr)
    assert m.regs[1] == 0x80 | 0x28  # µ-law, PCM enabled (b7 is the read-only family bit)
    assert rig.line.feed is Feed.FORWARD
    assert not rig.line.off_hook


async def test_init_si3210_loads_dtmf_registers_and_pcm_slots() -> None:
    rig = await opened(Part.SI3210, config=ProSlicConfig(tx_slot=3, rx_slot=3))
    assert rig.line.info is not None
    assert rig.line.info.part == "Si3210"
    assert rig.model.indirect[0] == INDIRECT_BY_NAME["DTMF_ROW_0_PEAK"].initial
    assert rig.model.indirect[20] == ring_oscillator(20.0, 45.0)[0]  # Si3210 address
    assert rig.model.pcm_slots == (3, 3)


async def test_no_chip_and_empty_socket() -> None:
    rig = make_rig()
    rig.model.present = False
    with pytest.raises(NoChipError, match="no ProSLIC answers"):
        await rig.clock.run(rig.line.open())
    empty = ProSlicLine(SimSpiBus().port(1), rig.clock)
    with pytest.raises(NoChipError):
        await rig.clock.run(empty.open())


async def test_wrong_spi_mode_is_caught() -> None:
    rig = make_rig()
    line = ProSlicLine(rig.bus.port(0, mode=0), rig.clock)
    with pytest.raises(NoChipError):
        await rig.clock.run(line.open())


async def test_no_high_voltage() -> None:
    rig = make_rig()
    rig.model.no_high_voltage = True
    with pytest.raises(NoHighVoltageError, match="VBAT reached only") as info:
        await rig.clock.run(rig.line.open())
    assert info.value.vbat_v < 10.0
    assert rig.wire.drive is LineDrive.OPEN


async def test_leak_test_failure() -> None:
    rig = make_rig()
    rig.model.leaky = True
    with pytest.raises(LeakTestError, match="leakage"):
        await rig.clock.run(rig.line.open())


async def test_calibration_timeout_retries_once() -> None:
    rig = make_rig()
    rig.model.calibration_stuck = True
    start = rig.clock.now()
    with pytest.raises(CalibrationTimeoutError):
        await rig.clock.run(rig.line.open())
    assert rig.clock.now() - start >= 2 * 2.0


async def test_indirect_access_stuck() -> None:
    rig = make_rig()
    rig.model.ias_stuck = True
    with pytest.raises(IndirectRegisterError, match="IAS"):
        await rig.clock.run(rig.line.open())


# --- hook -----


async def test_hook_edges_are_reported_with_interrupt_timestamps() -> None:
    rig = await opened()
    t0 = rig.clock.now()
    rig.wire.set_off_hook(True, t0)
    await rig.clock.advance(0.05)
    assert rig.line.off_hook
    rig.wire.set_off_hook(False, rig.clock.now())
    t1 = rig.clock.now()
    await rig.clock.advance(0.05)
    hooks = rig.hooks()
    assert [h.off_hook for h in hooks] == [True, False]
    debounce = rig.model.regs[69] * 0.00125
    assert hooks[0].at == pytest.approx(t0 + debounce)
    assert hooks[1].at == pytest.approx(t1 + debounce)
    assert not rig.line.off_hook


async def test_polling_mode_without_int_pin() -> None:
    rig = await opened(use_int=False)
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.1)
    assert rig.line.off_hook
    assert [h.off_hook for h in rig.hooks()] == [True]


async def test_pulse_dialing_through_the_chip_and_the_classifier() -> None:
    rig = await opened()
    classifier = HookClassifier()
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.5)
    start = rig.clock.now()
    for k in range(4):  # "4" at 10 pps, 60 % break
        t = start + k * 0.1
        rig.clock.call_at(t, lambda t=t: rig.wire.set_off_hook(False, t))
        rig.clock.call_at(t + 0.06, lambda t=t: rig.wire.set_off_hook(True, t + 0.06))
    await rig.clock.advance(1.5)
    for h in rig.hooks():
        classifier.handle_transition(h.off_hook, h.at)
    classifier.handle_timer(rig.clock.now())
    digits = [e for e in classifier.events() if isinstance(e, PulseDigit)]
    assert [d.digit for d in digits] == ["4"]


# --- ringing and ring trip -----


async def test_ring_on_off_drives_the_pair() -> None:
    rig = await opened()
    assert rig.line.ring(True) is True
    assert rig.wire.drive is LineDrive.RINGING
    assert rig.line.feed is Feed.RINGING
    await rig.clock.advance(2.0)
    assert rig.line.ring(False) is False
    assert rig.wire.drive is LineDrive.FORWARD
    assert rig.hooks() == []


async def test_ring_trip_stops_ring_voltage_within_one_cycle() -> None:
    rig = await opened()
    rig.line.set_feed(Feed.ON_HOOK_TX)  # caller ID feed between rings
    rig.line.ring(True)
    await rig.clock.advance(0.7)
    t_off = rig.clock.now()
    rig.wire.set_off_hook(True, t_off)
    await rig.clock.advance(0.2)
    stop = next(d for d in rig.drives if d.at >= t_off and d.drive is not LineDrive.RINGING)
    assert stop.drive is LineDrive.FORWARD
    assert stop.at - t_off <= 1 / 20  # ≤ one 20 Hz ring cycle
    assert not rig.line.ringing
    assert rig.line.feed is Feed.FORWARD  # on-hook transmission became forward active
    hooks = rig.hooks()
    assert [h.off_hook for h in hooks] == [True]
    assert hooks[0].at - t_off <= 1 / 20
    # The ringer's next cadence step must not ring into the handset.
    assert rig.line.ring(True) is False
    assert rig.wire.drive is LineDrive.FORWARD
    await rig.clock.advance(0.5)
    assert rig.wire.drive is LineDrive.FORWARD
    assert [h.off_hook for h in rig.hooks()] == [True]


async def test_ring_refused_while_off_hook() -> None:
    rig = await opened()
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.05)
    assert rig.line.ring(True) is False
    assert rig.wire.drive is not LineDrive.RINGING


# --- feed, polarity, gains -----


async def test_polarity_and_power_denial() -> None:
    rig = await opened()
    rig.line.set_polarity(True)
    assert rig.line.feed is Feed.REVERSE
    assert rig.wire.drive is LineDrive.REVERSE
    assert rig.model.linefeed == 5
    rig.line.set_feed(Feed.ON_HOOK_TX_REVERSE)
    assert rig.model.linefeed == 6
    rig.line.set_polarity(False)
    assert rig.model.linefeed == 2
    start = rig.clock.now()
    await rig.clock.run(rig.line.power_denial(0.5))
    opened_at = [d for d in rig.drives if d.drive is LineDrive.OPEN and d.at >= start]
    assert opened_at
    assert opened_at[0].at == pytest.approx(start)
    assert rig.clock.now() - start == pytest.approx(0.5)
    assert rig.wire.drive is LineDrive.FORWARD
    assert rig.line.feed is Feed.ON_HOOK_TX


async def test_gains_snap_to_hardware_steps() -> None:
    rig = await opened()
    assert rig.line.set_gains(Gains(tx_db=3.0, rx_db=-2.0)) == Gains(3.5, -3.5)
    assert rig.model.regs[9] == 0x08 | 0x01
    assert rig.line.set_gains(Gains()) == Gains(0.0, 0.0)
    assert rig.model.regs[9] == 0


# --- alarms and recovery -----


async def test_power_alarm_is_reported_and_rearmed_up_to_the_limit() -> None:
    rig = await opened(config=ProSlicConfig(power_alarm_limit=2))
    rig.model.inject_power_alarm(3)
    assert rig.alarms() == [AlarmKind.POWER_ALARM]
    assert "Q3" in next(e.detail for e in rig.events if isinstance(e, LineAlarm))
    assert rig.model.linefeed == 1  # re-armed
    assert rig.wire.drive is LineDrive.FORWARD
    assert not rig.model.int_asserted
    rig.model.inject_power_alarm(1)
    rig.model.inject_power_alarm(1)
    assert rig.alarms()[-1] is AlarmKind.FAILED
    assert rig.line.failed
    assert rig.wire.drive is LineDrive.OPEN
    assert rig.line.ring(True) is False


async def test_chip_reset_is_detected_and_recovered() -> None:
    rig = await opened()
    rig.line.set_polarity(True)
    rig.model.inject_chip_reset()
    assert rig.wire.drive is LineDrive.OPEN
    await rig.clock.advance(3.0)
    assert rig.alarms() == [AlarmKind.CHIP_RESET, AlarmKind.RECOVERED]
    assert rig.line.recoveries == 1
    assert rig.model.regs[8] == 0
    assert rig.model.linefeed == 5
    assert rig.wire.drive is LineDrive.REVERSE
    # Interrupts work again after the re-init.
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.05)
    assert rig.line.off_hook


async def test_recovery_failure_takes_the_port_out_of_service() -> None:
    rig = await opened()
    rig.model.inject_chip_reset()
    rig.model.no_high_voltage = True
    await rig.clock.advance(3.0)
    assert rig.alarms() == [AlarmKind.CHIP_RESET, AlarmKind.FAILED]
    assert rig.line.failed


async def test_close_opens_the_line_and_stops_the_converter() -> None:
    rig = await opened()
    rig.line.ring(True)
    await rig.line.close()
    assert rig.wire.drive is LineDrive.OPEN
    assert not rig.line.ringing
    await rig.clock.advance(5.0)
    assert rig.model.vbat_v < 75.0


async def test_power_denial_does_not_fake_hook_events() -> None:
    rig = await opened()
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.1)
    await rig.clock.run(rig.line.power_denial(0.5))
    await rig.clock.advance(0.1)
    assert [h.off_hook for h in rig.hooks()] == [True]  # no on-hook/off-hook from the break
    assert rig.line.off_hook


async def test_hang_up_during_power_denial_is_reported_after_it() -> None:
    rig = await opened()
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.1)
    task_end = rig.clock.now() + 0.8
    rig.clock.call_at(rig.clock.now() + 0.3, lambda: rig.wire.set_off_hook(False, rig.clock.now()))
    await rig.clock.run(rig.line.power_denial(0.8))
    await rig.clock.advance(0.1)
    hooks = rig.hooks()
    assert [h.off_hook for h in hooks] == [True, False]
    assert hooks[1].at >= task_end
    assert not rig.line.off_hook


async def test_hang_up_while_the_chip_was_reset_is_reported_after_recovery() -> None:
    rig = await opened()
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.1)
    rig.model.inject_chip_reset()
    rig.wire.set_off_hook(False, rig.clock.now())
    await rig.clock.advance(3.0)
    assert rig.alarms() == [AlarmKind.CHIP_RESET, AlarmKind.RECOVERED]
    assert [h.off_hook for h in rig.hooks()] == [True, False]


async def test_indirect_verify_failure() -> None:
    rig = make_rig()
    rig.model.indirect_write_mask = 0x7FFF  # a stuck bit 15 in the indirect RAM
    with pytest.raises(IndirectRegisterError, match="reads 0x0000, wrote 0x8000"):
        await rig.clock.run(rig.line.open())


@pytest.mark.parametrize(
    ("part", "frequency", "vrms"), [(Part.SI3215, 25.0, 50.0), (Part.SI3210, 20.0, 45.0)]
)
async def test_ring_oscillator_and_pcm_law_programmed(
    part: Part, frequency: float, vrms: float
) -> None:
    rig = await opened(
        part,
        config=ProSlicConfig(
            ring_frequency_hz=frequency, ring_vrms=vrms, pcm_format=PcmFormat.ALAW
        ),
    )
    assert rig.model.ring_frequency_hz == pytest.approx(frequency, abs=0.05)
    assert rig.model.ring_vrms == pytest.approx(vrms, rel=0.01)
    assert rig.model.pcm_law == "alaw"
    assert rig.model.regs[74] * 1.5 >= vrms * 2**0.5  # VBATH covers the ring peak


async def test_close_and_reopen_takes_the_reinit_path() -> None:
    rig = await opened()
    await rig.line.close()
    assert not rig.model.regs[8]  # not fresh: open() must take the re-init path
    await rig.clock.run(rig.line.open())
    assert rig.wire.drive is LineDrive.FORWARD
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.05)
    assert rig.line.off_hook
    assert rig.model.ias_violations == 0
