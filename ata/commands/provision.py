"""``ata provision ...``: fetch the profile now, or show the last provisioning status."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "provision", help="profile provisioning: fetch now, show status"
    )
    cmds = parser.add_subparsers(dest="provision_cmd", metavar="ACTION")

    now = cmds.add_parser("now", help="fetch and apply the profile now")
    now.add_argument("--config", type=Path, default=None, help="config file (default: system)")
    now.add_argument("--status", type=Path, default=None, help="status file (default: system)")
    now.add_argument("--mac", default=None, help="MAC address for macros (default: eth0/wlan0)")
    now.set_defaults(handler=run_now)

    status = cmds.add_parser("status", help="show the last provisioning attempt")
    status.add_argument("--status", type=Path, default=None, help="status file (default: system)")
    status.set_defaults(handler=run_status)

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=show_help)


def run_now(args: argparse.Namespace) -> int:
    import dataclasses

    from ata import __version__
    from provisioning.driver import Provisioner
    from provisioning.resync import Cause
    from provisioning.status import status_path
    from provisioning.store import config_path
    from provisioning.sysinfo import device_info

    device = device_info(__version__)
    if args.mac:
        device = dataclasses.replace(device, mac=args.mac)
    try:
        device.variables()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def once() -> int:
        provisioner = Provisioner(
            config_path=config_path(args.config),
            status_path=status_path(args.status),
            device=device,
        )
        result = await provisioner.run_once(Cause.MANUAL)
        if result.outcome == "error":
            for error in result.errors:
                print(f"error: {error.stage}: {error.reason}", file=sys.stderr)
            return 1
        print(f"{result.outcome}" + (f" from {result.url}" if result.url else ""))
        if result.diff is not None:
            for path in result.diff.paths:
                print(f"  changed {path}")
        return 0

    return asyncio.run(once())


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run_status(args: argparse.Namespace) -> int:
    from provisioning.status import load_status, status_path

    path = status_path(args.status)
    status = load_status(path)
    print(f"outcome:       {status.outcome}")
    print(f"cause:         {status.cause or '-'}")
    print(f"url:           {status.url or '-'}")
    if status.outcome == "error":
        print(f"failed stage:  {status.stage}")
        print(f"reason:        {status.reason}")
    print(f"last attempt:  {_when(status.last_attempt)}")
    print(f"last success:  {_when(status.last_success)}")
    print(f"next attempt:  {_when(status.next_attempt)}")
    print(f"failures:      {status.consecutive_failures}")
    if status.changed:
        print("changed:       " + ", ".join(status.changed))
    if status.ignored:
        print("ignored:       " + ", ".join(status.ignored))
    return 1 if status.outcome == "error" else 0
