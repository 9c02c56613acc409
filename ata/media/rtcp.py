"""RTCP (RFC 3550 §6): SR, RR, SDES, BYE; compound packets; the transmission interval.

Theory of operation
-------------------
:func:`parse_rtcp` validates a whole compound datagram before returning anything (RFC 3550
A.2 style): every packet has version 2, a length that fits in what remains, padding only on the
last packet, and well-formed contents (report blocks within the length, SDES items within their
chunk, BYE reason within the packet). Any violation raises :class:`RtcpParseError` and the
caller drops the datagram and counts it; nothing is partially applied. Unknown packet types
(APP, XR, feedback) are returned as :class:`RtcpUnknown` and ignored by the session.

The builders produce SR/RR + SDES CNAME (+ BYE) compounds. :func:`rtcp_interval` is the
§6.3.1 computation for a small session: 5 % of the session bandwidth for RTCP, a 5 s minimum
(halved for the first report), randomised over [0.5, 1.5] and divided by e − 3/2.

NTP times are 64-bit fixed point; ``ntp_middle32`` gives the LSR/DLSR form used for round-trip
time: ``RTT = A − LSR − DLSR`` in units of 1/65536 s.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Bye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "RtcpParseError",
    "RtcpUnknown",
    "SenderReport",
    "SourceDescription",
    "build_bye",
    "build_rr",
    "build_sdes",
    "build_sr",
    "ntp_from_seconds",
    "ntp_middle32",
    "parse_rtcp",
    "rtcp_interval",
]

PT_SR: Final = 200
PT_RR: Final = 201
PT_SDES: Final = 202
PT_BYE: Final = 203
SDES_CNAME: Final = 1
NTP_UNIX_OFFSET: Final = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_HDR: Final = struct.Struct("!BBH")
_BLOCK: Final = struct.Struct("!IIIIII")
_SR_INFO: Final = struct.Struct("!IIIIII")  # SSRC, NTP msw, NTP lsw, RTP ts, packets, octets


class RtcpParseError(ValueError):
    """A malformed RTCP datagram; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # 0..255
    cumulative_lost: int  # signed 24 bits
    extended_highest_seq: int
    jitter: int  # timestamp units
    lsr: int  # middle 32 bits of the NTP time of the last SR received (0: none)
    dlsr: int  # delay since that SR, 1/65536 s


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int  # 64-bit NTP timestamp
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDescription:
    chunks: tuple[tuple[int, tuple[tuple[int, bytes], ...]], ...]  # (ssrc, ((type, value),...))

    def cname(self, ssrc: int) -> str | None:
        for chunk_ssrc, items in self.chunks:
            if chunk_ssrc == ssrc:
                for kind, value in items:
                    if kind == SDES_CNAME:
                        return value.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True)
class Bye:
    ssrcs: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | RtcpUnknown


# --- NTP helpers -------------------------------------------------------------------------


def ntp_from_seconds(unix_seconds: float) -> int:
    """64-bit NTP timestamp of a Unix time (seconds)."""
    t = unix_seconds + NTP_UNIX_OFFSET
    whole = math.floor(t)
    frac = int((t - whole) * (1 << 32)) & 0xFFFFFFFF
    return ((whole & 0xFFFFFFFF) << 32) | frac


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp (LSR form, 1/65536 s units)."""
    return (ntp >> 16) & 0xFFFFFFFF


# --- parsing ------------------------------------------------------------------------------


def _parse_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if offset + count * _BLOCK.size > len(body):
        raise RtcpParseError("report blocks exceed packet")
    blocks = []
    for i in range(count):
        ssrc, lost_word, ext, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset + i * 24)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost_word >> 24, cumulative, ext, jitter, lsr, dlsr))
    return tuple(blocks)


def _parse_sdes(body: bytes, count: int) -> SourceDescription:
    chunks = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise RtcpParseError("sdes chunk truncated")
        (ssrc,) = struct.unpack_from("!I", body, pos)
        pos += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if pos >= len(body):
                raise RtcpParseError("sdes items unterminated")
            kind = body[pos]
            if kind == 0:
                pos = (pos + 4) & ~3  # null item, then pad to the next 32-bit boundary
                break
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise RtcpParseError("sdes item truncated")
            length = body[pos + 1]
            items.append((kind, bytes(body[pos + 2 : pos + 2 + length])))
            pos += 2 + length
        chunks.append((ssrc, tuple(items)))
    return SourceDescription(tuple(chunks))


def _parse_bye(body: bytes, count: int) -> Bye:
    if 4 * count > len(body):
        raise RtcpParseError("bye ssrc list truncated")
    ssrcs = struct.unpack_from(f"!{count}I", body, 0) if count else ()
    reason = ""
    pos = 4 * count
    if pos < len(body):
        length = body[pos]
        if pos + 1 + length > len(body):
            raise RtcpParseError("bye reason truncated")
        reason = body[pos + 1 : pos + 1 + length].decode("utf-8", "replace")
    return Bye(tuple(ssrcs), reason)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP datagram; raise :class:`RtcpParseError` if any part is invalid."""
    packets: list[RtcpPacket] = []
    pos = 0
    n = len(data)
    if n < 4 or n % 4:
        raise RtcpParseError("length not a positive multiple of 4")
    while pos < n:
        if pos + 4 > n:
            raise RtcpParseError("truncated header")
        b0, pt, words = _HDR.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpParseError("version")
        end = pos + 4 * (words + 1)
        if end > n:
            raise RtcpParseError("length exceeds datagram")
        count = b0 & 0x1F
        body_end = end
        if b0 & 0x20:
            if end != n:
                raise RtcpParseError("padding before the last packet")
            pad = data[end - 1]
            if pad == 0 or pad > end - pos - 4:
                raise RtcpParseError("padding")
            body_end = end - pad
        body = data[pos + 4 : body_end]
        if pt == PT_SR:
            if len(body) < _SR_INFO.size:
                raise RtcpParseError("sr truncated")
            ssrc, msw, lsw, rtp_ts, pkts, octets = _SR_INFO.unpack_from(body, 0)
            blocks = _parse_blocks(body, _SR_INFO.size, count)
            packets.append(SenderReport(ssrc, (msw << 32) | lsw, rtp_ts, pkts, octets, blocks))
        elif pt == PT_RR:
            if len(body) < 4:
                raise RtcpParseError("rr truncated")
            (ssrc,) = struct.unpack_from("!I", body, 0)
            packets.append(ReceiverReport(ssrc, _parse_blocks(body, 4, count)))
        elif pt == PT_SDES:
            packets.append(_parse_sdes(body, count))
        elif pt == PT_BYE:
            packets.append(_parse_bye(body, count))
        else:
            packets.append(RtcpUnknown(pt, count, bytes(body)))
        pos = end
    return packets


# --- building -----------------------------------------------------------------------------


def _header(count: int, pt: int, body_len: int) -> bytes:
    return _HDR.pack(0x80 | count, pt, body_len // 4)


def _blocks_bytes(blocks: tuple[ReportBlock, ...] | list[ReportBlock]) -> bytes:
    return b"".join(
        _BLOCK.pack(
            b.ssrc,
            ((b.fraction_lost & 0xFF) << 24) | (b.cumulative_lost & 0xFFFFFF),
            b.extended_highest_seq & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF,
            b.lsr & 0xFFFFFFFF,
            b.dlsr & 0xFFFFFFFF,
        )
        for b in blocks
    )


def build_sr(
    ssrc: int,
    ntp: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    blocks: tuple[ReportBlock, ...] | list[ReportBlock] = (),
) -> bytes:
    if len(blocks) > 31:
        raise ValueError("at most 31 report blocks")
    info = _SR_INFO.pack(
        ssrc,
        (ntp >> 32) & 0xFFFFFFFF,
        ntp & 0xFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    )
    body = info + _blocks_bytes(blocks)
    return _header(len(blocks), PT_SR, len(body)) + body


def build_rr(ssrc: int, blocks: tuple[ReportBlock, ...] | list[ReportBlock] = ()) -> bytes:
    if len(blocks) > 31:
        raise ValueError("at most 31 report blocks")
    body = struct.pack("!I", ssrc) + _blocks_bytes(blocks)
    return _header(len(blocks), PT_RR, len(body)) + body


def build_sdes(ssrc: int, cname: str) -> bytes:
    value = cname.encode("utf-8")[:255]
    chunk = struct.pack("!IBB", ssrc, SDES_CNAME, len(value)) + value + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    return _header(1, PT_SDES, len(chunk)) + chunk


def build_bye(ssrc: int, reason: str = "") -> bytes:
    body = struct.pack("!I", ssrc)
    if reason:
        raw = reason.encode("utf-8")[:255]
        body += bytes((len(raw),)) + raw
        body += bytes(-len(body) % 4)
    return _header(1, PT_BYE, len(body)) + body


# --- transmission interval ----------------------------------------------------------------

_COMPENSATION: Final = math.e - 1.5


def rtcp_interval(
    *,
    members: int,
    senders: int,
    we_sent: bool,
    session_bandwidth: float,
    avg_rtcp_size: float,
    initial: bool,
    rng: random.Random,
    min_interval: float = 5.0,
) -> float:
    """RFC 3550 §6.3.1 deterministic interval, randomised; ``session_bandwidth`` in octets/s."""
    rtcp_bw = 0.05 * session_bandwidth
    t_min = min_interval / 2.0 if initial else min_interval
    n = members
    if 0 < senders <= 0.25 * members:
        if we_sent:
            rtcp_bw *= 0.25
            n = senders
        else:
            rtcp_bw *= 0.75
            n = members - senders
    t = max(t_min, avg_rtcp_size * n / rtcp_bw) if rtcp_bw > 0 else t_min
    return t * (rng.random() + 0.5) / _COMPENSATION
