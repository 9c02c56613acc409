"""Caller ID schedules (on-hook windows per method) and the type 2 call-waiting sequencer."""

from __future__ import annotations

import numpy as np
import pytest

from ata.dsp.callerid import CallerIdMessage
from ata.dsp.callerid_dtmf import decode_dtmf_clip
from ata.dsp.callerid_fsk import FskStandard, decode_fsk
from ata.dsp.callerid_schedule import (
    Audio,
    CallerIdMethod,
    CallWaitingDone,
    CallWaitingSender,
    CwState,
    MuteFarEnd,
    OnHookSender,
    RingPulse,
    SetPolarity,
    build_schedule,
)
from ata.dsp.dtmf import DtmfGenerator
from ata.dsp.levels import SAMPLE_RATE
from ata.line.ringer import CallerIdTiming, Ringer, RingVoltage, SendCallerId

MSG = CallerIdMessage(date="11241305", number="5551234567", name="JOHN DOE")


def test_bell202_fits_between_rings_with_the_line_ringer() -> None:
    sched = build_schedule(CallerIdMethod.BELL202, MSG)
    assert not sched.before_ring
    assert 0.5 < sched.burst_s < 1.0  # seizure + marks + 37 bytes ≈ 0.7 s
    params = sched.ringer_params()
    ringer = Ringer(
        cadence=((2.0, 4.0),),
        timing=CallerIdTiming(params["timing"]),
        cid_burst_s=float(params["cid_burst_s"]),  # type: ignore[arg-type]
        cid_delay_s=float(params["cid_delay_s"]),  # type: ignore[arg-type]
        cid_guard_s=float(params["cid_guard_s"]),  # type: ignore[arg-type]
    )
    events: list[tuple[float, object]] = [(0.0, c) for c in ringer.start(0.0)]
    while (t := ringer.get_timer()) is not None and t < 7.0:
        events += [(t, c) for c in ringer.handle_timer(t)]
    ring_off = next(t for t, c in events if c == RingVoltage(False))
    cid_at = next(t for t, c in events if isinstance(c, SendCallerId))
    second = [t for t, c in events if c == RingVoltage(True)][1]
    assert cid_at - ring_off >= 0.5
    assert second - (cid_at + sched.burst_s) >= 0.2
    assert decode_fsk(sched.audio()) == [MSG]


@pytest.mark.parametrize(
    ("method", "first_action"),
    [
        (CallerIdMethod.ETSI_PR, SetPolarity(True)),
        (CallerIdMethod.ETSI_DTAS, SetPolarity(True)),
        (CallerIdMethod.UK, SetPolarity(True)),
        (CallerIdMethod.ETSI_RPAS, RingPulse(0.25)),
        (CallerIdMethod.DTMF, SetPolarity(True)),
    ],
)
def test_before_ring_methods(method: CallerIdMethod, first_action: object) -> None:
    sched = build_schedule(method, MSG)
    assert sched.before_ring
    assert sched.steps[0].action == first_action
    assert 0.2 <= sched.guard_s <= 0.5  # first ring 200–500 ms after the data
    payload = next(
        s for s in sched.steps if isinstance(s.action, Audio) and s.action.duration_s > 0.3
    )
    if method is CallerIdMethod.DTMF:
        assert payload.at_s >= 0.2  # ≥ 200 ms after the polarity reversal
        assert decode_dtmf_clip(sched.audio())[0] == "A5551234567C"
    else:
        assert decode_fsk(sched.audio(), FskStandard.V23) == [MSG]
    if method in (CallerIdMethod.ETSI_DTAS, CallerIdMethod.UK):
        dtas = sched.steps[1]
        assert isinstance(dtas.action, Audio)
        assert dtas.action.duration_s == pytest.approx(0.1)
        gap = payload.at_s - (dtas.at_s + dtas.action.duration_s)
        assert 0.045 <= gap <= 0.5
    if method is CallerIdMethod.ETSI_RPAS:
        assert 0.5 <= payload.at_s - 0.25 <= 2.0


def test_on_hook_sender_plays_frames_and_commands_on_time() -> None:
    sched = build_schedule(CallerIdMethod.ETSI_DTAS, MSG)
    sender = OnHookSender(sched)
    assert sender.start(10.0) == [SetPolarity(True)]
    assert sender.get_timer() == pytest.approx(10.0 + sched.burst_s)
    frames, late = [], []
    now = 10.0
    while not sender.done and now < 13.0:
        frames.append(sender.next_frame())
        now += 0.02
        if (t := sender.get_timer()) is not None and t <= now:
            late += sender.handle_timer(now)
    assert late == [SetPolarity(False)]
    assert now - 10.0 == pytest.approx(sched.burst_s, abs=0.02)
    audio = np.concatenate(frames)
    assert decode_fsk(audio, FskStandard.V23) == [MSG]


def _run_cw(
    ack_after_s: float | None, digit: str = "D"
) -> tuple[list[tuple[float, object]], np.ndarray]:
    cw = CallWaitingSender(MSG)
    log: list[tuple[float, object]] = [(0.0, c) for c in cw.start(0.0)]
    frames = []
    now = 0.0
    cas_end: float | None = None
    acked = False
    while now < 3.0 and cw.result is None:
        frames.append(cw.next_frame())
        now += 0.02
        if (t := cw.get_timer()) is not None and t <= now:
            log += [(now, c) for c in cw.handle_timer(now)]
        if cw.state is CwState.WAIT_ACK and cas_end is None:
            cas_end = now
        if (
            ack_after_s is not None
            and cas_end is not None
            and not acked
            and now >= cas_end + ack_after_s
        ):
            acked = True
            log += [(now, c) for c in cw.dtmf(digit, now)]
    return log, np.concatenate(frames)


def test_type2_with_ack_sends_fsk_and_unmutes() -> None:
    log, audio = _run_cw(0.06)
    commands = [c for _, c in log]
    assert commands[0] == MuteFarEnd(True)
    assert commands[-2:] == [MuteFarEnd(False), CallWaitingDone(True, "ok", "D")]
    assert decode_fsk(audio) == [MSG]
    # CAS present: strong 2130 and 2750 Hz around 0.3 s
    seg = audio[int(0.3 * SAMPLE_RATE) : int(0.38 * SAMPLE_RATE)].astype(float)
    spec = np.abs(np.fft.rfft(seg))
    f = np.fft.rfftfreq(seg.size, 1 / SAMPLE_RATE)
    top = sorted(f[np.argsort(spec)[-2:]])
    assert top == pytest.approx([2130, 2750], abs=30)


def test_type2_without_ack_sends_no_fsk() -> None:
    log, audio = _run_cw(None)
    assert [c for _, c in log][-2:] == [MuteFarEnd(False), CallWaitingDone(False, "no_ack")]
    assert decode_fsk(audio) == []
    done_at = log[-1][0]
    assert done_at < 0.3 + 0.08 + 0.25  # SAS + CAS + ack window (+ frame rounding)


def test_type2_ignores_other_digits_and_accepts_adsi_ack() -> None:
    log, _ = _run_cw(0.04, digit="5")
    assert log[-1][1] == CallWaitingDone(False, "no_ack")
    log, _ = _run_cw(0.04, digit="A")
    assert log[-1][1] == CallWaitingDone(True, "ok", "A")


def test_type2_ack_from_real_dtmf_audio() -> None:
    """The phone's ACK as audio through DSP-1's DTMF receiver drives the sequencer."""
    from ata.dsp.dtmf import DigitStart, DtmfReceiver

    cw = CallWaitingSender(MSG)
    cw.start(0.0)
    rx = DtmfReceiver()
    phone = DtmfGenerator(on_ms=60, off_ms=0)
    now, out = 0.0, []
    while cw.result is None and now < 2.0:
        frame = cw.next_frame()
        out.append(frame)
        now += 0.02
        if (t := cw.get_timer()) is not None and t <= now:
            cw.handle_timer(now)
            if cw.state is CwState.WAIT_ACK:
                phone.queue("D")
        for ev in rx.process(phone.next_frame()):
            if isinstance(ev, DigitStart):
                cw.dtmf(ev.digit, now)
    assert cw.result == CallWaitingDone(True, "ok", "D")
