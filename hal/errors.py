"""Typed HAL errors: each names what failed and where, so the daemon can log a useful reason.

Every error derives from :class:`HalError`, which carries the port (or ``None`` for board-wide
problems). The daemon treats them as "port out of service" and keeps serving the other ports.
"""

from __future__ import annotations


class HalError(Exception):
    """Base class for hardware-abstraction errors."""

    def __init__(self, message: str, *, port: int | None = None) -> None:
        self.port = port
        prefix = f"port {port}: " if port is not None else ""
        super().__init__(prefix + message)


class BackendUnavailableError(HalError):
    """A hardware library (spidev, gpiod, smbus2, ...) is not installed or the device is absent."""


class NoChipError(HalError):
    """No SLIC answers on the SPI bus/chip select, or it failed the identification checks."""


class SpiVerifyError(NoChipError):
    """A register read back something other than what was written (wiring, SPI mode, clock)."""


class NoHighVoltageError(HalError):
    """The DC-DC converter did not bring VBAT up: no high-voltage supply, or a short."""

    def __init__(self, message: str, *, port: int | None = None, vbat_v: float = 0.0) -> None:
        self.vbat_v = vbat_v
        super().__init__(message, port=port)


class LeakTestError(HalError):
    """VBAT decayed too fast with the DC-DC converter off: leakage on the line or the board."""


class CalibrationTimeoutError(HalError):
    """A SLIC calibration did not finish in time."""


class IndirectRegisterError(HalError):
    """Indirect register access timed out (IAS stuck) or a verify after loading failed."""


class PowerAlarmError(HalError):
    """Power alarms kept coming back after the re-arm limit; the port is shut down."""


class LineBusyError(HalError):
    """The requested operation is impossible in the line's current state (e.g. not open)."""


class BoardConfigError(HalError):
    """A board definition is invalid. Names the file, the key and the reason."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f"{file}: {key}: {reason}")


class EepromError(HalError):
    """A HAT ID EEPROM image is malformed (signature, length, atom, CRC)."""
