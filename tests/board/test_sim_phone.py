"""The simulated board end to end on the DC side: HAL-2's VirtualPhone on each port's TwoWire,
the real ProSLIC driver on the register model, and the shared classifier."""

from __future__ import annotations

from board.factory import BoardLines, build_board
from board.registry import load_board
from hal.clock import VirtualClock
from hal.hook import DigitCoding, HookClassifier, HookWindows
from hal.line import Flash, HookEvent, HookTransition, LineEvent, OffHook, OnHook, PulseDigit
from hal.sim.phone import VirtualPhone
from hal.sim.wire import LineDrive


class Port:
    """A test stand-in for the runtime's per-port driver: sink → classifier, timers on the clock."""

    def __init__(self, lines: BoardLines, index: int, windows: HookWindows | None = None) -> None:
        self.clock = lines.clock
        self.classifier = HookClassifier(windows)
        self.events: list[HookEvent] = []
        lines.lines[index].set_event_sink(self.on_event)

    def on_event(self, event: LineEvent) -> None:
        if isinstance(event, HookTransition):
            self.classifier.handle_transition(event.off_hook, event.at)
            self.drain()

    def drain(self) -> None:
        self.events.extend(self.classifier.events())
        deadline = self.classifier.get_timer()
        if deadline is not None:
            self.clock.call_at(deadline, self.fire)

    def fire(self) -> None:
        self.classifier.handle_timer(self.clock.now())
        self.drain()


async def started(clock: VirtualClock) -> BoardLines:
    lines = build_board(load_board("sim"), clock)
    assert await clock.run(lines.open()) == {}
    return lines


async def test_virtual_phone_dials_pulses_and_flashes_through_the_sim_board() -> None:
    clock = VirtualClock()
    lines = await started(clock)
    port = Port(lines, 1, HookWindows(coding=DigitCoding.SWEDEN))
    phone = VirtualPhone(lines.wires[1], clock)
    phone.off_hook()
    await clock.advance(0.5)
    await clock.run(phone.pulse_dial("0469", pps=20.0, break_ratio=0.66, coding=DigitCoding.SWEDEN))
    await clock.run(phone.flash(450))
    await clock.advance(0.5)
    phone.on_hook()
    await clock.advance(2.0)
    kinds = [type(e) for e in port.events]
    assert kinds == [OffHook, PulseDigit, PulseDigit, PulseDigit, PulseDigit, Flash, OnHook]
    assert "".join(e.digit for e in port.events if isinstance(e, PulseDigit)) == "0469"
    flash = next(e for e in port.events if isinstance(e, Flash))
    assert abs(flash.duration - 0.45) < 0.01


async def test_virtual_phone_answers_a_ringing_port_and_the_ring_trips() -> None:
    clock = VirtualClock()
    lines = await started(clock)
    port = Port(lines, 0)
    phone = VirtualPhone(lines.wires[0], clock, auto_answer_rings=2)
    line = lines.lines[0]
    # Software cadence 2 s on / 4 s off, as the ringer would drive it.
    for k in range(3):
        clock.call_at(clock.now() + k * 6.0, lambda: line.ring(True))
        clock.call_at(clock.now() + k * 6.0 + 2.0, lambda: line.ring(False))
    await clock.advance(20.0)
    assert phone.is_off_hook
    assert len(phone.rings) == 2  # the second burst was cut short by the answer
    answered = phone.hook_changes[0][1]
    assert phone.rings[1].end - answered <= 1 / 20
    assert not line.ringing
    assert [type(e) for e in port.events] == [OffHook]
    assert lines.wires[0].drive is LineDrive.FORWARD
