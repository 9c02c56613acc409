"""The simulated two-wire pair between an FXS port model and a :class:`VirtualPhone`.

Theory of operation: the pair carries only the DC/ringing state, not audio (audio travels through
the simulated audio port). The SLIC side (a ProSLIC register model or an AG1171 GPIO model)
drives the *line* state: feed (open, forward, reverse), ringing on/off and polarity. The phone
side drives the *loop*: off-hook closes it. Each side subscribes to the other's changes; every
change carries the simulated time at which it happened, so hook edges keep their timestamps
exactly as a SLIC interrupt or a gpiod edge event would report them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class LineDrive(Enum):
    """What the FXS side puts on the pair."""

    OPEN = "open"  # no battery: the phone sees a dead line (also CPC power denial)
    FORWARD = "forward"  # normal battery (tip positive)
    REVERSE = "reverse"  # reversed battery (polarity reversal)
    RINGING = "ringing"  # ring voltage present (the cadence is switched on and off by the FXS side)


@dataclass(frozen=True)
class LoopChange:
    off_hook: bool
    at: float


@dataclass(frozen=True)
class DriveChange:
    drive: LineDrive
    at: float


class TwoWire:
    """One simulated subscriber line. Not thread-safe: driven from one event loop or test."""

    def __init__(self) -> None:
        self._off_hook = False
        self._drive = LineDrive.OPEN
        self._loop_listeners: list[Callable[[LoopChange], None]] = []
        self._drive_listeners: list[Callable[[DriveChange], None]] = []

    # --- phone side -------------------------------------------------------------------------
    @property
    def off_hook(self) -> bool:
        return self._off_hook

    def set_off_hook(self, off_hook: bool, at: float) -> None:
        if off_hook == self._off_hook:
            return
        self._off_hook = off_hook
        change = LoopChange(off_hook, at)
        for listener in list(self._loop_listeners):
            listener(change)

    def on_loop_change(self, listener: Callable[[LoopChange], None]) -> None:
        """Subscribe the FXS side to loop (hook) changes."""
        self._loop_listeners.append(listener)

    # --- FXS side ---------------------------------------------------------------------------
    @property
    def drive(self) -> LineDrive:
        return self._drive

    def set_drive(self, drive: LineDrive, at: float) -> None:
        if drive == self._drive:
            return
        self._drive = drive
        change = DriveChange(drive, at)
        for listener in list(self._drive_listeners):
            listener(change)

    def on_drive_change(self, listener: Callable[[DriveChange], None]) -> None:
        """Subscribe the phone side to line drive changes (ringing, polarity, open)."""
        self._drive_listeners.append(listener)
