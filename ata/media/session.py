"""One call's media, sans-IO: G.711 RTP both ways, RFC 4733 events, CN, RTCP, latching.

Theory of operation
-------------------
The driver (``ata.runtime.rtp_session``) owns the sockets and the clock and calls:

* ``receive_rtp(data, addr, now)`` for every datagram on the RTP port. The packet is parsed
  (malformed: dropped, counted), its payload type checked (unknown: dropped, counted), its
  source address checked by the :class:`~ata.media.latch.Latch` (foreign: dropped, counted),
  its sequence number validated per SSRC (:class:`~ata.media.source.RtpSource`, RFC 3550
  A.1; a new SSRC is adopted once it passes probation, and reported as
  :class:`SsrcChanged`). Audio is decoded into the :class:`~ata.media.jitter.JitterBuffer`,
  telephone-events go to the :class:`~ata.media.dtmf.DtmfReceiver`, CN to the buffer's noise
  generator.
* ``send_frame(samples, now, silent=False)`` once per captured 20 ms frame, paced by the sample
  clock. The RTP timestamp advances by 160 per call, whatever ``now`` says. Returns the RTP
  datagrams to send: audio, or telephone-event packets while a digit is being sent, or CN / no
  packet during silence when CN sending is enabled.
* ``pull_frame(now)`` once per 20 ms playout frame: 160 samples from the jitter buffer.
* ``receive_rtcp``, ``get_timer()`` / ``handle_timer(now)`` (RTCP reports, DTMF end timeouts),
  ``close(now)`` (final report + BYE).
* ``next_event()`` drains events: DTMF started/ended, SSRC changes, re-latching, RTCP reports,
  BYE.
* After a new offer/answer: ``set_remote``, ``set_payload_type`` (PCMU ⇄ PCMA),
  ``set_telephone_event_pt``, ``set_direction`` (hold/resume).
* ``stats()`` and ``summary()`` (one ``X-RTP-Stat`` style line for the BYE and the call log).

Nothing here raises on bad input: every datagram either is used or is dropped and counted.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from ata.media import rtcp as rtcpmod
from ata.media.cn import CnAction, CnSender, build_cn, parse_cn
from ata.media.dtmf import DtmfReceiver, DtmfSender, DtmfStarted, digit_to_event
from ata.media.events import (
    MediaEvent,
    MediaStats,
    RemoteBye,
    RemoteLatched,
    RtcpReportReceived,
    SsrcChanged,
)
from ata.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ata.media.jitter import FrameKind, JitterBuffer, JitterConfig, JitterMode
from ata.media.latch import Addr, Latch, LatchResult
from ata.media.phase import AlignerConfig, PlayoutAligner
from ata.media.rtp import RtpPacket, RtpParseError, build_rtp, parse_rtp
from ata.media.source import RtpSource, SeqVerdict

__all__ = ["MediaConfig", "MediaSession"]

PT_PCMU: Final = 0
PT_PCMA: Final = 8
FRAME: Final = 160
CLOCK_RATE: Final = 8000
_MAX_EVENTS: Final = 256
_SESSION_BW: Final = 64000 / 8 + 50 * 40  # octets/s: G.711 payload + IP/UDP/RTP headers

Frame = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Per-call media parameters (from the SDP offer/answer and the line's settings)."""

    local_ssrc: int
    payload_type: int = PT_PCMU  # 0 PCMU or 8 PCMA
    remote_rtp: Addr | None = None
    remote_rtcp: Addr | None = None  # default: RTP port + 1
    telephone_event_pt: int | None = 101
    cn_pt: int | None = 13  # accepted when received; sent only with send_cn
    send_cn: bool = False
    cname: str = "pi-ata"
    initial_seq: int = 0
    initial_timestamp: int = 0
    jitter: JitterConfig = field(default_factory=JitterConfig)
    align: AlignerConfig = field(default_factory=AlignerConfig)  # never in FIXED mode
    rtcp_enabled: bool = True
    rtcp_min_interval: float = 5.0
    dtmf_interval_frames: int = 1
    dtmf_volume: int = 10
    dtmf_timeout: float = 0.25
    latch_threshold: int = 10
    latch_silence: float = 1.0
    wallclock_offset: float = 0.0  # Unix time = now + offset (for SR NTP timestamps)
    seed: int = 0


class MediaSession:
    """Sans-IO media of one call. See the module docstring for the driver's contract."""

    def __init__(self, config: MediaConfig) -> None:
        if config.payload_type not in (PT_PCMU, PT_PCMA):
            raise ValueError("payload type must be 0 (PCMU) or 8 (PCMA)")
        self.config = config
        self._encode = ulaw_encode if config.payload_type == PT_PCMU else alaw_encode
        self._decode = ulaw_decode if config.payload_type == PT_PCMU else alaw_decode
        self._rng = random.Random(config.seed)
        self.latch = Latch(
            config.remote_rtp, threshold=config.latch_threshold, silence=config.latch_silence
        )
        self._remote_rtcp = config.remote_rtcp or _rtcp_of(config.remote_rtp)
        self.jitter = JitterBuffer(config.jitter, seed=config.seed + 1)
        fixed = config.jitter.mode is JitterMode.FIXED
        self.aligner = PlayoutAligner(AlignerConfig(enabled=False) if fixed else config.align)
        self._dtmf_tx = DtmfSender(
            interval_frames=config.dtmf_interval_frames, volume=config.dtmf_volume
        )
        self._dtmf_rx = DtmfReceiver(timeout=config.dtmf_timeout)
        self._cn_tx = CnSender()
        self._seq = config.initial_seq & 0xFFFF
        self._ts = config.initial_timestamp & 0xFFFFFFFF
        self._index0: int | None = None  # first codec frame index seen by send_frame
        self._ts0 = self._ts
        self._last_index = -1
        self._sending = True
        self._receiving = True
        self._first_audio = True
        self._events: deque[MediaEvent] = deque(maxlen=_MAX_EVENTS)
        self._source: RtpSource | None = None
        self._candidate: RtpSource | None = None
        self._held: RtpPacket | None = None
        self._payload_type = config.payload_type
        self._allowed: set[int] = set()
        self._set_allowed()
        self._started_at: float | None = None
        self._last_now = 0.0
        self._next_rtcp: float | None = None
        self._rtcp_initial = True
        self._avg_rtcp_size = 100.0
        self._sent_since_report = False
        self._last_send_time: float | None = None
        self._last_sent_ts = self._ts
        self._last_sr_mid: int = 0
        self._last_sr_at = 0.0
        self._remote_cname: str | None = None
        self._remote_report: RtcpReportReceived | None = None
        self._closed = False
        self._c = dict.fromkeys(
            (
                "packets_sent",
                "octets_sent",
                "packets_received",
                "octets_received",
                "malformed_rtp",
                "wrong_payload_type",
                "bad_sequence",
                "rtcp_sent",
                "rtcp_received",
                "rtcp_malformed",
                "rtcp_foreign",
                "dtmf_received",
                "ssrc_changes",
            ),
            0,
        )

    # -- helpers ---------------------------------------------------------------------------

    @property
    def remote_rtp(self) -> Addr | None:
        return self.latch.current

    @property
    def remote_rtcp(self) -> Addr | None:
        return self._remote_rtcp

    def _start(self, now: float) -> None:
        if self._started_at is None:
            self._started_at = now
            if self.config.rtcp_enabled:
                self._next_rtcp = now + self._interval()

    def _interval(self) -> float:
        value = rtcpmod.rtcp_interval(
            members=2,
            senders=2 if self._sent_since_report else 1,
            we_sent=self._sent_since_report,
            session_bandwidth=_SESSION_BW,
            avg_rtcp_size=self._avg_rtcp_size,
            initial=self._rtcp_initial,
            rng=self._rng,
            min_interval=self.config.rtcp_min_interval,
        )
        self._rtcp_initial = False
        return value

    def next_event(self) -> MediaEvent | None:
        return self._events.popleft() if self._events else None

    def _set_allowed(self) -> None:
        allowed = {self._payload_type}
        if self.config.telephone_event_pt is not None:
            allowed.add(self.config.telephone_event_pt)
        if self.config.cn_pt is not None:
            allowed.add(self.config.cn_pt)
        self._allowed = allowed

    @property
    def payload_type(self) -> int:
        return self._payload_type

    def set_payload_type(self, payload_type: int) -> None:
        """Switch codec (re-INVITE from PCMU to PCMA or back); the timeline continues."""
        if payload_type not in (PT_PCMU, PT_PCMA):
            raise ValueError("payload type must be 0 (PCMU) or 8 (PCMA)")
        self._payload_type = payload_type
        self._encode = ulaw_encode if payload_type == PT_PCMU else alaw_encode
        self._decode = ulaw_decode if payload_type == PT_PCMU else alaw_decode
        self._set_allowed()

    def set_telephone_event_pt(self, payload_type: int | None) -> None:
        """The negotiated telephone-event payload type (None: not negotiated)."""
        if payload_type is not None and not 96 <= payload_type <= 127:
            raise ValueError("telephone-event needs a dynamic payload type (96-127)")
        self.config = dataclasses.replace(self.config, telephone_event_pt=payload_type)
        self._set_allowed()

    def set_direction(self, *, send: bool, receive: bool) -> None:
        """Hold / resume (SDP direction). Not sending: timestamps still advance with the
        sample clock and RTCP continues; not receiving: arriving audio is dropped."""
        if send and not self._sending:
            self._first_audio = True  # marker on the first packet after a pause
        self._sending = send
        self._receiving = receive

    def set_remote(self, rtp: Addr, rtcp: Addr | None = None) -> None:
        """New remote address from a re-INVITE / UPDATE (not from latching)."""
        self.latch = Latch(rtp, threshold=self.latch.threshold, silence=self.latch.silence)
        self._remote_rtcp = rtcp or _rtcp_of(rtp)

    # -- receiving RTP ---------------------------------------------------------------------

    def receive_rtp(self, data: bytes, addr: Addr, now: float) -> None:
        self._start(now)
        self._last_now = now
        try:
            pkt = parse_rtp(data)
        except RtpParseError:
            self._c["malformed_rtp"] += 1
            return
        valid = pkt.payload_type in self._allowed
        old_remote = self.latch.current
        verdict = self.latch.check(addr, now, valid=valid, seq=pkt.sequence)
        if verdict is LatchResult.FOREIGN:
            return
        if not valid:
            self._c["wrong_payload_type"] += 1
            return
        if verdict is LatchResult.SWITCHED:
            self._remote_rtcp = _rtcp_of(addr)
            self._events.append(RemoteLatched(old_remote, addr))
        source = self._source
        if source is None or pkt.ssrc != source.ssrc:
            self._new_ssrc_packet(pkt, now)
            return
        prev_max = source.max_seq
        result = source.update_seq(pkt.sequence)
        if result is SeqVerdict.BAD:
            self._c["bad_sequence"] += 1
            return
        if result is SeqVerdict.RESTART:
            self._resync_timeline()
        self._accept(
            pkt,
            now,
            in_order=pkt.sequence == source.max_seq,
            contiguous=pkt.sequence == (prev_max + 1) & 0xFFFF,
        )

    def _new_ssrc_packet(self, pkt: RtpPacket, now: float) -> None:
        cand = self._candidate
        if cand is None or cand.ssrc != pkt.ssrc:
            cand = self._candidate = RtpSource(pkt.ssrc, pkt.sequence, CLOCK_RATE)
        verdict = cand.update_seq(pkt.sequence)
        if verdict is SeqVerdict.PROBATION:
            self._held = pkt
            return
        if verdict is not SeqVerdict.VALID:
            return
        old = self._source.ssrc if self._source is not None else None
        self._source = cand
        self._candidate = None
        if old is not None:
            self._c["ssrc_changes"] += 1
        self._events.append(SsrcChanged(old, pkt.ssrc))
        self._resync_timeline()
        held, self._held = self._held, None
        self._accept(pkt, now, in_order=True)
        if (
            held is not None
            and held.ssrc == pkt.ssrc
            and (held.sequence + 1) & 0xFFFF == pkt.sequence
        ):
            # The probation packet is played too (the timeline is anchored on the newer one).
            cand.base_seq = held.sequence
            cand.received += 1
            self._accept(held, now, in_order=False)

    def _resync_timeline(self) -> None:
        self.jitter.reset()
        self.aligner.reset()
        for notice in self._dtmf_rx.reset():
            self._events.append(notice)
        if self._source is not None:
            self._source.reset_jitter_reference()

    def _accept(
        self, pkt: RtpPacket, now: float, *, in_order: bool, contiguous: bool = False
    ) -> None:
        self._c["packets_received"] += 1
        self._c["octets_received"] += len(pkt.payload)
        pt = pkt.payload_type
        if not self._receiving:
            return
        if pt == self._payload_type:
            if not pkt.payload:
                return
            samples = self._decode(np.frombuffer(pkt.payload, dtype=np.uint8))
            if self._source is not None and in_order:
                self._source.update_jitter(pkt.timestamp, now)
            self.jitter.put(pkt.timestamp, samples, now, in_order=in_order, contiguous=contiguous)
        elif pt == self.config.telephone_event_pt:
            for notice in self._dtmf_rx.receive(pkt.payload, pkt.timestamp, now):
                if isinstance(notice, DtmfStarted):
                    self._c["dtmf_received"] += 1
                self._events.append(notice)
        elif pt == self.config.cn_pt:
            try:
                level, coeffs = parse_cn(pkt.payload)
            except ValueError:
                self._c["malformed_rtp"] += 1
                return
            self.jitter.put_cn(pkt.timestamp, level, coeffs, now)

    # -- playout ---------------------------------------------------------------------------

    def pull_frame(self, now: float) -> Frame:
        """The next 160 samples to play (audio, concealment, comfort noise or silence)."""
        frame, _kind = self.pull_frame_kind(now)
        return frame

    def pull_frame_kind(self, now: float) -> tuple[Frame, FrameKind]:
        self._last_now = now
        if self._dtmf_rx.active:
            for notice in self._dtmf_rx.poll(now):
                self._events.append(notice)
        result = self.jitter.pop(now)
        self.aligner.observe(self.jitter.slack, now)
        return result

    def phase_advance(self) -> float:
        """Seconds by which the playout frame grid should move earlier now (0.0: keep it).

        The driver asks the audio port (``advance_phase``) and reports what it applied with
        :meth:`phase_advanced`; see :mod:`ata.media.phase`.
        """
        return self.aligner.take_request()

    def phase_advanced(self, seconds: float, now: float) -> None:
        self.aligner.applied(seconds, now)

    # -- sending ---------------------------------------------------------------------------

    def send_dtmf(self, event: int | str, duration_ms: int = 100, now: float = 0.0) -> None:
        """Queue an RFC 4733 event (0-15 or '0'-'9', '*', '#', 'A'-'D'; 16 or 'flash')."""
        del now
        code = digit_to_event(event) if isinstance(event, str) else event
        if self.config.telephone_event_pt is None:
            raise ValueError("telephone-event was not negotiated")
        self._dtmf_tx.queue(code, duration_ms)

    def _rtp(self, pt: int, ts: int, payload: bytes, marker: bool) -> bytes:
        data = build_rtp(pt, self._seq, ts, self.config.local_ssrc, payload, marker=marker)
        self._seq = (self._seq + 1) & 0xFFFF
        self._c["packets_sent"] += 1
        self._c["octets_sent"] += len(payload)
        return data

    def send_frame(
        self,
        samples: Frame,
        now: float,
        *,
        silent: bool = False,
        frame_index: int | None = None,
    ) -> list[tuple[bytes, Addr]]:
        """Encode one captured 160-sample frame; returns the RTP datagrams to send.

        ``frame_index`` is the codec's frame counter (``hal.audio.CapturedFrame.index``):
        frames the codec dropped then show up as a timestamp gap, like samples lost at a
        sound card. Without it the timestamp advances by exactly 160 per call.
        """
        self._start(now)
        if frame_index is not None and frame_index > self._last_index:
            if self._index0 is None:
                self._index0 = frame_index
                self._ts0 = self._ts
            self._ts = (self._ts0 + (frame_index - self._index0) * FRAME) & 0xFFFFFFFF
            self._last_index = frame_index
        ts = self._ts
        self._ts = (ts + FRAME) & 0xFFFFFFFF
        dest = self.latch.current
        if dest is None or self._closed or not self._sending:
            return []
        out: list[tuple[bytes, Addr]] = []
        te_pt = self.config.telephone_event_pt
        suppress = False
        if te_pt is not None and self._dtmf_tx.busy:
            packets, suppress = self._dtmf_tx.tick(ts)
            out.extend((self._rtp(te_pt, p.timestamp, p.payload, p.marker), dest) for p in packets)
        if not suppress:
            action = CnAction.AUDIO
            level = 0
            cn_pt = self.config.cn_pt
            if self.config.send_cn and cn_pt is not None:
                action, level = self._cn_tx.decide(samples, silent)
            if action is CnAction.AUDIO:
                marker = self._first_audio or self._cn_tx.marker_pending
                self._first_audio = False
                self._cn_tx.marker_pending = False
                payload = self._encode(samples).tobytes()
                out.append((self._rtp(self._payload_type, ts, payload, marker), dest))
            elif action is CnAction.CN and cn_pt is not None:
                out.append((self._rtp(cn_pt, ts, build_cn(level), False), dest))
        if out:
            self._sent_since_report = True
            self._last_send_time = now
            self._last_sent_ts = ts
        return out

    # -- RTCP ------------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        timers = [t for t in (self._next_rtcp, self._dtmf_rx.get_timer()) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> list[tuple[bytes, Addr]]:
        """Run due timers; returns RTCP datagrams (for the RTCP socket)."""
        self._start(now)
        for notice in self._dtmf_rx.poll(now):
            self._events.append(notice)
        if self._next_rtcp is None or now < self._next_rtcp or self._closed:
            return []
        out = self._report(now, bye=None)
        self._next_rtcp = now + self._interval()
        return out

    def _ntp(self, now: float) -> int:
        return rtcpmod.ntp_from_seconds(now + self.config.wallclock_offset)

    def _report(self, now: float, bye: str | None) -> list[tuple[bytes, Addr]]:
        dest = self._remote_rtcp
        blocks: list[rtcpmod.ReportBlock] = []
        src = self._source
        if src is not None and src.received:
            r = src.report()
            dlsr = int((now - self._last_sr_at) * 65536) if self._last_sr_mid else 0
            blocks.append(
                rtcpmod.ReportBlock(
                    r.ssrc,
                    r.fraction_lost,
                    r.cumulative_lost,
                    r.extended_highest_seq,
                    r.jitter,
                    self._last_sr_mid,
                    dlsr,
                )
            )
        ssrc = self.config.local_ssrc
        if self._sent_since_report and self._last_send_time is not None:
            rtp_now = self._last_sent_ts + int((now - self._last_send_time) * CLOCK_RATE)
            head = rtcpmod.build_sr(
                ssrc,
                self._ntp(now),
                rtp_now,
                self._c["packets_sent"],
                self._c["octets_sent"],
                blocks,
            )
        else:
            head = rtcpmod.build_rr(ssrc, blocks)
        data = head + rtcpmod.build_sdes(ssrc, self.config.cname)
        if bye is not None:
            data += rtcpmod.build_bye(ssrc, bye)
        self._sent_since_report = False
        self._avg_rtcp_size = self._avg_rtcp_size * 15 / 16 + (len(data) + 28) / 16
        if dest is None:
            return []
        self._c["rtcp_sent"] += 1
        return [(data, dest)]

    def receive_rtcp(self, data: bytes, addr: Addr, now: float) -> None:
        self._start(now)
        current = self.latch.current
        configured = self._remote_rtcp
        if addr != configured and (current is None or addr[0] != current[0]):
            self._c["rtcp_foreign"] += 1
            return
        try:
            packets = rtcpmod.parse_rtcp(data)
        except rtcpmod.RtcpParseError:
            self._c["rtcp_malformed"] += 1
            return
        self._c["rtcp_received"] += 1
        self._remote_rtcp = addr  # symmetric RTCP: answer where it comes from
        for p in packets:
            if isinstance(p, rtcpmod.SenderReport):
                self._last_sr_mid = rtcpmod.ntp_middle32(p.ntp)
                self._last_sr_at = now
                self._report_blocks(p.ssrc, p.reports, now, sender=True)
            elif isinstance(p, rtcpmod.ReceiverReport):
                self._report_blocks(p.ssrc, p.reports, now, sender=False)
            elif isinstance(p, rtcpmod.SourceDescription):
                if self._source is not None:
                    self._remote_cname = p.cname(self._source.ssrc) or self._remote_cname
            elif isinstance(p, rtcpmod.Bye):
                for s in p.ssrcs:
                    self._events.append(RemoteBye(s, p.reason))

    def _report_blocks(
        self, reporter: int, blocks: tuple[rtcpmod.ReportBlock, ...], now: float, *, sender: bool
    ) -> None:
        for b in blocks:
            if b.ssrc != self.config.local_ssrc:
                continue
            rtt_ms: float | None = None
            if b.lsr:
                a = rtcpmod.ntp_middle32(self._ntp(now))
                rtt = (a - b.lsr - b.dlsr) & 0xFFFFFFFF
                if rtt < 60 * 65536:
                    rtt_ms = rtt * 1000.0 / 65536.0
            if rtt_ms is None and self._remote_report is not None:
                rtt_ms = self._remote_report.rtt_ms  # keep the last measured value
            report = RtcpReportReceived(
                reporter,
                sender,
                b.fraction_lost / 256.0,
                b.cumulative_lost,
                b.jitter * 1000.0 / CLOCK_RATE,
                rtt_ms,
            )
            self._remote_report = report
            self._events.append(report)

    def close(self, now: float, reason: str = "") -> list[tuple[bytes, Addr]]:
        """Final report and BYE (RTCP datagrams); the session sends nothing afterwards."""
        if self._closed:
            return []
        out = self._report(now, bye=reason) if self.config.rtcp_enabled else []
        self._closed = True
        self._next_rtcp = None
        self._last_now = now
        return out

    # -- statistics ------------------------------------------------------------------------

    def stats(self, now: float | None = None) -> MediaStats:
        c = self._c
        src = self._source
        rr = self._remote_report
        t = self._last_now if now is None else now
        duration = 0.0 if self._started_at is None else max(0.0, t - self._started_at)
        return MediaStats(
            duration_s=duration,
            packets_sent=c["packets_sent"],
            octets_sent=c["octets_sent"],
            packets_received=c["packets_received"],
            octets_received=c["octets_received"],
            expected=src.expected if src is not None else 0,
            lost=max(0, src.lost) if src is not None else 0,
            jitter_ms=(src.jitter * 1000.0 / CLOCK_RATE) if src is not None else 0.0,
            remote_lost=rr.cumulative_lost if rr is not None else None,
            remote_fraction_lost=rr.fraction_lost if rr is not None else None,
            remote_jitter_ms=rr.jitter_ms if rr is not None else None,
            rtt_ms=rr.rtt_ms if rr is not None else None,
            malformed_rtp=c["malformed_rtp"],
            wrong_payload_type=c["wrong_payload_type"],
            foreign_packets=self.latch.foreign,
            bad_sequence=c["bad_sequence"],
            rtcp_sent=c["rtcp_sent"],
            rtcp_received=c["rtcp_received"],
            rtcp_malformed=c["rtcp_malformed"],
            rtcp_foreign=c["rtcp_foreign"],
            dtmf_sent=self._dtmf_tx.events_sent,
            dtmf_received=c["dtmf_received"],
            ssrc_changes=c["ssrc_changes"],
            latch_switches=self.latch.switches,
            jitter_buffer=self.jitter.stats(),
            phase_advances=self.aligner.advances,
            phase_advanced_ms=self.aligner.advanced_ms,
        )

    def summary(self, now: float | None = None) -> str:
        """One line in the X-RTP-Stat style, for the BYE and the call log."""
        s = self.stats(now)
        codec = "PCMU" if self._payload_type == PT_PCMU else "PCMA"
        jb = s.jitter_buffer
        rtt = "" if s.rtt_ms is None else f",RTT={s.rtt_ms:.0f}"
        return (
            f"PS={s.packets_sent},OS={s.octets_sent},PR={s.packets_received},"
            f"OR={s.octets_received},PL={s.lost},JI={s.jitter_ms:.0f},LA={jb.target_ms:.0f},"
            f"DU={s.duration_s:.0f},EN={codec},DE={codec}{rtt},CS={jb.concealed},"
            f"LT={jb.late},DI={jb.discarded}"
        )


def _rtcp_of(addr: Addr | None) -> Addr | None:
    return None if addr is None else (addr[0], addr[1] + 1)
