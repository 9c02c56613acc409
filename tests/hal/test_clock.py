"""Clock contract: the virtual clock wakes sleepers in order at exact deadlines."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.clock import Clock, ClockStalledError, MonotonicClock, VirtualClock, sleep_for


async def test_virtual_clock_wakes_sleepers_in_deadline_order_at_exact_times() -> None:
    clock = VirtualClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, deadline: float) -> None:
        await clock.sleep_until(deadline)
        woke.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper("c", 103.0)),
        asyncio.create_task(sleeper("a", 100.5)),
        asyncio.create_task(sleeper("b", 101.25)),
    ]
    await clock.advance(2.0)
    assert woke == [("a", 100.5), ("b", 101.25)]
    assert clock.now() == 102.0
    await clock.advance_to(103.0)
    assert woke[-1] == ("c", 103.0)
    await asyncio.gather(*tasks)


async def test_periodic_deadlines_do_not_drift_over_ten_thousand_periods() -> None:
    clock = VirtualClock(start=5.0)
    times: list[float] = []

    async def periodic() -> None:
        start = clock.now()
        for k in range(1, 10_001):
            await clock.sleep_until(start + k * 0.02)
            times.append(clock.now())

    task = asyncio.create_task(periodic())
    await clock.advance(200.0)
    await task
    assert len(times) == 10_000
    assert times[-1] == 5.0 + 10_000 * 0.02
    assert all(t == 5.0 + (k + 1) * 0.02 for k, t in enumerate(times))


async def test_call_at_and_cancel() -> None:
    clock = VirtualClock()
    fired: list[float] = []
    clock.call_at(1.0, lambda: fired.append(clock.now()))
    handle = clock.call_at(0.5, lambda: fired.append(-1.0))
    handle.cancel()
    await clock.advance(2.0)
    assert fired == [1.0]
    assert clock.pending == 0


async def test_run_advances_until_the_coroutine_finishes() -> None:
    clock = VirtualClock()

    async def work() -> str:
        await sleep_for(clock, 3.0)
        await clock.sleep_until(10.0)
        return "done"

    assert await clock.run(work()) == "done"
    assert clock.now() == 10.0


async def test_run_reports_a_stall_and_a_timeout() -> None:
    clock = VirtualClock()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(ClockStalledError):
        await clock.run(never)

    async def long() -> None:
        await clock.sleep_until(1000.0)

    with pytest.raises(TimeoutError):
        await clock.run(long(), limit_s=10.0)


async def test_a_chain_of_tasks_settles_before_time_moves() -> None:
    """A woken task handing work to another task through a queue completes in the same instant."""
    clock = VirtualClock()
    queue: asyncio.Queue[float] = asyncio.Queue()
    seen: list[tuple[float, float]] = []

    async def producer() -> None:
        for k in range(1, 6):
            await clock.sleep_until(k * 1.0)
            await queue.put(clock.now())

    async def consumer() -> None:
        for _ in range(5):
            t = await queue.get()
            seen.append((t, clock.now()))

    tasks = [asyncio.create_task(producer()), asyncio.create_task(consumer())]
    await clock.advance(10.0)
    await asyncio.gather(*tasks)
    assert seen == [(float(k), float(k)) for k in range(1, 6)]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=30))
def test_property_wake_order_is_sorted(deadlines: list[float]) -> None:
    async def scenario() -> list[float]:
        clock = VirtualClock()
        woke: list[float] = []

        async def sleeper(d: float) -> None:
            await clock.sleep_until(d)
            woke.append(clock.now())

        tasks = [asyncio.create_task(sleeper(d)) for d in deadlines]
        await clock.advance(101.0)
        await asyncio.gather(*tasks)
        return woke

    woke = asyncio.run(scenario())
    assert woke == sorted(deadlines)


async def test_monotonic_clock_sleeps_until_an_absolute_deadline() -> None:
    clock: Clock = MonotonicClock()
    assert isinstance(clock, Clock)
    start = clock.now()
    await clock.sleep_until(start + 0.03)
    assert clock.now() >= start + 0.03 - 1e-3
    fired = asyncio.Event()
    clock.call_at(clock.now() + 0.01, fired.set)
    await asyncio.wait_for(fired.wait(), 1.0)


async def test_accelerated_clock_runs_faster_than_real_time() -> None:
    from hal.clock import AcceleratedClock

    clock = AcceleratedClock(100.0, start=1000.0)
    real0 = MonotonicClock().now()
    start = clock.now()
    assert start >= 1000.0
    await clock.sleep_until(start + 2.0)  # 2 simulated seconds ≈ 20 ms
    assert clock.now() >= start + 2.0 - 0.1
    fired = asyncio.Event()
    clock.call_at(clock.now() + 1.0, fired.set)
    await asyncio.wait_for(fired.wait(), 1.0)
    assert MonotonicClock().now() - real0 < 1.0  # well under the 3 simulated seconds
    with pytest.raises(ValueError):
        AcceleratedClock(0.0)
