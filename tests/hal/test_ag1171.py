"""The AG1171 driver against the GPIO-level module model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hal.ag1171 import Ag1171Line
from hal.clock import VirtualClock
from hal.hook import HookClassifier
from hal.line import Feed, HookTransition, Line, LineEvent, OffHook, PulseDigit
from hal.sim.gpio_model import Ag1171Model, SimGpio
from hal.sim.wire import DriveChange, LineDrive, TwoWire

RM, FR, SHK = 22, 23, 24


@dataclass
class Rig:
    clock: VirtualClock
    gpio: SimGpio
    wire: TwoWire
    model: Ag1171Model
    line: Ag1171Line
    events: list[LineEvent] = field(default_factory=list)
    drives: list[DriveChange] = field(default_factory=list)

    def hooks(self) -> list[HookTransition]:
        return [e for e in self.events if isinstance(e, HookTransition)]


async def make_rig(frequency: float = 25.0) -> Rig:
    clock = VirtualClock(start=10.0)
    gpio = SimGpio(clock)
    wire = TwoWire()
    model = Ag1171Model(gpio, wire, rm_pin=RM, fr_pin=FR, shk_pin=SHK)
    line = Ag1171Line(gpio, clock, rm_pin=RM, fr_pin=FR, shk_pin=SHK, ring_frequency_hz=frequency)
    rig = Rig(clock, gpio, wire, model, line)
    line.set_event_sink(rig.events.append)
    wire.on_drive_change(rig.drives.append)
    await line.open()
    return rig


async def test_open_gives_forward_battery() -> None:
    rig = await make_rig()
    assert isinstance(rig.line, Line)
    assert rig.wire.drive is LineDrive.FORWARD
    assert not rig.line.off_hook


@pytest.mark.parametrize("frequency", [20.0, 25.0])
async def test_ringing_toggles_fr_at_the_ring_frequency(frequency: float) -> None:
    rig = await make_rig(frequency)
    assert rig.line.ring(True)
    await rig.clock.advance(1.0)
    assert rig.wire.drive is LineDrive.RINGING
    assert rig.model.ring_frequency_hz == pytest.approx(frequency)
    toggles = [at for _, at in rig.gpio.history(FR) if at > 10.0]
    assert len(toggles) == pytest.approx(2 * frequency, abs=1)
    assert rig.line.ring(False) is False
    assert rig.wire.drive is LineDrive.FORWARD
    assert not rig.gpio.level(RM)
    assert rig.gpio.level(FR)


async def test_model_needs_rm_and_toggling_to_ring() -> None:
    rig = await make_rig()
    out = rig.gpio.output(RM, True)  # RM high, F/R static: no ring signal
    await rig.clock.advance(0.5)
    assert rig.wire.drive is not LineDrive.RINGING
    out.set(False)
    fr = rig.gpio.output(FR, True)
    for k in range(10):  # F/R toggling without RM: polarity flips, not ringing
        fr.set(k % 2 == 0)
        await rig.clock.advance(0.02)
    assert rig.wire.drive is not LineDrive.RINGING


async def test_ring_trip_within_one_cycle_and_no_restart() -> None:
    rig = await make_rig(25.0)
    rig.line.ring(True)
    await rig.clock.advance(0.63)
    t_off = rig.clock.now()
    rig.wire.set_off_hook(True, t_off)
    await rig.clock.advance(0.2)
    stop = next(d for d in rig.drives if d.at >= t_off and d.drive is not LineDrive.RINGING)
    assert stop.at - t_off <= 1 / 25
    assert not rig.line.ringing
    assert rig.line.off_hook
    assert [h.off_hook for h in rig.hooks()] == [True]
    assert rig.line.ring(True) is False
    await rig.clock.advance(0.5)
    assert rig.wire.drive is LineDrive.FORWARD


async def test_shk_chatter_is_debounced_by_the_shared_classifier() -> None:
    rig = await make_rig()
    rig.model.chatter = (0.001, 0.0007, 0.0012, 0.0005)
    t0 = rig.clock.now()
    rig.wire.set_off_hook(True, t0)
    await rig.clock.advance(0.1)
    raw = rig.hooks()
    assert len(raw) > 1  # the bounces reach the event stream raw...
    classifier = HookClassifier()
    for h in raw:
        classifier.handle_transition(h.off_hook, h.at)
    classifier.handle_timer(rig.clock.now())
    events = classifier.events()
    assert len(events) == 1  # ...and come out as one clean off-hook
    assert isinstance(events[0], OffHook)
    assert events[0].at == pytest.approx(t0 + 0.002 + sum(rig.model.chatter), abs=1e-6)
    assert rig.line.off_hook


async def test_pulse_dialing_through_the_module() -> None:
    rig = await make_rig()
    rig.wire.set_off_hook(True, rig.clock.now())
    await rig.clock.advance(0.5)
    start = rig.clock.now()
    for k in range(7):  # "7" at 20 pps, 66 % break
        t = start + k * 0.05
        rig.clock.call_at(t, lambda t=t: rig.wire.set_off_hook(False, t))
        rig.clock.call_at(t + 0.033, lambda t=t: rig.wire.set_off_hook(True, t + 0.033))
    await rig.clock.advance(1.0)
    classifier = HookClassifier()
    for h in rig.hooks():
        classifier.handle_transition(h.off_hook, h.at)
    classifier.handle_timer(rig.clock.now())
    assert [e.digit for e in classifier.events() if isinstance(e, PulseDigit)] == ["7"]


async def test_polarity_and_unsupported_open() -> None:
    rig = await make_rig()
    rig.line.set_polarity(True)
    assert rig.wire.drive is LineDrive.REVERSE
    assert rig.line.feed is Feed.REVERSE
    rig.line.set_feed(Feed.OPEN)
    assert rig.line.unsupported == 1
    assert rig.wire.drive is LineDrive.REVERSE
    await rig.line.power_denial(1.0)
    assert rig.line.unsupported == 2
    rig.line.set_feed(Feed.ON_HOOK_TX)
    assert rig.wire.drive is LineDrive.FORWARD
