"""MediaSession end to end in memory: audio both ways, robustness, DTMF, CN, RTCP, latching."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.media.dtmf import build_event
from ata.media.events import (
    DtmfEnded,
    DtmfStarted,
    RemoteLatched,
    RtcpReportReceived,
    SsrcChanged,
)
from ata.media.jitter import FrameKind
from ata.media.rtcp import build_rr
from ata.media.rtp import build_rtp, parse_rtp
from ata.media.session import MediaConfig, MediaSession
from tests.media.helpers import A, B, Link, dominant_freq, pair, tone

EVIL = ("203.0.113.66", 6666)


def events(s: MediaSession) -> list[object]:
    out = []
    while (e := s.next_event()) is not None:
        out.append(e)
    return out


def tone_at(freq: float):
    return lambda k: tone(freq, 160, start=160 * k)


def run(link: Link, frames: int, freq: float = 1000.0, t0: float = 10.0, hook=None) -> np.ndarray:
    out = []
    for k in range(frames):
        now = t0 + 0.02 * k
        link.send(tone(freq, 160, start=160 * k), now)
        if hook is not None:
            hook(k, now)
        link.deliver(now + 0.019)
        out.append(link.rx.pull_frame(now + 0.019))
    return np.concatenate(out)


def test_tones_both_ways_with_loss_reordering_duplication() -> None:
    a, b = pair()
    ab = Link(a, b, A, seed=3, loss=0.05, dup=0.05, jitter_s=0.03)
    ba = Link(b, a, B, seed=4, loss=0.05, dup=0.05, jitter_s=0.03)
    out_a, out_b = [], []
    for k in range(400):
        now = 5.0 + 0.02 * k
        ab.send(tone(1000.0, 160, start=160 * k), now)
        ba.send(tone(440.0, 160, start=160 * k), now)
        ab.deliver(now + 0.019)
        ba.deliver(now + 0.019)
        out_b.append(b.pull_frame(now + 0.019))
        out_a.append(a.pull_frame(now + 0.019))
    assert abs(dominant_freq(np.concatenate(out_b)[-16000:]) - 1000) < 5
    assert abs(dominant_freq(np.concatenate(out_a)[-16000:]) - 440) < 5
    sb = b.stats()
    # RFC 3550 cumulative loss is expected − received, and duplicates count as received.
    assert 5 <= sb.lost + sb.jitter_buffer.duplicates <= 45
    assert 5 <= sb.jitter_buffer.lost <= 40
    assert sb.jitter_buffer.concealed > 0
    assert sb.jitter_buffer.duplicates > 0
    assert sb.packets_sent == 400


def test_sequence_and_timestamp_wrap() -> None:
    a, b = pair(initial_seq=65500, initial_timestamp=2**32 - 160 * 30)
    out = run(Link(a, b, A), 200)
    st_ = b.stats()
    assert st_.lost == 0
    assert st_.expected == 200  # the probation packet is counted and played too
    assert st_.jitter_buffer.concealed == 0
    assert abs(dominant_freq(out[-8000:]) - 1000) < 5


def _tamper(link: Link, rewrite) -> None:
    orig = link.tx.send_frame

    def send_frame(frame, now, **kw):
        return [(rewrite(d), addr) for d, addr in orig(frame, now, **kw)]

    link.tx.send_frame = send_frame  # type: ignore[method-assign]


def _rewrite(data: bytes, *, seq=None, ts=None, ssrc=None, pt=None) -> bytes:
    p = parse_rtp(data)
    return build_rtp(
        p.payload_type if pt is None else pt,
        p.sequence if seq is None else seq(p.sequence),
        p.timestamp if ts is None else ts(p.timestamp),
        p.ssrc if ssrc is None else ssrc,
        p.payload,
        marker=p.marker,
    )


@pytest.mark.parametrize("jump", [2**31, -(2**31), 5000 * 160, -5000 * 160])
def test_timestamp_jump_mid_call_keeps_audio_flowing(jump: int) -> None:
    a, b = pair()
    link = Link(a, b, A)
    state = {"on": False}
    _tamper(link, lambda d: _rewrite(d, ts=lambda t: (t + jump) & 0xFFFFFFFF) if state["on"] else d)
    out = run(link, 300, hook=lambda k, now: state.update(on=k >= 150))
    kinds_after = out[-100 * 160 :]
    assert abs(dominant_freq(kinds_after) - 1000) < 5
    assert np.abs(kinds_after).max() > 7000  # real audio, not faded PLC
    assert b.stats().jitter_buffer.concealed <= 6


def test_sequence_dropout_beyond_3000_recovers() -> None:
    a, b = pair()
    link = Link(a, b, A)
    state = {"on": False}
    _tamper(link, lambda d: _rewrite(d, seq=lambda s: (s + 5000) & 0xFFFF) if state["on"] else d)
    out = run(link, 200, hook=lambda k, now: state.update(on=k >= 100))
    assert b.stats().bad_sequence == 1
    assert abs(dominant_freq(out[-80 * 160 :]) - 1000) < 5
    assert np.abs(out[-80 * 160 :]).max() > 7000


def test_ssrc_change_mid_call() -> None:
    a, b = pair()
    link = Link(a, b, A)
    state = {"on": False}
    _tamper(
        link,
        lambda d: (
            _rewrite(
                d, ssrc=0xBEEF, seq=lambda s: (s + 12345) & 0xFFFF, ts=lambda t: t ^ 0x5A5A5A5A
            )
            if state["on"]
            else d
        ),
    )
    out = run(link, 200, hook=lambda k, now: state.update(on=k >= 100))
    ev = [e for e in events(b) if isinstance(e, SsrcChanged)]
    assert ev == [SsrcChanged(None, 0x1111), SsrcChanged(0x1111, 0xBEEF)]
    assert b.stats().ssrc_changes == 1
    assert abs(dominant_freq(out[-80 * 160 :]) - 1000) < 5
    assert np.abs(out[-80 * 160 :]).max() > 7000


def test_third_address_flood_is_not_played_and_does_not_relatch() -> None:
    a, b = pair()
    link = Link(a, b, A)
    seq = iter(range(100000))

    def inject(k: int, now: float) -> None:
        if 50 <= k < 150:  # 10 spoofed packets per frame: 1000 packets from a third address
            for _ in range(10):
                n = next(seq)
                pkt = build_rtp(
                    0, n & 0xFFFF, 160 * n, 0x666, np.full(160, 0x80, np.uint8).tobytes()
                )
                b.receive_rtp(pkt, EVIL, now + 0.001)

    out = run(link, 200, hook=inject)
    s = b.stats()
    assert s.foreign_packets == 1000
    assert s.latch_switches == 0
    assert b.remote_rtp == A
    assert abs(dominant_freq(out[-150 * 160 :]) - 1000) < 5
    assert np.abs(out[60 * 160 :]).max() < 9000  # the spoofed full-scale frames never played
    assert not [e for e in events(b) if isinstance(e, RemoteLatched)]
    # Replies still go to the real far end.
    assert all(addr == A for _, addr in b.send_frame(np.zeros(160, np.int16), 20.0))


def test_relatch_after_source_moves() -> None:
    a, b = pair()
    moved = ("192.0.2.1", 40123)  # NAT rebinding: same phone, new port
    link = Link(a, b, A)
    state = {"src": A}
    out = []
    for k in range(200):
        now = 10.0 + 0.02 * k
        if k == 100:
            link.src = moved
        link.send(tone(1000.0, 160, start=160 * k), now)
        link.deliver(now + 0.019)
        out.append(b.pull_frame(now + 0.019))
    del state
    assert b.remote_rtp == moved
    assert [e for e in events(b) if isinstance(e, RemoteLatched)] == [RemoteLatched(A, moved)]
    assert b.remote_rtcp == ("192.0.2.1", 40124)
    assert abs(dominant_freq(np.concatenate(out)[-50 * 160 :]) - 1000) < 5


def test_wrong_payload_type_and_garbage_dropped_and_counted() -> None:
    a, b = pair()
    link = Link(a, b, A)

    def inject(k: int, now: float) -> None:
        if k % 5 == 0:
            b.receive_rtp(build_rtp(18, 1, 2, 0x1111, b"\x00" * 20), A, now)  # G.729: not offered
            b.receive_rtp(b"\x00\x01garbage", A, now)
            b.receive_rtcp(b"\x81\xc9\x00\x07\x00\x00", A, now)  # truncated RR

    out = run(link, 200, hook=inject)
    s = b.stats()
    assert s.wrong_payload_type == 40
    assert s.malformed_rtp == 40
    assert s.rtcp_malformed == 40
    b.receive_rtcp(build_rr(7), EVIL, 30.0)
    assert b.stats().rtcp_foreign == 1
    assert b.stats().rtcp_received == 0
    assert s.latch_switches == 0
    assert abs(dominant_freq(out[-8000:]) - 1000) < 5
    assert s.jitter_buffer.concealed == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_any_datagram_never_raises(data: bytes, rtcp: bool) -> None:
    _, b = pair()
    if rtcp:
        b.receive_rtcp(data, A, 1.0)
    else:
        b.receive_rtp(data, A, 1.0)
        b.receive_rtp(data, A, 1.02)
    b.pull_frame(1.03)
    b.handle_timer(100.0)


def test_dtmf_end_to_end_single_digit_and_audio_suppressed() -> None:
    a, b = pair()
    link = Link(a, b, A)
    sent: list[bytes] = []

    def hook(k: int, now: float) -> None:
        if k == 50:
            a.send_dtmf("5", 120, now)
        if k == 60:
            a.send_dtmf("flash", 100, now)

    orig = link.send

    def send(frame, now, **kw):
        out = orig(frame, now, **kw)
        sent.extend(out)
        return out

    link.send = send  # type: ignore[method-assign]
    run(link, 120, hook=hook)
    ev = [e for e in events(b) if isinstance(e, DtmfStarted | DtmfEnded)]
    assert [(type(e).__name__, e.digit) for e in ev] == [
        ("DtmfStarted", "5"),
        ("DtmfEnded", "5"),
        ("DtmfStarted", "flash"),
        ("DtmfEnded", "flash"),
    ]
    assert isinstance(ev[1], DtmfEnded)
    assert ev[1].duration_ms == 120
    assert not ev[1].timed_out
    pkts = [parse_rtp(d) for d in sent]
    assert [p.sequence for p in pkts] == [(pkts[0].sequence + i) & 0xFFFF for i in range(len(pkts))]
    audio_ts = [p.timestamp for p in pkts if p.payload_type == 0]
    # 6 frames of digit "5" replace audio; timestamps count samples throughout.
    assert len(audio_ts) == 120 - 6 - 5
    assert all((t - audio_ts[0]) % 160 == 0 for t in audio_ts)
    assert b.stats().dtmf_received == 2
    assert a.stats().dtmf_sent == 2


def test_timestamps_count_samples_not_wall_time() -> None:
    a = MediaSession(MediaConfig(local_ssrc=1, remote_rtp=B, initial_timestamp=1000))
    rng = random.Random(1)
    now = 0.0
    stamps = []
    for _ in range(50):
        now += rng.uniform(0.0, 0.1)  # irregular wall clock
        stamps += [parse_rtp(d).timestamp for d, _ in a.send_frame(np.zeros(160, np.int16), now)]
    assert stamps == [1000 + 160 * i for i in range(50)]


def test_comfort_noise_sent_during_silence_and_played() -> None:
    a, b = pair(send_cn=True)
    link = Link(a, b, A)
    sent = []
    kinds = []
    for k in range(300):
        now = 10.0 + 0.02 * k
        talking = k < 100 or k >= 250
        frame = tone(800.0, 160, start=160 * k) if talking else tone(300.0, 160, 60.0, 160 * k)
        sent += link.send(frame, now, silent=not talking)
        link.deliver(now + 0.019)
        kinds.append(b.pull_frame_kind(now + 0.019)[1])
    pts = [parse_rtp(d).payload_type for d in sent]
    assert pts.count(13) == 1  # one CN at the start of the 3 s silence (refresh is 5 s)
    assert len(sent) == 100 + 1 + 50
    assert kinds[110:245].count(FrameKind.COMFORT_NOISE) >= 130
    assert kinds[-30:].count(FrameKind.AUDIO) == 30
    first_after = next(
        parse_rtp(d)
        for d in sent
        if parse_rtp(d).timestamp >= a.config.initial_timestamp + 250 * 160
    )
    assert first_after.marker


def test_rtcp_reports_loss_jitter_and_rtt() -> None:
    a, b = pair(rtcp_min_interval=1.0)
    ab = Link(a, b, A, seed=9, loss=0.1)
    ba = Link(b, a, B, seed=10)
    for k in range(500):
        now = 10.0 + 0.02 * k
        ab.send(tone(1000.0, 160, start=160 * k), now)
        ba.send(tone(500.0, 160, start=160 * k), now)
        ab.deliver(now + 0.019)
        ba.deliver(now + 0.019)
        a.pull_frame(now + 0.019)
        b.pull_frame(now + 0.019)
        for s, peer, addr in ((a, b, A), (b, a, B)):
            t = s.get_timer()
            if t is not None and t <= now:
                for d, _ in s.handle_timer(now):
                    peer.receive_rtcp(d, addr, now + 0.030)  # 30 ms one way for RTCP
    reports = [e for e in events(a) if isinstance(e, RtcpReportReceived)]
    assert len(reports) >= 5
    last = reports[-1]
    assert last.sender_report
    assert 20 <= last.cumulative_lost <= 80  # b saw about 10 % of a's packets lost
    assert 0.02 < sum(r.fraction_lost for r in reports) / len(reports) < 0.25
    assert last.rtt_ms is not None
    assert 55 <= last.rtt_ms <= 65  # 30 ms each way
    sa = a.stats()
    assert sa.rtt_ms == last.rtt_ms
    assert sa.remote_lost == last.cumulative_lost
    summary = b.summary()
    assert summary.startswith("PS=500,OS=80000,PR=")
    assert ",EN=PCMU,DE=PCMU" in summary


def test_close_sends_bye_once() -> None:
    a, _ = pair()
    a.send_frame(np.zeros(160, np.int16), 1.0)
    out = a.close(2.0, "hangup")
    assert len(out) == 1
    assert out[0][1] == ("192.0.2.2", 50001)
    assert a.close(3.0) == []
    assert a.send_frame(np.zeros(160, np.int16), 3.0) == []


def test_pcma_round_trip() -> None:
    a, b = pair(payload_type=8)
    out = run(Link(a, b, A), 100, freq=697.0)
    assert abs(dominant_freq(out[-8000:]) - 697) < 5


def test_frame_index_gaps_become_timestamp_gaps() -> None:
    a = MediaSession(MediaConfig(local_ssrc=1, remote_rtp=B, initial_timestamp=5000))
    stamps = []
    for index in (7, 8, 9, 12, 13):  # the codec dropped frames 10 and 11
        for d, _ in a.send_frame(np.zeros(160, np.int16), 0.0, frame_index=index):
            stamps.append(parse_rtp(d).timestamp)
    assert stamps == [5000, 5160, 5320, 5800, 5960]


def test_hold_and_resume_directions() -> None:
    a, b = pair()
    link = Link(a, b, A)
    kinds = []
    sent = []
    for k in range(150):
        now = 10.0 + 0.02 * k
        if k == 50:
            a.set_direction(send=False, receive=True)
        if k == 100:
            a.set_direction(send=True, receive=True)
        sent += link.send(tone(1000.0, 160, start=160 * k), now)
        link.deliver(now + 0.019)
        kinds.append(b.pull_frame_kind(now + 0.019)[1])
    pkts = [parse_rtp(d) for d in sent]
    assert len(pkts) == 100
    resumed = pkts[50]
    assert resumed.marker
    assert resumed.timestamp - pkts[49].timestamp == 51 * 160  # the timeline kept counting
    assert kinds[-40:].count(FrameKind.AUDIO) == 40
    assert b.stats().jitter_buffer.lost == 0  # a hold gap is not loss (sequence contiguous)
    assert b.stats().lost == 0
    # Receiving disabled: audio dropped (not played).
    b.set_direction(send=True, receive=False)
    link.send(tone(1000.0, 160), 20.0)
    link.deliver(20.1)
    assert b.stats().jitter_buffer.received == 100


def test_codec_switch_mid_call() -> None:
    a, b = pair()
    link = Link(a, b, A)
    out = []
    for k in range(200):
        now = 10.0 + 0.02 * k
        if k == 100:
            a.set_payload_type(8)
            b.set_payload_type(8)
        link.send(tone(1000.0, 160, start=160 * k), now)
        link.deliver(now + 0.019)
        out.append(b.pull_frame(now + 0.019))
    x = np.concatenate(out)
    assert abs(dominant_freq(x[-8000:]) - 1000) < 5
    assert b.stats().wrong_payload_type == 0
    assert "EN=PCMA" in b.summary()
    with pytest.raises(ValueError):
        a.set_payload_type(18)


def test_telephone_event_payload_type_renegotiated() -> None:
    a, b = pair()
    b.set_telephone_event_pt(96)
    a.set_telephone_event_pt(96)
    link = Link(a, b, A)

    def hook(k: int, now: float) -> None:
        if k == 10:
            a.send_dtmf("9", 60, now)

    run(link, 40, hook=hook)
    assert [e.digit for e in events(b) if isinstance(e, DtmfStarted)] == ["9"]
    assert b.stats().wrong_payload_type == 0
    b.set_telephone_event_pt(None)
    b.receive_rtp(build_rtp(96, 1, 2, 0x1111, build_event(1, False, 10, 160)), A, 20.0)
    assert b.stats().wrong_payload_type == 1
    with pytest.raises(ValueError):
        a.set_telephone_event_pt(13)
