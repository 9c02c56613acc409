"""The simulated board, assembled: SLIC models and drivers, audio ports, codec, virtual phones.

``SimBoard.create(clock)`` builds the shipped ``sim`` board (real ProSLIC driver on the register
model), one :class:`hal.sim.audio.SimAudioPort` per port ticked by one :class:`SimCodec`, and a
:class:`hal.sim.phone.VirtualPhone` on each port's two-wire line, wired as the audio terminal.
The daemon uses it when the board is ``sim``; tests and the demo drive the phones.
"""

from __future__ import annotations

from dataclasses import dataclass

from board.factory import BoardLines, build_board
from board.registry import load_board
from hal.clock import Clock
from hal.errors import HalError
from hal.hook import HookWindows
from hal.sim.audio import SimAudioPort, SimCodec
from hal.sim.phone import VirtualPhone


@dataclass
class SimBoard:
    lines: BoardLines
    audio: list[SimAudioPort]
    phones: list[VirtualPhone]
    codec: SimCodec

    @classmethod
    def create(
        cls, clock: Clock, *, board: str = "sim", windows: HookWindows | None = None
    ) -> SimBoard:
        lines = build_board(load_board(board), clock, windows=windows)
        codec = SimCodec(clock)
        audio: list[SimAudioPort] = []
        phones: list[VirtualPhone] = []
        for index, wire in enumerate(lines.wires):
            port = SimAudioPort(name=f"sim{index}")
            phone = VirtualPhone(wire, clock, name=f"phone{index + 1}")
            codec.connect(port, phone)
            audio.append(port)
            phones.append(phone)
        return cls(lines, audio, phones, codec)

    async def open(self) -> dict[int, HalError]:
        failed = await self.lines.open()
        self.codec.start()
        return failed

    async def close(self) -> None:
        await self.codec.stop()
        for port in self.audio:
            await port.close()
        await self.lines.close()
