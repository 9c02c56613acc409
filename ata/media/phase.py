"""Playout phase alignment: put our frame boundaries just after the far end's packets arrive.

Theory of operation
-------------------
Our codec plays and captures in 20 ms periods on its own grid; the far end's packets arrive on
*its* grid, at an arbitrary phase against ours. A packet that arrives just after one of our
period boundaries waits almost a whole period before it can start playing, one that arrives
just before waits almost nothing: with a random phase the receive path carries 0–20 ms
(10 ms on average) of delay that no jitter buffer setting removes.

When the port's audio backend can move its frame grid (:meth:`hal.audio.BufferedAudioPort.
advance_phase`), the media layer removes that wait once per call. After each pop the jitter
buffer reports its *slack*: how far the playout offset was above its goal, i.e. how much
earlier the pop could have happened with the same packets still on time
(:attr:`ata.media.jitter.JitterBuffer.slack`; reported only once the goal comes from measured
transits). The :class:`PlayoutAligner` collects the slack of ``window`` consecutive pops that
played received audio in their turn (any other pop restarts the window). Once
``stable_windows`` consecutive windows (1.5 s, so at least one of the buffer's once-a-second
goal updates lies between them) agree within ``stable_ms`` — an ADAPTIVE goal keeps falling
for several seconds while the first packets' outliers age out of its window — if the smallest
slack exceeds ``margin`` by at least ``threshold_ms`` it asks for the grid to move earlier by
``smallest − margin`` (at most 90 % of a frame; a slack of a whole frame is left to the jitter
buffer, which drops a frame itself). The margin covers our own wake-up and processing time
between a tick and the pop: a packet must be in the buffer when the pop runs, not merely
before the tick's deadline.

**Once per call** (again only after a new timeline: SSRC change, sender restart). Moving the
grid also moves our *sending* by the same amount, which the far end sees as a one-time step in
its transit times. Following later changes of phase would answer the far end's reaction with
another step: two aligners facing each other (two ports of one pi-ata in a call, two pi-atas)
would take turns for ever, and a retard (moving later) answered by the far end's buffer
growing would ratchet both delays up. One move at the start of the audio, before anybody
talks, costs one short discontinuity and none of that. Clock drift then slowly rotates the
phase; the jitter buffer handles it as before, by whole frames.

FIXED mode (fax, modem) never asks: a modem would not forgive the discontinuity. If the
backend cannot move its grid (``applied`` returns 0), the aligner stops asking.
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
    threshold_ms: float = 2.0  # smallest worthwhile advance
    window: int = 25  # pops (0.5 s) of settled audio measured before deciding
    stable_windows: int = 3  # consecutive windows (spanning a goal update) that must agree
    stable_ms: float = 1.0  # ... this well


class PlayoutAligner:
    """Decides when the playout frame grid should move earlier (see the module docstring)."""

    def __init__(self, config: AlignerConfig | None = None) -> None:
        self.config = config or AlignerConfig()
        self._lowest: float | None = None  # smallest slack of the current window (samples)
        self._count = 0
        self._pending = 0.0
        self._supported = True
        self._done = False
        self._recent: list[float] = []  # smallest slack of the last windows
        self.advances = 0  # grid moves applied
        self.advanced_ms = 0.0  # their total

    @property
    def active(self) -> bool:
        """Still measuring (enabled, supported, not yet aligned for this timeline)."""
        return self.config.enabled and self._supported and not self._done

    def observe(self, slack: float | None, now: float) -> None:
        """One pop's slack in samples (``None``: the pop did not play received audio)."""
        del now  # decisions count pops, not seconds
        if not self.active or self._pending:
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
        recent = self._recent
        recent.append(lowest)
        if len(recent) > self.config.stable_windows:
            del recent[0]
        if lowest >= _JB_DROPS:
            return  # the jitter buffer drops a whole frame by itself first
        lowest = min(recent)
        spread = max(recent) - lowest
        stable = self.config.stable_ms * _RATE / 1000.0
        if len(recent) < self.config.stable_windows or spread > stable:
            return  # the buffer's goal is still moving (ADAPTIVE settles over seconds): wait
        excess_ms = lowest / _RATE * 1000.0 - self.config.margin_ms
        if excess_ms >= self.config.threshold_ms:
            self._pending = min(excess_ms / 1000.0, 0.9 * _FRAME_S)
        else:
            self._done = True  # already close enough: leave the grid where it is

    def take_request(self) -> float:
        """The advance to ask the audio port for now (seconds; 0.0: none)."""
        request, self._pending = self._pending, 0.0
        return request

    def applied(self, seconds: float, now: float) -> None:
        """The audio port moved its grid by ``seconds`` (0.0: it cannot)."""
        del now
        self._restart()
        self._recent.clear()
        if seconds == 0.0:
            self._supported = False
            return
        self._done = True
        self.advances += 1
        self.advanced_ms += seconds * 1000.0

    def reset(self) -> None:
        """A new source or timeline: align afresh."""
        self._restart()
        self._recent.clear()
        self._pending = 0.0
        self._done = False

    def _restart(self) -> None:
        self._lowest = None
        self._count = 0
