"""An in-memory :class:`~provisioning.web.backend.AdminBackend` for the web admin tests.

It behaves like the daemon as far as the web admin can see: the config it holds is what
``current_config`` returns, ``apply_config`` refuses what the "board" cannot do (more lines than
ports) and otherwise stores the config and re-derives the line status from it, and the virtual
phones record every verb so tests can assert what the browser made them do.
"""

from __future__ import annotations

import msgspec

from provisioning.schema import Config
from provisioning.validate import FieldError
from provisioning.web.backend import (
    BackendError,
    CallRecord,
    DialMode,
    LineStatus,
    PhoneState,
    Status,
)


class FakeSim:
    def __init__(self, ports: int) -> None:
        self.ports = ports
        self.actions: list[tuple[object, ...]] = []
        self.phones: dict[int, PhoneState] = {
            port: {
                "ringing": False,
                "cadence": None,
                "caller_id": None,
                "off_hook": False,
                "heard": {"frequencies_hz": [], "level_dbm0": None, "digits": ""},
            }
            for port in range(1, ports + 1)
        }

    def _check(self, port: int) -> PhoneState:
        if port not in self.phones:
            raise BackendError(f"no port {port}")
        return self.phones[port]

    async def hook(self, port: int, off_hook: bool) -> None:
        phone = self._check(port)
        self.actions.append(("hook", port, off_hook))
        phone["off_hook"] = off_hook
        phone["ringing"] = False if off_hook else phone["ringing"]
        # what a real line does: dial tone when picked up, silence when hung up
        phone["heard"]["frequencies_hz"] = [350.0, 440.0] if off_hook else []
        phone["heard"]["level_dbm0"] = -13.0 if off_hook else None

    async def flash(self, port: int) -> None:
        self._check(port)
        self.actions.append(("flash", port))

    async def dial(self, port: int, digits: str, mode: DialMode = "dtmf") -> None:
        phone = self._check(port)
        if not phone["off_hook"]:
            raise BackendError(f"port {port} is on hook: pick up first")
        self.actions.append(("dial", port, digits, mode))
        phone["heard"]["frequencies_hz"] = []  # dial tone stops at the first digit
        phone["heard"]["level_dbm0"] = None

    def phone(self, port: int) -> PhoneState:
        return self._check(port)


class FakeBackend:
    def __init__(self, config: Config, *, ports: int = 2, simulated: bool = True) -> None:
        self.config = config
        self.ports = ports
        self.applied: list[Config] = []
        self.registration: dict[int, str] = {}
        self.last_error: dict[int, str] = {}
        self.calls: list[CallRecord] = []
        self.logs: list[str] = []
        self.uptime_s = 3725.0
        self.refuse_next: list[FieldError] = []
        self._sim = FakeSim(ports) if simulated else None

    @property
    def sim(self) -> FakeSim | None:
        return self._sim

    def status(self) -> Status:
        lines: list[LineStatus] = []
        for index, line in enumerate(self.config.lines):
            port = index + 1
            state = self.registration.get(port, "registered" if line.enabled else "disabled")
            phone = self._sim.phones.get(port) if self._sim else None
            lines.append(
                {
                    "port": port,
                    "enabled": line.enabled,
                    "user": line.user,
                    "registration": {
                        "state": state,
                        "expires_in": line.registration.expires if state == "registered" else None,
                        "last_error": self.last_error.get(port),
                    },
                    "hook": "off" if phone and phone["off_hook"] else "on",
                    "call": {
                        "state": "connected" if port == 1 and self.calls else "idle",
                        "peer": "+15551234" if port == 1 and self.calls else None,
                        "direction": "in" if port == 1 and self.calls else None,
                        "duration_s": 65.0 if port == 1 and self.calls else None,
                        "rtp": {
                            "packets_sent": 3250,
                            "packets_received": 3248,
                            "lost": 2,
                            "jitter_ms": 1.8,
                            "rtt_ms": 12.5,
                            "jb_delay_ms": 40.0,
                            "concealed": 2,
                        }
                        if port == 1 and self.calls
                        else None,
                    },
                }
            )
        return {
            "version": "0.1.0",
            "uptime_s": self.uptime_s,
            "lines": lines,
            "provisioning": {
                "state": "applied",
                "last_fetch": 1_795_000_000.0,
                "last_error": None,
                "next_fetch": 1_795_003_600.0,
            },
        }

    def current_config(self) -> Config:
        return self.config

    async def apply_config(self, new: Config) -> list[FieldError]:
        if self.refuse_next:
            errors, self.refuse_next = self.refuse_next, []
            return errors
        if len(new.lines) > self.ports:
            return [FieldError("lines", f"this board has {self.ports} ports")]
        self.config = new
        self.applied.append(new)
        return []

    def call_log(self, limit: int) -> list[CallRecord]:
        return self.calls[:limit]

    def recent_logs(self, limit: int) -> list[str]:
        return self.logs[-limit:]


def replace_line(config: Config, index: int, **changes: object) -> Config:
    lines = list(config.lines)
    lines[index] = msgspec.structs.replace(lines[index], **changes)
    return msgspec.structs.replace(config, lines=lines)
