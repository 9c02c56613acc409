"""Symmetric-RTP latching that resists RTP injection ("RTP bleed").

Theory of operation
-------------------
The session starts with the address from SDP as the *current* source. Packets from the current
source are accepted and keep it *alive*. Packets from any other address are never played; the
address becomes a *candidate* and counts consecutive valid packets (right payload type, a
sequence number following the previous one). The latch switches to the candidate only when

* the candidate sent at least ``threshold`` (10) consecutive valid packets, and
* the current source has gone silent: nothing from it for ``silence`` seconds, or never.

A packet from a different foreign address, an invalid packet, or a sequence break restarts the
count. So a third party spraying packets into a live call is ignored (and counted), while a
phone whose NAT binding changed is followed after 200 ms of its new stream.

States: ``LatchState.CONFIGURED`` (nothing received from the current source yet) and
``LatchState.LATCHED`` (the current source has been heard).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Addr", "Latch", "LatchResult", "LatchState"]

Addr = tuple[str, int]


class LatchState(enum.Enum):
    CONFIGURED = "configured"
    LATCHED = "latched"


class LatchResult(enum.Enum):
    ACCEPT = "accept"  # from the current source
    FOREIGN = "foreign"  # from another address: not played
    SWITCHED = "switched"  # the latch moved to this address; accept it


@dataclass(slots=True)
class _Candidate:
    addr: Addr
    count: int
    last_seq: int


class Latch:
    """Decides which source address is played and where RTP is sent."""

    def __init__(self, remote: Addr | None, *, threshold: int = 10, silence: float = 1.0):
        self.current = remote
        self.threshold = threshold
        self.silence = silence
        self.state = LatchState.CONFIGURED
        self._last_heard: float | None = None
        self._cand: _Candidate | None = None
        self.switches = 0
        self.foreign = 0

    def alive(self, now: float) -> bool:
        return self._last_heard is not None and now - self._last_heard < self.silence

    def check(self, addr: Addr, now: float, *, valid: bool, seq: int) -> LatchResult:
        """Classify one parsed packet from ``addr``; ``valid`` = acceptable payload type."""
        if self.current is None and valid:
            self.current = addr
        if addr == self.current:
            if valid:
                self._last_heard = now
                self.state = LatchState.LATCHED
            return LatchResult.ACCEPT
        self.foreign += 1
        cand = self._cand
        if not valid:
            if cand is not None and cand.addr == addr:
                self._cand = None
            return LatchResult.FOREIGN
        if cand is None or cand.addr != addr or seq != (cand.last_seq + 1) & 0xFFFF:
            self._cand = _Candidate(addr, 1, seq)
            return LatchResult.FOREIGN
        cand.count += 1
        cand.last_seq = seq
        if cand.count >= self.threshold and not self.alive(now):
            self.current = addr
            self._cand = None
            self._last_heard = now
            self.state = LatchState.LATCHED
            self.switches += 1
            self.foreign -= 1
            return LatchResult.SWITCHED
        return LatchResult.FOREIGN
