"""SIP timer values (RFC 3261 Table 4, RFC 6026 Timers L and M), derived from T1, T2 and T4.

All durations are seconds (floats). On a reliable transport (TCP/TLS) the retransmission
timers A, E, G are not used and the "wait for retransmissions" timers D, I, J, K are zero.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimerConfig:
    """T1/T2/T4 plus the derived timers; override T1/T2/T4 only (tests, fast networks)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    # Give up on an INVITE client transaction still in PROCEEDING after this long
    # (RFC 3261 Timer C is a proxy timer; a UA needs a bound too: > 3 min).
    timer_c: float = 180.0
    # Bound on a server transaction the TU never answers (non-INVITE / INVITE).
    server_guard: float = 64 * 0.5
    invite_server_guard: float = 300.0

    @property
    def a(self) -> float:
        return self.t1

    @property
    def b(self) -> float:
        return 64 * self.t1

    def d(self, reliable: bool) -> float:
        return 0.0 if reliable else max(32.0, 64 * self.t1)

    @property
    def e(self) -> float:
        return self.t1

    @property
    def f(self) -> float:
        return 64 * self.t1

    @property
    def g(self) -> float:
        return self.t1

    @property
    def h(self) -> float:
        return 64 * self.t1

    def i(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4

    def j(self, reliable: bool) -> float:
        return 0.0 if reliable else 64 * self.t1

    def k(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4

    @property
    def l(self) -> float:  # noqa: E743 - the RFC 6026 name
        return 64 * self.t1

    @property
    def m(self) -> float:
        return 64 * self.t1


DEFAULT_TIMERS = TimerConfig()
