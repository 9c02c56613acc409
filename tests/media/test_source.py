"""RFC 3550 A.1 sequence validation, A.3 loss accounting, §6.4.1 jitter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ata.media.source import MAX_DROPOUT, RtpSource, SeqVerdict


def validated(seq: int) -> RtpSource:
    s = RtpSource(1, seq)
    assert s.update_seq(seq) is SeqVerdict.PROBATION
    assert s.update_seq((seq + 1) & 0xFFFF) is SeqVerdict.VALID
    return s


def test_probation_requires_two_sequential() -> None:
    s = RtpSource(1, 100)
    assert s.update_seq(100) is SeqVerdict.PROBATION
    assert s.update_seq(105) is SeqVerdict.PROBATION  # not sequential: probation restarts
    assert s.update_seq(106) is SeqVerdict.VALID
    assert s.expected == 1
    assert s.received == 1


def test_wrap_65535_to_0_counts_a_cycle() -> None:
    s = validated(65534)
    assert s.update_seq(0) is SeqVerdict.VALID
    assert s.cycles == 1 << 16
    assert s.extended_max == (1 << 16)
    assert s.expected == 2  # validation starts counting at the second packet (A.1 init_seq)
    assert s.lost == 0


def test_dropout_beyond_3000_is_bad_then_restart() -> None:
    s = validated(10)
    far = (11 + MAX_DROPOUT + 5) & 0xFFFF
    assert s.update_seq(far) is SeqVerdict.BAD
    assert s.update_seq((far + 1) & 0xFFFF) is SeqVerdict.RESTART
    assert s.update_seq((far + 2) & 0xFFFF) is SeqVerdict.VALID
    assert s.lost == 0
    assert s.expected == 2


def test_jump_within_dropout_counts_loss() -> None:
    s = validated(1000)
    assert s.update_seq(1101) is SeqVerdict.VALID
    assert s.lost == 99
    r = s.report()
    assert r.cumulative_lost == 99
    assert r.fraction_lost == (99 << 8) // 101
    # Next interval: nothing lost.
    for q in range(1102, 1112):
        s.update_seq(q)
    assert s.report().fraction_lost == 0


def test_misordered_and_duplicate_packets_accepted() -> None:
    s = validated(500)
    for q in (502, 503, 504):
        s.update_seq(q)
    assert s.update_seq(502) is SeqVerdict.VALID  # duplicate
    assert s.update_seq(405) is SeqVerdict.VALID  # 99 back: within MAX_MISORDER
    assert s.update_seq(401) is SeqVerdict.BAD  # 103 back: beyond MAX_MISORDER
    assert s.max_seq == 504


@given(st.lists(st.integers(1, 50), min_size=1, max_size=300), st.integers(0, 0xFFFF))
def test_extended_sequence_is_monotonic_under_forward_gaps(gaps: list[int], start: int) -> None:
    s = validated(start)
    seq = (start + 1) & 0xFFFF
    ext = s.extended_max
    total = 0
    for g in gaps:
        seq = (seq + g) & 0xFFFF
        total += g
        assert s.update_seq(seq) is SeqVerdict.VALID
        assert s.extended_max > ext
        ext = s.extended_max
    assert s.expected == total + 1
    assert s.lost == total - len(gaps)


def test_jitter_constant_delay_is_zero_and_spike_is_bounded() -> None:
    s = validated(1)
    for k in range(50):
        s.update_jitter(k * 160, 10.0 + k * 0.02)
    assert s.jitter < 1e-6
    s.update_jitter(50 * 160, 10.0 + 50 * 0.02 + 0.016)  # 16 ms late = 128 samples
    assert abs(s.jitter - 128 / 16) < 1e-6


def test_jitter_ignores_timestamp_jump() -> None:
    s = validated(1)
    s.update_jitter(0, 1.0)
    s.update_jitter(160, 1.02)
    s.update_jitter((160 + 2**31) & 0xFFFFFFFF, 1.04)
    assert s.jitter < 1.0
