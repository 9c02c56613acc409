"""VirtualPhone on a simulated line and codec: hook timing, DTMF, ringing, tones, recording."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.clock import VirtualClock
from hal.sim.audio import SimAudioPort, SimCodec
from hal.sim.phone import PhoneStateError, VirtualPhone
from hal.sim.phone_dsp import ToneDetector, dominant_tones, dtmf_sequence, level_dbm0, tone
from hal.sim.wire import LineDrive, LoopChange, TwoWire
from tests.peers import require_binary


class Rig:
    """A wire, a phone, an ATA-side port and a running codec on a virtual clock."""

    def __init__(self, **phone_kw: object) -> None:
        self.clock = VirtualClock(start=50.0)
        self.wire = TwoWire()
        self.wire.set_drive(LineDrive.FORWARD, 50.0)
        self.loop: list[LoopChange] = []
        self.wire.on_loop_change(self.loop.append)
        self.phone = VirtualPhone(self.wire, self.clock, **phone_kw)  # type: ignore[arg-type]
        self.port = SimAudioPort(capture_depth=100_000, playback_depth=100_000)
        self.codec = SimCodec(self.clock)
        self.codec.connect(self.port, self.phone)
        self.codec.start()

    def play(self, samples: np.ndarray) -> None:
        """Queue audio on the ATA side (what the ATA plays to the phone)."""
        pad = (-samples.size) % 160
        x = np.concatenate([samples.astype(np.int16), np.zeros(pad, np.int16)])
        for k in range(x.size // 160):
            self.port.write_frame(x[k * 160 : (k + 1) * 160])

    def captured(self) -> np.ndarray:
        frames = []
        while self.port.stats().capture_queued:
            frames.append(self.port._capture.popleft().samples)
        return np.concatenate(frames) if frames else np.zeros(0, np.int16)


async def test_pulse_dial_breaks_and_makes_at_the_right_times() -> None:
    rig = Rig()
    rig.phone.off_hook()
    t0 = rig.clock.now()
    await rig.clock.run(rig.phone.pulse_dial("305", pps=10, break_ratio=0.6, interdigit_s=0.7))
    edges = rig.loop[1:]  # after the initial off-hook
    breaks = [(a.at, b.at) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    assert all(not a.off_hook for a in edges[::2])
    assert all(b.off_hook for b in edges[1::2])
    assert len(breaks) == 3 + 10 + 5
    assert breaks[0][0] == pytest.approx(t0)
    for start, end in breaks:
        assert end - start == pytest.approx(0.060, abs=1e-9)
    makes = [b[0] - a[1] for a, b in itertools.pairwise(breaks)]
    # inside a digit the make is 40 ms; between digits the loop stays closed 700 ms
    assert makes[:2] == pytest.approx([0.040, 0.040])
    assert makes[2] == pytest.approx(0.700)
    assert makes[3:12] == pytest.approx([0.040] * 9)
    assert makes[12] == pytest.approx(0.700)
    assert rig.phone.is_off_hook


async def test_pulse_dial_classified_by_the_shared_hook_classifier() -> None:
    hook = pytest.importorskip("hal.hook")
    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.advance(1.0)  # listen to the dial tone first
    await rig.clock.run(rig.phone.pulse_dial("4072", pps=10, break_ratio=0.66))
    classifier = hook.HookClassifier()
    for change in rig.loop:
        timer = classifier.get_timer()
        while timer is not None and timer <= change.at:
            classifier.handle_timer(timer)
            timer = classifier.get_timer()
        classifier.handle_transition(change.off_hook, change.at)
    end = rig.clock.now() + 5.0
    while (timer := classifier.get_timer()) is not None and timer <= end:
        classifier.handle_timer(timer)
    events = classifier.events()
    digits = "".join(e.digit for e in events if type(e).__name__ == "PulseDigit")
    assert digits == "4072"


@pytest.mark.parametrize(
    ("coding", "expected"),
    [("STANDARD", [10, 1, 9]), ("SWEDEN", [1, 2, 10]), ("NEW_ZEALAND", [10, 9, 1])],
)
async def test_pulse_dial_digit_codings(coding: str, expected: list[int]) -> None:
    from hal.hook import DigitCoding

    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.run(rig.phone.pulse_dial("019", coding=DigitCoding[coding], interdigit_s=0.5))
    breaks = [c.at for c in rig.loop if not c.off_hook]
    groups = np.split(np.asarray(breaks), np.flatnonzero(np.diff(breaks) > 0.3) + 1)
    assert [len(g) for g in groups] == expected


async def test_flash_and_hook_state_errors() -> None:
    rig = Rig()
    with pytest.raises(PhoneStateError):
        await rig.phone.flash(300)
    with pytest.raises(PhoneStateError):
        await rig.phone.pulse_dial("1")
    with pytest.raises(PhoneStateError):
        await rig.phone.dtmf_dial("1")
    rig.phone.off_hook()
    await rig.clock.run(rig.phone.flash(450))
    assert [(c.off_hook, round(c.at - rig.loop[0].at, 6)) for c in rig.loop] == [
        (True, 0.0),
        (False, 0.0),
        (True, 0.45),
    ]


async def test_dtmf_dial_is_real_audio_that_decodes_at_the_ata() -> None:
    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.run(rig.phone.dtmf_dial("0123456789*#ABCD"))
    audio = rig.captured()
    digits, _ = ToneDetector().feed(audio, 1.0)
    assert "".join(d.digit for d in digits) == "0123456789*#ABCD"
    # sending levels: low group −11 dBm0, high group −9 dBm0
    tones = dominant_tones(audio[80:560], max_tones=2)  # the first digit '0': 941 + 1336 Hz
    assert sorted(round(t.freq_hz) for t in tones) == [941, 1336]
    levels = {round(t.freq_hz): t.level_dbm0 for t in tones}
    assert levels[941] == pytest.approx(-11.0, abs=0.5)
    assert levels[1336] == pytest.approx(-9.0, abs=0.5)


async def test_dtmf_dial_decodes_with_ata_dsp() -> None:
    """The phone's DTMF is accepted by pi-ata's receiver (an independent check of both)."""
    dtmf = pytest.importorskip("ata.dsp.dtmf")
    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.run(rig.phone.dtmf_dial("159*0#D"))
    assert dtmf.decode_digits(rig.captured()) == "159*0#D"


async def test_on_hook_phone_transmits_silence_and_dead_line_is_silent() -> None:
    rig = Rig()
    rig.phone.speak(tone((1000.0,), 0.2, -10.0))
    await rig.clock.advance(0.3)
    assert not rig.captured().any()
    rig.phone.off_hook()
    rig.phone.speak(tone((1000.0,), 0.2, -10.0))
    await rig.clock.advance(0.3)
    assert level_dbm0(rig.captured()) > -20.0
    rig.wire.set_drive(LineDrive.OPEN, rig.clock.now())  # no battery: nothing heard or sent
    rig.play(tone((440.0,), 0.2, -10.0))
    await rig.clock.advance(0.3)
    assert rig.phone.level_dbm0(0.2) == -np.inf


async def test_ring_cadence_measured_from_the_wire() -> None:
    rig = Rig()
    t = rig.clock.now()
    cadence = [(2.0, 4.0), (2.0, 4.0), (2.0, 4.0)]  # US
    for on, off in cadence:
        rig.clock.call_at(t, lambda: rig.wire.set_drive(LineDrive.RINGING, rig.clock.now()))
        rig.clock.call_at(t + on, lambda: rig.wire.set_drive(LineDrive.FORWARD, rig.clock.now()))
        t += on + off
    await rig.clock.advance(1.0)
    assert rig.phone.ringing
    assert rig.phone.ring_count == 1
    await rig.clock.advance(20.0)
    assert not rig.phone.ringing
    assert rig.phone.ring_count == 3
    assert rig.phone.ring_cadence() == [pytest.approx((2.0, 4.0))] * 2
    assert [round(r.duration, 9) for r in rig.phone.rings] == [2.0, 2.0, 2.0]


async def test_uk_double_ring_cadence_and_auto_answer() -> None:
    rig = Rig(auto_answer_rings=2)
    t = rig.clock.now()
    for on, off in [(0.4, 0.2), (0.4, 2.0), (0.4, 0.2), (0.4, 2.0)]:
        rig.clock.call_at(t, lambda: rig.wire.set_drive(LineDrive.RINGING, rig.clock.now()))
        rig.clock.call_at(t + on, lambda: rig.wire.set_drive(LineDrive.FORWARD, rig.clock.now()))
        t += on + off
    ok = await rig.clock.run(rig.phone.wait_for(lambda: rig.phone.is_off_hook, 10.0))
    assert ok
    assert rig.loop[-1].at == pytest.approx(50.0 + 0.6 + 0.3)  # 300 ms into the second burst
    await rig.clock.advance(5.0)
    assert rig.phone.ring_cadence()[:3] == [
        pytest.approx((0.4, 0.2)),
        pytest.approx((0.4, 2.0)),
        pytest.approx((0.4, 0.2)),
    ]


async def test_polarity_reversals_logged() -> None:
    rig = Rig()
    rig.wire.set_drive(LineDrive.REVERSE, 51.0)
    rig.wire.set_drive(LineDrive.FORWARD, 52.0)
    rig.wire.set_drive(LineDrive.OPEN, 53.0)
    rig.wire.set_drive(LineDrive.REVERSE, 54.0)  # from OPEN: not a reversal
    assert rig.phone.polarity_reversals == [51.0, 52.0]


async def test_tone_analysis_of_what_the_phone_hears() -> None:
    rig = Rig()
    rig.phone.off_hook()
    rig.play(tone((350.0, 440.0), 1.0, -13.0))  # US dial tone, −13 dBm0 per component
    await rig.clock.advance(1.1)
    tones = rig.phone.dominant_tones(window_s=0.5, max_tones=3)
    # the last 0.1 s are silence; analyse the tone part
    tones = dominant_tones(rig.phone.recording(1.0)[: 8000 - 800], max_tones=3)
    assert sorted(round(t.freq_hz) for t in tones[:2]) == [350, 440]
    assert all(t.level_dbm0 == pytest.approx(-13.0, abs=0.3) for t in tones[:2])
    assert len(tones) == 2  # nothing else within 25 dB
    whole = level_dbm0(rig.phone.recording(1.0)[:7200])
    assert whole == pytest.approx(-13.0 + 10 * np.log10(2), abs=0.3)


async def test_busy_tone_on_off_segments() -> None:
    rig = Rig()
    rig.phone.off_hook()
    cycle = np.concatenate([tone((480.0, 620.0), 0.5, -24.0), np.zeros(4000, np.int16)])
    rig.play(np.tile(cycle, 3))
    await rig.clock.advance(3.0)
    segs = rig.phone.tone_segments(3.0)
    on = [d for is_on, d in segs if is_on]
    off = [d for is_on, d in segs if not is_on]
    assert on == pytest.approx([0.5, 0.5, 0.5], abs=0.011)
    assert off[:2] == pytest.approx([0.5, 0.5], abs=0.011)


async def test_phone_reports_dtmf_it_hears(tmp_path: Path) -> None:
    rig = Rig()
    rig.phone.off_hook()
    rig.play(dtmf_sequence("*72#", on_s=0.06, off_s=0.06))
    got = await rig.clock.run(rig.phone.wait_for_digits(4, timeout_s=2.0))
    assert got == "*72#"


async def test_short_dtmf_bursts_are_rejected() -> None:
    rig = Rig()
    rig.phone.off_hook()
    rig.play(dtmf_sequence("1234", on_s=0.02, off_s=0.06))
    await rig.clock.advance(1.0)
    assert rig.phone.digits_heard() == ""


async def test_recording_ring_buffer_and_wav(tmp_path: Path) -> None:
    rig = Rig(record_s=1.0)
    rig.phone.off_hook()
    x = (np.arange(8000 * 2) % 2000 - 1000).astype(np.int16)
    rig.play(x)
    await rig.clock.advance(2.0)
    rec = rig.phone.recording()
    assert rec.size == 8000
    assert np.array_equal(rec, x[8000:])  # the last second only
    path = rig.phone.save_wav(tmp_path / "heard.wav", seconds=0.5)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(data, x[-4000:])
    mid = rig.phone.recording_between(rig.clock.now() - 0.5, rig.clock.now() - 0.25)
    assert np.array_equal(mid, x[-4000:-2000])


async def test_speak_wav_round_trip(tmp_path: Path) -> None:
    rig = Rig()
    rig.phone.off_hook()
    x = (np.arange(3200) % 700 * 20 - 7000).astype(np.int16)
    rig.play(x)
    await rig.clock.advance_to(50.0 + 20 * 0.02)  # the 20 frames have just been heard
    path = rig.phone.save_wav(tmp_path / "in.wav", seconds=0.4)
    rig.captured()
    rig.phone.speak_wav(path)
    await rig.clock.run(rig.phone.wait_spoken())
    assert np.array_equal(rig.captured()[:3200], x)
    bad = tmp_path / "bad.wav"
    with wave.open(str(bad), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(8))
    with pytest.raises(ValueError, match="mono"):
        rig.phone.speak_wav(bad)


async def test_wait_for_times_out_on_the_clock() -> None:
    rig = Rig()
    ok = await rig.clock.run(rig.phone.wait_for_ring(timeout_s=3.0))
    assert not ok
    assert rig.clock.now() == pytest.approx(53.0, abs=0.021)


async def test_speak_waits_until_transmitted() -> None:
    rig = Rig()
    rig.phone.off_hook()
    rig.phone.speak(np.full(1000, 1234, np.int16))
    await rig.clock.run(rig.phone.wait_spoken())
    assert rig.clock.now() == pytest.approx(50.0 + 0.14)  # 1000 samples: 7 frames
    audio = rig.captured()
    assert np.count_nonzero(audio == 1234) == 1000
    asyncio.get_running_loop()


def multimon_dtmf(samples: np.ndarray, tmp_path: Path) -> str:
    """Decode DTMF with multimon-ng (its input is raw 22050 Hz; sox resamples)."""
    sox, multimon = require_binary("sox"), require_binary("multimon-ng")
    raw8k, raw22k = tmp_path / "dtmf8k.raw", tmp_path / "dtmf22k.raw"
    np.concatenate([samples, np.zeros(1600, np.int16)]).astype("<i2").tofile(raw8k)
    fmt = ["-t", "raw", "-e", "signed", "-b", "16", "-c", "1"]
    subprocess.run(
        [sox, *fmt, "-r", "8000", str(raw8k), *fmt, "-r", "22050", str(raw22k)],
        check=True,
        timeout=30,
    )
    out = subprocess.run(
        [multimon, "-q", "-t", "raw", "-a", "DTMF", str(raw22k)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return "".join(line.split()[-1] for line in out.splitlines() if line.startswith("DTMF:"))


@pytest.mark.peers
async def test_dtmf_dial_decoded_by_multimon(tmp_path: Path) -> None:
    """multimon-ng (an independent decoder) hears the phone's DTMF as sent."""
    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.run(rig.phone.dtmf_dial("4913#*0"))
    assert multimon_dtmf(rig.captured(), tmp_path) == "4913#*0"


async def test_phone_on_the_real_clock() -> None:
    """The same rig in real time (what the daemon and integration tests use)."""
    from hal.clock import MonotonicClock

    clock = MonotonicClock()
    wire = TwoWire()
    wire.set_drive(LineDrive.FORWARD, clock.now())
    phone = VirtualPhone(wire, clock)
    port = SimAudioPort(playback_depth=100, capture_depth=1000)
    codec = SimCodec(clock)
    codec.connect(port, phone)
    codec.start()
    phone.off_hook()
    x = dtmf_sequence("42", on_s=0.06, off_s=0.06)
    for k in range(0, x.size - 159, 160):
        port.write_frame(x[k : k + 160])
    assert await phone.wait_for_digits(2, timeout_s=2.0) == "42"
    for _ in range(port.stats().capture_queued):
        await port.read_frame()
    await phone.dtmf_dial("7", on_s=0.06, off_s=0.04)
    frames = [port.read_frame() for _ in range(port.stats().capture_queued)]
    audio = np.concatenate([await f for f in frames])
    digits, _ = ToneDetector().feed(audio, clock.now())
    assert [d.digit for d in digits] == ["7"]
    await codec.stop()


@settings(max_examples=25, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=1, max_size=4),
    pps=st.floats(8.0, 12.0),
    break_ratio=st.floats(0.55, 0.7),
    interdigit=st.floats(0.3, 1.0),
)
def test_property_pulse_dialling_round_trips_through_the_classifier(
    digits: str, pps: float, break_ratio: float, interdigit: float
) -> None:
    """Any rotary dial within the usual tolerances is classified back into the same digits."""
    from hal.hook import HookClassifier
    from hal.line import PulseDigit

    async def scenario() -> str:
        clock = VirtualClock()
        wire = TwoWire()
        changes: list[LoopChange] = []
        wire.on_loop_change(changes.append)
        phone = VirtualPhone(wire, clock)
        phone.off_hook()
        await clock.advance(1.0)
        await clock.run(
            phone.pulse_dial(digits, pps=pps, break_ratio=break_ratio, interdigit_s=interdigit)
        )
        classifier = HookClassifier()
        for c in changes:
            while (t := classifier.get_timer()) is not None and t <= c.at:
                classifier.handle_timer(t)
            classifier.handle_transition(c.off_hook, c.at)
        while (t := classifier.get_timer()) is not None and t <= clock.now() + 5.0:
            classifier.handle_timer(t)
        return "".join(e.digit for e in classifier.events() if isinstance(e, PulseDigit))

    assert asyncio.run(scenario()) == digits


def test_play_tone_queues_the_same_samples_as_one_rendered_tone() -> None:
    # Rendered a second at a time (no long float scratch), yet sample for sample the tone.
    clock = VirtualClock()
    wire = TwoWire()
    wire.set_drive(LineDrive.FORWARD, clock.now())
    phone = VirtualPhone(wire, clock)
    phone.off_hook()
    phone.play_tone((700.0, 1250.5), 2.3, -12.0)
    n = round(2.3 * 8000)
    frames = [phone.transmit_frame(0.0) for _ in range(n // 160 + 1)]
    sent = np.concatenate(frames)[:n]
    assert np.array_equal(sent, tone((700.0, 1250.5), 2.3, -12.0))
