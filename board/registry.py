"""The board files shipped as package data (``board/boards/*.toml``) and loading by name/path."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from board.schema import Board, parse_board
from hal.errors import BoardConfigError

DEFAULT_BOARD = "sim"


def _parse_text(text: str, file: str) -> Board:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardConfigError(file, "(syntax)", str(exc)) from exc
    board = parse_board(data, file)
    stem = Path(file).stem
    if board.name != stem:
        raise BoardConfigError(
            file, "board.name", f"{board.name!r} must match the file name {stem!r}"
        )
    return board


def board_names() -> list[str]:
    folder = resources.files("board") / "boards"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_board(name: str) -> Board:
    """A shipped board by name, or a board file by path (anything ending in ``.toml``)."""
    if name.endswith(".toml"):
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BoardConfigError(name, "(file)", f"cannot read: {exc.strerror}") from exc
        return _parse_text(text, str(path))
    if name not in board_names():
        raise BoardConfigError(
            f"{name}.toml", "(name)", f"no such board (known: {', '.join(board_names())})"
        )
    entry = resources.files("board") / "boards" / f"{name}.toml"
    return _parse_text(entry.read_text(encoding="utf-8"), f"board/boards/{name}.toml")


def list_boards() -> list[Board]:
    return [load_board(name) for name in board_names()]
