"""RTP packets (RFC 3550 §5.1): parse and build, with CSRC lists, header extensions, padding.

Theory of operation
-------------------
:func:`parse_rtp` turns one datagram into an :class:`RtpPacket` or raises
:class:`RtpParseError` (a typed error naming the reason, so the caller drops and counts it).
It checks everything a hostile datagram could lie about: version 2, the 12-byte fixed header,
the CSRC count against the length, the extension length, and the padding count (non-zero and
not larger than what follows the header). :func:`build_rtp` is the inverse; the fast path
(no CSRC, no extension, no padding) is one ``struct.pack`` plus the payload.

Sequence-number and timestamp arithmetic is modular: :func:`seq_delta` and :func:`ts_delta`
give the signed distance on the 16-bit and 32-bit circles.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "RTP_HEADER_SIZE",
    "RtpExtension",
    "RtpPacket",
    "RtpParseError",
    "build_rtp",
    "parse_rtp",
    "seq_delta",
    "ts_delta",
]

RTP_HEADER_SIZE: Final = 12
RTP_VERSION: Final = 2
_FIXED: Final = struct.Struct("!BBHII")
_EXT_HDR: Final = struct.Struct("!HH")


class RtpParseError(ValueError):
    """A datagram is not a valid RTP packet; ``reason`` says why (for counters and logs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """A header extension (RFC 3550 §5.3.1): 16-bit profile word and a multiple of 4 bytes."""

    profile: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (count octet included)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0


def seq_delta(a: int, b: int) -> int:
    """Signed distance ``a - b`` on the 16-bit sequence circle, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_delta(a: int, b: int) -> int:
    """Signed distance ``a - b`` on the 32-bit timestamp circle, in [-2³¹, 2³¹ - 1]."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP datagram; raise :class:`RtpParseError` when it is malformed."""
    n = len(data)
    if n < RTP_HEADER_SIZE:
        raise RtpParseError("short")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data, 0)
    if b0 >> 6 != RTP_VERSION:
        raise RtpParseError("version")
    cc = b0 & 0x0F
    pos = RTP_HEADER_SIZE + 4 * cc
    if pos > n:
        raise RtpParseError("csrc")
    csrc: tuple[int, ...] = struct.unpack_from(f"!{cc}I", data, RTP_HEADER_SIZE) if cc else ()
    extension = None
    if b0 & 0x10:
        if pos + 4 > n:
            raise RtpParseError("extension header")
        profile, words = _EXT_HDR.unpack_from(data, pos)
        end = pos + 4 + 4 * words
        if end > n:
            raise RtpParseError("extension length")
        extension = RtpExtension(profile, bytes(data[pos + 4 : end]))
        pos = end
    end = n
    padding = 0
    if b0 & 0x20:
        padding = data[n - 1]
        if padding == 0 or padding > n - pos:
            raise RtpParseError("padding")
        end = n - padding
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=bytes(data[pos:end]),
        marker=bool(b1 & 0x80),
        csrc=csrc,
        extension=extension,
        padding=padding,
    )


def build_rtp(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    *,
    marker: bool = False,
    csrc: tuple[int, ...] = (),
    extension: RtpExtension | None = None,
    padding: int = 0,
) -> bytes:
    """Serialise one RTP packet. ``padding`` (0 or 1..255) includes the count octet."""
    if not 0 <= payload_type <= 127:
        raise ValueError("payload type out of range")
    if len(csrc) > 15:
        raise ValueError("at most 15 CSRC")
    if not 0 <= padding <= 255:
        raise ValueError("padding out of range")
    b0 = 0x80 | len(csrc)
    if extension is not None:
        if len(extension.data) % 4:
            raise ValueError("extension data must be a multiple of 4 bytes")
        b0 |= 0x10
    if padding:
        b0 |= 0x20
    b1 = payload_type | (0x80 if marker else 0)
    head = _FIXED.pack(b0, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
    if not csrc and extension is None and not padding:
        return head + payload
    parts = [head]
    if csrc:
        parts.append(struct.pack(f"!{len(csrc)}I", *csrc))
    if extension is not None:
        parts.append(_EXT_HDR.pack(extension.profile, len(extension.data) // 4))
        parts.append(extension.data)
    parts.append(payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes((padding,)))
    return b"".join(parts)


def packet_to_bytes(packet: RtpPacket) -> bytes:
    """Serialise an :class:`RtpPacket` (round trip of :func:`parse_rtp`)."""
    return build_rtp(
        packet.payload_type,
        packet.sequence,
        packet.timestamp,
        packet.ssrc,
        packet.payload,
        marker=packet.marker,
        csrc=packet.csrc,
        extension=packet.extension,
        padding=packet.padding,
    )
