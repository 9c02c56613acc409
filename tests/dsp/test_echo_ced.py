"""The echo canceller is disabled by a 2100 Hz answer tone with phase reversals (G.165/G.168),
as detected by DSP-1's :class:`ata.dsp.fax.FaxToneDetector`, and stays on for plain 2100 Hz."""

from __future__ import annotations

import numpy as np

from ata.dsp.echo import EchoCanceller
from ata.dsp.fax import FaxToneDetector
from ata.dsp.levels import SAMPLE_RATE, dbm0_to_amplitude, to_int16
from tests.dsp.echo_model import hybrid_response


def answer_tone(seconds: float, *, reversals: bool) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = np.pi * np.floor(t / 0.45) if reversals else 0.0
    return to_int16(dbm0_to_amplitude(-12.0) * np.sin(2 * np.pi * 2100 * t + phase))


def run_line(far: np.ndarray) -> tuple[EchoCanceller, int | None]:
    """The line layer's wiring: detector on the far signal, ``disable()`` when it says so."""
    ec = EchoCanceller()
    det = FaxToneDetector()
    near = to_int16(np.convolve(far.astype(float), hybrid_response(10.0))[: far.size])
    disabled_at = None
    for k, i in enumerate(range(0, far.size - 159, 160)):
        det.process(far[i : i + 160])
        if det.disable_echo_canceller and ec.enabled:
            ec.disable()
            disabled_at = k
        out = ec.process(near[i : i + 160], far[i : i + 160])
        if not ec.enabled:
            assert np.array_equal(out, near[i : i + 160])  # modem signal passes untouched
    return ec, disabled_at


def test_ans_with_phase_reversals_disables_the_canceller() -> None:
    ec, at = run_line(answer_tone(3.3, reversals=True))
    assert not ec.enabled
    assert at is not None
    assert at * 0.02 < 1.5  # after the first reversal (0.45 s) plus detection time


def test_plain_2100_hz_keeps_the_canceller() -> None:
    ec, at = run_line(answer_tone(3.3, reversals=False))
    assert ec.enabled
    assert at is None
