"""RFC 4733 telephone-events (DTMF digits 0-9 * # A-D = events 0-15, hook flash = 16).

Theory of operation
-------------------
**Sender.** :class:`DtmfSender` is ticked once per captured 20 ms frame with that frame's RTP
timestamp (the sample clock). When a queued event starts, its timestamp is fixed to the
timestamp of the frame it starts on and stays the same for every packet of the event; the
first packet carries the marker bit; the duration field grows by 160 per frame and a packet is
sent every ``interval_frames`` ticks (20 ms by default). While the event runs the session does
not send audio for those frames. When the requested duration is reached the end packet (E bit,
final duration) is sent three times, on three consecutive ticks, and audio resumes. Durations
are capped at 65 535 samples (8.2 s): one segment, no long-event segmentation.

**Receiver.** :class:`DtmfReceiver` keys an event by its RTP timestamp. The first packet of a
new timestamp starts the event (even if the marker packet was lost); an E-bit packet ends it;
retransmitted end packets and late packets of finished events are recognised by their
timestamp and ignored (no doubled digits). If the end packets are all lost, the event ends by
timeout (no packet for ``timeout`` seconds), via :meth:`DtmfReceiver.poll`.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from ata.media.rtp import ts_delta

__all__ = [
    "EVENT_FLASH",
    "DtmfEnded",
    "DtmfReceiver",
    "DtmfSender",
    "DtmfStarted",
    "TelephoneEventPayload",
    "build_event",
    "event_name",
    "parse_event",
]

EVENT_FLASH: Final = 16
_NAMES: Final = "0123456789*#ABCD"
_PAYLOAD: Final = struct.Struct("!BBH")
MAX_DURATION: Final = 0xFFFF
FRAME: Final = 160


def event_name(event: int) -> str:
    """'0'..'9', '*', '#', 'A'..'D', 'flash', or 'event-N'."""
    if 0 <= event < len(_NAMES):
        return _NAMES[event]
    if event == EVENT_FLASH:
        return "flash"
    return f"event-{event}"


def digit_to_event(digit: str) -> int:
    """Inverse of :func:`event_name` for digits and 'flash'."""
    if digit == "flash":
        return EVENT_FLASH
    idx = _NAMES.find(digit.upper()) if len(digit) == 1 else -1
    if idx < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return idx


@dataclass(frozen=True, slots=True)
class TelephoneEventPayload:
    event: int
    end: bool
    volume: int  # 0..63, −dBm0
    duration: int  # timestamp units


def parse_event(payload: bytes) -> TelephoneEventPayload:
    """Parse the first 4-byte event block; raise ValueError if too short."""
    if len(payload) < 4:
        raise ValueError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = _PAYLOAD.unpack_from(payload, 0)
    return TelephoneEventPayload(event, bool(flags & 0x80), flags & 0x3F, duration)


def build_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    return _PAYLOAD.pack(
        event & 0xFF, (0x80 if end else 0) | (volume & 0x3F), min(duration, MAX_DURATION)
    )


# --- sender -------------------------------------------------------------------------------


class _SendState(enum.Enum):
    IDLE = "idle"
    SENDING = "sending"
    ENDING = "ending"


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One telephone-event packet the session must send with this tick's sequence number."""

    payload: bytes
    timestamp: int
    marker: bool


class DtmfSender:
    """Frame-ticked RFC 4733 sender. :meth:`tick` returns (packets, audio_suppressed)."""

    def __init__(self, *, interval_frames: int = 1, volume: int = 10, end_repeats: int = 3):
        if interval_frames < 1:
            raise ValueError("interval_frames must be >= 1")
        self.interval_frames = interval_frames
        self.volume = volume
        self.end_repeats = end_repeats
        self._queue: deque[tuple[int, int, int]] = deque(maxlen=64)
        self._state = _SendState.IDLE
        self._event = 0
        self._vol = volume
        self._ts = 0
        self._target = 0
        self._duration = 0
        self._frames = 0
        self._ends_left = 0
        self.events_sent = 0

    @property
    def busy(self) -> bool:
        return self._state is not _SendState.IDLE or bool(self._queue)

    def queue(self, event: int, duration_ms: int, volume: int | None = None) -> None:
        """Queue an event of ``duration_ms`` (rounded up to whole frames, at least one)."""
        if not 0 <= event <= 255:
            raise ValueError("event out of range")
        samples = max(FRAME, -(-max(duration_ms, 1) * 8 // FRAME) * FRAME)
        self._queue.append(
            (event, min(samples, MAX_DURATION), self.volume if volume is None else volume)
        )

    def tick(self, timestamp: int) -> tuple[list[EventPacket], bool]:
        """Advance one frame whose first sample has RTP ``timestamp``."""
        if self._state is _SendState.ENDING:
            self._ends_left -= 1
            pkt = EventPacket(
                build_event(self._event, True, self._vol, self._duration), self._ts, False
            )
            if self._ends_left <= 0:
                self._state = _SendState.IDLE
            return [pkt], False
        if self._state is _SendState.IDLE:
            if not self._queue:
                return [], False
            self._event, self._target, self._vol = self._queue.popleft()
            self._ts = timestamp
            self._duration = FRAME
            self._frames = 1
            self._state = _SendState.SENDING
            self.events_sent += 1
            if self._duration >= self._target:
                return self._start_end(), True
            payload = build_event(self._event, False, self._vol, self._duration)
            return [EventPacket(payload, self._ts, True)], True
        # SENDING
        self._duration = min(self._duration + FRAME, MAX_DURATION)
        self._frames += 1
        if self._duration >= self._target:
            return self._start_end(), True
        if (self._frames - 1) % self.interval_frames:
            return [], True
        payload = build_event(self._event, False, self._vol, self._duration)
        return [EventPacket(payload, self._ts, False)], True

    def _start_end(self) -> list[EventPacket]:
        marker = self._frames == 1
        self._ends_left = self.end_repeats - 1
        self._state = _SendState.ENDING if self._ends_left > 0 else _SendState.IDLE
        payload = build_event(self._event, True, self._vol, self._duration)
        return [EventPacket(payload, self._ts, marker)]


# --- receiver -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfStarted:
    event: int
    volume: int
    timestamp: int

    @property
    def digit(self) -> str:
        return event_name(self.event)


@dataclass(frozen=True, slots=True)
class DtmfEnded:
    event: int
    duration_ms: int
    timestamp: int
    timed_out: bool = False

    @property
    def digit(self) -> str:
        return event_name(self.event)


DtmfNotice = DtmfStarted | DtmfEnded


class DtmfReceiver:
    """RFC 4733 receiver: one notice per started and per ended event, never doubled."""

    def __init__(self, *, timeout: float = 0.25, clock_rate: int = 8000) -> None:
        self.timeout = timeout
        self.clock_rate = clock_rate
        self._active = False
        self._ts = 0
        self._event = 0
        self._duration = 0
        self._last_seen = 0.0
        self._have_any = False
        self._finished: deque[int] = deque(maxlen=16)
        self.duplicates = 0
        self.malformed = 0

    def _end(self, timed_out: bool) -> DtmfEnded:
        self._active = False
        self._finished.append(self._ts)
        ms = self._duration * 1000 // self.clock_rate
        return DtmfEnded(self._event, ms, self._ts, timed_out)

    def receive(self, payload: bytes, timestamp: int, now: float) -> list[DtmfNotice]:
        try:
            ev = parse_event(payload)
        except ValueError:
            self.malformed += 1
            return []
        out: list[DtmfNotice] = []
        if timestamp in self._finished:
            self.duplicates += 1
            return out
        back = ts_delta(self._ts, timestamp)
        if self._have_any and 0 < back <= self.clock_rate * 10:
            # A straggler from an older event (its end already handled or timed out).
            self.duplicates += 1
            return out
        if self._active and timestamp == self._ts:
            self._duration = max(self._duration, ev.duration)
            self._last_seen = now
            if ev.end:
                out.append(self._end(False))
            return out
        if self._active:
            out.append(self._end(True))
        self._have_any = True
        self._active = True
        self._ts = timestamp
        self._event = ev.event
        self._duration = ev.duration
        self._last_seen = now
        out.append(DtmfStarted(ev.event, ev.volume, timestamp))
        if ev.end:
            out.append(self._end(False))
        return out

    def reset(self) -> list[DtmfNotice]:
        """Forget the timeline (new source); ends a running event."""
        out: list[DtmfNotice] = [self._end(True)] if self._active else []
        self._finished.clear()
        self._have_any = False
        return out

    def get_timer(self) -> float | None:
        return self._last_seen + self.timeout if self._active else None

    def poll(self, now: float) -> list[DtmfNotice]:
        if self._active and now >= self._last_seen + self.timeout:
            return [self._end(True)]
        return []

    @property
    def active(self) -> bool:
        return self._active
