"""hal.framing.ChannelFramer: per-channel frame grid, phase moves, playback queue (no ALSA).

The capture input is a ramp (sample value = stream position), so every frame says where in the
stream it came from; the playback input is a ramp too (value = position in what the port
wrote), so the output says what was dropped, repeated or filled with silence.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.framing import FRAME, ChannelFramer


def ramp(start: int, n: int) -> np.ndarray:
    return (np.arange(start, start + n) % 32000).astype(np.int16)


class Rig:
    """Drives a framer like hal.alsa does: push a read, queue a playback frame per frame, take."""

    def __init__(self, period: int, step: int | None = None) -> None:
        self.framer = ChannelFramer(period=period, step=step)
        self.pos = 0  # capture stream position
        self.frames: list[np.ndarray] = []
        self.frame_ends: list[int] = []  # stream position after the frame's last new sample
        self.written = 0  # playback ramp position
        self.out: list[np.ndarray] = []

    def read(self, n: int) -> list[np.ndarray]:
        new = self.framer.push(ramp(self.pos, n))
        self.pos += n
        for _ in new:
            self.framer.queue_playback(ramp(self.written, FRAME) + 1)  # +1: never silent
            self.written += FRAME
        self.out.append(self.framer.take(n))
        self.frames += new
        return new

    @property
    def played(self) -> np.ndarray:
        return np.concatenate(self.out) if self.out else np.zeros(0, np.int16)


@pytest.mark.parametrize("period", [160, 80, 40, 32, 20, 1, 100, 320, 480])
def test_unshifted_frames_are_consecutive_and_playback_lags_by_the_lead(period: int) -> None:
    rig = Rig(period)
    while len(rig.frames) < 40:
        rig.read(period)
    f = rig.framer
    assert f.lead == FRAME - np.gcd(FRAME, period)
    for k, frame in enumerate(rig.frames):
        assert np.array_equal(frame, ramp(k * FRAME, FRAME))
    played = rig.played
    assert played.size == rig.pos == f.taken == f.captured  # as many out as in: no drift
    assert not played[: f.lead].any()
    assert np.array_equal(played[f.lead :], ramp(0, played.size - f.lead) + 1)
    assert (f.short_samples, f.dropped_samples, f.inserted_samples) == (0, 0, 0)


def test_advance_repeats_the_previous_tail_and_the_grid_stays_moved() -> None:
    rig = Rig(40, step=1)  # exact moves
    for _ in range(8):  # two frames, ending at 160 and 320
        rig.read(40)
    assert rig.framer.shift(50) == 50
    while len(rig.frames) < 5:
        rig.read(40)
    f2, f3, f4 = rig.frames[2:5]
    # the third frame: 50 samples repeated from the second, then 110 new (ends at 430)
    assert np.array_equal(f2, np.concatenate([ramp(270, 50), ramp(320, 110)]))
    assert np.array_equal(f3, ramp(430, FRAME))  # later frames: the new phase, no repeats
    assert np.array_equal(f4, ramp(590, FRAME))
    assert rig.framer.need == FRAME and rig.framer.shifted == 50


def test_advance_brings_the_tick_forward_by_whole_reads_and_playback_with_it() -> None:
    rig = Rig(40, step=1)
    for _ in range(8):
        rig.read(40)
    rig.framer.shift(50)  # due after 110 new samples: completes in the 3rd read, not the 4th
    arrivals = [len(rig.read(40)) for _ in range(8)]
    assert arrivals == [0, 0, 1, 0, 0, 0, 1, 0]  # 430 is read at 440; 590 at 600
    f = rig.framer
    # the tick came one read (40 samples) earlier: the playback drops exactly that much once
    assert (f.dropped_samples, f.short_samples, f.inserted_samples) == (40, 0, 0)
    played = rig.played
    assert played.size == rig.pos
    body = played[f.lead :].astype(np.int64) - 1
    jumps = np.flatnonzero(np.diff(body) != 1)
    assert len(jumps) == 1
    assert body[jumps[0] + 1] - body[jumps[0]] == 41  # 40 samples skipped, once


@pytest.mark.parametrize(("period", "shift", "dropped"), [(160, 50, 0), (1, 50, 50), (20, 50, 40)])
def test_advance_drops_what_the_tick_gains(period: int, shift: int, dropped: int) -> None:
    rig = Rig(period, step=1)
    for _ in range(3 * FRAME // period):
        rig.read(period)
    assert rig.framer.shift(shift) == shift
    for _ in range(6 * FRAME // period):
        rig.read(period)
    f = rig.framer
    assert (f.dropped_samples, f.short_samples) == (dropped, 0)
    assert rig.played.size == rig.pos


def test_retard_discards_the_oldest_samples_and_playback_repeats_to_wait() -> None:
    rig = Rig(40, step=1)
    for _ in range(8):
        rig.read(40)
    assert rig.framer.shift(-70) == -70
    while len(rig.frames) < 4:
        rig.read(40)
    f2, f3 = rig.frames[2:4]
    assert np.array_equal(f2, ramp(320 + 70, FRAME))  # 230 new samples, the oldest 70 dropped
    assert np.array_equal(f3, ramp(550, FRAME))
    f = rig.framer
    # the tick moved two reads (80 samples) later: the playback repeats 80 samples to wait
    assert (f.inserted_samples, f.short_samples, f.dropped_samples) == (80, 0, 0)
    body = rig.played[f.lead :].astype(np.int64) - 1
    jumps = np.flatnonzero(np.diff(body) != 1)
    assert len(jumps) == 1
    assert body[jumps[0] + 1] - body[jumps[0]] == -79  # 80 samples played again


def test_shifts_are_clamped_to_a_frame_that_needs_1_to_319_samples() -> None:
    f = ChannelFramer(step=1)
    assert f.shift(159) == 159
    assert f.shift(5) == 0  # the next frame already needs a single sample
    assert f.need == 1
    assert f.shift(-400) == -318
    assert f.need == 2 * FRAME - 1
    assert f.shifted == 159 - 318


def test_off_grid_reads_run_short_once_then_keep_the_lead() -> None:
    rig = Rig(160)
    rig.read(240)  # 1.5 frames in one read: the queue cannot cover it
    assert rig.framer.short_samples == 80
    for n in (80, 160, 240, 80, 160, 160, 240, 80):
        rig.read(n)
    assert rig.framer.short_samples == 80  # never again: the queue kept the extra lead
    assert rig.played.size == rig.pos


def test_restart_discards_the_partial_frame_and_resets_the_lead() -> None:
    rig = Rig(40)
    for _ in range(6):
        rig.read(40)
    assert rig.framer.shift(45) == 40
    rig.framer.restart()
    assert (rig.framer.pending, rig.framer.need, rig.framer.queued) == (0, FRAME, rig.framer.lead)
    rig.pos = 10_000  # samples were lost in the overrun
    while len(rig.frames) < 3:
        rig.read(40)
    assert np.array_equal(rig.frames[1], ramp(10_000, FRAME))
    assert np.array_equal(rig.frames[2], ramp(10_160, FRAME))
    assert rig.framer.short_samples == 0


@settings(max_examples=150, deadline=None)
@given(
    period=st.sampled_from([1, 8, 20, 32, 40, 80, 100, 160, 320]),
    exact=st.booleans(),
    plan=st.lists(st.tuples(st.integers(1, 12), st.integers(-159, 159)), min_size=1, max_size=12),
)
def test_property_frames_follow_the_grid_and_playback_never_runs_short(
    period: int, exact: bool, plan: list[tuple[int, int]]
) -> None:
    """Reads on the period grid, shifts between reads (as the media loop calls them)."""
    rig = Rig(period, step=1 if exact else None)
    boundary = 0  # stream position where the next frame's new samples end
    need = FRAME
    expected_ends: list[tuple[int, int]] = []  # (end position, new samples) per frame

    def read_once() -> None:
        nonlocal boundary, need
        before = len(rig.frames)
        rig.read(period)
        for _ in range(len(rig.frames) - before):
            boundary += need
            expected_ends.append((boundary, need))
            need = FRAME

    for reads, shift in plan:
        for _ in range(reads):
            read_once()
        since = rig.framer.pending + FRAME - need
        applied = rig.framer.shift(shift)
        if exact:  # clamped only when an earlier shift is still in progress
            assert applied == max(min(shift, need - 1), need - (2 * FRAME - 1))
        elif applied:  # rounded onto the read grid, never past the request for an advance
            assert (since + applied) % rig.framer.grain == 0
            assert (applied > 0) == (shift > 0) and (shift < 0 or applied <= shift)
        need -= applied
        # The framer's own next boundary agrees with the model (whose frames are checked below).
        assert rig.framer.need == need
    for _ in range(2 * FRAME // period + 2):  # settle: any drop still pending is carried out
        read_once()
    previous = np.zeros(FRAME, np.int16)
    for frame, (end, new) in zip(rig.frames, expected_ends, strict=True):
        # each frame ends at its boundary; a frame after an advance starts with a repeat
        fresh = min(new, FRAME)
        assert np.array_equal(frame[FRAME - fresh :], ramp(end - fresh, fresh))
        assert np.array_equal(frame[: FRAME - fresh], previous[fresh:])
        previous = frame
    f = rig.framer
    assert f.short_samples == 0
    assert rig.played.size == rig.pos == f.taken
    assert 0 <= f.queued <= FRAME + f.lead


def test_rejects_a_zero_period_or_a_bad_step() -> None:
    with pytest.raises(ValueError, match="period"):
        ChannelFramer(period=0)
    with pytest.raises(ValueError, match="step"):
        ChannelFramer(step=161)


@pytest.mark.parametrize(
    ("period", "shift", "applied"),
    [
        (40, 50, 40),
        (40, 39, 0),
        (40, 80, 80),
        (40, -70, -80),
        (40, -1, -40),
        (160, 159, 0),
        (160, -5, 0),
        (20, 59, 40),
        (1, 57, 57),
    ],
)
def test_moves_are_rounded_to_the_read_grid_by_default(
    period: int, shift: int, applied: int
) -> None:
    """A move that leaves the boundary between reads would only add capture latency."""
    rig = Rig(period)
    for _ in range(2 * FRAME // period):
        rig.read(period)
    assert rig.framer.shift(shift) == applied
    reads_to_frame = 0
    while len(rig.read(period)) == 0:
        reads_to_frame += 1
    # the moved frame completes exactly at the end of a read: no sample waits in ``pending``
    assert rig.framer.pending == 0
    assert (reads_to_frame + 1) * period == FRAME - applied
    f = rig.framer
    assert f.short_samples == 0
    assert f.dropped_samples == max(0, applied) and f.inserted_samples == max(0, -applied)


def test_a_move_realigns_an_off_grid_boundary() -> None:
    rig = Rig(40, step=1)
    for _ in range(4):
        rig.read(40)
    rig.framer.shift(10)  # exact: the boundary is now 10 samples off the read grid
    grid = rig.framer
    grid.step = grid.grain
    for _ in range(4):
        rig.read(40)  # a frame completed 10 samples before the end of a read
    assert grid.pending == 10
    assert grid.shift(35) == 30  # lands back on the grid (10 + 30 = 40)
    assert grid.shift(-5) == -40  # a retard too lands on the grid
