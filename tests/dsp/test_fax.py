"""Fax/modem tone detection on reference signals: spandsp generates CNG, ANS, ANS/, ANSam and
ANSam/ (modem_connect_tones_tx); V.21 HDLC flags come from a plain FSK modulator here, which
spandsp's own preamble detector (modem_connect_tones_rx) vouches for."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from ata.dsp.dtmf import DtmfGenerator
from ata.dsp.fax import (
    AnswerTone,
    AnswerToneEnded,
    CallingTone,
    FaxEvent,
    FaxToneDetector,
    V21Preamble,
)
from ata.dsp.tone_tables import tone_plan
from ata.dsp.tones import ToneGenerator
from tests.dsp.dtmf_support import add_noise, music_chords, ulaw_round_trip
from tests.peers import require_library

CNG, ANS, ANS_PR, ANSAM, ANSAM_PR, FAX_PREAMBLE = 1, 2, 3, 4, 5, 6
_REPORT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int)


@pytest.fixture(scope="module")
def spandsp() -> ctypes.CDLL:
    lib = ctypes.CDLL(require_library("spandsp"))
    lib.modem_connect_tones_tx_init.restype = ctypes.c_void_p
    lib.modem_connect_tones_tx_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.modem_connect_tones_tx.restype = ctypes.c_int
    lib.modem_connect_tones_tx.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
    ]
    lib.modem_connect_tones_tx_free.argtypes = [ctypes.c_void_p]
    lib.modem_connect_tones_rx_init.restype = ctypes.c_void_p
    lib.modem_connect_tones_rx_init.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        _REPORT,
        ctypes.c_void_p,
    ]
    lib.modem_connect_tones_rx.restype = ctypes.c_int
    lib.modem_connect_tones_rx.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
    ]
    lib.modem_connect_tones_rx_free.argtypes = [ctypes.c_void_p]
    return lib


def spandsp_tone(lib: ctypes.CDLL, kind: int, seconds: float) -> np.ndarray:
    tx = lib.modem_connect_tones_tx_init(None, kind)
    try:
        buf = np.zeros(round(seconds * 8000), dtype=np.int16)
        n = lib.modem_connect_tones_tx(
            tx, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), buf.shape[0]
        )
        return buf[: max(n, 0)]
    finally:
        lib.modem_connect_tones_tx_free(tx)


def spandsp_hears(lib: ctypes.CDLL, kind: int, x: np.ndarray) -> list[int]:
    heard: list[int] = []

    def report(_user: int | None, code: int, _level: int, _delay: int) -> None:
        heard.append(code)

    cb = _REPORT(report)
    rx = lib.modem_connect_tones_rx_init(None, kind, cb, None)
    try:
        buf = np.ascontiguousarray(x, dtype=np.int16)
        for i in range(0, buf.shape[0] - 159, 160):
            chunk = buf[i : i + 160]
            lib.modem_connect_tones_rx(
                rx, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), 160
            )
    finally:
        lib.modem_connect_tones_rx_free(rx)
    return heard


def v21_flags(
    nflags: int, level_dbm0: float = -13.0, lead_bits: list[int] | None = None
) -> np.ndarray:
    """Channel 2 V.21 FSK (mark 1650 Hz = 1, space 1850 Hz = 0), phase continuous."""
    bits = list(lead_bits or []) + [0, 1, 1, 1, 1, 1, 1, 0] * nflags
    spb = 8000 / 300
    n = int(len(bits) * spb)
    idx = np.minimum((np.arange(n) / spb).astype(int), len(bits) - 1)
    freq = np.where(np.asarray(bits)[idx] == 1, 1650.0, 1850.0)
    phase = np.cumsum(2 * np.pi * freq / 8000)
    return 32767 * 10 ** ((level_dbm0 - 3.14) / 20) * np.sin(phase)


def detect(x: np.ndarray, frame: int = 160) -> tuple[list[FaxEvent], FaxToneDetector]:
    det = FaxToneDetector()
    events: list[FaxEvent] = []
    y = np.concatenate((np.zeros(800), np.asarray(x, dtype=np.float64), np.zeros(4000)))
    for i in range(0, y.shape[0], frame):
        events += det.process(y[i : i + frame])
    return events, det


@pytest.mark.parametrize(
    ("kind", "reversals", "am"),
    [(ANS, False, False), (ANS_PR, True, False), (ANSAM, False, True), (ANSAM_PR, True, True)],
)
def test_answer_tones_classified(
    spandsp: ctypes.CDLL, kind: int, reversals: bool, am: bool
) -> None:
    x = ulaw_round_trip(spandsp_tone(spandsp, kind, 4.0))
    events, det = detect(x)
    answers = [e for e in events if isinstance(e, AnswerTone)]
    assert answers, events
    final = answers[-1]
    assert final.phase_reversals is reversals
    assert final.amplitude_modulated is am
    assert det.disable_echo_canceller is reversals
    assert answers[0].detected_at - answers[0].start_sample <= 4400  # reported ≤ 550 ms in
    assert any(isinstance(e, AnswerToneEnded) for e in events)
    assert not any(isinstance(e, (CallingTone, V21Preamble)) for e in events)


def test_answer_tone_with_reversals_in_noise(spandsp: ctypes.CDLL) -> None:
    rng = np.random.default_rng(5)
    x = spandsp_tone(spandsp, ANS_PR, 4.0).astype(np.float64)
    noisy = ulaw_round_trip(add_noise(x, 15.0, float(np.mean(x[2000:] ** 2)), rng))
    events, det = detect(noisy)
    answers = [e for e in events if isinstance(e, AnswerTone)]
    assert answers
    assert answers[-1].phase_reversals
    assert det.disable_echo_canceller


def test_cng_bursts_reported(spandsp: ctypes.CDLL) -> None:
    x = ulaw_round_trip(spandsp_tone(spandsp, CNG, 8.0))
    events, _ = detect(x)
    cng = [e for e in events if isinstance(e, CallingTone)]
    assert len(cng) >= 2
    for e in cng:
        assert 3600 <= e.end_sample - e.start_sample <= 4400  # 0.5 s ± 10 %
    assert not any(isinstance(e, AnswerTone) for e in events)


def test_v21_preamble_detected_and_spandsp_agrees(spandsp: ctypes.CDLL) -> None:
    x = ulaw_round_trip(v21_flags(40))
    assert FAX_PREAMBLE in spandsp_hears(spandsp, FAX_PREAMBLE, x)
    events, _ = detect(x)
    (pre,) = [e for e in events if isinstance(e, V21Preamble)]
    assert pre.flags >= 4
    assert abs(pre.start_sample - 800) <= 60
    assert pre.detected_at - 800 <= 4 * 8 * 27 + 80  # four flags ≈ 107 ms


@pytest.mark.parametrize("snr", [10.0, 20.0])
def test_v21_preamble_in_noise(snr: float) -> None:
    rng = np.random.default_rng(int(snr))
    x = v21_flags(40)
    events, _ = detect(ulaw_round_trip(add_noise(x, snr, float(np.mean(x**2)), rng)))
    assert any(isinstance(e, V21Preamble) for e in events)


def test_v21_random_data_is_not_a_preamble() -> None:
    rng = np.random.default_rng(9)
    bits = [int(b) for b in rng.integers(0, 2, 600)]
    bits = [
        b for i, b in enumerate(bits) if not (i >= 5 and all(bits[i - k] == 1 for k in range(6)))
    ]
    x = v21_flags(0, lead_bits=bits)
    events, _ = detect(ulaw_round_trip(x))
    assert not any(isinstance(e, V21Preamble) for e in events)


def test_no_fax_events_on_call_progress_tones_dtmf_and_music() -> None:
    parts = [
        ToneGenerator(tone_plan(cc, kind)).render(3.0)
        for cc in ("us", "de", "uk")
        for kind in ("dial", "busy", "ringback", "callwaiting", "howler")
    ]
    parts.append(DtmfGenerator(on_ms=100, off_ms=100).render("0123456789*#ABCD"))
    parts.append(music_chords(30.0))
    events, det = detect(ulaw_round_trip(np.concatenate(parts)))
    assert events == []
    assert not det.disable_echo_canceller


@pytest.mark.parametrize(
    ("freq", "reported"), [(2100.0, True), (2112.0, True), (2060.0, False), (2150.0, False)]
)
def test_answer_tone_frequency_window(freq: float, reported: bool) -> None:
    t = np.arange(3 * 8000) / 8000
    x = ulaw_round_trip(10000 * np.sin(2 * np.pi * freq * t))
    events, _ = detect(x)
    assert any(isinstance(e, AnswerTone) for e in events) is reported
