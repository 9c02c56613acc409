"""The one hook classifier every line driver shares (sans-IO: time is an argument).

Theory of operation
-------------------
Input: raw hook edges (:meth:`HookClassifier.handle_transition`, with the hardware timestamp)
and the passage of time (:meth:`HookClassifier.handle_timer`). Output: classified events read
with :meth:`HookClassifier.next_event` — :class:`~hal.line.OffHook`, :class:`~hal.line.OnHook`,
:class:`~hal.line.Flash`, :class:`~hal.line.PulseDigit`. The driver re-arms its timer at
:meth:`HookClassifier.get_timer` after every call (the aioquic / h11 pattern).

Two stages:

1. **Debounce.** A raw level becomes the stable level only after it has held for
   ``debounce_s``; a shorter excursion is a bounce (counted, otherwise ignored). The stable
   edge keeps the timestamp of the raw edge that started it, so the debounce delay never
   distorts the measured intervals.
2. **Classification** of stable edges, as a transition table over :class:`State`::

       IDLE ──off──▶ OFF_HOOK ──on──▶ BREAK ──off after ≤ pulse max──▶ OFF_HOOK (+1 pulse)
        ▲                ▲  │ digit-end timer: emit PulseDigit     │ off in flash window: Flash
        │                │  ▼                                      │ off otherwise: ignored
        └── hang-up timer (BREAK longer than flash max): OnHook ◀──┘

   An on-hook interval (a *break*) is a dial pulse if it lasts ``pulse_break`` (default
   20–95 ms: 8–12 pps and 20 pps at 55–72 % break), a hook flash inside ``flash``
   (default 100–900 ms, the Cisco SPA defaults) and a hang-up beyond the flash maximum
   (reported when the maximum passes, with the time the phone went on-hook). Breaks between
   the windows are ignored and counted. Pulses accumulate until the line has stayed off-hook
   for ``digit_end_s`` (default 200 ms: longer than any make interval, shorter than the usual
   ≥ 250 ms inter-digit pause); the count becomes a digit under the configured
   :class:`DigitCoding`. Counts that code no digit are dropped and counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from hal.line import Flash, HookEvent, OffHook, OnHook, PulseDigit

_EPS = 1e-9  # window edges are inclusive; absorbs float rounding of summed timestamps


class DigitCoding(Enum):
    STANDARD = "standard"  # n pulses = n, 10 pulses = 0
    SWEDEN = "sweden"  # n + 1 pulses = n (1 pulse = 0, 10 pulses = 9)
    NEW_ZEALAND = "new_zealand"  # 10 − n pulses = n (10 pulses = 0, 1 pulse = 9)

    def digit(self, pulses: int) -> str | None:
        if self is DigitCoding.STANDARD:
            return str(pulses % 10) if 1 <= pulses <= 10 else None
        if self is DigitCoding.SWEDEN:
            return str(pulses - 1) if 1 <= pulses <= 10 else None
        return str(10 - pulses) if 1 <= pulses <= 10 else None

    def pulses(self, digit: str) -> int:
        """How many pulses dial ``digit`` (the inverse of :meth:`digit`)."""
        n = int(digit)
        if self is DigitCoding.STANDARD:
            return n or 10
        if self is DigitCoding.SWEDEN:
            return n + 1
        return 10 - n


@dataclass(frozen=True)
class HookWindows:
    """Classification windows in seconds (all configurable from the port settings)."""

    debounce_s: float = 0.008
    pulse_break_min_s: float = 0.020
    pulse_break_max_s: float = 0.095
    flash_min_s: float = 0.100
    flash_max_s: float = 0.900
    digit_end_s: float = 0.200
    pulse_dialing: bool = True
    coding: DigitCoding = DigitCoding.STANDARD

    def __post_init__(self) -> None:
        ordered = (
            0.0 <= self.debounce_s < self.pulse_break_min_s <= self.pulse_break_max_s
            and self.pulse_break_max_s <= self.flash_min_s <= self.flash_max_s
        )
        if not ordered:
            raise ValueError(
                "hook windows must satisfy debounce < pulse min ≤ pulse max ≤ flash min ≤ "
                f"flash max: {self}"
            )
        if self.digit_end_s <= self.debounce_s:
            raise ValueError("digit_end_s must exceed debounce_s")


class State(Enum):
    IDLE = "idle"  # on-hook for longer than the flash window
    OFF_HOOK = "off_hook"
    BREAK = "break"  # on-hook, not yet long enough to be a hang-up


class Edge(Enum):
    OFF = "off"  # stable off-hook edge
    ON = "on"  # stable on-hook edge


class HookClassifier:
    """Debounce and classify one line's hook edges. Not thread-safe; one per port."""

    def __init__(self, windows: HookWindows | None = None, *, off_hook: bool = False) -> None:
        self.windows = windows or HookWindows()
        self.state = State.OFF_HOOK if off_hook else State.IDLE
        self._events: deque[HookEvent] = deque()
        # debounce stage
        self._stable = off_hook
        self._raw = off_hook
        self._raw_at = float("-inf")
        # classification stage
        self._break_at = 0.0  # when the current on-hook interval began
        self._made_at = 0.0  # when the line last came back off-hook
        self._pulses = 0
        # counters (malformed input is dropped and counted)
        self.bounces = 0
        self.ignored_breaks = 0
        self.invalid_digits = 0

    # --- the sans-IO interface ----------------------------------------------------------------
    @property
    def off_hook(self) -> bool:
        """The debounced hook state."""
        return self._stable

    def handle_transition(self, off_hook: bool, at: float) -> None:
        """A raw edge (or level report) at time ``at``."""
        self.handle_timer(at)
        if off_hook == self._raw:
            return
        if off_hook == self._stable:
            # Back to the stable level before the debounce expired: the excursion was a bounce.
            self.bounces += 1
            self._raw = off_hook
            self._raw_at = float("-inf")
            return
        self._raw = off_hook
        self._raw_at = at

    def get_timer(self) -> float | None:
        due = self._next_due()
        return due[0] if due else None

    def handle_timer(self, now: float) -> None:
        """Fire everything due at or before ``now``, in time order."""
        while (due := self._next_due()) is not None and due[0] <= now:
            due[1](due[0])

    def next_event(self) -> HookEvent | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[HookEvent]:
        """Drain every pending event."""
        out = list(self._events)
        self._events.clear()
        return out

    # --- internals ----------------------------------------------------------------------------
    def _next_due(self) -> tuple[float, Callable[[float], None]] | None:
        """The earliest pending deadline and what to do then.

        While a raw change is still being debounced, classification deadlines after the raw
        edge wait for the verdict: a break that ends 1 ms before the flash maximum is a flash
        even though its debounce completes after the maximum.
        """
        w = self.windows
        candidates: list[tuple[float, Callable[[float], None]]] = []
        pending = self._raw != self._stable
        if pending:
            candidates.append((self._raw_at + w.debounce_s, self._settle))
        if self.state is State.BREAK:
            candidates.append((self._break_at + w.flash_max_s + _EPS, self._hang_up))
        if self.state is State.OFF_HOOK and self._pulses:
            candidates.append((self._made_at + w.digit_end_s, self._end_digit))
        if pending:
            candidates = [c for c in candidates if c[1] == self._settle or c[0] < self._raw_at]
        return min(candidates, key=lambda c: c[0]) if candidates else None

    def _settle(self, _deadline: float) -> None:
        self._stable = self._raw
        edge = Edge.OFF if self._stable else Edge.ON
        handler = _TABLE.get((self.state, edge))
        if handler is not None:
            handler(self, self._raw_at)

    def _idle_off(self, at: float) -> None:
        self.state = State.OFF_HOOK
        self._made_at = at
        self._pulses = 0
        self._events.append(OffHook(at))

    def _off_hook_on(self, at: float) -> None:
        self.state = State.BREAK
        self._break_at = at

    def _break_off(self, at: float) -> None:
        w = self.windows
        length = at - self._break_at
        self.state = State.OFF_HOOK
        if w.pulse_dialing and w.pulse_break_min_s - _EPS <= length <= w.pulse_break_max_s + _EPS:
            self._pulses += 1
        elif w.flash_min_s - _EPS <= length <= w.flash_max_s + _EPS:
            if self._pulses:
                self._end_digit(at)
            self._events.append(Flash(at, length))
        else:
            self.ignored_breaks += 1
        self._made_at = at

    def _hang_up(self, _deadline: float) -> None:
        self.state = State.IDLE
        if self._pulses:
            self.invalid_digits += 1  # a digit interrupted by hanging up
        self._pulses = 0
        self._events.append(OnHook(self._break_at))

    def _end_digit(self, now: float) -> None:
        digit = self.windows.coding.digit(self._pulses)
        if digit is None:
            self.invalid_digits += 1
        else:
            self._events.append(PulseDigit(digit, self._pulses, now))
        self._pulses = 0


_Handler = Callable[[HookClassifier, float], None]
_TABLE: dict[tuple[State, Edge], _Handler] = {
    (State.IDLE, Edge.OFF): HookClassifier._idle_off,
    (State.OFF_HOOK, Edge.ON): HookClassifier._off_hook_on,
    (State.BREAK, Edge.OFF): HookClassifier._break_off,
}
