"""The ALSA period of each board: 20 ms (idle cost first); a board file can ask for 5 ms."""

from __future__ import annotations

from pathlib import Path

import pytest

from board.registry import load_board

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["proslic-pcm", "ag1171-i2s", "ag1171-usb", "sim"])
def test_boards_wake_50_times_a_second(name: str) -> None:
    assert load_board(name).audio_period_frames == 160


def test_a_board_file_can_ask_for_5_ms_periods() -> None:
    import tomllib

    from board.schema import parse_board

    path = ROOT / "board" / "boards" / "proslic-pcm.toml"
    text = path.read_text().replace("period_frames = 160", "period_frames = 40")
    assert parse_board(tomllib.loads(text), str(path)).audio_period_frames == 40
