"""Board definitions: the typed model and the validator of the TOML board files.

Theory of operation
-------------------
A board file says which SLIC driver runs, on which pins, SPI bus and chip selects, which ALSA
device and channel carries each port's audio, how many ports there are, and the defaults
(PCM law, ring frequency and voltage, gains). :func:`parse_board` turns the decoded TOML into
a frozen :class:`Board`, checking every key: unknown keys, wrong types, values out of range,
missing per-driver pins and pins used twice are refused with a
:class:`hal.errors.BoardConfigError` naming the file, the key (``port[1].shk_pin``) and the
reason. Nothing half-valid gets through.

File layout::

    [board]     name, description, slic = "proslic" | "ag1171", simulated
    [hat]       vendor, product          (optional: HAT EEPROM strings that select this board)
    [gpio]      backend = "gpiod" | "rpi-gpio" | "sim", chip, reset_pin
    [spi]       bus, speed_hz            (proslic)
    [defaults]  pcm_format, ring_frequency_hz, ring_vrms, tx_gain_db, rx_gain_db
    [audio]     period_frames            (ALSA period, 8..480; 160 = 20 ms; 40 = 5 ms phase steps)
    [[port]]    audio_device, audio_channel, tx_gain_db, rx_gain_db, and per driver:
                proslic: spi_cs, cs_gpio, int_pin, tx_slot, rx_slot, part (simulator)
                ag1171:  rm_pin, fr_pin, shk_pin, shk_active_high
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from hal.errors import BoardConfigError

T = TypeVar("T")


class SlicKind(Enum):
    PROSLIC = "proslic"
    AG1171 = "ag1171"


class GpioKind(Enum):
    GPIOD = "gpiod"
    RPI_GPIO = "rpi-gpio"
    SIM = "sim"


class PcmLaw(Enum):
    ULAW = "ulaw"
    ALAW = "alaw"
    LINEAR = "linear"


@dataclass(frozen=True)
class PortDef:
    index: int
    audio_device: str
    audio_channel: int
    tx_gain_db: float
    rx_gain_db: float
    # ProSLIC
    spi_cs: int | None = None
    cs_gpio: int | None = None
    int_pin: int | None = None
    tx_slot: int | None = None
    rx_slot: int | None = None
    part: str = "Si3215"
    # AG1171
    rm_pin: int | None = None
    fr_pin: int | None = None
    shk_pin: int | None = None
    shk_active_high: bool = True


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    slic: SlicKind
    simulated: bool
    gpio: GpioKind
    gpio_chip: str | None
    reset_pin: int | None
    spi_bus: int
    spi_speed_hz: int
    pcm_law: PcmLaw
    ring_frequency_hz: float
    ring_vrms: float
    hat_vendor: str | None
    hat_product: str | None
    ports: tuple[PortDef, ...]
    file: str = ""
    # ALSA period in sample-frames: the time resolution of hal.alsa's phase moves (see hal.alsa)
    audio_period_frames: int = 160


SECTIONS = {
    "board": {"name", "description", "slic", "simulated"},
    "hat": {"vendor", "product"},
    "gpio": {"backend", "chip", "reset_pin"},
    "spi": {"bus", "speed_hz"},
    "defaults": {"pcm_format", "ring_frequency_hz", "ring_vrms", "tx_gain_db", "rx_gain_db"},
    "audio": {"period_frames"},
    "port": {
        "audio_device",
        "audio_channel",
        "tx_gain_db",
        "rx_gain_db",
        "spi_cs",
        "cs_gpio",
        "int_pin",
        "tx_slot",
        "rx_slot",
        "part",
        "rm_pin",
        "fr_pin",
        "shk_pin",
        "shk_active_high",
    },
}
SIM_PARTS = ("Si3210", "Si3215", "Si3216")
MAX_PORTS = 8


class _Reader:
    """Typed access to one table, raising BoardConfigError with the full key path."""

    def __init__(self, file: str, prefix: str, table: Mapping[str, Any], allowed: set[str]):
        self.file, self.prefix, self.table = file, prefix, table
        for key in table:
            if key not in allowed:
                self.fail(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def fail(self, key: str, reason: str) -> BoardConfigError:
        raise BoardConfigError(self.file, f"{self.prefix}{key}", reason)

    def _get(self, key: str, kind: type[T], what: str, default: T | None) -> T | None:
        if key not in self.table:
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(key, f"must be {what}, got {type(value).__name__} {value!r}")
        return value  # type: ignore[no-any-return]

    def string(self, key: str, default: str | None = None) -> str | None:
        return self._get(key, str, "a string", default)

    def required_string(self, key: str) -> str:
        value = self.string(key)
        if value is None or not value.strip():
            self.fail(key, "is required")
        assert value is not None  # noqa: S101
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, bool, "true or false", default)
        return default if value is None else value

    def integer(self, key: str, lo: int, hi: int, default: int | None = None) -> int | None:
        value = self._get(key, int, "an integer", default)
        if value is not None and not lo <= value <= hi:
            self.fail(key, f"{value} is out of range {lo}..{hi}")
        return value

    def number(self, key: str, lo: float, hi: float, default: float) -> float:
        value = self._get(key, float, "a number", default)
        assert value is not None  # noqa: S101
        if not lo <= value <= hi:
            self.fail(key, f"{value} is out of range {lo}..{hi}")
        return value

    def choice(self, key: str, enum: Callable[[str], T], default: str | None) -> T:
        value = self.string(key, default)
        if value is None:
            self.fail(key, "is required")
        try:
            return enum(value)  # type: ignore[arg-type]
        except ValueError:
            options = ", ".join(repr(m.value) for m in enum)  # type: ignore[attr-defined]
            raise BoardConfigError(
                self.file, f"{self.prefix}{key}", f"{value!r} is not one of {options}"
            ) from None


def _table(file: str, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise BoardConfigError(file, name, "must be a table")
    return value


def parse_board(data: Mapping[str, Any], file: str) -> Board:
    """Validate decoded TOML and build the :class:`Board`."""
    for key in data:
        if key not in SECTIONS:
            raise BoardConfigError(file, key, f"unknown section (allowed: {', '.join(SECTIONS)})")
    b = _Reader(file, "board.", _table(file, data, "board"), SECTIONS["board"])
    hat = _Reader(file, "hat.", _table(file, data, "hat"), SECTIONS["hat"])
    g = _Reader(file, "gpio.", _table(file, data, "gpio"), SECTIONS["gpio"])
    s = _Reader(file, "spi.", _table(file, data, "spi"), SECTIONS["spi"])
    d = _Reader(file, "defaults.", _table(file, data, "defaults"), SECTIONS["defaults"])
    au = _Reader(file, "audio.", _table(file, data, "audio"), SECTIONS["audio"])

    simulated = b.boolean("simulated", False)
    slic = b.choice("slic", SlicKind, None)
    gpio = g.choice("backend", GpioKind, "sim" if simulated else "gpiod")
    if simulated != (gpio is GpioKind.SIM):
        g.fail("backend", "a simulated board uses backend 'sim', and only a simulated one does")
    max_pin = 255 if simulated else 27
    tx_default = d.number("tx_gain_db", -12.0, 12.0, 0.0)
    rx_default = d.number("rx_gain_db", -12.0, 12.0, 0.0)
    vendor, product = hat.string("vendor"), hat.string("product")
    if (vendor is None) != (product is None):
        hat.fail("product" if product is None else "vendor", "vendor and product go together")

    ports_raw = data.get("port", [])
    if not isinstance(ports_raw, list) or not all(isinstance(p, Mapping) for p in ports_raw):
        raise BoardConfigError(file, "port", "must be an array of tables ([[port]])")
    if not 1 <= len(ports_raw) <= MAX_PORTS:
        raise BoardConfigError(
            file, "port", f"a board has 1..{MAX_PORTS} ports, not {len(ports_raw)}"
        )
    used_pins: dict[int, str] = {}
    reset_pin = g.integer("reset_pin", 0, max_pin)
    if reset_pin is not None:
        used_pins[reset_pin] = "gpio.reset_pin"
    ports = []
    for index, raw in enumerate(ports_raw):
        p = _Reader(file, f"port[{index}].", raw, SECTIONS["port"])
        port = PortDef(
            index=index,
            audio_device=p.required_string("audio_device"),
            audio_channel=p.integer("audio_channel", 0, 31, 0) or 0,
            tx_gain_db=p.number("tx_gain_db", -12.0, 12.0, tx_default),
            rx_gain_db=p.number("rx_gain_db", -12.0, 12.0, rx_default),
            spi_cs=p.integer("spi_cs", 0, 7),
            cs_gpio=p.integer("cs_gpio", 0, max_pin),
            int_pin=p.integer("int_pin", 0, max_pin),
            tx_slot=p.integer("tx_slot", 0, 127),
            rx_slot=p.integer("rx_slot", 0, 127),
            part=p.string("part", "Si3215") or "Si3215",
            rm_pin=p.integer("rm_pin", 0, max_pin),
            fr_pin=p.integer("fr_pin", 0, max_pin),
            shk_pin=p.integer("shk_pin", 0, max_pin),
            shk_active_high=p.boolean("shk_active_high", True),
        )
        if slic is SlicKind.PROSLIC:
            for key in ("spi_cs", "tx_slot", "rx_slot"):
                if getattr(port, key) is None:
                    p.fail(key, "is required for a ProSLIC port")
            for key in ("rm_pin", "fr_pin", "shk_pin"):
                if getattr(port, key) is not None:
                    p.fail(key, "belongs to an AG1171 port, not a ProSLIC one")
            if port.part not in SIM_PARTS:
                p.fail("part", f"must be one of {', '.join(SIM_PARTS)}")
        else:
            for key in ("rm_pin", "fr_pin", "shk_pin"):
                if getattr(port, key) is None:
                    p.fail(key, "is required for an AG1171 port")
            for key in ("spi_cs", "cs_gpio", "int_pin", "tx_slot", "rx_slot"):
                if getattr(port, key) is not None:
                    p.fail(key, "belongs to a ProSLIC port, not an AG1171 one")
        for key in ("cs_gpio", "int_pin", "rm_pin", "fr_pin", "shk_pin"):
            pin = getattr(port, key)
            if pin is None:
                continue
            if pin in used_pins and not (key == "int_pin" and used_pins[pin].endswith("int_pin")):
                p.fail(key, f"GPIO {pin} is already used by {used_pins[pin]}")
            used_pins[pin] = f"port[{index}].{key}"
        ports.append(port)
    cs_seen: dict[tuple[int | None, int | None], int] = {}
    for port in ports:
        if port.spi_cs is None:
            continue
        select = (port.spi_cs, port.cs_gpio)
        if select in cs_seen:
            raise BoardConfigError(
                file, f"port[{port.index}].spi_cs", f"same chip select as port[{cs_seen[select]}]"
            )
        cs_seen[select] = port.index
    return Board(
        name=b.required_string("name"),
        description=b.string("description", "") or "",
        slic=slic,
        simulated=simulated,
        gpio=gpio,
        gpio_chip=g.string("chip"),
        reset_pin=reset_pin,
        spi_bus=s.integer("bus", 0, 6, 0) or 0,
        spi_speed_hz=s.integer("speed_hz", 10_000, 20_000_000, 1_000_000) or 1_000_000,
        pcm_law=d.choice("pcm_format", PcmLaw, "ulaw"),
        ring_frequency_hz=d.number("ring_frequency_hz", 15.0, 60.0, 20.0),
        ring_vrms=d.number("ring_vrms", 20.0, 90.0, 45.0),
        hat_vendor=vendor,
        hat_product=product,
        ports=tuple(ports),
        file=file,
        audio_period_frames=au.integer("period_frames", 8, 480, 160) or 160,
    )
