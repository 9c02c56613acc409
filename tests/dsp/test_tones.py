"""Call-progress tones: country tables, levels, frequency accuracy, sample-exact cadences,
phase continuity across frames, ToneScript parsing and errors, ring cadences, the CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.dsp.cadence import (
    DISTINCTIVE,
    RingCadence,
    cadence_for_alert_info,
    country_ring,
    distinctive_name,
    ring_from_script,
)
from ata.dsp.levels import rms_dbm0
from ata.dsp.tone_tables import COUNTRIES, TONE_KINDS, UnknownCountryError, country, tone_plan
from ata.dsp.tones import Component, Section, Step, ToneError, ToneGenerator, TonePlan, steady
from ata.dsp.tonescript import ToneScriptError, parse_tonelist, parse_tonescript
from ata.dsp.wavio import read_wav

RATE = 8000


def measured_freqs(x: np.ndarray, count: int) -> list[float]:
    """The ``count`` strongest spectral lines, by zero-padded FFT + parabolic interpolation."""
    n = 1 << 21
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]), n))
    peaks: list[float] = []
    s = spec.copy()
    for _ in range(count):
        k = int(np.argmax(s))
        a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)
        delta = 0.5 * (a - c) / (a - 2 * b + c)
        peaks.append((k + delta) * RATE / n)
        width = int(n / x.shape[0] * 4)
        s[max(0, k - width) : k + width] = 0
    return sorted(peaks)


def on_runs(x: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of the non-silent runs (gated tones start and stop exactly)."""
    nz = np.concatenate(([0], (x != 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(nz))
    runs = list(zip(edges[::2], edges[1::2] - edges[::2], strict=True))
    # a sine crosses zero now and then: merge runs separated by ≤ 2 zero samples
    merged: list[tuple[int, int]] = []
    for start, length in runs:
        if merged and start - (merged[-1][0] + merged[-1][1]) <= 2:
            merged[-1] = (merged[-1][0], start + length - merged[-1][0])
        else:
            merged.append((int(start), int(length)))
    return merged


def starts(x: np.ndarray) -> list[int]:
    """Run starts, to the sample (a sine gated on at phase 0 has a zero first sample)."""
    return [start - 1 if start > 0 and x[start - 1] == 0 else start for start, _ in on_runs(x)]


def test_at_least_25_countries_with_every_tone_kind() -> None:
    assert len(COUNTRIES) >= 25
    for cc in COUNTRIES:
        for kind in TONE_KINDS:
            plan = tone_plan(cc, kind)
            x = ToneGenerator(plan).render(1.0)
            assert x.shape == (RATE,)
            assert np.abs(x).max() > 100, (cc, kind)


@pytest.mark.parametrize(
    ("cc", "kind", "freqs", "level_each"),
    [
        ("us", "dial", (350.0, 440.0), -13.0),
        ("us", "ringback", (440.0, 480.0), -19.0),
        ("us", "busy", (480.0, 620.0), -24.0),
        ("uk", "dial", (350.0, 440.0), -13.0),
        ("de", "dial", (425.0,), -16.0),
        ("fr", "dial", (440.0,), -13.0),
        ("jp", "dial", (400.0,), -13.0),
        ("au", "dial", (413.0, 438.0), -13.0),
        ("us", "howler", (1400.0, 2060.0, 2450.0, 2600.0), -19.0),
    ],
)
def test_level_within_half_db_and_frequency_within_0_1_percent(
    cc: str, kind: str, freqs: tuple[float, ...], level_each: float
) -> None:
    x = ToneGenerator(tone_plan(cc, kind)).render(4.0).astype(np.float64)
    runs = on_runs(x)
    start, length = max(runs, key=lambda r: r[1])
    on = x[start : start + length]
    want = 10 * math.log10(len(freqs) * 10 ** (level_each / 10))
    assert abs(rms_dbm0(on) - want) <= 0.5
    got = measured_freqs(on, len(freqs))
    for g, f in zip(got, freqs, strict=True):
        assert abs(g - f) / f <= 0.001, (got, freqs)


def test_us_busy_cadence_is_sample_exact() -> None:
    x = ToneGenerator(tone_plan("us", "busy")).render(3.0)
    runs = on_runs(x)
    assert starts(x) == [0, 8000, 16000]
    assert all(abs(length - 4000) <= 2 for _, length in runs)  # a sine may end on a zero


def test_uk_ringback_double_ring_cadence() -> None:
    x = ToneGenerator(tone_plan("uk", "ringback")).render(5.9)
    assert starts(x) == [0, 4800, 24000, 28800]  # 0.4 on, 0.2 off, 0.4 on, 2.0 off


def test_stutter_then_steady_then_silence_script() -> None:
    plan = parse_tonescript("350@-19,440@-19;2(.1/.1/1+2);10(*/0/1+2)")
    assert plan.samples == 12 * RATE
    gen = ToneGenerator(plan)
    x = np.concatenate([gen.next_frame() for _ in range(13 * 50)])
    runs = on_runs(x)
    assert starts(x)[:11] == [i * 1600 for i in range(11)]
    assert abs(runs[10][1] - 80000) <= 2
    assert gen.done
    assert not x[12 * RATE + 2 :].any()


def test_frames_are_phase_continuous_and_equal_one_long_render() -> None:
    plan = tone_plan("us", "dial")
    gen = ToneGenerator(plan)
    frames = np.concatenate([gen.next_frame() for _ in range(100)])
    whole = ToneGenerator(plan).render(2.0)
    assert np.array_equal(frames, whole)
    t = np.arange(frames.shape[0]) / RATE
    a = 32767 * 10 ** ((-13 - 3.14) / 20)
    ideal = a * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    assert np.max(np.abs(frames - ideal)) <= 1.0  # only int16 rounding


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=20))
def test_any_frame_sizes_give_the_same_waveform(sizes: list[int]) -> None:
    plan = tone_plan("it", "dial")  # 425 Hz 200/200/600/1000 cadence
    gen = ToneGenerator(plan)
    chunks = []
    total = 0
    k = 0
    while total < 12000:
        n = sizes[k % len(sizes)]
        chunks.append(gen.next_frame(n))
        total += n
        k += 1
    x = np.concatenate(chunks)[:12000]
    assert np.array_equal(x, ToneGenerator(plan).render(1.5))


def test_amplitude_modulated_tone_keeps_its_level() -> None:
    x = ToneGenerator(tone_plan("in", "dial")).render(2.0).astype(np.float64)
    assert abs(rms_dbm0(x) - (-13.0)) <= 0.5
    env = np.abs(x).reshape(-1, 20).max(axis=1)  # 400 Hz carrier, 25 Hz envelope
    assert env.max() / max(env.min(), 1.0) > 5.0


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ("", "1…512"),
        ("350@-19", "freqs;cadence"),
        ("350;10(*/0/1)", "Hz@dBm0"),
        ("350@x;1(1/1/1)", "'x' is not a number"),
        ("350@-19;10(*/0/3)", "not in 1…1"),
        ("350@-19;10(1/1)", "on/off/freqs"),
        ("350@-19;10 *(1/1/1)", "duration"),
        ("5000@-19;1(1/1/1)", "outside"),
        ("350@-99;1(1/1/1)", "level"),
        ("350@-19;1(0/0/1)", "zero"),
        ("350@-19;1(1/1/1", "duration(on/off/freqs)"),
        ("350@-19;1(-1/1/1)", "outside 0…86400"),
        ("1@1,2@1,3@1,4@1,5@1,6@1,7@1;1(1/1/1)", "at most 6"),
    ],
)
def test_malformed_tonescripts_are_refused_with_a_reason(script: str, fragment: str) -> None:
    with pytest.raises(ToneScriptError) as err:
        parse_tonescript(script)
    assert fragment in str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.@,;()/*+-x ", max_size=60))
def test_tonescript_parser_never_fails_unexpectedly(script: str) -> None:
    try:
        plan = parse_tonescript(script)
    except ToneScriptError:
        return
    ToneGenerator(plan).next_frame()  # whatever parses, plays


def test_cisco_examples_parse() -> None:
    dial = parse_tonescript("350@-19,440@-19;10(*/0/1+2)")
    busy = parse_tonescript("480@-19,620@-19;10(.5/.5/1+2)")
    assert dial.samples == busy.samples == 10 * RATE
    assert dial.frequencies == (350.0, 440.0)
    x = ToneGenerator(busy).render(2.0)
    assert starts(x) == [0, 8000]


def test_plan_validation() -> None:
    with pytest.raises(ToneError):
        Component(0.0, -10.0)
    with pytest.raises(ToneError):
        Section((Step((), 0),), None)
    with pytest.raises(ToneError):
        TonePlan(())
    with pytest.raises(UnknownCountryError):
        tone_plan("xx", "dial")
    with pytest.raises(KeyError):
        tone_plan("us", "fanfare")
    assert country("GB").code == "uk"
    assert steady([1000.0], -10.0).samples is None


def test_tonelist_intro_then_loop() -> None:
    plan = parse_tonelist("!425/100,!0/100,425/300,0/300", -13.0)
    x = ToneGenerator(plan).render(1.6)
    assert starts(x) == [0, 1600, 6400, 11200]


# -- ring cadences ------------------------------------------------------------------------------


def test_bellcore_distinctive_rings_r1_to_r8() -> None:
    assert set(DISTINCTIVE) == {f"r{i}" for i in range(1, 9)}
    assert DISTINCTIVE["r1"].segments == ((2.0, 4.0),)
    assert DISTINCTIVE["r2"].segments == ((0.8, 0.4), (0.8, 4.0))
    assert DISTINCTIVE["r3"].segments == ((0.4, 0.2), (0.4, 0.2), (0.8, 4.0))
    assert DISTINCTIVE["r5"].max_s == 1.0


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("<http://127.0.0.1/Bellcore-dr2>", "r2"),
        ("<http://127.0.0.1/Bellcore-r3>", "r3"),
        ("<http://www.notused.com>;info=alert-internal", "r2"),
        ("<http://x>;info=alert-external", "r1"),
        ("info=ring5", "r5"),
        ("<urn:alert:source:internal>", "r2"),
        ("<http://example.com/ring.wav>", None),
        ("garbage <<<;;==", None),
    ],
)
def test_alert_info_mapping(header: str, name: str | None) -> None:
    assert distinctive_name(header) == name
    cad = cadence_for_alert_info(header)
    assert (cad.name if cad else None) == name


def test_country_rings_and_cadence_timing() -> None:
    assert country_ring("us").segments == ((2.0, 4.0),)
    assert country_ring("uk").segments == ((0.4, 0.2), (0.4, 2.0))
    cad = ring_from_script("60(.8/.4,.8/4)")
    assert cad.is_ringing(0.1)
    assert not cad.is_ringing(1.0)
    assert cad.is_ringing(1.5)
    assert not cad.is_ringing(60.5)
    with pytest.raises(ToneScriptError):
        ring_from_script("60(*/4)")
    with pytest.raises(ValueError, match="on > 0"):
        RingCadence(((0.0, 1.0),))


# -- CLI ------------------------------------------------------------------------------------


def run_ata(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ata", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_tone_writes_the_requested_tone(tmp_path: Path) -> None:
    out = tmp_path / "busy.wav"
    res = run_ata(
        "dsp", "tone", "--country", "de", "--tone", "busy", "--seconds", "2", "-o", str(out)
    )
    assert res.returncode == 0, res.stderr
    x = read_wav(out)
    assert x.shape == (2 * RATE,)
    assert starts(x) == [0, 7680, 15360]  # 480 on, 480 off
    bad = run_ata("dsp", "tone", "--script", "350@-19;x(1/1/1)", "-o", str(out))
    assert bad.returncode == 2
    assert "not a number" in bad.stdout


def test_cli_tone_script(tmp_path: Path) -> None:
    out = tmp_path / "s.wav"
    res = run_ata(
        "dsp",
        "tone",
        "--script",
        "480@-19,620@-19;10(.5/.5/1+2)",
        "--seconds",
        "1.2",
        "-o",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    x = read_wav(out).astype(np.float64)
    assert measured_freqs(x[:4000], 2) == pytest.approx([480.0, 620.0], rel=1e-3)


def test_restart_replays_the_plan() -> None:
    gen = ToneGenerator(parse_tonescript("440@-10;0.1(*/0/1)"))
    first = gen.render(0.2)
    assert gen.done
    gen.restart()
    again = gen.render(0.2)
    assert on_runs(first)[0][1] >= 798
    assert on_runs(again)[0][1] >= 798


def test_fractional_frequency_is_continuous_across_seconds() -> None:
    gen = ToneGenerator(steady([1000.5], -10.0))
    x = gen.render(2.5).astype(np.float64)
    t = np.arange(x.shape[0]) / RATE
    ideal = 32767 * 10 ** ((-10 - 3.14) / 20) * np.sin(2 * np.pi * 1000.5 * t)
    assert np.max(np.abs(x - ideal)) <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 40),  # section duration, 0.1 s units
            st.lists(st.tuples(st.integers(1, 300), st.integers(0, 300)), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_tonescript_cadences_are_sample_exact(
    sections: list[tuple[int, list[tuple[int, int]]]],
) -> None:
    """Whatever the script, the tone is on for exactly the samples the script says."""
    text = ";".join(
        f"{dur / 10:g}(" + ",".join(f"{on / 1000:g}/{off / 1000:g}/1" for on, off in segs) + ")"
        for dur, segs in sections
    )
    plan = parse_tonescript("997@-10;" + text)
    expected = np.zeros(0, dtype=bool)
    for dur, segs in sections:
        cycle = np.concatenate(
            [np.r_[np.ones(on * 8, bool), np.zeros(off * 8, bool)] for on, off in segs]
        )
        total = dur * 800
        reps = -(-total // cycle.shape[0])
        expected = np.concatenate((expected, np.tile(cycle, reps)[:total]))
    assert plan.samples == expected.shape[0]
    x = ToneGenerator(plan).render(expected.shape[0] / RATE + 0.05)
    on = x[: expected.shape[0]] != 0
    zero_crossing = np.arange(expected.shape[0]) % 4000 == 0  # sin(2π·997·n/8000) = 0 there only
    assert np.array_equal(on, expected & ~zero_crossing)
    assert not x[expected.shape[0] :].any()  # and silent after the last section
