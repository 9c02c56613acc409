"""Playout phase alignment: put our frame boundaries just after the far end's packets arrive.

Theory of operation
-------------------
Our codec plays and captures in 20 ms periods on its own grid; the far end's packets arrive on
*its* grid, at an arbitrary phase against ours. A packet that arrives just after one of our
period boundaries waits almost a whole period before it can start playing, one that arrives
just before waits almost nothing: with a random phase the receive path carries 0–20 ms
(10 ms on average) of delay that no jitter buffer setting removes. Commercial ATAs and the open
stacks live with it.

When the port's audio backend can move its frame grid (:meth:`hal.audio.BufferedAudioPort.
advance_phase`), the media layer removes that wait. After each pop the jitter buffer reports
its *slack*: how far the playout offset was above its goal, i.e. how much earlier the pop could
have happened with the same packets still on time (:attr:`ata.media.jitter.JitterBuffer.
slack`). The :class:`PlayoutAligner` collects the slack of ``window`` consecutive pops that
played received audio in their turn (the buffer reports slack only once its delay goal comes
from measured transits, so the first second's provisional goal is not aligned to); if the
smallest of them exceeds ``margin`` by at least the
threshold (``first_threshold_ms`` for the first alignment of a call, ``threshold_ms`` after),
it asks for the frame grid to move earlier by ``smallest − margin`` (at most 90 % of a frame;
a slack of a whole frame or more is left to the jitter buffer, which drops a frame itself).
The margin covers our own wake-up and processing time between a tick and the pop (a packet
must be in the buffer when the pop runs, not merely before the tick's deadline). Any pop
without slack (insert, drop, concealment, silence) restarts the window, so the aligner acts
only on a settled buffer; after an advance it waits ``hold_off_s`` before measuring again.

The advance is a one-time discontinuity of a few milliseconds in both directions (the period
in progress is cut short). It happens within the first seconds of the call's audio, and later
only when the phase has rotated by more than ``threshold_ms`` from where it settled after the
last move — slowly, by clock drift — or when the jitter buffer moved its own timeline (a frame
inserted or dropped, a re-anchor, a goal update). A *step* in the slack between two consecutive
windows (more than ``jump_ms``) with no such move of ours is the far end moving its grid: it is
counted (``far_end_moves``), becomes the new reference and is not followed, because two
aligners facing each other (two pi-ata ports in one call, or two pi-atas) would otherwise take
turns for ever: the two one-way waits always add up to a period less the two processing
delays, so only one side can have the short one. The first to align keeps it. Each further
advance also waits twice as long as the previous one.

The other way round: when the buffer's goal rises (more jitter) above the aligned playout
offset, the buffer would insert a whole concealed frame to grow its delay. While an aligner can
act, a shortfall of up to 10 ms is reported instead as negative slack, and the aligner
*retards* the grid at once by the shortfall plus the margin: a few milliseconds of
discontinuity instead of 20 ms of concealment (and of a later 18 ms advance).

FIXED mode (fax, modem) never asks: a modem would not forgive the discontinuity. If the backend
cannot move its grid (``applied`` returns 0), the aligner stops asking for the rest of the call.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AlignerConfig", "PlayoutAligner"]

_RATE = 8000.0
_FRAME_S = 0.02
_JB_DROPS = 160 + 12  # slack (samples) at which ata.media.jitter drops a frame itself
_MAX_HOLD_OFF_S = 60.0
_TOLERANCE = 80.0  # samples (10 ms) below its goal the buffer plays on, awaiting a retard


@dataclass(frozen=True, slots=True)
class AlignerConfig:
    enabled: bool = True
    margin_ms: float = 2.0  # slack kept after aligning (wake-up + processing before the pop)
    first_threshold_ms: float = 2.0  # smallest worthwhile first advance
    threshold_ms: float = 5.0  # later advances only for a clearly moved phase
    window: int = 25  # pops (0.5 s) of settled audio measured before deciding
    hold_off_s: float = 2.0  # after the first advance, before measuring again (doubles after each)
    jump_ms: float = 1.5  # a step between consecutive windows larger than this is the far end's


class PlayoutAligner:
    """Decides when the playout frame grid should move earlier (see the module docstring)."""

    def __init__(self, config: AlignerConfig | None = None) -> None:
        self.config = config or AlignerConfig()
        self._lowest: float | None = None  # smallest slack of the current window (samples)
        self._count = 0
        self._hold_until = float("-inf")
        self._pending = 0.0
        self._supported = True
        self._previous: float | None = None  # lowest slack of the previous complete window
        self._reference: float | None = None  # slack that drift is measured from (samples)
        self._forward_moves = 0
        self._adjustments = 0
        self.far_end_moves = 0  # steps of the far end's phase seen and not followed
        self.advances = 0  # grid moves applied (either way)
        self.advanced_ms = 0.0  # their signed total (negative: retarded)

    @property
    def active(self) -> bool:
        return self.config.enabled and self._supported

    def observe(self, slack: float | None, now: float, adjustments: int = 0) -> None:
        """One pop's slack in samples (``None``: the pop did not play received audio).

        ``adjustments`` counts the jitter buffer's own timeline moves so far (frames inserted
        or dropped, re-anchors): a slack step across one of those is ours, not the far end's.
        """
        if not self.active or self._pending:
            return
        if slack is not None and slack < 0.0:
            # The buffer's goal rose above our playout offset and it is waiting for us instead
            # of inserting a whole frame: delay the grid by the shortfall plus the margin, now.
            self._restart()
            retard_ms = -slack / _RATE * 1000.0 + self.config.margin_ms
            self._pending = -min(retard_ms / 1000.0, 0.9 * _FRAME_S)
            return
        if now < self._hold_until:
            return
        if slack is None:
            self._restart()
            return
        self._lowest = slack if self._lowest is None else min(self._lowest, slack)
        self._count += 1
        if self._count < self.config.window:
            return
        lowest = self._lowest
        self._restart()
        previous, self._previous = self._previous, lowest
        ours = adjustments != self._adjustments
        self._adjustments = adjustments
        if lowest >= _JB_DROPS:
            return  # the jitter buffer drops a whole frame by itself
        cfg = self.config
        excess_ms = lowest / _RATE * 1000.0 - cfg.margin_ms
        if not self.advances or ours:
            # Not aligned yet, or our buffer moved its own timeline: align to what we see.
            self._reference = None
            threshold = cfg.threshold_ms if self.advances else cfg.first_threshold_ms
            if excess_ms >= threshold:
                self._pending = min(excess_ms / 1000.0, 0.9 * _FRAME_S)
            return
        if previous is not None and abs(lowest - previous) > cfg.jump_ms * _RATE / 1000.0:
            # The far end moved its own frame grid (another aligner facing us, or a sender
            # restart): chasing it would make two aligners take turns for ever. Its new phase
            # becomes the reference; only slow rotation from there (clock drift) is followed.
            self.far_end_moves += 1
            self._reference = lowest
            return
        if self._reference is None:
            self._reference = lowest
            return
        if lowest - self._reference >= cfg.threshold_ms * _RATE / 1000.0 and excess_ms > 0.0:
            self._pending = min(excess_ms / 1000.0, 0.9 * _FRAME_S)

    @property
    def tolerance(self) -> float:
        """Samples below its goal the jitter buffer may play on, waiting for a retard."""
        return _TOLERANCE if self.active else 0.0

    def take_request(self) -> float:
        """The advance to ask the audio port for now (seconds; negative: retard; 0.0: none)."""
        request, self._pending = self._pending, 0.0
        return request

    def applied(self, seconds: float, now: float) -> None:
        """The audio port moved its grid by ``seconds`` (negative: later; 0.0: it cannot)."""
        self._restart()
        self._previous = None
        self._reference = None
        if seconds == 0.0:
            self._supported = False
            return
        self.advances += 1
        self.advanced_ms += seconds * 1000.0
        if seconds > 0.0:
            # Each further advance waits twice as long: two aligners facing each other that
            # still took turns (their steps hidden by goal moves) would die down quickly.
            self._hold_until = now + min(
                self.config.hold_off_s * 2.0 ** (self._forward_moves), _MAX_HOLD_OFF_S
            )
            self._forward_moves += 1

    def reset(self) -> None:
        """A new source or timeline: measure afresh (the first-advance threshold applies)."""
        self._restart()
        self._pending = 0.0
        self._hold_until = float("-inf")
        self._previous = None
        self.advances = 0
        self._forward_moves = 0

    def _restart(self) -> None:
        self._lowest = None
        self._count = 0
