"""The virtual phone decodes caller ID from what it hears: FSK (Bell 202, V.23), DTMF CLIP, CAS.

Signals come from three sources that share no code with the phone's receiver: a small
phase-continuous FSK generator written here, pi-ata's own encoder (ata.dsp.callerid_fsk), and
``minimodem --tx``.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from hal.sim.phone_cid import CallerId, CidFramer, CidParseError, FskChar, parse_message
from hal.sim.phone_dsp import ToneDetector, dtmf_sequence, tone
from hal.sim.wire import LineDrive
from tests.hal.test_phone import Rig
from tests.peers import require_binary

BELL = (1200.0, 2200.0)
V23 = (1300.0, 2100.0)


# --- an independent little generator -----------------------------------------------------------
def with_checksum(body: bytes) -> bytes:
    return body + bytes([(-sum(body)) & 0xFF])


def mdmf(date: str, number: str, name: str) -> bytes:
    params = b""
    for code, value in ((1, date), (2, number), (7, name)):
        params += bytes([code, len(value)]) + value.encode()
    return with_checksum(bytes([0x80, len(params)]) + params)


def fsk(
    message: bytes,
    mark_space: tuple[float, float],
    *,
    seizure: int = 300,
    marks: int = 180,
    level_dbm0: float = -13.5,
    baud: float = 1200.0,
) -> np.ndarray:
    bits = [i % 2 for i in range(seizure)] + [1] * marks
    for byte in message:
        bits += [0] + [(byte >> i) & 1 for i in range(8)] + [1]
    bits += [1] * 10
    spb = 8000 / baud
    n = round(len(bits) * spb)
    idx = np.minimum((np.arange(n) / spb).astype(int), len(bits) - 1)
    freq = np.where(np.asarray(bits)[idx] == 1, mark_space[0], mark_space[1])
    phase = 2 * np.pi * np.cumsum(freq) / 8000
    amp = 32767 * 10 ** ((level_dbm0 - 3.14) / 20)
    return np.rint(amp * np.sin(phase)).astype(np.int16)


async def deliver(rig: Rig, signal: np.ndarray, *, settle_s: float = 0.3) -> list[CallerId]:
    rig.play(np.concatenate([np.zeros(800, np.int16), signal]))
    await rig.clock.advance(0.1 + signal.size / 8000 + settle_s)
    return rig.phone.caller_ids


# --- FSK --------------------------------------------------------------------------------------
async def test_bell202_mdmf_from_the_test_generator() -> None:
    rig = Rig()
    msg = mdmf("11241305", "5551234567", "ALICE EXAMPLE")
    [cid] = await deliver(rig, fsk(msg, BELL))
    assert (cid.method, cid.message_type) == ("bell202", 0x80)
    assert (cid.datetime, cid.number, cid.name) == ("11241305", "5551234567", "ALICE EXAMPLE")
    assert cid.raw == msg
    assert not cid.off_hook


async def test_v23_signal_is_identified_as_v23() -> None:
    rig = Rig()
    msg = mdmf("01020304", "0123456789", "BOB")
    [cid] = await deliver(rig, fsk(msg, V23))
    assert cid.method == "v23"
    assert (cid.number, cid.name) == ("0123456789", "BOB")


async def test_sdmf_private_and_vmwi() -> None:
    rig = Rig()
    sdmf = with_checksum(bytes([0x04, 9]) + b"12250800P")
    on = with_checksum(bytes([0x82, 3, 0x0B, 1, 0xFF]))
    off = with_checksum(bytes([0x06, 3]) + b"ooo")
    for m in (sdmf, on, off):
        await deliver(rig, fsk(m, BELL))
    a, b, c = rig.phone.caller_ids
    assert (a.message_type, a.datetime, a.number, a.number_absent) == (0x04, "12250800", None, "P")
    assert (b.message_type, b.vmwi) == (0x82, True)
    assert (c.message_type, c.vmwi) == (0x06, False)


@pytest.mark.parametrize(
    ("level", "snr_db", "std"),
    [(-13.5, 20.0, BELL), (-35.0, None, BELL), (-13.5, 12.0, BELL), (-13.5, 12.0, V23)],
)
async def test_fsk_decodes_at_low_level_and_in_noise(
    level: float, snr_db: float | None, std: tuple[float, float]
) -> None:
    rig = Rig()
    msg = mdmf("11241305", "5551234567", "NOISY LINE")
    x = fsk(msg, std, level_dbm0=level).astype(np.float64)
    if snr_db is not None:
        rms = np.sqrt(np.mean(x**2))
        x += np.random.default_rng(5).normal(0, rms / 10 ** (snr_db / 20), x.size)
    [cid] = await deliver(rig, np.clip(np.rint(x), -32768, 32767).astype(np.int16))
    assert cid.number == "5551234567"
    assert cid.name == "NOISY LINE"
    assert cid.method == ("bell202" if std == BELL else "v23")


@pytest.mark.parametrize(
    ("baud", "shift"), [(1188.0, 1.01), (1212.0, 0.99), (1188.0, 0.99), (1212.0, 1.01)]
)
async def test_fsk_within_gr30_rate_and_frequency_tolerance(baud: float, shift: float) -> None:
    """GR-30: 1200 ± 12 bit/s, mark 1200 ± 12 Hz, space 2200 ± 22 Hz."""
    rig = Rig()
    msg = mdmf("11241305", "5551234567", "TOLERANCE")
    [cid] = await deliver(rig, fsk(msg, (1200.0 * shift, 2200.0 * shift), baud=baud))
    assert (cid.number, cid.name, cid.method) == ("5551234567", "TOLERANCE", "bell202")


async def test_corrupted_message_is_not_reported() -> None:
    rig = Rig()
    msg = bytearray(mdmf("11241305", "5551234567", "X"))
    msg[5] ^= 0x01  # checksum now wrong
    assert await deliver(rig, fsk(bytes(msg), BELL)) == []


async def test_fsk_ignored_off_hook_without_cas() -> None:
    rig = Rig()
    rig.phone.off_hook()
    assert await deliver(rig, fsk(mdmf("11241305", "555", "X"), BELL)) == []


async def test_caller_id_between_rings_with_ring_muting() -> None:
    """Bell 202 after the first ring: the burst in the silent interval is decoded on-hook."""
    rig = Rig()
    t = rig.clock.now()
    rig.clock.call_at(t, lambda: rig.wire.set_drive(LineDrive.RINGING, rig.clock.now()))
    rig.clock.call_at(t + 2.0, lambda: rig.wire.set_drive(LineDrive.FORWARD, rig.clock.now()))
    rig.clock.call_at(t + 6.0, lambda: rig.wire.set_drive(LineDrive.RINGING, rig.clock.now()))
    # the ATA plays junk during the ring (muted by ring voltage), then the burst 0.6 s after it
    junk = tone((1200.0, 2200.0), 2.0, -10.0)
    msg = mdmf("11241305", "5550001111", "RING CID")
    burst = fsk(msg, BELL)
    rig.play(np.concatenate([junk, np.zeros(4800, np.int16), burst]))
    cid = await rig.clock.run(rig.phone.wait_for_caller_id(timeout_s=5.0))
    assert cid is not None
    assert cid.number == "5550001111"
    assert 2.6 < cid.at - t < 3.9
    assert rig.phone.ringing is False
    await rig.clock.advance_to(t + 6.5)
    assert rig.phone.ringing
    assert rig.phone.ring_count == 2


async def test_pi_ata_encoder_is_decoded_by_the_phone() -> None:
    """Cross-check with pi-ata's own encoder (ata.dsp.callerid_fsk), Bell 202 and V.23."""
    cidfsk = pytest.importorskip("ata.dsp.callerid_fsk")
    cidmsg = pytest.importorskip("ata.dsp.callerid")
    rig = Rig()
    m = cidmsg.CallerIdMessage(date="03150930", number="4155550100", name="CAROL")
    for std, method in ((cidfsk.FskStandard.BELL202, "bell202"), (cidfsk.FskStandard.V23, "v23")):
        await deliver(rig, cidfsk.render_message(m, std))
        cid = rig.phone.caller_ids[-1]
        assert (cid.method, cid.number, cid.name, cid.datetime) == (
            method,
            "4155550100",
            "CAROL",
            "03150930",
        )
    assert len(rig.phone.caller_ids) == 2


def minimodem_burst(tmp_path: Path, message: bytes, extra: list[str]) -> np.ndarray:
    exe = require_binary("minimodem")
    out = tmp_path / "burst.wav"
    # minimodem's own 8 kHz output rounds a bit to 7 samples (1143 bit/s), so render at 48 kHz
    # and take every 6th sample (a pure FSK sine has nothing above 4 kHz to alias).
    subprocess.run(
        [exe, "--tx", "-8", "-R", "48000", "-f", str(out), *extra, "1200"],
        input=message,
        check=True,
        timeout=30,
        capture_output=True,
    )
    with wave.open(str(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[::6]
    return (x.astype(np.float64) * 0.15).astype(np.int16)  # about −13 dBm0


@pytest.mark.peers
async def test_minimodem_bell202_and_v23_bursts(tmp_path: Path) -> None:
    rig = Rig()
    msg = mdmf("07040000", "18005550199", "MINIMODEM")
    await deliver(rig, minimodem_burst(tmp_path, msg, []))
    await deliver(rig, minimodem_burst(tmp_path, msg, ["-M", "1300", "-S", "2100"]), settle_s=1.2)
    a, b = rig.phone.caller_ids
    assert (a.method, a.number, a.name) == ("bell202", "18005550199", "MINIMODEM")
    assert (b.method, b.number, b.name) == ("v23", "18005550199", "MINIMODEM")


# --- type 2 (off-hook) ------------------------------------------------------------------------
async def test_cas_is_acknowledged_with_dtmf_d_then_off_hook_fsk_is_decoded() -> None:
    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.advance(0.5)
    rig.captured()
    cas_start = rig.clock.now() + 0.02  # played from the next period
    rig.play(tone((2130.0, 2750.0), 0.08, -15.0))
    await rig.clock.advance(0.3)
    assert len(rig.phone.cas_heard) == 1
    cas = rig.phone.cas_heard[0]
    assert cas.end - cas.start == pytest.approx(0.08, abs=0.026)
    audio = rig.captured()
    digits, _ = ToneDetector().feed(audio, rig.clock.now())
    assert [d.digit for d in digits] == ["D"]
    # the ack starts within 100 ms of the end of the CAS
    onset = np.flatnonzero(np.abs(audio) > 1000)[0] / 8000 + (rig.clock.now() - audio.size / 8000)
    assert 0.0 < onset - (cas_start + 0.08) < 0.1
    # then the FSK (no seizure, 80 marks) arrives and is decoded off-hook
    msg = mdmf("11241305", "5557654321", "WAITING")
    rig.play(fsk(msg, BELL, seizure=0, marks=80))
    cid = await rig.clock.run(rig.phone.wait_for_caller_id(timeout_s=2.0))
    assert cid is not None
    assert cid.off_hook
    assert cid.number == "5557654321"


async def test_no_ack_when_disabled_and_on_hook_dual_tone_is_an_alert() -> None:
    rig = Rig(cas_ack=None)
    rig.phone.off_hook()
    rig.play(tone((2130.0, 2750.0), 0.08, -15.0))
    await rig.clock.advance(0.4)
    assert len(rig.phone.cas_heard) == 1
    assert rig.phone.cas_acks_sent == []
    assert not rig.captured().any()
    rig.phone.on_hook()
    rig.play(tone((2130.0, 2750.0), 0.1, -15.0))  # ETSI DT-AS before an on-hook burst
    await rig.clock.advance(0.4)
    assert len(rig.phone.alerts_heard) == 1


# --- DTMF CLIP --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("symbols", "number", "absent", "redirecting"),
    [
        ("A0123456789C", "0123456789", None, None),
        ("A5551234D5559876C", "5551234", None, "5559876"),
        ("B10C", None, "P", None),
        ("B00C", None, "O", None),
        ("D0223456789C", "0223456789", None, None),
        ("A12345#", "12345", None, None),
        ("D1#", None, "P", None),
    ],
)
async def test_dtmf_clip_on_hook(
    symbols: str, number: str | None, absent: str | None, redirecting: str | None
) -> None:
    rig = Rig()
    rig.wire.set_drive(LineDrive.REVERSE, rig.clock.now())  # polarity reversal first
    [cid] = await deliver(rig, dtmf_sequence(symbols, on_s=0.07, off_s=0.07))
    assert (cid.method, cid.number, cid.number_absent, cid.redirecting) == (
        "dtmf",
        number,
        absent,
        redirecting,
    )


async def test_dtmf_clip_from_pi_ata_encoder() -> None:
    clip = pytest.importorskip("ata.dsp.callerid_dtmf")
    rig = Rig()
    digits = clip.encode_dtmf_clip("31415926", clip.DtmfFraming.A_C)
    [cid] = await deliver(rig, clip.render_dtmf_clip(digits))
    assert cid.number == "31415926"


# --- message parsing --------------------------------------------------------------------------
def test_parse_message_rejects_bad_input() -> None:
    good = mdmf("11241305", "555", "X")
    assert parse_message(good, method="bell202", at=0.0).number == "555"
    for bad in (good[:-1], good[:2], bytes([0x80, 1, 2, 3]), with_checksum(b"\x99\x00")):
        with pytest.raises(CidParseError):
            parse_message(bad, method="bell202", at=0.0)
    with pytest.raises(CidParseError):  # a parameter overrunning the message
        parse_message(with_checksum(bytes([0x80, 3, 0x02, 9, 0x31])), method="bell202", at=0.0)


def test_framer_ignores_seizure_and_splits_on_gaps() -> None:
    framer = CidFramer(gap_s=0.05)
    msg = mdmf("11241305", "555", "X")
    t = 0.0
    out = []
    for b in bytes([0x55] * 30) + msg:
        t += 10 / 1200
        out.append(framer.push(FskChar(b, t)))
    assert out[-1] == msg
    assert not any(out[:-1])
    # half a message, a long gap, then a whole one: only the whole one comes out
    for b in msg[:5]:
        t += 10 / 1200
        assert framer.push(FskChar(b, t)) is None
    t += 1.0
    results = []
    for b in msg:
        t += 10 / 1200
        results.append(framer.push(FskChar(b, t)))
    assert results[-1] == msg


async def test_type2_with_pi_ata_cas_and_call_waiting_burst() -> None:
    cidfsk = pytest.importorskip("ata.dsp.callerid_fsk")
    cidmsg = pytest.importorskip("ata.dsp.callerid")
    rig = Rig()
    rig.phone.off_hook()
    await rig.clock.advance(0.3)
    rig.play(cidfsk.alert_tone(0.08))
    await rig.clock.advance(0.25)
    assert len(rig.phone.cas_acks_sent) == 1
    m = cidmsg.CallerIdMessage(date="12312359", number="2125550000", name="DAVE")
    rig.play(cidfsk.render_message(m, call_waiting=True))
    cid = await rig.clock.run(rig.phone.wait_for_caller_id(timeout_s=2.0))
    assert cid is not None
    assert cid.off_hook
    assert (cid.number, cid.name) == ("2125550000", "DAVE")
