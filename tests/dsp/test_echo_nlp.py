"""NLP with comfort noise after the echo canceller (same synthetic hybrid as test_echo)."""

from __future__ import annotations

import numpy as np

from ata.dsp.echo import EchoCanceller, erle_db
from ata.dsp.levels import rms_dbm0
from tests.dsp.echo_model import synthetic_speech
from tests.dsp.test_echo import SEC, run, seg


def test_echo_only_frames_become_comfort_noise_at_line_noise_level() -> None:
    far = synthetic_speech(8.0, seed=6)
    ec = EchoCanceller(nlp=True)
    _, _, near, out = run(far, ec=ec)
    assert ec.nlp is not None
    assert ec.nlp.frames_suppressed > 200
    for a in (3.0, 5.0, 7.0):  # after convergence: the line noise level (−65 dBm0), no echo
        assert abs(rms_dbm0(seg(out, a, a + 1)) - (-65.0)) < 2.0
    assert abs(ec.nlp.noise_dbm0 - (-65.0)) < 2.0
    assert erle_db(seg(near, 3, 8), seg(out, 3, 8)) >= 35.0


def test_near_talker_passes_untouched_during_double_talk() -> None:
    far = synthetic_speech(10.0, seed=6)
    talker = np.zeros(far.size)
    talker[4 * SEC : 7 * SEC] = synthetic_speech(3.0, level_dbm0=-15.0, seed=9)
    plain = run(far, talker, EchoCanceller())[3]
    with_nlp = run(far, talker, EchoCanceller(nlp=True))[3]
    # inside the talk spurt, the NLP changes nothing: the output equals the plain canceller's
    spurt = seg(plain, 4.2, 6.8).astype(float)
    nlp_spurt = seg(with_nlp, 4.2, 6.8).astype(float)
    assert erle_db(spurt, spurt - nlp_spurt) > 30.0


def test_comfort_noise_is_deterministic() -> None:
    far = synthetic_speech(4.0, seed=3)
    a = run(far, ec=EchoCanceller(nlp=True))[3]
    b = run(far, ec=EchoCanceller(nlp=True))[3]
    assert np.array_equal(a, b)
