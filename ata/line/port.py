"""One FXS port's line and call control: from off-hook to conversation and back (sans-IO).

Theory of operation
-------------------
The port is a table-driven state machine. Inputs are events from three directions — the phone
(hook, flash, digits detected on the line), the SIP call layer (incoming call, progress,
answer, failure, end, far-end DTMF) and the clock (``handle_timer(now)``) — and outputs are
commands for the runtime to carry out (play a tone, ring, send caller ID, place/answer/reject/
hang up a call, relay DTMF, connect media, change the line feed). Nothing here touches a socket,
a device or the clock.

States::

    IDLE ──off-hook──▶ DIALING ──plan says dial──▶ CALLING ──answered──▶ CONNECTED
     │  ▲                 │ reject/timeout            │ busy/failed            │ far end hangs up
     │  │                 ▼                           ▼                        ▼
     │  └───on-hook── FAILED (busy/reorder) ──timeout──▶ HOWLER ──timeout──▶ LOCKOUT
     └─incoming─▶ RINGING ──off-hook──▶ CONNECTED           DISCONNECTED (reorder) ─┘

Every state returns to IDLE on on-hook (hanging up a call in progress). An incoming call that
arrives when the port is not IDLE is answered 486 Busy Here (call waiting, a later feature,
will take that branch). Digits received while collecting go to the dial plan; in CONNECTED
they are relayed (``RelayDtmf``; the runtime picks RFC 4733, SIP INFO or in-band). Flash in
CONNECTED is ignored or relayed as configured.

Transfer from the phone (``FlashMode.TRANSFER``): flash in CONNECTED holds the far end
(``HoldCall``) and plays dial tone (TRANSFER_DIALING); the target is collected with the dial
plan and called (CONSULTING, a second call). Hanging up then transfers: with the target
answered, *attended* (``AttendedTransfer``: REFER with Replaces), while it still rings,
*blind* (the consultation is cancelled, ``TransferCall`` to the number). Flash while dialling
or consulting, a target the plan rejects, or a consultation that fails goes back to the held
call (``ResumeCall``); if the held party hangs up meanwhile, the consultation becomes the call.
Hanging up before the target is complete just hangs up the call.

From the call layer: ``CallReplaced`` (the far end transferred us; the conversation goes on
in another call) switches the port to the new call and reconnects its media;
``MessageWaiting`` (voicemail) sets the stutter-dial-tone flag in any state, and switches the
tone at once if the phone is listening to dial tone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

from ata.line.dialplan import Decision, DigitCollector, Outcome
from ata.line.port_io import (
    AnswerCall,
    AttendedTransfer,
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgress,
    CallReplaced,
    Command,
    ConnectMedia,
    Digit,
    DisconnectMedia,
    Event,
    Flash,
    FlashMode,
    HangUp,
    HoldCall,
    IncomingCall,
    MessageWaiting,
    OffHook,
    OnHook,
    PlaceCall,
    PlayDtmf,
    PlayTone,
    PortSettings,
    PowerDenial,
    RejectCall,
    RelayDtmf,
    RelayFlash,
    RemoteDtmf,
    ResumeCall,
    Ring,
    SendVmwi,
    SetPolarity,
    StopTone,
    Tone,
    TransferCall,
    TransmitCallerId,
)
from ata.line.ringer import CallerIdTiming, Ringer, RingerCommand, RingVoltage, SendCallerId

__all__ = [
    "AnswerCall",
    "AttendedTransfer",
    "CallAnswered",
    "CallEnded",
    "CallFailed",
    "CallProgress",
    "CallReplaced",
    "Command",
    "ConnectMedia",
    "Digit",
    "DisconnectMedia",
    "Event",
    "Flash",
    "FlashMode",
    "HangUp",
    "HoldCall",
    "IncomingCall",
    "MessageWaiting",
    "OffHook",
    "OnHook",
    "PlaceCall",
    "PlayDtmf",
    "PlayTone",
    "PortMachine",
    "PortSettings",
    "PowerDenial",
    "RejectCall",
    "RelayDtmf",
    "RelayFlash",
    "RemoteDtmf",
    "ResumeCall",
    "Ring",
    "SendVmwi",
    "SetPolarity",
    "State",
    "StopTone",
    "Tone",
    "TransferCall",
    "TransmitCallerId",
]

# --- the machine ----------------------------------------------------------------------------


class State(Enum):
    IDLE = "idle"
    DIALING = "dialing"
    CALLING = "calling"
    RINGING = "ringing"
    CONNECTED = "connected"
    FAILED = "failed"  # busy / reorder after a failed attempt
    DISCONNECTED = "disconnected"  # the far end hung up; reorder
    HOWLER = "howler"
    LOCKOUT = "lockout"
    TRANSFER_DIALING = "transfer_dialing"  # far end held, collecting the transfer target
    CONSULTING = "consulting"  # calling the target (a second call); on-hook transfers


@dataclass
class PortMachine:
    """The state machine of one port. Feed events with :meth:`handle`; read commands back."""

    port: int
    settings: PortSettings = field(default_factory=PortSettings)
    state: State = State.IDLE
    call_id: str | None = None
    _collector: DigitCollector | None = field(default=None, repr=False)
    _ringer: Ringer | None = field(default=None, repr=False)
    _deadline: float | None = None
    _incoming: IncomingCall | None = field(default=None, repr=False)
    _incoming_at: float = 0.0
    _polarity_reversed: bool = False
    _calls_placed: int = 0
    _mwi_reported: bool | None = None
    _vmwi_sent: bool | None = None
    _transfer_target: str = ""
    _consult_id: str | None = None
    _consult_up: bool = False
    history: list[tuple[float, State]] = field(default_factory=list, repr=False)

    # public API -----------------------------------------------------------------------------
    @property
    def dialled(self) -> str:
        """The keys collected so far in the current dialling attempt ("" when not dialling)."""
        return self._collector.keys if self._collector is not None else ""

    def handle(self, event: Event, now: float) -> list[Command]:
        handler = _TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            return self._default(event, now)
        return handler(self, event, now)

    def get_timer(self) -> float | None:
        candidates = [self._deadline]
        if self._collector is not None and self.state in _COLLECTING:
            candidates.append(self._collector.get_timer())
        if self._ringer is not None and self.state is State.RINGING:
            candidates.append(self._ringer.get_timer())
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def handle_timer(self, now: float) -> list[Command]:
        out: list[Command] = []
        if self.state is State.RINGING and self._ringer is not None:
            timer = self._ringer.get_timer()
            if timer is not None and timer <= now:
                out += self._ringer_commands(self._ringer.handle_timer(now))
        if self.state in _COLLECTING and self._collector is not None:
            timer = self._collector.get_timer()
            if timer is not None and timer <= now:
                decision = self._collector.handle_timer(now)
                if self.state is State.TRANSFER_DIALING:
                    out += self._transfer_decide(decision, now)
                else:
                    out += self._decide(decision, now)
        if self._deadline is not None and self._deadline <= now:
            self._deadline = None
            out += self._timeout(now)
        return out

    def update_settings(self, settings: PortSettings) -> None:
        """Apply new settings; a call in progress keeps going (they apply to the next one).
        A message-waiting state reported by the network outlives a settings change."""
        if self._mwi_reported is not None:
            settings = replace(settings, message_waiting=self._mwi_reported)
        self.settings = settings

    # transitions ----------------------------------------------------------------------------
    def _enter(self, state: State, now: float, deadline: float | None = None) -> None:
        self.state = state
        self._deadline = deadline
        self.history.append((now, state))

    def _idle_off_hook(self, _event: Event, now: float) -> list[Command]:
        self._enter(State.DIALING, now)
        self._collector = DigitCollector(self.settings.dial_plan)
        tone = Tone.STUTTER if self.settings.message_waiting else Tone.DIAL
        out: list[Command] = [PlayTone(tone)]
        out += self._decide(self._collector.start(now), now, first=True)
        return out

    def _dialing_digit(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, Digit) or self._collector is None:
            return []
        out: list[Command] = []
        if not self._collector.keys:
            out.append(StopTone())  # the first digit stops dial tone
        decision = self._collector.key(event.key, now)
        out += self._decide(decision, now)
        return out

    def _decide(self, decision: Decision, now: float, *, first: bool = False) -> list[Command]:
        if decision.outcome is Outcome.COLLECTING:
            return [PlayTone(Tone.SECOND_DIAL)] if decision.second_dial_tone else []
        self._collector = None
        if decision.outcome is Outcome.DIAL:
            self._enter(State.CALLING, now)
            self._calls_placed += 1
            self.call_id = f"port{self.port}-{self._calls_placed}"
            out: list[Command] = [StopTone()] if first else []
            return [*out, PlaceCall(self.call_id, decision.number)]
        return self._fail(now, Tone.REORDER)

    def _fail(self, now: float, tone: Tone) -> list[Command]:
        self._enter(State.FAILED, now, now + self.settings.reorder_s)
        return [PlayTone(tone)]

    def _calling_progress(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallProgress) or event.call_id != self.call_id:
            return []
        self.call_id = event.call_id
        if event.early_media:
            return [StopTone(), ConnectMedia(event.call_id)]
        return [PlayTone(Tone.RINGBACK)]

    def _calling_answered(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallAnswered) or event.call_id != self.call_id:
            return []
        self._enter(State.CONNECTED, now)
        out: list[Command] = [StopTone(), ConnectMedia(event.call_id)]
        if self.settings.polarity_on_answer:
            self._polarity_reversed = True
            out.append(SetPolarity(True))
        return out

    def _calling_failed(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallFailed) or event.call_id != self.call_id:
            return []
        self.call_id = None
        tone = Tone.BUSY if event.status in (486, 600) else Tone.REORDER
        return [StopTone(), DisconnectMedia(), *self._fail(now, tone)]

    def _far_end_hangup(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallEnded) or event.call_id != self.call_id:
            return []
        self.call_id = None
        self._collector = None
        self._enter(State.DISCONNECTED, now, now + self.settings.reorder_s)
        out: list[Command] = [DisconnectMedia()]
        if self._polarity_reversed:
            self._polarity_reversed = False
            out.append(SetPolarity(False))
        if self.settings.cpc_on_far_hangup_s > 0:
            out.append(PowerDenial(self.settings.cpc_on_far_hangup_s))
        out.append(PlayTone(Tone.REORDER))
        return out

    def _hang_up(self, _event: Event, now: float) -> list[Command]:
        out: list[Command] = [StopTone()]
        if self.call_id is not None:
            out += [DisconnectMedia(), HangUp(self.call_id)]
        if self._polarity_reversed:
            self._polarity_reversed = False
            out.append(SetPolarity(False))
        self._reset(now)
        return out + self._vmwi()  # a change that came during the call

    def _reset(self, now: float) -> None:
        self.call_id = None
        self._consult_id, self._consult_up, self._transfer_target = None, False, ""
        self._collector = None
        self._incoming = None
        self._enter(State.IDLE, now)

    def _idle_incoming(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, IncomingCall):
            return []
        self.call_id = event.call_id
        self._incoming = event
        self._incoming_at = now
        s = self.settings
        self._ringer = Ringer(
            cadence=event.cadence or s.ring_cadence,
            timing=s.caller_id_timing if s.caller_id_burst_s > 0 else CallerIdTiming.NONE,
            cid_burst_s=s.caller_id_burst_s,
        )
        self._enter(State.RINGING, now, now + s.no_answer_s)
        return self._ringer_commands(self._ringer.start(now))

    def _ringer_commands(self, commands: list[RingerCommand]) -> list[Command]:
        out: list[Command] = []
        for command in commands:
            if isinstance(command, RingVoltage):
                out.append(Ring(command.on))
            elif isinstance(command, SendCallerId) and self._incoming is not None:
                call = self._incoming
                out.append(
                    TransmitCallerId(call.number, call.name, call.withheld, self._incoming_at)
                )
        return out

    def _stop_ringing(self) -> list[Command]:
        commands = self._ringer.stop() if self._ringer is not None else []
        self._ringer = None
        return self._ringer_commands(commands)

    def _ringing_off_hook(self, _event: Event, now: float) -> list[Command]:
        if self.call_id is None:
            return []
        out = self._stop_ringing()
        self._enter(State.CONNECTED, now)
        out += [AnswerCall(self.call_id), ConnectMedia(self.call_id)]
        return out

    def _ringing_cancelled(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallEnded | CallFailed) or event.call_id != self.call_id:
            return []
        out = self._stop_ringing()
        self._reset(now)
        return out

    def _connected_digit(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, Digit) or self.call_id is None:
            return []
        return [RelayDtmf(self.call_id, event.key)]

    def _connected_flash(self, _event: Event, now: float) -> list[Command]:
        if self.call_id is None:
            return []
        if self.settings.flash_mode is FlashMode.RELAY:
            return [RelayFlash(self.call_id)]
        if self.settings.flash_mode is FlashMode.TRANSFER:
            self._enter(State.TRANSFER_DIALING, now)
            self._collector = DigitCollector(self.settings.dial_plan)
            self._transfer_target = ""
            out: list[Command] = [DisconnectMedia(), HoldCall(self.call_id), PlayTone(Tone.DIAL)]
            return out + self._transfer_decide(self._collector.start(now), now)
        return []

    # blind transfer from the phone: flash, dial the target, hang up --------------------------
    def _transfer_digit(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, Digit) or self._collector is None:
            return []
        out: list[Command] = [] if self._collector.keys else [StopTone()]
        return out + self._transfer_decide(self._collector.key(event.key, now), now)

    def _transfer_decide(self, decision: Decision, now: float) -> list[Command]:
        if decision.outcome is Outcome.COLLECTING:
            return [PlayTone(Tone.SECOND_DIAL)] if decision.second_dial_tone else []
        self._collector = None
        if decision.outcome is Outcome.DIAL and decision.number:
            self._transfer_target = decision.number
            self._calls_placed += 1
            self._consult_id = f"port{self.port}-{self._calls_placed}"
            self._consult_up = False
            self._enter(State.CONSULTING, now)
            return [StopTone(), PlaceCall(self._consult_id, decision.number)]
        return self._transfer_back(None, now)  # not a valid target: back to the call

    def _transfer_back(self, _event: Event | None, now: float) -> list[Command]:
        """Flash (or a bad target, or a failed consultation): back to the held call."""
        out: list[Command] = [StopTone()]
        if self._consult_id is not None:
            out += [DisconnectMedia(), HangUp(self._consult_id)]
        self._collector, self._consult_id, self._transfer_target = None, None, ""
        if self.call_id is None:
            return out
        self._enter(State.CONNECTED, now)
        return [*out, ResumeCall(self.call_id), ConnectMedia(self.call_id)]

    def _consult_progress(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallProgress | CallAnswered) or event.call_id != self._consult_id:
            return []
        if isinstance(event, CallAnswered):
            self._consult_up = True
        if isinstance(event, CallAnswered) or event.early_media:
            return [StopTone(), ConnectMedia(event.call_id)]
        return [PlayTone(Tone.RINGBACK)]

    def _consult_gone(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallEnded | CallFailed):
            return []
        if event.call_id == self._consult_id:  # the target is busy / gone: back to the call
            self._consult_id = None
            return [DisconnectMedia(), *self._transfer_back(None, now)]
        if event.call_id != self.call_id or self._consult_id is None:
            return []
        # the held party hung up: the consultation is now the call
        self.call_id, self._consult_id = self._consult_id, None
        self._enter(State.CONNECTED if self._consult_up else State.CALLING, now)
        return []

    def _consult_digit(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, Digit) or not self._consult_up or self._consult_id is None:
            return []
        return [RelayDtmf(self._consult_id, event.key)]

    def _consult_on_hook(self, _event: Event, now: float) -> list[Command]:
        call_id, consult, target = self.call_id, self._consult_id, self._transfer_target
        answered = self._consult_up
        self._reset(now)
        out: list[Command] = [StopTone(), DisconnectMedia()]
        if call_id is None or consult is None:
            left = consult or call_id
            return out + ([HangUp(left)] if left is not None else [])
        if answered:
            return [*out, AttendedTransfer(call_id, consult)]
        return [*out, HangUp(consult), TransferCall(call_id, target)]

    def _remote_dtmf(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, RemoteDtmf):
            return []
        return [PlayDtmf(event.key)] if event.call_id == self.call_id else []

    def _call_replaced(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, CallReplaced) or event.old_call_id != self.call_id:
            return []
        self.call_id = event.new_call_id
        return [ConnectMedia(event.new_call_id)]

    def _message_waiting(self, event: Event, now: float) -> list[Command]:
        if not isinstance(event, MessageWaiting):
            return []
        changed = event.waiting != self.settings.message_waiting
        self._mwi_reported = event.waiting
        self.settings = replace(self.settings, message_waiting=event.waiting)
        if changed and self.state is State.DIALING and not self.dialled:
            return [PlayTone(Tone.STUTTER if event.waiting else Tone.DIAL)]
        return self._vmwi() if self.state is State.IDLE else []

    def _vmwi(self) -> list[Command]:
        """VMWI for the idle phone when the indication changed since it was last told."""
        waiting = self._mwi_reported
        if not self.settings.vmwi or waiting is None or waiting == self._vmwi_sent:
            return []
        self._vmwi_sent = waiting
        return [SendVmwi(waiting)]

    def _timeout(self, now: float) -> list[Command]:
        if self.state is State.RINGING and self.call_id is not None:
            call_id = self.call_id
            out = self._stop_ringing()
            self._reset(now)
            return [*out, RejectCall(call_id, 480)]
        if self.state in (State.FAILED, State.DISCONNECTED):
            self._enter(State.HOWLER, now, now + self.settings.howler_s)
            return [PlayTone(Tone.HOWLER)]
        if self.state is State.HOWLER:
            self._enter(State.LOCKOUT, now)
            return [StopTone()]
        return []

    def _default(self, event: Event, now: float) -> list[Command]:
        """Events with no entry in the table: busy for a second call, otherwise ignored."""
        if isinstance(event, IncomingCall):
            return [RejectCall(event.call_id, 486)]
        return []


_Handler = Callable[[PortMachine, Event, float], list[Command]]

_OFF_HOOK_STATES = (
    State.DIALING,
    State.CALLING,
    State.CONNECTED,
    State.FAILED,
    State.DISCONNECTED,
    State.HOWLER,
    State.LOCKOUT,
    State.TRANSFER_DIALING,
)
_COLLECTING = (State.DIALING, State.TRANSFER_DIALING)

_TRANSITIONS: dict[tuple[State, type], _Handler] = {
    (State.IDLE, OffHook): PortMachine._idle_off_hook,
    (State.IDLE, IncomingCall): PortMachine._idle_incoming,
    (State.DIALING, Digit): PortMachine._dialing_digit,
    (State.CALLING, CallProgress): PortMachine._calling_progress,
    (State.CALLING, CallAnswered): PortMachine._calling_answered,
    (State.CALLING, CallFailed): PortMachine._calling_failed,
    (State.CALLING, CallEnded): PortMachine._far_end_hangup,
    (State.RINGING, OffHook): PortMachine._ringing_off_hook,
    (State.RINGING, CallEnded): PortMachine._ringing_cancelled,
    (State.RINGING, CallFailed): PortMachine._ringing_cancelled,
    (State.CONNECTED, Digit): PortMachine._connected_digit,
    (State.CONNECTED, Flash): PortMachine._connected_flash,
    (State.CONNECTED, RemoteDtmf): PortMachine._remote_dtmf,
    (State.CONNECTED, CallEnded): PortMachine._far_end_hangup,
    (State.CONNECTED, CallReplaced): PortMachine._call_replaced,
    (State.TRANSFER_DIALING, Digit): PortMachine._transfer_digit,
    (State.TRANSFER_DIALING, Flash): PortMachine._transfer_back,
    (State.TRANSFER_DIALING, CallEnded): PortMachine._far_end_hangup,
    (State.CONSULTING, Flash): PortMachine._transfer_back,
    (State.CONSULTING, OnHook): PortMachine._consult_on_hook,
    (State.CONSULTING, CallProgress): PortMachine._consult_progress,
    (State.CONSULTING, CallAnswered): PortMachine._consult_progress,
    (State.CONSULTING, CallEnded): PortMachine._consult_gone,
    (State.CONSULTING, CallFailed): PortMachine._consult_gone,
    (State.CONSULTING, Digit): PortMachine._consult_digit,
    **{(state, OnHook): PortMachine._hang_up for state in _OFF_HOOK_STATES},
    **{(state, MessageWaiting): PortMachine._message_waiting for state in State},
}
