"""Talk-off: speech (espeak-ng, many voices/pitches/languages, telephone band, µ-law), dial tone
plus speech, and synthetic music chords must not produce DTMF digits.

The corpus is generated at test time into memory (sox resamples to 8 kHz with a 300–3400 Hz
band-pass). Target: ≤ 0.05 false digits per minute of speech — over the 20 minutes here that
means at most one. ``bench/bench_dtmf.py`` runs a longer corpus and compares with spandsp.
"""

from __future__ import annotations

import numpy as np
import pytest

from ata.dsp.dtmf import decode_digits
from ata.dsp.levels import dbm0_to_amplitude
from tests.dsp.dtmf_support import music_chords, speech_corpus, ulaw_round_trip
from tests.peers import require_binary

SPEECH_SECONDS = 1200.0


@pytest.fixture(scope="module")
def speech() -> list[tuple[str, np.ndarray]]:
    require_binary("espeak-ng")
    require_binary("sox")
    return list(speech_corpus(SPEECH_SECONDS, seed=7))


def test_speech_corpus_is_varied_and_long_enough(speech: list[tuple[str, np.ndarray]]) -> None:
    seconds = sum(x.shape[0] for _, x in speech) / 8000
    assert seconds >= SPEECH_SECONDS
    voices = {label.split()[0] for label, _ in speech}
    languages = {v.split("+")[0] for v in voices}
    assert len(voices) >= 40
    assert len(languages) >= 10


def test_no_digits_in_speech(speech: list[tuple[str, np.ndarray]]) -> None:
    false = {label: d for label, x in speech if (d := decode_digits(x))}
    minutes = sum(x.shape[0] for _, x in speech) / 8000 / 60
    assert sum(len(d) for d in false.values()) <= int(0.05 * minutes), false


def test_no_digits_in_dial_tone_plus_speech(speech: list[tuple[str, np.ndarray]]) -> None:
    x = np.concatenate([s for _, s in speech[:40]]).astype(np.float64)
    t = np.arange(x.shape[0]) / 8000
    dial = dbm0_to_amplitude(-13.0) * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    assert decode_digits(ulaw_round_trip(x + dial)) == ""


def test_no_digits_in_music_chords() -> None:
    assert decode_digits(music_chords(120.0)) == ""
