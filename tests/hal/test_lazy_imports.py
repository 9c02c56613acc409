"""Hardware libraries stay unimported until a hardware backend is constructed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARDWARE = ("spidev", "gpiod", "smbus2", "RPi", "lgpio", "alsaaudio")


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_hal_board_and_the_sim_board_import_no_hardware_library() -> None:
    code = (
        "import asyncio, sys\n"
        "import hal, hal.gpio, hal.spi, hal.eeprom, hal.proslic, hal.ag1171, hal.hook\n"
        "import board.factory, board.select, ata.commands.boards\n"
        "from board.factory import build_board\n"
        "from board.registry import load_board\n"
        "from hal.clock import VirtualClock\n"
        "async def main():\n"
        "    clock = VirtualClock()\n"
        "    lines = build_board(load_board('sim'), clock)\n"
        "    assert await clock.run(lines.open()) == {}\n"
        "asyncio.run(main())\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {HARDWARE!r}]\n"
        "assert not bad, bad\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_constructing_a_hardware_backend_imports_its_library() -> None:
    """The control experiment: the spidev backend does import spidev (and fails cleanly
    without the device node)."""
    code = (
        "import sys\n"
        "from hal.spi import SpidevPort\n"
        "from hal.errors import BackendUnavailableError\n"
        "assert 'spidev' not in sys.modules\n"
        "try:\n"
        "    SpidevPort(97, 0)\n"
        "except BackendUnavailableError as exc:\n"
        "    print(exc)\n"
        "assert 'spidev' in sys.modules\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "spidev97.0" in result.stdout
