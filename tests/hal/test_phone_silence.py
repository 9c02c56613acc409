"""The virtual phone passes silence over cheaply (no analysis) without missing anything: the
tone detector and the FSK receivers, given silence while idle, end in exactly the state the full
analysis leaves, so any mix of silence, digits, CAS and caller ID bursts yields the same events;
and a phone idle on a silent line for a long time still decodes on-hook caller ID."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.sim.phone_cid import FskChar, FskReceiver
from hal.sim.phone_dsp import DetectedCas, DetectedDigit, ToneDetector, dtmf_tone, tone
from tests.hal.test_phone import Rig
from tests.hal.test_phone_cid import BELL, V23, deliver, fsk, mdmf


class FullToneDetector(ToneDetector):
    """The detector with its silence shortcut off: every frame analysed."""

    def skip_silence(self, count: int) -> bool:
        return False


class FullFskReceiver(FskReceiver):
    def skip_silence(self, count: int, end_at: float) -> bool:
        return False


def _segment(kind: str, size: int) -> np.ndarray:
    if kind == "silence":
        return np.zeros(size, np.int16)
    if kind == "cas":
        return tone((2130.0, 2750.0), 0.09, -15.0)
    if kind == "fsk":
        return fsk(mdmf("11241305", "5551234", "ALICE"), BELL)[: size * 10]
    if kind == "v23":
        return fsk(mdmf("11241305", "42", "B"), V23)[: size * 10]
    if kind == "faint":  # one sample of noise in a silent stretch
        x = np.zeros(size, np.int16)
        x[size // 2] = 3
        return x
    return dtmf_tone(kind, 0.06)


segments = st.lists(
    st.tuples(
        st.sampled_from(["silence", "cas", "fsk", "v23", "faint", "5", "#", "A"]),
        st.integers(1, 700),
    ),
    min_size=1,
    max_size=8,
)


def _stream(parts: list[tuple[str, int]]) -> np.ndarray:
    return np.concatenate([_segment(kind, size) for kind, size in parts])


@settings(max_examples=40, deadline=None)
@given(parts=segments, frame=st.sampled_from([160, 160, 80, 237]))
def test_tone_detector_with_silence_skipping_matches_full_analysis(
    parts: list[tuple[str, int]], frame: int
) -> None:
    x = np.concatenate([_stream(parts), np.zeros(1600, np.int16)])
    fast, full = ToneDetector(), FullToneDetector()
    got: list[tuple[list[DetectedDigit], list[DetectedCas]]] = []
    want: list[tuple[list[DetectedDigit], list[DetectedCas]]] = []
    for k in range(0, x.size, frame):
        at = (k + frame) / 8000
        got.append(fast.feed(x[k : k + frame], at))
        want.append(full.feed(x[k : k + frame], at))
    assert got == want
    # Same state afterwards, too (so what follows is decided the same way).
    for name in ("_last", "_run", "_current", "_cas_run", "_no_cas", "_last_level"):
        assert getattr(fast, name) == getattr(full, name), name
    assert np.array_equal(fast._pending, full._pending)
    assert fast.quiet


@settings(max_examples=40, deadline=None)
@given(parts=segments, frame=st.sampled_from([160, 160, 7, 333]), v23=st.booleans())
def test_fsk_receiver_with_silence_skipping_matches_full_analysis(
    parts: list[tuple[str, int]], frame: int, v23: bool
) -> None:
    x = np.concatenate([_stream(parts), np.zeros(800, np.int16)])
    mark_space = V23 if v23 else BELL
    fast, full = FskReceiver(*mark_space), FullFskReceiver(*mark_space)
    got: list[FskChar] = []
    want: list[FskChar] = []
    for k in range(0, x.size, frame):
        at = (k + frame) / 8000
        got += fast.feed(x[k : k + frame], at)
        want += full.feed(x[k : k + frame], at)
    assert got == want
    assert (fast._base, fast._pos, fast._total, fast._t_end) == (
        full._base,
        full._pos,
        full._total,
        full._t_end,
    )
    assert np.array_equal(fast._marks, full._marks)
    assert fast.framing_errors == full.framing_errors


def test_silence_is_skipped_and_quiet_returns_after_a_tone() -> None:
    det = ToneDetector()
    silence = np.zeros(160, np.int16)
    assert det.skip_silence(160)
    assert det.quiet
    det.feed(dtmf_tone("7", 0.06), 1.0)
    states = [det.quiet, det.skip_silence(160)]
    assert states == [False, False]  # a digit in progress: analyse
    for k in range(4):
        det.feed(silence, 1.1 + k * 0.02)
    assert det.skip_silence(160)


async def test_phone_idle_on_a_silent_line_skips_analysis_and_still_decodes_caller_id() -> None:
    rig = Rig()
    phone = rig.phone
    await rig.clock.advance(10.0)  # ten seconds of silence on-hook
    heard, skipped = phone.frames_heard, phone.frames_skipped
    assert heard >= 495 and skipped >= heard - 2  # nothing analysed but the first frames
    msg = mdmf("11241305", "5551234", "ALICE SMITH")
    [cid] = await deliver(rig, fsk(msg, BELL))
    assert (cid.method, cid.number, cid.name) == ("bell202", "5551234", "ALICE SMITH")
    assert phone.frames_heard - heard > phone.frames_skipped - skipped  # the burst was analysed
    await rig.clock.advance(5.0)
    [_, cid2] = await deliver(rig, fsk(mdmf("11241306", "42", "BOB"), V23))
    assert (cid2.method, cid2.number) == ("v23", "42")


async def test_phone_hears_digits_and_cas_after_long_silence() -> None:
    rig = Rig()
    await rig.clock.advance(5.0)
    rig.play(np.concatenate([np.zeros(800, np.int16), dtmf_tone("9", 0.08)]))
    await rig.clock.advance(0.5)
    assert rig.phone.digits_heard() == "9"
    rig.play(tone((2130.0, 2750.0), 0.09, -15.0))
    await rig.clock.advance(0.5)
    assert len(rig.phone.alerts_heard) == 1  # on-hook: the DT-AS alert
