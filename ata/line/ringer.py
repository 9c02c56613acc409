"""Ring cadence and on-hook caller ID timing for one port (sans-IO).

Theory of operation
-------------------
The ringer turns "ring this phone with cadence C and caller ID X" into a timeline of commands:
ring voltage on/off and "send caller ID now", following the caller ID method's schedule:

- ``after_first_ring`` (Bell 202, Telcordia GR-30): ring once; the FSK burst starts no earlier
  than ``cid_delay_s`` (≥ 0.5 s) after the first ring ends, and must be finished ≥ 0.2 s before
  the second ring; the second ring is delayed if the silent interval is too short for the burst.
- ``before_ring`` (ETSI EN 300 659-1 with polarity reversal or DT-AS/RP-AS, UK, DTMF CLIP):
  the line-reversal / alerting signal and the burst come first (``cid_lead_s`` before the
  first ring), then ringing starts.
- ``none``: ring only.

Cadences are ``((on_s, off_s), ...)`` repeated forever. Time is passed in: ``start(now)``,
``get_timer()``, ``handle_timer(now)`` returning the commands due; ``stop()`` ends it at once
(ring trip is the HAL's business; the ringer just never switches ring voltage on again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum


class CallerIdTiming(Enum):
    NONE = "none"
    AFTER_FIRST_RING = "after_first_ring"
    BEFORE_RING = "before_ring"


@dataclass(frozen=True)
class RingVoltage:
    on: bool


@dataclass(frozen=True)
class SendCallerId:
    """Transmit the on-hook caller ID burst now (the runtime renders it with ata.dsp)."""

    burst_s: float


RingerCommand = RingVoltage | SendCallerId


@dataclass
class Ringer:
    cadence: Sequence[tuple[float, float]]
    timing: CallerIdTiming = CallerIdTiming.NONE
    cid_burst_s: float = 0.0  # how long the caller ID signal lasts (from the encoder)
    cid_delay_s: float = 0.5  # Bell 202: start ≥ this long after the first ring ends
    cid_guard_s: float = 0.2  # Bell 202: finish ≥ this long before the second ring
    cid_lead_s: float = 0.8  # before-ring methods: burst starts this long before ring 1
    _events: list[tuple[float, RingerCommand]] = field(default_factory=list, repr=False)
    _next_cycle_at: float = 0.0
    _segment: int = 0
    _running: bool = False

    def __post_init__(self) -> None:
        if not self.cadence or any(on <= 0 or off < 0 for on, off in self.cadence):
            raise ValueError("a ring cadence needs (on, off) pairs with on > 0 and off ≥ 0")

    @property
    def running(self) -> bool:
        return self._running

    def start(self, now: float) -> list[RingerCommand]:
        self._running = True
        self._events.clear()
        self._segment = 0
        with_cid = self.timing is not CallerIdTiming.NONE and self.cid_burst_s > 0
        if with_cid and self.timing is CallerIdTiming.BEFORE_RING:
            self._events.append((now, SendCallerId(self.cid_burst_s)))
            first_ring = now + max(self.cid_lead_s, self.cid_burst_s + self.cid_guard_s)
            self._schedule_ring(first_ring)
            return self.handle_timer(now)
        self._schedule_ring(now)
        if with_cid and self.timing is CallerIdTiming.AFTER_FIRST_RING:
            first_on = self.cadence[0][0]
            cid_at = now + first_on + self.cid_delay_s
            self._events.append((cid_at, SendCallerId(self.cid_burst_s)))
            self._events.sort(key=lambda item: item[0])
            # Stretch the first silent interval when the burst would not fit in it.
            earliest_second = cid_at + self.cid_burst_s + self.cid_guard_s
            self._next_cycle_at = max(self._next_cycle_at, earliest_second)
        return self.handle_timer(now)

    def _schedule_ring(self, at: float) -> None:
        on, off = self.cadence[self._segment % len(self.cadence)]
        self._segment += 1
        self._events.append((at, RingVoltage(True)))
        self._events.append((at + on, RingVoltage(False)))
        self._next_cycle_at = at + on + off
        self._events.sort(key=lambda item: item[0])

    def get_timer(self) -> float | None:
        if not self._running:
            return None
        pending = [t for t, _ in self._events]
        pending.append(self._next_cycle_at)
        return min(pending)

    def handle_timer(self, now: float) -> list[RingerCommand]:
        out: list[RingerCommand] = []
        if not self._running:
            return out
        while True:
            due = [item for item in self._events if item[0] <= now]
            if due:
                for item in due:
                    self._events.remove(item)
                    out.append(item[1])
                continue
            if self._next_cycle_at <= now and not any(
                isinstance(c, RingVoltage) for _, c in self._events
            ):
                self._schedule_ring(self._next_cycle_at)
                continue
            break
        return out

    def stop(self) -> list[RingerCommand]:
        """Stop ringing now; returns a ring-off command if the voltage might be on."""
        was_running = self._running
        self._running = False
        self._events.clear()
        return [RingVoltage(False)] if was_running else []
