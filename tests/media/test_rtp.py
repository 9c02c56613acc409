"""RTP packet parsing/building: golden packets, malformed input, round trips, seq math."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.media.rtp import (
    RtpExtension,
    RtpPacket,
    RtpParseError,
    build_rtp,
    packet_to_bytes,
    parse_rtp,
    seq_delta,
    ts_delta,
)

# V=2, PT=0, M=1, seq=0x1234, ts=0xDEADBEEF, SSRC=0x01020304, 4 payload bytes.
GOLDEN_PCMU = bytes.fromhex("80801234deadbeef01020304") + b"\xff\xfe\x7f\x00"
# V=2, P=1, X=1, CC=2, PT=101, seq=1, ts=2, ssrc=3, CSRC 10, 11, ext profile 0xBEDE with one
# word, payload 4 bytes (RFC 4733 event), padding 4 bytes (count 4).
GOLDEN_FULL = (
    bytes.fromhex("b265000100000002 00000003 0000000a 0000000b bede0001 10aabbcc".replace(" ", ""))
    + bytes.fromhex("0a0a00a0")
    + b"\x00\x00\x00\x04"
)


def test_golden_pcmu() -> None:
    p = parse_rtp(GOLDEN_PCMU)
    assert p == RtpPacket(0, 0x1234, 0xDEADBEEF, 0x01020304, b"\xff\xfe\x7f\x00", marker=True)
    assert build_rtp(0, 0x1234, 0xDEADBEEF, 0x01020304, p.payload, marker=True) == GOLDEN_PCMU


def test_golden_csrc_extension_padding() -> None:
    p = parse_rtp(GOLDEN_FULL)
    assert p.payload_type == 101
    assert not p.marker
    assert (p.sequence, p.timestamp, p.ssrc) == (1, 2, 3)
    assert p.csrc == (10, 11)
    assert p.extension == RtpExtension(0xBEDE, bytes.fromhex("10aabbcc"))
    assert p.payload == bytes.fromhex("0a0a00a0")
    assert p.padding == 4
    assert packet_to_bytes(p) == GOLDEN_FULL


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "short"),
        (GOLDEN_PCMU[:11], "short"),
        (b"\x40" + GOLDEN_PCMU[1:], "version"),  # V=1
        (b"\x00" + GOLDEN_PCMU[1:], "version"),  # V=0
        (b"\x8f" + GOLDEN_PCMU[1:12], "csrc"),  # CC=15 but no CSRC words
        (b"\x90" + GOLDEN_PCMU[1:12] + b"\xbe\xde", "extension header"),
        (b"\x90" + GOLDEN_PCMU[1:12] + b"\xbe\xde\xff\xff", "extension length"),
        (b"\xa0" + GOLDEN_PCMU[1:12] + b"\x01\x02\x00", "padding"),  # padding count 0
        (b"\xa0" + GOLDEN_PCMU[1:12] + b"\x01\x09", "padding"),  # count > available
    ],
)
def test_golden_invalid(data: bytes, reason: str) -> None:
    with pytest.raises(RtpParseError) as info:
        parse_rtp(data)
    assert info.value.reason == reason


@given(st.binary(max_size=200))
def test_parse_never_raises_anything_else(data: bytes) -> None:
    try:
        p = parse_rtp(data)
    except RtpParseError:
        return
    assert 0 <= p.payload_type <= 127
    assert len(p.payload) <= len(data) - 12


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=300),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        st.integers(0, 0xFFFF),
        st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
    padding=st.sampled_from([0, 1, 4, 255]),
)


@given(packets)
def test_round_trip(p: RtpPacket) -> None:
    assert parse_rtp(packet_to_bytes(p)) == p


@given(st.integers(0, 0xFFFF), st.integers(-32768, 32767))
def test_seq_delta_inverts_addition(a: int, d: int) -> None:
    assert seq_delta((a + d) & 0xFFFF, a) == d


@given(st.integers(0, 0xFFFFFFFF), st.integers(-(2**31), 2**31 - 1))
def test_ts_delta_inverts_addition(a: int, d: int) -> None:
    assert ts_delta((a + d) & 0xFFFFFFFF, a) == d


def test_wrap_examples() -> None:
    assert seq_delta(0, 65535) == 1
    assert seq_delta(65535, 0) == -1
    assert ts_delta(0, 0xFFFFFF60) == 160


def test_build_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        build_rtp(128, 0, 0, 0, b"")
    with pytest.raises(ValueError):
        build_rtp(0, 0, 0, 0, b"", csrc=tuple(range(16)))
    with pytest.raises(ValueError):
        build_rtp(0, 0, 0, 0, b"", extension=RtpExtension(1, b"abc"))
