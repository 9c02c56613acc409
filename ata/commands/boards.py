"""``ata boards``: list the board definitions, show one, validate a file, or detect the board."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "boards", help="list board definitions, show or validate one, detect the HAT"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--show", metavar="BOARD", help="show one board (name or .toml path)")
    group.add_argument(
        "--detect",
        action="store_true",
        help="show which board would be selected (HAT EEPROM, else sim) and why",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from board.registry import list_boards, load_board  # imported here: keeps `ata` start fast
    from board.select import select_board
    from hal.errors import BoardConfigError

    try:
        if args.show:
            _show(load_board(args.show))
            return 0
        if args.detect:
            selection = select_board(None)
            print(f"{selection.board.name}  ({selection.source}: {selection.reason})")
            return 0
        boards = list_boards()
    except BoardConfigError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{'NAME':<14}{'SLIC':<9}{'PORTS':<7}{'HAT PRODUCT':<26}DESCRIPTION")
    for board in boards:
        hat = board.hat_product or ("(simulated)" if board.simulated else "-")
        print(
            f"{board.name:<14}{board.slic.value:<9}{len(board.ports):<7}{hat:<26}"
            f"{board.description}"
        )
    return 0


def _show(board: Any) -> None:
    print(f"board       {board.name}  ({board.file})")
    print(f"description {board.description}")
    print(f"slic        {board.slic.value}{'  (simulated)' if board.simulated else ''}")
    print(f"gpio        {board.gpio.value}{' ' + board.gpio_chip if board.gpio_chip else ''}")
    if board.reset_pin is not None:
        print(f"reset pin   GPIO{board.reset_pin}")
    if board.hat_vendor:
        print(f"hat         {board.hat_vendor} / {board.hat_product}")
    print(
        f"defaults    {board.pcm_law.value}, ring {board.ring_frequency_hz:g} Hz "
        f"{board.ring_vrms:g} Vrms"
    )
    for port in board.ports:
        if board.slic.value == "proslic":
            cs = f"spi{board.spi_bus}.{port.spi_cs}"
            if port.cs_gpio is not None:
                cs += f" cs=GPIO{port.cs_gpio}"
            control = f"{port.part} {cs} slot {port.tx_slot}/{port.rx_slot}"
            control += f" int=GPIO{port.int_pin}" if port.int_pin is not None else " (polled)"
        else:
            control = f"RM=GPIO{port.rm_pin} F/R=GPIO{port.fr_pin} SHK=GPIO{port.shk_pin}"
        print(
            f"port {port.index}      {control}; audio {port.audio_device} ch {port.audio_channel}; "
            f"gain tx {port.tx_gain_db:+g} rx {port.rx_gain_db:+g} dB"
        )
