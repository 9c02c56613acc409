"""``ata version``: print the firmware version and the Python runtime it runs on."""

from __future__ import annotations

import argparse
import platform
from typing import Any

from ata import __version__


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("version", help="show version information")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(f"pi-ata {__version__} (Python {platform.python_version()}, {platform.machine()})")
    return 0
