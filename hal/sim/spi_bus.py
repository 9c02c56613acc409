"""A fake SPI bus: chip-select lines with device models behind them.

Theory of operation
-------------------
:class:`SimSpiPort` implements :class:`hal.spi.SpiPort` exactly as the spidev backend behaves:
every byte of ``transfer`` is its own chip-select frame (select, one byte exchanged, deselect).
The device model behind a chip select (:class:`SpiDeviceModel`, e.g. the ProSLIC register
model) sees those frames and answers byte by byte. A chip select with no device answers 0xFF
(MISO pulled up), like an empty socket. A port opened in the wrong SPI mode sees the answers
shifted by one bit, as a real mode mismatch does, so the driver's read-back check catches it.
"""

from __future__ import annotations

from typing import Protocol


class SpiDeviceModel(Protocol):
    spi_mode: int

    def exchange(self, mosi: int) -> int:
        """One chip-select frame carrying one byte: returns the byte clocked out."""
        ...


class SimSpiBus:
    """One SPI controller with devices on numbered chip selects."""

    def __init__(self) -> None:
        self._devices: dict[int, SpiDeviceModel] = {}
        self.frames = 0

    def attach(self, cs: int, device: SpiDeviceModel) -> None:
        self._devices[cs] = device

    def detach(self, cs: int) -> None:
        self._devices.pop(cs, None)

    def port(self, cs: int, *, mode: int = 3) -> SimSpiPort:
        return SimSpiPort(self, cs, mode)

    def frame(self, cs: int, mode: int, mosi: int) -> int:
        self.frames += 1
        device = self._devices.get(cs)
        if device is None:
            return 0xFF
        miso = device.exchange(mosi if mode == device.spi_mode else (mosi << 1) & 0xFF)
        return miso if mode == device.spi_mode else (miso >> 1) | 0x80


class SimSpiPort:
    """A :class:`hal.spi.SpiPort` on the simulated bus."""

    def __init__(self, bus: SimSpiBus, cs: int, mode: int) -> None:
        self._bus = bus
        self.cs = cs
        self.mode = mode
        self.closed = False

    def transfer(self, data: bytes) -> bytes:
        return bytes(self._bus.frame(self.cs, self.mode, byte) for byte in data)

    def close(self) -> None:
        self.closed = True
