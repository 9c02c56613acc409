"""RFC 4733 sender and receiver."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ata.media.dtmf import (
    EVENT_FLASH,
    DtmfEnded,
    DtmfReceiver,
    DtmfSender,
    DtmfStarted,
    build_event,
    digit_to_event,
    event_name,
    parse_event,
)


def collect(sender: DtmfSender, ts0: int = 1000, ticks: int = 40):
    """Run the sender for ``ticks`` frames; returns [(tick, packet, suppressed)]."""
    out = []
    for k in range(ticks):
        packets, suppressed = sender.tick(ts0 + 160 * k)
        out.extend((k, p, suppressed) for p in packets)
    return out


def test_sender_packet_sequence() -> None:
    s = DtmfSender(volume=10)
    s.queue(5, 100)
    packets = collect(s)
    decoded = [(k, parse_event(p.payload), p.marker, p.timestamp) for k, p, _ in packets]
    # 100 ms = 5 frames: durations 160..800, the last with E; then two more E packets.
    assert [d.duration for _, d, _, _ in decoded] == [160, 320, 480, 640, 800, 800, 800]
    assert [d.end for _, d, _, _ in decoded] == [False] * 4 + [True] * 3
    assert [m for _, _, m, _ in decoded] == [True] + [False] * 6
    assert {ts for _, _, _, ts in decoded} == {1000}  # one timestamp per event
    assert all(d.event == 5 and d.volume == 10 for _, d, _, _ in decoded)
    assert [k for k, *_ in decoded] == [0, 1, 2, 3, 4, 5, 6]
    # Audio suppressed during the event's frames, not during the end retransmissions.
    assert [sup for _, _, sup in packets] == [True] * 5 + [False] * 2


def test_sender_interval_50ms_style_and_queue() -> None:
    s = DtmfSender(interval_frames=3)
    s.queue(1, 200)  # 10 frames
    s.queue(EVENT_FLASH, 40)
    packets = collect(s, ts0=0, ticks=60)
    first = [parse_event(p.payload) for _, p, _ in packets if parse_event(p.payload).event == 1]
    assert [e.duration for e in first] == [160, 640, 1120, 1600, 1600, 1600]
    flash = [(k, p) for k, p, _ in packets if parse_event(p.payload).event == EVENT_FLASH]
    assert flash[0][1].marker
    # The second event starts after the first's end retransmissions, with its own timestamp.
    assert flash[0][0] >= 12
    assert flash[0][1].timestamp == 160 * flash[0][0]


def test_payload_codec_and_names() -> None:
    assert build_event(11, True, 10, 800) == bytes.fromhex("0b8a0320")
    e = parse_event(bytes.fromhex("0b8a0320"))
    assert (e.event, e.end, e.volume, e.duration) == (11, True, 10, 800)
    assert [event_name(i) for i in range(17)] == [*list("0123456789*#ABCD"), "flash"]
    assert digit_to_event("#") == 11
    assert digit_to_event("flash") == EVENT_FLASH
    with pytest.raises(ValueError):
        digit_to_event("x")
    with pytest.raises(ValueError):
        parse_event(b"\x01\x02")


def feed(rx: DtmfReceiver, packets, t0: float = 0.0, step: float = 0.02):
    notices = []
    for i, (payload, ts) in enumerate(packets):
        notices += rx.receive(payload, ts, t0 + i * step)
    return notices


def test_receiver_start_end_and_duplicate_ends() -> None:
    rx = DtmfReceiver()
    pk = [(build_event(7, False, 10, d), 500) for d in (160, 320, 480)]
    pk += [(build_event(7, True, 10, 640), 500)] * 3
    notices = feed(rx, pk)
    assert notices == [DtmfStarted(7, 10, 500), DtmfEnded(7, 80, 500, False)]
    assert rx.duplicates == 2


def test_receiver_lost_end_times_out_once() -> None:
    rx = DtmfReceiver(timeout=0.25)
    notices = feed(rx, [(build_event(3, False, 10, 160 * i), 900) for i in range(1, 5)])
    assert notices == [DtmfStarted(3, 10, 900)]
    assert rx.get_timer() == pytest.approx(0.06 + 0.25)
    assert rx.poll(0.2) == []
    assert rx.poll(0.4) == [DtmfEnded(3, 80, 900, True)]
    assert rx.poll(1.0) == []
    # A late end packet of the timed-out event does not start a new digit.
    assert rx.receive(build_event(3, True, 10, 800), 900, 1.1) == []


def test_receiver_lost_start_packet_still_starts() -> None:
    rx = DtmfReceiver()
    notices = feed(
        rx, [(build_event(9, False, 10, 480), 100), (build_event(9, True, 10, 640), 100)]
    )
    assert [type(n) for n in notices] == [DtmfStarted, DtmfEnded]


def test_receiver_new_event_ends_previous_and_flash() -> None:
    rx = DtmfReceiver()
    notices = feed(
        rx,
        [(build_event(1, False, 10, 160), 100), (build_event(EVENT_FLASH, False, 10, 160), 900)],
    )
    assert notices[1] == DtmfEnded(1, 20, 100, True)
    assert isinstance(notices[2], DtmfStarted)
    assert notices[2].digit == "flash"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=6), st.integers(0, 10_000))
def test_no_doubled_or_missing_digits_under_loss_and_duplication(
    digits: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    tx = DtmfSender()
    for d in digits:
        tx.queue(d, 100)
    rx = DtmfReceiver(timeout=0.25)
    started, ended = [], []
    delivered: dict[int, int] = {}  # event timestamp -> event, for events with a packet through
    t = 0.0
    for k in range(len(digits) * 10 + 20):
        t = k * 0.02
        packets, _ = tx.tick(160 * k)
        wire = []
        for p in packets:
            if rng.random() < 0.2:
                continue  # lost
            wire.append(p)
            if rng.random() < 0.2:
                wire.append(p)  # duplicated
        for p in wire:
            delivered[p.timestamp] = parse_event(p.payload).event
            for n in rx.receive(p.payload, p.timestamp, t):
                (started if isinstance(n, DtmfStarted) else ended).append(n)
        ended.extend(rx.poll(t))
    ended.extend(rx.poll(t + 1.0))
    # Exactly one start and one end per event that got at least one packet through, in order.
    assert [(n.timestamp, n.event) for n in started] == sorted(delivered.items())
    assert [(n.timestamp, n.event) for n in ended] == sorted(delivered.items())
