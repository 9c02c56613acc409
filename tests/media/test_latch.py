"""Latching: never while the current source is alive, only after 10 consecutive packets."""

from __future__ import annotations

from ata.media.latch import Latch, LatchResult

CUR = ("198.51.100.1", 4000)
NEW = ("198.51.100.9", 4100)
EVIL = ("203.0.113.66", 6666)


def test_no_switch_while_current_alive() -> None:
    latch = Latch(CUR)
    t = 0.0
    for k in range(1000):
        t = k * 0.02
        assert latch.check(CUR, t, valid=True, seq=k) is LatchResult.ACCEPT
        assert latch.check(EVIL, t + 0.001, valid=True, seq=k) is LatchResult.FOREIGN
    assert latch.current == CUR
    assert latch.foreign == 1000
    assert latch.switches == 0


def test_switch_after_10_consecutive_when_current_silent() -> None:
    latch = Latch(CUR, silence=1.0)
    latch.check(CUR, 0.0, valid=True, seq=1)
    results = [latch.check(NEW, 2.0 + 0.02 * k, valid=True, seq=100 + k) for k in range(10)]
    assert results[:9] == [LatchResult.FOREIGN] * 9
    assert results[9] is LatchResult.SWITCHED
    assert latch.current == NEW
    assert latch.check(CUR, 2.3, valid=True, seq=2) is LatchResult.FOREIGN


def test_count_restarts_on_break() -> None:
    latch = Latch(CUR)
    for k in range(9):
        latch.check(NEW, 5.0 + k * 0.02, valid=True, seq=k)
    latch.check(NEW, 5.2, valid=False, seq=9)  # wrong payload type: restart
    for k in range(9):
        assert latch.check(NEW, 5.3 + k * 0.02, valid=True, seq=10 + k) is LatchResult.FOREIGN
    latch.check(EVIL, 5.5, valid=True, seq=0)  # interleaved third party: restart
    assert latch.check(NEW, 5.6, valid=True, seq=19) is LatchResult.FOREIGN
    assert latch.current == CUR


def test_unheard_configured_source_is_replaced() -> None:
    latch = Latch(("10.0.0.5", 4000))  # private address from SDP behind NAT: never heard
    res = [latch.check(NEW, 0.02 * k, valid=True, seq=k) for k in range(10)]
    assert res[-1] is LatchResult.SWITCHED
