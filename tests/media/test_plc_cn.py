"""PLC (G.711 Appendix I style) and RFC 3389 comfort noise."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ata.dsp.levels import rms_dbm0
from ata.media.cn import CnAction, CnSender, NoiseGenerator, build_cn, level_of, parse_cn
from ata.media.plc import Plc
from tests.media.helpers import dominant_freq, snr_db, tone


def _primed(signal: np.ndarray, frames: int) -> Plc:
    plc = Plc()
    for k in range(frames):
        plc.good(signal[k * 160 : (k + 1) * 160])
    return plc


@pytest.mark.parametrize("freq", [100.0, 160.0, 200.0])
def test_concealment_continues_a_voiced_signal(freq: float) -> None:
    x = tone(freq, 160 * 20)
    plc = _primed(x, 10)
    fake = plc.conceal()
    # The synthetic frame tracks the real continuation closely (pitch found, phase kept).
    assert snr_db(fake, x[1600:1760]) > 10
    assert abs(dominant_freq(np.tile(fake, 4)) - freq) < 25


def test_fades_over_10ms_steps_to_silence_after_60ms() -> None:
    x = tone(200.0, 160 * 20)
    plc = _primed(x, 10)
    out = np.concatenate([plc.conceal() for _ in range(5)])
    peaks = [int(np.abs(out[i : i + 80]).max()) for i in range(0, 800, 80)]
    assert peaks[0] > 7000  # first 10 ms at full level
    assert all(a >= b for a, b in itertools.pairwise(peaks))  # decreasing
    assert peaks[3] < 0.7 * peaks[0]
    assert np.all(out[480:] == 0)  # silence from 60 ms
    assert plc.concealed == 5


def test_join_and_recovery_are_continuous() -> None:
    x = tone(180.0, 160 * 30)
    plc = _primed(x, 10)
    fake = plc.conceal()
    # No step at the join with the last real sample.
    assert abs(int(fake[0]) - int(x[1599])) < 2500
    back = plc.good(x[1760:1920])
    # After a 20 ms erasure the overlap-add lasts 4 ms + 4 ms (one more 10 ms erased), then
    # the output is exactly the real signal.
    assert np.array_equal(back[64:], x[1760 + 64 : 1920])
    assert not np.array_equal(back[:64], x[1760 : 1760 + 64])
    assert np.abs(np.diff(back.astype(int))).max() < 2000  # no click
    assert not plc.in_erasure


def test_silence_history_conceals_to_silence() -> None:
    plc = Plc()
    assert np.all(plc.conceal() == 0)


def test_cn_payload_and_levels() -> None:
    assert build_cn(40) == b"\x28"
    assert parse_cn(bytes([40, 127, 200])) == (40, (0.0, (200 - 127) / 128))
    with pytest.raises(ValueError):
        parse_cn(b"")
    # A -30 dBov noise is measured back as 30.
    gen = NoiseGenerator(seed=3)
    gen.set_params(30)
    frame = np.concatenate([gen.generate() for _ in range(50)])
    assert abs(level_of(frame) - 30) <= 1
    # 0 dBov = +6.18 dBm0 (RFC 3389): -30 dBov is about -23.8 dBm0.
    assert abs(rms_dbm0(frame) - (6.18 - 30)) < 1.0


def test_shaped_noise_keeps_level() -> None:
    gen = NoiseGenerator(seed=4)
    gen.set_params(40, (0.6, -0.3))
    frame = np.concatenate([gen.generate() for _ in range(100)])
    assert abs(level_of(frame) - 40) <= 2
    spec = np.abs(np.fft.rfft(frame.astype(float)))
    assert spec[: len(spec) // 4].mean() != pytest.approx(spec[-len(spec) // 4 :].mean(), rel=0.2)


def test_cn_sender_dtx_decisions() -> None:
    tx = CnSender(refresh_frames=10)
    quiet = tone(300.0, 160, amplitude=30.0)
    loud = tone(300.0, 160, amplitude=8000.0)
    actions = [tx.decide(loud, False)[0]]
    actions += [tx.decide(quiet, True)[0] for _ in range(12)]
    assert actions[0] is CnAction.AUDIO
    assert actions[1] is CnAction.CN
    assert actions[2:11] == [CnAction.NOTHING] * 9
    assert actions[11] is CnAction.CN  # refresh
    assert tx.decide(loud, False)[0] is CnAction.AUDIO
    assert tx.marker_pending
    # Level change of more than 3 dB during silence: an update.
    tx2 = CnSender()
    tx2.decide(quiet, True)
    assert tx2.decide(quiet * 4, True)[0] is CnAction.CN
    assert math.isfinite(level_of(quiet))
