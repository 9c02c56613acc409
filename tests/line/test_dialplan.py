"""Dial plan grammar (Cisco SPA digit maps) and the digit collector, on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.line.dialplan import (
    DialPlan,
    DialPlanError,
    DigitCollector,
    MatchKind,
    Outcome,
    match_rule,
)

US_PLAN = (
    "(*xx|[3469]11S0|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxx|xxxxxxxxxxxx.|<8:1650>xxxxxxx"
    "|<:1>[2-9]xxxxxxxxx|9,1xxxxxxxxxx|1900xxxxxxx!|<9:>xxxx)"
)


def run(plan: str, keys: str, *, key_gap: float = 0.5, wait: float = 60.0):
    """Dial ``keys`` with ``key_gap`` s between them, then let the timers run out."""
    collector = DigitCollector(DialPlan.parse(plan))
    now = 0.0
    decision = collector.start(now)
    for key in keys:
        if decision.outcome is not Outcome.COLLECTING:
            break
        now += key_gap
        deadline = collector.get_timer()
        if deadline is not None and deadline <= now:
            decision = collector.handle_timer(deadline)
            if decision.outcome is not Outcome.COLLECTING:
                return decision, deadline
        decision = collector.key(key, now)
    end = now + wait
    while decision.outcome is Outcome.COLLECTING:
        deadline = collector.get_timer()
        assert deadline is not None, "a collecting state always has a timer"
        assert deadline <= end, "timer beyond the waiting window"
        now = deadline
        decision = collector.handle_timer(now)
    return decision, now


@pytest.mark.parametrize(
    ("keys", "number", "decided_at"),
    [
        ("911", "911", 1.5),  # S0 on the rule: placed as soon as it matches
        ("*72", "*72", 1.5),  # only rule that matches, nothing longer possible
        ("5551234", "5551234", 3.5 + 3.0),  # could still grow into <:1>[2-9]xxxxxxxxx
        ("16505551234", "16505551234", 5.5 + 3.0),  # xxxxxxxxxxxx. may grow: short timer
        ("82345678", "16502345678", 4.0 + 3.0),  # <8:1650> substitution
        ("6505551234", "16505551234", 5.0 + 3.0),  # <:1> prefix; xxxxxxxxxxxx. may grow
        ("0", "0", 0.5 + 3.0),  # '0' complete but '00' possible: short timer
        ("00", "00", 1.0 + 3.0),  # xxxxxxxxxxxx. could still grow
    ],
)
def test_us_plan_places_calls(keys: str, number: str, decided_at: float) -> None:
    decision, at = run(US_PLAN, keys)
    assert decision.outcome is Outcome.DIAL
    assert decision.number == number
    assert at == pytest.approx(decided_at)


def test_barred_number_gets_reorder() -> None:
    decision, _ = run("(1900xxxxxxx!|1xxxxxxxxxx)", "19005551234")
    assert decision.outcome is Outcome.REJECT
    assert "barred" in decision.reason


def test_impossible_number_rejected_at_once() -> None:
    decision, at = run("(1xxx|2xx)", "3")
    assert decision.outcome is Outcome.REJECT
    assert at == pytest.approx(0.5)


def test_incomplete_number_rejected_after_long_timer() -> None:
    decision, at = run("(1xxxx)", "12")
    assert decision.outcome is Outcome.REJECT
    assert "incomplete" in decision.reason
    assert at == pytest.approx(1.0 + 10.0)


def test_nothing_dialled_times_out_on_long_timer() -> None:
    decision, at = run("(xxxx)", "")
    assert decision.outcome is Outcome.REJECT
    assert at == pytest.approx(10.0)


def test_plan_level_timer_prefix() -> None:
    decision, at = run("L:4,S:1,(1xxx|1xxx.)", "1234")
    assert decision.outcome is Outcome.DIAL
    assert at == pytest.approx(2.0 + 1.0)
    decision, at = run("L:4,S:1,(1xxx)", "12")
    assert decision.outcome is Outcome.REJECT
    assert at == pytest.approx(1.0 + 4.0)


def test_rule_level_long_timer() -> None:
    decision, at = run("(1xxxL2)", "12")
    assert decision.outcome is Outcome.REJECT
    assert at == pytest.approx(1.0 + 2.0)


def test_hash_dials_now() -> None:
    decision, at = run("(xxxxxxxx.)", "5551234#", wait=0)
    assert decision.outcome is Outcome.DIAL
    assert decision.number == "5551234"
    assert at == pytest.approx(4.0)


def test_hash_as_literal_when_a_rule_accepts_it() -> None:
    decision, _ = run("(*xx#|xxx)", "*21#")
    assert decision.outcome is Outcome.DIAL
    assert decision.number == "*21#"


def test_hotline_dials_at_off_hook() -> None:
    collector = DigitCollector(DialPlan.parse("(S0 <:12125551234>)"))
    decision = collector.start(100.0)
    assert decision.outcome is Outcome.DIAL
    assert decision.number == "12125551234"


def test_warmline_fires_after_pause_unless_a_key_is_dialled() -> None:
    plan = "(P5 <:1000>|xxxx)"
    decision, at = run(plan, "")
    assert decision.outcome is Outcome.DIAL
    assert decision.number == "1000"
    assert at == pytest.approx(5.0)
    decision, _ = run(plan, "2345")
    assert decision.outcome is Outcome.DIAL
    assert decision.number == "2345"


def test_second_dial_tone_after_outside_line_prefix() -> None:
    collector = DigitCollector(DialPlan.parse("(9,1xxxxxxxxxx|[2-8]xxx)"))
    collector.start(0.0)
    assert collector.key("9", 1.0).second_dial_tone
    assert not collector.key("1", 2.0).second_dial_tone


def test_gateway_suffix_is_parsed() -> None:
    plan = DialPlan.parse("(<#9:@gw0>xxxxxxx.|xxxx)")
    assert plan.rules[0].gateway == "gw0"
    found = match_rule(plan.rules[0], "#95551234")
    assert found.kind is MatchKind.COMPLETE
    assert found.number == "5551234"


@pytest.mark.parametrize(
    ("plan", "column", "reason"),
    [
        ("(xx|", 5, "empty rule"),
        ("(xx", 4, "missing ')'"),
        ("([9-2]xx)", 3, "range"),
        ("(.x)", 2, "'.' must follow"),
        ("(1x!x)", 5, "'!' must end"),
        ("(<1x)", 2, "'>'"),
        ("(xSx)", 3, "number of seconds"),
        ("(x[12)", 6, "not a key inside a set"),
        ("(x[12", 3, "missing its ']'"),
        ("(xy)", 3, "unexpected 'y'"),
        ("", 1, "empty dial plan"),
    ],
)
def test_malformed_plans_are_refused_with_position(plan: str, column: int, reason: str) -> None:
    with pytest.raises(DialPlanError) as info:
        DialPlan.parse(plan)
    assert reason in info.value.reason
    assert info.value.position + 1 == column


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="()|[]<>:.,!xX0123456789*#SLP-@ ", max_size=40),
    st.text(alphabet="0123456789*#", max_size=20),
)
def test_random_plans_parse_or_fail_cleanly(plan: str, keys: str) -> None:
    try:
        parsed = DialPlan.parse(plan)
    except DialPlanError:
        return
    collector = DigitCollector(parsed)
    decision = collector.start(0.0)
    now = 0.0
    for key in keys:
        if decision.outcome is not Outcome.COLLECTING:
            break
        now += 0.1
        decision = collector.key(key, now)
    for _ in range(5):
        if decision.outcome is not Outcome.COLLECTING:
            break
        deadline = collector.get_timer()
        assert deadline is not None
        decision = collector.handle_timer(deadline)
    assert decision.outcome is not Outcome.COLLECTING
