"""DTMF receiver and generator against Q.24-style tables, on real signals after a µ-law round trip.

Every test builds audio from independent float tone synthesis (``dtmf_tone``), passes it through
G.711 (µ-law or A-law), optionally adds white noise, and feeds the receiver 20 ms frames.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.dsp.dtmf import (
    DIGITS,
    DigitEnd,
    DigitStart,
    DtmfError,
    DtmfEvent,
    DtmfGenerator,
    DtmfReceiver,
    decode_digits,
    dtmf_frequencies,
    dtmf_tone,
)
from ata.dsp.levels import rms_dbm0
from tests.dsp.dtmf_support import add_noise, alaw_round_trip, ulaw_round_trip

RATE = 8000


def sequence(
    digits: str,
    on_s: float,
    off_s: float,
    *,
    level: float = -10.0,
    twist: float = 0.0,
    offset: float = 0.0,
    lead: int = 0,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Float audio and the true (start, end) sample of each tone."""
    parts = [np.zeros(lead)]
    truth = []
    pos = lead
    for d in digits:
        tone = dtmf_tone(d, on_s, level_dbm0=level, twist_db=twist, freq_offset=offset)
        parts += [tone, np.zeros(round(off_s * RATE))]
        truth.append((pos, pos + tone.shape[0]))
        pos += tone.shape[0] + round(off_s * RATE)
    parts.append(np.zeros(800))
    return np.concatenate(parts), truth


def run(samples: np.ndarray, frame: int = 160) -> list[DtmfEvent]:
    rx = DtmfReceiver()
    events: list[DtmfEvent] = []
    x = np.asarray(samples)
    for i in range(0, x.shape[0], frame):
        events += rx.process(x[i : i + frame])
    return events + rx.finish()


def digits_of(events: list[DtmfEvent]) -> str:
    return "".join(e.digit for e in events if isinstance(e, DigitStart))


def test_all_16_digits_at_minus10_50ms_on_50ms_off_after_ulaw() -> None:
    audio, truth = sequence(DIGITS, 0.05, 0.05, lead=333)
    events = run(ulaw_round_trip(audio))
    assert digits_of(events) == DIGITS
    starts = [e for e in events if isinstance(e, DigitStart)]
    ends = [e for e in events if isinstance(e, DigitEnd)]
    assert len(ends) == 16
    for (t0, t1), s, e in zip(truth, starts, ends, strict=True):
        assert abs(s.sample - t0) <= 16, (s, t0)  # within 2 ms
        assert abs(e.sample - t1) <= 16, (e, t1)
        assert e.start_sample == s.sample
        assert s.detected_at <= t0 + 45 * 8  # start event within 45 ms of the tone start
        assert -11.0 <= s.level_low_dbm0 <= -9.0
        assert -11.0 <= s.level_high_dbm0 <= -9.0


def test_alaw_path_decodes_too() -> None:
    audio, _ = sequence("159#D", 0.06, 0.06)
    assert digits_of(run(alaw_round_trip(audio))) == "159#D"


@pytest.mark.parametrize("offset", [-0.015, 0.015])
def test_frequency_offset_within_1_5_percent_is_accepted(offset: float) -> None:
    audio, _ = sequence(DIGITS, 0.05, 0.05, offset=offset)
    assert digits_of(run(ulaw_round_trip(audio))) == DIGITS


@pytest.mark.parametrize("offset", [-0.035, -0.03, 0.03, 0.035, 0.05])
def test_frequency_offset_beyond_3_percent_is_rejected(offset: float) -> None:
    audio, _ = sequence(DIGITS, 0.05, 0.05, offset=offset)
    assert digits_of(run(ulaw_round_trip(audio))) == ""


@pytest.mark.parametrize(("twist", "level"), [(-8.0, -10.0), (4.0, -14.0)])
def test_twist_low_8db_stronger_and_high_4db_stronger_accepted(twist: float, level: float) -> None:
    # twist = high minus low: −8 → low group 8 dB stronger; +4 → high group 4 dB stronger.
    audio, _ = sequence(DIGITS, 0.05, 0.05, level=level, twist=twist)
    assert digits_of(run(ulaw_round_trip(audio))) == DIGITS


def test_twist_far_beyond_limits_rejected() -> None:
    audio, _ = sequence(DIGITS, 0.05, 0.05, level=-6.0, twist=-14.0)
    assert digits_of(run(ulaw_round_trip(audio))) == ""
    audio, _ = sequence(DIGITS, 0.05, 0.05, level=-20.0, twist=10.0)
    assert digits_of(run(ulaw_round_trip(audio))) == ""


@pytest.mark.parametrize("level", [-25.0, -36.0, -42.0])
def test_sensitivity_down_to_minus42_dbm0_per_tone(level: float) -> None:
    audio, _ = sequence(DIGITS, 0.05, 0.05, level=level)
    assert digits_of(run(ulaw_round_trip(audio))) == DIGITS


def test_below_threshold_is_ignored() -> None:
    audio, _ = sequence(DIGITS, 0.05, 0.05, level=-50.0)
    assert digits_of(run(ulaw_round_trip(audio))) == ""


def test_100_of_100_at_6db_snr_white_noise() -> None:
    rng = np.random.default_rng(6)
    ok = 0
    for k in range(100):
        d = DIGITS[k % 16]
        audio, truth = sequence(d, 0.05, 0.05, lead=int(rng.integers(0, 400)))
        s0, s1 = truth[0]
        power = float(np.mean(audio[s0:s1] ** 2))
        noisy = add_noise(audio, 6.0, power, rng)
        ok += digits_of(run(ulaw_round_trip(noisy))) == d
    assert ok == 100


def test_tones_of_40ms_always_detected_bursts_of_20ms_never() -> None:
    rng = np.random.default_rng(40)
    for k in range(48):
        d = DIGITS[k % 16]
        lead = int(rng.integers(0, 400))  # every alignment against the 5 ms blocks
        long_tone, _ = sequence(d, 0.040, 0.1, lead=lead)
        burst, _ = sequence(d, 0.020, 0.1, lead=lead)
        assert digits_of(run(ulaw_round_trip(long_tone))) == d
        assert digits_of(run(ulaw_round_trip(burst))) == ""


def test_two_digits_with_40ms_gap_both_detected_none_doubled() -> None:
    rng = np.random.default_rng(41)
    for k in range(32):
        d = DIGITS[k % 16]
        audio, _ = sequence(d + d, 0.045, 0.040, lead=int(rng.integers(0, 400)))
        assert digits_of(run(ulaw_round_trip(audio))) == d + d


def test_40ms_tones_with_40ms_gaps_different_and_equal_digits() -> None:
    rng = np.random.default_rng(42)
    for k in range(32):
        d, e = DIGITS[k % 16], DIGITS[(k * 7 + 3) % 16]
        audio, _ = sequence(d + e + d + d, 0.040, 0.040, lead=int(rng.integers(0, 400)))
        assert digits_of(run(ulaw_round_trip(audio))) == d + e + d + d


def test_long_noisy_tone_is_one_digit() -> None:
    rng = np.random.default_rng(3)
    audio, truth = sequence("5", 1.5, 0.1)
    power = float(np.mean(audio[truth[0][0] : truth[0][1]] ** 2))
    events = run(ulaw_round_trip(add_noise(audio, 8.0, power, rng)))
    assert digits_of(events) == "5"
    (end,) = [e for e in events if isinstance(e, DigitEnd)]
    assert abs(end.duration_s - 1.5) < 0.01


def test_ten_digits_per_second() -> None:
    audio, _ = sequence("0123456789" * 2, 0.05, 0.05)
    assert digits_of(run(ulaw_round_trip(audio))) == "0123456789" * 2


def test_dtmf_during_dial_tone_and_under_dial_tone_speechless() -> None:
    t = np.arange(RATE * 2) / RATE
    dial = (
        10 ** ((-13 - 3.14) / 20)
        * 32767
        * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    )
    audio, _ = sequence("7", 0.06, 0.1, lead=4000)
    mix = dial[: audio.shape[0]] * 0.1 + audio  # dial tone echo 20 dB down under the digit
    assert digits_of(run(ulaw_round_trip(mix))) == "7"
    assert digits_of(run(ulaw_round_trip(dial))) == ""


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=40), st.sampled_from(DIGITS))
def test_events_do_not_depend_on_how_the_stream_is_chunked(sizes: list[int], d: str) -> None:
    audio, _ = sequence(d * 2, 0.06, 0.05, lead=123)
    x = ulaw_round_trip(audio)
    reference = run(x)
    rx = DtmfReceiver()
    events: list[DtmfEvent] = []
    pos = 0
    k = 0
    while pos < x.shape[0]:
        n = sizes[k % len(sizes)]
        events += rx.process(x[pos : pos + n])
        pos += n
        k += 1
    events += rx.finish()
    assert [(type(e), e.digit, e.sample) for e in events] == [
        (type(e), e.digit, e.sample) for e in reference
    ]


def test_receiver_survives_garbage() -> None:
    rx = DtmfReceiver()
    rng = np.random.default_rng(0)
    loud = rng.integers(-32768, 32767, 160 * 50).astype(np.int16)
    events = rx.process(loud) + rx.process(np.zeros(0, dtype=np.int16)) + rx.finish()
    assert digits_of(events) == ""
    assert rx.samples_seen % 160 == 0


# -- generator -------------------------------------------------------------------------------


def test_generator_levels_and_twist() -> None:
    gen = DtmfGenerator(level_dbm0=-11.0, twist_db=2.0, on_ms=200, off_ms=0)
    x = gen.render("5").astype(np.float64)
    lo, hi = dtmf_frequencies("5")
    t = np.arange(x.shape[0]) / RATE
    for f, want in ((lo, -11.0), (hi, -9.0)):
        c = 2 * np.abs(np.mean(x * np.exp(-2j * np.pi * f * t)))  # peak amplitude at f
        got = rms_dbm0(c * np.sin(2 * np.pi * f * t))
        assert abs(got - want) < 0.1
    assert abs(rms_dbm0(x) - 10 * np.log10(10**-1.1 + 10**-0.9)) < 0.1


def test_generator_timing_is_sample_exact_and_frames_are_continuous() -> None:
    gen = DtmfGenerator(on_ms=70, off_ms=30)
    gen.queue("12")
    frames = [gen.next_frame() for _ in range(10)]
    x = np.concatenate(frames)
    on = np.abs(x) > 0
    # digit 1: samples 0..559 on, 560..799 off; digit 2 from 800 to 1359
    assert on[:560].sum() >= 555
    assert not on[560:800].any()
    assert not on[1360:].any()
    ref = DtmfGenerator(on_ms=70, off_ms=30).render("12")
    assert np.array_equal(x[: ref.shape[0]], ref)
    assert not gen.busy


def test_generator_rejects_bad_input() -> None:
    with pytest.raises(DtmfError):
        DtmfGenerator().queue("1x")
    with pytest.raises(DtmfError):
        DtmfGenerator(level_dbm0=2.0, twist_db=2.0)


def test_generated_digits_round_trip_through_receiver() -> None:
    gen = DtmfGenerator(level_dbm0=-20.0, twist_db=3.0, on_ms=45, off_ms=45)
    assert decode_digits(ulaw_round_trip(gen.render(DIGITS))) == DIGITS


def test_active_digit_and_reset() -> None:
    audio, truth = sequence("8", 0.2, 0.05, lead=160)
    x = ulaw_round_trip(audio)
    rx = DtmfReceiver()
    seen = []
    starts = []
    for i in range(0, 160 * 14, 160):
        rx.process(x[i : i + 160])
        seen.append(rx.active_digit)
        starts.append(rx.active_start_sample)
    assert seen[0] is None
    assert seen[5] == "8"
    assert seen[-1] is None  # 200 ms tone over by 280 ms
    start = starts[5]
    assert start is not None
    assert abs(start - truth[0][0]) <= 16
    rx.reset()
    assert rx.active_digit is None
    assert rx.samples_seen == 0
    assert digits_of(rx.process(x) + rx.finish()) == "8"


def test_generator_clear_drops_queue() -> None:
    gen = DtmfGenerator(on_ms=100, off_ms=100)
    gen.queue("123")
    gen.next_frame()
    gen.clear()
    assert not gen.busy
    assert not gen.next_frame().any()
