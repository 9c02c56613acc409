"""The simulated board, assembled: SLIC models and drivers, audio ports, codec, virtual phones.

``SimBoard.create(clock)`` builds the shipped ``sim`` board (real ProSLIC driver on the register
model), one :class:`hal.sim.audio.SimAudioPort` per port ticked by one :class:`SimCodec`, and a
:class:`hal.sim.phone.VirtualPhone` on each port's two-wire line, wired as the audio terminal.
The daemon uses it when the board is ``sim``; tests and the demo drive the phones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from board.factory import BoardLines, build_board
from board.registry import load_board
from board.schema import Board
from hal.audio import AudioPort
from hal.clock import Clock
from hal.errors import HalError
from hal.hook import HookWindows
from hal.sim.audio import SimAudioPort, SimCodec
from hal.sim.phone import VirtualPhone

if TYPE_CHECKING:
    from hal.alsa import AlsaAudioDevice


@dataclass
class SimBoard:
    lines: BoardLines
    audio: list[AudioPort]
    phones: list[VirtualPhone]
    codec: SimCodec

    @classmethod
    def create(
        cls, clock: Clock, *, board: str = "sim", windows: HookWindows | None = None
    ) -> SimBoard:
        lines = build_board(load_board(board), clock, windows=windows)
        codec = SimCodec(clock)
        audio: list[AudioPort] = []
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


@dataclass
class HardwareBoard:
    """A real board: SLIC drivers from the board file, audio through ALSA (one device per codec)."""

    lines: BoardLines
    audio: list[AudioPort]
    devices: list[AlsaAudioDevice]
    phones: list[VirtualPhone]

    @classmethod
    def create(
        cls, board: Board, clock: Clock, *, windows: HookWindows | None = None
    ) -> HardwareBoard:
        from hal.alsa import open_alsa_ports

        lines = build_board(board, clock, windows=windows)
        specs = [(port.audio_device, port.audio_channel) for port in board.ports]
        # The Pi's I2S runs stereo only, even for one port on it.
        min_channels = 2 if any("hw:" in device for device, _ in specs) else 1
        ports, devices = open_alsa_ports(
            specs, min_channels=min_channels, period_frames=board.audio_period_frames
        )
        return cls(lines, list(ports), devices, [])

    async def open(self) -> dict[int, HalError]:
        failed = await self.lines.open()
        for device in self.devices:
            await device.start()
        return failed

    async def close(self) -> None:
        for device in self.devices:
            await device.close()
        await self.lines.close()
