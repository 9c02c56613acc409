"""Line echo canceller on a synthetic hybrid: 4 ms bulk + 8 ms dispersion, ERL 10 dB, noise.

ERLE here is the echo attenuation: echo power / residual-echo power, where the residual echo is
the output minus the known noise and near-end talker (the canceller is linear, so this split is
exact); the total ``near/out`` figure is also checked where the noise floor allows.
"""

from __future__ import annotations

import numpy as np
import pytest

from ata.dsp.dtmf import DtmfGenerator
from ata.dsp.echo import EchoCanceller, erle_db
from ata.dsp.levels import SAMPLE_RATE, dbm0_to_amplitude, to_int16
from tests.dsp.echo_model import espeak_speech, hybrid_response, synthetic_speech
from tests.peers import require_binary

H = hybrid_response(10.0)
SEC = SAMPLE_RATE


def run(
    far: np.ndarray,
    near_talker: np.ndarray | None = None,
    ec: EchoCanceller | None = None,
    seed: int = 3,
):
    """Returns (echo, residual echo, near, out) with the hybrid model applied to ``far``."""
    far = to_int16(far)
    n = far.size // 160 * 160
    far = far[:n]
    echo = np.convolve(far.astype(np.float64), H)[:n]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, dbm0_to_amplitude(-65.0) / np.sqrt(2), n)
    talker = np.zeros(n) if near_talker is None else np.asarray(near_talker, np.float64)[:n]
    near = to_int16(echo + noise + talker)
    ec = ec or EchoCanceller()
    out = np.zeros(n, np.int16)
    for i in range(0, n, 160):
        out[i : i + 160] = ec.process(near[i : i + 160], far[i : i + 160])
    residual = out - (near - echo)  # output minus what is not echo (noise, talker, rounding)
    return echo, residual, near, out


def seg(a: np.ndarray, t0: float, t1: float) -> np.ndarray:
    return a[int(t0 * SEC) : int(t1 * SEC)]


def test_converges_fast_and_deep_on_composite_speech() -> None:
    far = synthetic_speech(8.0, seed=2)
    echo, res, near, out = run(far)
    assert erle_db(seg(echo, 0.5, 1.0), seg(res, 0.5, 1.0)) >= 20.0  # within 1 s
    steady = erle_db(seg(echo, 4, 8), seg(res, 4, 8))
    assert steady >= 35.0
    assert erle_db(seg(near, 4, 8), seg(out, 4, 8)) >= 30.0  # total, noise floor included


def test_espeak_speech() -> None:
    require_binary("espeak-ng")
    far = espeak_speech(
        "The quick brown fox jumps over the lazy dog. Please call me back when you get this "
        "message, my number is five five five one two three four."
    )
    assert far is not None
    echo, res, _, _ = run(far)
    assert erle_db(seg(echo, 1.0, 1.5), seg(res, 1.0, 1.5)) >= 20.0
    assert erle_db(seg(echo, 4, 8), seg(res, 4, 8)) >= 35.0


def test_no_divergence_on_dtmf_and_dial_tone() -> None:
    speech = synthetic_speech(4.0, seed=4)
    dtmf = DtmfGenerator(level_dbm0=-10.0, on_ms=80, off_ms=80).render("0123456789*#ABCD")
    t = np.arange(3 * SEC) / SEC
    dial = dbm0_to_amplitude(-13.0) * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    after = synthetic_speech(3.0, seed=5)
    far = np.concatenate([speech, dtmf, dial, after])
    echo, res, near, out = run(far)
    t_dtmf = speech.size / SEC
    t_dial = t_dtmf + dtmf.size / SEC
    t_after = t_dial + 3.0
    assert erle_db(seg(echo, t_dtmf, t_dial), seg(res, t_dtmf, t_dial)) >= 25.0
    assert erle_db(seg(echo, t_dial, t_after), seg(res, t_dial, t_after)) >= 25.0
    # narrowband excitation did not spoil the broadband estimate: speech right after is good
    assert erle_db(seg(echo, t_after, t_after + 1), seg(res, t_after, t_after + 1)) >= 30.0
    assert np.max(np.abs(seg(out, t_dtmf, t_after))) < np.max(np.abs(seg(near, t_dtmf, t_after)))


def test_double_talk_does_not_disturb_the_filter() -> None:
    far = synthetic_speech(10.0, seed=6)
    talker = np.zeros(far.size)
    talker[4 * SEC : 7 * SEC] = synthetic_speech(3.0, level_dbm0=-15.0, seed=9)
    ec = EchoCanceller()
    echo, res, _near, out = run(far, talker, ec)
    assert erle_db(seg(echo, 4, 7), seg(res, 4, 7)) >= 25.0  # echo still removed during DT
    assert erle_db(seg(echo, 7, 10), seg(res, 7, 10)) >= 35.0  # and straight after
    # the near talker passes through (not cancelled): its power is preserved to 0.5 dB
    tk = seg(talker, 4, 7)
    passed = seg(out, 4, 7).astype(float) - seg(res, 4, 7)
    assert abs(erle_db(tk, passed)) < 0.5
    assert ec.resets == 0


def test_disable_passes_near_through_and_enable_resumes() -> None:
    far = to_int16(synthetic_speech(6.0, seed=8))
    near = to_int16(np.convolve(far.astype(float), H)[: far.size])
    ec = EchoCanceller()
    outs = []
    for k, i in enumerate(range(0, far.size - 159, 160)):
        if k == 150:
            ec.disable()
            assert not ec.enabled
        if k == 200:
            ec.enable()
        outs.append(ec.process(near[i : i + 160], far[i : i + 160]))
    out = np.concatenate(outs)
    assert np.array_equal(out[150 * 160 : 200 * 160], near[150 * 160 : 200 * 160])
    assert erle_db(near[200 * 160 : 250 * 160], out[200 * 160 : 250 * 160]) >= 30.0


def test_longer_tail_partitions() -> None:
    far = synthetic_speech(8.0, seed=2)
    echo, res, _, _ = run(far, ec=EchoCanceller(tail_ms=40))
    assert EchoCanceller(tail_ms=40).partitions == 2
    assert erle_db(seg(echo, 4, 8), seg(res, 4, 8)) >= 25.0


def test_frame_shape_is_checked() -> None:
    ec = EchoCanceller()
    with pytest.raises(ValueError, match="160"):
        ec.process(np.zeros(80, np.int16), np.zeros(80, np.int16))
    with pytest.raises(ValueError):
        EchoCanceller(tail_ms=0)


def test_silent_far_end_leaves_near_untouched() -> None:
    rng = np.random.default_rng(1)
    near = to_int16(rng.normal(0, 3000, 160 * 50))
    ec = EchoCanceller()
    out = np.concatenate(
        [ec.process(near[i : i + 160], np.zeros(160, np.int16)) for i in range(0, near.size, 160)]
    )
    assert np.array_equal(out, near)


@pytest.mark.parametrize(("f1", "f2"), [(350.0, 440.0), (425.0, 0.0), (400.0, 450.0)])
def test_long_tone_from_cold_start_never_diverges(f1: float, f2: float) -> None:
    t = np.arange(8 * SEC) / SEC
    tone = dbm0_to_amplitude(-13.0) * (
        np.sin(2 * np.pi * f1 * t) + (np.sin(2 * np.pi * f2 * t) if f2 else 0)
    )
    far = np.concatenate([tone, synthetic_speech(4.0, seed=4)])
    ec = EchoCanceller()
    echo, res, _near, _out = run(far, ec=ec)
    for a in range(8):  # the output is never louder than the echo it started from
        assert erle_db(seg(echo, a, a + 1), seg(res, a, a + 1)) >= -0.5
    assert erle_db(seg(echo, 10, 12), seg(res, 10, 12)) >= 15.0  # speech afterwards still learns
    assert ec.resets == 0


def test_echo_path_change_is_relearned() -> None:
    """The hybrid changes (another phone plugged in): the filter re-learns within seconds."""
    far = to_int16(np.concatenate([synthetic_speech(6.0, seed=2), synthetic_speech(8.0, seed=5)]))
    n = far.size // 160 * 160
    far = far[:n]
    h2 = hybrid_response(12.0, bulk_ms=5.0, seed=11)
    f = far.astype(np.float64)
    cut = 6 * SEC
    echo = np.concatenate([np.convolve(f, H)[:cut], np.convolve(f, h2)[cut:n]])
    near = to_int16(echo)
    ec = EchoCanceller()
    out = np.concatenate(
        [ec.process(near[i : i + 160], far[i : i + 160]) for i in range(0, n, 160)]
    )
    res = out - (near - echo)
    assert erle_db(seg(echo, 4, 6), seg(res, 4, 6)) >= 35.0
    assert erle_db(seg(echo, 7, 9), seg(res, 7, 9)) >= 15.0  # re-learned within about 1 s
    assert erle_db(seg(echo, 10, 14), seg(res, 10, 14)) >= 25.0
    assert ec.resets == 1
