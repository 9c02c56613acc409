"""The asyncio driver of one FXS port: binds the line state machine to the HAL, DSP and calls.

Theory of operation
-------------------
Three inputs feed the sans-IO :class:`ata.line.port.PortMachine`:

1. **Hook edges** from the HAL ``Line`` (event sink callback) go through the shared
   :class:`hal.hook.HookClassifier`; its classified events become ``OffHook``/``OnHook``/
   ``Flash``/``Digit(pulse=True)``.
2. **Audio**: one iteration per captured 20 ms frame (``AudioPort.read_captured()`` — the codec's
   clock paces this loop). The frame goes through the echo canceller (reference: what was
   played), the DTMF receiver (digits become ``Digit`` events while dialling and are relayed in
   a call) and, in a call, into the media leg (RTP). Then one frame is written back: the media
   leg's playout (jitter buffer/PLC), or a local tone, or the caller ID burst, or silence.
   On-hook without a call the captured frame is dropped unanalysed (off-hook is signalled by
   the Line's hook events, not by audio) and only the output side runs: an idle port costs a
   few microseconds per frame (:attr:`PortDriver.counters` counts the paths taken).
3. **Call events** from the SIP layer, delivered with :meth:`PortDriver.call_event`.

Commands returned by the machine are carried out here (ring, feed, polarity, tones, caller ID,
call control). Timers of the machine and of the classifier are armed with ``Clock.call_at`` at
their next deadline after every input, never polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ata.line import port as lp
from hal.audio import FRAME_SAMPLES, AudioClosedError, AudioPort
from hal.clock import Clock, TimerHandle
from hal.hook import HookClassifier, HookWindows
from hal.line import Feed, Flash, HookTransition, Line, LineEvent, OffHook, OnHook, PulseDigit

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.int16]
_SILENCE: Frame = np.zeros(FRAME_SAMPLES, np.int16)
_SILENCE.setflags(write=False)  # shared: sent and played, never written to


class FrameSource(Protocol):
    """Anything that yields successive 20 ms frames (tone generators, prerecorded bursts)."""

    def next_frame(self) -> Frame: ...


class DtmfReceiver(Protocol):
    """Detects DTMF in 20 ms frames; returns the keys whose tone *began* in this frame."""

    def process(self, frame: Frame) -> list[str]: ...

    @property
    def active(self) -> bool:
        """A digit's tone is on the line right now."""
        ...


class EchoCanceller(Protocol):
    def process(self, near: Frame, far: Frame) -> Frame: ...


class PortDsp(Protocol):
    """The DSP a port needs, built from ``ata.dsp`` by the assembly (see ``ata.runtime.dsp``)."""

    def tone(self, tone: lp.Tone) -> FrameSource: ...

    def dtmf_tone(self, key: str, seconds: float) -> FrameSource: ...

    def caller_id(self, number: str, name: str, withheld: str, at: float) -> Frame: ...

    def dtmf_receiver(self) -> DtmfReceiver: ...

    def echo_canceller(self) -> EchoCanceller | None: ...


class MediaLeg(Protocol):
    """The RTP side of a connected call, as the port sees it (``ata.runtime.rtp_session``).

    ``send_frame`` is called once per captured frame with the codec's frame index (the RTP
    timestamp is 160 × the index: it counts samples captured, frames the codec lost included,
    not wall time); ``pull_frame`` once per played frame.
    """

    def send_frame(
        self, frame: Frame, *, silent: bool = False, frame_index: int | None = None
    ) -> None: ...

    def pull_frame(self) -> Frame: ...


class CallControl(Protocol):
    """What the port asks of the SIP layer. Events come back through ``call_event``."""

    def place_call(self, port: int, call_id: str, number: str) -> None: ...

    def answer(self, call_id: str) -> None: ...

    def reject(self, call_id: str, status: int) -> None: ...

    def hang_up(self, call_id: str) -> None: ...

    def send_dtmf(self, call_id: str, key: str) -> None: ...

    def send_flash(self, call_id: str) -> None: ...

    def media(self, call_id: str) -> MediaLeg | None: ...


@runtime_checkable
class VmwiDsp(Protocol):
    """A ``PortDsp`` that can also render visual message-waiting indication (optional)."""

    def vmwi(self, waiting: bool) -> Frame: ...


@runtime_checkable
class CallFeatures(Protocol):
    """Optional call features a ``CallControl`` may offer (hold, resume, blind transfer)."""

    def hold(self, call_id: str) -> None: ...

    def resume(self, call_id: str) -> None: ...

    def transfer(self, call_id: str, target: str) -> bool: ...

    def attended_transfer(self, call_id: str, consult_call_id: str) -> bool: ...


@dataclass
class PipelineCounters:
    """What the per-frame loop did (for benchmarks and tests): frames that took the idle path
    (on-hook, no call: no analysis), and frames through the DTMF receiver / echo canceller."""

    idle_frames: int = 0
    dtmf_frames: int = 0
    echo_frames: int = 0


@dataclass
class PortStatus:
    """A snapshot for the API and the logs."""

    port: int
    state: str
    off_hook: bool
    ringing: bool
    call_id: str | None
    digits: str
    tone: str | None
    frames: int
    last_event: str = ""


@dataclass
class PortDriver:
    machine: lp.PortMachine
    line: Line
    audio: AudioPort
    clock: Clock
    dsp: PortDsp
    calls: CallControl
    windows: HookWindows = field(default_factory=HookWindows)
    on_change: Callable[[PortStatus], None] | None = None
    # Sees every event handled and command issued (the call log listens here).
    observer: Callable[[int, lp.Event | lp.Command, float], None] | None = None
    _classifier: HookClassifier = field(init=False)
    _timer: TimerHandle | None = field(default=None, init=False)
    _tone: FrameSource | None = field(default=None, init=False)
    _tone_name: str | None = field(default=None, init=False)
    _overlay: FrameSource | None = field(default=None, init=False)
    _overlay_left: int = field(default=0, init=False)
    _cid: Frame | None = field(default=None, init=False)
    _cid_pos: int = field(default=0, init=False)
    _media: MediaLeg | None = field(default=None, init=False)
    _dtmf: DtmfReceiver | None = field(default=None, init=False)
    _echo: EchoCanceller | None = field(default=None, init=False)
    _played: Frame = field(default_factory=lambda: np.zeros(FRAME_SAMPLES, np.int16), init=False)
    _frames: int = field(default=0, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _last_event: str = field(default="", init=False)
    counters: PipelineCounters = field(default_factory=PipelineCounters, init=False)

    def __post_init__(self) -> None:
        self._classifier = HookClassifier(self.windows, off_hook=self.line.off_hook)
        self._dtmf = self.dsp.dtmf_receiver()
        self._echo = self.dsp.echo_canceller()

    @property
    def port(self) -> int:
        return self.machine.port

    # --- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.line.set_event_sink(self._line_event)
        await self.audio.start()
        self._task = asyncio.get_running_loop().create_task(
            self._audio_loop(), name=f"port{self.port}-audio"
        )

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.line.set_event_sink(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._background):
            task.cancel()

    def reconfigure(self, settings: lp.PortSettings, dsp: PortDsp, windows: HookWindows) -> None:
        """New line settings: tones and caller ID at once, the rest from the next call on."""
        self.machine.update_settings(settings)
        self.dsp = dsp
        self.windows = windows
        self._classifier.windows = windows

    def status(self) -> PortStatus:
        return PortStatus(
            port=self.port,
            state=self.machine.state.value,
            off_hook=self.line.off_hook,
            ringing=self.line.ringing,
            call_id=self.machine.call_id,
            digits=self.machine.dialled,
            tone=self._tone_name,
            frames=self._frames,
            last_event=self._last_event,
        )

    # --- inputs -----------------------------------------------------------------------------
    def _line_event(self, event: LineEvent) -> None:
        if isinstance(event, HookTransition):
            self._classifier.handle_transition(event.off_hook, event.at)
            self._drain_classifier()
        else:
            log.warning("port %d: line alarm %s %s", self.port, event.kind.value, event.detail)
        self._rearm()

    def _drain_classifier(self) -> None:
        while (hook := self._classifier.next_event()) is not None:
            if isinstance(hook, OffHook):
                self._feed(lp.OffHook(), hook.at)
            elif isinstance(hook, OnHook):
                self._feed(lp.OnHook(), hook.at)
            elif isinstance(hook, Flash):
                self._feed(lp.Flash(), hook.at)
            elif isinstance(hook, PulseDigit):
                self._feed(lp.Digit(hook.digit, pulse=True), hook.at)

    def call_event(self, event: lp.Event) -> None:
        """An event from the SIP layer for this port."""
        self._feed(event, self.clock.now())
        self._rearm()

    def _feed(self, event: lp.Event, at: float) -> None:
        before = self.machine.state
        commands = self.machine.handle(event, at)
        self._last_event = type(event).__name__
        if self.observer is not None:
            self.observer(self.port, event, at)
        if self.machine.state is not before:
            log.info(
                "port %d: %s -> %s on %s",
                self.port,
                before.value,
                self.machine.state.value,
                type(event).__name__,
            )
        self._execute(commands, at)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.clock.now()
        deadline = self._classifier.get_timer()
        if deadline is not None and deadline <= now:
            self._classifier.handle_timer(now)
            self._drain_classifier()
        deadline = self.machine.get_timer()
        if deadline is not None and deadline <= now:
            before = self.machine.state
            self._execute(self.machine.handle_timer(now), now)
            if self.machine.state is not before:
                log.info(
                    "port %d: %s -> %s on timer", self.port, before.value, self.machine.state.value
                )
        self._rearm()

    def _rearm(self) -> None:
        deadlines = [
            d for d in (self._classifier.get_timer(), self.machine.get_timer()) if d is not None
        ]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadlines:
            self._timer = self.clock.call_at(min(deadlines), self._on_timer)
        if self.on_change is not None:
            self.on_change(self.status())

    # --- commands ---------------------------------------------------------------------------
    def _execute(self, commands: list[lp.Command], at: float) -> None:
        for command in commands:
            if self.observer is not None:
                self.observer(self.port, command, at)
            self._carry_out(command, at)

    def _carry_out(self, command: lp.Command, at: float) -> None:
        match command:
            case lp.PlayTone(tone=tone):
                self._tone = self.dsp.tone(tone)
                self._tone_name = tone.value
            case lp.StopTone():
                self._tone = None
                self._tone_name = None
            case lp.Ring(on=on):
                self.line.ring(on)
            case lp.TransmitCallerId(number=number, name=name, withheld=withheld, at=when):
                self.line.set_feed(Feed.ON_HOOK_TX)
                self._cid = self.dsp.caller_id(number, name, withheld, when)
                self._cid_pos = 0
            case lp.PlaceCall(call_id=call_id, number=number):
                log.info("port %d: placing call %s to %s", self.port, call_id, number)
                self.calls.place_call(self.port, call_id, number)
            case lp.AnswerCall(call_id=call_id):
                self.calls.answer(call_id)
            case lp.RejectCall(call_id=call_id, status=status):
                self.calls.reject(call_id, status)
            case lp.HangUp(call_id=call_id):
                self.calls.hang_up(call_id)
            case lp.ConnectMedia(call_id=call_id):
                self._media = self.calls.media(call_id)
                self._cid = None
            case lp.DisconnectMedia():
                self._media = None
            case lp.RelayDtmf(call_id=call_id, key=key):
                self.calls.send_dtmf(call_id, key)
            case lp.RelayFlash(call_id=call_id):
                self.calls.send_flash(call_id)
            case lp.PlayDtmf(key=key):
                self._overlay = self.dsp.dtmf_tone(key, 0.1)
                self._overlay_left = 5
            case lp.SetPolarity(reversed=reverse):
                self.line.set_polarity(reverse)
            case lp.SendVmwi(waiting=waiting):
                self._send_vmwi(waiting)
            case lp.HoldCall() | lp.ResumeCall() | lp.TransferCall() | lp.AttendedTransfer():
                self._call_feature(command)
            case lp.PowerDenial(seconds=seconds):
                task = asyncio.get_running_loop().create_task(self.line.power_denial(seconds))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    def _send_vmwi(self, waiting: bool) -> None:
        if not isinstance(self.dsp, VmwiDsp) or self.line.off_hook or self.line.ringing:
            return
        burst = self.dsp.vmwi(waiting)
        if len(burst) == 0 or self._cid is not None:
            return
        log.info("port %d: message waiting lamp %s", self.port, "on" if waiting else "off")
        self.line.set_feed(Feed.ON_HOOK_TX)
        self._cid = burst
        self._cid_pos = 0

    def _call_feature(
        self, command: lp.HoldCall | lp.ResumeCall | lp.TransferCall | lp.AttendedTransfer
    ) -> None:
        calls = self.calls
        if not isinstance(calls, CallFeatures):
            log.warning("port %d: %s not supported here", self.port, type(command).__name__)
            if isinstance(command, lp.AttendedTransfer):
                calls.hang_up(command.consult_call_id)
            if isinstance(command, lp.TransferCall | lp.AttendedTransfer):
                calls.hang_up(command.call_id)  # the phone is on-hook: do not leave a held call
            return
        match command:
            case lp.HoldCall(call_id=call_id):
                calls.hold(call_id)
            case lp.ResumeCall(call_id=call_id):
                calls.resume(call_id)
            case lp.TransferCall(call_id=call_id, target=target):
                log.info("port %d: transferring call %s to %s", self.port, call_id, target)
                if not calls.transfer(call_id, target):
                    calls.hang_up(call_id)
            case lp.AttendedTransfer(call_id=call_id, consult_call_id=consult):
                log.info("port %d: connecting call %s to %s", self.port, call_id, consult)
                if not calls.attended_transfer(call_id, consult):
                    calls.hang_up(consult)
                    calls.hang_up(call_id)

    # --- audio ------------------------------------------------------------------------------
    async def _audio_loop(self) -> None:
        try:
            while True:
                captured = await self.audio.read_captured()
                self._process_frame(captured.samples, captured.index)
        except AudioClosedError:
            log.info("port %d: audio closed", self.port)

    def _process_frame(self, near: Frame, index: int) -> None:
        self._frames += 1
        counters = self.counters
        if self._media is None and not self.line.off_hook:
            # On-hook, no call: nothing listens to the line (the DTMF receiver is for an
            # off-hook phone, the echo canceller for a call), so the captured frame is just
            # dropped. Only the output side works: caller ID / VMWI bursts, or silence.
            counters.idle_frames += 1
            out = self._next_output()
            self._played = out
            self.audio.write_frame(out)
            return
        if self._echo is not None and self._media is not None:
            counters.echo_frames += 1
            near = self._echo.process(near, self._played)
        relaying = False
        if self._dtmf is not None and self.line.off_hook:
            counters.dtmf_frames += 1
            for key in self._dtmf.process(near):
                self._feed(lp.Digit(key), self.clock.now())
                self._rearm()
            relaying = self._dtmf.active
        if self._media is not None:
            # A digit relayed out of band (RFC 4733 / INFO) must not also reach the far end
            # in band, or its receiver may count it twice: send silence while it sounds.
            if relaying and getattr(self._media, "dtmf_mode", "rfc4733") != "inband":
                self._media.send_frame(_SILENCE, silent=True, frame_index=index)
            else:
                self._media.send_frame(near, frame_index=index)
        out = self._next_output()
        self._played = out
        self.audio.write_frame(out)
        if self._media is not None:
            self._align_phase(self._media)

    def _align_phase(self, media: MediaLeg) -> None:
        """Move the port's frame grid when the call's media asks (``ata.media.phase``)."""
        request = getattr(media, "phase_advance", None)
        if request is None:
            return
        seconds = float(request())
        if seconds == 0.0:
            return
        advance = getattr(self.audio, "advance_phase", None)
        applied = float(advance(seconds)) if advance is not None else 0.0
        media.phase_advanced(applied)  # type: ignore[attr-defined]
        log.debug("port %d: playout frame grid moved %+.1f ms", self.port, applied * 1000.0)

    def _next_output(self) -> Frame:
        if self._cid is not None:
            chunk = self._cid[self._cid_pos : self._cid_pos + FRAME_SAMPLES]
            self._cid_pos += FRAME_SAMPLES
            if self._cid_pos >= len(self._cid):
                self._cid = None
                if not self.line.off_hook and not self.line.ringing:
                    self.line.set_feed(Feed.FORWARD)
            if len(chunk) < FRAME_SAMPLES:
                chunk = np.concatenate([chunk, np.zeros(FRAME_SAMPLES - len(chunk), np.int16)])
            return chunk
        if self._media is not None:
            out = self._media.pull_frame()
        elif self._tone is not None:
            out = self._tone.next_frame()
        elif self._overlay is None:
            return _SILENCE  # read-only; AudioPort.write_frame copies
        else:
            out = _SILENCE
        if self._overlay is not None:
            mixed = out.astype(np.int32) + self._overlay.next_frame().astype(np.int32)
            out = np.clip(mixed, -32768, 32767).astype(np.int16)
            self._overlay_left -= 1
            if self._overlay_left <= 0:
                self._overlay = None
        return out
