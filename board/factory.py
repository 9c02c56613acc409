"""Build the :class:`hal.line.Line` objects of a board.

Theory of operation
-------------------
:func:`build_board` turns a :class:`~board.schema.Board` into a :class:`BoardLines`: one
``Line`` per port plus what the rest of pi-ata needs around them.

- **Simulated boards**: a :class:`~hal.sim.gpio_model.SimGpio` and, per port, a
  :class:`~hal.sim.wire.TwoWire` (exposed in :attr:`BoardLines.wires`, where a VirtualPhone
  attaches) with the chip model on it — an :class:`~hal.sim.slic_model.Si321xModel` on a
  :class:`~hal.sim.spi_bus.SimSpiBus` chip select for ProSLIC boards (the **real** ProSLIC
  driver then runs against it), or an :class:`~hal.sim.gpio_model.Ag1171Model` for AG1171 ones.
- **Hardware boards**: the board's GPIO backend (gpiod or RPi.GPIO) and spidev ports, created
  only here, so nothing imports a hardware library until a real board is built.

:meth:`BoardLines.open` pulses the common reset line (when the board has one) and brings up
every port; a port that fails is reported in the returned map and left out of service while
the others run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from board.schema import Board, GpioKind, PcmLaw, PortDef, SlicKind
from hal.ag1171 import Ag1171Line
from hal.clock import Clock
from hal.errors import HalError
from hal.gpio import GpioBackend, OutputLine
from hal.hook import HookWindows
from hal.line import Gains, Line
from hal.proslic import PcmFormat, ProSlicConfig, ProSlicLine
from hal.sim.gpio_model import Ag1171Model, SimGpio
from hal.sim.slic_model import Part, Si321xModel
from hal.sim.spi_bus import SimSpiBus
from hal.sim.wire import TwoWire
from hal.spi import SpiPort

log = logging.getLogger(__name__)

SpiFactory = Callable[[int, int, int, OutputLine | None], SpiPort]  # bus, cs, speed, cs line

RESET_LOW_S = 0.01
RESET_SETTLE_S = 0.05


@dataclass
class BoardLines:
    board: Board
    lines: list[Line]
    gpio: GpioBackend
    clock: Clock
    wires: list[TwoWire] = field(default_factory=list)  # simulated boards: one per port
    models: list[Si321xModel | Ag1171Model] = field(default_factory=list)
    spi_ports: list[SpiPort] = field(default_factory=list)
    failed: dict[int, HalError] = field(default_factory=dict)

    def port(self, index: int) -> PortDef:
        return self.board.ports[index]

    async def open(self) -> dict[int, HalError]:
        """Reset the SLICs (if wired) and open every port; returns the ports that failed."""
        if self.board.reset_pin is not None and self.board.slic is SlicKind.PROSLIC:
            reset = self.gpio.output(self.board.reset_pin, True)
            reset.set(False)
            await self.clock.sleep_until(self.clock.now() + RESET_LOW_S)
            reset.set(True)
            await self.clock.sleep_until(self.clock.now() + RESET_SETTLE_S)
        self.failed = {}
        for line in self.lines:
            try:
                await line.open()
            except HalError as exc:
                log.error("port %d out of service: %s", line.port, exc)
                self.failed[line.port] = exc
        return dict(self.failed)

    async def close(self) -> None:
        for index, line in enumerate(self.lines):
            if index not in self.failed:
                await line.close()
        for port in self.spi_ports:
            port.close()
        self.gpio.close()


def _proslic_config(board: Board, port: PortDef) -> ProSlicConfig:
    law = {
        PcmLaw.ULAW: PcmFormat.ULAW,
        PcmLaw.ALAW: PcmFormat.ALAW,
        PcmLaw.LINEAR: PcmFormat.LINEAR,
    }[board.pcm_law]
    return ProSlicConfig(
        pcm_format=law,
        tx_slot=port.tx_slot or 0,
        rx_slot=port.rx_slot or 0,
        ring_frequency_hz=board.ring_frequency_hz,
        ring_vrms=board.ring_vrms,
        gains=Gains(port.tx_gain_db, port.rx_gain_db),
    )


def _hardware_gpio(board: Board) -> GpioBackend:
    if board.gpio is GpioKind.RPI_GPIO:
        from hal.gpio import RpiGpioBackend

        return RpiGpioBackend()
    from hal.gpio import GpiodBackend

    return GpiodBackend(board.gpio_chip)


def _spidev(bus: int, cs: int, speed: int, cs_line: OutputLine | None) -> SpiPort:
    from hal.spi import SpidevPort

    return SpidevPort(bus, cs, speed_hz=speed, cs_line=cs_line)


def build_board(
    board: Board,
    clock: Clock,
    *,
    gpio: GpioBackend | None = None,
    spi_factory: SpiFactory | None = None,
    windows: HookWindows | None = None,
) -> BoardLines:
    """Create (not yet open) the lines of ``board``. ``gpio``/``spi_factory`` override backends."""
    if board.simulated:
        return _build_sim(board, clock, windows)
    backend = gpio or _hardware_gpio(board)
    make_spi = spi_factory or _spidev
    out = BoardLines(board, [], backend, clock)
    for port in board.ports:
        if board.slic is SlicKind.PROSLIC:
            assert port.spi_cs is not None  # noqa: S101 - the schema requires it
            cs_line = backend.output(port.cs_gpio, True) if port.cs_gpio is not None else None
            spi = make_spi(board.spi_bus, port.spi_cs, board.spi_speed_hz, cs_line)
            out.spi_ports.append(spi)
            out.lines.append(
                ProSlicLine(
                    spi,
                    clock,
                    port=port.index,
                    config=_proslic_config(board, port),
                    gpio=backend if port.int_pin is not None else None,
                    int_pin=port.int_pin,
                )
            )
        else:
            out.lines.append(_ag1171_line(board, port, backend, clock, windows))
    return out


def _ag1171_line(
    board: Board, port: PortDef, gpio: GpioBackend, clock: Clock, windows: HookWindows | None
) -> Ag1171Line:
    # The schema guarantees the pins of an AG1171 port.
    assert port.rm_pin is not None  # noqa: S101
    assert port.fr_pin is not None  # noqa: S101
    assert port.shk_pin is not None  # noqa: S101
    return Ag1171Line(
        gpio,
        clock,
        rm_pin=port.rm_pin,
        fr_pin=port.fr_pin,
        shk_pin=port.shk_pin,
        port=port.index,
        ring_frequency_hz=board.ring_frequency_hz,
        shk_active_high=port.shk_active_high,
        windows=windows,
    )


def _build_sim(board: Board, clock: Clock, windows: HookWindows | None) -> BoardLines:
    gpio = SimGpio(clock)
    out = BoardLines(board, [], gpio, clock)
    bus = SimSpiBus()
    for port in board.ports:
        wire = TwoWire()
        out.wires.append(wire)
        if board.slic is SlicKind.PROSLIC:
            assert port.spi_cs is not None  # noqa: S101 - the schema requires it
            model = Si321xModel(
                clock,
                wire,
                part=Part(port.part),
                gpio=gpio,
                int_pin=port.int_pin,
                reset_pin=board.reset_pin,
            )
            bus.attach(port.spi_cs, model)
            out.models.append(model)
            spi = bus.port(port.spi_cs)
            out.spi_ports.append(spi)
            out.lines.append(
                ProSlicLine(
                    spi,
                    clock,
                    port=port.index,
                    config=_proslic_config(board, port),
                    gpio=gpio if port.int_pin is not None else None,
                    int_pin=port.int_pin,
                )
            )
        else:
            line = _ag1171_line(board, port, gpio, clock, windows)
            rm, fr, shk = line.pins
            out.models.append(Ag1171Model(gpio, wire, rm_pin=rm, fr_pin=fr, shk_pin=shk))
            out.lines.append(line)
    return out
