"""Which board is this? Configured, else identified by the HAT EEPROM, else the simulator.

The order is fixed and the choice is always logged with its reason, so a field report says at
once whether a box ran on the configured board, on an autodetected HAT or fell back to ``sim``
(for example because the HAT's EEPROM names a product no board file claims).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from board.registry import DEFAULT_BOARD, list_boards, load_board
from board.schema import Board
from hal.eeprom import HatInfo, detect_hat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoardSelection:
    board: Board
    source: str  # "config", "hat" or "default"
    reason: str


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def match_hat(hat: HatInfo, boards: Sequence[Board]) -> Board | None:
    for board in boards:
        if board.hat_vendor is None:
            continue
        if _norm(board.hat_vendor) == _norm(hat.vendor) and _norm(board.hat_product) == _norm(
            hat.product
        ):
            return board
    return None


def select_board(
    configured: str | None = None,
    *,
    detect: Callable[[], HatInfo | None] | None = detect_hat,
    boards: Sequence[Board] | None = None,
) -> BoardSelection:
    """Pick the board: ``configured`` (name or path), else the HAT EEPROM match, else ``sim``."""
    if configured:
        board = load_board(configured)
        selection = BoardSelection(board, "config", f"configured board {configured!r}")
    else:
        hat = detect() if detect is not None else None
        candidates = list(boards) if boards is not None else list_boards()
        board_for_hat = match_hat(hat, candidates) if hat is not None else None
        if hat is not None and board_for_hat is not None:
            selection = BoardSelection(
                board_for_hat,
                "hat",
                f"HAT EEPROM ({hat.source}) vendor {hat.vendor!r} product {hat.product!r}",
            )
        else:
            why = (
                f"HAT vendor {hat.vendor!r} product {hat.product!r} matches no board file"
                if hat is not None
                else "no board configured and no HAT detected"
            )
            selection = BoardSelection(load_board(DEFAULT_BOARD), "default", why)
    log.info("board %s selected: %s", selection.board.name, selection.reason)
    return selection
