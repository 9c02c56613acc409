"""Randomised sweeps through the whole chain: phone on the TwoWire → chip/module model → real
driver → shared classifier, for both SLIC drivers; and ring trip at random moments."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.ag1171 import Ag1171Line
from hal.clock import VirtualClock
from hal.hook import HookClassifier
from hal.line import Flash, HookEvent, HookTransition, Line, LineEvent, OffHook, OnHook, PulseDigit
from hal.proslic import ProSlicLine
from hal.sim.gpio_model import Ag1171Model, SimGpio
from hal.sim.slic_model import Si321xModel
from hal.sim.spi_bus import SimSpiBus
from hal.sim.wire import DriveChange, LineDrive, TwoWire

Builder = Callable[[VirtualClock, TwoWire], Line]


def proslic(clock: VirtualClock, wire: TwoWire) -> Line:
    gpio = SimGpio(clock)
    bus = SimSpiBus()
    bus.attach(0, Si321xModel(clock, wire, gpio=gpio, int_pin=5))
    return ProSlicLine(bus.port(0), clock, gpio=gpio, int_pin=5)


def ag1171(clock: VirtualClock, wire: TwoWire) -> Line:
    gpio = SimGpio(clock)
    model = Ag1171Model(gpio, wire, rm_pin=1, fr_pin=2, shk_pin=3)
    model.chatter = (0.0008, 0.0006)
    return Ag1171Line(gpio, clock, rm_pin=1, fr_pin=2, shk_pin=3, ring_frequency_hz=20.0)


Step = tuple[str, str, float, float, float]  # kind, digit, pps, ratio, pause / flash length

steps_st = st.lists(
    st.one_of(
        st.tuples(
            st.just("digit"),
            st.sampled_from("0123456789"),
            st.one_of(st.sampled_from([8.0, 12.0, 20.0]), st.floats(8.0, 12.0)),
            st.one_of(st.sampled_from([0.55, 0.72]), st.floats(0.55, 0.72)),
            st.floats(0.3, 1.0),
        ),
        st.tuples(st.just("flash"), st.just(""), st.just(0.0), st.just(0.0), st.floats(0.12, 0.88)),
    ),
    min_size=1,
    max_size=4,
)


async def dial(build: Builder, steps: list[Step]) -> tuple[list[HookEvent], list[HookEvent]]:
    clock = VirtualClock(start=50.0)
    wire = TwoWire()
    line = build(clock, wire)
    events: list[LineEvent] = []
    line.set_event_sink(events.append)
    await clock.run(line.open())
    expected: list[HookEvent] = []
    t = clock.now() + 0.5

    def at(when: float, off_hook: bool) -> None:
        clock.call_at(when, lambda: wire.set_off_hook(off_hook, when))

    at(t, True)
    expected.append(OffHook(t))
    t += 0.6
    for kind, digit, pps, ratio, value in steps:
        if kind == "flash":
            at(t, False)
            at(t + value, True)
            expected.append(Flash(t + value, value))
            t += value + 0.6
            continue
        period = 1.0 / pps
        pulses = int(digit) or 10
        for _ in range(pulses):
            at(t, False)
            at(t + period * ratio, True)
            t += period
        expected.append(PulseDigit(digit, pulses, 0.0))
        t += value
    at(t, False)
    expected.append(OnHook(t))
    await clock.advance_to(t + 2.0)
    classifier = HookClassifier()
    for event in events:
        if isinstance(event, HookTransition):
            classifier.handle_transition(event.off_hook, event.at)
    classifier.handle_timer(clock.now())
    await line.close()
    return classifier.events(), expected


def same(got: list[HookEvent], expected: list[HookEvent]) -> bool:
    if [type(e) for e in got] != [type(e) for e in expected]:
        return False
    for g, e in zip(got, expected, strict=True):
        if isinstance(g, PulseDigit) and isinstance(e, PulseDigit) and g.digit != e.digit:
            return False
        if isinstance(g, Flash) and isinstance(e, Flash) and abs(g.duration - e.duration) > 0.01:
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(steps=steps_st)
def test_proslic_chain_classifies_every_digit_and_flash(steps: list[Step]) -> None:
    got, expected = asyncio.run(dial(proslic, steps))
    assert same(got, expected), (got, expected)


@settings(max_examples=60, deadline=None)
@given(steps=steps_st)
def test_ag1171_chain_classifies_every_digit_and_flash(steps: list[Step]) -> None:
    got, expected = asyncio.run(dial(ag1171, steps))
    assert same(got, expected), (got, expected)


async def ring_trip(build: Builder, offset: float) -> tuple[float, bool, bool]:
    clock = VirtualClock(start=10.0)
    wire = TwoWire()
    drives: list[DriveChange] = []
    wire.on_drive_change(drives.append)
    line = build(clock, wire)
    await clock.run(line.open())
    line.ring(True)
    t_off = clock.now() + offset
    clock.call_at(t_off, lambda: wire.set_off_hook(True, t_off))
    await clock.advance_to(t_off + 0.5)
    stop = next(d.at for d in drives if d.at >= t_off and d.drive is not LineDrive.RINGING)
    restarted = line.ring(True)
    await clock.advance(0.2)
    return stop - t_off, restarted, wire.drive is LineDrive.RINGING


@settings(max_examples=40, deadline=None)
@given(offset=st.floats(0.3, 1.9))
def test_ring_trip_at_any_moment_stops_within_one_cycle(offset: float) -> None:
    for build in (proslic, ag1171):
        latency, restarted, ringing = asyncio.run(ring_trip(build, offset))
        assert latency <= 1 / 20, (build.__name__, latency)
        assert not restarted
        assert not ringing
