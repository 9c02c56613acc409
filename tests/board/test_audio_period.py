"""The hardware boards ask for 5 ms ALSA periods (the frame grid can move in 5 ms steps)."""

from __future__ import annotations

import pytest

from board.registry import load_board


@pytest.mark.parametrize("name", ["proslic-pcm", "ag1171-i2s", "ag1171-usb"])
def test_hardware_boards_use_5_ms_periods(name: str) -> None:
    assert load_board(name).audio_period_frames == 40


def test_the_simulated_board_keeps_the_default() -> None:
    assert load_board("sim").audio_period_frames == 160
