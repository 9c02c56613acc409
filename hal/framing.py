"""Per-channel framing of a codec's sample stream, with a movable frame boundary.

Theory of operation
-------------------
A device backend (``hal.alsa``) reads the codec in chunks of any size (ALSA periods, or less,
or several after a stalled loop) and must hand each port 160-sample frames on *that port's*
frame grid, which :meth:`hal.audio.BufferedAudioPort.advance_phase` can move. One
:class:`ChannelFramer` per channel does the bookkeeping; it does no I/O and reads no clock.

*Capture*. :meth:`ChannelFramer.push` appends a chunk's samples to ``pending`` (the samples
captured since the current frame began) and returns every frame completed: a frame is due when
``need`` new samples are pending (160 normally). A frame is the last 160 samples of
``previous frame + the need new samples``: with ``need`` = 160 that is just the new samples.

*Playback*. For each captured frame the backend queues the port's playback frame
(:meth:`queue_playback`), then, once per chunk, takes exactly as many samples as the chunk
captured (:meth:`take`), so capture clocks playback and the two never drift. The queue starts
with ``160 − g`` samples of silence, ``g = gcd(160, period)`` being the read granularity: with
reads on the period grid the pending capture ``b`` after a read is at most ``160 − g`` and the
queue then holds ``160 − g − b ≥ 0`` samples, so a take never runs short (with 160-sample
periods the queue adds no latency at all). A take that does run short (reads off the period
grid) plays silence for the missing samples, counted in ``short_samples``; the queue keeps the
extra lead from then on (like a jitter buffer, it never runs short there again).

*Moving the grid* (:meth:`shift`, ``a`` samples; positive = earlier). ``a > 0``: the frame in
progress ends early: the next frame is due after ``160 − a`` new samples and begins with the
last ``a`` samples of the previous frame (a short repeat). ``a < 0``: it ends late: the next
frame needs ``160 + |a|`` new samples and the oldest ``|a|`` of them are discarded. Every later
frame keeps the new phase. The playback side follows the *tick*: the backend learns of a frame
only at the end of the read in which it completed, so in time the tick moves by whole read
grains ``g``, not by ``a``. The queue's lead is therefore set back to what the new phase needs
(``160 − g + (b mod g)``, with ``b`` counted from the moved boundary): for an advance the
difference — ``a`` rounded to whole grains — is dropped from the head of the queue (the tail
of the frame being played now; dropped lazily at the next :meth:`take` that has samples to
spare); for a retard the missing lead is inserted at the head, repeating the last played
samples. So the playback path never gains latency against the ticks, and never runs short.
Resolution in time is therefore the read grain: with 160-sample periods an advance re-cuts
the frames without moving any tick (and drops nothing); with 40-sample periods ticks move in
5 ms steps.

*Quantized moves* (``step``, default: the grain). A move that does not land the boundary on
the read grid gains nothing in time but costs capture latency: the frame then ends
``(since) mod g`` samples before the read that delivers it, older than it need be. So by
default :meth:`shift` rounds a move to the grid — the largest move ``≤ a`` after which the
boundary falls on a read boundary (for an advance: ``a`` rounded down to whole grains, 0 if
less than one grain; for a retard: rounded away from zero). With ``step=1`` it moves by
exactly ``a`` samples (a re-cut at sample resolution).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

FRAME: Final = 160

Samples = npt.NDArray[np.int16]


def _empty() -> Samples:
    return np.zeros(0, dtype=np.int16)


class ChannelFramer:
    """One channel's capture framing and playback queue (see the module docstring)."""

    def __init__(self, *, period: int = FRAME, step: int | None = None) -> None:
        if period < 1 or (step is not None and not 1 <= step <= FRAME):
            raise ValueError("the read period must be ≥ 1 sample and a step 1..160 samples")
        self.grain = math.gcd(FRAME, period)
        self.step = self.grain if step is None else step
        self._pending = _empty()
        self._need = FRAME
        self._last: Samples = np.zeros(FRAME, dtype=np.int16)
        self._play: Samples = np.zeros(self.lead, dtype=np.int16)
        self._drop = 0  # samples still to drop from the head of the playback queue
        self._history: Samples = np.zeros(2 * FRAME, dtype=np.int16)  # last samples taken
        self.captured = 0  # samples pushed
        self.frames = 0  # frames completed
        self.taken = 0  # samples taken for playback
        self.short_samples = 0  # silence played because the queue ran short
        self.dropped_samples = 0  # playback samples dropped by advances
        self.inserted_samples = 0  # playback samples repeated by retards
        self.shifted = 0  # net grid shift applied (samples, positive = earlier)

    @property
    def lead(self) -> int:
        """The playback queue's lead at a frame boundary on the read grid (``160 − g``)."""
        return FRAME - self.grain

    @property
    def need(self) -> int:
        """New samples the next frame needs (160, or 160 ∓ a shift in progress)."""
        return self._need

    @property
    def pending(self) -> int:
        """Samples captured towards the next frame."""
        return int(self._pending.size)

    @property
    def queued(self) -> int:
        """Playback samples queued (lazy drops already subtracted)."""
        return int(self._play.size) - self._drop

    # --- capture ------------------------------------------------------------------------------
    def push(self, samples: npt.ArrayLike) -> list[Samples]:
        """Append captured samples; return the frames they complete, oldest first."""
        new = np.asarray(samples, dtype=np.int16).ravel()
        self.captured += int(new.size)
        pending = np.concatenate([self._pending, new]) if self._pending.size else new
        frames: list[Samples] = []
        while pending.size >= self._need:
            need = self._need
            if need == FRAME:
                frame = pending[:FRAME].copy()
            elif need < FRAME:
                frame = np.concatenate([self._last[need - FRAME :], pending[:need]])
            else:
                frame = pending[need - FRAME : need].copy()
            pending = pending[need:]
            self._need = FRAME
            self._last = frame
            frames.append(frame)
        self.frames += len(frames)
        self._pending = pending.copy() if pending.size else _empty()
        return frames

    # --- playback -----------------------------------------------------------------------------
    def queue_playback(self, frame: npt.ArrayLike) -> None:
        """Append the port's playback frame for a captured frame."""
        self._play = np.concatenate([self._play, np.asarray(frame, dtype=np.int16).ravel()])

    def take(self, n: int) -> Samples:
        """The next ``n`` playback samples (silence for any the queue lacks, counted)."""
        if self._drop:
            spare = min(self._drop, max(0, int(self._play.size) - n))
            if spare:
                self._play = self._play[spare:]
                self._drop -= spare
                self.dropped_samples += spare
        out = self._play[:n]
        self._play = self._play[n:]
        if out.size < n:
            self.short_samples += n - int(out.size)
            out = np.concatenate([out, np.zeros(n - out.size, dtype=np.int16)])
        self.taken += n
        self._history = np.concatenate([self._history, out])[-2 * FRAME :]
        return out

    # --- the grid -----------------------------------------------------------------------------
    def shift(self, samples: int) -> int:
        """Move this channel's frame grid ``samples`` earlier (negative: later); return applied.

        The shift is rounded to ``step`` (see the module docstring) and clamped so the next
        frame needs between 1 and 319 new samples (two shifts before one frame completes may be
        cut short); 0 when no move is possible.
        """
        since = int(self._pending.size) + FRAME - self._need
        lo, hi = self._need - (2 * FRAME - 1), self._need - 1
        applied = max(min(samples, hi), lo)
        applied -= (since + applied) % self.step
        while applied < lo:
            applied += self.step
        if applied > hi or (applied > 0) != (samples > 0):
            return 0
        if applied == 0:
            return 0
        self._need -= applied
        self.shifted += applied
        self._set_lead()
        return applied

    def _set_lead(self) -> None:
        since = int(self._pending.size) + FRAME - self._need  # samples since the moved boundary
        wanted = self.lead + since % self.grain
        excess = self.queued + since - wanted
        if excess > 0:
            self._drop += excess
            return
        cancel = min(self._drop, -excess)
        self._drop -= cancel
        insert = -excess - cancel
        if insert:
            self._play = np.concatenate([self._history[-insert:], self._play])
            self.inserted_samples += insert

    def restart(self) -> None:
        """The capture stream restarted (device overrun): drop the partial frame, keep phase 0.

        The playback queue is cut or padded with silence to the initial lead, so the new
        stream's reads neither run it short nor add latency.
        """
        self._pending = _empty()
        self._need = FRAME
        self._drop = 0
        size = int(self._play.size)
        if size > self.lead:
            self._play = self._play[: self.lead]
        elif size < self.lead:
            self._play = np.concatenate([self._play, np.zeros(self.lead - size, dtype=np.int16)])


__all__ = ["FRAME", "ChannelFramer", "Samples"]
