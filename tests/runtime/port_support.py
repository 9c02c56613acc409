"""Shared set-up for the port-driver tests on the simulated board: a recording stand-in for
the SIP side and one port driver on port 1 of a fresh simulated board."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ata.line.dialplan import DialPlan
from ata.line.port import PortMachine, PortSettings
from ata.runtime.port_driver import PortDriver
from ata.runtime.port_dsp import CountryDsp
from ata.runtime.simboard import SimBoard
from hal.clock import VirtualClock


@dataclass
class RecordingCalls:
    """Records what the port asks of the SIP layer; ``media()`` returns ``leg``."""

    leg: Any = None
    actions: list[tuple[str, ...]] = field(default_factory=list)

    def place_call(self, port: int, call_id: str, number: str) -> None:
        self.actions.append(("place", call_id, number))

    def answer(self, call_id: str) -> None:
        self.actions.append(("answer", call_id))

    def reject(self, call_id: str, status: int) -> None:
        self.actions.append(("reject", call_id, str(status)))

    def hang_up(self, call_id: str) -> None:
        self.actions.append(("hangup", call_id))

    def send_dtmf(self, call_id: str, key: str) -> None:
        self.actions.append(("dtmf", call_id, key))

    def send_flash(self, call_id: str) -> None:
        self.actions.append(("flash", call_id))

    def media(self, call_id: str) -> Any:
        return self.leg


async def sim_port(
    clock: VirtualClock, dsp: CountryDsp, calls: RecordingCalls
) -> tuple[SimBoard, PortDriver]:
    """A simulated board, opened, with a started driver on its first port (US, `(1xxx|2xx)`)."""
    board = SimBoard.create(clock)
    assert await clock.run(board.open()) == {}
    settings = PortSettings(
        dial_plan=DialPlan.parse("(1xxx|2xx)"), caller_id_burst_s=dsp.caller_id_burst_s()
    )
    driver = PortDriver(
        PortMachine(port=0, settings=settings),
        board.lines.lines[0],
        board.audio[0],
        clock,
        dsp,
        calls,
    )
    await clock.run(driver.start())
    return board, driver
