"""RTCP: golden compound packets, malformed input dropped, interval rules, NTP helpers."""

from __future__ import annotations

import contextlib
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ata.media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpParseError,
    RtcpUnknown,
    SenderReport,
    SourceDescription,
    build_bye,
    build_rr,
    build_sdes,
    build_sr,
    ntp_from_seconds,
    ntp_middle32,
    parse_rtcp,
    rtcp_interval,
)

BLOCK = ReportBlock(0xCAFE, 25, -3, 0x0001_0010, 40, 0x1234_5678, 0x0001_8000)

# Hand-assembled from RFC 3550 §6.4.1/§6.5/§6.6: SR with one report block, SDES CNAME "ab",
# BYE without reason.
GOLDEN = bytes.fromhex(
    "81c8000c"  # V=2 RC=1 PT=200 length=12
    "00000001"  # SSRC
    "e0000000 80000000"  # NTP
    "00000640"  # RTP ts
    "0000000a 00000640"  # packets, octets
    "0000cafe 19fffffd 00010010 00000028 12345678 00018000"  # report block
    "81ca0003 00000001 01026162 00000000"  # SDES: chunk ssrc, CNAME len 2 "ab", end, pad
    "81cb0001 00000001".replace(" ", "")  # BYE
)


def test_golden_compound_parse_and_build() -> None:
    got = parse_rtcp(GOLDEN)
    assert got == [
        SenderReport(1, 0xE0000000_80000000, 1600, 10, 1600, (BLOCK,)),
        SourceDescription(((1, ((1, b"ab"),)),)),
        Bye((1,), ""),
    ]
    built = build_sr(1, 0xE0000000_80000000, 1600, 10, 1600, [BLOCK]) + build_sdes(1, "ab")
    built += build_bye(1)
    assert built == GOLDEN
    sdes = got[1]
    assert isinstance(sdes, SourceDescription)
    assert sdes.cname(1) == "ab"
    assert sdes.cname(2) is None


def test_rr_and_bye_with_reason_round_trip() -> None:
    data = build_rr(7, [BLOCK, BLOCK]) + build_bye(7, "bye now")
    assert parse_rtcp(data) == [ReceiverReport(7, (BLOCK, BLOCK)), Bye((7,), "bye now")]


def test_unknown_packet_types_are_kept_not_rejected() -> None:
    app = bytes.fromhex("80cc0002") + b"\x00\x00\x00\x01" + b"NAME"
    got = parse_rtcp(build_rr(1) + app)
    assert isinstance(got[1], RtcpUnknown)
    assert got[1].packet_type == 204


@pytest.mark.parametrize(
    "data",
    [
        b"",
        GOLDEN[:7],  # not a multiple of 4
        GOLDEN[:8],  # SR length beyond the datagram
        b"\x41" + GOLDEN[1:],  # version 1
        bytes.fromhex("81c90001 00000001"),  # RR claims a block it does not have
        bytes.fromhex("80c80001 00000001"),  # SR shorter than its sender info
        bytes.fromhex("81ca0001 00000001"),  # SDES chunk without terminator
        bytes.fromhex("81ca0002 00000001 01106162"),  # SDES item longer than packet
        bytes.fromhex("82cb0001 00000001"),  # BYE count 2, one SSRC
        bytes.fromhex("81cb0002 00000001 09616263"),  # BYE reason longer than packet
        bytes.fromhex("a1c90001 00000001") + build_rr(2),  # padding before the last packet
        bytes.fromhex("a0c90001 00000000"),  # padding count 0
    ],
)
def test_malformed_rejected(data: bytes) -> None:
    with pytest.raises(RtcpParseError):
        parse_rtcp(data)


@given(st.binary(max_size=256))
def test_parse_fuzz_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(RtcpParseError):
        parse_rtcp(data)


@given(st.binary(min_size=1, max_size=len(GOLDEN) - 1))
def test_truncations_of_golden_are_rejected(prefix_len_source: bytes) -> None:
    n = len(prefix_len_source)
    with pytest.raises(RtcpParseError):
        parse_rtcp(GOLDEN[:n])


def test_ntp_middle32_and_rtt_arithmetic() -> None:
    t = 1_700_000_000.25
    ntp = ntp_from_seconds(t)
    assert ntp >> 32 == int(t) + 2208988800
    assert abs((ntp & 0xFFFFFFFF) / 2**32 - 0.25) < 1e-9
    mid = ntp_middle32(ntp)
    later = ntp_middle32(ntp_from_seconds(t + 0.150))
    dlsr = int(0.100 * 65536)
    rtt = ((later - mid - dlsr) & 0xFFFFFFFF) / 65536
    assert abs(rtt - 0.050) < 1e-3


def test_interval_rules() -> None:
    rng = random.Random(3)
    values = [
        rtcp_interval(
            members=2,
            senders=2,
            we_sent=True,
            session_bandwidth=10000,
            avg_rtcp_size=100,
            initial=False,
            rng=rng,
        )
        for _ in range(2000)
    ]
    # 5 s minimum, randomised over [0.5, 1.5] and divided by e - 3/2.
    assert min(values) >= 5 * 0.5 / 1.2183 - 1e-9
    assert max(values) <= 5 * 1.5 / 1.2183 + 1e-9
    assert abs(sum(values) / len(values) - 5 / 1.2183) < 0.1
    first = rtcp_interval(
        members=2,
        senders=1,
        we_sent=False,
        session_bandwidth=10000,
        avg_rtcp_size=100,
        initial=True,
        rng=rng,
    )
    assert first <= 2.5 * 1.5 / 1.2183 + 1e-9
    # Tiny bandwidth: the bandwidth term dominates the minimum.
    slow = rtcp_interval(
        members=2,
        senders=2,
        we_sent=True,
        session_bandwidth=100,
        avg_rtcp_size=100,
        initial=False,
        rng=random.Random(1),
    )
    assert slow > 5 / 1.2183


def test_cumulative_lost_is_signed_24_bits() -> None:
    blk = ReportBlock(1, 0, -1, 0, 0, 0, 0)
    raw = build_rr(9, [blk])
    assert struct.unpack_from("!I", raw, 12)[0] & 0xFFFFFF == 0xFFFFFF
    rr = parse_rtcp(raw)[0]
    assert isinstance(rr, ReceiverReport)
    assert rr.reports[0].cumulative_lost == -1
