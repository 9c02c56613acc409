"""ProSLIC Si3210/Si3211/Si3215/Si3216 registers as data.

Direct registers are named constants; the indirect (16-bit, RAM-like) registers the driver
loads are a table of :class:`IndirectRegister` ``{address, name, initial}`` in the style of
dahdi-linux ``wctdm.c``, with the Si3215/16 address next to the Si3210 one (the 3215 family has
no DTMF decoder or pulse metering, so its map is shifted). Values come from the facts file
(/work/shared/facts/slic.md): wctdm's defaults and the oscillator maths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum


class Reg(IntEnum):
    """Direct register addresses (8-bit)."""

    ID = 0  # b5:4 part (00 Si3210, 01 3211, 10 3212), b3:0 revision
    PCM_MODE = 1  # b5 enable, b4:3 format; read-only b7 = Si3215/16 family
    PCM_TX_START_LO = 2
    PCM_TX_START_HI = 3
    PCM_RX_START_LO = 4  # also the SPI read-back test register
    PCM_RX_START_HI = 5
    VARIANT = 6  # Si3215/16: b7:5 variant
    LOOPBACK = 8  # reset 0x02; the driver writes 0 (also the "was I reset?" marker)
    AUDIO_GAIN = 9  # b3 TX +3.5 dB, b2 TX −3.5, b1 RX +3.5, b0 RX −3.5
    TWO_WIRE_IMPEDANCE = 10
    HYBRID = 11  # reset 0x33 (a sanity value)
    POWER_DOWN = 14  # 0x10 = DC-DC converter off
    IRQ_STATUS_1 = 18
    IRQ_STATUS_2 = 19
    IRQ_STATUS_3 = 20
    IRQ_ENABLE_1 = 21
    IRQ_ENABLE_2 = 22
    IRQ_ENABLE_3 = 23
    DTMF = 24
    IND_DATA_LO = 28
    IND_DATA_HI = 29
    IND_ADDRESS = 30
    IND_STATUS = 31  # b0 = indirect access in progress (IAS)
    OSC1_CONTROL = 32
    OSC2_CONTROL = 33
    RING_OSC_CONTROL = 34
    RING_ACTIVE_LO = 48
    RING_ACTIVE_HI = 49
    RING_INACTIVE_LO = 50
    RING_INACTIVE_HI = 51
    LINEFEED = 64  # b2:0 requested state, b6:4 actual state
    BATTERY_FEED = 66
    AUTO_CONTROL = 67  # b0 auto ring trip, b1 auto loop closure, b2 auto power alarm
    HOOK_STATUS = 68  # b0 loop closure (off-hook), b1 ring trip
    LCR_DEBOUNCE = 69  # 1.25 ms per LSB
    RTP_DEBOUNCE = 70  # 1.25 ms per LSB
    LOOP_CURRENT_LIMIT = 71  # 20 mA + 3 mA × value
    ON_HOOK_VOLTAGE = 72  # 1.5 V per LSB
    VBATH = 74  # 1.5 V per LSB
    VBATL = 75
    LOOP_VOLTAGE_SENSE = 78
    LOOP_CURRENT_SENSE = 79
    VBATH_SENSE = 82  # ~0.376 V per LSB
    VBATL_SENSE = 83
    DCDC_PWM_PERIOD = 92
    DCDC_CONTROL = 93  # b7 = DC-DC calibration busy (write 1 to start)
    DCDC_OFF_TIME = 94
    CALIBRATION = 96  # write enables to start; reads 0 when every calibration finished
    CALIBRATION_ENABLE = 97
    DCDC_CAL_RESULT = 107
    ENHANCEMENT = 108


class Linefeed(IntEnum):
    OPEN = 0
    FORWARD_ACTIVE = 1
    FORWARD_OHT = 2
    TIP_OPEN = 3
    RINGING = 4
    REVERSE_ACTIVE = 5
    REVERSE_OHT = 6
    RING_OPEN = 7


# Reset values the driver checks on a freshly reset chip (wctdm "sanity check").
SANITY_RESET_VALUES: dict[Reg, int] = {Reg.LOOPBACK: 0x02, Reg.HYBRID: 0x33, Reg.LINEFEED: 0x00}
SPI_TEST_VALUE = 0x5A

# IRQ status 2 bits.
IRQ2_RING_TRIP = 0x01
IRQ2_LOOP_CLOSURE = 0x02
IRQ2_POWER_ALARMS = 0xFC  # Q1..Q6
IRQ3_INDIRECT_DONE = 0x02

HOOK_OFF = 0x01
HOOK_RING_TRIP = 0x02

VBAT_SENSE_V_PER_LSB = 0.376
VBAT_V_PER_LSB = 1.5


class Family(IntEnum):
    SI3210 = 3210
    SI3215 = 3215


@dataclass(frozen=True)
class IndirectRegister:
    address: int  # Si3210/3211 address
    name: str
    initial: int
    address_3215: int | None  # Si3215/3216 address; None = absent on that family

    def address_for(self, family: Family) -> int | None:
        return self.address if family is Family.SI3210 else self.address_3215


def _ir(address: int, name: str, initial: int) -> IndirectRegister:
    """The Si3215 map drops DTMF (0–12) and pulse metering (23–25); the rest shifts."""
    if address <= 12 or 23 <= address <= 25:
        a3215: int | None = None
    elif address <= 40:
        a3215 = address - 13
    else:
        a3215 = address + 23
    return IndirectRegister(address, name, initial, a3215)


INDIRECT_TABLE: tuple[IndirectRegister, ...] = (
    _ir(0, "DTMF_ROW_0_PEAK", 0x55C2),
    _ir(1, "DTMF_ROW_1_PEAK", 0x51E6),
    _ir(2, "DTMF_ROW_2_PEAK", 0x4B85),
    _ir(3, "DTMF_ROW_3_PEAK", 0x4937),
    _ir(4, "DTMF_COL_1_PEAK", 0x3333),
    _ir(5, "DTMF_FWD_TWIST", 0x0202),
    _ir(6, "DTMF_RVS_TWIST", 0x0202),
    _ir(7, "DTMF_ROW_RATIO", 0x0198),
    _ir(8, "DTMF_COL_RATIO", 0x0198),
    _ir(9, "DTMF_ROW_2ND_ARM", 0x0611),
    _ir(10, "DTMF_COL_2ND_ARM", 0x0202),
    _ir(11, "DTMF_PWR_MIN", 0x00E5),
    _ir(12, "DTMF_OT_LIM", 0x0A1C),
    _ir(13, "OSC1_COEF", 0x7B30),  # 350 Hz
    _ir(14, "OSC1X", 0x0063),
    _ir(15, "OSC1Y", 0x0000),
    _ir(16, "OSC2_COEF", 0x7870),  # 440 Hz
    _ir(17, "OSC2X", 0x007D),
    _ir(18, "OSC2Y", 0x0000),
    _ir(19, "RING_V_OFF", 0x0000),
    _ir(20, "RING_OSC", 0x7EF0),
    _ir(21, "RING_X", 0x0160),
    _ir(22, "RING_Y", 0x0000),
    _ir(23, "PULSE_ENVEL", 0x2000),
    _ir(24, "PULSE_X", 0x2000),
    _ir(25, "PULSE_Y", 0x0000),
    _ir(26, "RX_DIGITAL_GAIN", 0x2000),
    _ir(27, "TX_DIGITAL_GAIN", 0x4000),
    _ir(28, "LOOP_CLOSE_THRESHOLD", 0x1000),
    _ir(29, "RING_TRIP_THRESHOLD", 0x3600),
    _ir(30, "COMMON_MIN_THRESHOLD", 0x1000),
    _ir(31, "COMMON_MAX_THRESHOLD", 0x0200),
    _ir(32, "PWR_ALARM_Q1Q2", 0x07C0),
    _ir(33, "PWR_ALARM_Q3Q4", 0x2600),
    _ir(34, "PWR_ALARM_Q5Q6", 0x1B80),
    _ir(35, "LOOP_CLOSURE_FILTER", 0x8000),
    _ir(36, "RING_TRIP_FILTER", 0x0320),
    _ir(37, "TERM_LP_POLE_Q1Q2", 0x008C),
    _ir(38, "TERM_LP_POLE_Q3Q4", 0x0100),
    _ir(39, "TERM_LP_POLE_Q5Q6", 0x0010),
    _ir(40, "CM_BIAS_RINGING", 0x0C00),
    _ir(41, "DCDC_MIN_V", 0x0C00),
    _ir(42, "DCDC_XTRA", 0x1000),
    _ir(43, "LOOP_CLOSE_THRESHOLD_LOW", 0x1000),
)
INDIRECT_BY_NAME: dict[str, IndirectRegister] = {r.name: r for r in INDIRECT_TABLE}

# IR35–39 are parked at 0x8000 while the DC-DC converter powers up (wctdm), so the power
# alarm filters do not fire on the inrush, and restored afterwards.
POWER_UP_PARKED = ("LOOP_CLOSURE_FILTER", "RING_TRIP_FILTER", "TERM_LP_POLE_Q1Q2",
                   "TERM_LP_POLE_Q3Q4", "TERM_LP_POLE_Q5Q6")  # fmt: skip


def ring_oscillator(frequency_hz: float, vrms: float) -> tuple[int, int]:
    """(RING_OSC, RING_X) for a sinusoidal ring at ``frequency_hz`` and ``vrms`` (derived maths).

    The ring oscillator runs at 1 kHz: coefficient = 32768·cos(2πf/1000); amplitude
    RING_X ≈ 8192·√((1−c)/(1+c))·Vpk/96 with c the normalised coefficient.
    """
    c = math.cos(2 * math.pi * frequency_hz / 1000.0)
    coef = round(32768 * c)
    amplitude = 8192 * math.sqrt((1 - c) / (1 + c)) * (vrms * math.sqrt(2)) / 96
    return min(coef, 0x7FFF), min(round(amplitude), 0x7FFF)


def ring_trip_filter(frequency_hz: float) -> tuple[int, int]:
    """(RING_TRIP_FILTER indirect value, RTP debounce reg 70) for a ring frequency."""
    return (0x0320, 0x0B) if frequency_hz < 22.5 else (0x0380, 0x09)
