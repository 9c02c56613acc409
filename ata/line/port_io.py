"""The vocabulary of a port (:mod:`ata.line.port`): events in, commands out, settings.

Events come from the phone (hook, flash, digits), the SIP call layer (incoming call,
progress, answer, failure, end, far-end DTMF, a replaced call, message waiting); commands go
to the runtime (tones, ring, caller ID, call control, media, line feed). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ata.line.dialplan import DialPlan
from ata.line.ringer import CallerIdTiming

# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffHook:
    pass


@dataclass(frozen=True)
class OnHook:
    pass


@dataclass(frozen=True)
class Flash:
    pass


@dataclass(frozen=True)
class Digit:
    """A key the phone dialled: DTMF from the line audio or a pulse-dialled digit."""

    key: str
    pulse: bool = False


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    number: str = ""
    name: str = ""
    cadence: tuple[tuple[float, float], ...] | None = None  # distinctive ring (Alert-Info)
    withheld: str = ""  # "private" or "unavailable" when the number is not given


@dataclass(frozen=True)
class CallProgress:
    call_id: str
    early_media: bool = False


@dataclass(frozen=True)
class CallAnswered:
    call_id: str


@dataclass(frozen=True)
class CallFailed:
    call_id: str
    status: int
    reason: str = ""


@dataclass(frozen=True)
class CallEnded:
    call_id: str
    cause: str = "bye"


@dataclass(frozen=True)
class RemoteDtmf:
    call_id: str
    key: str


@dataclass(frozen=True)
class CallReplaced:
    """The call layer moved the conversation to a new call (the far end transferred us, or
    a call replaced ours): the port keeps going with ``new_call_id`` and reconnects media."""

    old_call_id: str
    new_call_id: str


@dataclass(frozen=True)
class MessageWaiting:
    """Voicemail waiting on/off (SIP message-summary): stutter dial tone (and VMWI)."""

    waiting: bool


Event = (
    OffHook
    | OnHook
    | Flash
    | Digit
    | IncomingCall
    | CallProgress
    | CallAnswered
    | CallFailed
    | CallEnded
    | RemoteDtmf
    | CallReplaced
    | MessageWaiting
)

# --- commands -------------------------------------------------------------------------------


class Tone(Enum):
    DIAL = "dial"
    STUTTER = "stutter"
    SECOND_DIAL = "second_dial"
    RINGBACK = "ringback"
    BUSY = "busy"
    REORDER = "congestion"
    HOWLER = "howler"
    CALL_WAITING = "callwaiting"


@dataclass(frozen=True)
class PlayTone:
    tone: Tone


@dataclass(frozen=True)
class StopTone:
    pass


@dataclass(frozen=True)
class Ring:
    on: bool


@dataclass(frozen=True)
class TransmitCallerId:
    number: str
    name: str
    withheld: str
    at: float  # the time the call arrived (for the date/time field)


@dataclass(frozen=True)
class PlaceCall:
    """Start a call; the port names it, and the call layer reports back under that name."""

    call_id: str
    number: str


@dataclass(frozen=True)
class AnswerCall:
    call_id: str


@dataclass(frozen=True)
class RejectCall:
    call_id: str
    status: int


@dataclass(frozen=True)
class HangUp:
    call_id: str


@dataclass(frozen=True)
class ConnectMedia:
    call_id: str


@dataclass(frozen=True)
class DisconnectMedia:
    pass


@dataclass(frozen=True)
class RelayDtmf:
    call_id: str
    key: str


@dataclass(frozen=True)
class RelayFlash:
    call_id: str


@dataclass(frozen=True)
class PlayDtmf:
    key: str


@dataclass(frozen=True)
class SetPolarity:
    reversed: bool


@dataclass(frozen=True)
class PowerDenial:
    seconds: float


@dataclass(frozen=True)
class SendVmwi:
    """Visual message-waiting indication to the on-hook phone (an FSK burst, like caller ID)."""

    waiting: bool


@dataclass(frozen=True)
class HoldCall:
    call_id: str


@dataclass(frozen=True)
class ResumeCall:
    call_id: str


@dataclass(frozen=True)
class AttendedTransfer:
    """Connect the far ends of ``call_id`` (held) and ``consult_call_id`` (REFER with
    Replaces); the port is on-hook by now."""

    call_id: str
    consult_call_id: str


@dataclass(frozen=True)
class TransferCall:
    """Blind transfer (REFER) of ``call_id`` to ``target``; the port is on-hook by now."""

    call_id: str
    target: str


Command = (
    PlayTone
    | StopTone
    | Ring
    | TransmitCallerId
    | PlaceCall
    | AnswerCall
    | RejectCall
    | HangUp
    | ConnectMedia
    | DisconnectMedia
    | RelayDtmf
    | RelayFlash
    | PlayDtmf
    | SetPolarity
    | PowerDenial
    | HoldCall
    | ResumeCall
    | TransferCall
    | AttendedTransfer
    | SendVmwi
)

# --- configuration --------------------------------------------------------------------------


class FlashMode(Enum):
    IGNORE = "ignore"
    RELAY = "relay"
    TRANSFER = "transfer"  # flash: hold + dial tone; dial the target; hang up = blind transfer


@dataclass(frozen=True)
class PortSettings:
    dial_plan: DialPlan = field(default_factory=lambda: DialPlan.parse("(x.)"))
    ring_cadence: tuple[tuple[float, float], ...] = ((2.0, 4.0),)
    caller_id_timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING
    caller_id_burst_s: float = 0.0  # 0 = no caller ID
    no_answer_s: float = 60.0  # incoming ringing before 480
    reorder_s: float = 30.0  # reorder/busy before the off-hook warning
    howler_s: float = 60.0  # howler before going silent
    flash_mode: FlashMode = FlashMode.IGNORE
    polarity_on_answer: bool = False
    cpc_on_far_hangup_s: float = 0.0  # power denial when the far end hangs up (0 = off)
    message_waiting: bool = False  # stutter dial tone
    vmwi: bool = True  # also tell an idle phone's lamp/display (FSK VMWI)
