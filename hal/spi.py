"""The SPI interface SLIC drivers are written against, and its Linux spidev backend.

Theory of operation
-------------------
ProSLIC-style chips frame **every byte with its own chip-select pulse** (a register access is
two such frames: control byte, then data). A :class:`SpiPort` therefore exposes
:meth:`SpiPort.transfer`, which clocks the given bytes out one per chip-select frame and returns
the bytes clocked in. Drivers are written against this protocol only, so the same driver code
runs on :class:`SpidevPort` (real hardware) and on ``hal.sim.spi_bus.SimSpiPort`` (the register
model).

:class:`SpidevPort` issues one ``spidev`` transfer per byte, so the kernel deasserts chip
select between bytes whatever ``xfer`` does with ``cs_change`` on a given kernel. Boards whose
modules sit on GPIO chip selects (the OAK8X uses GPIO16/27/23 next to SPI0) pass ``cs_line``:
the kernel chip select is then disabled (``no_cs``) and the GPIO is pulsed around each byte.
``spidev`` is imported inside :meth:`SpidevPort.__init__`, never at module import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hal.errors import BackendUnavailableError

if TYPE_CHECKING:
    from hal.gpio import OutputLine


@runtime_checkable
class SpiPort(Protocol):
    """One SPI device; each byte of :meth:`transfer` is framed by its own chip select."""

    def transfer(self, data: bytes) -> bytes: ...

    def close(self) -> None: ...


class SpidevPort:
    """A SPI device through Linux ``/dev/spidevB.C`` (python ``spidev``)."""

    def __init__(
        self,
        bus: int,
        device: int,
        *,
        speed_hz: int = 1_000_000,
        mode: int = 3,
        cs_line: OutputLine | None = None,
    ) -> None:
        try:
            import spidev  # hardware library: imported lazily on purpose
        except ImportError as exc:
            raise BackendUnavailableError(
                "python package 'spidev' is not installed (pip install 'pi-ata[pi]')"
            ) from exc
        self._dev: Any = spidev.SpiDev()
        try:
            self._dev.open(bus, device)
        except OSError as exc:
            raise BackendUnavailableError(
                f"cannot open /dev/spidev{bus}.{device}: {exc.strerror} "
                "(enable SPI with dtparam=spi=on)"
            ) from exc
        self._dev.max_speed_hz = speed_hz
        self._dev.mode = mode
        self._cs = cs_line
        if cs_line is not None:
            self._dev.no_cs = True
            cs_line.set(True)  # chip select idles high (inactive)

    def transfer(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if self._cs is not None:
                self._cs.set(False)
            out.extend(self._dev.xfer([byte]))
            if self._cs is not None:
                self._cs.set(True)
        return bytes(out)

    def close(self) -> None:
        self._dev.close()
