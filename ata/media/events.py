"""Events and statistics a :class:`~ata.media.session.MediaSession` reports."""

from __future__ import annotations

from dataclasses import dataclass

from ata.media.dtmf import DtmfEnded, DtmfStarted
from ata.media.jitter import JitterStats
from ata.media.latch import Addr

__all__ = [
    "DtmfEnded",
    "DtmfStarted",
    "MediaEvent",
    "MediaStats",
    "RemoteBye",
    "RemoteLatched",
    "RtcpReportReceived",
    "SsrcChanged",
]


@dataclass(frozen=True, slots=True)
class SsrcChanged:
    """The far end's stream now comes from a new SSRC (restart, transfer, re-INVITE)."""

    old: int | None
    new: int


@dataclass(frozen=True, slots=True)
class RemoteLatched:
    """Symmetric RTP: media now goes to (and is accepted from) a new address."""

    old: Addr | None
    new: Addr


@dataclass(frozen=True, slots=True)
class RtcpReportReceived:
    """The far end's view of our stream (from an SR or RR report block about our SSRC)."""

    ssrc: int  # the reporter
    sender_report: bool
    fraction_lost: float  # 0..1
    cumulative_lost: int
    jitter_ms: float
    rtt_ms: float | None


@dataclass(frozen=True, slots=True)
class RemoteBye:
    ssrc: int
    reason: str


MediaEvent = DtmfStarted | DtmfEnded | SsrcChanged | RemoteLatched | RtcpReportReceived | RemoteBye


@dataclass(frozen=True, slots=True)
class MediaStats:
    """Counters of one call's media (monotonic during the call)."""

    duration_s: float
    packets_sent: int
    octets_sent: int  # payload octets
    packets_received: int  # accepted RTP packets (all payload types)
    octets_received: int
    expected: int  # RFC 3550 A.3, current source
    lost: int  # cumulative lost (current source)
    jitter_ms: float  # our RFC 3550 jitter estimate of their stream
    remote_lost: int | None  # as the far end reports about our stream
    remote_fraction_lost: float | None
    remote_jitter_ms: float | None
    rtt_ms: float | None
    malformed_rtp: int
    wrong_payload_type: int
    foreign_packets: int  # from non-latched addresses
    bad_sequence: int
    rtcp_sent: int
    rtcp_received: int
    rtcp_malformed: int
    rtcp_foreign: int  # RTCP from addresses other than the far end's
    dtmf_sent: int
    dtmf_received: int
    ssrc_changes: int
    latch_switches: int
    jitter_buffer: JitterStats
    phase_advances: int = 0  # playout frame-grid moves (ata.media.phase)
    phase_advanced_ms: float = 0.0  # their total
