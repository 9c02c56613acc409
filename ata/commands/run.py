"""``ata run``: the pi-ata daemon (systemd Type=notify; SIGTERM stops it cleanly)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("run", help="run the ATA daemon")
    parser.add_argument(
        "--config",
        help="config file (default $PI_ATA_CONFIG or /etc/pi-ata/config.toml; missing = defaults)",
    )
    parser.add_argument("--board", help="board name or board file (default: HAT EEPROM, else sim)")
    parser.add_argument("--api", default="127.0.0.1:8080", help="local JSON API host:port")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ata.line.dialplan import DialPlan
    from ata.runtime.daemon import Daemon, DaemonOptions
    from provisioning.store import config_path, load_config
    from provisioning.validate import ConfigValidationError

    path = config_path(args.config)
    try:
        config = load_config(path, dial_plan_parser=DialPlan.parse)
    except ConfigValidationError as exc:
        for error in exc.errors:
            log.error("%s: %s", path, error)
        return 2
    host, _, port = args.api.rpartition(":")
    options = DaemonOptions(
        board=args.board, api_host=host or "127.0.0.1", api_port=int(port), config_path=path
    )

    async def main() -> None:
        from ata.runtime.sip_calls import sip_calls

        daemon = Daemon(config, sip_calls, options=options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await daemon.start()
        await stop.wait()
        log.info("stopping")
        await daemon.stop()

    asyncio.run(main())
    return 0
