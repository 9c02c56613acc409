"""Board files, their validation, board selection, the line factory and ``ata boards``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ata.cli import main
from board.factory import build_board
from board.registry import board_names, list_boards, load_board
from board.schema import GpioKind, SlicKind
from board.select import select_board
from hal.ag1171 import Ag1171Line
from hal.clock import VirtualClock
from hal.eeprom import HatInfo, build_eeprom, parse_eeprom
from hal.errors import BoardConfigError, NoChipError
from hal.line import HookTransition, Line, LineEvent
from hal.proslic import ProSlicLine
from hal.sim.gpio_model import Ag1171Model, SimGpio
from hal.sim.slic_model import Si321xModel
from hal.sim.spi_bus import SimSpiBus
from hal.sim.wire import LineDrive, TwoWire

AG_SIM = """
[board]
name = "{name}"
description = "test"
slic = "ag1171"
simulated = true

[[port]]
rm_pin = 1
fr_pin = 2
shk_pin = 3
audio_device = "sim"
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


# --- shipped boards ----------------------------------------------------------------------


def test_shipped_boards_load() -> None:
    assert board_names() == ["ag1171-i2s", "ag1171-usb", "proslic-pcm", "sim"]
    boards = {b.name: b for b in list_boards()}
    sim = boards["sim"]
    assert sim.simulated
    assert sim.slic is SlicKind.PROSLIC
    assert len(sim.ports) == 2
    assert [p.int_pin for p in sim.ports] == [100, 101]
    pcm = boards["proslic-pcm"]
    assert pcm.gpio is GpioKind.GPIOD
    assert pcm.reset_pin == 17
    assert [(p.spi_cs, p.tx_slot) for p in pcm.ports] == [(0, 0), (1, 1)]
    i2s = boards["ag1171-i2s"]
    assert [(p.rm_pin, p.fr_pin, p.shk_pin) for p in i2s.ports] == [(17, 27, 22), (23, 24, 25)]
    assert [p.audio_channel for p in i2s.ports] == [0, 1]
    usb = boards["ag1171-usb"]
    assert len(usb.ports) == 1
    assert usb.ring_frequency_hz == 25.0


# --- validation --------------------------------------------------------------------------

BASE = """
[board]
name = "{name}"
slic = "proslic"
[gpio]
backend = "gpiod"
{extra}
[[port]]
spi_cs = 0
tx_slot = 0
rx_slot = 0
audio_device = "hw:0"
{port}
"""


@pytest.mark.parametrize(
    ("extra", "port", "key", "reason"),
    [
        ("[spi]\nbus = 0\nspeed = 5", "", "spi.speed", "unknown key"),
        ("[defaults]\nring_vrms = 200", "", "defaults.ring_vrms", "out of range"),
        ("[defaults]\nring_frequency_hz = 'fast'", "", "defaults.ring_frequency_hz", "number"),
        ("[defaults]\npcm_format = 'g729'", "", "defaults.pcm_format", "not one of"),
        ("", "int_pin = 40", "port[0].int_pin", "out of range"),
        ("", "shk_pin = 5", "port[0].shk_pin", "belongs to an AG1171 port"),
        ("", "audio_channel = true", "port[0].audio_channel", "an integer"),
        ("[gpio.extra]\nx = 1", "", "gpio.extra", "unknown key"),
        ("[hat]\nvendor = 'v'", "", "hat.product", "go together"),
        ("[board2]\nx = 1", "", "board2", "unknown section"),
    ],
)
def test_validation_names_file_key_and_reason(
    tmp_path: Path, extra: str, port: str, key: str, reason: str
) -> None:
    text = BASE.format(name="bad", extra=extra, port=port)
    path = write(tmp_path, "bad", text)
    with pytest.raises(BoardConfigError) as info:
        load_board(path)
    assert info.value.file == path
    assert info.value.key == key
    assert reason in info.value.reason
    assert path in str(info.value)


def test_validation_of_pins_chip_selects_and_names(tmp_path: Path) -> None:
    two_ports = BASE.format(name="dup", extra="", port="") + (
        '[[port]]\nspi_cs = 0\ntx_slot = 1\nrx_slot = 1\naudio_device = "hw:0"\n'
    )
    with pytest.raises(BoardConfigError, match=r"port\[1\]\.spi_cs: same chip select"):
        load_board(write(tmp_path, "dup", two_ports))
    ag = AG_SIM.format(name="pins").replace("shk_pin = 3", "shk_pin = 1")
    with pytest.raises(BoardConfigError, match=r"port\[0\]\.shk_pin: GPIO 1 is already used"):
        load_board(write(tmp_path, "pins", ag))
    missing = AG_SIM.format(name="missing").replace("fr_pin = 2\n", "")
    with pytest.raises(BoardConfigError, match=r"port\[0\]\.fr_pin: is required"):
        load_board(write(tmp_path, "missing", missing))
    with pytest.raises(BoardConfigError, match="must match the file name"):
        load_board(write(tmp_path, "other", AG_SIM.format(name="renamed")))
    with pytest.raises(BoardConfigError, match=r"\(syntax\)"):
        load_board(write(tmp_path, "syntax", "[board\nname="))
    notsim = AG_SIM.format(name="notsim").replace("simulated = true", "simulated = false")
    notsim += '[gpio]\nbackend = "sim"\n'
    with pytest.raises(BoardConfigError, match=r"gpio\.backend"):
        load_board(write(tmp_path, "notsim", notsim))
    with pytest.raises(BoardConfigError, match="no such board"):
        load_board("nonexistent")


# --- selection ---------------------------------------------------------------------------


def test_selection_order_and_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="board.select")
    assert select_board("ag1171-usb", detect=None).board.name == "ag1171-usb"
    assert select_board("ag1171-usb").source == "config"

    hat = parse_eeprom(build_eeprom("PI-ATA Project", "pi-ata  ProSLIC PCM HAT"))
    chosen = select_board(None, detect=lambda: hat)
    assert (chosen.board.name, chosen.source) == ("proslic-pcm", "hat")
    assert "vendor 'PI-ATA Project'" in chosen.reason

    unknown = HatInfo("Acme", "Sound card", source="device-tree")
    fallback = select_board(None, detect=lambda: unknown)
    assert (fallback.board.name, fallback.source) == ("sim", "default")
    assert "matches no board file" in fallback.reason

    nothing = select_board(None, detect=lambda: None)
    assert (nothing.board.name, nothing.source) == ("sim", "default")
    messages = [r.getMessage() for r in caplog.records]
    assert any("board proslic-pcm selected: HAT EEPROM" in m for m in messages)
    assert any("board sim selected: no board configured and no HAT" in m for m in messages)


# --- factory -----------------------------------------------------------------------------


async def test_sim_board_builds_real_driver_on_the_model() -> None:
    clock = VirtualClock()
    lines = build_board(load_board("sim"), clock)
    assert len(lines.lines) == 2
    assert len(lines.wires) == 2
    assert all(isinstance(line, ProSlicLine) for line in lines.lines)
    assert all(isinstance(line, Line) for line in lines.lines)
    failed = await clock.run(lines.open())
    assert failed == {}
    assert all(isinstance(m, Si321xModel) and m.resets == 1 for m in lines.models)  # reset pulse
    events: list[LineEvent] = []
    lines.lines[1].set_event_sink(events.append)
    lines.wires[1].set_off_hook(True, clock.now())
    await clock.advance(0.05)
    assert [e.off_hook for e in events if isinstance(e, HookTransition)] == [True]
    assert not lines.lines[0].off_hook
    assert lines.lines[0].ring(True)
    assert lines.wires[0].drive is LineDrive.RINGING
    assert lines.wires[1].drive is LineDrive.FORWARD
    await lines.close()
    assert lines.wires[0].drive is LineDrive.OPEN


async def test_sim_board_with_ag1171(tmp_path: Path) -> None:
    clock = VirtualClock()
    board = load_board(write(tmp_path, "agsim", AG_SIM.format(name="agsim")))
    lines = build_board(board, clock)
    assert isinstance(lines.lines[0], Ag1171Line)
    assert await clock.run(lines.open()) == {}
    assert lines.wires[0].drive is LineDrive.FORWARD
    lines.lines[0].ring(True)
    await clock.advance(0.2)
    assert lines.wires[0].drive is LineDrive.RINGING


async def test_hardware_board_path_with_injected_backends() -> None:
    """proslic-pcm wired exactly as on hardware, the spidev/gpiod backends swapped for sims."""
    clock = VirtualClock()
    gpio = SimGpio(clock)
    bus = SimSpiBus()
    wires = [TwoWire(), TwoWire()]
    models = [Si321xModel(clock, w, gpio=gpio, reset_pin=17) for w in wires]
    bus.attach(0, models[0])  # port 1's module is missing
    opened: list[tuple[int, int, int]] = []

    def spi_factory(bus_no: int, cs: int, speed: int, cs_line: object) -> object:
        opened.append((bus_no, cs, speed))
        return bus.port(cs)

    board = load_board("proslic-pcm")
    lines = build_board(board, clock, gpio=gpio, spi_factory=spi_factory)  # type: ignore[arg-type]
    failed = await clock.run(lines.open())
    assert opened == [(0, 0, 1_000_000), (0, 1, 1_000_000)]
    assert list(failed) == [1]
    assert isinstance(failed[1], NoChipError)
    assert models[0].resets == 1
    assert [level for level, _ in gpio.history(17)] == [True, False, True]
    # Port 0 works in polling mode (no INT pin on this board).
    wires[0].set_off_hook(True, clock.now())
    await clock.advance(0.1)
    assert lines.lines[0].off_hook


async def test_ag1171_hardware_board_with_injected_gpio() -> None:
    clock = VirtualClock()
    gpio = SimGpio(clock)
    wire = TwoWire()
    Ag1171Model(gpio, wire, rm_pin=17, fr_pin=27, shk_pin=22)
    lines = build_board(load_board("ag1171-usb"), clock, gpio=gpio)
    assert await clock.run(lines.open()) == {}
    wire.set_off_hook(True, clock.now())
    await clock.advance(0.05)
    assert lines.lines[0].off_hook


# --- ata boards --------------------------------------------------------------------------


def test_ata_boards_lists_every_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["NAME", "SLIC", "PORTS"]
    rows = {line.split()[0]: line.split()[1:3] for line in out[1:]}
    assert rows == {
        "ag1171-i2s": ["ag1171", "2"],
        "ag1171-usb": ["ag1171", "1"],
        "proslic-pcm": ["proslic", "2"],
        "sim": ["proslic", "2"],
    }


def test_ata_boards_show_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["boards", "--show", "proslic-pcm"]) == 0
    out = capsys.readouterr().out
    assert "reset pin   GPIO17" in out
    assert "port 1      Si3215 spi0.1 slot 1/1 (polled)" in out
    bad = write(tmp_path, "bad", BASE.format(name="bad", extra="", port="int_pin = 99"))
    assert main(["boards", "--show", bad]) == 1
    assert "port[0].int_pin" in capsys.readouterr().out
