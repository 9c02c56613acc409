"""``ata demo``: a narrated call between the simulated board's two virtual phones."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the daemon on the simulated board and a measured call between two phones"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the daemon running afterwards (play through the API)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the daemon's log too")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ata.runtime.demo import run_demo  # imported here to keep `ata --help` fast

    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)  # the narration is the output
    return asyncio.run(run_demo(sys.stdout, keep=args.keep))
