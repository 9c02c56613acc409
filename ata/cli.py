"""The ``ata`` command: one entry point, one subcommand module per concern.

Each module listed in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
subparser and sets ``handler`` (a callable taking the parsed namespace and returning an exit
status). Modules are imported when the parser is built, so keep their top level light.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Final

from ata import __version__
from ata.log import configure

COMMAND_MODULES: Final[tuple[str, ...]] = (
    "ata.commands.version",
    "ata.commands.dsp",
    "ata.commands.run",
    "ata.commands.demo",
    "ata.commands.config",
    "ata.commands.provision",
    "ata.commands.boards",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ata",
        description="pi-ata: analog telephone adapter firmware (SIP, G.711 RTP, FXS SLIC drivers)",
    )
    parser.add_argument("--version", action="version", version=f"pi-ata {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity",
    )
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    configure(args.log_level, json_lines=args.log_json)
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
