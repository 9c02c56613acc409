"""Per-source receive state (RFC 3550 A.1, A.3, A.8): sequence validation, loss, jitter.

Theory of operation
-------------------
One :class:`RtpSource` exists per remote SSRC. :meth:`RtpSource.update_seq` is the
RFC 3550 A.1 algorithm: a new source is on probation until ``MIN_SEQUENTIAL`` packets arrive in
sequence; afterwards a forward jump smaller than ``MAX_DROPOUT`` is accepted (counting 16-bit
wraps in ``cycles``), a backward step of at most ``MAX_MISORDER`` is a late or duplicate packet
(accepted, the buffer sorts it out), and anything else is a *bad* sequence number: dropped,
unless the very next packet follows it, which means the sender restarted (the source is then
re-initialised, verdict :attr:`SeqVerdict.RESTART`).

Loss and the extended highest sequence number follow A.3; interarrival jitter follows §6.4.1
(``J += (|D| - J) / 16`` in timestamp units), computed on audio packets only, and reset across
a restart or a timestamp jump so one jump does not poison the estimate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "ReceptionReport",
    "RtpSource",
    "SeqVerdict",
]

RTP_SEQ_MOD: Final = 1 << 16
MAX_DROPOUT: Final = 3000
MAX_MISORDER: Final = 100
MIN_SEQUENTIAL: Final = 2
_JITTER_RESET_SAMPLES: Final = 8000 * 10  # |D| beyond 10 s is a timestamp jump, not jitter


class SeqVerdict(enum.Enum):
    VALID = "valid"  # in sequence (or a tolerable reordering): use it
    PROBATION = "probation"  # new source not yet validated: hold, do not play
    BAD = "bad"  # implausible jump: drop
    RESTART = "restart"  # sender restarted its sequence: valid, but resynchronise playout


@dataclass(frozen=True, slots=True)
class ReceptionReport:
    """Values for one RTCP report block about this source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 0..255, fixed point /256, since the previous report
    cumulative_lost: int  # signed 24-bit range
    extended_highest_seq: int
    jitter: int  # timestamp units


class RtpSource:
    """Receive state of one SSRC. Time values are seconds (``now``); ``clock_rate`` in Hz."""

    __slots__ = (
        "bad_seq",
        "base_seq",
        "bytes_received",
        "clock_rate",
        "cycles",
        "expected_prior",
        "jitter",
        "max_seq",
        "probation",
        "received",
        "received_prior",
        "ssrc",
        "transit",
    )

    def __init__(self, ssrc: int, seq: int, clock_rate: int = 8000) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.base_seq = seq
        self.max_seq = (seq - 1) & 0xFFFF
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0
        self.probation = MIN_SEQUENTIAL
        self.jitter = 0.0
        self.transit: float | None = None
        self.bytes_received = 0

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0
        self.transit = None

    def update_seq(self, seq: int) -> SeqVerdict:
        """RFC 3550 A.1 ``update_seq``; also counts the packet when it is accepted."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return SeqVerdict.VALID
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return SeqVerdict.PROBATION
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                self._init_seq(seq)
                self.received += 1
                return SeqVerdict.RESTART
            self.bad_seq = (seq + 1) & 0xFFFF
            return SeqVerdict.BAD
        # else: duplicate or reordered packet, accepted
        self.received += 1
        return SeqVerdict.VALID

    def update_jitter(self, rtp_ts: int, now: float) -> None:
        """§6.4.1 interarrival jitter with arrival time ``now`` (seconds)."""
        arrival = now * self.clock_rate
        transit = arrival - rtp_ts
        if self.transit is None:
            self.transit = transit
            return
        d = transit - self.transit
        self.transit = transit
        # Timestamps live on a 32-bit circle: fold the difference.
        d = (d + 2**31) % 2**32 - 2**31
        if abs(d) > _JITTER_RESET_SAMPLES:
            return  # a timestamp jump, not jitter
        self.jitter += (abs(d) - self.jitter) / 16.0

    def reset_jitter_reference(self) -> None:
        """Forget the previous transit time (after a timestamp jump or a resync)."""
        self.transit = None

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (may be negative with duplicates), clamped to 24 bits."""
        lost = self.expected - self.received
        return max(-0x800000, min(0x7FFFFF, lost))

    def report(self) -> ReceptionReport:
        """A report block for this source; advances the 'prior' counters (A.3)."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return ReceptionReport(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=self.lost,
            extended_highest_seq=self.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
        )
