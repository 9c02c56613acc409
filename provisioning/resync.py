"""When to fetch the profile: a sans-IO resync scheduler (time is passed in).

Theory of operation
-------------------
The scheduler keeps one deadline per cause and is either ``IDLE`` (waiting for the earliest
deadline) or ``FETCHING`` (the driver is downloading; no new fetch starts). Causes:

- ``BOOT``: once at start-up, after a random 0..``resync_random_delay_s`` delay;
- ``PERIODIC``: ``resync_periodic_s`` after the last *successful* fetch, plus the random delay;
- ``DAILY``: at ``resync_at`` (``HHmm`` local time in ``device.timezone``) plus a random
  0..``resync_at_random_delay_s`` spread, every day;
- ``RETRY``: after the n-th consecutive failure, the n-th of ``error_retry_delays_s`` (the last
  entry repeats); while retrying, the periodic deadline is suspended;
- ``MANUAL`` (``ata provision now``) and ``SIP_NOTIFY`` (check-sync): due at once.

Driver protocol (after aioquic): ``start(now)``; ``get_timer()`` gives the earliest deadline or
``None``; at that time call ``poll(now)``, which returns the cause to fetch for (and enters
``FETCHING``) or ``None``; when the fetch ends call ``fetch_done(now, ok)``. ``trigger(cause,
now)`` requests an immediate fetch; ``set_policy(policy, now)`` follows a config change.
Times are seconds since the UNIX epoch (wall clock, needed for the time of day).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Final

from provisioning.schema import Config


class Cause(Enum):
    BOOT = "boot"
    PERIODIC = "periodic"
    DAILY = "daily"
    RETRY = "retry"
    MANUAL = "manual"
    SIP_NOTIFY = "sip-notify"


class State(Enum):
    IDLE = "idle"
    FETCHING = "fetching"


class Event(Enum):
    POLL_DUE = "poll-due"
    FETCH_DONE = "fetch-done"


# (state, event) -> next state; anything else is a driver bug.
TRANSITIONS: Final[dict[tuple[State, Event], State]] = {
    (State.IDLE, Event.POLL_DUE): State.FETCHING,
    (State.FETCHING, Event.FETCH_DONE): State.IDLE,
}

# When several causes are due together, report the most specific one.
_PRIORITY: Final = (
    Cause.MANUAL,
    Cause.SIP_NOTIFY,
    Cause.BOOT,
    Cause.RETRY,
    Cause.DAILY,
    Cause.PERIODIC,
)


class SchedulerError(RuntimeError):
    """The driver called the scheduler out of turn."""


@dataclass(frozen=True)
class ResyncPolicy:
    on_boot: bool = True
    periodic_s: int = 3600
    random_delay_s: int = 40
    at_hhmm: str = ""
    at_random_delay_s: int = 600
    retry_delays_s: tuple[int, ...] = (1800, 3600, 7200)

    @classmethod
    def from_config(cls, config: Config) -> ResyncPolicy:
        p = config.provisioning
        return cls(
            on_boot=p.resync_on_boot,
            periodic_s=p.resync_periodic_s,
            random_delay_s=p.resync_random_delay_s,
            at_hhmm=p.resync_at,
            at_random_delay_s=p.resync_at_random_delay_s,
            retry_delays_s=tuple(p.error_retry_delays_s),
        )


def next_time_of_day(now: float, hhmm: str, tz: tzinfo) -> float:
    """The first instant strictly after ``now`` at which the local clock in ``tz`` reads HHmm."""
    hour, minute = int(hhmm[:2]), int(hhmm[2:])
    local = datetime.fromtimestamp(now, tz)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate.timestamp() <= now:
        candidate = (candidate + timedelta(days=1)).replace(hour=hour, minute=minute)
    return candidate.timestamp()


class ResyncScheduler:
    def __init__(self, policy: ResyncPolicy, tz: tzinfo, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.tz = tz
        self.rng = rng or random.Random()
        self.state = State.IDLE
        self.deadlines: dict[Cause, float] = {}
        self.failures = 0
        self.current: Cause | None = None

    # -- helpers -------------------------------------------------------------------------------
    def _transition(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise SchedulerError(f"{event.value} while {self.state.value}") from None

    def _jitter(self, spread: int) -> float:
        return self.rng.uniform(0, spread) if spread > 0 else 0.0

    def _arm_periodic(self, now: float) -> None:
        if self.policy.periodic_s > 0:
            self.deadlines[Cause.PERIODIC] = (
                now + self.policy.periodic_s + self._jitter(self.policy.random_delay_s)
            )
        else:
            self.deadlines.pop(Cause.PERIODIC, None)

    def _arm_daily(self, now: float) -> None:
        if self.policy.at_hhmm:
            self.deadlines[Cause.DAILY] = next_time_of_day(
                now, self.policy.at_hhmm, self.tz
            ) + self._jitter(self.policy.at_random_delay_s)
        else:
            self.deadlines.pop(Cause.DAILY, None)

    # -- driver API ----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        if self.policy.on_boot:
            self.deadlines[Cause.BOOT] = now + self._jitter(self.policy.random_delay_s)
        else:
            self._arm_periodic(now)
        self._arm_daily(now)

    def set_policy(self, policy: ResyncPolicy, now: float) -> None:
        """Adopt a new policy; re-arm the timed causes whose settings changed."""
        old, self.policy = self.policy, policy
        if (old.periodic_s, old.random_delay_s) != (policy.periodic_s, policy.random_delay_s) and (
            Cause.RETRY not in self.deadlines
        ):
            self._arm_periodic(now)
        if (old.at_hhmm, old.at_random_delay_s) != (policy.at_hhmm, policy.at_random_delay_s):
            self._arm_daily(now)

    def trigger(self, cause: Cause, now: float) -> None:
        """An on-demand fetch (MANUAL or SIP_NOTIFY): due at once (after a running one)."""
        self.deadlines[cause] = now

    def get_timer(self) -> float | None:
        if self.state is State.FETCHING or not self.deadlines:
            return None
        return min(self.deadlines.values())

    def poll(self, now: float) -> Cause | None:
        """The cause to fetch for now, or None when nothing is due (or a fetch is running)."""
        if self.state is State.FETCHING:
            return None
        due = [cause for cause in _PRIORITY if self.deadlines.get(cause, float("inf")) <= now]
        if not due:
            return None
        for cause in due:
            del self.deadlines[cause]
        if Cause.DAILY in due:
            self._arm_daily(now + 1)
        self._transition(Event.POLL_DUE)
        self.current = due[0]
        return due[0]

    def fetch_done(self, now: float, ok: bool) -> None:
        """The fetch finished (ok = downloaded and applied, or unchanged)."""
        self._transition(Event.FETCH_DONE)
        self.current = None
        if ok:
            self.failures = 0
            self.deadlines.pop(Cause.RETRY, None)
            self._arm_periodic(now)
            return
        self.failures += 1
        delays = self.policy.retry_delays_s or (3600,)
        self.deadlines[Cause.RETRY] = now + delays[min(self.failures, len(delays)) - 1]
        self.deadlines.pop(Cause.PERIODIC, None)
