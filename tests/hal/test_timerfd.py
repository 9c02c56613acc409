"""hal.timerfd: absolute-deadline wake-ups through a Linux timerfd."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from hal import timerfd
from hal.clock import MonotonicClock

pytestmark = pytest.mark.skipif(
    not timerfd.timerfd_available(), reason="this platform has no timerfd"
)


async def test_sleepers_wake_in_deadline_order_and_never_early() -> None:
    scheduler = timerfd.scheduler_for(asyncio.get_running_loop())
    assert scheduler is not None
    start = time.monotonic()
    woke: list[tuple[int, float]] = []

    async def sleeper(i: int, deadline: float) -> None:
        await scheduler.sleep_until(deadline)
        woke.append((i, time.monotonic() - deadline))

    # Registered out of order: the fd must always be armed to the earliest live deadline.
    offsets = [0.030, 0.005, 0.020, 0.010, 0.010]
    await asyncio.gather(*(sleeper(i, start + d) for i, d in enumerate(offsets)))
    woken_deadlines = [offsets[i] for i, _ in woke]
    assert woken_deadlines == sorted(offsets)
    assert all(late >= -1e-6 for _, late in woke)


async def test_cancelled_sleeper_is_dropped_and_others_still_wake() -> None:
    scheduler = timerfd.scheduler_for(asyncio.get_running_loop())
    assert scheduler is not None
    start = time.monotonic()
    early = asyncio.ensure_future(scheduler.sleep_until(start + 0.005))
    later = asyncio.ensure_future(scheduler.sleep_until(start + 0.015))
    await asyncio.sleep(0)
    early.cancel()
    await later
    assert time.monotonic() >= start + 0.015 - 1e-6
    assert early.cancelled()
    assert not scheduler._heap  # the cancelled entry went with the wake-up


async def test_past_deadline_returns_at_once() -> None:
    scheduler = timerfd.scheduler_for(asyncio.get_running_loop())
    assert scheduler is not None
    await asyncio.wait_for(scheduler.sleep_until(time.monotonic() - 5.0), 1.0)
    await asyncio.wait_for(scheduler.sleep_until(0.0), 1.0)  # 0 must not disarm the timer


async def test_one_scheduler_per_loop_and_close_releases_the_fd() -> None:
    loop = asyncio.get_running_loop()
    scheduler = timerfd.scheduler_for(loop)
    assert scheduler is not None
    assert timerfd.scheduler_for(loop) is scheduler
    fd = scheduler._fd
    pending = asyncio.ensure_future(scheduler.sleep_until(time.monotonic() + 60.0))
    await asyncio.sleep(0)
    scheduler.close()
    with pytest.raises(asyncio.CancelledError):
        await pending
    with pytest.raises(OSError):
        os.fstat(fd)
    fresh = timerfd.scheduler_for(loop)
    assert fresh is not None and fresh is not scheduler
    await fresh.sleep_until(time.monotonic() + 0.002)


async def test_monotonic_clock_sleeps_on_the_timerfd() -> None:
    clock = MonotonicClock()
    scheduler = timerfd.scheduler_for(asyncio.get_running_loop())
    assert scheduler is not None
    before = scheduler.wakeups
    start = clock.now()
    for k in range(1, 6):
        await clock.sleep_until(start + k * 0.004)
        assert clock.now() >= start + k * 0.004 - 1e-6
    assert scheduler.wakeups - before >= 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libc timerfd is Linux")
def test_ctypes_backend_arms_an_absolute_deadline() -> None:
    # Python 3.11/3.12 have no os.timerfd_*: the ctypes path is what runs there.
    backend = timerfd._ctypes_backend()
    assert backend is not None
    make, arm = backend
    fd = make()
    try:
        deadline = time.monotonic_ns() + 3_000_000
        arm(fd, deadline)
        os.set_blocking(fd, True)
        expirations = int.from_bytes(os.read(fd, 8), sys.byteorder)
        assert expirations == 1
        assert time.monotonic_ns() >= deadline
    finally:
        os.close(fd)
