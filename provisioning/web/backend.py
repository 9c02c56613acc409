"""The contract between the web admin and the daemon that serves it.

The daemon (``ata run``) implements :class:`AdminBackend` and passes it to
:func:`provisioning.web.server.create_app`. The web admin never touches sockets, the SIP stack or
the board itself: it only reads the snapshots below and asks the backend to act.

Rules for implementers
----------------------
- Plain methods are called on the event loop for every page view and every status poll (the
  status page refreshes every 2 s, the virtual-phone panel every 0.5 s): return an in-memory
  snapshot, never block (no file or network I/O there).
- Every value must be JSON-able (str, int, float, bool, None, lists, dicts); shapes are the
  ``TypedDict`` s below. Strings coming from the network (display names, numbers, reason
  phrases, log lines) are passed *raw*: the web admin escapes them. Never pre-escape.
- ``recent_logs`` returns lines already redacted (``ata.log.redact``): no passwords, digest
  responses or keys.
- ``apply_config`` gets a :class:`~provisioning.schema.Config` that already passed
  :func:`provisioning.validate.validate_data`. It checks what only the daemon knows (e.g. the
  board has 2 ports but the config names 4 lines, the full dial plan grammar), then persists it
  atomically (``provisioning.store.save_config``) and applies the
  :func:`~provisioning.diff.diff_configs` difference. It returns ``[]`` on success or the
  problems as :class:`~provisioning.validate.FieldError` (``path`` like
  ``lines[0].dial_plan``, ``reason`` in plain words); on errors nothing is saved or changed.
  The admin password hash lives in ``config.admin.password_hash`` and is changed through this
  same call.
- Ports are numbered from 1 (port 1 is ``config.lines[0]``).
- A refused action raises :class:`BackendError` with a message for the admin (shown escaped).
"""

from __future__ import annotations

from typing import Literal, Protocol, TypedDict, runtime_checkable

from provisioning.schema import Config
from provisioning.validate import FieldError


class BackendError(Exception):
    """The backend refused an action (unknown port, phone not off hook, ...); ``str(exc)`` is
    shown to the admin."""


# -- status --------------------------------------------------------------------------------------
class RegistrationInfo(TypedDict):
    state: str  # "registered" | "registering" | "failed" | "unregistered" | "disabled"
    expires_in: int | None  # seconds until the registration expires (None when not registered)
    last_error: str | None  # e.g. "403 Forbidden", "timeout"; None when the last attempt worked


class RtpStats(TypedDict):
    packets_sent: int
    packets_received: int
    lost: int  # cumulative packets lost (RFC 3550 A.3)
    jitter_ms: float  # interarrival jitter (RFC 3550 A.8)
    rtt_ms: float | None  # from RTCP SR/RR; None until known
    jb_delay_ms: float  # current jitter buffer delay
    concealed: int  # frames filled by packet loss concealment


class CallInfo(TypedDict):
    state: str  # "idle" | "dialing" | "ringing" | "alerting" | "connected" | "held" | ...
    peer: str | None  # remote number or URI (raw, from SIP)
    direction: Literal["in", "out"] | None
    duration_s: float | None  # since answer
    rtp: RtpStats | None  # None outside a call


class LineStatus(TypedDict):
    port: int  # 1-based
    enabled: bool
    user: str
    registration: RegistrationInfo
    hook: Literal["on", "off"]
    call: CallInfo


class ProvisioningInfo(TypedDict):
    state: str  # "never" | "applied" | "unchanged" | "error" | "disabled" | "fetching"
    last_fetch: float | None  # Unix time of the last attempt
    last_error: str | None  # e.g. "fetch: HTTP 404" (no credentials)
    next_fetch: float | None  # Unix time of the next planned attempt


class Status(TypedDict):
    version: str
    uptime_s: float
    lines: list[LineStatus]
    provisioning: ProvisioningInfo


# -- call log ------------------------------------------------------------------------------------
class RtpSummary(TypedDict):
    packets_sent: int
    packets_received: int
    lost: int
    jitter_ms: float  # maximum seen during the call
    concealed: int


class CallRecord(TypedDict):
    time: float  # Unix time the call started
    port: int
    direction: Literal["in", "out"]
    number: str  # raw, from SIP or dialled
    name: str  # display name, raw from SIP ("" when none)
    duration_s: float  # 0 when never answered
    result: str  # "answered" | "missed" | "busy" | "failed: 486 Busy Here" | ...
    rtp: RtpSummary | None


# -- simulated board -----------------------------------------------------------------------------
class CallerId(TypedDict):
    number: str | None
    name: str | None
    date: str | None  # as sent on the line, e.g. "11241317" (MMDDhhmm)


class Heard(TypedDict):
    frequencies_hz: list[float]  # main tone components the virtual phone hears now ([] = none)
    level_dbm0: float | None  # level of what it hears (None = silence)
    digits: str  # DTMF digits heard from the network since the last off-hook


class PhoneState(TypedDict):
    ringing: bool
    cadence: str | None  # e.g. "2.0/4.0" (on/off seconds) while ringing
    caller_id: CallerId | None  # last caller ID decoded from the line
    off_hook: bool
    heard: Heard


DialMode = Literal["dtmf", "pulse"]


@runtime_checkable
class SimBackend(Protocol):
    """Virtual phones on the simulated board (``hal/sim``'s ``VirtualPhone``), one per port.

    The async verbs return once the action is started (a dial returns when the digits are
    queued, not dialled); they raise :class:`BackendError` for an unknown port.
    """

    async def hook(self, port: int, off_hook: bool) -> None: ...

    async def flash(self, port: int) -> None: ...

    async def dial(self, port: int, digits: str, mode: DialMode = "dtmf") -> None:
        """``digits`` is a string of ``0-9*#`` (pulse mode: only ``0-9``)."""

    def phone(self, port: int) -> PhoneState: ...


@runtime_checkable
class AdminBackend(Protocol):
    """What the daemon gives the web admin."""

    @property
    def sim(self) -> SimBackend | None:
        """The virtual phones when the board is simulated, else None (no sim pages)."""

    def status(self) -> Status: ...

    def current_config(self) -> Config: ...

    async def apply_config(self, new: Config) -> list[FieldError]:
        """Check, persist and apply ``new``; ``[]`` when done, else the reasons (nothing
        changed)."""

    def call_log(self, limit: int) -> list[CallRecord]:
        """The last ``limit`` calls, newest first."""

    def recent_logs(self, limit: int) -> list[str]:
        """The last ``limit`` log lines, oldest first, already redacted."""
