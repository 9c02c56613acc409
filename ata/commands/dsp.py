"""``ata dsp ...``: telephony DSP tools on WAV files (users debugging a line use them; so do tests).

Each module in :data:`DSP_TOOL_MODULES` exposes ``register(dsp_subparsers)`` adding its tools.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Final

DSP_TOOL_MODULES: Final[tuple[str, ...]] = (
    # one line per tool module, e.g. "ata.commands.dsp_dtmf",
    "ata.commands.dsp_callerid",
    "ata.commands.dsp_echo",
    "ata.commands.dsp_dtmf",
    "ata.commands.dsp_tone",
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "dsp", help="DTMF, tones, caller ID and echo cancelling tools on 8 kHz WAV files"
    )
    tools = parser.add_subparsers(dest="dsp_tool", metavar="TOOL")
    for name in DSP_TOOL_MODULES:
        importlib.import_module(name).register(tools)

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=show_help)
