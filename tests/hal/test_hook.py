"""The shared hook classifier: debounce, pulse digits, flash, hang-up (with hypothesis sweeps)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.hook import DigitCoding, HookClassifier, HookWindows
from hal.line import Flash, HookEvent, OffHook, OnHook, PulseDigit

W = HookWindows()


@dataclass
class Script:
    """Raw edges generated from a description of what the user did, plus the expected events."""

    edges: list[tuple[bool, float]] = field(default_factory=list)
    expected: list[HookEvent] = field(default_factory=list)
    t: float = 1.0
    level: bool = False
    bounce: list[float] = field(default_factory=list)  # per-edge bounce pattern (seconds)

    def edge(self, level: bool, at: float, bounce: tuple[float, float] | None = None) -> float:
        """Add an edge; with a bounce the contact chatters and settles later. Returns settle."""
        self.edges.append((level, at))
        if bounce is None:
            self.level = level
            return at
        a, b = bounce
        self.edges.append((not level, at + a))
        self.edges.append((level, at + a + b))
        self.level = level
        return at + a + b


def run(edges: list[tuple[bool, float]], windows: HookWindows = W) -> list[HookEvent]:
    c = HookClassifier(windows)
    out: list[HookEvent] = []
    for level, at in edges:
        c.handle_transition(level, at)
        out.extend(c.events())
    last = edges[-1][1] if edges else 0.0
    c.handle_timer(last + 5.0)
    out.extend(c.events())
    return out


def close(a: HookEvent, b: HookEvent, tol: float) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, PulseDigit) and isinstance(b, PulseDigit):
        return a.digit == b.digit and a.pulses == b.pulses and abs(a.at - b.at) <= tol
    if isinstance(a, Flash) and isinstance(b, Flash):
        return abs(a.at - b.at) <= tol and abs(a.duration - b.duration) <= tol
    return abs(a.at - b.at) <= tol  # type: ignore[union-attr]


# --- deterministic examples -----


def pulse_train(
    start: float, pulses: int, pps: float, ratio: float
) -> tuple[list[tuple[bool, float]], float]:
    period = 1.0 / pps
    edges = []
    t = start
    for _ in range(pulses):
        edges.append((False, t))
        edges.append((True, t + period * ratio))
        t += period
    return edges, t - period * (1 - ratio)  # the time of the last make edge


def test_off_hook_then_hang_up() -> None:
    events = run([(True, 1.0), (False, 5.0)])
    assert events == [OffHook(1.0), OnHook(5.0)]


@pytest.mark.parametrize(
    ("coding", "pulses", "digit"),
    [
        (DigitCoding.STANDARD, 1, "1"),
        (DigitCoding.STANDARD, 10, "0"),
        (DigitCoding.SWEDEN, 1, "0"),
        (DigitCoding.SWEDEN, 10, "9"),
        (DigitCoding.NEW_ZEALAND, 1, "9"),
        (DigitCoding.NEW_ZEALAND, 10, "0"),
        (DigitCoding.NEW_ZEALAND, 3, "7"),
    ],
)
def test_digit_coding(coding: DigitCoding, pulses: int, digit: str) -> None:
    train, last_make = pulse_train(2.0, pulses, 10.0, 0.6)
    events = run([(True, 1.0), *train], HookWindows(coding=coding))
    assert events == [OffHook(1.0), PulseDigit(digit, pulses, last_make + W.digit_end_s)]
    assert coding.digit(coding.pulses(digit)) == digit


@pytest.mark.parametrize("pps", [8.0, 12.0, 20.0])
@pytest.mark.parametrize("ratio", [0.55, 0.72])
@pytest.mark.parametrize("jitter", [-0.03, 0.0, 0.03])
def test_pulse_corners(pps: float, ratio: float, jitter: float) -> None:
    train, last_make = pulse_train(2.0, 10, pps * (1 + jitter), ratio)
    assert run([(True, 1.0), *train]) == [
        OffHook(1.0),
        PulseDigit("0", 10, pytest.approx(last_make + W.digit_end_s)),
    ]


def test_flash_window_edges_and_beyond() -> None:
    for length, expect_flash in [(0.1, True), (0.9, True), (0.5, True), (0.097, False)]:
        events = run([(True, 1.0), (False, 2.0), (True, 2.0 + length)])
        if expect_flash:
            assert events == [OffHook(1.0), Flash(2.0 + length, pytest.approx(length))]
        else:
            assert events == [OffHook(1.0)]  # between the pulse and flash windows: ignored
    # Longer than the flash maximum is a hang-up, then a new off-hook.
    events = run([(True, 1.0), (False, 2.0), (True, 2.95)])
    assert events == [OffHook(1.0), OnHook(2.0), OffHook(2.95)]


def test_flash_just_inside_max_while_debounce_pending() -> None:
    """The off-hook edge 2 ms before the flash maximum settles after it: still a flash."""
    events = run([(True, 1.0), (False, 2.0), (True, 2.898)])
    assert events == [OffHook(1.0), Flash(2.898, pytest.approx(0.898))]


def test_bounces_shorter_than_debounce_are_ignored_and_counted() -> None:
    c = HookClassifier()
    c.handle_transition(True, 1.0)
    c.handle_transition(False, 1.003)
    c.handle_transition(True, 1.004)
    c.handle_transition(False, 1.005)
    c.handle_timer(3.0)
    assert c.events() == []
    assert c.bounces >= 1
    assert not c.off_hook


def test_interrupted_digit_and_overlong_trains_are_dropped() -> None:
    train, _ = pulse_train(2.0, 11, 10.0, 0.6)
    c = HookClassifier()
    for level, at in [(True, 1.0), *train]:
        c.handle_transition(level, at)
    c.handle_timer(10.0)
    assert c.events() == [OffHook(1.0)]
    assert c.invalid_digits == 1


def test_pulse_dialing_can_be_disabled() -> None:
    train, _ = pulse_train(2.0, 3, 10.0, 0.6)
    events = run([(True, 1.0), *train], HookWindows(pulse_dialing=False))
    assert events == [OffHook(1.0)]


def test_timer_protocol() -> None:
    c = HookClassifier()
    assert c.get_timer() is None
    c.handle_transition(True, 1.0)
    assert c.get_timer() == pytest.approx(1.0 + W.debounce_s)
    c.handle_timer(1.0 + W.debounce_s)
    assert c.next_event() == OffHook(1.0)
    assert c.next_event() is None
    assert c.get_timer() is None


def test_windows_are_validated() -> None:
    with pytest.raises(ValueError, match="hook windows"):
        HookWindows(flash_min_s=0.05)


# --- randomised sweeps -----

# Corners are drawn explicitly as well as the ranges, so every run exercises the extremes.
pps_st = st.one_of(st.sampled_from([8.0, 12.0, 20.0]), st.floats(8.0, 12.0))
ratio_st = st.one_of(st.sampled_from([0.55, 0.72]), st.floats(0.55, 0.72))
jitter_st = st.one_of(st.sampled_from([-0.03, 0.03]), st.floats(-0.03, 0.03))
bounce_st = st.one_of(st.none(), st.tuples(st.floats(0.0002, 0.001), st.floats(0.0002, 0.001)))


@st.composite
def dial_digit(draw: st.DrawFn) -> tuple[str, str, float, float, list[float], list[object]]:
    digit = draw(st.sampled_from("0123456789"))
    pps = draw(pps_st)
    ratio = draw(ratio_st)
    jitters = draw(st.lists(jitter_st, min_size=11, max_size=11))
    bounces = draw(st.lists(bounce_st, min_size=22, max_size=22))
    return ("digit", digit, pps, ratio, jitters, bounces)


@st.composite
def flash(draw: st.DrawFn) -> tuple[str, float, object]:
    return ("flash", draw(st.floats(0.1, 0.9)), draw(bounce_st))


@settings(max_examples=300, deadline=None)
@given(
    actions=st.lists(st.one_of(dial_digit(), flash()), min_size=1, max_size=8),
    pauses=st.lists(st.floats(0.25, 2.0), min_size=8, max_size=8),
    coding=st.sampled_from(list(DigitCoding)),
    hang_up=st.booleans(),
)
def test_sweep_zero_misclassification(
    actions: list[tuple[object, ...]],
    pauses: list[float],
    coding: DigitCoding,
    hang_up: bool,
) -> None:
    """Random pulse rates (8–12, 20 pps), break ratios 55–72 %, jitter ±3 %, flashes anywhere
    in 100–900 ms, inter-digit pauses ≥ 250 ms and contact bounce: every event comes out right."""
    s = Script()
    s.edge(True, s.t)
    s.expected.append(OffHook(s.t))
    t = s.t
    windows = HookWindows(coding=coding)
    for i, action in enumerate(actions):
        t += pauses[i]
        if action[0] == "flash":
            _, length, bounce = action
            assert isinstance(length, float)
            if bounce is not None:
                length = max(length, 0.1021)  # chatter at the break start shortens it ≤ 2 ms
            s.edge(False, t, bounce)  # type: ignore[arg-type]
            t += length
            settled = s.edge(True, t, None)
            s.expected.append(Flash(settled, length))
            continue
        _, digit, pps, ratio, jitters, extra = action
        assert isinstance(digit, str)
        assert isinstance(pps, float)
        assert isinstance(ratio, float)
        bounces = extra
        n = coding.pulses(digit)
        period = 1.0 / pps
        last_make = t
        for k in range(n):
            j = 1.0 + jitters[k]  # type: ignore[index]
            s.edge(False, t, bounces[2 * k])  # type: ignore[arg-type]
            t += period * ratio * j
            last_make = s.edge(True, t, bounces[2 * k + 1])  # type: ignore[arg-type]
            t += period * (1 - ratio) * j
        t = last_make
        s.expected.append(PulseDigit(digit, n, last_make + windows.digit_end_s))
    if hang_up:
        t += 1.0
        s.edge(False, t)
        s.expected.append(OnHook(t))
    got = run(s.edges, windows)
    assert len(got) == len(s.expected), (got, s.expected)
    for g, e in zip(got, s.expected, strict=True):
        assert close(g, e, 0.0025), (g, e)
