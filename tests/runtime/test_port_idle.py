"""An idle port (on-hook, no call) drops the captured frame without running the DTMF receiver
or the echo canceller, yet still plays its on-hook output (caller ID, VMWI); off-hook and in a
call the full pipeline runs again. Real ProSLIC driver on the register model, virtual phones,
``ata.dsp`` DSP wrapped by counting spies, on a virtual clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ata.line.port import (
    CallAnswered,
    CallEnded,
    IncomingCall,
    MessageWaiting,
    State,
)
from ata.runtime.port_driver import PortDriver
from ata.runtime.port_dsp import CountryDsp, PortDtmfReceiver
from ata.runtime.simboard import SimBoard
from hal.clock import VirtualClock
from tests.runtime.port_support import RecordingCalls, sim_port

Frame = npt.NDArray[np.int16]


class SpyReceiver:
    def __init__(self, inner: PortDtmfReceiver) -> None:
        self.inner = inner
        self.calls = 0

    def process(self, frame: Frame) -> list[str]:
        self.calls += 1
        return self.inner.process(frame)

    @property
    def active(self) -> bool:
        return self.inner.active


class SpyEcho:
    def __init__(self) -> None:
        self.calls = 0

    def process(self, near: Frame, far: Frame) -> Frame:
        self.calls += 1
        return near


@dataclass
class SpyDsp(CountryDsp):
    """The shipped DSP, with the per-frame analysis counted."""

    receivers: list[SpyReceiver] = field(default_factory=list)
    echoes: list[SpyEcho] = field(default_factory=list)

    def dtmf_receiver(self) -> SpyReceiver:  # type: ignore[override]
        spy = SpyReceiver(super().dtmf_receiver())
        self.receivers.append(spy)
        return spy

    def echo_canceller(self) -> SpyEcho:  # type: ignore[override]
        spy = SpyEcho()
        self.echoes.append(spy)
        return spy


@dataclass
class Leg:
    sent: int = 0

    def send_frame(
        self, frame: Frame, *, silent: bool = False, frame_index: int | None = None
    ) -> None:
        self.sent += 1

    def pull_frame(self) -> Frame:
        return np.zeros(160, np.int16)


async def make(clock: VirtualClock) -> tuple[SimBoard, PortDriver, SpyDsp, RecordingCalls]:
    dsp = SpyDsp(country="us")
    calls = RecordingCalls(leg=Leg())
    board, driver = await sim_port(clock, dsp, calls)
    return board, driver, dsp, calls


async def test_idle_port_runs_no_dtmf_receiver_or_echo_canceller() -> None:
    clock = VirtualClock()
    board, driver, dsp, calls = await make(clock)
    rx, echo = dsp.receivers[0], dsp.echoes[0]
    frames0 = driver.status().frames
    await clock.advance(2.0)
    frames = driver.status().frames - frames0
    assert frames >= 95  # the codec kept delivering frames and the port kept reading them
    assert rx.calls == 0 and echo.calls == 0
    assert driver.counters.idle_frames >= frames
    assert driver.counters.dtmf_frames == driver.counters.echo_frames == 0
    # The port kept writing its (silent) output every frame.
    stats = board.audio[0].stats()
    assert stats.frames_written >= driver.status().frames - 1
    # Off-hook: the DTMF receiver runs every frame (and dialling works), still no echo canceller.
    phone = board.phones[0]
    phone.off_hook()
    await clock.advance(0.5)
    assert rx.calls >= 20 and driver.counters.dtmf_frames == rx.calls
    await clock.run(phone.dtmf_dial("1234"))
    await clock.advance(0.5)
    assert driver.machine.state is State.CALLING
    assert echo.calls == 0
    # In the call: the echo canceller too, and the media leg gets every frame.
    driver.call_event(CallAnswered(driver.machine.call_id or ""))
    await clock.advance(1.0)
    assert echo.calls >= 45 and driver.counters.echo_frames == echo.calls
    assert calls.leg.sent >= 45
    # Back on-hook: idle again, nothing analysed.
    phone.on_hook()
    await clock.advance(1.5)
    assert driver.status().state == State.IDLE.value
    rx_calls, echo_calls, idle = rx.calls, echo.calls, driver.counters.idle_frames
    await clock.advance(1.0)
    assert (rx.calls, echo.calls) == (rx_calls, echo_calls)
    assert driver.counters.idle_frames >= idle + 45
    await clock.run(board.close())


async def test_idle_port_still_sends_on_hook_caller_id_and_vmwi() -> None:
    clock = VirtualClock()
    board, driver, dsp, _calls = await make(clock)
    phone = board.phones[0]
    await clock.advance(1.0)
    driver.call_event(IncomingCall("c1", number="5551234", name="ALICE SMITH"))
    await clock.advance(7.0)
    assert phone.caller_ids and phone.caller_ids[0].number == "5551234"
    assert dsp.receivers[0].calls == 0 and dsp.echoes[0].calls == 0  # never off-hook
    driver.call_event(CallEnded("c1"))
    await clock.advance(8.0)
    assert driver.machine.state is State.IDLE
    count = len(phone.caller_ids)
    driver.call_event(MessageWaiting(True))  # the lamp on: an on-hook FSK burst
    await clock.advance(2.0)
    assert len(phone.caller_ids) == count + 1 and phone.caller_ids[-1].vmwi is True
    assert dsp.receivers[0].calls == 0 and dsp.echoes[0].calls == 0
    await clock.run(board.close())
