"""The pi-ata daemon: board, ports, SIP, HTTP API, systemd integration, clean shutdown.

Theory of operation
-------------------
:class:`Daemon` assembles the running ATA from a validated :class:`provisioning.schema.Config`:

1. **Board**: the configured board (``device.board``/``--board``), else the HAT EEPROM's, else
   ``sim`` (logged). A simulated board gets a virtual phone on every port.
2. **Ports**: one :class:`ata.runtime.port_driver.PortDriver` per FXS port that has a ``lines``
   entry: line state machine with the line's dial plan, ring cadence and caller ID method,
   the country's tones and a DTMF receiver and echo canceller.
3. **Calls**: a call controller (``call_factory``; the SIP user agent in production) that the
   ports place and answer calls through and that feeds call events back to them.
4. **API**: the local JSON API (:mod:`ata.runtime.api`) on ``api_host:api_port`` (none when
   ``api_port`` is None), and the web admin when ``admin.listen`` is set. Both listen from
   the start but load their application (aiohttp, ~12 MB resident with its dependencies) at
   their first connection (:class:`provisioning.web.ondemand.OnDemandSite`). The admin's
   first-start password is made and announced at start all the same.
5. ``gc.freeze()`` once everything is built, so the collector never walks the start-up heap
   in the middle of a media frame; ``READY=1`` (and watchdog pings) to systemd when
   ``NOTIFY_SOCKET`` is set.

:meth:`Daemon.stop` closes in reverse order: calls (un-REGISTER), ports, board (lines left
open, i.e. no battery), API.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ata import __version__
from ata.dsp.cadence import ring_from_script
from ata.line.dialplan import DialPlan
from ata.line.port import FlashMode, PortMachine, PortSettings
from ata.line.ringer import CallerIdTiming
from ata.log import RecentLogHandler
from ata.runtime.calllog import CallLog
from ata.runtime.port_driver import CallControl, PortDriver, PortStatus
from ata.runtime.port_dsp import CallerIdMethod, CountryDsp
from ata.runtime.simboard import HardwareBoard, SimBoard
from board.select import select_board
from hal.clock import Clock, MonotonicClock
from hal.hook import DigitCoding, HookWindows
from hal.sim.phone import VirtualPhone
from provisioning.diff import ConfigDiff, diff_configs
from provisioning.schema import Config
from provisioning.schema import Line as LineConfig
from provisioning.status import load_status
from provisioning.store import save_config
from provisioning.web.ondemand import OnDemandSite, parse_listen

if TYPE_CHECKING:
    from aiohttp import web

    from ata.runtime.admin import DaemonAdmin
    from provisioning.driver import Provisioner
    from provisioning.validate import FieldError

log = logging.getLogger(__name__)

CallFactory = Callable[["Daemon"], "CallController"]


class CallController(CallControl, Protocol):
    """The call side the daemon runs: :class:`CallControl` plus life cycle and status."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> list[dict[str, Any]]: ...


_CODING = {
    "normal": DigitCoding.STANDARD,
    "sweden": DigitCoding.SWEDEN,
    "new_zealand": DigitCoding.NEW_ZEALAND,
}
_CID_TIMING = {
    CallerIdMethod.BELL202: CallerIdTiming.AFTER_FIRST_RING,
    CallerIdMethod.V23: CallerIdTiming.BEFORE_RING,
    CallerIdMethod.DTMF: CallerIdTiming.BEFORE_RING,
    CallerIdMethod.NONE: CallerIdTiming.NONE,
}


def port_settings(line: LineConfig, dsp: CountryDsp) -> PortSettings:
    """The line state machine's settings for one configured line."""
    return PortSettings(
        dial_plan=DialPlan.parse(line.dial_plan),
        ring_cadence=ring_from_script(line.ring_cadence).segments,
        caller_id_timing=_CID_TIMING[dsp.cid_method],
        caller_id_burst_s=dsp.caller_id_burst_s(),
        flash_mode=FlashMode(line.hook_flash.action),
        polarity_on_answer=line.polarity_reversal,
        cpc_on_far_hangup_s=line.disconnect_ms / 1000.0,
    )


def hook_windows(line: LineConfig) -> HookWindows:
    return HookWindows(
        flash_min_s=line.hook_flash.min_ms / 1000.0,
        flash_max_s=line.hook_flash.max_ms / 1000.0,
        pulse_dialing=line.pulse_dialing.enabled,
        coding=_CODING[line.pulse_dialing.coding],
    )


@dataclass
class DaemonOptions:
    board: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int | None = 8080  # 0 = any free port (tests); None = no JSON API
    freeze_gc: bool = True
    config_path: Path | None = None  # where an applied config is saved (None: not saved)
    status_path: Path | None = None  # the provisioning status file shown by the admin
    admin_listen: str | None = None  # None: config.admin.listen; "": no web admin
    registrar_port: int | None = None  # embedded registrar; None: network.local_port
    registrar_host: str = "0.0.0.0"  # noqa: S104 - LAN phones register to it


class Daemon:
    def __init__(
        self,
        config: Config,
        call_factory: CallFactory,
        *,
        options: DaemonOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.options = options or DaemonOptions()
        self.clock: Clock = clock or MonotonicClock()
        self._call_factory = call_factory
        self.calls: CallController | None = None
        self.sim: SimBoard | None = None
        self.board: SimBoard | HardwareBoard | None = None
        self.ports: list[PortDriver] = []
        self.board_name = ""
        self.board_reason = ""
        self._api_site: OnDemandSite | None = None
        self.api_port = 0
        self._started_at = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None
        self._last_status: dict[int, PortStatus] = {}
        self.call_log = CallLog()
        self.logs = RecentLogHandler()
        self._admin_site: OnDemandSite | None = None
        self._admin_impl: DaemonAdmin | None = None
        self.provisioner: Provisioner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        logging.getLogger().addHandler(self.logs)
        selection = select_board(self.options.board)
        self.board_name = selection.board.name
        self.board_reason = selection.reason
        lines_cfg = self.config.lines
        windows = hook_windows(lines_cfg[0])
        if selection.board.simulated:
            self.sim = SimBoard.create(self.clock, board=selection.board.name, windows=windows)
            self.board = self.sim
        else:
            self.board = HardwareBoard.create(selection.board, self.clock, windows=windows)
        failed = await self.board.open()
        for index, error in failed.items():
            log.error("port %d out of service: %s", index + 1, error)
        self.calls = self._call_factory(self)
        for index, line in enumerate(self.board.lines.lines):
            if index >= len(lines_cfg) or index in failed:
                continue
            cfg = lines_cfg[index]
            dsp = CountryDsp(
                country=self.config.device.country, cid_method=CallerIdMethod(cfg.caller_id)
            )
            driver = PortDriver(
                PortMachine(port=index, settings=port_settings(cfg, dsp)),
                line,
                self.board.audio[index],
                self.clock,
                dsp,
                self.calls,
                windows=hook_windows(cfg),
                on_change=self._port_changed,
                observer=self.call_log.observe,
            )
            self.ports.append(driver)
            attach = getattr(self.calls, "attach", None)
            if attach is not None:
                attach(index, driver.call_event)
            await driver.start()
        await self.calls.start()
        await self._start_api()
        await self._start_admin()
        self._start_provisioning()
        if self.options.freeze_gc:
            gc.collect()
            gc.freeze()
        _sd_notify("READY=1")
        self._watchdog = _start_watchdog()
        log.info(
            "pi-ata %s running: board %s, %d port(s), API on %s:%d",
            __version__,
            self.board_name,
            len(self.ports),
            self.options.api_host,
            self.api_port,
        )

    async def stop(self) -> None:
        _sd_notify("STOPPING=1")
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.calls is not None:
            await self.calls.stop()
        for driver in self.ports:
            await driver.stop()
        if self.board is not None:
            await self.board.close()
        if self._api_site is not None:
            await self._api_site.close()
        if self._admin_site is not None:
            await self._admin_site.close()
        if self.provisioner is not None:
            self.provisioner.stop()
        for task in list(self._tasks):
            task.cancel()
        log.info("pi-ata stopped")
        logging.getLogger().removeHandler(self.logs)

    async def _start_api(self) -> None:
        if self.options.api_port is None:
            return

        async def build() -> web.Application:
            from ata.runtime.api import Api

            return Api(self).app()

        site = OnDemandSite(
            self.options.api_host, self.options.api_port, build,
            preload=("aiohttp.web", "ata.runtime.api"), name="JSON API",
        )  # fmt: skip
        await site.start()
        self._api_site = site
        self.api_port = site.port

    async def _start_admin(self) -> None:
        listen = self.options.admin_listen
        if listen is None:
            listen = self.config.admin.listen
        if not listen:
            return
        from provisioning.web.first_start import announce_on_console, ensure_admin_password

        async def build() -> web.Application:
            from provisioning.web.server import create_app

            return create_app(self._admin_backend(), dial_plan_parser=DialPlan.parse)

        host, port = parse_listen(listen)
        site = OnDemandSite(
            host, port, build,
            preload=("aiohttp.web", "ata.runtime.admin", "provisioning.web.server"),
            name="web admin",
        )  # fmt: skip
        await site.start()
        self._admin_site = site
        log.info("web admin on http://%s/", listen)
        await ensure_admin_password(_AdminConfig(self), announce_on_console)

    def _admin_backend(self) -> DaemonAdmin:
        from ata.runtime.admin import DaemonAdmin

        if self._admin_impl is None:
            self._admin_impl = DaemonAdmin(self, self.logs)
        return self._admin_impl

    def _start_provisioning(self) -> None:
        """Profile provisioning runs when the daemon owns a config file and rules (or DHCP)
        can name a profile; each applied profile goes through :meth:`apply_config`."""
        path = self.options.config_path
        prov = self.config.provisioning
        if path is None or not (prov.profile_rules or prov.dhcp_discovery):
            return
        from provisioning.driver import Provisioner
        from provisioning.sysinfo import device_info

        status = self.options.status_path or path.with_name("provisioning-status.json")
        self.options.status_path = status

        async def applied(config: Config, _diff: ConfigDiff) -> None:
            await self.apply_config(config, save=False)

        self.provisioner = Provisioner(
            config_path=path,
            status_path=status,
            device=device_info(__version__),
            on_applied=applied,
            dial_plan_parser=DialPlan.parse,
            proxy_addresses=self._proxy_addresses,
        )
        self.provisioner.start()
        self.spawn(self.provisioner.run())

    def check_sync(self, source_ip: str) -> bool:
        """A proxy asked for a resync (SIP NOTIFY check-sync): True when one was scheduled."""
        if self.provisioner is None:
            return False
        return self.provisioner.on_check_sync(source_ip)

    def _proxy_addresses(self) -> list[str]:
        """Addresses SIP NOTIFY check-sync is accepted from: the lines' resolved proxies."""
        manager = getattr(self.calls, "manager", None)
        lines = getattr(manager, "lines", None) or []
        return sorted({ip for line in lines if line is not None for ip in line.trusted})

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, cancelled at stop (phone actions from the admin)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def apply_config(self, new: Config, *, save: bool = True) -> None:
        """Persist (atomically) and apply a validated config: only what changed is touched.

        Line settings (dial plan, cadence, caller ID, hook windows) apply to each port's next
        call; a call in progress keeps going. Account changes are handed to the call side,
        which re-registers only the lines whose account changed.
        """
        old, self.config = self.config, new
        if save and self.options.config_path is not None:
            save_config(new, self.options.config_path)
        changes = diff_configs(old, new)
        for driver in self.ports:
            if driver.port < len(new.lines):
                cfg = new.lines[driver.port]
                dsp = CountryDsp(
                    country=new.device.country, cid_method=CallerIdMethod(cfg.caller_id)
                )
                driver.reconfigure(port_settings(cfg, dsp), dsp, hook_windows(cfg))
        apply = getattr(self.calls, "apply_config", None)
        if apply is not None:
            await apply(new, changes)
        log.info("configuration applied: %s", ", ".join(changes.paths) or "no change")

    def provisioning_status(self) -> dict[str, Any]:
        if self.options.status_path is None:
            return {"state": "disabled", "last_fetch": None, "last_error": None, "next_fetch": None}
        st = load_status(self.options.status_path)
        error = f"{st.stage}: {st.reason}" if st.outcome == "error" and st.stage else st.reason
        return {
            "state": st.outcome,
            "last_fetch": st.last_attempt,
            "last_error": error if st.outcome == "error" else None,
            "next_fetch": st.next_attempt,
        }

    # --- observation ------------------------------------------------------------------------
    def _port_changed(self, status: PortStatus) -> None:
        previous = self._last_status.get(status.port)
        self._last_status[status.port] = status
        if previous is None or previous.state != status.state:
            log.info("line %d state %s", status.port + 1, status.state)

    def port_count(self) -> int:
        return len(self.ports)

    def phone(self, port: int) -> VirtualPhone | None:
        if self.sim is None or not 1 <= port <= len(self.sim.phones):
            return None
        return self.sim.phones[port - 1]

    def status(self) -> dict[str, Any]:
        call_status = self.calls.status() if self.calls is not None else []
        lines = []
        for driver in self.ports:
            st = driver.status()
            extra = call_status[driver.port] if driver.port < len(call_status) else {}
            lines.append(
                {
                    "port": driver.port + 1,
                    "state": st.state,
                    "off_hook": st.off_hook,
                    "ringing": st.ringing,
                    "call_id": st.call_id,
                    "digits": st.digits,
                    "tone": st.tone,
                    **extra,
                }
            )
        return {
            "version": __version__,
            "uptime_s": round(time.monotonic() - self._started_at, 1),
            "board": self.board_name,
            "board_reason": self.board_reason,
            "lines": lines,
        }


class _AdminConfig:
    """Where the first-start admin password is stored, without loading the admin backend
    (:mod:`ata.runtime.admin` imports aiohttp): only ``admin.password_hash`` changes, so there
    is nothing to check against the board."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def current_config(self) -> Config:
        return self._daemon.config

    async def apply_config(self, new: Config) -> list[FieldError]:
        await self._daemon.apply_config(new)
        return []


def _sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about our state; silent when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.send(message.encode())


def _start_watchdog() -> asyncio.Task[None] | None:
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    interval = int(usec) / 2e6

    async def ping() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while True:
            k += 1
            await asyncio.sleep(max(0.0, start + k * interval - loop.time()))
            _sd_notify("WATCHDOG=1")

    return asyncio.get_running_loop().create_task(ping(), name="sd-watchdog")
