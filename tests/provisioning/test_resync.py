"""The sans-IO resync scheduler on a fake clock: boot, periodic, daily, retries, triggers."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.resync import (
    Cause,
    ResyncPolicy,
    ResyncScheduler,
    SchedulerError,
    State,
    next_time_of_day,
)
from provisioning.schema import Config
from provisioning.validate import config_from_data

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC).timestamp()


def sched(**kwargs: object) -> ResyncScheduler:
    return ResyncScheduler(ResyncPolicy(**kwargs), UTC, random.Random(7))  # type: ignore[arg-type]


def test_boot_then_periodic_with_random_delay() -> None:
    s = sched(periodic_s=3600, random_delay_s=40)
    s.start(T0)
    boot = s.get_timer()
    assert boot is not None
    assert T0 <= boot <= T0 + 40
    assert s.poll(boot - 0.001) is None
    assert s.poll(boot) is Cause.BOOT
    assert s.state is State.FETCHING
    assert s.get_timer() is None  # no second fetch while one runs
    s.fetch_done(T0 + 50, ok=True)
    nxt = s.get_timer()
    assert nxt is not None
    assert T0 + 50 + 3600 <= nxt <= T0 + 50 + 3640
    assert s.poll(nxt) is Cause.PERIODIC


def test_error_retry_delays_then_recovery() -> None:
    s = sched(periodic_s=3600, random_delay_s=0, retry_delays_s=(1800, 3600, 7200))
    s.start(T0)
    now = T0
    waits = []
    for _ in range(5):
        assert s.poll(now) in (Cause.BOOT, Cause.RETRY)
        s.fetch_done(now, ok=False)
        timer = s.get_timer()
        assert timer is not None
        waits.append(timer - now)
        now = timer
    assert waits == [1800, 3600, 7200, 7200, 7200]  # the last delay repeats
    assert Cause.PERIODIC not in s.deadlines  # suspended while retrying
    assert s.poll(now) is Cause.RETRY
    s.fetch_done(now, ok=True)
    assert s.failures == 0
    assert s.get_timer() == now + 3600


def test_daily_time_of_day_in_local_zone_with_spread() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    s = ResyncScheduler(
        ResyncPolicy(on_boot=False, periodic_s=0, at_hhmm="0230", at_random_delay_s=600),
        berlin,
        random.Random(3),
    )
    s.start(T0)  # 13:00 in Berlin
    due = s.deadlines[Cause.DAILY]
    planned = datetime(2026, 11, 25, 2, 30, tzinfo=berlin).timestamp()
    assert planned <= due <= planned + 600
    assert s.get_timer() == due
    assert s.poll(due) is Cause.DAILY
    s.fetch_done(due + 5, ok=True)
    assert s.deadlines[Cause.DAILY] >= planned + 86400  # the next day


def test_next_time_of_day() -> None:
    assert next_time_of_day(T0, "1200", UTC) == T0 + 86400  # strictly after now
    assert next_time_of_day(T0, "1201", UTC) == T0 + 60
    assert next_time_of_day(T0, "0000", UTC) == T0 + 12 * 3600


def test_manual_trigger_waits_for_a_running_fetch() -> None:
    s = sched(periodic_s=0, random_delay_s=0)
    s.start(T0)
    assert s.poll(T0) is Cause.BOOT
    s.trigger(Cause.MANUAL, T0 + 1)
    assert s.poll(T0 + 1) is None
    s.fetch_done(T0 + 2, ok=True)
    assert s.get_timer() == T0 + 1
    assert s.poll(T0 + 2) is Cause.MANUAL
    s.fetch_done(T0 + 3, ok=True)
    assert s.get_timer() is None  # periodic 0 = never


def test_out_of_turn_calls_are_errors() -> None:
    s = sched()
    with pytest.raises(SchedulerError):
        s.fetch_done(T0, ok=True)


def test_policy_from_config_and_update() -> None:
    config = config_from_data(
        {"provisioning": {"resync_periodic_s": 600, "error_retry_delays_s": [60, 120]}}
    )
    policy = ResyncPolicy.from_config(config)
    assert policy.periodic_s == 600
    assert policy.retry_delays_s == (60, 120)
    assert ResyncPolicy.from_config(Config()).retry_delays_s == (1800, 3600, 7200)
    s = sched(on_boot=False, periodic_s=3600, random_delay_s=0)
    s.start(T0)
    assert s.get_timer() == T0 + 3600
    s.set_policy(ResyncPolicy(on_boot=False, periodic_s=60, random_delay_s=0), T0 + 10)
    assert s.get_timer() == T0 + 70


@settings(max_examples=80, deadline=None)
@given(
    outcomes=st.lists(st.booleans(), min_size=1, max_size=30),
    periodic=st.integers(0, 10_000),
    delay=st.integers(0, 300),
    retries=st.lists(st.integers(1, 10_000), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_schedule_property(
    outcomes: list[bool], periodic: int, delay: int, retries: list[int], seed: int
) -> None:
    """Each next deadline follows from the last outcome; time never runs backwards."""
    s = ResyncScheduler(
        ResyncPolicy(periodic_s=periodic, random_delay_s=delay, retry_delays_s=tuple(retries)),
        UTC,
        random.Random(seed),
    )
    s.start(T0)
    now = T0
    failures = 0
    for ok in outcomes:
        timer = s.get_timer()
        if timer is None:
            assert periodic == 0
            assert failures == 0
            return
        assert timer >= now
        now = timer
        assert s.poll(now) is not None
        s.fetch_done(now, ok)
        failures = 0 if ok else failures + 1
        nxt = s.get_timer()
        if ok and periodic:
            assert nxt is not None
            assert now + periodic <= nxt <= now + periodic + delay
        elif not ok:
            assert nxt == now + retries[min(failures, len(retries)) - 1]
