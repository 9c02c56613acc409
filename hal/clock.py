"""The HAL ``Clock`` contract: a monotonic time source that asyncio code can sleep on.

Theory of operation
-------------------
Everything in pi-ata that paces itself (the simulated codec's 20 ms sample clock, a virtual
phone's pulse dialling, the SLIC model's timers) asks a :class:`Clock` for the time and sleeps
until an **absolute** deadline. Periodic work is scheduled as ``start + k * period`` and never
as "sleep one period after the last wake-up", so lateness never accumulates into drift.

Three implementations:

- :class:`MonotonicClock` is real time: ``time.monotonic()``; sleepers wake on a Linux timerfd
  (:mod:`hal.timerfd`, tens of µs after the deadline) or else on the running asyncio loop's
  timers (same time base, 0–1 ms late). Used by the daemon and by integration tests.
- :class:`AcceleratedClock` is real time sped up by a factor (demos, soak runs).
- :class:`VirtualClock` is simulated time for unit tests. Time only moves when the test calls
  :meth:`VirtualClock.advance` / :meth:`VirtualClock.advance_to` or runs a coroutine with
  :meth:`VirtualClock.run`: the clock wakes every sleeper and timer in deadline order, setting
  ``now()`` to exactly that deadline, and lets the event loop run every task made ready before
  moving on ("settling"). Ten thousand 20 ms frames therefore take as long as the CPU work, and
  the timestamps are exact (``start + k * 0.02`` computed, not accumulated).

A clock is not thread-safe: use it from the thread that runs its event loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from hal.timerfd import scheduler_for

T = TypeVar("T")


class TimerHandle(Protocol):
    """What :meth:`Clock.call_at` returns."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock in seconds with absolute-deadline sleeping."""

    def now(self) -> float:
        """Current time in seconds (monotonic; the origin is arbitrary)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline`` (at once, after one loop turn, if already past)."""
        ...

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        """Call ``callback()`` from the event loop once ``now() >= deadline``."""
        ...


async def sleep_for(clock: Clock, seconds: float) -> None:
    """Sleep ``seconds`` on ``clock`` (a convenience; periodic code should use deadlines)."""
    await clock.sleep_until(clock.now() + seconds)


class MonotonicClock:
    """Real time: ``time.monotonic()`` and the running loop's timers."""

    def now(self) -> float:
        return time.monotonic()

    def __init__(self, *, precise: bool = True) -> None:
        # precise: sleep on a timerfd (hal.timerfd) where the platform has one — wakes within
        # tens of µs of the deadline instead of asyncio's 0–1 ms (epoll's ms timeout).
        self.precise = precise

    async def sleep_until(self, deadline: float) -> None:
        # The delay is recomputed from the absolute deadline on every call, so a late wake-up
        # shortens the next sleep instead of shifting every later deadline.
        delay = deadline - self.now()
        if delay <= 0.0:
            await asyncio.sleep(0)
            return
        scheduler = scheduler_for(asyncio.get_running_loop()) if self.precise else None
        if scheduler is None:
            await asyncio.sleep(delay)
        else:
            await scheduler.sleep_until(deadline)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (deadline - self.now()), callback)


class AcceleratedClock:
    """Real time sped up by ``factor`` (for demos and soak runs of the simulator).

    ``now()`` advances ``factor`` simulated seconds per real second from ``start``; sleeps and
    timers last 1/``factor`` of their simulated length. Unlike :class:`VirtualClock` it needs no
    driving, so sockets and other real-time code keep working alongside (their own timers are
    not accelerated).
    """

    def __init__(self, factor: float, *, start: float = 0.0) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = float(factor)
        self._origin = float(start)
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._t0) * self.factor

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, (deadline - self.now()) / self.factor))

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + max(0.0, deadline - self.now()) / self.factor, callback)


class ClockStalledError(RuntimeError):
    """:meth:`VirtualClock.run` found the task waiting on something no timer will ever wake."""


@dataclass(order=True)
class _Timer:
    deadline: float
    seq: int
    callback: Callable[[], None] | None = field(compare=False, default=None)
    future: asyncio.Future[None] | None = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Simulated time for tests: moves only when advanced; wakes sleepers in deadline order."""

    def __init__(self, start: float = 0.0, *, max_settle_turns: int = 10_000) -> None:
        self._now = float(start)
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._max_settle_turns = max_settle_turns
        self._advancing = False

    def now(self) -> float:
        return self._now

    @property
    def pending(self) -> int:
        """Sleepers and timers not yet due (cancelled ones excluded)."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        self._drop_cancelled()
        return self._timers[0].deadline if self._timers else None

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = _Timer(deadline, next(self._seq), future=future)
        heapq.heappush(self._timers, timer)
        try:
            await future
        finally:
            timer.cancelled = True

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _Timer(max(deadline, self._now), next(self._seq), callback=callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing everything due on the way."""
        await self.advance_to(self._now + seconds)

    async def advance_to(self, target: float) -> None:
        """Fire every sleeper/timer with deadline ≤ ``target`` in order, then set now = target."""
        if self._advancing:
            raise RuntimeError("VirtualClock.advance is already running")
        self._advancing = True
        try:
            await self._settle()
            while True:
                self._drop_cancelled()
                if not self._timers or self._timers[0].deadline > target:
                    break
                self._fire(heapq.heappop(self._timers))
                await self._settle()
            self._now = max(self._now, target)
            await self._settle()
        finally:
            self._advancing = False

    async def run(self, awaitable: Awaitable[T], *, limit_s: float = 300.0) -> T:
        """Run ``awaitable`` to completion, advancing time as far as it needs.

        Raises :class:`TimeoutError` if it needs more than ``limit_s`` simulated seconds and
        :class:`ClockStalledError` if it waits on something that no timer of this clock wakes.
        """
        if self._advancing:
            raise RuntimeError("VirtualClock.advance is already running")
        task = asyncio.ensure_future(awaitable)
        limit = self._now + limit_s
        self._advancing = True
        try:
            await self._settle()
            while not task.done():
                self._drop_cancelled()
                if not self._timers:
                    raise ClockStalledError("the task waits but no timer is pending")
                if self._timers[0].deadline > limit:
                    raise TimeoutError(f"not finished after {limit_s} simulated seconds")
                self._fire(heapq.heappop(self._timers))
                await self._settle()
        finally:
            self._advancing = False
            if not task.done():
                task.cancel()
        return task.result()

    # --- internals ----------------------------------------------------------------------------
    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)

    def _fire(self, timer: _Timer) -> None:
        self._now = max(self._now, timer.deadline)
        timer.cancelled = True
        if timer.future is not None:
            if not timer.future.done():
                timer.future.set_result(None)
        elif timer.callback is not None:
            timer.callback()

    async def _settle(self) -> None:
        """Let the event loop run until no callback is ready (every woken task has blocked)."""
        loop = asyncio.get_running_loop()
        # The standard asyncio loop keeps its ready queue in ``_ready``; when this task resumes
        # after ``sleep(0)`` and the queue is empty, every other task is blocked again. Loops
        # without that attribute (uvloop) get a fixed number of turns instead.
        ready = getattr(loop, "_ready", None)
        turns = self._max_settle_turns if ready is not None else 64
        for _ in range(turns):
            await asyncio.sleep(0)
            if ready is not None and len(ready) == 0:
                return
