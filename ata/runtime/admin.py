"""The daemon's side of the web admin: :class:`provisioning.web.backend.AdminBackend`.

Snapshots come from memory (port drivers, call manager, call log, the recent-log ring); a new
configuration is checked against what only the daemon knows (number of ports, the full dial
plan grammar), saved atomically and applied by :meth:`ata.runtime.daemon.Daemon.apply_config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ata import __version__
from ata.line.dialplan import DialPlan, DialPlanError
from ata.log import RecentLogHandler
from ata.runtime.api import phone_snapshot
from provisioning.schema import Config
from provisioning.validate import FieldError
from provisioning.web.backend import (
    BackendError,
    CallRecord,
    DialMode,
    PhoneState,
    SimBackend,
    Status,
)

if TYPE_CHECKING:
    from ata.runtime.daemon import Daemon
    from hal.sim.phone import VirtualPhone


class DaemonSim:
    """The virtual phones of a simulated board, for the web admin's phone panel."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def _phone(self, port: int) -> VirtualPhone:
        phone = self._daemon.phone(port)
        if phone is None:
            raise BackendError(f"no virtual phone on port {port}")
        return phone

    async def hook(self, port: int, off_hook: bool) -> None:
        phone = self._phone(port)
        if off_hook:
            phone.off_hook()
        else:
            phone.on_hook()

    async def flash(self, port: int) -> None:
        phone = self._phone(port)
        if not phone.is_off_hook:
            raise BackendError("lift the handset first")
        self._daemon.spawn(phone.flash(300.0))

    async def dial(self, port: int, digits: str, mode: DialMode = "dtmf") -> None:
        phone = self._phone(port)
        if not phone.is_off_hook:
            raise BackendError("lift the handset first")
        allowed = "0123456789" if mode == "pulse" else "0123456789*#"
        if not digits or any(d not in allowed for d in digits):
            raise BackendError(f"{mode} dialing takes only {allowed}")
        self._daemon.spawn(phone.pulse_dial(digits) if mode == "pulse" else phone.dtmf_dial(digits))

    def phone(self, port: int) -> PhoneState:
        snap = phone_snapshot(self._phone(port), 0.5)
        cadence = snap["ring_cadence"][-1] if snap["ring_cadence"] else None
        cid = snap["caller_ids"][-1] if snap["caller_ids"] else None
        return {
            "ringing": snap["ringing"],
            "cadence": f"{cadence[0]:g}/{cadence[1]:g}" if cadence else None,
            "caller_id": {"number": cid["number"], "name": cid["name"], "date": cid["datetime"]}
            if cid
            else None,
            "off_hook": snap["off_hook"],
            "heard": {
                "frequencies_hz": [t["freq_hz"] for t in snap["tones"]],
                "level_dbm0": snap["level_dbm0"],
                "digits": snap["digits_heard"],
            },
        }


class DaemonAdmin:
    """Implements :class:`provisioning.web.backend.AdminBackend` for a running daemon."""

    def __init__(self, daemon: Daemon, logs: RecentLogHandler) -> None:
        self._daemon = daemon
        self._logs = logs
        self._sim = DaemonSim(daemon) if daemon.sim is not None else None

    @property
    def sim(self) -> SimBackend | None:
        return self._sim

    def status(self) -> Status:
        d = self._daemon
        status = d.status()
        lines: list[dict[str, Any]] = []
        for index, line in enumerate(status["lines"]):
            cfg = d.config.lines[index] if index < len(d.config.lines) else None
            reg = line.get("registration")
            lines.append(
                {
                    "port": line["port"],
                    "enabled": bool(cfg.enabled) if cfg else False,
                    "user": cfg.user if cfg else "",
                    "registration": reg
                    if isinstance(reg, dict)
                    else {
                        "state": str(reg or "unregistered"),
                        "expires_in": None,
                        "last_error": None,
                    },
                    "hook": "off" if line["off_hook"] else "on",
                    "call": line.get("call")
                    or {
                        "state": line["state"],
                        "peer": None,
                        "direction": None,
                        "duration_s": None,
                        "rtp": None,
                    },
                }
            )
        return cast(
            Status,
            {
                "version": __version__,
                "uptime_s": status["uptime_s"],
                "lines": lines,
                "provisioning": d.provisioning_status(),
            },
        )

    def current_config(self) -> Config:
        return self._daemon.config

    async def apply_config(self, new: Config) -> list[FieldError]:
        errors: list[FieldError] = []
        ports = self._daemon.port_count()
        if len(new.lines) > ports:
            errors.append(
                FieldError("lines", f"the board has {ports} port(s), got {len(new.lines)} lines")
            )
        for index, line in enumerate(new.lines):
            try:
                DialPlan.parse(line.dial_plan)
            except DialPlanError as exc:
                errors.append(FieldError(f"lines[{index}].dial_plan", exc.reason))
        if errors:
            return errors
        await self._daemon.apply_config(new)
        return []

    def call_log(self, limit: int) -> list[CallRecord]:
        return cast(list[CallRecord], self._daemon.call_log.recent(limit))

    def recent_logs(self, limit: int) -> list[str]:
        return self._logs.recent(limit)
