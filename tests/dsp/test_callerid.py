"""Caller ID messages, FSK modem and DTMF CLIP: pi-ata's own encoder against its own decoder.

The independent decoders (spandsp, multimon-ng, minimodem) are in test_callerid_peers.py.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.dsp.callerid import (
    CallerIdError,
    CallerIdMessage,
    MessageType,
    checksum,
    encode_message,
    parse_message,
)
from ata.dsp.callerid_dtmf import (
    COUNTRY_FRAMING,
    DtmfFraming,
    decode_dtmf_clip,
    encode_dtmf_clip,
    parse_dtmf_clip,
    render_dtmf_clip,
)
from ata.dsp.callerid_fsk import (
    FskCallerIdReceiver,
    FskStandard,
    ReceiveError,
    decode_fsk,
    detect_fsk_standard,
    render_message,
)
from ata.dsp.fsk import BELL202, FskDemodulator, FskModulator, uart_bits
from ata.dsp.levels import SAMPLE_RATE, rms_dbm0, to_int16

MDMF = CallerIdMessage(date="11241305", number="5551234567", name="JOHN DOE")


def test_mdmf_bytes_match_gr30_layout() -> None:
    data = encode_message(MDMF)
    assert data[0] == 0x80
    assert data[1] == len(data) - 3
    assert data[2:12] == b"\x01\x0811241305"
    assert data[12:24] == b"\x02\x0a5551234567"
    assert data[24:34] == b"\x07\x08JOHN DOE"
    assert sum(data) & 0xFF == 0


def test_sdmf_and_vmwi_bytes() -> None:
    sdmf = encode_message(
        CallerIdMessage(MessageType.SDMF_CALLER_ID, date="01020304", number="123")
    )
    assert sdmf[:2] == b"\x04\x0b"
    assert sdmf[2:13] == b"01020304123"
    assert encode_message(CallerIdMessage(MessageType.SDMF_VMWI, vmwi=True))[:5] == b"\x06\x03BBB"
    assert encode_message(CallerIdMessage(MessageType.SDMF_VMWI, vmwi=False))[2:5] == b"ooo"
    mdmf = encode_message(CallerIdMessage(MessageType.MDMF_VMWI, vmwi=True))
    assert mdmf[:5] == b"\x82\x03\x0b\x01\xff"


def test_absence_reasons_round_trip() -> None:
    msg = CallerIdMessage(date="12312359", number_absent="P", name_absent="O")
    assert parse_message(encode_message(msg)) == msg
    sdmf = CallerIdMessage(MessageType.SDMF_CALLER_ID, date="12312359", number_absent="O")
    assert parse_message(encode_message(sdmf)) == sdmf


names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=15)
numbers = st.text("0123456789", min_size=1, max_size=10)
dates = st.builds(
    lambda m, d, h, mi: f"{m:02d}{d:02d}{h:02d}{mi:02d}",
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
)


@given(date=st.none() | dates, number=st.none() | numbers, name=st.none() | names)
def test_mdmf_encode_parse_round_trip(
    date: str | None, number: str | None, name: str | None
) -> None:
    msg = CallerIdMessage(date=date, number=number, name=name)
    if date is None and number is None and name is None:
        with pytest.raises(CallerIdError):
            encode_message(msg)
        return
    assert parse_message(encode_message(msg)) == msg


@given(data=st.binary(max_size=64))
def test_parser_never_crashes_on_garbage(data: bytes) -> None:
    with contextlib.suppress(CallerIdError):
        parse_message(data)


def test_parser_rejects_bad_checksum_and_truncation() -> None:
    data = bytearray(encode_message(MDMF))
    data[5] ^= 0x01
    with pytest.raises(CallerIdError, match="checksum"):
        parse_message(bytes(data))
    with pytest.raises(CallerIdError, match="truncated"):
        parse_message(encode_message(MDMF)[:-4])
    with pytest.raises(CallerIdError, match="date"):
        encode_message(CallerIdMessage(date="13011200", number="1"))
    assert checksum(b"\x80\x01\x00") == 0x7F


def test_modulator_is_phase_continuous_and_at_level() -> None:
    mod = FskModulator(BELL202, level_dbm0=-13.5)
    bits = np.array([0, 1] * 60 + [1] * 120)
    a = np.concatenate([mod.modulate(bits[:37]), mod.modulate(bits[37:])])
    one = FskModulator(BELL202, level_dbm0=-13.5).modulate(bits)
    assert np.allclose(a, one)  # split calls give the same signal
    assert len(one) == round(len(bits) * SAMPLE_RATE / 1200)
    # phase continuity: no sample-to-sample jump bigger than a 2200 Hz sine can make
    amp = np.max(np.abs(one))
    assert np.max(np.abs(np.diff(one))) <= amp * 2 * np.sin(np.pi * 2200 / SAMPLE_RATE) + 1e-6
    assert abs(rms_dbm0(one) - (-13.5)) < 0.1


@pytest.mark.parametrize("block", [1, 37, 160, 10_000])
def test_demodulator_result_independent_of_block_size(block: int) -> None:
    bits = np.concatenate([np.ones(40, np.int8), uart_bits(bytes(range(0, 256, 7)))])
    x = np.concatenate([FskModulator(BELL202).modulate(bits), np.zeros(200)])
    rx = FskDemodulator(BELL202)
    chars = []
    for i in range(0, x.size, block):
        chars += rx.push(x[i : i + block])
    assert [c.value for c in chars] == list(range(0, 256, 7))
    assert all(c.framing_ok for c in chars)
    assert chars[0].idle_bits > 30


@pytest.mark.parametrize("standard", list(FskStandard))
@pytest.mark.parametrize("level", [-5.0, -13.5, -25.0, -40.0])
def test_own_receiver_decodes_every_level(standard: FskStandard, level: float) -> None:
    signal = render_message(MDMF, standard, level_dbm0=level)
    assert decode_fsk(np.concatenate([np.zeros(800, np.int16), signal])) == [MDMF]
    assert detect_fsk_standard(signal) is standard


def test_own_receiver_at_12db_snr_and_clock_offset() -> None:
    rng = np.random.default_rng(11)
    burst = render_message(MDMF).astype(np.float64)
    # a sender 1 % fast (resampled burst): the UART resynchronises on every start bit
    fast = np.interp(np.arange(0, burst.size, 1.01), np.arange(burst.size), burst)
    ok = 0
    for k in range(30):
        b = burst if k % 2 else fast
        noise = rng.normal(0, np.sqrt(np.mean(b**2) / 10**1.2), b.size + 1600)
        x = to_int16(np.concatenate([np.zeros(800), b, np.zeros(800)]) + noise)
        ok += decode_fsk(x) == [MDMF]
    assert ok >= 29


def test_receiver_reports_checksum_error_and_recovers() -> None:
    good = encode_message(MDMF)
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    from ata.dsp.callerid_fsk import render_fsk

    x = np.concatenate([render_fsk(bytes(bad)), np.zeros(800), render_fsk(good), np.zeros(800)])
    rx = FskCallerIdReceiver()
    out = rx.push(x)
    assert isinstance(out[0], ReceiveError)
    assert "checksum" in out[0].reason
    assert out[1] == MDMF
    assert rx.errors == 1
    assert rx.messages == 1


def test_noise_and_silence_decode_to_nothing_valid() -> None:
    rng = np.random.default_rng(2)
    x = to_int16(rng.normal(0, 2000, 8000 * 3))
    assert not [r for r in decode_fsk(x) if isinstance(r, CallerIdMessage)]
    assert decode_fsk(np.zeros(8000, np.int16)) == []


def test_call_waiting_burst_has_80_mark_bits_and_no_seizure() -> None:
    on_hook = render_message(MDMF)
    cw = render_message(MDMF, call_waiting=True)
    bit = SAMPLE_RATE / 1200
    assert round((on_hook.size - cw.size) / bit) == 300 + 100
    assert decode_fsk(cw) == [MDMF]


@pytest.mark.parametrize("framing", list(DtmfFraming))
def test_dtmf_clip_round_trip(framing: DtmfFraming) -> None:
    digits = encode_dtmf_clip("0123456789", framing)
    got_digits, msg = decode_dtmf_clip(render_dtmf_clip(digits))
    assert got_digits == digits
    assert msg is not None
    assert msg.number == "0123456789"


def test_dtmf_clip_framings_and_absence() -> None:
    assert encode_dtmf_clip("123", DtmfFraming.A_C) == "A123C"
    assert encode_dtmf_clip("123", COUNTRY_FRAMING["dk"]) == "A123#"
    assert encode_dtmf_clip("123", COUNTRY_FRAMING["tw"]) == "D123C"
    assert encode_dtmf_clip(None, DtmfFraming.A_C, absent="P") == "B10C"
    assert encode_dtmf_clip(None, DtmfFraming.A_HASH, absent="O") == "D3#"
    assert parse_dtmf_clip("B00C").number_absent == "O"
    assert parse_dtmf_clip("D1#").number_absent == "P"
    assert parse_dtmf_clip("A123D456C").extra == ((0x03, b"456"),)
    with pytest.raises(CallerIdError):
        parse_dtmf_clip("A12B")
    with pytest.raises(CallerIdError):
        encode_dtmf_clip("12a", DtmfFraming.A_C)


@settings(max_examples=25)
@given(data=st.binary(min_size=1, max_size=40))
def test_receiver_never_crashes_on_random_fsk(data: bytes) -> None:
    from ata.dsp.callerid_fsk import render_fsk

    rx = FskCallerIdReceiver()
    for r in rx.push(render_fsk(data, mark_bits=20, seizure_bits=0)):
        assert isinstance(r, CallerIdMessage | ReceiveError)


def test_etsi_v23_extra_parameters_round_trip() -> None:
    msg = CallerIdMessage(
        date="03150930",
        number="0123456789",
        name="ACME",
        extra=((0x11, b"\x01"), (0x1A, b"5551234")),  # call type voice, redirecting number
    )
    assert decode_fsk(render_message(msg, FskStandard.V23)) == [msg]
    rows = dict(msg.describe())
    assert rows["call type"] == "01"
    assert rows["redirecting number"] == "5551234"
    vmwi = CallerIdMessage(MessageType.MDMF_VMWI, vmwi=True, message_count=3)
    assert decode_fsk(render_message(vmwi, FskStandard.V23)) == [vmwi]


@given(
    number=st.text(max_size=40),
    name=st.text(max_size=60),
    withheld=st.sampled_from(["", "private", "unavailable"]),
    sdmf=st.booleans(),
)
def test_message_for_call_never_raises_and_round_trips(
    number: str, name: str, withheld: str, sdmf: bool
) -> None:
    import datetime as dt

    from ata.dsp.callerid import message_for_call

    msg = message_for_call(number, name, withheld, dt.datetime(2026, 11, 24, 13, 5), sdmf=sdmf)
    assert parse_message(encode_message(msg)) == msg
    assert msg.number is not None or msg.number_absent == ("P" if withheld == "private" else "O")


@given(
    number=st.text(max_size=40),
    withheld=st.sampled_from(["", "private", "unavailable"]),
    framing=st.sampled_from(list(DtmfFraming)),
)
def test_dtmf_clip_for_call_never_raises(number: str, withheld: str, framing: DtmfFraming) -> None:
    from ata.dsp.callerid_dtmf import dtmf_clip_for_call

    digits = dtmf_clip_for_call(number, withheld, framing)
    if digits:
        parsed = parse_dtmf_clip(digits)
        assert parsed.number is not None or parsed.number_absent in ("O", "P")


def test_message_for_call_maps_sip_identity() -> None:
    import datetime as dt

    from ata.dsp.callerid import message_for_call

    when = dt.datetime(2026, 11, 24, 13, 5)
    msg = message_for_call("+1 (555) 123-4567", "Zoë Müller-Lüdenscheidt", "", when)
    assert msg.number == "15551234567"
    assert msg.name == "Zo? M?ller-L?de"
    assert msg.date == "11241305"
    private = message_for_call("", "", "private", when)
    assert (private.number_absent, private.name_absent) == ("P", "P")


@settings(max_examples=30, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=24),
    gaps=st.lists(st.integers(0, 20), min_size=24, max_size=24),  # mark bits (≤ 16.7 ms)
    level=st.floats(-35.0, -3.0),
    offset=st.floats(-0.01, 0.01),
    standard=st.sampled_from(list(FskStandard)),
)
def test_demodulator_tolerates_gaps_clock_offset_and_level(
    data: bytes, gaps: list[int], level: float, offset: float, standard: FskStandard
) -> None:
    bits = [np.ones(30, np.int8)]
    for i, byte in enumerate(data):
        bits += [uart_bits(bytes([byte])), np.ones(gaps[i], np.int8)]
    x = FskModulator(standard.spec, level).modulate(np.concatenate(bits))
    # sender clock off by ±1 %: resample
    x = np.interp(np.arange(0, x.size - 1, 1.0 + offset), np.arange(x.size), x)
    rx = FskDemodulator(standard.spec)
    chars = rx.push(np.concatenate([x, np.zeros(100)]))
    assert bytes(c.value for c in chars) == data
    assert all(c.framing_ok for c in chars)


@pytest.mark.parametrize("standard", list(FskStandard))
def test_end_of_burst_right_after_a_zero_byte_is_not_a_character(standard: FskStandard) -> None:
    """Regression (found by hypothesis): the drop from the last stop bit to silence looked like
    a start bit, so a burst ending in 0x00 decoded as two characters."""
    bits = np.concatenate([np.ones(30, np.int8), uart_bits(b"\x00")])
    x = FskModulator(standard.spec, -3.0).modulate(bits)[:-1]
    chars = FskDemodulator(standard.spec).push(np.concatenate([x, np.zeros(100)]))
    assert [(c.value, c.framing_ok) for c in chars] == [(0, True)]
