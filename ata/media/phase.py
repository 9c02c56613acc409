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
in progress is cut short). It happens within the first second of the call's audio, and later
only when the far end's phase moved by more than ``threshold_ms`` (clock drift slowly rotates
the phase; the jitter buffer's own drop/insert handles whole frames). FIXED mode (fax, modem)
never asks: a modem would not forgive the discontinuity. If the backend cannot move its grid
(``applied`` returns 0), the aligner stops asking for the rest of the call.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AlignerConfig", "PlayoutAligner"]

_RATE = 8000.0
_FRAME_S = 0.02
_JB_DROPS = 160 + 12  # slack (samples) at which ata.media.jitter drops a frame itself


@dataclass(frozen=True, slots=True)
class AlignerConfig:
    enabled: bool = True
    margin_ms: float = 2.0  # slack kept after aligning (wake-up + processing before the pop)
    first_threshold_ms: float = 2.0  # smallest worthwhile first advance
    threshold_ms: float = 5.0  # later advances only for a clearly moved phase
    window: int = 25  # pops (0.5 s) of settled audio measured before deciding
    hold_off_s: float = 2.0  # after an advance, before measuring again


class PlayoutAligner:
    """Decides when the playout frame grid should move earlier (see the module docstring)."""

    def __init__(self, config: AlignerConfig | None = None) -> None:
        self.config = config or AlignerConfig()
        self._lowest: float | None = None  # smallest slack of the current window (samples)
        self._count = 0
        self._hold_until = float("-inf")
        self._pending = 0.0
        self._supported = True
        self.advances = 0  # advances applied
        self.advanced_ms = 0.0  # their total

    @property
    def active(self) -> bool:
        return self.config.enabled and self._supported

    def observe(self, slack: float | None, now: float) -> None:
        """One pop's slack in samples (``None``: the pop did not play received audio)."""
        if not self.active or self._pending or now < self._hold_until:
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
        if lowest >= _JB_DROPS:
            return  # the jitter buffer drops a whole frame by itself
        excess_ms = lowest / _RATE * 1000.0 - self.config.margin_ms
        cfg = self.config
        threshold = cfg.threshold_ms if self.advances else cfg.first_threshold_ms
        if excess_ms >= threshold:
            self._pending = min(excess_ms / 1000.0, 0.9 * _FRAME_S)

    def take_request(self) -> float:
        """The advance to ask the audio port for now (seconds; 0.0: none)."""
        request, self._pending = self._pending, 0.0
        return request

    def applied(self, seconds: float, now: float) -> None:
        """The audio port moved its grid by ``seconds`` (0.0: it cannot)."""
        self._restart()
        if seconds <= 0.0:
            self._supported = False
            return
        self.advances += 1
        self.advanced_ms += seconds * 1000.0
        self._hold_until = now + self.config.hold_off_s

    def reset(self) -> None:
        """A new source or timeline: measure afresh (the first-advance threshold applies)."""
        self._restart()
        self._pending = 0.0
        self._hold_until = float("-inf")
        self.advances = 0

    def _restart(self) -> None:
        self._lowest = None
        self._count = 0
