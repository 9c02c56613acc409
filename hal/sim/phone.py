"""A virtual analogue telephone on a simulated line: the tests' and the demo's subscriber.

Theory of operation
-------------------
A :class:`VirtualPhone` sits on the phone side of a :class:`hal.sim.wire.TwoWire` (DC: hook
state out, line drive in) and is the :class:`hal.sim.audio.AudioTerminal` of a
:class:`hal.sim.audio.SimAudioLink` (audio: 160 samples each 20 ms in both directions). It
keeps time with the same :class:`hal.clock.Clock` as the simulated codec.

Hook: :meth:`off_hook` / :meth:`on_hook` change the loop at once (timestamped with the clock);
:meth:`flash` and :meth:`pulse_dial` schedule hook edges at absolute deadlines (a 10 pps,
60 % break digit "3" is break 60 ms, make 40 ms, break 60, make 40, break 60, then the
inter-digit make), so the ATA's hook classifier sees exactly the intended timing.

Mouth: :meth:`speak`, :meth:`play_tone` and :meth:`dtmf_dial` queue audio; the codec pulls it a
frame at a time (:meth:`transmit_frame`). Urgent audio (the type-2 CAS acknowledgement) goes out
before queued speech. On-hook, or on a dead line, the phone transmits silence.

Ear: every frame the codec delivers (:meth:`receive_frame`) is recorded (a ring buffer of the
last ``record_s`` seconds; :meth:`recording`, :meth:`save_wav`) and analysed by the phone's own
DSP (:mod:`hal.sim.phone_dsp`, :mod:`hal.sim.phone_cid`, independent of ``ata.dsp``):

- DTMF digits heard (:attr:`heard_digits`); on-hook, the DTMF CLIP decoder turns A…C framed
  digits into a :class:`CallerId`.
- 2130 + 2750 Hz dual tone: off-hook it is the type-2 CAS; the phone answers with DTMF
  ``cas_ack`` ('D' non-ADSI, 'A' ADSI; None = never) for 60 ms right after the CAS ends and
  listens for FSK for ``type2_window_s``. On-hook it is the ETSI DT-AS alert (logged).
- FSK caller ID: on-hook (and in the type-2 window) both a Bell 202 and a V.23 receiver run;
  a checksummed message becomes a :class:`CallerId` whose ``method`` comes from the burst's
  spectrum (power at 1200/2200 Hz versus 1300/2100 Hz), since each receiver also decodes the
  other's signal.
- Ringing: from the wire's drive changes (RINGING on/off), with the cadence as measured
  on/off durations (:meth:`ring_cadence`); polarity reversals are logged too.

Silence is cheap: the tone detector and the FSK receivers pass an all-zero frame through in a
few microseconds when no tone or character is in progress (exactly the state the full analysis
would leave), so an idle phone on a quiet line costs almost nothing per 20 ms, yet the first
non-zero frame (caller ID, a CAS, a digit) is analysed in full as before.

Level, dominant frequencies and on/off segments of what was heard over a window:
:meth:`level_dbm0`, :meth:`dominant_tones`, :meth:`tone_segments`.
Waiting helpers (:meth:`wait_for` and friends) wake on every heard frame or line change.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hal.clock import Clock
from hal.hook import DigitCoding
from hal.sim.phone_cid import (
    BELL202,
    V23,
    CallerId,
    CidFramer,
    CidParseError,
    DtmfClipDecoder,
    FskReceiver,
    parse_message,
)
from hal.sim.phone_dsp import (
    SAMPLE_RATE,
    DetectedCas,
    DetectedDigit,
    ToneComponent,
    ToneDetector,
    amplitude,
    dominant_tones,
    dtmf_sequence,
    dtmf_tone,
    level_dbm0,
    on_off_segments,
    to_int16,
)
from hal.sim.wire import DriveChange, LineDrive, TwoWire

log = logging.getLogger(__name__)

FRAME = 160
Samples = npt.NDArray[np.int16]
_SILENT: Samples = np.zeros(FRAME, dtype=np.int16)
_SILENT.setflags(write=False)


class PhoneStateError(RuntimeError):
    """The action needs the other hook state (e.g. pulse dialling on-hook)."""


@dataclass(frozen=True)
class RingBurst:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class VirtualPhone:
    """A simulated analogue phone (see the module docstring)."""

    def __init__(
        self,
        wire: TwoWire,
        clock: Clock,
        *,
        name: str = "phone",
        record_s: float = 30.0,
        cas_ack: str | None = "D",
        type2_window_s: float = 2.0,
        dtmf_on_s: float = 0.08,
        dtmf_off_s: float = 0.08,
        dtmf_low_dbm0: float = -11.0,
        dtmf_high_dbm0: float = -9.0,
        auto_answer_rings: int | None = None,
    ) -> None:
        self.name = name
        self.wire = wire
        self.clock = clock
        self.cas_ack = cas_ack
        self.type2_window_s = type2_window_s
        self.dtmf_on_s, self.dtmf_off_s = dtmf_on_s, dtmf_off_s
        self.dtmf_levels = (dtmf_low_dbm0, dtmf_high_dbm0)
        self.auto_answer_rings = auto_answer_rings
        # logs (public, append-only)
        self.hook_changes: list[tuple[bool, float]] = []
        self.drive_changes: list[DriveChange] = []
        self.rings: list[RingBurst] = []
        self.polarity_reversals: list[float] = []
        self.heard_digits: list[DetectedDigit] = []
        self.caller_ids: list[CallerId] = []
        self.cas_heard: list[DetectedCas] = []
        self.alerts_heard: list[DetectedCas] = []  # on-hook 2130+2750 Hz (ETSI DT-AS)
        self.cas_acks_sent: list[float] = []
        # counters: frames heard, and those of them passed over as silence (no analysis)
        self.frames_heard = 0
        self.frames_skipped = 0
        # ear
        self._rec = np.zeros(max(FRAME, round(record_s * SAMPLE_RATE)), dtype=np.int16)
        self._rec_total = 0
        self._rec_end_at = clock.now()
        self._tones = ToneDetector()
        self._clip = DtmfClipDecoder()
        self._fsk = {
            "bell202": (FskReceiver(*BELL202, name="bell202"), CidFramer()),
            "v23": (FskReceiver(*V23, name="v23"), CidFramer()),
        }
        self._fsk_active = False
        self._type2_until = -math.inf
        # mouth
        self._mouth: deque[Samples] = deque()
        self._urgent: deque[Samples] = deque()
        self._spoken_waiters: list[asyncio.Future[None]] = []
        # line
        self._ring_on_at: float | None = None
        self._drive = wire.drive
        self._waiters: list[asyncio.Future[None]] = []
        wire.on_drive_change(self._on_drive)

    # --- hook ---------------------------------------------------------------------------------
    @property
    def is_off_hook(self) -> bool:
        return self.wire.off_hook

    def off_hook(self) -> None:
        self._set_hook(True)

    def on_hook(self) -> None:
        self._set_hook(False)

    def _set_hook(self, off_hook: bool) -> None:
        if off_hook == self.wire.off_hook:
            return
        at = self.clock.now()
        self.hook_changes.append((off_hook, at))
        self.wire.set_off_hook(off_hook, at)
        self._notify()

    async def flash(self, ms: float = 300.0) -> None:
        """Hook flash: on-hook for ``ms`` milliseconds, then off-hook again."""
        if not self.is_off_hook:
            raise PhoneStateError("flash needs the phone off-hook")
        t = self.clock.now()
        self._set_hook(False)
        await self.clock.sleep_until(t + ms / 1000.0)
        self._set_hook(True)

    async def pulse_dial(
        self,
        digits: str,
        *,
        pps: float = 10.0,
        break_ratio: float = 0.6,
        interdigit_s: float = 0.7,
        coding: DigitCoding = DigitCoding.STANDARD,
    ) -> None:
        """Rotary dialling at absolute deadlines: n breaks per digit ('0' = 10 by default;
        ``coding`` gives the Swedish n + 1 or the New Zealand 10 − n dials)."""
        if not self.is_off_hook:
            raise PhoneStateError("pulse dialling needs the phone off-hook")
        if not 0.0 < break_ratio < 1.0 or pps <= 0:
            raise ValueError("need pps > 0 and 0 < break_ratio < 1")
        period = 1.0 / pps
        brk, make = period * break_ratio, period * (1.0 - break_ratio)
        t = self.clock.now()
        for i, d in enumerate(digits):
            if not d.isdigit():
                raise ValueError(f"cannot pulse-dial {d!r}")
            if i:
                t += interdigit_s
            for p in range(coding.pulses(d)):
                if p:
                    t += make
                await self.clock.sleep_until(t)
                self._set_hook(False)
                t += brk
                await self.clock.sleep_until(t)
                self._set_hook(True)
        await self.clock.sleep_until(t + interdigit_s)

    # --- mouth --------------------------------------------------------------------------------
    def speak(self, samples: npt.ArrayLike) -> None:
        """Queue audio to send into the line (after what is already queued)."""
        a = np.asarray(samples)
        if a.ndim != 1:
            raise ValueError("speak() takes mono samples")
        if a.size:
            self._mouth.append(np.clip(a, -32768, 32767).astype(np.int16))

    def speak_wav(self, path: str | Path) -> None:
        """Queue the samples of an 8 kHz 16-bit mono WAV file (e.g. recorded speech)."""
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
                raise ValueError(f"{path}: need an 8000 Hz mono 16-bit WAV")
            self.speak(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"))

    def play_tone(self, freqs: tuple[float, ...], duration_s: float, level_dbm0: float) -> None:
        """Queue a steady tone. Rendered a second at a time straight into int16 (2 bytes a
        sample queued): a minute-long tone as one float64 array would be 4 MB of scratch."""
        n = round(duration_s * SAMPLE_RATE)
        peak = amplitude(level_dbm0)
        for start in range(0, n, SAMPLE_RATE):
            t = np.arange(start, min(n, start + SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
            chunk = np.zeros(t.size, dtype=np.float64)
            for f in freqs:
                chunk += peak * np.sin(2.0 * np.pi * f * t)
            self.speak(to_int16(chunk))

    async def dtmf_dial(
        self, digits: str, *, on_s: float | None = None, off_s: float | None = None
    ) -> None:
        """Send DTMF digits as audio and wait until the codec has taken all of it."""
        if not self.is_off_hook:
            raise PhoneStateError("DTMF dialling needs the phone off-hook")
        low, high = self.dtmf_levels
        self.speak(
            dtmf_sequence(
                digits,
                on_s=self.dtmf_on_s if on_s is None else on_s,
                off_s=self.dtmf_off_s if off_s is None else off_s,
                low_dbm0=low,
                high_dbm0=high,
            )
        )
        await self.wait_spoken()

    async def wait_spoken(self) -> None:
        """Wait until every queued sample has been transmitted."""
        if not self._mouth and not self._urgent:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spoken_waiters.append(fut)
        await fut

    def transmit_frame(self, at: float) -> Samples:
        if not self._mouth and not self._urgent and not self._spoken_waiters:
            return _SILENT  # nothing to say (the common case; read-only, shared)
        out = np.zeros(FRAME, dtype=np.int16)
        filled = 0
        for queue in (self._urgent, self._mouth):
            while filled < FRAME and queue:
                head = queue[0]
                take = min(FRAME - filled, head.size)
                out[filled : filled + take] = head[:take]
                filled += take
                if take == head.size:
                    queue.popleft()
                else:
                    queue[0] = head[take:]
        if not self._mouth and not self._urgent and self._spoken_waiters:
            waiters, self._spoken_waiters = self._spoken_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        if not self.is_off_hook or self.wire.drive is LineDrive.OPEN:
            out[:] = 0
        return out

    # --- ear ----------------------------------------------------------------------------------
    def receive_frame(self, frame: Samples, at: float) -> None:
        if self.wire.drive in (LineDrive.OPEN, LineDrive.RINGING):
            frame = _SILENT
        self._record(frame, at)
        self.frames_heard += 1
        silent = frame is _SILENT or not frame.any()
        if silent and self._tones.skip_silence(frame.size):
            self.frames_skipped += 1
            self._feed_fsk(frame, at, silent=True)
            self._notify()
            return
        digits, cas = self._tones.feed(frame, at)
        for d in digits:
            self.heard_digits.append(d)
            if not self.is_off_hook:
                cid = self._clip.push(d.digit, d.at)
                if cid is not None:
                    self._add_caller_id(cid)
        for c in cas:
            self._on_dual_tone(c, at)
        self._feed_fsk(frame, at, silent=silent)
        self._notify()

    def _on_dual_tone(self, c: DetectedCas, at: float) -> None:
        if not self.is_off_hook:
            self.alerts_heard.append(c)
            return
        self.cas_heard.append(c)
        if self.cas_ack is not None:
            low, high = self.dtmf_levels
            self._urgent.append(dtmf_tone(self.cas_ack, 0.06, low_dbm0=low, high_dbm0=high))
            self.cas_acks_sent.append(at)
            self._type2_until = at + self.type2_window_s

    def _feed_fsk(self, frame: Samples, at: float, *, silent: bool = False) -> None:
        listening = not self.is_off_hook or at <= self._type2_until
        if not listening:
            if self._fsk_active:
                for rx, framer in self._fsk.values():
                    rx.reset()
                    framer.reset()
                self._fsk_active = False
            return
        self._fsk_active = True
        for rx, framer in self._fsk.values():
            if silent and rx.skip_silence(frame.size, at):
                continue
            for ch in rx.feed(frame, at):
                raw = framer.push(ch)
                if raw is None:
                    continue
                try:
                    cid = parse_message(
                        raw, method=self._fsk_method(len(raw)), at=ch.at, off_hook=self.is_off_hook
                    )
                except CidParseError as exc:
                    log.info("%s: caller ID message refused: %s", self.name, exc)
                    continue
                self._add_caller_id(cid)

    def _fsk_method(self, nbytes: int) -> str:
        """Bell 202 or V.23, from the tones of the burst that just ended.

        Both receivers decode both signals, so the signal itself decides. The instantaneous
        frequency (phase step of the band-limited analytic signal) is kept only where it is
        steady for 5 samples, i.e. inside runs of equal bits, away from the transitions that
        would bias it; the medians of the mark (< 1700 Hz) and space clusters are compared with
        1200/2200 Hz (Bell 202) and 1300/2100 Hz (V.23).
        """
        x = self.recording(nbytes * 10 / 1200 + 0.02).astype(np.float64)
        if x.size < 64:
            return "bell202"
        f = np.fft.fftfreq(x.size, 1.0 / SAMPLE_RATE)
        z = np.fft.ifft(np.where((f > 900.0) & (f < 2500.0), 2.0 * np.fft.fft(x), 0.0))
        inst = np.angle(z[1:] * np.conj(z[:-1])) * SAMPLE_RATE / (2 * np.pi)
        windows = np.lib.stride_tricks.sliding_window_view(inst, 5)
        steady = windows[np.ptp(windows, axis=1) < 60.0, 2]
        score = 0.0
        for values, bell_hz, v23_hz in (
            (steady[(steady > 1000.0) & (steady < 1700.0)], BELL202[0], V23[0]),
            (steady[(steady >= 1700.0) & (steady < 2400.0)], BELL202[1], V23[1]),
        ):
            if values.size >= 5:
                m = float(np.median(values))
                score += abs(m - bell_hz) - abs(m - v23_hz)
        return "bell202" if score <= 0.0 else "v23"

    def _add_caller_id(self, cid: CallerId) -> None:
        for old in self.caller_ids[-4:]:
            if old.raw == cid.raw and abs(old.at - cid.at) < 0.1:
                return  # the other receiver decoded the same burst
        self.caller_ids.append(cid)
        log.info("%s: caller ID %s", self.name, cid)

    def _record(self, frame: Samples, at: float) -> None:
        size = self._rec.size
        pos = self._rec_total % size
        end = pos + frame.size
        if end <= size:
            self._rec[pos:end] = frame
        else:
            split = size - pos
            self._rec[pos:] = frame[:split]
            self._rec[: end - size] = frame[split:]
        self._rec_total += frame.size
        self._rec_end_at = at

    def recording(self, seconds: float | None = None) -> Samples:
        """The last ``seconds`` heard (all that the ring buffer holds when None)."""
        size = self._rec.size
        have = min(self._rec_total, size)
        n = have if seconds is None else min(have, max(0, round(seconds * SAMPLE_RATE)))
        end = self._rec_total % size
        idx = (np.arange(end - n, end)) % size
        return self._rec[idx].copy()

    def recording_between(self, start: float, end: float) -> Samples:
        """What was heard between two clock times (clipped to what the buffer still holds)."""
        latest = self.recording(self._rec_end_at - start)
        keep = latest.size - max(0, round((self._rec_end_at - end) * SAMPLE_RATE))
        return latest[: max(0, keep)]

    def wav_bytes(self, seconds: float | None = None) -> bytes:
        """What was heard as an 8 kHz 16-bit mono WAV file image."""
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(self.recording(seconds).astype("<i2").tobytes())
        return buf.getvalue()

    def save_wav(self, path: str | Path, seconds: float | None = None) -> Path:
        """Write what was heard as an 8 kHz 16-bit mono WAV; returns the path."""
        p = Path(path)
        p.write_bytes(self.wav_bytes(seconds))
        return p

    # --- analysis of what was heard -------------------------------------------------------------
    def level_dbm0(self, window_s: float = 0.5) -> float:
        return level_dbm0(self.recording(window_s))

    def dominant_tones(self, window_s: float = 0.5, *, max_tones: int = 3) -> list[ToneComponent]:
        return dominant_tones(self.recording(window_s), max_tones=max_tones)

    def tone_segments(
        self, window_s: float, *, threshold_dbm0: float = -40.0
    ) -> list[tuple[bool, float]]:
        return on_off_segments(self.recording(window_s), threshold_dbm0=threshold_dbm0)

    def digits_heard(self, since: float = -math.inf) -> str:
        return "".join(d.digit for d in self.heard_digits if d.at >= since)

    # --- ringing ------------------------------------------------------------------------------
    @property
    def ringing(self) -> bool:
        return self._ring_on_at is not None

    @property
    def ring_count(self) -> int:
        """Ring bursts started so far (the current one included)."""
        return len(self.rings) + (1 if self.ringing else 0)

    def ring_cadence(self) -> list[tuple[float, float]]:
        """Measured (on, off) durations of completed ring cycles, in seconds."""
        return [
            (a.duration, b.start - a.end) for a, b in zip(self.rings, self.rings[1:], strict=False)
        ]

    def _on_drive(self, change: DriveChange) -> None:
        previous, self._drive = self._drive, change.drive
        self.drive_changes.append(change)
        if change.drive is LineDrive.RINGING and self._ring_on_at is None:
            self._ring_on_at = change.at
            if self.auto_answer_rings is not None and self.ring_count >= self.auto_answer_rings:
                self.clock.call_at(change.at + 0.3, self._auto_answer)
        elif change.drive is not LineDrive.RINGING and self._ring_on_at is not None:
            self.rings.append(RingBurst(self._ring_on_at, change.at))
            self._ring_on_at = None
        polarities = {LineDrive.FORWARD: False, LineDrive.REVERSE: True}
        if (
            previous in polarities
            and change.drive in polarities
            and polarities[previous] != polarities[change.drive]
        ):
            self.polarity_reversals.append(change.at)
        self._notify()

    def _auto_answer(self) -> None:
        if not self.is_off_hook:
            self.off_hook()

    # --- waiting ------------------------------------------------------------------------------
    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait (on the phone's clock) until ``predicate()`` holds; False on timeout."""
        deadline = self.clock.now() + timeout_s
        loop = asyncio.get_running_loop()
        while not predicate():
            if self.clock.now() >= deadline:
                return False
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            sleeper = loop.create_task(self.clock.sleep_until(deadline))
            try:
                await asyncio.wait({fut, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sleeper
        return True

    async def wait_for_ring(self, timeout_s: float = 10.0) -> bool:
        return await self.wait_for(lambda: self.ringing, timeout_s)

    async def wait_for_caller_id(self, timeout_s: float = 10.0) -> CallerId | None:
        count = len(self.caller_ids)
        ok = await self.wait_for(lambda: len(self.caller_ids) > count, timeout_s)
        return self.caller_ids[count] if ok else None

    async def wait_for_digits(
        self, n: int, timeout_s: float = 5.0, since: float = -math.inf
    ) -> str:
        await self.wait_for(lambda: len(self.digits_heard(since)) >= n, timeout_s)
        return self.digits_heard(since)
