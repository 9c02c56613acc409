"""The phone's own DSP: DTMF acceptance over level/twist/frequency offset, robustness to junk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.sim.phone_cid import CidFramer, CidParseError, FskChar, FskReceiver, parse_message
from hal.sim.phone_dsp import (
    ToneDetector,
    dominant_tones,
    dtmf_frequencies,
    level_dbm0,
    on_off_segments,
    tone,
)
from tests.hal.test_phone_cid import BELL, V23, fsk, mdmf


def detect(x: np.ndarray) -> str:
    det = ToneDetector()
    out = []
    for k in range(0, x.size, 160):
        digits, _ = det.feed(x[k : k + 160], (k + 160) / 8000)
        out += [d.digit for d in digits]
    return "".join(out)


def burst(digit: str, *, low_db: float, high_db: float, offset: float = 0.0, on_s: float = 0.05):
    lo, hi = dtmf_frequencies(digit)
    sig = tone((lo * (1 + offset), hi * (1 + offset)), on_s, (low_db, high_db))
    gap = np.zeros(400, np.int16)
    return np.concatenate([gap, sig, gap])


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
@pytest.mark.parametrize(
    ("low_db", "high_db", "offset"),
    [
        (-3.0, -3.0, 0.0),
        (-25.0, -25.0, 0.0),
        (-10.0, -18.0, 0.0),  # low group 8 dB stronger ("normal" twist)
        (-14.0, -10.0, 0.0),  # high group 4 dB stronger ("reverse" twist)
        (-10.0, -8.0, 0.015),
        (-10.0, -8.0, -0.015),
    ],
)
def test_dtmf_accepted_within_q24_operating_limits(
    digit: str, low_db: float, high_db: float, offset: float
) -> None:
    assert detect(burst(digit, low_db=low_db, high_db=high_db, offset=offset)) == digit


def test_dtmf_outside_limits_and_single_tones_are_rejected() -> None:
    assert detect(burst("5", low_db=-10, high_db=-22)) == ""  # 12 dB twist
    assert detect(tone((770.0,), 0.2, -10.0)) == ""
    assert detect(burst("5", low_db=-45, high_db=-45)) == ""  # below −36 dBm0
    assert detect(burst("5", low_db=-10, high_db=-8, on_s=0.02)) == ""  # 20 ms burst


def test_dtmf_in_noise_at_15_db_snr() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([burst(d, low_db=-13, high_db=-11, on_s=0.06) for d in "159#"])
    xf = x.astype(float)
    power = np.mean(xf[xf != 0] ** 2)
    noisy = xf + rng.normal(0, np.sqrt(power / 10**1.5), x.size)
    assert detect(np.clip(noisy, -32768, 32767).astype(np.int16)) == "159#"


def test_level_and_segments() -> None:
    assert level_dbm0(tone((1000.0,), 1.0, -10.0)) == pytest.approx(-10.0, abs=0.01)
    assert level_dbm0(np.zeros(100)) == -np.inf
    assert level_dbm0(np.zeros(0)) == -np.inf
    assert dominant_tones(np.zeros(10)) == []
    x = np.concatenate([tone((400.0,), 0.4, -20.0), np.zeros(1600, np.int16)] * 2)
    assert on_off_segments(x) == [(True, 0.4), (False, 0.2), (True, 0.4), (False, 0.2)]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_parse_message_only_raises_its_own_error(data: bytes) -> None:
    try:
        cid = parse_message(data, method="bell202", at=0.0)
    except CidParseError:
        return
    assert sum(data) % 256 == 0
    assert cid.raw == data


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 255), max_size=2000))
def test_framer_is_bounded_and_only_returns_checksummed_messages(values: list[int]) -> None:
    framer = CidFramer(max_bytes=300)
    for i, v in enumerate(values):
        out = framer.push(FskChar(v, i * 0.008))
        if out is not None:
            assert sum(out) % 256 == 0
            assert out[1] + 3 == len(out)
        assert len(framer._buf) <= 300


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([160, 7, 1000]))
def test_fsk_receiver_survives_noise_with_bounded_state(seed: int, block: int) -> None:
    rng = np.random.default_rng(seed)
    rx = FskReceiver(1200.0, 2200.0)
    x = (rng.standard_normal(8000) * 3000).astype(np.int16)
    for k in range(0, x.size, block):
        rx.feed(x[k : k + block], (k + block) / 8000)
        assert rx._marks.size <= block + 200


@pytest.mark.peers
def test_speech_does_not_talk_off_the_detector(tmp_path: Path) -> None:
    """espeak-ng speech (several voices) read through the detector yields no digits."""
    import subprocess

    from tests.peers import require_binary

    espeak, sox = require_binary("espeak-ng"), require_binary("sox")
    text = (
        "The quick brown fox jumps over the lazy dog. Please call me back at nine o'clock. "
        "She sells sea shells by the sea shore, and the shells she sells are surely seashells."
    )
    total = 0.0
    for voice in ("en", "en+f3", "de", "fr"):
        wav, raw = tmp_path / f"{voice}.wav", tmp_path / f"{voice}.raw"
        subprocess.run([espeak, "-v", voice, "-w", str(wav), text], check=True, timeout=60)
        fmt = ["-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-r", "8000"]
        subprocess.run([sox, str(wav), *fmt, str(raw), "gain", "-n", "-6"], check=True, timeout=60)
        x = np.fromfile(raw, dtype="<i2")
        total += x.size / 8000
        assert detect(x) == "", voice
    assert total > 20.0


@settings(max_examples=30, deadline=None)
@given(
    number=st.text(alphabet="0123456789", min_size=1, max_size=15),
    name=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ ,.'-", min_size=1, max_size=15),
    level=st.floats(-30.0, -6.0),
    v23=st.booleans(),
    phase=st.integers(0, 159),
)
def test_property_fsk_messages_decode_exactly(
    number: str, name: str, level: float, v23: bool, phase: int
) -> None:
    """Any MDMF message, at any level in range and any frame alignment, decodes exactly."""
    msg = mdmf("01020304", number, name)
    x = np.concatenate(
        [np.zeros(400 + phase, np.int16), fsk(msg, V23 if v23 else BELL, level_dbm0=level)]
    )
    x = np.concatenate([x, np.zeros(800, np.int16)])
    rx, framer = FskReceiver(*(V23 if v23 else BELL)), CidFramer()
    found = []
    for k in range(0, x.size, 160):
        for ch in rx.feed(x[k : k + 160], (k + 160) / 8000):
            raw = framer.push(ch)
            if raw is not None:
                found.append(raw)
    assert found == [msg]
    cid = parse_message(found[0], method="x", at=0.0)
    assert (cid.number, cid.name) == (number, name)
