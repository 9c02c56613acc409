"""VirtualPhone on the simulated board: the real ProSLIC driver on the register model.

The phone only sees the TwoWire and the audio path, the ATA side only the ``Line`` and the
``AudioPort``: ring cadence, ring trip, pulse dialling through the shared hook classifier, and
caller ID sent on-hook (on-hook transmission feed) between two rings.
"""

from __future__ import annotations

import numpy as np
import pytest

from board.factory import BoardLines, build_board
from board.registry import load_board
from hal.clock import VirtualClock
from hal.hook import HookClassifier
from hal.line import Feed, HookTransition, PulseDigit
from hal.sim.audio import SimAudioPort, SimCodec
from hal.sim.phone import VirtualPhone
from tests.hal.test_phone_cid import BELL, fsk, mdmf


class SimBoard:
    def __init__(self, clock: VirtualClock, board: BoardLines) -> None:
        self.clock = clock
        self.board = board
        self.line = board.lines[0]
        self.events: list[object] = []
        self.line.set_event_sink(self.events.append)
        self.phone = VirtualPhone(board.wires[0], clock)
        self.port = SimAudioPort(playback_depth=1000)
        self.codec = SimCodec(clock)
        self.codec.connect(self.port, self.phone)
        self.codec.start()


@pytest.fixture
async def sim() -> SimBoard:
    clock = VirtualClock(start=100.0)
    board = build_board(load_board("sim"), clock)
    assert await clock.run(board.open()) == {}
    return SimBoard(clock, board)


async def test_ring_cadence_from_the_driver(sim: SimBoard) -> None:
    for _ in range(3):
        assert sim.line.ring(True)
        await sim.clock.advance(1.0)
        sim.line.ring(False)
        await sim.clock.advance(4.0)
    assert sim.phone.ring_count == 3
    assert sim.phone.ring_cadence() == [pytest.approx((1.0, 4.0), abs=0.03)] * 2


async def test_answer_while_ringing_trips_the_ring(sim: SimBoard) -> None:
    sim.line.ring(True)
    await sim.clock.advance(0.7)
    sim.phone.off_hook()
    answered = sim.clock.now()
    await sim.clock.advance(0.2)
    assert not sim.phone.ringing
    assert sim.phone.rings[-1].end - answered < 0.1  # ring voltage gone within 2 cycles
    hooks = [e for e in sim.events if isinstance(e, HookTransition)]
    assert hooks[0].off_hook
    assert hooks[0].at - answered < 0.05


async def test_pulse_dialling_reaches_the_classifier_as_digits(sim: SimBoard) -> None:
    sim.phone.off_hook()
    await sim.clock.advance(1.0)
    await sim.clock.run(sim.phone.pulse_dial("907", pps=10, break_ratio=0.6))
    classifier = HookClassifier()
    for e in sim.events:
        if isinstance(e, HookTransition):
            while (t := classifier.get_timer()) is not None and t <= e.at:
                classifier.handle_timer(t)
            classifier.handle_transition(e.off_hook, e.at)
    end = sim.clock.now() + 5.0
    while (t := classifier.get_timer()) is not None and t <= end:
        classifier.handle_timer(t)
    digits = [e.digit for e in classifier.events() if isinstance(e, PulseDigit)]
    assert "".join(digits) == "907"


async def test_caller_id_on_hook_between_rings(sim: SimBoard) -> None:
    sim.line.ring(True)
    await sim.clock.advance(2.0)
    sim.line.ring(False)
    await sim.clock.advance(0.6)
    sim.line.set_feed(Feed.ON_HOOK_TX)
    burst = fsk(mdmf("11241305", "5551230000", "SIM BOARD"), BELL)
    for k in range(0, burst.size - 159, 160):
        sim.port.write_frame(burst[k : k + 160])
    cid = await sim.clock.run(sim.phone.wait_for_caller_id(timeout_s=3.0))
    assert cid is not None
    assert (cid.number, cid.name, cid.method) == ("5551230000", "SIM BOARD", "bell202")
    sim.line.set_feed(Feed.FORWARD)
    assert sim.line.ring(True)
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000)).astype(np.int16)
    for _ in range(25):
        sim.port.write_frame(tone)
    await sim.clock.advance(0.5)
    assert sim.phone.ring_count == 2
    assert not np.any(sim.phone.recording(0.4))  # under ring voltage nothing is audible
    sim.line.ring(False)
    for _ in range(25):
        sim.port.write_frame(tone)
    await sim.clock.advance(0.5)
    assert sim.phone.level_dbm0(0.4) > -15.0
