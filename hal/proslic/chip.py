"""ProSLIC Si3210/Si3215 chip access and the full initialisation sequence.

Theory of operation
-------------------
:class:`ProSlicChip` speaks the chip's SPI protocol through a :class:`hal.spi.SpiPort` (control
byte then data byte, each in its own chip-select frame; bit 7 of the control byte = read) and
waits on a :class:`hal.clock.Clock` — never ``time.sleep`` — so the identical code runs on real
spidev and on the register model with an accelerated clock.

:meth:`ProSlicChip.initialize` follows dahdi-linux ``wctdm``'s full path, step by step, each
failure raising a specific :mod:`hal.errors` type:

1. identify (reg 0/1/6) and sanity-check reset values and an SPI write/read-back → NoChipError
2. DC-DC off, load the indirect table (IAS handshake), enhancements, automatic control
3. park IR35–39, power the DC-DC up, poll VBAT (reg 82 ≥ 0xC0 ≈ 72 V) → NoHighVoltageError
4. leak test: DC-DC off, VBAT must hold above 6 counts for 0.5 s → LeakTestError
5. calibrations (reg 96, retry once) and DC-DC calibration (reg 93 b7) → CalibrationTimeoutError
6. restore IR35–39, verify the whole indirect table → IndirectRegisterError
7. PCM format and time slots, gains, ring generator, clear and enable interrupts
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from hal.clock import Clock
from hal.errors import (
    CalibrationTimeoutError,
    IndirectRegisterError,
    LeakTestError,
    NoChipError,
    NoHighVoltageError,
    SpiVerifyError,
)
from hal.line import Gains
from hal.proslic.registers import (
    INDIRECT_BY_NAME,
    INDIRECT_TABLE,
    IRQ2_LOOP_CLOSURE,
    IRQ2_POWER_ALARMS,
    IRQ2_RING_TRIP,
    POWER_UP_PARKED,
    SANITY_RESET_VALUES,
    SPI_TEST_VALUE,
    VBAT_SENSE_V_PER_LSB,
    Family,
    IndirectRegister,
    Linefeed,
    Reg,
    ring_oscillator,
    ring_trip_filter,
)
from hal.spi import SpiPort

log = logging.getLogger(__name__)

IAS_POLL_LIMIT = 100  # reads of reg 31 before an indirect access counts as stuck
VBAT_POWERED = 0xC0  # reg 82 counts (~72 V) that prove the DC-DC converter works
LEAK_FLOOR = 6  # reg 82 counts VBAT must stay above during the leak test
POLL_S = 0.01


class PcmFormat(Enum):
    ALAW = 0x20
    ULAW = 0x28
    LINEAR = 0x38  # 16-bit linear (format bits 11: unverified on hardware)


@dataclass(frozen=True)
class ProSlicConfig:
    """Per-port chip settings (from the board file and the port settings)."""

    pcm_format: PcmFormat = PcmFormat.ULAW
    tx_slot: int = 0  # 8-bit time slot: start count = slot × 8 PCLK cycles after FSYNC
    rx_slot: int = 0
    ring_frequency_hz: float = 20.0
    ring_vrms: float = 45.0
    loop_current_ma: int = 26  # 20..41 mA in 3 mA steps
    on_hook_voltage_v: float = 48.0
    gains: Gains = field(default_factory=Gains)
    vbat_timeout_s: float = 0.5
    leak_test_s: float = 0.5
    calibration_timeout_s: float = 2.0
    power_alarm_limit: int = 10


@dataclass(frozen=True)
class ChipInfo:
    family: Family
    part: str  # "Si3210", "Si3211", "Si3215", "Si3216", "Si3215M", ...
    revision: int


def gain_bits(gains: Gains) -> tuple[int, Gains]:
    """Reg 9 bits for the nearest ±3.5 dB steps, and the gains that gives."""

    def step(db: float) -> float:
        return 3.5 if db >= 1.75 else (-3.5 if db <= -1.75 else 0.0)

    tx, rx = step(gains.tx_db), step(gains.rx_db)
    bits = (0x08 if tx > 0 else 0x04 if tx < 0 else 0) | (0x02 if rx > 0 else 0x01 if rx < 0 else 0)
    return bits, Gains(tx, rx)


class ProSlicChip:
    """Register access and bring-up of one ProSLIC on its own chip select."""

    def __init__(self, spi: SpiPort, clock: Clock, *, port: int = 0) -> None:
        self.spi = spi
        self.clock = clock
        self.port = port
        self.info: ChipInfo | None = None

    # --- register access -----
    def read(self, reg: int) -> int:
        return self.spi.transfer(bytes((0x80 | (reg & 0x7F), 0x00)))[1]

    def write(self, reg: int, value: int) -> None:
        self.spi.transfer(bytes((reg & 0x7F, value & 0xFF)))

    def _wait_ias(self) -> None:
        # The indirect access completes in microseconds; SPI reads are about as slow, so a
        # bounded poll (not a timed wait) is what the chip needs.
        for _ in range(IAS_POLL_LIMIT):
            if not self.read(Reg.IND_STATUS) & 0x01:
                return
        raise IndirectRegisterError("indirect access stuck (IAS never cleared)", port=self.port)

    def write_indirect(self, address: int, value: int) -> None:
        self._wait_ias()
        self.write(Reg.IND_DATA_LO, value & 0xFF)
        self.write(Reg.IND_DATA_HI, (value >> 8) & 0xFF)
        self.write(Reg.IND_ADDRESS, address)

    def read_indirect(self, address: int) -> int:
        self._wait_ias()
        self.write(Reg.IND_ADDRESS, address)
        self._wait_ias()
        return self.read(Reg.IND_DATA_LO) | (self.read(Reg.IND_DATA_HI) << 8)

    def _ir_address(self, reg: IndirectRegister) -> int | None:
        assert self.info is not None  # noqa: S101 - identify() runs first
        return reg.address_for(self.info.family)

    def write_named(self, name: str, value: int) -> None:
        address = self._ir_address(INDIRECT_BY_NAME[name])
        if address is not None:
            self.write_indirect(address, value)

    def read_named(self, name: str) -> int | None:
        address = self._ir_address(INDIRECT_BY_NAME[name])
        return None if address is None else self.read_indirect(address)

    def vbat_counts(self) -> int:
        return self.read(Reg.VBATH_SENSE)

    # --- identification -----
    def identify(self) -> ChipInfo:
        reg0 = self.read(Reg.ID)
        revision = reg0 & 0x0F
        if reg0 in (0x00, 0xFF) or revision in (0x0, 0xF):
            raise NoChipError(
                f"no ProSLIC answers (reg 0 reads 0x{reg0:02X}): check SPI wiring, chip select "
                "and the module's power",
                port=self.port,
            )
        if self.read(Reg.PCM_MODE) & 0x80:
            variant = self.read(Reg.VARIANT) & 0xE0
            names = {0x00: "Si3215", 0x80: "Si3216", 0x60: "Si3215M", 0xE0: "Si3216M"}
            part, family = names.get(variant, f"Si3215?(0x{variant:02X})"), Family.SI3215
        else:
            part = {0: "Si3210", 1: "Si3211", 2: "Si3212"}.get((reg0 >> 4) & 3, "Si321x?")
            family = Family.SI3210
        if revision < 2:
            raise NoChipError(f"{part} revision {revision} is too old (need ≥ 2)", port=self.port)
        self.info = ChipInfo(family, part, revision)
        return self.info

    def is_fresh(self) -> bool:
        """True when the chip holds its reset values (just reset, not yet configured by us)."""
        return self.read(Reg.LOOPBACK) == SANITY_RESET_VALUES[Reg.LOOPBACK]

    def sanity_check(self) -> None:
        for reg, expected in SANITY_RESET_VALUES.items():
            got = self.read(reg)
            if got != expected:
                raise NoChipError(
                    f"reg {int(reg)} ({reg.name}) reads 0x{got:02X}, expected reset value "
                    f"0x{expected:02X}: not a freshly reset ProSLIC",
                    port=self.port,
                )
        self.write(Reg.PCM_RX_START_LO, SPI_TEST_VALUE)
        got = self.read(Reg.PCM_RX_START_LO)
        if got != SPI_TEST_VALUE:
            raise SpiVerifyError(
                f"SPI read-back wrote 0x{SPI_TEST_VALUE:02X} read 0x{got:02X} "
                "(SPI mode must be 3, one chip select per byte)",
                port=self.port,
            )

    # --- bring-up -----
    async def _sleep(self, seconds: float) -> None:
        await self.clock.sleep_until(self.clock.now() + seconds)

    async def initialize(self, config: ProSlicConfig) -> ChipInfo:
        info = self.identify()
        if self.is_fresh():
            self.sanity_check()
        else:
            # Re-init of a configured chip: take the line down and stop the converter first.
            self.write(Reg.LINEFEED, Linefeed.OPEN)
            self.write(Reg.POWER_DOWN, 0x10)
            self.write(Reg.PCM_RX_START_LO, SPI_TEST_VALUE)
            if self.read(Reg.PCM_RX_START_LO) != SPI_TEST_VALUE:
                raise SpiVerifyError("SPI read-back failed on re-init", port=self.port)
        self.load_indirect_table(config)
        self.write(Reg.LOOPBACK, 0x00)
        self.write(Reg.ENHANCEMENT, 0xEB)
        self.write(Reg.AUTO_CONTROL, 0x07)  # auto ring trip, loop closure, power alarm
        self.write(Reg.BATTERY_FEED, 0x01)
        self.write(Reg.VBATH, 0x32)  # 75 V during bring-up (the powered threshold needs it)
        saved = {name: self.read_named(name) for name in POWER_UP_PARKED}
        for name in POWER_UP_PARKED:
            self.write_named(name, 0x8000)
        await self.power_up(config)
        self.write(Reg.LOOP_CURRENT_LIMIT, max(0, min(7, (config.loop_current_ma - 20) // 3)))
        self.write(Reg.DCDC_CONTROL, 0x19)
        await self.leak_test(config)
        await self.power_up(config)
        await self.calibrate(config)
        for name, value in saved.items():
            if value is not None:
                self.write_named(name, value)
        self.verify_indirect_table(config)
        self.configure_pcm(config)
        self.set_gains(config.gains)
        self.configure_ringing(config)
        # 5 ms loop-closure debounce: short enough for 20 pps makes (≥ 14 ms); the shared
        # classifier does the rest.
        self.write(Reg.LCR_DEBOUNCE, 0x04)
        self.write(Reg.ON_HOOK_VOLTAGE, min(0x3F, round(config.on_hook_voltage_v / 1.5)))
        for reg in (Reg.IRQ_STATUS_1, Reg.IRQ_STATUS_2, Reg.IRQ_STATUS_3):
            self.write(reg, 0xFF)
        self.write(Reg.IRQ_ENABLE_1, 0x00)
        self.write(Reg.IRQ_ENABLE_2, IRQ2_RING_TRIP | IRQ2_LOOP_CLOSURE | IRQ2_POWER_ALARMS)
        self.write(Reg.IRQ_ENABLE_3, 0x00)
        log.info("port %d: %s rev %d initialised", self.port, info.part, info.revision)
        return info

    def _indirect_values(self, config: ProSlicConfig) -> dict[str, int]:
        values = {r.name: r.initial for r in INDIRECT_TABLE}
        rco, rngx = ring_oscillator(config.ring_frequency_hz, config.ring_vrms)
        values["RING_OSC"], values["RING_X"] = rco, rngx
        values["RING_TRIP_FILTER"] = ring_trip_filter(config.ring_frequency_hz)[0]
        return values

    def load_indirect_table(self, config: ProSlicConfig) -> None:
        for name, value in self._indirect_values(config).items():
            self.write_named(name, value)

    def verify_indirect_table(self, config: ProSlicConfig) -> None:
        for name, value in self._indirect_values(config).items():
            got = self.read_named(name)
            if got is not None and got != value:
                raise IndirectRegisterError(
                    f"indirect register {name} reads 0x{got:04X}, wrote 0x{value:04X}",
                    port=self.port,
                )

    async def power_up(self, config: ProSlicConfig) -> None:
        self.write(Reg.DCDC_PWM_PERIOD, 0xFF)
        self.write(Reg.POWER_DOWN, 0x00)
        deadline = self.clock.now() + config.vbat_timeout_s
        while (counts := self.vbat_counts()) < VBAT_POWERED:
            if self.clock.now() >= deadline:
                self.write(Reg.POWER_DOWN, 0x10)
                volts = counts * VBAT_SENSE_V_PER_LSB
                raise NoHighVoltageError(
                    f"VBAT reached only {volts:.1f} V within {config.vbat_timeout_s} s "
                    "(no high-voltage supply, DC-DC fault or a short on the line)",
                    port=self.port,
                    vbat_v=volts,
                )
            await self._sleep(POLL_S)

    async def leak_test(self, config: ProSlicConfig) -> None:
        self.write(Reg.POWER_DOWN, 0x10)
        deadline = self.clock.now() + config.leak_test_s
        while self.clock.now() < deadline:
            counts = self.vbat_counts()
            if counts <= LEAK_FLOOR:
                raise LeakTestError(
                    f"VBAT fell to {counts * VBAT_SENSE_V_PER_LSB:.1f} V within "
                    f"{config.leak_test_s} s with the DC-DC off: leakage on the line",
                    port=self.port,
                )
            await self._sleep(POLL_S * 5)

    async def _wait_clear(self, reg: Reg, mask: int, limit_s: float) -> bool:
        deadline = self.clock.now() + limit_s
        while self.read(reg) & mask:
            if self.clock.now() >= deadline:
                return False
            await self._sleep(POLL_S)
        return True

    async def calibrate(self, config: ProSlicConfig) -> None:
        for _attempt in range(2):
            self.write(Reg.CALIBRATION_ENABLE, 0x1F)
            self.write(Reg.CALIBRATION, 0x5F)
            if await self._wait_clear(Reg.CALIBRATION, 0xFF, config.calibration_timeout_s):
                break
            log.warning("port %d: calibration timed out, retrying", self.port)
        else:
            raise CalibrationTimeoutError(
                f"calibration (reg 96) still busy after 2 × {config.calibration_timeout_s} s",
                port=self.port,
            )
        self.write(Reg.DCDC_CONTROL, 0x99)
        if not await self._wait_clear(Reg.DCDC_CONTROL, 0x80, config.calibration_timeout_s):
            raise CalibrationTimeoutError("DC-DC calibration (reg 93 b7) timed out", port=self.port)
        result = self.read(Reg.DCDC_CAL_RESULT)
        if not 0x02 <= result <= 0x0D:
            log.warning("port %d: DC-DC calibration result 0x%02X, using 0x08", self.port, result)
            self.write(Reg.DCDC_CAL_RESULT, 0x08)

    def configure_pcm(self, config: ProSlicConfig) -> None:
        tx, rx = config.tx_slot * 8, config.rx_slot * 8
        self.write(Reg.PCM_TX_START_LO, tx & 0xFF)
        self.write(Reg.PCM_TX_START_HI, (tx >> 8) & 0x03)
        self.write(Reg.PCM_RX_START_LO, rx & 0xFF)
        self.write(Reg.PCM_RX_START_HI, (rx >> 8) & 0x03)
        self.write(Reg.PCM_MODE, config.pcm_format.value)

    def set_gains(self, gains: Gains) -> Gains:
        bits, actual = gain_bits(gains)
        self.write(Reg.AUDIO_GAIN, bits)
        return actual

    def configure_ringing(self, config: ProSlicConfig) -> None:
        self.write(Reg.RING_OSC_CONTROL, 0x00)  # software cadence: ring while linefeed = 4
        for reg in (Reg.RING_ACTIVE_LO, Reg.RING_ACTIVE_HI, Reg.RING_INACTIVE_LO):
            self.write(reg, 0x00)
        self.write(Reg.RING_INACTIVE_HI, 0x00)
        self.write(Reg.RTP_DEBOUNCE, ring_trip_filter(config.ring_frequency_hz)[1])
        peak = config.ring_vrms * 2**0.5
        self.write(Reg.VBATH, min(0x3F, max(0x32, int(peak / 1.5) + 3)))
